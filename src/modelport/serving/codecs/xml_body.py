"""XML request bodies (``application/xml``, ``text/xml``), parsed safely.

The format: a root element (any name) whose children are the records, one
per row; a record's fields are its child elements, or its attributes, named
by input column::

    <rows>
      <row><a>1</a><b>x</b></row>
      <row a="3" b="y"/>
    </rows>

- A root whose own children (text-only elements, or attributes) are exactly the
  input names is a single record: ``<row><a>1</a><b>x</b></row>``.
- A tensor input takes one element per value: ``<row><X>1</X><X>2</X><X>3</X></row>``.
- An empty element (``<a/>``) or a missing field is a missing value.
- Values are text, read as the column's dtype (``1``, ``2.5``, ``true``).
  Namespaces are ignored (``<m:a>`` is ``a``).

Parsing goes through defusedxml with DTDs forbidden: a body with a
``<!DOCTYPE>``, entity declarations or external references ("billion laughs",
XXE) is refused before anything is expanded or fetched.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, ParseError

from modelport.errors import InvalidArgument
from modelport.serving.codecs.columns import from_records
from modelport.signature import ColumnSpec, Signature

_TRUE = {"true", "1", "yes", "t"}
_FALSE = {"false", "0", "no", "f"}


def parse_xml(body: bytes) -> Element:
    """The document's root; no DTDs, entities or external references."""
    import defusedxml.ElementTree as safe_et
    from defusedxml import DefusedXmlException

    try:
        return safe_et.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise InvalidArgument(
            "XML with DTDs/entities is not accepted: send plain elements without <!DOCTYPE>"
        ) from None
    except ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        reason = str(exc).split(":", 1)[0]
        raise InvalidArgument(f"invalid XML at line {line} column {column + 1}: {reason}") from None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _fields(element: Element, index: int) -> dict[str, Any]:
    record: dict[str, Any] = {_local(k): v for k, v in element.attrib.items()}
    for child in element:
        if len(child):
            raise InvalidArgument(
                f"XML record {index}: field <{_local(child.tag)}> has child elements; fields hold text only"
            )
        name = _local(child.tag)
        text = child.text.strip() if child.text and child.text.strip() else None
        if name in record:
            previous = record[name]
            record[name] = [*previous, text] if isinstance(previous, list) else [previous, text]
        else:
            record[name] = text
    return record


def _convert(spec: ColumnSpec, value: Any, index: int) -> Any:
    if isinstance(value, list):
        return [_convert(spec, v, index) for v in value]
    if value is None or spec.dtype == "string":
        return value
    try:
        if spec.dtype == "bool":
            low = value.lower()
            if low in _TRUE or low in _FALSE:
                return low in _TRUE
            raise ValueError
        if spec.dtype.startswith(("int", "uint")):
            try:
                return int(value)
            except ValueError:
                return float(value)  # "3.0" is fine; validation rejects "3.5" for an integer column
        return float(value)
    except ValueError:
        expected = "true/false" if spec.dtype == "bool" else f"a number ({spec.dtype})"
        if spec.dtype != "bool" and value.strip().lower() in ("true", "false"):
            expected = f"{expected}: booleans (true/false) are not numbers"
        raise InvalidArgument(f"XML record {index}: {spec.name} = {value!r} is not {expected}") from None


def decode_xml(body: bytes, signature: Signature) -> dict[str, Any]:
    """An XML body → named columns (not yet validated)."""
    root = parse_xml(body)
    names = set(signature.input_names)
    own = {_local(c.tag) for c in root} | {_local(k) for k in root.attrib}
    single = bool(names) and own == names and not any(len(c) for c in root)
    elements = [root] if single else list(root)
    if not elements:
        raise InvalidArgument(f"the XML root <{_local(root.tag)}> has no records: send one child element per row")
    specs = {s.name: s for s in signature.inputs}
    records = []
    for i, element in enumerate(elements):
        record = _fields(element, i)
        for name, value in record.items():
            spec = specs.get(name)
            if spec is not None:
                if len(spec.shape) >= 2 and not isinstance(value, list):
                    value = [value]  # a tensor row of one value
                record[name] = _convert(spec, value, i)
        records.append(record)
    return from_records(records, signature, "the XML body")

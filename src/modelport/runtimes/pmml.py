"""PMML models, evaluated in-process by JPMML-Evaluator on a JVM started through JPype.

    runtime = PmmlRuntime.load(Path("iris.pmml"))
    runtime.predict({"sepal length (cm)": np.array([5.1]), ...})
    # -> {"species": array(['setosa'], dtype=object), "probability(setosa)": array([1.]), ...}

The document is read once and checked in Python before the JVM sees it:
:func:`inspect_pmml` parses it with defusedxml (no DTD, so no entity expansion
and no external entities) and rejects anything that is not a well-formed
``<PMML>`` document with a one-line :class:`~modelport.errors.InvalidArgument`.
The JVM then receives exactly the bytes that were checked.

Fields keep their PMML names.  Inputs are the top-level model's active mining
fields; outputs are its target fields followed by its output fields, which is
the order JPMML reports them in.  PMML data types map onto the signature
vocabulary as ``double → float64, float → float32, integer → int64,
string → string, boolean → bool``; temporal types travel as ISO strings.

A batch is scored with one columnar ``evaluateAll`` call (pickled lists in,
pickled lists out, no pandas on the way): about ten times faster than one
``evaluate`` per row at 10k rows, and as fast as ``evaluate`` for one row.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar
from xml.parsers import expat

import numpy as np

from modelport.errors import FailedPrecondition, InvalidArgument, MissingExtra, ModelFailure
from modelport.runtimes.base import Runtime
from modelport.signature import Batch, ColumnSpec, Signature, batch_rows, numpy_dtype

#: PMML ``dataType`` → signature dtype; anything temporal is passed as a string
PMML_DTYPES: dict[str, str] = {
    "double": "float64",
    "float": "float32",
    "integer": "int64",
    "string": "string",
    "boolean": "bool",
}

#: the elements that can be the model of a PMML document (PMML 4.4)
MODEL_ELEMENTS = frozenset(
    {
        "AnomalyDetectionModel",
        "AssociationModel",
        "BaselineModel",
        "BayesianNetworkModel",
        "ClusteringModel",
        "GaussianProcessModel",
        "GeneralRegressionModel",
        "MiningModel",
        "NaiveBayesModel",
        "NearestNeighborModel",
        "NeuralNetwork",
        "RegressionModel",
        "RuleSetModel",
        "Scorecard",
        "SequenceModel",
        "SupportVectorMachineModel",
        "TextModel",
        "TimeSeriesModel",
        "TreeModel",
    }
)

# OutputField@dataType is optional; these features have an obvious one.
_STRING_FEATURES = frozenset(
    {"predictedDisplayValue", "entityId", "clusterId", "reasonCode", "ruleValue", "decision", "warning"}
)

_OPTIONS = {"lax": "skip JPMML's model schema checks (bool)", "parallelism": "1 (default), -1 or N JVM threads per batch"}

# JPMML exceptions caused by the values a caller sent, as opposed to the model.
_INPUT_ERRORS = ("org.jpmml.evaluator.ValueCheckException", "org.jpmml.evaluator.TypeCheckException")


# -- the document, without a JVM ------------------------------------------------------------------


def inspect_pmml(path: Path | str) -> dict[str, Any]:
    """Describe a PMML file without a JVM: for format detection and signature inference.

    Returns ``version``, ``namespace``, ``application``, ``model_type`` (the model
    element, e.g. ``TreeModel``), ``model_name``, ``function_name`` and the
    ``inputs``, ``targets`` and ``outputs`` field lists; each field has ``name``,
    ``data_type`` (PMML), ``dtype`` (signature) and, when declared, ``optype``,
    ``values`` (valid categories) or ``feature`` (for output fields).

    Raises :class:`InvalidArgument` for anything that is not a well-formed PMML
    document, and for documents with a DOCTYPE (PMML never needs one; refusing
    it rules out entity expansion and external entities).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"cannot read PMML file {path.name}: {exc.strerror}") from None
    return _inspect_bytes(data)


def infer_signature(info: Mapping[str, Any]) -> Signature:
    """The signature an :func:`inspect_pmml` description implies (no JVM needed)."""
    inputs = tuple(ColumnSpec(f["name"], f["dtype"]) for f in info["inputs"])
    outputs = tuple(ColumnSpec(f["name"], f["dtype"], nullable=True) for f in (*info["targets"], *info["outputs"]))
    return Signature(inputs=inputs, outputs=outputs, extra=_categories_extra(info))


def _inspect_bytes(data: bytes) -> dict[str, Any]:
    try:
        import defusedxml.ElementTree as safe_et
        from defusedxml import DefusedXmlException
    except ImportError:
        raise MissingExtra.for_extra("pmml", "PMML models") from None
    if not data.strip():
        raise InvalidArgument("not a PMML document: the file is empty")

    info: dict[str, Any] = {"model_type": None}
    fields: dict[str, dict[str, Any]] = {}  # DataDictionary, by name
    mining: list[tuple[str, str]] = []  # (name, usageType) of the top-level model
    outputs: list[dict[str, Any]] = []
    path: list[str] = []  # local names of the open elements
    parents: list[Any] = []  # the open elements themselves
    keep_depth = 0  # > 0 while inside a subtree whose children are still needed
    seen_root = False
    try:
        # Stream the document so a large ensemble is never held as a tree: only
        # the DataDictionary and the top-level MiningSchema/Output are kept.
        for event, elem in safe_et.iterparse(io.BytesIO(data), events=("start", "end"), forbid_dtd=True):
            name = _local(elem.tag)
            if event == "start":
                path.append(name)
                parents.append(elem)
                depth = len(path)
                if depth == 1:
                    seen_root = True
                    if name != "PMML":
                        raise InvalidArgument(f"not a PMML document: root element is <{name}>, expected <PMML>")
                    info["version"] = elem.get("version")
                    info["namespace"] = elem.tag[1:].split("}", 1)[0] if elem.tag.startswith("{") else None
                elif depth == 2 and name in MODEL_ELEMENTS and info["model_type"] is None:
                    info["model_type"] = name
                    info["model_name"] = elem.get("modelName")
                    info["function_name"] = elem.get("functionName")
                if not keep_depth and (
                    (depth == 2 and name in ("Header", "DataDictionary"))
                    or (depth == 3 and path[1] == info["model_type"] and name in ("MiningSchema", "Output"))
                ):
                    keep_depth = depth
                continue

            depth = len(path)
            path.pop()
            parents.pop()
            if depth == 2 and name == "Header":
                app = _child(elem, "Application")
                info["application"] = None if app is None else {"name": app.get("name"), "version": app.get("version")}
            elif depth == 2 and name == "DataDictionary":
                for field in elem:
                    if _local(field.tag) == "DataField":
                        fields[field.get("name", "")] = _data_field(field)
            elif depth == 3 and name == "MiningSchema" and keep_depth == 3:
                mining = [
                    (f.get("name", ""), f.get("usageType", "active")) for f in elem if _local(f.tag) == "MiningField"
                ]
            elif depth == 3 and name == "Output" and keep_depth == 3:
                outputs = [
                    _output_field(f) for f in elem if _local(f.tag) == "OutputField" and f.get("isFinalResult") != "false"
                ]
            if depth == keep_depth:
                keep_depth = 0
            if not keep_depth and parents:
                del parents[-1][-1]  # the element that just ended is its parent's last child
    except InvalidArgument:
        raise
    except DefusedXmlException:
        raise InvalidArgument(
            "PMML document rejected: it has a DOCTYPE declaration, which PMML does not use "
            "(entities and external references are not accepted)"
        ) from None
    except SyntaxError as exc:  # xml.etree.ElementTree.ParseError
        line, column = getattr(exc, "position", (0, 0))
        reason = expat.ErrorString(exc.code) if getattr(exc, "code", None) else "malformed XML"
        if not seen_root:
            raise InvalidArgument(
                f"not a PMML document: not XML ({reason} at line {line}, column {column}); "
                "expected an XML document with a <PMML> root element"
            ) from None
        raise InvalidArgument(f"PMML syntax error at line {line}, column {column}: {reason}") from None

    if not fields:
        raise InvalidArgument("PMML document has no <DataDictionary> fields")
    if info["model_type"] is None:
        raise InvalidArgument("PMML document has no model: expected a model element such as <TreeModel> after <DataDictionary>")
    info.setdefault("application", None)

    def declared(name: str) -> dict[str, Any]:
        try:
            return dict(fields[name], name=name)
        except KeyError:
            raise InvalidArgument(f"PMML MiningField {name!r} is not declared in the <DataDictionary>") from None

    info["inputs"] = [declared(n) for n, usage in mining if usage == "active"]
    info["targets"] = [declared(n) for n, usage in mining if usage in ("target", "predicted")]
    target_dtype = info["targets"][0]["dtype"] if info["targets"] else "float64"
    for out in outputs:
        if out["dtype"] is None:
            if out.get("feature", "predictedValue") == "predictedValue":
                out["dtype"] = target_dtype
            elif out.get("feature") in _STRING_FEATURES:
                out["dtype"] = "string"
            else:
                out["dtype"] = "float64"
    info["outputs"] = outputs
    return info


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(elem: Any, name: str) -> Any:
    return next((c for c in elem if _local(c.tag) == name), None)


def _dtype(data_type: str | None) -> str | None:
    if data_type is None:
        return None
    return PMML_DTYPES.get(data_type, "string")


def _data_field(elem: Any) -> dict[str, Any]:
    data_type = elem.get("dataType")
    field: dict[str, Any] = {"data_type": data_type, "dtype": _dtype(data_type) or "string", "optype": elem.get("optype")}
    values = [v.get("value") for v in elem if _local(v.tag) == "Value" and v.get("property", "valid") == "valid"]
    if values:
        field["values"] = values
    return field


def _output_field(elem: Any) -> dict[str, Any]:
    data_type = elem.get("dataType")
    return {
        "name": elem.get("name", ""),
        "data_type": data_type,
        "dtype": _dtype(data_type),
        "optype": elem.get("optype"),
        "feature": elem.get("feature", "predictedValue"),
    }


def _categories_extra(info: Mapping[str, Any]) -> dict[str, Any]:
    # synthesize_batch (warm-up) picks string values from here; an arbitrary
    # string would be an invalid value for a categorical PMML field.
    categories = {f["name"]: list(f["values"]) for f in info["inputs"] if f["dtype"] == "string" and f.get("values")}
    return {"categories": categories} if categories else {}


# -- the JVM ----------------------------------------------------------------------------------------

# The JVM is per process and cannot be restarted, so its state is module-level.
_jvm_lock = threading.Lock()
_jvm_ready = False
_thread_guard = threading.local()


def _extras() -> tuple[ModuleType, ModuleType]:
    try:
        import jpmml_evaluator
        import jpype
    except ImportError:
        raise MissingExtra.for_extra("pmml", "PMML models") from None
    return jpype, jpmml_evaluator


def ensure_jvm(jvm_options: Sequence[str] = ()) -> None:
    """Start the process's JVM with JPMML on its classpath, once; safe from any thread.

    ``jvm_options`` (e.g. ``["-Xmx2g"]``) only apply to the call that starts it.
    Raises :class:`FailedPrecondition` when no usable Java runtime is found.
    """
    global _jvm_ready
    if _jvm_ready:
        return
    jpype, jpmml_evaluator = _extras()
    with _jvm_lock:
        if _jvm_ready:
            return
        if not jpype.isJVMStarted():
            try:
                jvm_path = jpype.getDefaultJVMPath()
            except (jpype.JVMNotFoundException, jpype.JVMNotSupportedException):
                raise FailedPrecondition(
                    "PMML models need a Java runtime (11 or newer) and none was found: "
                    "install one (e.g. openjdk-17-jre-headless) or set JAVA_HOME"
                ) from None
            try:
                jpype.startJVM(
                    # -Xrs: the JVM installs no SIGINT/SIGTERM handlers, so Python's
                    # own handlers (a server's graceful shutdown, ^C) run at once.
                    # Without it the JVM either halts the process (interrupt=True)
                    # or Python sees the signal only when it next runs bytecode.
                    "-Xrs",
                    *jvm_options,
                    jvmpath=jvm_path,
                    # private, but it is the list of jars the package ships
                    classpath=jpmml_evaluator._classpath([]),
                    convertStrings=False,
                    interrupt=False,
                )
            except (OSError, RuntimeError) as exc:
                raise FailedPrecondition(f"cannot start the Java runtime at {jvm_path}: {_first_line(exc)}") from None
        try:
            jpype.JClass(jpmml_evaluator.PythonEvaluatorUtil.JAVA_CLASS_NAME)
        except Exception as exc:
            raise FailedPrecondition(
                "the JVM in this process was started without the JPMML-Evaluator classpath "
                f"({_first_line(exc)}); load PMML models before other JPype users start it"
            ) from None
        _jvm_ready = True


class _ThreadDetacher:
    """Detaches its thread from the JVM when the thread ends.

    JPype attaches every Python thread that calls Java and never detaches it,
    so each short-lived worker thread would leave a Java thread behind.  An
    instance lives in a ``threading.local``, which is cleared by the ending
    thread itself.
    """

    def __init__(self, detach: Any) -> None:
        self._detach = detach

    def __del__(self) -> None:
        try:
            self._detach()
        except Exception:  # noqa: S110 - interpreter shutdown; nothing left to free
            pass


def _attach_current_thread(jpype: ModuleType) -> None:
    if getattr(_thread_guard, "detacher", None) is None:
        _thread_guard.detacher = _ThreadDetacher(jpype.JClass("java.lang.Thread").detach)


def _first_line(exc: BaseException | str | None) -> str:
    text = str(exc or "").strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _java_error_text(jpype: ModuleType, exc: BaseException) -> str:
    if isinstance(exc, jpype.JException):
        return f"{exc.getClass().getSimpleName()}: {_first_line(exc.getMessage())}"
    class_name = getattr(exc, "className", None)  # jpmml_evaluator.JavaError
    if class_name:
        return f"{class_name.rsplit('.', 1)[-1]}: {_first_line(getattr(exc, 'message', None))}"
    return _first_line(exc)


# -- the runtime --------------------------------------------------------------------------------------


class PmmlRuntime(Runtime):
    """A PMML model scored by JPMML-Evaluator; thread-safe (JPMML evaluators are)."""

    format: ClassVar[str] = "pmml"

    def __init__(self, signature: Signature, evaluator: Any, *, parallelism: int = 1, info: Mapping[str, Any]) -> None:
        super().__init__(signature)
        self.info = dict(info)
        self._evaluator = evaluator
        self._parallelism = parallelism
        self._jpype, self._jpmml = _extras()
        produced = {f.getName() for f in (*evaluator.getTargetFields(), *evaluator.getOutputFields())}
        self._drop_columns = sorted(produced - set(signature.output_names))

    @classmethod
    def load(
        cls, path: Path, *, signature: Signature | None = None, options: Mapping[str, Any] | None = None
    ) -> PmmlRuntime:
        """Check the document, build and verify a JPMML evaluator for it.

        ``options``: ``lax`` (skip JPMML's model schema checks) and
        ``parallelism`` (JVM threads per batch: 1, the default, scores a batch
        on the calling thread, which suits a server that already runs requests
        concurrently; -1 uses the JVM's common pool; N > 1 a pool of N).
        """
        options = dict(options or {})
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            known = "; ".join(f"{k}: {v}" for k, v in _OPTIONS.items())
            raise InvalidArgument(f"unknown PMML runtime option(s) {', '.join(unknown)}: expected {known}")
        parallelism = options.get("parallelism", 1)
        if not isinstance(parallelism, int) or isinstance(parallelism, bool) or not (parallelism == -1 or parallelism >= 1):
            raise InvalidArgument(f"PMML option parallelism must be -1 or an integer >= 1, got {parallelism!r}")

        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidArgument(f"cannot read PMML file {path.name}: {exc.strerror}") from None
        info = _inspect_bytes(data)

        jpype, jpmml_evaluator = _extras()
        ensure_jvm()
        _attach_current_thread(jpype)
        try:
            # The JVM parses exactly the bytes checked above, never the path.
            evaluator = jpmml_evaluator.make_evaluator(data, backend="jpype", lax=bool(options.get("lax", False)))
        except (jpmml_evaluator.JavaError, jpype.JException) as exc:
            raise InvalidArgument(f"PMML model rejected by JPMML-Evaluator: {_java_error_text(jpype, exc)}") from None
        try:
            evaluator.verify()
        except (jpmml_evaluator.JavaError, jpype.JException) as exc:
            raise InvalidArgument(f"PMML model failed its embedded verification: {_java_error_text(jpype, exc)}") from None

        pmml_signature = _evaluator_signature(evaluator, info)
        return cls(_merge_signature(pmml_signature, signature), evaluator, parallelism=parallelism, info=info)

    def predict(self, batch: Batch) -> Batch:
        evaluator = self._evaluator
        if evaluator is None:
            raise FailedPrecondition("this PMML runtime was closed")
        rows = batch_rows(batch)
        if rows == 0:
            return {c.name: np.empty(0, dtype=numpy_dtype(c.dtype)) for c in self.signature.outputs}
        names = [name for name in self.signature.input_names if name in batch]
        arguments = {"columns": names, "data": [_to_java_column(np.asarray(batch[name])) for name in names]}

        jpype, jpmml_evaluator = self._jpype, self._jpmml
        _attach_current_thread(jpype)
        try:
            results = jpmml_evaluator.PythonEvaluatorUtil.evaluateAll(
                evaluator.backend, evaluator.javaEvaluator, arguments, self._drop_columns, self._parallelism
            )
        except (jpmml_evaluator.JavaError, jpype.JException) as exc:
            raise ModelFailure(f"PMML evaluation failed: {_java_error_text(jpype, exc)}") from None
        errors = results.get("errors")
        if errors is not None:
            self._raise_row_error(arguments, errors)

        columns = dict(zip(results["columns"], results["data"]))
        return {c.name: _from_java_column(columns[c.name], c.dtype, rows) for c in self.signature.outputs}

    def close(self) -> None:
        """Drop the Java evaluator; the JVM itself lives as long as the process."""
        self._evaluator = None

    def _raise_row_error(self, arguments: Mapping[str, Any], errors: Sequence[str | None]) -> None:
        # evaluateAll reports failures as text; score the first failing row on
        # its own to get the Java exception and tell bad input from a bad model.
        row = next(i for i, e in enumerate(errors) if e is not None)
        jpype, jpmml_evaluator = self._jpype, self._jpmml
        evaluator = self._evaluator
        values = {name: column[row] for name, column in zip(arguments["columns"], arguments["data"])}
        try:
            evaluator.evaluate(values, nan_as_missing=False)
        except jpmml_evaluator.JavaError as exc:
            text = f"row {row}: {_java_error_text(jpype, exc)}"
            if any(exc.isInstance(name) for name in _INPUT_ERRORS):
                raise InvalidArgument(f"invalid input for the PMML model at {text}") from None
            raise ModelFailure(f"PMML evaluation failed at {text}") from None
        raise ModelFailure(f"PMML evaluation failed at row {row}: {_first_line(errors[row])}")


def _evaluator_signature(evaluator: Any, info: Mapping[str, Any]) -> Signature:
    # JPMML's field lists are what evaluateAll returns, so they are authoritative.
    def spec(field: Any, *, output: bool) -> ColumnSpec:
        return ColumnSpec(field.getName(), _dtype(field.getDataType()) or "string", nullable=output)

    return Signature(
        inputs=tuple(spec(f, output=False) for f in evaluator.getInputFields()),
        outputs=tuple(spec(f, output=True) for f in (*evaluator.getTargetFields(), *evaluator.getOutputFields())),
        extra=_categories_extra(info),
    )


def _merge_signature(pmml: Signature, declared: Signature | None) -> Signature:
    """The declared signature, checked against the PMML's fields; the PMML's where it says nothing."""
    if declared is None or declared.is_empty:
        return pmml
    for kind, names, known in (
        ("input", declared.input_names, pmml.input_names),
        ("output", declared.output_names, pmml.output_names),
    ):
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InvalidArgument(
                f"signature {kind}(s) {', '.join(map(repr, unknown))} are not PMML {kind} fields: "
                f"expected some of {', '.join(map(repr, known))}"
            )
    return Signature(
        inputs=declared.inputs or pmml.inputs,
        outputs=declared.outputs or pmml.outputs,
        extra={**pmml.extra, **declared.extra},
    )


def _to_java_column(values: np.ndarray) -> list[Any]:
    """Plain Python values for the pickle JPMML reads; NaN and None are PMML missing values."""
    if values.dtype.kind == "f":
        missing = np.isnan(values)
        if missing.any():
            values = values.astype(object)
            values[missing] = None
        return values.tolist()
    if values.dtype.kind == "O":
        return [_plain_object(v) for v in values.tolist()]
    return values.tolist()


def _plain_object(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_java_column(values: list[Any], dtype: str, rows: int) -> np.ndarray:
    if len(values) != rows:
        raise ModelFailure(f"PMML evaluation returned {len(values)} rows for {rows}")
    if dtype.startswith("float"):
        return np.array(values, dtype=dtype)  # None (a missing prediction) becomes NaN
    if dtype == "string" or None in values:
        # object arrays keep missing predictions as None for the nullable outputs
        out = np.empty(rows, dtype=object)
        out[:] = values
        return out
    return np.array(values, dtype=dtype)

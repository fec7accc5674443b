"""What a pickle would import, found without running it.

A pickle is a program: its GLOBAL opcodes import any callable and REDUCE calls
it, so ``pickle.load`` on an untrusted file runs whatever the author chose
(``os.system``, say).  Before modelport unpickles a model it runs the pickle
machine *symbolically*: every global the stream names is recorded and
replaced by an inert placeholder, so no code from the file (and no library
function it names) runs.  The names found are checked against an allow-list
of the libraries modelport serves; anything else is refused by name unless
the registering caller trusts the file.

The scan follows the containers models come in: plain pickles, joblib files
(compressed or not, with their raw array blocks skipped exactly as joblib
reads them), ``torch.save`` zip archives (``*/data.pkl``) and the legacy
``torch.save`` format (a sequence of pickles).  TorchScript archives are not
pickles of Python objects: ``torch.jit.load`` restores only TorchScript types.
"""

from __future__ import annotations

import _compat_pickle
import contextlib
import pickle
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from modelport.errors import InvalidArgument

#: packages whose classes and functions a served model may be made of
ALLOWED_PACKAGES: tuple[str, ...] = (
    "sklearn", "numpy", "scipy", "pandas", "pyarrow", "xgboost", "lightgbm", "joblib"
)
#: torch.save archives may also name these torch modules (tensors, storages, nn layers)
TORCH_PACKAGES: tuple[str, ...] = ("torch._utils", "torch._tensor", "torch.nn", "torch.storage", "torch.serialization")
#: the standard library's harmless data types, by module
SAFE_GLOBALS: dict[str, frozenset[str]] = {
    "builtins": frozenset(
        {"bool", "bytearray", "bytes", "complex", "dict", "float", "frozenset", "int", "list", "object", "range",
         "set", "slice", "str", "tuple", "NoneType", "Ellipsis", "NotImplemented"}
    ),
    "copyreg": frozenset({"_reconstructor"}),
    "_codecs": frozenset({"encode"}),  # protocol 2 writes bytes as _codecs.encode(str, "latin1")
    "collections": frozenset({"OrderedDict", "defaultdict", "deque", "Counter"}),
    "datetime": frozenset({"date", "datetime", "time", "timedelta", "timezone"}),
    "decimal": frozenset({"Decimal"}),
    "fractions": frozenset({"Fraction"}),
    "uuid": frozenset({"UUID"}),
    "functools": frozenset({"partial"}),
    "enum": frozenset({"Enum"}),
}
#: names inside allowed packages that load files, run code or reach the network
DENIED_PARTS: frozenset[str] = frozenset(
    {"testing", "_testing", "f2py", "distutils", "ctypeslib", "_pytesttester", "datasets", "hub", "jit",
     "externals", "_dask", "dask", "parallel", "memory", "_store_backends", "io", "npyio", "pickle",
     "serialization_utils", "fs", "flight", "jvm", "cffi", "cuda", "plasma", "substrait"}
)
#: a name (or a part of a dotted one) containing any of these is refused: loaders, evaluators, processes
DENIED_WORDS: tuple[str, ...] = (
    "load", "eval", "exec", "system", "open", "import", "compile", "popen", "spawn", "subprocess", "getattr",
    "setattr", "delattr", "globals", "builtins", "fromfile", "memmap", "read_", "urlopen",
)
#: dunder names the libraries' own pickles use (numpy's random generators)
DUNDER_CTORS = frozenset({"__randomstate_ctor", "__bit_generator_ctor", "__generator_ctor"})


@dataclass(frozen=True)
class ScanResult:
    #: every "module.name" the pickle(s) would import, sorted
    imports: tuple[str, ...]
    #: those outside the allow-list
    refused: tuple[str, ...]


def allowed(module: str, name: str, *, torch: bool = False) -> bool:
    """Whether a global may be imported by a model pickle without the caller trusting it."""
    safe = SAFE_GLOBALS.get(module)
    if safe is not None:
        return name in safe
    packages = ALLOWED_PACKAGES + (TORCH_PACKAGES if torch else ())
    in_package = any(module == p or module.startswith(p + ".") for p in packages)
    torch_top = torch and module == "torch" and not name.startswith("_")  # torch.FloatStorage, torch.Size …
    if not (in_package or torch_top):
        return False
    if set(module.split(".")) & DENIED_PARTS:
        return False
    attrs = name.split(".")
    # A dotted name walks attributes (protocol 4): "utils.os.system" would reach a module the
    # allowed one imported.  Only classes nested in classes are walked through.
    if any(not a[:1].isupper() for a in attrs[:-1]):
        return False
    for attr in attrs:
        if attr.startswith("__") and attr not in DUNDER_CTORS:
            return False
        lowered = attr.lower()
        if any(word in lowered for word in DENIED_WORDS):
            return False
    return True


# -- the symbolic machine --------------------------------------------------------------------------


class _Placeholder:
    """What every global becomes: accepts any call, state and items, and does nothing."""

    qualname = ""
    args: tuple[Any, ...] = ()
    state: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Placeholder:
        return _Placeholder()


class _Scanner(pickle._Unpickler):  # the pure-Python machine: its dispatch table can be extended
    """Runs one pickle with inert placeholders for globals, recording the names."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: IO[bytes], found: set[tuple[str, str]], *, joblib: bool) -> None:
        super().__init__(file)
        self.file = file
        self.found = found
        self.joblib = joblib

    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3:  # type: ignore[attr-defined]  # Python 2 names, mapped as pickle maps them
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        self.found.add((module, name))
        return type(name.rpartition(".")[2] or "global", (_Placeholder,), {"qualname": f"{module}.{name}"})

    def persistent_load(self, pid: Any) -> Any:  # torch storages
        return _Placeholder()

    def load_build(self) -> None:
        super().load_build()  # type: ignore[misc]
        obj = self.stack[-1]  # type: ignore[attr-defined]
        if self.joblib and isinstance(obj, _Placeholder) and obj.qualname.endswith(".NumpyArrayWrapper"):
            self._skip_array(obj.state)

    dispatch[pickle.BUILD[0]] = load_build  # type: ignore[assignment]

    def _new(self, cls: Any) -> Any:
        # every class here is a placeholder type; anything else (a placeholder instance) makes one more
        return cls.__new__(cls) if isinstance(cls, type) and issubclass(cls, _Placeholder) else _Placeholder()

    def load_newobj(self) -> None:
        self.stack.pop()  # type: ignore[attr-defined]  # the arguments
        self.stack.append(self._new(self.stack.pop()))  # type: ignore[attr-defined]

    def load_newobj_ex(self) -> None:
        self.stack.pop()  # type: ignore[attr-defined]  # keyword arguments
        self.stack.pop()  # type: ignore[attr-defined]  # positional arguments
        self.stack.append(self._new(self.stack.pop()))  # type: ignore[attr-defined]

    dispatch[pickle.NEWOBJ[0]] = load_newobj  # type: ignore[assignment]
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex  # type: ignore[assignment]

    def load_reduce(self) -> None:
        args = self.stack.pop()  # type: ignore[attr-defined]
        func = self.stack[-1]  # type: ignore[attr-defined]
        # only placeholders are ever called: a number or a string on the stack stays inert
        callable_here = isinstance(func, _Placeholder) or (isinstance(func, type) and issubclass(func, _Placeholder))
        self.stack[-1] = func(*args) if callable_here and isinstance(args, tuple) else _Placeholder()  # type: ignore[attr-defined]

    dispatch[pickle.REDUCE[0]] = load_reduce  # type: ignore[assignment]

    def _skip_array(self, state: Any) -> None:
        """Step over an array joblib wrote raw after its wrapper (as NumpyArrayWrapper.read_array reads it)."""
        if not isinstance(state, dict):
            raise ValueError("a joblib array wrapper without its state")
        count = 1
        for dim in state.get("shape", ()):
            if not isinstance(dim, int) or dim < 0:
                raise ValueError("a joblib array with a bad shape")
            count *= dim
        itemsize, has_object = _dtype_size(state.get("dtype"))
        if has_object:  # an object array is a nested pickle on the same stream
            _Scanner(self.file, self.found, joblib=True).load()
            return
        # the raw bytes follow the wrapper's frame: read them from the file, as joblib does
        if "numpy_array_alignment_bytes" in state:
            padding = self.file.read(1)
            self.file.read(int.from_bytes(padding, "little"))
        remaining = count * itemsize
        while remaining:
            chunk = self.file.read(min(remaining, 1 << 20))
            if not chunk:
                raise ValueError("a joblib array is truncated")
            remaining -= len(chunk)


def _dtype_size(dtype: Any) -> tuple[int, bool]:
    """(itemsize, has objects) of a pickled numpy dtype placeholder: numpy.dtype(str, …) plus its state."""
    import numpy as np

    if not isinstance(dtype, _Placeholder) or not dtype.qualname.endswith(".dtype") or not dtype.args:
        raise ValueError("a joblib array without a dtype")
    code = dtype.args[0]
    if not isinstance(code, str):
        raise ValueError("a joblib array with a bad dtype")
    base = np.dtype(code)  # from a type code string only: nothing from the file runs
    state = dtype.state if isinstance(dtype.state, tuple) else ()
    size = state[5] if len(state) > 5 and isinstance(state[5], int) and state[5] > 0 else base.itemsize
    flags = state[7] if len(state) > 7 and isinstance(state[7], int) else 0
    return size, base.hasobject or bool(flags & 1)


# -- containers ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _joblib_stream(path: Path) -> Iterator[IO[bytes]]:
    """The file's pickle stream, decompressed as joblib would (zlib, gzip, bz2, lzma, xz)."""
    from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

    with open(path, "rb") as raw, _validate_fileobject_and_memmap(raw, str(path)) as (stream, _):
        if isinstance(stream, str):
            raise InvalidArgument(f"{path.name!r} was written by joblib < 0.10: re-save it with a current joblib")
        yield stream


def _scan_stream(stream: IO[bytes], found: set[tuple[str, str]], *, joblib: bool, count: int = 1) -> None:
    for _ in range(count):
        _Scanner(stream, found, joblib=joblib).load()


def scan_file(path: Path, fmt: str) -> ScanResult:
    """The globals a ``sklearn`` (pickle/joblib) or ``torch`` file would import; raises on a damaged stream."""
    from modelport.formats import TORCH_LEGACY_MAGIC, is_torch_archive

    found: set[tuple[str, str]] = set()
    torch = fmt == "torch"
    try:
        if torch and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                if not is_torch_archive(names) or any("/code/" in n for n in names):
                    return ScanResult((), ())  # TorchScript: restored by torch.jit.load, not unpickled
                for name in names:
                    if name.endswith("/data.pkl"):
                        with zf.open(name) as member:
                            _scan_stream(member, found, joblib=False)
        elif torch:
            with open(path, "rb") as fh:
                if fh.read(len(TORCH_LEGACY_MAGIC)) != TORCH_LEGACY_MAGIC:
                    raise ValueError("not a torch.save file")
                fh.seek(0)
                # magic number, protocol version, system info, the object, its storage keys
                _scan_stream(fh, found, joblib=False, count=5)
        else:
            with _joblib_stream(path) as stream:
                _scan_stream(stream, found, joblib=True)
    except InvalidArgument:
        raise
    except Exception as exc:  # the stream itself is malformed: it cannot be loaded either
        raise InvalidArgument(f"{path.name!r} is not a readable pickle: {type(exc).__name__}: {exc}") from None
    imports = sorted(f"{m}.{n}" for m, n in found)
    refused = sorted(f"{m}.{n}" for m, n in found if not allowed(m, n, torch=torch))
    return ScanResult(tuple(imports), tuple(refused))


#: formats whose files are pickles (scanned before loading; refused when pickles are not allowed)
PICKLE_FORMATS = frozenset({"sklearn", "torch"})


def check_pickle(path: Path, fmt: str, *, trusted: bool, allow_pickle: bool = True) -> ScanResult | None:
    """Refuse a pickle that would import something outside the allow-list, unless ``trusted``.

    None for formats that are not pickles.
    """
    if fmt not in PICKLE_FORMATS:
        return None
    if not allow_pickle:
        raise InvalidArgument(
            f"{fmt} models are pickles and this server refuses pickles (MODELPORT_ALLOW_PICKLE=false): "
            "register ONNX, skops, XGBoost, LightGBM, PMML or PFA instead"
        )
    result = scan_file(path, fmt)
    if result.refused and not trusted:
        shown = ", ".join(result.refused[:5]) + (f" and {len(result.refused) - 5} more" if len(result.refused) > 5 else "")
        raise InvalidArgument(
            f"refusing to unpickle {path.name!r}: it would import {shown}, outside the libraries modelport serves; "
            "register it with --trust (a trust-code token over the API) only if you trust its author"
        )
    return result

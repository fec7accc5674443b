"""What serving a pickled model takes, found by loading it: ``python -m modelport.containers.probe FORMAT PATH [SIGNATURE]``.

A scikit-learn pipeline may hold steps from other libraries (an LGBMClassifier,
an XGBRegressor, a transformer from an installed package), and it may or may
not be fed DataFrames (:attr:`modelport.runtimes.base.Runtime.takes_frames`).
Neither shows in the format, so ``modelport build`` loads each such model in a
child process, as serving will, and reads what it needed: the distributions
whose modules the load imported (added to the image) and whether the model
takes DataFrames (else the image leaves pandas out, 39 MB).  A child process,
so that what loading imports is all that is new in ``sys.modules``.

Prints one JSON object: ``{"frames": bool, "distributions": [names]}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from modelport.errors import FailedPrecondition

#: formats whose artifacts are pickles: what they import is known only by loading them
PICKLED = frozenset({"sklearn"})


@dataclass
class Needs:
    """What serving a set of models takes beyond their formats' runtimes."""

    frames: bool = False
    distributions: set[str] = field(default_factory=set)


def probe(fmt: str, path: Path, signature: dict[str, object] | None) -> Needs:
    """Load the model in a child process (this interpreter) and read what it needed."""
    args = [sys.executable, "-m", "modelport.containers.probe", fmt, str(path), json.dumps(signature or {})]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise FailedPrecondition(f"the {fmt} model {path.name} does not load here: {lines[-1] if lines else done.returncode}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return Needs(frames=bool(found["frames"]), distributions=set(found["distributions"]))


def _main(fmt: str, path: str, signature: str) -> dict[str, object]:
    import importlib.metadata as md

    from modelport.runtimes import load_runtime
    from modelport.signature import Signature

    declared = json.loads(signature)
    runtime = load_runtime(fmt, Path(path), signature=Signature.from_dict(declared) if declared else None)
    owners = md.packages_distributions()
    tops = {module.partition(".")[0] for module in modules_of(getattr(runtime, "model", None))}
    dists = sorted({d for top in tops if top not in sys.stdlib_module_names for d in owners.get(top, ())})
    return {"frames": runtime.takes_frames, "distributions": [d for d in dists if d.lower() != "modelport"]}


#: elements of an object array looked at (their types), enough for the classes a column of objects holds
_OBJECT_ITEMS = 64


def modules_of(root: object) -> set[str]:
    """The modules defining the classes and functions an object graph holds: what unpickling it imports.

    Not ``sys.modules`` after loading: libraries import their optional companions when present (scikit-learn
    imports pandas, pyarrow and rich if it finds them), which the model does not need.
    """
    import functools
    import types

    import numpy as np

    found: set[str] = set()
    seen: set[int] = set()
    todo = [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or obj is None:
            continue
        seen.add(id(obj))
        if isinstance(obj, type | types.FunctionType | types.BuiltinFunctionType | types.MethodType):
            found.add(getattr(obj, "__module__", None) or "builtins")
            todo.append(getattr(obj, "__self__", None))  # a bound method's object
            continue
        found.add(type(obj).__module__)
        if isinstance(obj, functools.partial):
            todo += [obj.func, *obj.args, *obj.keywords.values()]
        elif isinstance(obj, dict):
            todo += [*obj.keys(), *obj.values()]
        elif isinstance(obj, list | tuple | set | frozenset):
            todo += list(obj)
        elif isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                todo += list(obj.ravel()[:_OBJECT_ITEMS])
        elif not isinstance(obj, str | bytes | int | float | complex | bool):
            todo += list(getattr(obj, "__dict__", {}).values())
            todo += [getattr(obj, slot) for slot in getattr(type(obj), "__slots__", ()) if hasattr(obj, slot)]
    return found


if __name__ == "__main__":
    try:
        print(json.dumps(_main(*sys.argv[1:4])))
    except Exception as exc:  # reported by the parent in one line
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)

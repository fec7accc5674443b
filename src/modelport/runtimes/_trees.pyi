# The compiled tree kernel (_trees.c); see modelport.runtimes.onnx_trees.
from typing import Any as Buffer

def score(
    feat: Buffer,
    thr: Buffer,
    miss: Buffer,
    leaves: Buffer,
    init: Buffer,
    ntrees: int,
    depth: int,
    nout: int,
    nfeat: int,
    mode: int,
    x: Buffer,
    out: Buffer,
    /,
) -> None: ...

# The compiled tree kernel (_trees.c); see modelport.runtimes.onnx_trees.
from typing import Any as Buffer

class Forest:
    def __init__(
        self,
        feat: Buffer,
        thr: Buffer,
        miss: Buffer,
        child: Buffer,
        roots: Buffer,
        depths: Buffer,
        values: Buffer,
        nout: int,
        nfeat: int,
        mode: int,
        /,
    ) -> None: ...
    def score(self, x: Buffer, out: Buffer, /) -> None: ...

def transform(scores: Buffer, kind: int, ncols: int, /) -> None: ...

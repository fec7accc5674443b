"""ONNX tree ensembles scored by modelport's own kernel, bit-identical to ONNX Runtime.

A converted forest or boosted model is one ``TreeEnsembleClassifier`` or
``TreeEnsembleRegressor`` node.  ONNX Runtime walks its trees node by node,
and every step is a branch the CPU cannot predict.  :mod:`._trees` (C, built
with the package) lays every tree out as a perfect binary tree in heap order
and walks 16 rows through a tree at a time without branching: on the
benchmark forest (100 trees, depth 10) it scores ~3.5x as many rows per core
as ONNX Runtime (``bench/batch.py``).

It is used only when all of this holds, else ONNX Runtime scores alone:

- the graph is that single node, fed by the graph's one ``float`` input of
  fixed width, with the node's outputs as the graph's outputs;
- every tree is at most :data:`MAX_DEPTH` deep and all branch nodes share one
  comparison (``BRANCH_LEQ``, ``_LT``, ``_GTE`` or ``_GT``), thresholds as
  float;
- the aggregation is one this module reproduces (see :meth:`Forest.finish`);
- and, decisively, a trial at load time gives **bit-identical** outputs to
  ONNX Runtime's on rows built from the model's own thresholds (each value
  exactly at, just under and just over a split, and missing values).

Set ``MODELPORT_NATIVE_TREES=0`` (or the runtime option ``native_trees:
false``) to score with ONNX Runtime only.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: deeper trees would make the perfect layout too large (2**depth nodes per tree)
MAX_DEPTH = 12
_MODES = {b"BRANCH_LEQ": 0, b"BRANCH_LT": 1, b"BRANCH_GTE": 2, b"BRANCH_GT": 3}
_TRIAL_ROWS = 768
#: fewer rows than this go to ONNX Runtime (same results, less per-call overhead)
MIN_ROWS = 8


def _kernel() -> Any:
    try:
        import modelport.runtimes._trees as _trees
    except ImportError:  # built without a C compiler: ONNX Runtime scores alone
        return None
    return _trees


def enabled(options: dict[str, Any] | None) -> bool:
    if os.environ.get("MODELPORT_NATIVE_TREES", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return bool((options or {}).get("native_trees", True))


@dataclass
class Forest:
    """A tree ensemble in perfect layout, and how its sums become the graph's outputs."""

    kernel: Any
    feat: np.ndarray  # int32 [trees, 2**depth - 1]
    thr: np.ndarray  # float32, NaN in padding nodes
    miss: np.ndarray  # uint8, or empty: NaN takes the true branch where 1
    leaves: np.ndarray  # float32 [trees, 2**depth, nout]
    depth: int
    nfeat: int
    mode: int
    #: "binary" (one score, two classes), "classes" (a score per class) or "regression"
    kind: str
    outputs: list[str]
    base: np.ndarray  # float32 [nout] or empty
    labels: np.ndarray | None = None
    average: bool = False
    #: every leaf weight >= 0 (ONNX Runtime's binary rule then splits at 0.5, else at 0)
    positive: bool = True

    def __post_init__(self) -> None:
        self._init = np.zeros(self.nout, dtype=np.float32)

    @property
    def ntrees(self) -> int:
        return int(self.feat.shape[0])

    @property
    def nout(self) -> int:
        return int(self.leaves.shape[2])

    def takes(self, x: np.ndarray) -> bool:
        """Whether to score ``x`` here: enough rows of what the graph takes.

        Anything else goes to ONNX Runtime, which names what is wrong with the
        input, and is quicker for a handful of rows (a single row: ~10 µs there,
        ~14 µs here, mostly numpy's per-call costs).
        """
        return x.ndim == 2 and x.shape[0] >= MIN_ROWS and x.shape[1] == self.nfeat and x.dtype == np.float32

    def sums(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.empty((x.shape[0], self.nout), dtype=np.float32)
        self.kernel.score(
            self.feat, self.thr, self.miss, self.leaves, self._init,
            self.ntrees, self.depth, self.nout, self.nfeat, self.mode, x, out,
        )  # fmt: skip
        return out

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        """The graph's outputs for ``x`` (float32 ``[N, nfeat]``), in the graph's order."""
        return self.finish(self.sums(x))

    def finish(self, scores: np.ndarray) -> list[np.ndarray]:
        """What ONNX Runtime's aggregators do after the trees are summed (float32 throughout)."""
        if self.kind == "regression":
            if self.average:
                scores = scores / np.float32(self.ntrees)
            if self.base.size:
                scores = scores + self.base
            return [scores]
        assert self.labels is not None
        if self.kind == "binary":
            s = scores[:, 0]
            if self.base.size:
                s = s + self.base[0]
            if self.positive:
                label = self.labels[np.where(s > np.float32(0.5), 1, 0)]
                probs = np.stack([np.float32(1) - s, s], axis=1)
            else:
                label = self.labels[np.where(s > np.float32(0), 1, 0)]
                probs = np.stack([-s, s], axis=1)
        else:
            if self.base.size:
                scores = scores + self.base
            label = self.labels[np.argmax(scores, axis=1)]
            probs = scores
        return [label, probs]


def _attributes(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def build(model: Any, kernel: Any) -> Forest | None:
    """A :class:`Forest` for an ONNX model that is one tree-ensemble node, else ``None``."""
    graph = model.graph
    if not graph.node or len(graph.input) != 1 or graph.initializer:
        return None
    node, *rest = graph.node
    if node.domain != "ai.onnx.ml" or node.op_type not in ("TreeEnsembleClassifier", "TreeEnsembleRegressor"):
        return None
    tensor = graph.input[0].type.tensor_type
    dims = tensor.shape.dim
    if tensor.elem_type != 1 or len(dims) != 2 or dims[1].dim_value <= 0 or list(node.input) != [graph.input[0].name]:
        return None
    # converters often rename the outputs with Identity nodes (scikit-learn's boosting, LightGBM)
    names = {name: name for name in node.output}
    for extra in rest:
        if extra.op_type != "Identity" or extra.domain not in ("", "ai.onnx") or extra.input[0] not in names:
            return None
        names[extra.output[0]] = names[extra.input[0]]
    if [names.get(o.name) for o in graph.output] != list(node.output):
        return None
    nfeat = int(dims[1].dim_value)
    attrs = _attributes(node)
    if any(name.endswith("_as_tensor") for name in attrs):
        return None  # double thresholds/weights: ONNX Runtime sums those in double
    classifier = node.op_type == "TreeEnsembleClassifier"
    prefix = "class" if classifier else "target"
    post = attrs.get("post_transform", b"NONE").decode()
    ids = list(attrs[f"{prefix}_ids"])
    if classifier:
        strings = [s.decode() for s in attrs.get("classlabels_strings", [])]
        labels = np.asarray(strings, dtype=object) if strings else np.asarray(attrs.get("classlabels_int64s", []))
        nclasses = len(labels)
        if nclasses == 2 and set(ids) == {0}:
            kind, nout = "binary", 1
        elif nclasses > 2:
            kind, nout = "classes", nclasses
        else:
            return None  # two classes with a score each: ONNX Runtime's rule there is its own
    else:
        labels, kind, nout = None, "regression", int(attrs.get("n_targets", 1))
        if attrs.get("aggregate_function", b"SUM") not in (b"SUM", b"AVERAGE"):
            return None
    if post != "NONE":
        # ONNX Runtime's logistic and softmax are its own vectorised approximations, not numpy's
        # (measured: the trial never matched bit for bit); boosted classifiers stay on ONNX Runtime
        return None
    if not ids or min(ids) < 0 or max(ids) >= nout:
        return None
    base = np.asarray(attrs.get("base_values", []), dtype=np.float32)
    if base.size not in (0, nout):
        return None
    lay = _layout(attrs, prefix, nfeat, nout)
    if lay is None:
        return None
    for arr in (lay.feat, lay.thr, lay.miss, lay.leaves):  # the kernel trusts these (feature ids checked): read-only
        arr.flags.writeable = False
    return Forest(
        kernel=kernel, feat=lay.feat, thr=lay.thr, miss=lay.miss, leaves=lay.leaves, depth=lay.depth, nfeat=nfeat,
        mode=lay.mode,
        kind=kind, outputs=[o.name for o in graph.output], base=base, labels=labels,
        average=attrs.get("aggregate_function", b"SUM") == b"AVERAGE",
        positive=bool(min(attrs[f"{prefix}_weights"]) >= 0),
    )  # fmt: skip


def _layout(attrs: dict[str, Any], prefix: str, nfeat: int, nout: int) -> _Layout | None:
    """The trees in perfect layout (vectorised: a 100-tree forest of depth 10 takes ~30 ms), or ``None``.

    Trees are summed in the order of their ids, as ONNX Runtime does.  A leaf
    at depth ``d`` goes to the rightmost descendant of its position at the
    forest's depth ``D``: ``2**(D-d) * (pos + 2) - 2``.
    """
    tree_ids = np.asarray(attrs["nodes_treeids"], dtype=np.int64)
    node_ids = np.asarray(attrs["nodes_nodeids"], dtype=np.int64)
    modes = np.asarray(attrs["nodes_modes"])
    leaf = modes == b"LEAF"
    branch_modes = set(np.unique(modes[~leaf]).tolist())
    if len(branch_modes) > 1 or not branch_modes <= set(_MODES) or node_ids.min() < 0:
        return None
    mode = _MODES[branch_modes.pop()] if branch_modes else 0
    features = np.asarray(attrs["nodes_featureids"], dtype=np.int64)
    if np.any((features[~leaf] < 0) | (features[~leaf] >= nfeat)):
        return None
    # (tree id, node id) -> node index
    span = int(node_ids.max()) + 1
    keys = tree_ids * span + node_ids
    sort = np.argsort(keys, kind="stable")
    if np.any(np.diff(keys[sort]) == 0):
        return None  # a node id used twice in one tree

    def find(tree: np.ndarray, node: np.ndarray) -> np.ndarray | None:
        want = tree * span + node
        at = np.searchsorted(keys[sort], want).clip(0, len(keys) - 1)
        found = sort[at]
        return found if np.array_equal(keys[found], want) and np.all(node >= 0) else None

    trees, tree_of = np.unique(tree_ids, return_inverse=True)
    roots = find(trees, np.zeros_like(trees))
    trues = find(tree_ids[~leaf], np.asarray(attrs["nodes_truenodeids"], dtype=np.int64)[~leaf])
    falses = find(tree_ids[~leaf], np.asarray(attrs["nodes_falsenodeids"], dtype=np.int64)[~leaf])
    if roots is None or trues is None or falses is None:
        return None
    true_of = np.full(len(modes), -1, dtype=np.int64)
    false_of = np.full(len(modes), -1, dtype=np.int64)
    true_of[~leaf], false_of[~leaf] = trues, falses
    # walk the trees level by level: (node index, heap position)
    level_nodes, level_pos = roots, np.zeros(len(roots), dtype=np.int64)
    branches: list[tuple[np.ndarray, np.ndarray]] = []
    leaves_at: list[tuple[np.ndarray, np.ndarray, int]] = []
    for d in range(MAX_DEPTH + 1):
        is_leaf = leaf[level_nodes]
        leaves_at.append((level_nodes[is_leaf], level_pos[is_leaf], d))
        inner_nodes, inner_pos = level_nodes[~is_leaf], level_pos[~is_leaf]
        if not inner_nodes.size:
            break
        if d == MAX_DEPTH:
            return None  # deeper than the perfect layout allows
        branches.append((inner_nodes, inner_pos))
        level_nodes = np.concatenate([true_of[inner_nodes], false_of[inner_nodes]])
        level_pos = np.concatenate([2 * inner_pos + 1, 2 * inner_pos + 2])
    depth = max(len(branches), 1)
    inner = (1 << depth) - 1
    ntrees = len(trees)
    feat = np.zeros((ntrees, inner), dtype=np.int32)
    thr = np.full((ntrees, inner), np.nan, dtype=np.float32)
    miss = np.zeros((ntrees, inner), dtype=np.uint8)
    values = np.asarray(attrs["nodes_values"], dtype=np.float32)
    tracks = np.asarray(attrs.get("nodes_missing_value_tracks_true") or np.zeros(len(modes)), dtype=np.int64)
    for nodes, pos in branches:
        k = tree_of[nodes]
        feat[k, pos] = features[nodes]
        thr[k, pos] = values[nodes]
        miss[k, pos] = tracks[nodes] != 0
    # each leaf's slot in the perfect layout
    slot = np.full(len(modes), -1, dtype=np.int64)
    for nodes, pos, d in leaves_at:
        slot[nodes] = (1 << (depth - d)) * (pos + 2) - 2 - inner
    w_node = find(np.asarray(attrs[f"{prefix}_treeids"], dtype=np.int64),
                  np.asarray(attrs[f"{prefix}_nodeids"], dtype=np.int64))  # fmt: skip
    w_out = np.asarray(attrs[f"{prefix}_ids"], dtype=np.int64)
    if w_node is None or np.any(slot[w_node] < 0):
        return None  # a weight on a node that is not a reachable leaf
    if np.unique(w_node * nout + w_out).size != w_node.size:
        return None  # two votes for one output on one leaf: ONNX Runtime adds them one by one
    leaves = np.zeros((ntrees, inner + 1, nout), dtype=np.float32)
    leaves[tree_of[w_node], slot[w_node], w_out] = np.asarray(attrs[f"{prefix}_weights"], dtype=np.float32)
    return _Layout(feat, thr, miss if miss.any() else np.zeros(0, dtype=np.uint8), leaves, depth, mode)


@dataclass
class _Layout:
    feat: np.ndarray
    thr: np.ndarray
    miss: np.ndarray
    leaves: np.ndarray
    depth: int
    mode: int


def trial_rows(forest: Forest, rows: int = _TRIAL_ROWS, seed: int = 0) -> np.ndarray:
    """Rows made of the model's own split values, just under and over them, and missing values."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, size=(rows, forest.nfeat)).astype(np.float32)
    padding = np.isnan(forest.thr)
    for f in range(forest.nfeat):
        splits = np.unique(forest.thr[(forest.feat == f) & ~padding])
        if splits.size == 0:
            continue
        pick = splits[rng.integers(0, splits.size, size=rows)]
        shift = rng.integers(-1, 2, size=rows)  # at, just under, just over
        pick = np.where(shift < 0, np.nextafter(pick, np.float32(-np.inf)), pick)
        pick = np.where(shift > 0, np.nextafter(pick, np.float32(np.inf)), pick)
        x[:, f] = pick
    x[rng.random(size=x.shape) < 0.02] = np.nan
    x[0] = 0.0
    return x


def native_forest(path: os.PathLike[str] | str, session: Any, options: dict[str, Any] | None = None) -> Forest | None:
    """The native scorer for the ONNX model at ``path`` if it reproduces ``session`` exactly, else ``None``."""
    if not enabled(options):
        return None
    kernel = _kernel()
    if kernel is None:
        return None
    import onnx

    try:
        forest = build(onnx.load(os.fspath(path), load_external_data=False), kernel)
    except Exception:  # an attribute layout we do not know: ONNX Runtime stays in charge
        log.debug("native trees: not built", exc_info=True)
        return None
    if forest is None:
        return None
    x = trial_rows(forest)
    try:
        ours = forest(x)
        theirs = session.run(forest.outputs, {session.get_inputs()[0].name: x})
    except Exception:
        log.debug("native trees: trial failed", exc_info=True)
        return None
    for name, a, b in zip(forest.outputs, ours, theirs, strict=True):
        b = np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
            log.info("native trees: output %r differs from ONNX Runtime's on the trial rows; ONNX Runtime scores", name)
            return None
    return forest

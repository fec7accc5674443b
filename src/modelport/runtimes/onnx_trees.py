"""ONNX tree ensembles scored by modelport's own kernel, bit-identical to ONNX Runtime.

A converted forest or boosted model is one ``TreeEnsembleClassifier`` or
``TreeEnsembleRegressor`` node.  ONNX Runtime walks its trees node by node,
and every step is a branch the CPU cannot predict.  :mod:`._trees` (C, built
with the package) keeps each tree breadth first with a node's two children
side by side, and walks 16 rows through a tree at a time without branching
(leaves loop onto themselves, so every row takes the tree's depth in steps).
Measured per core: ~5.8x ONNX Runtime's rows/s on a 100-tree forest of depth
10, ~3.2x on a fully grown one (depth 28) — ``bench/batch.py``.

It is used only when all of this holds, else ONNX Runtime scores alone:

- the graph is that single node, fed by the graph's one ``float`` input of
  fixed width (nodes after it that change nothing are fine: Identity, a Cast
  to the same type, a Mul by 1);
- all branch nodes share one comparison (``BRANCH_LEQ``, ``_LT``, ``_GTE``
  or ``_GT``), thresholds and weights as float, trees at most
  :data:`MAX_DEPTH` deep;
- the aggregation is one this module reproduces (see :meth:`Forest.finish`:
  sums or averages, base values, and for classifiers ``NONE``, ``LOGISTIC``
  or ``SOFTMAX``, computed in C as ONNX Runtime computes them);
- and, decisively, a trial at load time gives **bit-identical** outputs to
  ONNX Runtime's on the rows of :func:`trial_rows` (split values, leaf
  paths, columns missing together).

``MODELPORT_NATIVE_TREES=0`` (``Settings.native_trees``, passed down as the
runtime option ``native_trees``) scores with ONNX Runtime only.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: deeper than this is a converter's accident (or a cycle): ONNX Runtime scores it
MAX_DEPTH = 64
_MODES = {b"BRANCH_LEQ": 0, b"BRANCH_LT": 1, b"BRANCH_GTE": 2, b"BRANCH_GT": 3}
#: post-transforms the kernel computes as ONNX Runtime does (float, the C library's expf)
_POST = {"LOGISTIC": 1, "SOFTMAX": 2}
_TRIAL_ROWS = 768
#: wider inputs than this are scored by ONNX Runtime (the trial would need rows x features of memory)
MAX_FEATURES = 4096
#: fewer rows than this go to ONNX Runtime (same results, less per-call overhead)
MIN_ROWS = 8


def _kernel() -> Any:
    try:
        import modelport.runtimes._trees as _trees
    except ImportError:  # built without a C compiler: ONNX Runtime scores alone
        return None
    return _trees


def enabled(options: dict[str, Any] | None) -> bool:
    """The runtime option ``native_trees`` (default on; ``Settings.native_trees`` feeds it)."""
    return bool((options or {}).get("native_trees", True))


@dataclass
class Forest:
    """A tree ensemble in the kernel's layout, and how its sums become the graph's outputs."""

    kernel: Any  # the _trees module
    native: Any  # _trees.Forest: its own checked copy of the layout
    layout: _Layout
    nout: int
    nfeat: int
    #: "binary" (one score, two classes), "classes" (a score per class) or "regression"
    kind: str
    outputs: list[str]
    base: np.ndarray  # float32 [nout] or empty
    post_transform: str = "NONE"
    labels: np.ndarray | None = None
    average: bool = False
    #: every leaf weight >= 0 (ONNX Runtime's binary rule then splits at 0.5, else at 0)
    positive: bool = True

    def takes(self, x: np.ndarray) -> bool:
        """Whether to score ``x`` here: enough rows of what the graph takes.

        Anything else goes to ONNX Runtime, which names what is wrong with the
        input, and is quicker for a handful of rows (a single row: ~10 µs there,
        ~20 µs here, mostly numpy's per-call costs).
        """
        return x.ndim == 2 and x.shape[0] >= MIN_ROWS and x.shape[1] == self.nfeat and x.dtype == np.float32

    def sums(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.empty((x.shape[0], self.nout), dtype=np.float32)
        self.native.score(x, out)
        return out

    def _transform(self, scores: np.ndarray, post: str) -> np.ndarray:
        if post == "NONE":
            return scores
        out = np.array(scores, dtype=np.float32, order="C")  # a copy: the kernel transforms in place
        self.kernel.transform(out, _POST[post], out.shape[1])
        return out

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        """The graph's outputs for ``x`` (float32 ``[N, nfeat]``), in the graph's order."""
        return self.finish(self.sums(x))

    def finish(self, scores: np.ndarray) -> list[np.ndarray]:
        """What ONNX Runtime's aggregators do after the trees are summed (float32 throughout)."""
        if self.kind == "regression":
            if self.average:
                scores = scores / np.float32(len(self.layout.roots))
            if self.base.size:
                scores = scores + self.base
            return [scores]
        assert self.labels is not None
        if self.kind == "binary":
            s = scores[:, 0]
            if self.base.size:
                s = s + self.base[0]
            if self.positive:  # ONNX Runtime: the score is the positive class's probability, untransformed
                label = self.labels[np.where(s > np.float32(0.5), 1, 0)]
                probs = np.stack([np.float32(1) - s, s], axis=1)
            else:  # a margin: positive above 0
                label = self.labels[np.where(s > np.float32(0), 1, 0)]
                probs = self._transform(np.stack([-s, s], axis=1), self.post_transform)
        else:
            if self.base.size:
                scores = scores + self.base
            label = self.labels[np.argmax(scores, axis=1)]
            probs = self._transform(scores, self.post_transform)
        return [label, probs]


def _attributes(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _passes_through(graph: Any, node: Any) -> bool:
    """Whether the nodes after the ensemble change nothing, bit for bit, on the way to the graph's outputs.

    Converters rename outputs with ``Identity`` (scikit-learn's boosting,
    LightGBM), cast a tensor to the type it has, or multiply by an initializer
    holding 1 (LightGBM's classifiers).
    """
    from onnx import TensorProto, numpy_helper

    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    kinds: dict[str, int | None] = {name: None for name in node.output}  # tensor -> element type, when known
    if node.op_type == "TreeEnsembleClassifier" and len(node.output) == 2:
        strings = any(a.name == "classlabels_strings" for a in node.attribute)
        kinds = {
            node.output[0]: TensorProto.STRING if strings else TensorProto.INT64,
            node.output[1]: TensorProto.FLOAT,
        }
    names = {name: name for name in node.output}
    for extra in graph.node[1:]:
        if extra.domain not in ("", "ai.onnx") or not extra.input or extra.input[0] not in names:
            return False
        if extra.op_type == "Cast":
            to = next((a.i for a in extra.attribute if a.name == "to"), None)
            if to is None or to != kinds.get(extra.input[0]):
                return False
        elif extra.op_type == "Mul":
            one = inits.get(extra.input[1]) if len(extra.input) == 2 else None
            if one is None or one.size != 1 or one.dtype != np.float32 or float(one.ravel()[0]) != 1.0:
                return False
        elif extra.op_type != "Identity":
            return False
        names[extra.output[0]] = names[extra.input[0]]
        kinds[extra.output[0]] = kinds.get(extra.input[0])
    return [names.get(o.name) for o in graph.output] == list(node.output)


def build(model: Any, kernel: Any) -> Forest | None:
    """A :class:`Forest` for an ONNX model that is one tree-ensemble node, else ``None``."""
    graph = model.graph
    if not graph.node or len(graph.input) != 1:
        return None
    node = graph.node[0]
    if node.domain != "ai.onnx.ml" or node.op_type not in ("TreeEnsembleClassifier", "TreeEnsembleRegressor"):
        return None
    tensor = graph.input[0].type.tensor_type
    dims = tensor.shape.dim
    if tensor.elem_type != 1 or len(dims) != 2 or dims[1].dim_value <= 0 or list(node.input) != [graph.input[0].name]:
        return None
    if not _passes_through(graph, node):
        return None
    nfeat = int(dims[1].dim_value)
    if nfeat > MAX_FEATURES:
        return None
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
    if post != "NONE" and (not classifier or post not in _POST):
        return None  # PROBIT, SOFTMAX_ZERO, or a transformed regression: ONNX Runtime's own
    if not ids or min(ids) < 0 or max(ids) >= nout:
        return None
    base = np.asarray(attrs.get("base_values", []), dtype=np.float32)
    if base.size not in (0, nout):
        return None  # (two base values for one binary score: ONNX Runtime's rule there is its own)
    lay = _layout(attrs, prefix, nfeat, nout)
    if lay is None:
        return None
    return Forest(
        kernel=kernel,
        native=kernel.Forest(lay.feat, lay.thr, lay.miss, lay.child, lay.roots, lay.depths, lay.values, nout, nfeat,
                             lay.mode),
        layout=lay, nout=nout, nfeat=nfeat,
        kind=kind, outputs=[o.name for o in graph.output], base=base, post_transform=post, labels=labels,
        average=attrs.get("aggregate_function", b"SUM") == b"AVERAGE",
        positive=bool(min(attrs[f"{prefix}_weights"]) >= 0),
    )  # fmt: skip


def _layout(attrs: dict[str, Any], prefix: str, nfeat: int, nout: int) -> _Layout | None:
    """The kernel's layout of the trees (vectorised: ~30 ms for 100 trees of depth 10), or ``None``.

    As ONNX Runtime does, trees are summed in the order they are listed, each
    walked from its first listed node.  Each tree is laid out breadth first, a
    branch's two children side by side (the "condition holds" child first); a
    node reached twice is laid out twice.  The kernel checks every index again
    when it takes the arrays.
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
    # (tree id, node id) -> index in the attribute lists
    span = int(node_ids.max()) + 1
    keys = tree_ids * span + node_ids
    order = np.argsort(keys, kind="stable")
    if np.any(np.diff(keys[order]) == 0):
        return None  # a node id used twice in one tree

    def find(tree: np.ndarray, node: np.ndarray) -> np.ndarray | None:
        want = tree * span + node
        at = order[np.searchsorted(keys[order], want).clip(0, len(keys) - 1)]
        return at if np.array_equal(keys[at], want) and np.all(node >= 0) else None

    # ONNX Runtime takes the trees in the order they are listed, each from its first listed node
    runs = np.flatnonzero(np.r_[True, tree_ids[1:] != tree_ids[:-1]])
    trees = tree_ids[runs]
    if np.unique(trees).size != trees.size:
        return None  # a tree listed in pieces
    tree_of = np.repeat(np.arange(len(trees)), np.diff(np.r_[runs, len(tree_ids)]))
    roots = runs
    trues = find(tree_ids[~leaf], np.asarray(attrs["nodes_truenodeids"], dtype=np.int64)[~leaf])
    falses = find(tree_ids[~leaf], np.asarray(attrs["nodes_falsenodeids"], dtype=np.int64)[~leaf])
    if trues is None or falses is None:
        return None
    true_of = np.full(len(modes), -1, dtype=np.int64)
    false_of = np.full(len(modes), -1, dtype=np.int64)
    true_of[~leaf], false_of[~leaf] = trues, falses
    # breadth first, all trees at once: every visit of a node gets a slot; a branch's children come in pairs
    levels, parents = [roots], []
    while True:
        frontier = levels[-1]
        branch = frontier[~leaf[frontier]]
        if not branch.size:
            break
        if len(levels) > MAX_DEPTH:
            return None  # too deep, or a cycle
        parents.append(np.flatnonzero(~leaf[frontier]))
        levels.append(np.column_stack([true_of[branch], false_of[branch]]).ravel())
    visit = np.concatenate(levels)  # attribute index of each visit
    sizes = [len(v) for v in levels]
    level_of = np.repeat(np.arange(len(levels)), sizes)
    tree_visit = tree_of[visit]
    # slots: tree by tree, level by level, in visiting order (so pairs stay side by side)
    slot = np.empty(len(visit), dtype=np.int64)
    slot[np.lexsort((np.arange(len(visit)), level_of, tree_visit))] = np.arange(len(visit))
    starts = np.concatenate([[0], np.cumsum(sizes)])
    child = slot - 1  # leaves: onto themselves (the walk adds 1 when the condition fails, as it always does there)
    for depth, kids in enumerate(parents):
        child[starts[depth] + kids] = slot[starts[depth + 1] + 2 * np.arange(len(kids))]
    n = len(visit)
    is_branch = ~leaf[visit]
    at, src = slot[is_branch], visit[is_branch]
    feat = np.zeros(n, dtype=np.int32)
    thr = np.full(n, np.nan, dtype=np.float32)
    miss = np.zeros(n, dtype=np.uint8)
    feat[at] = features[src]
    thr[at] = np.asarray(attrs["nodes_values"], dtype=np.float32)[src]
    tracks = attrs.get("nodes_missing_value_tracks_true")
    if tracks:
        miss[at] = np.asarray(tracks, dtype=np.int64)[src] == 1  # ONNX Runtime's test: exactly 1
    links = np.empty(n, dtype=np.int32)
    links[slot] = child
    depths = np.zeros(len(trees), dtype=np.int32)
    np.maximum.at(depths, tree_visit, level_of)
    # leaf values, by the attribute index of the leaf
    w_node = find(np.asarray(attrs[f"{prefix}_treeids"], dtype=np.int64),
                  np.asarray(attrs[f"{prefix}_nodeids"], dtype=np.int64))  # fmt: skip
    w_out = np.asarray(attrs[f"{prefix}_ids"], dtype=np.int64)
    weights = np.asarray(attrs[f"{prefix}_weights"], dtype=np.float32)
    if w_node is None or not np.all(leaf[w_node]) or not np.all(np.isfinite(weights)):
        return None  # a weight on a branch node, or not a number
    if np.unique(w_node * nout + w_out).size != w_node.size:
        return None  # two votes for one output on one leaf: ONNX Runtime adds them one by one
    voted = np.zeros((len(modes), nout), dtype=bool)
    voted[w_node, w_out] = True
    reached = visit[~is_branch]  # the leaves a walk can end on
    if not voted[reached].any(axis=1).all():
        return None  # a leaf with no weight: ONNX Runtime treats it in ways of its own
    # ONNX Runtime skips outputs no leaf voted for ("has_score"); when some tree votes for every
    # output on every leaf, every output is always voted for, and a plain sum is the same thing
    per_tree = np.ones((len(trees), nout), dtype=bool)
    np.logical_and.at(per_tree, tree_of[reached], voted[reached])
    if not per_tree.any(axis=0).all():
        return None
    per_leaf = np.zeros((len(modes), nout), dtype=np.float32)
    per_leaf[w_node, w_out] = weights
    values = np.zeros((n, nout), dtype=np.float32)
    values[slot[~is_branch]] = per_leaf[visit[~is_branch]]
    return _Layout(feat, thr, miss if miss.any() else np.zeros(0, dtype=np.uint8), links,
                   slot[: len(trees)].astype(np.int32), depths, values, mode)  # fmt: skip


@dataclass
class _Layout:
    feat: np.ndarray
    thr: np.ndarray
    miss: np.ndarray
    child: np.ndarray
    roots: np.ndarray
    depths: np.ndarray
    values: np.ndarray
    mode: int


def trial_rows(forest: Forest, rows: int = _TRIAL_ROWS, seed: int = 0) -> np.ndarray:
    """Rows that take the trees down every kind of path, for comparing with ONNX Runtime.

    - *split values*: every feature drawn from the model's own thresholds on
      it, exactly at, just under or just over one;
    - *leaf paths*: for up to ``rows`` leaves, a row that follows the path to
      that leaf (a value on the path's side of each split, or a missing value
      where the split sends missing values that way);
    - *missing together*: those rows with 10%, 30%, 60% and all of their
      features missing.
    """
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore", invalid="ignore"):  # nextafter of an infinite threshold
        split = _split_rows(forest, rng, rows)
        paths = _path_rows(forest, rng, rows)
    both = np.vstack([split, paths])
    together = []
    for share in (0.1, 0.3, 0.6, 1.0):
        pick = both[rng.integers(0, len(both), size=64)]
        pick[rng.random(size=pick.shape) < share] = np.nan
        together.append(pick)
    x = np.vstack([both, *together, np.zeros((1, forest.nfeat), dtype=np.float32)])
    return np.ascontiguousarray(x, dtype=np.float32)


def _split_rows(forest: Forest, rng: np.random.Generator, rows: int) -> np.ndarray:
    x = rng.normal(0.0, 1.0, size=(rows, forest.nfeat)).astype(np.float32)
    lay = forest.layout
    branch = lay.child > np.arange(len(lay.child))
    if not branch.any():
        return x
    feat, thr = lay.feat[branch], lay.thr[branch]
    order = np.lexsort((thr, feat))
    feat, thr = feat[order], thr[order]
    count = np.bincount(feat, minlength=forest.nfeat)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    has = count > 0
    # one of the feature's own thresholds (features without any keep their random value)
    pick = thr[np.minimum(first + (rng.random(size=x.shape) * count).astype(np.int64), len(thr) - 1)]
    shift = rng.integers(-1, 2, size=x.shape)  # at, just under, just over
    pick = np.where(shift < 0, np.nextafter(pick, np.float32(-np.inf)), pick)
    pick = np.where(shift > 0, np.nextafter(pick, np.float32(np.inf)), pick)
    x = np.where(has, pick, x).astype(np.float32)
    x[rng.random(size=x.shape) < 0.02] = np.nan
    return x


def _holds(mode: int, v: float, t: float) -> bool:
    return bool(v <= t if mode == 0 else v < t if mode == 1 else v >= t if mode == 2 else v > t)


def _path_rows(forest: Forest, rng: np.random.Generator, rows: int) -> np.ndarray:
    lay = forest.layout
    n = len(lay.child)
    index = np.arange(n)
    branch = lay.child > index
    parent = np.full(n, -1, dtype=np.int64)
    side = np.zeros(n, dtype=bool)  # True: reached when the parent's condition holds
    parent[lay.child[branch]], side[lay.child[branch]] = index[branch], True
    parent[lay.child[branch] + 1] = index[branch]
    leaves = index[~branch]
    chosen = rng.choice(leaves, size=min(rows, len(leaves)), replace=False)
    x = rng.normal(0.0, 1.0, size=(len(chosen), forest.nfeat)).astype(np.float32)
    up, down = np.float32(np.inf), np.float32(-np.inf)
    for r, leaf in enumerate(chosen):
        path = []
        node = int(leaf)
        while parent[node] >= 0:
            path.append((int(parent[node]), bool(side[node])))
            node = int(parent[node])
        for b, want in reversed(path):
            f, t = int(lay.feat[b]), lay.thr[b]
            missing_ok = lay.miss.size > 0 and lay.miss[b] == 1
            v = x[r, f]
            if (_holds(lay.mode, v, t) or (missing_ok and np.isnan(v))) == want:
                continue
            if want and missing_ok and rng.random() < 0.3:
                x[r, f] = np.nan
            elif lay.mode in (0, 2):  # <= and >=: the threshold itself holds
                x[r, f] = t if want else np.nextafter(t, up if lay.mode == 0 else down)
            else:  # < and >: the threshold itself does not
                x[r, f] = np.nextafter(t, down if lay.mode == 1 else up) if want else t
    return x


def native_forest(path: os.PathLike[str] | str, session: Any, options: dict[str, Any] | None = None) -> Forest | None:
    """The native scorer for the ONNX model at ``path`` if it reproduces ``session`` exactly, else ``None``."""
    if not enabled(options):
        return None
    kernel = _kernel()
    if kernel is None:
        return None
    try:
        import onnx
    except ImportError:  # a container image for a model with no tree ensemble leaves it out (modelport build)
        return None
    try:
        forest = build(onnx.load(os.fspath(path), load_external_data=False), kernel)
    except Exception:  # an attribute layout we do not know: ONNX Runtime stays in charge
        log.debug("native trees: not built", exc_info=True)
        return None
    if forest is None:
        return None
    try:
        x = trial_rows(forest)
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

/* Tree-ensemble scoring for modelport.runtimes.onnx_trees.
 *
 * Layout: all trees' nodes in one array, each tree breadth first with the two
 * children of a node side by side: `child[i]` is where the walk goes when the
 * node's condition holds, `child[i] + 1` when it does not.  A leaf has a NaN
 * threshold (every comparison with NaN is false) and `child[i] = i - 1`, so a
 * walk that reaches it stays there.  A tree of depth D is then D branch-free
 * steps for every row, and 16 rows walk the same tree side by side so their
 * memory loads overlap: no branch the CPU has to guess, unlike a node-by-node
 * walk.  Scores are summed in float, tree by tree in order, as ONNX Runtime
 * sums them.
 *
 * Safety: `Forest(...)` checks every index once (features, children, roots)
 * and walks its own copy of the arrays, so `score` cannot read outside them,
 * whatever happens to the caller's arrays afterwards.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define ROWS_PER_BLOCK 256
#define LANES 16

enum { MODE_LEQ = 0, MODE_LT = 1, MODE_GTE = 2, MODE_GT = 3 };

/* One node, 16 bytes: a step of the walk reads one cache line, not three arrays. */
typedef struct {
    int32_t feat;
    float thr;
    int32_t child;
    int32_t miss; /* 1: a missing value takes the condition-holds branch */
} Node;

typedef struct {
    PyObject_HEAD
    Node *nodes;        /* checked copies of everything the walk reads (one allocation) */
    int32_t *roots, *depths;
    float *values;
    int ntrees, nout, nfeat, mode, any_missing;
} ForestObject;

#define WALK(TEST)                                                                          \
    static void walk_##TEST(const ForestObject *w, const float *x, int64_t r0, int64_t r1, float *out) { \
        const int nout = w->nout, nfeat = w->nfeat;                                         \
        for (int t = 0; t < w->ntrees; t++) {                                               \
            const int root = w->roots[t], depth = w->depths[t];                             \
            for (int64_t r = r0; r < r1; r += LANES) {                                      \
                const int lanes = r1 - r < LANES ? (int)(r1 - r) : LANES;                   \
                const float *rows = x + r * nfeat;                                          \
                int idx[LANES];                                                             \
                for (int k = 0; k < LANES; k++) idx[k] = root;                              \
                for (int d = 0; d < depth; d++) {                                           \
                    for (int k = 0; k < lanes; k++) {                                       \
                        const Node *node = w->nodes + idx[k];                               \
                        const float v = rows[(int64_t)k * nfeat + node->feat];              \
                        int holds = TEST(v, node->thr);                                     \
                        if (w->any_missing) holds |= (v != v) & node->miss;                 \
                        idx[k] = node->child + 1 - holds;                                   \
                    }                                                                       \
                }                                                                           \
                for (int k = 0; k < lanes; k++) {                                           \
                    const float *leaf = w->values + (int64_t)idx[k] * nout;                 \
                    float *o = out + (r + k) * nout;                                        \
                    for (int c = 0; c < nout; c++) o[c] += leaf[c];                         \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }

#define LEQ(v, t) ((v) <= (t))
#define LT(v, t) ((v) < (t))
#define GTE(v, t) ((v) >= (t))
#define GT(v, t) ((v) > (t))
WALK(LEQ)
WALK(LT)
WALK(GTE)
WALK(GT)

typedef void (*walker)(const ForestObject *, const float *, int64_t, int64_t, float *);
static const walker walkers[] = {walk_LEQ, walk_LT, walk_GTE, walk_GT};

static void forest_dealloc(ForestObject *self) {
    PyMem_Free(self->nodes);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static const char *check(Py_buffer *b, int nout, int nfeat, int mode, Py_ssize_t *n_out, Py_ssize_t *t_out) {
    /* b: feat, thr, miss, child, roots, depths, values */
    Py_ssize_t n = b[0].len / 4, t = b[4].len / 4;
    /* bounds that keep every size product below 2**62 */
    if (mode < MODE_LEQ || mode > MODE_GT || nout < 1 || nout > (1 << 24) || nfeat < 1 || n < 1 || t < 1 ||
        t > INT32_MAX || n > INT32_MAX)
        return "bad forest parameters";
    if (b[0].len != n * 4 || b[1].len != n * 4 || (b[2].len != 0 && b[2].len != n) || b[3].len != n * 4 ||
        b[4].len != t * 4 || b[5].len != t * 4 || b[6].len != n * nout * (Py_ssize_t)sizeof(float))
        return "forest arrays of the wrong size";
    const int32_t *feat = b[0].buf, *child = b[3].buf, *roots = b[4].buf, *depths = b[5].buf;
    const float *thr = b[1].buf;
    const uint8_t *miss = b[2].len ? b[2].buf : NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (feat[i] < 0 || feat[i] >= nfeat) return "feature id out of range";
        /* the walk goes to child[i] + 1, and to child[i] unless the condition can never hold */
        int never = isnan(thr[i]) && !(miss && miss[i]);
        if ((int64_t)child[i] + 1 < 0 || (int64_t)child[i] + 1 >= n || (!never && child[i] < 0))
            return "child index out of range";
    }
    for (Py_ssize_t k = 0; k < t; k++)
        if (roots[k] < 0 || roots[k] >= n || depths[k] < 0) return "root or depth out of range";
    *n_out = n;
    *t_out = t;
    return NULL;
}

/* Forest(feat, thr, miss, child, roots, depths, values, nout, nfeat, mode): checked, then copied */
static int forest_init(ForestObject *self, PyObject *args, PyObject *kwds) {
    PyObject *objs[7];
    Py_buffer b[7];
    int nout, nfeat, mode, held = 0, status = -1;
    if (self->nodes != NULL) {
        PyErr_SetString(PyExc_ValueError, "a Forest is built once");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "OOOOOOOiii", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4], &objs[5], &objs[6],
                          &nout, &nfeat, &mode))
        return -1;
    for (; held < 7; held++)
        if (PyObject_GetBuffer(objs[held], &b[held], PyBUF_C_CONTIGUOUS) < 0) goto done;
    Py_ssize_t n = 0, t = 0;
    const char *problem = check(b, nout, nfeat, mode, &n, &t);
    if (problem != NULL) {
        PyErr_SetString(PyExc_ValueError, problem);
        goto done;
    }
    size_t bytes = sizeof(Node) * (size_t)n + 2 * sizeof(int32_t) * (size_t)t + sizeof(float) * (size_t)(n * nout);
    Node *nodes = PyMem_Malloc(bytes);
    if (nodes == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const int32_t *feat = b[0].buf, *child = b[3].buf;
    const float *thr = b[1].buf;
    const uint8_t *miss = b[2].len ? b[2].buf : NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        Node node = {feat[i], thr[i], child[i], miss ? miss[i] != 0 : 0};
        nodes[i] = node;
    }
    self->roots = (int32_t *)(nodes + n);
    self->depths = self->roots + t;
    self->values = (float *)(self->depths + t);
    memcpy(self->roots, b[4].buf, sizeof(int32_t) * (size_t)t);
    memcpy(self->depths, b[5].buf, sizeof(int32_t) * (size_t)t);
    memcpy(self->values, b[6].buf, sizeof(float) * (size_t)(n * nout));
    self->nodes = nodes;
    self->ntrees = (int)t;
    self->nout = nout;
    self->nfeat = nfeat;
    self->mode = mode;
    self->any_missing = miss != NULL;
    status = 0;
done:
    for (int i = 0; i < held; i++) PyBuffer_Release(&b[i]);
    return status;
}

static PyObject *forest_score(ForestObject *self, PyObject *args) {
    Py_buffer x, out;
    if (self->nodes == NULL) {
        PyErr_SetString(PyExc_ValueError, "forest not initialised");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*w*", &x, &out)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t rowbytes = (Py_ssize_t)sizeof(float) * self->nfeat;
    Py_ssize_t nrows = x.len / rowbytes;
    if (x.len != nrows * rowbytes || out.len != nrows * self->nout * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "input or output buffer of the wrong size");
    } else {
        walker walk = walkers[self->mode];
        const float *xs = x.buf;
        float *o = out.buf;
        Py_BEGIN_ALLOW_THREADS
        memset(o, 0, (size_t)out.len);
        for (int64_t r0 = 0; r0 < nrows; r0 += ROWS_PER_BLOCK)
            walk(self, xs, r0, r0 + ROWS_PER_BLOCK < nrows ? r0 + ROWS_PER_BLOCK : nrows, o);
        Py_END_ALLOW_THREADS
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef forest_methods[] = {
    {"score", (PyCFunction)forest_score, METH_VARARGS,
     "score(x, out): the trees' leaf values for each row of x (float32, C order), summed into out (float32)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ForestType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "modelport.runtimes._trees.Forest",
    .tp_basicsize = sizeof(ForestObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Forest(feat, thr, miss, child, roots, depths, values, nout, nfeat, mode): a checked tree ensemble",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)forest_init,
    .tp_dealloc = (destructor)forest_dealloc,
    .tp_methods = forest_methods,
};

/* ONNX Runtime's post-transforms, computed as it computes them: in float, with the C library's expf. */
enum { POST_LOGISTIC = 1, POST_SOFTMAX = 2 };

static float logistic(float v) {
    float e = 1.0f / (1.0f + expf(-fabsf(v)));
    return v < 0 ? 1.0f - e : e;
}

static void softmax(float *row, int ncols) {
    float top = -FLT_MAX, sum = 0.0f;
    for (int c = 0; c < ncols; c++)
        if (row[c] > top) top = row[c];
    for (int c = 0; c < ncols; c++) {
        row[c] = expf(row[c] - top);
        sum += row[c];
    }
    for (int c = 0; c < ncols; c++) row[c] /= sum;
}

static PyObject *transform(PyObject *self, PyObject *args) {
    Py_buffer scores;
    int kind, ncols;
    if (!PyArg_ParseTuple(args, "w*ii", &scores, &kind, &ncols)) return NULL;
    Py_ssize_t n = scores.len / (Py_ssize_t)sizeof(float);
    if ((kind != POST_LOGISTIC && kind != POST_SOFTMAX) || ncols < 1 || scores.len % sizeof(float) || n % ncols) {
        PyBuffer_Release(&scores);
        PyErr_SetString(PyExc_ValueError, "bad transform parameters");
        return NULL;
    }
    float *s = (float *)scores.buf;
    Py_BEGIN_ALLOW_THREADS
    if (kind == POST_LOGISTIC)
        for (Py_ssize_t i = 0; i < n; i++) s[i] = logistic(s[i]);
    else
        for (Py_ssize_t r = 0; r < n; r += ncols) softmax(s + r, ncols);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&scores);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"transform", transform, METH_VARARGS,
     "transform(scores, kind, ncols): ONNX Runtime's LOGISTIC (1) or SOFTMAX (2) over float32 scores, in place"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_trees", NULL, -1, methods};

PyMODINIT_FUNC PyInit__trees(void) {
    if (PyType_Ready(&ForestType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&ForestType);
    if (PyModule_AddObject(m, "Forest", (PyObject *)&ForestType) < 0) {
        Py_DECREF(&ForestType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/* Tree-ensemble scoring for modelport.runtimes.onnx_trees.
 *
 * Every tree is stored "perfect": heap order, depth D for all trees, node i's
 * children at 2i+1 (condition true) and 2i+2 (condition false).  A leaf above
 * depth D is pushed down its rightmost path through padding nodes whose
 * threshold is NaN (every comparison with NaN is false, so they always go
 * right).  Walking a tree is then D branch-free steps, and 16 rows walk the
 * same tree side by side so their loads overlap.  Scores are summed in float,
 * tree by tree in order, starting from `init`, as ONNX Runtime sums them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define ROWS_PER_BLOCK 256
#define LANES 16

enum { MODE_LEQ = 0, MODE_LT = 1, MODE_GTE = 2, MODE_GT = 3 };

typedef struct {
    const int32_t *feat;   /* ntrees * inner */
    const float *thr;      /* ntrees * inner */
    const uint8_t *miss;   /* ntrees * inner, or NULL: NaN takes the true branch where set */
    const float *leaves;   /* ntrees * (inner + 1) * nout */
    const float *init;     /* nout */
    int ntrees, depth, nout, nfeat;
} Forest;

#define WALK(TEST)                                                                        \
    static void walk_##TEST(const Forest *f, const float *x, int64_t r0, int64_t r1,      \
                            float *out) {                                                 \
        const int inner = (1 << f->depth) - 1, nout = f->nout, nfeat = f->nfeat;          \
        for (int t = 0; t < f->ntrees; t++) {                                             \
            const int32_t *feat = f->feat + (int64_t)t * inner;                           \
            const float *thr = f->thr + (int64_t)t * inner;                               \
            const uint8_t *miss = f->miss ? f->miss + (int64_t)t * inner : NULL;          \
            const float *leaves = f->leaves + (int64_t)t * (inner + 1) * nout;            \
            int64_t r = r0;                                                               \
            for (; r < r1; r += LANES) {                                                  \
                int lanes = r1 - r < LANES ? (int)(r1 - r) : LANES;                       \
                int idx[LANES] = {0};                                                     \
                const float *rows = x + r * nfeat;                                        \
                for (int d = 0; d < f->depth; d++) {                                      \
                    for (int k = 0; k < lanes; k++) {                                     \
                        int i = idx[k];                                                   \
                        float v = rows[(int64_t)k * nfeat + feat[i]];                     \
                        int go_true = TEST(v, thr[i]);                                    \
                        if (miss) go_true |= (v != v) & miss[i];                          \
                        idx[k] = 2 * i + 2 - go_true;                                     \
                    }                                                                     \
                }                                                                         \
                for (int k = 0; k < lanes; k++) {                                         \
                    const float *leaf = leaves + (int64_t)(idx[k] - inner) * nout;        \
                    float *o = out + (r + k) * nout;                                      \
                    for (int c = 0; c < nout; c++) o[c] += leaf[c];                       \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
    }

#define LEQ(v, t) ((v) <= (t))
#define LT(v, t) ((v) < (t))
#define GTE(v, t) ((v) >= (t))
#define GT(v, t) ((v) > (t))
WALK(LEQ)
WALK(LT)
WALK(GTE)
WALK(GT)

typedef void (*walker)(const Forest *, const float *, int64_t, int64_t, float *);

static PyObject *score(PyObject *self, PyObject *args) {
    Py_buffer feat, thr, miss, leaves, init, x, out;
    int ntrees, depth, nout, nfeat, mode;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*iiiiiy*w*", &feat, &thr, &miss, &leaves, &init, &ntrees, &depth,
                          &nout, &nfeat, &mode, &x, &out))
        return NULL;
    PyObject *result = NULL;
    walker walk = mode == MODE_LEQ ? walk_LEQ : mode == MODE_LT ? walk_LT : mode == MODE_GTE ? walk_GTE
                : mode == MODE_GT ? walk_GT : NULL;
    int64_t inner = depth >= 1 && depth <= 20 ? ((int64_t)1 << depth) - 1 : -1;
    int64_t nodes = inner * ntrees;
    int64_t nrows = nfeat > 0 ? x.len / ((Py_ssize_t)sizeof(float) * nfeat) : -1;
    if (walk == NULL || inner < 0 || ntrees < 1 || nout < 1 || nrows < 0) {
        PyErr_SetString(PyExc_ValueError, "bad forest parameters");
    } else if (feat.len != nodes * (Py_ssize_t)sizeof(int32_t) || thr.len != nodes * (Py_ssize_t)sizeof(float) ||
               (miss.len != 0 && miss.len != nodes) ||
               leaves.len != (inner + 1) * ntrees * nout * (Py_ssize_t)sizeof(float) ||
               init.len != nout * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "forest arrays of the wrong size");
    } else if (x.len != nrows * nfeat * (Py_ssize_t)sizeof(float) ||
               out.len != nrows * nout * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "input or output buffer of the wrong size");
    } else {
        /* feature ids are checked (0 <= id < nfeat) when the forest is built, and its arrays are read-only */
        Forest f = {(const int32_t *)feat.buf, (const float *)thr.buf, miss.len ? (const uint8_t *)miss.buf : NULL,
                    (const float *)leaves.buf, (const float *)init.buf, ntrees, depth, nout, nfeat};
        const float *xs = (const float *)x.buf;
        float *o = (float *)out.buf;
        Py_BEGIN_ALLOW_THREADS
        for (int64_t r = 0; r < nrows; r++) memcpy(o + r * nout, f.init, sizeof(float) * nout);
        for (int64_t r0 = 0; r0 < nrows; r0 += ROWS_PER_BLOCK)
            walk(&f, xs, r0, r0 + ROWS_PER_BLOCK < nrows ? r0 + ROWS_PER_BLOCK : nrows, o);
        Py_END_ALLOW_THREADS
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&feat);
    PyBuffer_Release(&thr);
    PyBuffer_Release(&miss);
    PyBuffer_Release(&leaves);
    PyBuffer_Release(&init);
    PyBuffer_Release(&x);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"score", score, METH_VARARGS,
     "score(feat, thr, miss, leaves, init, ntrees, depth, nout, nfeat, mode, x, out): sum the trees' leaves into out"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_trees", NULL, -1, methods};

PyMODINIT_FUNC PyInit__trees(void) { return PyModule_Create(&module); }

/* The full-vocabulary work of a sampling step, compiled: one read of the logits for the maximum,
 * log-sum-exp and entropy, with the top-k candidates taken from the block maxima (_kernel_pass.h); the
 * top-p, min-p and top-nσ cuts on the full vocabulary; the float64 work on the candidates (top-p's
 * mass, the draw, their entropy). dyntemp.core.kernel wraps it and holds its numpy fallback.
 *
 * A CPython extension taking buffers (no numpy C API, so one build serves every numpy): a call costs
 * about 0.1 microseconds where ctypes costs 1.6, which matters on a 40-candidate step. No state: the
 * caller hands in the output and work buffers (per thread, reused).
 *
 * exp is a polynomial (Cephes' expf) the compiler vectorises, not libm's scalar expf; its relative
 * error is about 1e-7, summed in float64 across blocks. Where exactness matters (top-p's mass, the
 * draw, the candidates' entropy) the work is float64 with libm's exp, as in the numpy code.
 *
 * Built two ways: by scripts/kernel_build.py for this host (-march=native without AMX, as llama.cpp,
 * DYNTEMP_NATIVE defined), or portable by a plain pip install, where on x86-64 each hot function is
 * compiled three times (x86-64-v4: AVX-512, v3: AVX2 and FMA, baseline) and the loader picks one by
 * the CPU (GCC/Clang target_clones). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if !defined(DYNTEMP_NATIVE) && defined(__x86_64__) && defined(__linux__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define CLONED 1
#endif
#endif
#ifndef HOT
#define HOT __attribute__((noinline)) /* inlined into its caller, a loop was left scalar */
#define CLONED 0
#endif

/* Top-p on the full vocabulary: the float32-exp mass is within this relative error of the exact one;
 * a cut closer than it to a boundary is decided on the exact float64 mass. */
#define MASS_REL_ERROR 1e-5

#include "_kernel_pass.h"
#include "_kernel_candidates.h"

/* ---- buffers ---------------------------------------------------------------------------------- */

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *kinds, int writable,
                      const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    const char *f = view->format ? view->format : "B";
    if (*f == '<' || *f == '=' || *f == '@')
        f++;
    if (view->itemsize != itemsize || f[0] == 0 || f[1] != 0 || !strchr(kinds, f[0])) {
        PyErr_Format(PyExc_TypeError, "%s must be a contiguous array of %s", what,
                     itemsize == 4 ? "float32" : "int64");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

#define F32(obj, view, w, what) get_buffer(obj, view, 4, "f", w, what)
#define I64(obj, view, what) get_buffer(obj, view, 8, "ql", 1, what)

/* The arrays of a call (x, a number, ids, vals[, work]): x float32, ids int64, vals and work float32
 * and writable. take_buffers holds all of them or, failing, none. */
typedef struct {
    Py_buffer x, ids, vals, work;
    int with_work;
} Buffers;

static int take_buffers(PyObject *const *args, int with_work, Buffers *b)
{
    b->with_work = with_work;
    if (F32(args[0], &b->x, 0, "x") < 0)
        return -1;
    if (I64(args[2], &b->ids, "ids") < 0)
        goto fail_x;
    if (F32(args[3], &b->vals, 1, "vals") < 0)
        goto fail_i;
    if (with_work && F32(args[4], &b->work, 1, "work") < 0)
        goto fail_v;
    return 0;
fail_v:
    PyBuffer_Release(&b->vals);
fail_i:
    PyBuffer_Release(&b->ids);
fail_x:
    PyBuffer_Release(&b->x);
    return -1;
}

static void release_buffers(Buffers *b)
{
    if (b->with_work)
        PyBuffer_Release(&b->work);
    PyBuffer_Release(&b->vals);
    PyBuffer_Release(&b->ids);
    PyBuffer_Release(&b->x);
}

static int check_args(Py_ssize_t nargs, Py_ssize_t want, const char *name)
{
    if (nargs == want)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s takes %zd arguments (%zd given)", name, want, nargs);
    return -1;
}

/* scan(x, k, ids, vals, work, stats) -> (max, log-sum-exp, entropy, count) or None for unusable logits
 * (NaN, +inf, empty, all -inf): the step's statistics (NaN without stats: the top k alone, no exp)
 * and, for k > 0, its top k in ids and vals, ranked, from the one pass. ids and vals hold n values,
 * work k floats. */
static PyObject *scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 6, "scan") < 0)
        return NULL;
    int stats = PyObject_IsTrue(args[5]);
    if (stats < 0)
        return NULL;
    Py_ssize_t k = PyLong_AsSsize_t(args[1]);
    if (k == -1 && PyErr_Occurred())
        return NULL;
    Buffers b;
    if (take_buffers(args, 1, &b) < 0)
        return NULL;
    Py_ssize_t n = b.x.len / 4, count = 0;
    if (k < 0 || (k > 0 && (b.ids.len / 8 < n || b.vals.len / 4 < n || b.work.len / 4 < k))) {
        release_buffers(&b);
        PyErr_SetString(PyExc_ValueError, "scan: k must be >= 0, ids and vals as long as x, work k long");
        return NULL;
    }
    float top = NAN;
    double total = NAN, weighted = NAN;
    if (n > 0) {
        Py_BEGIN_ALLOW_THREADS
        top = pass(b.x.buf, n, k, b.ids.buf, b.vals.buf, b.work.buf, stats ? &total : NULL, &weighted, &count);
        Py_END_ALLOW_THREADS
    }
    release_buffers(&b);
    if (!isfinite(top)) /* NaN, +inf, all -inf, or empty */
        Py_RETURN_NONE;
    double lse = log(total), entropy = lse - weighted / total;
    return Py_BuildValue("dddn", (double)top, top + lse, entropy > 0.0 ? entropy : 0.0, count);
}

/* at_least(x, threshold, ids, vals) -> count: the values >= threshold, in index order. */
static PyObject *at_least(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 4, "at_least") < 0)
        return NULL;
    double threshold = PyFloat_AsDouble(args[1]);
    if (threshold == -1.0 && PyErr_Occurred())
        return NULL;
    Buffers b;
    if (take_buffers(args, 0, &b) < 0)
        return NULL;
    Py_ssize_t n = b.x.len / 4, count = -1;
    if (b.ids.len / 8 >= n && b.vals.len / 4 >= n) {
        Py_BEGIN_ALLOW_THREADS
        count = collect_at_least(b.x.buf, n, (float)threshold, b.ids.buf, b.vals.buf);
        Py_END_ALLOW_THREADS
    }
    release_buffers(&b);
    if (count < 0) {
        PyErr_SetString(PyExc_ValueError, "at_least: the buffers must be as long as x");
        return NULL;
    }
    return PyLong_FromSsize_t(count);
}

/* count_at_least(x, threshold) -> how many values are >= threshold (float32 comparison). */
static PyObject *count_at_least(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 2, "count_at_least") < 0)
        return NULL;
    double threshold = PyFloat_AsDouble(args[1]);
    if (threshold == -1.0 && PyErr_Occurred())
        return NULL;
    Py_buffer xb;
    if (F32(args[0], &xb, 0, "x") < 0)
        return NULL;
    Py_ssize_t count = count_at_or_above(xb.buf, xb.len / 4, (float)threshold);
    PyBuffer_Release(&xb);
    return PyLong_FromSsize_t(count);
}

/* deviation(x) -> (max, standard deviation) of the finite values, float64, two passes as numpy's std. */
static PyObject *deviation(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 1, "deviation") < 0)
        return NULL;
    Py_buffer xb;
    if (F32(args[0], &xb, 0, "x") < 0)
        return NULL;
    const float *x = xb.buf;
    Py_ssize_t n = xb.len / 4, finite = 0;
    double sum = 0.0, squares = 0.0;
    float top = -INFINITY;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (x[i] > -INFINITY) {
            sum += x[i];
            finite++;
            top = x[i] > top ? x[i] : top;
        }
    }
    double mean = finite ? sum / (double)finite : 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (x[i] > -INFINITY) {
            double d = x[i] - mean;
            squares += d * d;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&xb);
    return Py_BuildValue("dd", (double)top, finite ? sqrt(squares / (double)finite) : 0.0);
}

/* ---- float64 work on a candidate set (_kernel_candidates.h) ---------------------------------- */

/* mass_prefix(x, p) -> the shortest prefix of x (sorted descending) holding a share p of the mass. */
static PyObject *mass_prefix(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 2, "mass_prefix") < 0)
        return NULL;
    double p = PyFloat_AsDouble(args[1]);
    if (p == -1.0 && PyErr_Occurred())
        return NULL;
    Py_buffer xb;
    if (F32(args[0], &xb, 0, "x") < 0)
        return NULL;
    Py_ssize_t n = xb.len / 4, length = n > 0 ? prefix_of_mass(xb.buf, n, p) : 1;
    PyBuffer_Release(&xb);
    return PyLong_FromSsize_t(length);
}

/* draw(x, sorted, u) -> (j, probability): the first j whose cumulative probability exceeds u. */
static PyObject *draw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 3, "draw") < 0)
        return NULL;
    int sorted = PyObject_IsTrue(args[1]);
    double u = PyFloat_AsDouble(args[2]);
    if (sorted < 0 || (u == -1.0 && PyErr_Occurred()))
        return NULL;
    Py_buffer xb;
    if (F32(args[0], &xb, 0, "x") < 0)
        return NULL;
    const float *x = xb.buf;
    Py_ssize_t n = xb.len / 4, j = 0;
    double p = 1.0;
    if (n > 1) {
        double top = top_of(x, n, sorted), total = mass(x, n, top), target = u * total, cum = 0.0;
        for (j = 0; j < n - 1; j++) { /* bisect_right: the first cum > target, the last at most */
            cum += exp((double)x[j] - top);
            if (cum > target)
                break;
        }
        p = exp((double)x[j] - top) / total;
    }
    PyBuffer_Release(&xb);
    return Py_BuildValue("nd", j, p);
}

/* entropy(x) -> the entropy (nats) of softmax(x), float64, -inf values left out. */
static PyObject *entropy(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 1, "entropy") < 0)
        return NULL;
    Py_buffer xb;
    if (F32(args[0], &xb, 0, "x") < 0)
        return NULL;
    double h = entropy64(xb.buf, xb.len / 4);
    PyBuffer_Release(&xb);
    return PyFloat_FromDouble(h);
}

/* scale(x, t, sorted, out) -> whether out now holds x / t (see scale_by); out as long as x. */
static PyObject *scale(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 4, "scale") < 0)
        return NULL;
    double t = PyFloat_AsDouble(args[1]);
    int sorted = PyObject_IsTrue(args[2]);
    if (sorted < 0 || (t == -1.0 && PyErr_Occurred()))
        return NULL;
    Py_buffer xb, ob;
    if (F32(args[0], &xb, 0, "x") < 0)
        return NULL;
    if (F32(args[3], &ob, 1, "out") < 0) {
        PyBuffer_Release(&xb);
        return NULL;
    }
    int done = -1;
    if (ob.len >= xb.len)
        done = scale_by(xb.buf, xb.len / 4, t, sorted, ob.buf);
    PyBuffer_Release(&ob);
    PyBuffer_Release(&xb);
    if (done < 0) {
        PyErr_SetString(PyExc_ValueError, "scale: out must be as long as x");
        return NULL;
    }
    return PyBool_FromLong(done);
}

/* head(x, top_p, min_p, min_keep) -> (n, entropy): top-p then min-p on candidates x sorted
 * descending (the scan's top k), the length of the prefix they keep and its entropy, in one call:
 * the common chain's cuts at the cost of one call rather than a stage object's each. */
static PyObject *head(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 4, "head") < 0)
        return NULL;
    double top_p = PyFloat_AsDouble(args[1]), min_p = PyFloat_AsDouble(args[2]);
    Py_ssize_t min_keep = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred())
        return NULL;
    Py_buffer xb;
    if (F32(args[0], &xb, 0, "x") < 0)
        return NULL;
    Py_ssize_t n = xb.len / 4;
    if (n == 0) {
        PyBuffer_Release(&xb);
        PyErr_SetString(PyExc_ValueError, "head: x must not be empty");
        return NULL;
    }
    n = head_cut(xb.buf, n, top_p, min_p, min_keep > 1 ? min_keep : 1);
    double h = entropy64(xb.buf, n);
    PyBuffer_Release(&xb);
    return Py_BuildValue("nd", n, h);
}

/* Top-p on the full vocabulary: the head within a gap of the maximum that holds the mass, ranked;
 * the cut on float64 exp over that head, against the total from the fast exp, or against the exact
 * float64 total when the cut lies within the fast total's error of a boundary. */
static Py_ssize_t top_p_full(const float *x, Py_ssize_t n, double p, int64_t *ids, Py_ssize_t *head)
{
    double total, unused;
    float top = one_pass(x, n, BLOCK, NULL, &total, &unused);
    double need = p * total * (1.0 + MASS_REL_ERROR);
    static const float gaps[] = {8.0f, 32.0f, 128.0f, INFINITY};
    Py_ssize_t h = 0;
    for (int g = 0; g < 4; g++) {
        float floor_ = gaps[g] < INFINITY ? top - gaps[g] : -INFINITY;
        double head_mass = 0.0;
        h = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (x[i] >= floor_ && x[i] > -INFINITY) {
                ids[h++] = i;
                head_mass += exp((double)x[i] - top);
            }
        }
        if (head_mass >= need)
            break;
    }
    select_ranked(ids, h, h, x);
    double cum = 0.0;
    Py_ssize_t lo = h, hi = h;
    for (Py_ssize_t i = 0; i < h; i++) {
        cum += exp((double)x[ids[i]] - top);
        if (lo == h && cum >= p * total * (1.0 - MASS_REL_ERROR))
            lo = i;
        if (cum >= need) {
            hi = i;
            break;
        }
    }
    Py_ssize_t cut = lo;
    if (lo != hi) {
        double exact = 0.0;
        for (Py_ssize_t i = 0; i < n; i++)
            if (x[i] > -INFINITY)
                exact += exp((double)x[i] - top);
        cum = 0.0;
        for (cut = 0; cut < h - 1; cut++) {
            cum += exp((double)x[ids[cut]] - top);
            if (cum >= p * exact)
                break;
        }
    }
    *head = h;
    return (cut < h ? cut : h - 1) + 1;
}

/* top_p(x, p, ids, vals) -> (cut, head): the head of x ranked in ids and vals, of which the first
 * cut hold a share p of the mass (x finite somewhere, checked by the caller). */
static PyObject *top_p(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 4, "top_p") < 0)
        return NULL;
    double p = PyFloat_AsDouble(args[1]);
    if (p == -1.0 && PyErr_Occurred())
        return NULL;
    Buffers b;
    if (take_buffers(args, 0, &b) < 0)
        return NULL;
    const float *x = b.x.buf;
    Py_ssize_t n = b.x.len / 4, cut = -1, head = 0;
    if (n > 0 && b.ids.len / 8 >= n && b.vals.len / 4 >= n) {
        int64_t *ids = b.ids.buf;
        float *vals = b.vals.buf;
        Py_BEGIN_ALLOW_THREADS
        cut = top_p_full(x, n, p, ids, &head);
        for (Py_ssize_t i = 0; i < head; i++)
            vals[i] = x[ids[i]];
        Py_END_ALLOW_THREADS
    }
    release_buffers(&b);
    if (cut < 0) {
        PyErr_SetString(PyExc_ValueError, "top_p: x must not be empty and the buffers as long as x");
        return NULL;
    }
    return Py_BuildValue("nn", cut, head);
}

/* ---- what runs --------------------------------------------------------------------------------- */

/* The SIMD path this build runs on this CPU: the one the compiler targeted (a native build), or
 * the clone the loader picked (a portable one). */
static PyObject *simd(PyObject *self, PyObject *unused)
{
    const char *path, *build = CLONED ? "portable" : "native";
#if CLONED
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        path = "x86-64-v4 (AVX-512)";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        path = "x86-64-v3 (AVX2)";
    else
        path = "x86-64 (SSE2)";
#elif defined(__AVX512F__)
    path = "AVX-512";
#elif defined(__AVX2__)
    path = "AVX2";
#elif defined(__AVX__)
    path = "AVX";
#elif defined(__ARM_NEON) || defined(__aarch64__)
    path = "NEON";
#elif defined(__SSE2__)
    path = "SSE2";
#else
    path = "scalar";
#endif
    return Py_BuildValue("ss", build, path);
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL, "max, log-sum-exp, entropy and the top k"},
    {"at_least", (PyCFunction)(void (*)(void))at_least, METH_FASTCALL, "the values >= a threshold"},
    {"count_at_least", (PyCFunction)(void (*)(void))count_at_least, METH_FASTCALL, "how many values >= a threshold"},
    {"deviation", (PyCFunction)(void (*)(void))deviation, METH_FASTCALL, "max and standard deviation"},
    {"top_p", (PyCFunction)(void (*)(void))top_p, METH_FASTCALL, "top-p on the full vocabulary"},
    {"mass_prefix", (PyCFunction)(void (*)(void))mass_prefix, METH_FASTCALL, "top-p on sorted candidates"},
    {"draw", (PyCFunction)(void (*)(void))draw, METH_FASTCALL, "the index drawn for a uniform u"},
    {"entropy", (PyCFunction)(void (*)(void))entropy, METH_FASTCALL, "float64 entropy of softmax(x)"},
    {"scale", (PyCFunction)(void (*)(void))scale, METH_FASTCALL, "x divided by a temperature"},
    {"head", (PyCFunction)(void (*)(void))head, METH_FASTCALL, "top-p and min-p on sorted candidates"},
    {"simd", simd, METH_NOARGS, "(build, SIMD path)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_kernel", .m_doc = "dyntemp's compiled sampling kernel", .m_size = -1,
    .m_methods = methods,
};

/* A native build runs only where its SIMD does: a copy moved to a CPU without it would die of SIGILL
 * at its first call. So the module refuses to load there (ImportError, and numpy takes over), in
 * code compiled for the baseline. */
#if defined(DYNTEMP_NATIVE) && defined(__x86_64__) && defined(__GNUC__)
#define BASELINE __attribute__((target("arch=x86-64")))
BASELINE static const char *missing_feature(void)
{
    __builtin_cpu_init();
#ifdef __AVX512F__
    if (!__builtin_cpu_supports("avx512f"))
        return "AVX-512";
#endif
#ifdef __AVX2__
    if (!__builtin_cpu_supports("avx2"))
        return "AVX2";
#endif
#ifdef __FMA__
    if (!__builtin_cpu_supports("fma"))
        return "FMA";
#endif
#ifdef __AVX__
    if (!__builtin_cpu_supports("avx"))
        return "AVX";
#endif
    return NULL;
}
#else
#define BASELINE
static const char *missing_feature(void)
{
    return NULL;
}
#endif

BASELINE PyMODINIT_FUNC PyInit__kernel(void)
{
    const char *missing = missing_feature();
    if (missing) {
        PyErr_Format(PyExc_ImportError, "this kernel was built for a CPU with %s, which this one lacks: "
                     "run scripts/setup.sh again on this host", missing);
        return NULL;
    }
    return PyModule_Create(&module);
}

/* The full-vocabulary work of a sampling step, compiled: one block-maxima pass and one exp pass for
 * the maximum, log-sum-exp and entropy, with the top-k candidates taken from the block maxima; the
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

#define BLOCK 64
#define LN_FLT_MIN -87.33654f /* exp of anything below is not a normal float: 0 */

/* Top-p on the full vocabulary: the float32-exp mass is within this relative error of the exact one;
 * a cut closer than it to a boundary is decided on the exact float64 mass. */
#define MASS_REL_ERROR 1e-5

/* Vectors of floats (GCC and Clang vector extensions): 16 where the build targets AVX-512 (one
 * register), 8 elsewhere (one AVX2 register, two SSE2 or NEON ones). GCC lowers 16-float vectors
 * well to AVX-512 only: on AVX2 it spills them, 8x slower; so the portable build, whose clones share
 * one vector type, uses 8. */
#if defined(__AVX512F__)
#define LANES 16
#else
#define LANES 8
#endif
typedef float vf __attribute__((vector_size(LANES * 4)));
typedef int32_t vi __attribute__((vector_size(LANES * 4)));

static inline __attribute__((always_inline)) vf load(const float *x)
{
    vf v;
    memcpy(&v, x, sizeof v);
    return v;
}

/* The last len < LANES values of a run, the rest of the vector -inf (which adds nothing). */
static inline __attribute__((always_inline)) vf load_tail(const float *x, Py_ssize_t len)
{
    float pad[LANES];
    for (int l = 0; l < LANES; l++)
        pad[l] = l < len ? x[l] : -INFINITY;
    return load(pad);
}

/* exp(z) for z <= 0 (and -inf), 0 below LN_FLT_MIN, in *zc the clamped z (whose product with the
 * result is then 0, never 0 * -inf): range reduction by ln 2 in two parts, Cephes' degree-6
 * polynomial, 2^n from the exponent bits. */
static inline __attribute__((always_inline)) vf exp_nonpositive(vf z, vf *zc)
{
    vi keep = z > LN_FLT_MIN;
    vf floor_ = (vf){0} + LN_FLT_MIN;
    vf c = (vf)(((vi)z & keep) | ((vi)floor_ & ~keep));
    vi ni = __builtin_convertvector(c * 1.44269504088896341f - 0.5f, vi); /* round to nearest, c <= 0 */
    vf n = __builtin_convertvector(ni, vf);
    vf r = c - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    vf y = r * 1.9875691500e-4f + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1.0f;
    *zc = (vf)((vi)c & keep);
    return (vf)((vi)(y * (vf)((ni + 127) << 23)) & keep);
}

static inline __attribute__((always_inline)) double lane_sum(vf v)
{
    double total = 0.0;
    for (int l = 0; l < LANES; l++)
        total += v[l];
    return total;
}

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

static int check_args(Py_ssize_t nargs, Py_ssize_t want, const char *name)
{
    if (nargs == want)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s takes %zd arguments (%zd given)", name, want, nargs);
    return -1;
}

/* ---- ranking: by value descending, ties by the lower index (llama.cpp's and numpy's stable order) -- */

static inline int before(const float *x, int64_t a, int64_t b)
{
    return x[a] > x[b] || (x[a] == x[b] && a < b);
}

/* A heap whose root is the candidate ranked last. */
static void sift_down(int64_t *heap, Py_ssize_t size, Py_ssize_t i, const float *x)
{
    for (;;) {
        Py_ssize_t child = 2 * i + 1;
        if (child >= size)
            return;
        if (child + 1 < size && before(x, heap[child], heap[child + 1]))
            child++;
        if (!before(x, heap[i], heap[child]))
            return;
        int64_t t = heap[i];
        heap[i] = heap[child];
        heap[child] = t;
        i = child;
    }
}

/* The best min(k, count) of ids[0..count), ranked first to last, in ids[0..): returns how many. */
static Py_ssize_t select_ranked(int64_t *ids, Py_ssize_t count, Py_ssize_t k, const float *x)
{
    if (k > count)
        k = count;
    for (Py_ssize_t i = k / 2; i-- > 0;)
        sift_down(ids, k, i, x);
    for (Py_ssize_t j = k; j < count; j++) {
        if (before(x, ids[j], ids[0])) {
            ids[0] = ids[j];
            sift_down(ids, k, 0, x);
        }
    }
    for (Py_ssize_t end = k - 1; end > 0; end--) {
        int64_t t = ids[0];
        ids[0] = ids[end];
        ids[end] = t;
        sift_down(ids, end, 0, x);
    }
    return k;
}

/* ---- the passes over the vocabulary ------------------------------------------------------------ */

static inline __attribute__((always_inline)) vf vmax(vf a, vf b)
{
    vi gt = a > b;
    return (vf)(((vi)a & gt) | ((vi)b & ~gt));
}

static inline __attribute__((always_inline)) float lane_max(vf v)
{
#if defined(__has_builtin) && __has_builtin(__builtin_shufflevector)
#if LANES == 16
    v = vmax(v, __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
    v = vmax(v, __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));
    v = vmax(v, __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));
    v = vmax(v, __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14));
#else
    v = vmax(v, __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3));
    v = vmax(v, __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5));
    v = vmax(v, __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6));
#endif
    return v[0];
#else
    float m = v[0];
    for (int l = 1; l < LANES; l++)
        m = v[l] > m ? v[l] : m;
    return m;
#endif
}

/* The top k's floor while a pass runs: the k largest block maxima so far, in a heap whose root is the
 * smallest of them. Once it holds k, the root t bounds the k-th largest value from below (k blocks
 * reach it), so only values >= t can be in the top k; t only rises. */
typedef struct {
    float *heap;
    Py_ssize_t size, k;
    int64_t *ids; /* the candidates: every value >= t when its block was read */
    Py_ssize_t count;
} Top;

static inline float floor_of(const Top *top)
{
    return top->size < top->k ? -INFINITY : top->heap[0];
}

static void add_block_max(Top *top, float v)
{
    float *heap = top->heap;
    Py_ssize_t i;
    if (top->size < top->k) {
        for (i = top->size++; i > 0 && heap[(i - 1) / 2] > v; i = (i - 1) / 2)
            heap[i] = heap[(i - 1) / 2];
        heap[i] = v;
        return;
    }
    if (!(v > heap[0]))
        return;
    for (i = 0;;) {
        Py_ssize_t c = 2 * i + 1;
        if (c >= top->size)
            break;
        if (c + 1 < top->size && heap[c + 1] < heap[c])
            c++;
        if (heap[c] >= v)
            break;
        heap[i] = heap[c];
        i = c;
    }
    heap[i] = v;
}

static inline __attribute__((always_inline)) int any_lane(vi mask)
{
#if defined(__has_builtin) && __has_builtin(__builtin_shufflevector)
#if LANES == 16
    mask |= __builtin_shufflevector(mask, mask, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    mask |= __builtin_shufflevector(mask, mask, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
    mask |= __builtin_shufflevector(mask, mask, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    mask |= __builtin_shufflevector(mask, mask, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
#else
    mask |= __builtin_shufflevector(mask, mask, 4, 5, 6, 7, 0, 1, 2, 3);
    mask |= __builtin_shufflevector(mask, mask, 2, 3, 0, 1, 6, 7, 4, 5);
    mask |= __builtin_shufflevector(mask, mask, 1, 0, 3, 2, 5, 4, 7, 6);
#endif
    return mask[0] != 0;
#else
    int any = 0;
    for (int l = 0; l < LANES; l++)
        any |= mask[l] != 0;
    return any;
#endif
}

/* Adds the values of x[start:end] that are >= t (and finite) to the candidates, skipping the
 * vectors without one. */
static inline __attribute__((always_inline)) void collect(const float *x, Py_ssize_t start, Py_ssize_t end,
                                                          float t, Top *top_k)
{
    int64_t *ids = top_k->ids;
    Py_ssize_t count = top_k->count;
    for (Py_ssize_t i = start; i < end; i += LANES) {
        Py_ssize_t stop = i + LANES < end ? i + LANES : end;
        if (stop - i == LANES && !any_lane(load(x + i) >= t))
            continue;
        for (Py_ssize_t j = i; j < stop; j++) { /* branch-free: values near t mispredict */
            ids[count] = j;
            count += (x[j] >= t) & (x[j] > -INFINITY);
        }
    }
    top_k->count = count;
}

/* The top k candidates, ranked, in top->ids: those at or above the final floor. Returns how many. */
static Py_ssize_t rank_top(const float *x, Top *top)
{
    float t = floor_of(top);
    Py_ssize_t kept = 0;
    for (Py_ssize_t j = 0; j < top->count; j++) {
        int64_t i = top->ids[j];
        top->ids[kept] = i;
        kept += x[i] >= t;
    }
    return select_ranked(top->ids, kept, top->k, x);
}

/* The statistics of x in one read, block by block while the block is in L1: its maximum, then its
 * exp relative to the running maximum, and (with top) the candidates of the top k. When the maximum
 * rises, the sums so far are rescaled (S' = cS, W' = c(W + S(m - m')), c = exp(m - m')): rarely, as it
 * rises O(log n) times. Float32 lanes sum at most 64 terms before they go into float64. Returns the
 * maximum, or NaN when x holds NaN; S = Σ exp(x - max), W = Σ exp(x - max)·(x - max). */
HOT static float one_pass(const float *x, Py_ssize_t n, Py_ssize_t block, Top *top_k, double *total,
                          double *weighted)
{
    const vf none = (vf){0} - INFINITY;
    vi nan = {0};
    vf s = {0}, w = {0}, zc;
    float top = -INFINITY;
    double s_all = 0.0, w_all = 0.0;
    Py_ssize_t terms = 0;
    for (Py_ssize_t start = 0; start < n; start += block) {
        Py_ssize_t end = start + block < n ? start + block : n, full = start + (end - start) / LANES * LANES, i;
        vf m = none;
        for (i = start; i < full; i += LANES) {
            vf v = load(x + i);
            nan |= v != v;
            m = vmax(v, m);
        }
        if (full < end) {
            vf v = load_tail(x + full, end - full);
            nan |= v != v;
            m = vmax(v, m);
        }
        float mb = lane_max(m);
        if (top_k && mb > -INFINITY) {
            add_block_max(top_k, mb);
            float t = floor_of(top_k);
            if (mb >= t)
                collect(x, start, end, t, top_k);
        }
        if (mb > top) {
            if (top > -INFINITY) {
                float c = expf(top - mb);
                w = (w + s * (top - mb)) * c;
                s = s * c;
                w_all = (w_all + s_all * ((double)top - mb)) * c;
                s_all *= c;
            }
            top = mb;
        }
        if (mb - top < LN_FLT_MIN)
            continue; /* adds nothing */
        for (i = start; i < full; i += LANES) {
            vf e = exp_nonpositive(load(x + i) - top, &zc);
            s += e;
            w += e * zc;
        }
        if (full < end) {
            vf e = exp_nonpositive(load_tail(x + full, end - full) - top, &zc);
            s += e;
            w += e * zc;
        }
        terms += (end - start + LANES - 1) / LANES;
        if (terms >= 64) {
            s_all += lane_sum(s);
            w_all += lane_sum(w);
            s = w = (vf){0};
            terms = 0;
        }
    }
    for (int l = 0; l < LANES; l++)
        if (nan[l])
            return NAN;
    *total = s_all + lane_sum(s);
    *weighted = w_all + lane_sum(w);
    return top;
}

static Py_ssize_t block_for(Py_ssize_t n, Py_ssize_t k)
{
    /* BLOCK, or smaller when the vocabulary has fewer than 2k blocks of it (a large k), so that k
     * block maxima exist to set the floor. */
    Py_ssize_t block = BLOCK;
    while (block > 1 && k > 0 && n / block < 2 * k)
        block /= 2;
    return block;
}

/* The pass, with the top k when k > 0 (work holds k floats; ids and vals n): returns the maximum
 * (NaN: x holds NaN), the sums, and how many of the top k are ranked in ids and vals. */
static float pass(const float *x, Py_ssize_t n, Py_ssize_t k, int64_t *ids, float *vals, float *work,
                  double *total, double *weighted, Py_ssize_t *count)
{
    Top top_k = {work, 0, k, ids, 0};
    float top = one_pass(x, n, block_for(n, k), k > 0 ? &top_k : NULL, total, weighted);
    *count = 0;
    if (k > 0 && isfinite(top)) {
        *count = rank_top(x, &top_k);
        for (Py_ssize_t i = 0; i < *count; i++)
            vals[i] = x[ids[i]];
    }
    return top;
}

/* scan(x, k, ids, vals, work) -> (max, log-sum-exp, entropy, count) or None for unusable logits
 * (NaN, +inf, empty, all -inf): the step's statistics and, for k > 0, its top k in ids and vals,
 * ranked, from the one pass. ids and vals hold n values, work k floats. */
static PyObject *scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 5, "scan") < 0)
        return NULL;
    Py_ssize_t k = PyLong_AsSsize_t(args[1]);
    if (k == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer xb, ib, vb, wb;
    if (F32(args[0], &xb, 0, "x") < 0)
        return NULL;
    if (I64(args[2], &ib, "ids") < 0)
        goto fail_x;
    if (F32(args[3], &vb, 1, "vals") < 0)
        goto fail_i;
    if (F32(args[4], &wb, 1, "work") < 0)
        goto fail_v;
    Py_ssize_t n = xb.len / 4, count = 0;
    if (k < 0 || (k > 0 && (ib.len / 8 < n || vb.len / 4 < n || wb.len / 4 < k))) {
        PyErr_SetString(PyExc_ValueError, "scan: k must be >= 0, ids and vals as long as x, work k long");
        goto fail_w;
    }
    float top = NAN;
    double total = 0.0, weighted = 0.0;
    if (n > 0) {
        Py_BEGIN_ALLOW_THREADS
        top = pass(xb.buf, n, k, ib.buf, vb.buf, wb.buf, &total, &weighted, &count);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&wb);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&ib);
    PyBuffer_Release(&xb);
    if (!isfinite(top)) /* NaN, +inf, all -inf, or empty */
        Py_RETURN_NONE;
    double lse = log(total), entropy = lse - weighted / total;
    return Py_BuildValue("dddn", (double)top, top + lse, entropy > 0.0 ? entropy : 0.0, count);
fail_w:
    PyBuffer_Release(&wb);
fail_v:
    PyBuffer_Release(&vb);
fail_i:
    PyBuffer_Release(&ib);
fail_x:
    PyBuffer_Release(&xb);
    return NULL;
}

HOT static Py_ssize_t collect_at_least(const float *x, Py_ssize_t n, float threshold, int64_t *ids, float *vals)
{
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (x[i] >= threshold) {
            ids[count] = i;
            vals[count++] = x[i];
        }
    }
    return count;
}

/* at_least(x, threshold, ids, vals) -> count: the values >= threshold, in index order. */
static PyObject *at_least(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_args(nargs, 4, "at_least") < 0)
        return NULL;
    double threshold = PyFloat_AsDouble(args[1]);
    if (threshold == -1.0 && PyErr_Occurred())
        return NULL;
    Py_buffer xb, ib, vb;
    if (F32(args[0], &xb, 0, "x") < 0)
        return NULL;
    if (I64(args[2], &ib, "ids") < 0) {
        PyBuffer_Release(&xb);
        return NULL;
    }
    if (F32(args[3], &vb, 1, "vals") < 0) {
        PyBuffer_Release(&ib);
        PyBuffer_Release(&xb);
        return NULL;
    }
    Py_ssize_t n = xb.len / 4, count = -1;
    if (ib.len / 8 >= n && vb.len / 4 >= n) {
        Py_BEGIN_ALLOW_THREADS
        count = collect_at_least(xb.buf, n, (float)threshold, ib.buf, vb.buf);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&vb);
    PyBuffer_Release(&ib);
    PyBuffer_Release(&xb);
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
    const float *x = xb.buf, t = (float)threshold;
    Py_ssize_t n = xb.len / 4, count = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        count += x[i] >= t;
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

/* ---- float64 work on a candidate set (libm's exp, sequential sums: the numpy code's results) ---- */

static double top_of(const float *x, Py_ssize_t n, int sorted)
{
    if (sorted)
        return x[0];
    float top = -INFINITY;
    for (Py_ssize_t i = 0; i < n; i++)
        top = x[i] > top ? x[i] : top;
    return top;
}

/* First i with cum[i] >= target (bisect_left), cum the running sum of exp(x - top); n if none. */
static Py_ssize_t first_reaching(const float *x, Py_ssize_t n, double top, double target)
{
    double cum = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        cum += exp((double)x[i] - top);
        if (cum >= target)
            return i;
    }
    return n;
}

static double mass(const float *x, Py_ssize_t n, double top)
{
    double total = 0.0;
    for (Py_ssize_t i = 0; i < n; i++)
        total += exp((double)x[i] - top);
    return total;
}

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
    const float *x = xb.buf;
    Py_ssize_t n = xb.len / 4, i = 0;
    if (n > 0) {
        double top = x[0];
        i = first_reaching(x, n, top, p * mass(x, n, top));
        i = i < n ? i : n - 1;
    }
    PyBuffer_Release(&xb);
    return PyLong_FromSsize_t(i + 1);
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
    const float *x = xb.buf;
    Py_ssize_t n = xb.len / 4;
    double top = top_of(x, n, 0), total = 0.0, weighted = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (x[i] > -INFINITY) {
            double z = (double)x[i] - top, e = exp(z);
            total += e;
            weighted += e * z;
        }
    }
    PyBuffer_Release(&xb);
    double h = log(total) - weighted / total;
    return PyFloat_FromDouble(h > 0.0 ? h : 0.0);
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
    Py_buffer xb, ib, vb;
    if (F32(args[0], &xb, 0, "x") < 0)
        return NULL;
    if (I64(args[2], &ib, "ids") < 0) {
        PyBuffer_Release(&xb);
        return NULL;
    }
    if (F32(args[3], &vb, 1, "vals") < 0) {
        PyBuffer_Release(&ib);
        PyBuffer_Release(&xb);
        return NULL;
    }
    const float *x = xb.buf;
    Py_ssize_t n = xb.len / 4, cut = -1, head = 0;
    if (n > 0 && ib.len / 8 >= n && vb.len / 4 >= n) {
        int64_t *ids = ib.buf;
        float *vals = vb.buf;
        Py_BEGIN_ALLOW_THREADS
        cut = top_p_full(x, n, p, ids, &head);
        for (Py_ssize_t i = 0; i < head; i++)
            vals[i] = x[ids[i]];
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&vb);
    PyBuffer_Release(&ib);
    PyBuffer_Release(&xb);
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

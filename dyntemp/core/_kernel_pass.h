/* The passes over the vocabulary, in vectors: the block maxima, the exp sums and the top-k
 * candidates of one read (one_pass), and the ranking they share. No Python objects here: _kernel.c
 * wraps them. Included by _kernel.c after its HOT (the target clones) is defined. */

#define BLOCK 64
#define LN_FLT_MIN -87.33654f /* exp of anything below is not a normal float: 0 */

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
 * maximum, or NaN when x holds NaN; S = Σ exp(x - max), W = Σ exp(x - max)·(x - max) in *total and
 * *weighted, unless total is NULL (the top k alone: no exp at all). */
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
        if (!total || mb - top < LN_FLT_MIN)
            continue; /* no sums asked for, or the block adds nothing */
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
    if (total) {
        *total = s_all + lane_sum(s);
        *weighted = w_all + lane_sum(w);
    }
    return top;
}

static Py_ssize_t block_for(Py_ssize_t n, Py_ssize_t k)
{
    /* BLOCK (twice it from 131,072 values on: a block's fixed work, its maximum across the lanes
     * and the top k's floor, then counts less), or smaller when the vocabulary has fewer than 2k
     * blocks of it (a large k), so that k block maxima exist to set the floor. */
    Py_ssize_t block = n >= 131072 ? 2 * BLOCK : BLOCK;
    while (block > 1 && k > 0 && n / block < 2 * k)
        block /= 2;
    return block;
}

/* The pass, with the top k when k > 0 (work holds k floats; ids and vals n): returns the maximum
 * (NaN: x holds NaN), the sums (unless total is NULL), and how many of the top k are ranked in ids
 * and vals. */
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

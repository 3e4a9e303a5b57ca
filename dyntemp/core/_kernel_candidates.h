/* The float64 work on a candidate set: top-p's mass, min-p's threshold, the entropy, the draw's
 * weights. libm's exp and sequential sums, as the numpy code computes them, so that both paths give
 * the same cuts and draws. No Python objects here: _kernel.c wraps them. */

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

/* Length of the shortest prefix of x (n > 0, sorted descending) holding a share p of the mass. */
static Py_ssize_t prefix_of_mass(const float *x, Py_ssize_t n, double p)
{
    double top = x[0];
    Py_ssize_t i = first_reaching(x, n, top, p * mass(x, n, top));
    return (i < n ? i : n - 1) + 1;
}

/* Entropy (nats) of softmax(x), -inf values left out. */
static double entropy64(const float *x, Py_ssize_t n)
{
    double top = top_of(x, n, 0), total = 0.0, weighted = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (x[i] > -INFINITY) {
            double z = (double)x[i] - top, e = exp(z);
            total += e;
            weighted += e * z;
        }
    }
    double h = log(total) - weighted / total;
    return h > 0.0 ? h : 0.0;
}

/* How many values are >= threshold (float32 comparison). */
static Py_ssize_t count_at_or_above(const float *x, Py_ssize_t n, float threshold)
{
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        count += x[i] >= threshold;
    return count;
}

static Py_ssize_t clamp_keep(Py_ssize_t kept, Py_ssize_t min_keep, Py_ssize_t n)
{
    kept = kept > min_keep ? kept : min_keep;
    return kept < n ? kept : n;
}

/* Top-p, then min-p, on candidates sorted descending (n > 0): the length of the prefix they keep,
 * each keeping at least min_keep (>= 1), as the two stages do one after the other. top_p >= 1 or
 * min_p <= 0 turns that cut off. min-p's threshold is float32: the largest logit plus (float)ln p. */
static Py_ssize_t head_cut(const float *x, Py_ssize_t n, double top_p, double min_p, Py_ssize_t min_keep)
{
    if (top_p < 1.0)
        n = clamp_keep(prefix_of_mass(x, n, top_p), min_keep, n);
    if (min_p > 0.0)
        n = clamp_keep(count_at_or_above(x, n, x[0] + (float)log(min_p)), min_keep, n);
    return n;
}

/* x divided by temperature t into out (the float32 division numpy makes), or 0 when that would
 * leave float32 (t below the smallest float, or a quotient beyond the largest; the caller then
 * keeps the most likely candidate alone). Beyond float32's range t is as good as infinite. */
static int scale_by(const float *x, Py_ssize_t n, double t, int sorted, float *out)
{
    if (t < FLT_TRUE_MIN)
        return 0;
    double largest = 0.0;
    if (sorted && n > 0)
        largest = fmax(fabs((double)x[0]), fabs((double)x[n - 1]));
    else
        for (Py_ssize_t i = 0; i < n; i++)
            largest = fmax(largest, fabs((double)x[i]));
    if (largest / t >= FLT_MAX)
        return 0;
    float divisor = (float)fmin(t, FLT_MAX);
    for (Py_ssize_t i = 0; i < n; i++)
        out[i] = x[i] / divisor;
    return 1;
}

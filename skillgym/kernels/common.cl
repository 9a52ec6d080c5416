/*
 * Shared by both actor-critic kernels: math on VEC (float8 by default, float for the SIMT kernel)
 * and the action head. The host prepends its #defines (see skillgym/kernels/actor_critic.py).
 *
 * Only plain operators are used: on PoCL/x86 its built-ins (fma, exp, tanh, vload16, ...)
 * are emitted as out-of-line calls, several times slower than the inlined code below.
 * Do not build with -cl-fast-relaxed-math: it folds away the rounding trick in vexp.
 */

#define INLINE inline __attribute__((always_inline))

#define ACT_NONE 0
#define ACT_TANH 1
#define ACT_RELU 2

/* Masked logits take MaskablePPO's value, so log-probabilities agree with sb3-contrib. */
#define MASKED_LOGIT (-1.0e8f)

/* exp(x) for x in [-87.3, 88.7]: 2^n * p(r), n = round(x / ln 2), r = x - n ln 2 (Cody-Waite). */
INLINE VEC vexp(VEC x) {
    x = x < (VEC)(-87.3f) ? (VEC)(-87.3f) : x;
    x = x > (VEC)(88.7f) ? (VEC)(88.7f) : x;
    /* Adding 1.5 * 2^23 rounds to an integer held in the low mantissa bits. */
    const VEC shifter = (VEC)(12582912.0f);
    VEC t = x * (VEC)(1.44269504f) + shifter;
    VEC n = t - shifter;
    VEC r = x - n * (VEC)(0.693359375f);
    r = r - n * (VEC)(-2.12194440e-4f);
    VEC p = (VEC)(1.9875691500e-4f);
    p = p * r + (VEC)(1.3981999507e-3f);
    p = p * r + (VEC)(8.3334519073e-3f);
    p = p * r + (VEC)(4.1665795894e-2f);
    p = p * r + (VEC)(1.6666665459e-1f);
    p = p * r + (VEC)(5.0000001201e-1f);
    p = p * r * r + r + (VEC)(1.0f);
    VECI e = (AS_VECI(t) - (VECI)(0x4B400000)) << 23;
    return AS_VEC(AS_VECI(p) + e);
}

/* Natural log for x > 0; log(0) gives about -103, so a zero uniform stays finite. */
INLINE VEC vlog(VEC x) {
    x = x < (VEC)(1.0e-45f) ? (VEC)(1.0e-45f) : x;
    VECI bits = AS_VECI(x);
    /* Denormals: scale by 2^23 first so the exponent field is meaningful. */
    VECI tiny = bits < (VECI)(0x00800000);
    x = tiny ? x * (VEC)(8388608.0f) : x;
    bits = AS_VECI(x);
    /* The exponent field converted to float without a conversion call: 2^23 + field, minus 2^23. */
    VEC e = AS_VEC((bits >> 23) | (VECI)(0x4B000000)) - (VEC)(8388734.0f);
    e = tiny ? e - (VEC)(23.0f) : e;
    /* Mantissa m in [0.5, 1); fold to [sqrt(1/2), sqrt(2)) so the polynomial argument is small. */
    VEC m = AS_VEC((bits & (VECI)(0x007FFFFF)) | (VECI)(0x3F000000));
    VECI small = m < (VEC)(0.70710678f);
    e = small ? e - (VEC)(1.0f) : e;
    m = small ? m + m - (VEC)(1.0f) : m - (VEC)(1.0f);
    VEC z = m * m;
    VEC y = (VEC)(7.0376836292e-2f);
    y = y * m + (VEC)(-1.1514610310e-1f);
    y = y * m + (VEC)(1.1676998740e-1f);
    y = y * m + (VEC)(-1.2420140846e-1f);
    y = y * m + (VEC)(1.4249322787e-1f);
    y = y * m + (VEC)(-1.6668057665e-1f);
    y = y * m + (VEC)(2.0000714765e-1f);
    y = y * m + (VEC)(-2.4999993993e-1f);
    y = y * m + (VEC)(3.3333331174e-1f);
    y = y * m * z;
    y = y + e * (VEC)(-2.12194440e-4f);
    y = y - (VEC)(0.5f) * z;
    return m + y + e * (VEC)(0.693359375f);
}

/*
 * tanh(x) ~ x P(x^2) / Q(x^2), P of degree 4 and Q of degree 3, on [-7.75, 7.75] and
 * +-tanh(7.75) beyond (1 - 4e-7): a rational approximation fitted by iteratively reweighted
 * least squares towards the minimax error. Measured in float32 against float64: at most
 * 4.9e-7 absolute error, and under 1e-6 relative near 0, where 1 - 2 / (exp(2x) + 1) cancels.
 * Seven FMAs, two multiplies and one division, instead of an exp (about 16 operations) and a
 * division; a degree-5 P (3.5e-7) measured 3 % slower on the 64-64 policy.
 */
INLINE VEC vtanh(VEC x) {
    x = x < (VEC)(-7.75f) ? (VEC)(-7.75f) : x;
    x = x > (VEC)(7.75f) ? (VEC)(7.75f) : x;
    const VEC z = x * x;
    VEC p = (VEC)(-6.325148405e-09f);
    p = p * z + (VEC)(7.252642263e-06f);
    p = p * z + (VEC)(2.707067877e-03f);
    p = p * z + (VEC)(1.272204220e-01f);
    p = p * z + (VEC)(9.999992847e-01f);
    VEC q = (VEC)(1.981944370e-04f);
    q = q * z + (VEC)(2.289366908e-02f);
    q = q * z + (VEC)(4.605510831e-01f);
    q = q * z + (VEC)(1.0f);
    return x * p / q;
}

INLINE VEC activate(VEC v, const int act) {
    if (act == ACT_TANH) return vtanh(v);
    if (act == ACT_RELU) return v > (VEC)(0.0f) ? v : (VEC)(0.0f);
    return v;
}

/*
 * Reductions across the lanes of a vector by halving: the swizzles stay in registers, where a
 * loop over the lanes goes through memory one scalar at a time. HSUM(v), HMAX(v) and HMIN(v)
 * take a VEC (HMIN a VECI).
 */
#define COMBINE_SUM(a, b) ((a) + (b))
#define COMBINE_MAX(a, b) ((a) > (b) ? (a) : (b))
#define COMBINE_MIN(a, b) ((a) < (b) ? (a) : (b))
#define HORIZONTAL(NAME, S, C)                                                              \
    INLINE S NAME##1(S v) { return v; }                                                     \
    INLINE S NAME##2(S##2 v) { return C(v.lo, v.hi); }                                      \
    INLINE S NAME##4(S##4 v) { return NAME##2(C(v.lo, v.hi)); }                             \
    INLINE S NAME##8(S##8 v) { return NAME##4(C(v.lo, v.hi)); }                             \
    INLINE S NAME##16(S##16 v) { return NAME##8(C(v.lo, v.hi)); }
HORIZONTAL(hsum, float, COMBINE_SUM)
HORIZONTAL(hmax, float, COMBINE_MAX)
HORIZONTAL(hmin, int, COMBINE_MIN)
#define CONCAT(a, b) a##b
#define WIDTH_NAME(name, width) CONCAT(name, width)
#define HSUM(v) WIDTH_NAME(hsum, VW)(v)
#define HMAX(v) WIDTH_NAME(hmax, VW)(v)
#define HMIN(v) WIDTH_NAME(hmin, VW)(v)

__constant int head_start[N_HEADS + 1] = {HEAD_STARTS};

/* exp(z) for shifted logits z <= 0, flushed to exactly 0 below -87 (where vexp clamps), so
 * that masked logits (-1e8) and padding lanes get no probability at all when sampling. */
INLINE VEC weight_of(VEC z) {
    const VEC e = vexp(z);
    return z < (VEC)(-87.0f) ? (VEC)(0.0f) : e;
}

/*
 * Inverse-CDF sampling: the first i in [0, n) with weight[0] + ... + weight[i] > target, or,
 * where rounding leaves none (target at the very top), the last i with a positive weight. The
 * i returned always has a positive weight: the running sum only grows at positive weights.
 */
INLINE int first_above(const float *weight, const int n, const float target) {
    float cum = 0.0f;
    int last = 0;
    for (int i = 0; i < n; ++i) {
        cum += weight[i];
        if (weight[i] > 0.0f) last = i;
        if (cum > target) return i;
    }
    return last;
}

/*
 * Masked log-softmax, action choice and log-probability for one sample. `logits` holds
 * N_LOGITS_PAD values; component h owns lanes [head_start[h], head_start[h + 1]).
 *
 * Sampling inverts each component's CDF with one host-provided uniform u: the first action
 * whose cumulative weight exceeds u times the total (weights are exp of the shifted logits,
 * the probabilities up to the component's common factor). One uniform per component instead
 * of one per logit, and no logarithm per logit as Gumbel-max needs.
 */
#if N_HEADS == 1
/*
 * One component: every step runs on whole vectors; the padding lanes get a logit no real one
 * is below, and are never read back.
 *
 * `live` (n_live entries, or 0) lists the vectors of logits that hold an allowed action in
 * some row of the tile; head_layer() computed only those, and every lane of the others is
 * masked in this sample. When this sample allows an action, their weights exp(MASKED_LOGIT -
 * max) are exactly 0 (flushed below -87), and only the listed vectors are visited. Otherwise
 * (no list, an empty one, a sample that allows nothing, every log-probability asked for) all
 * are, after the mask (or, for a sample that allows nothing, MASKED_LOGIT) is written into
 * every lane.
 */
INLINE void choose(float *logits, __global const uchar *mask, __global const float *uniform,
                   const int sample, __global int *action, __global float *log_prob,
                   __global float *log_probs, const int *live, const int n_live) {
    float weight[N_LOGITS_PAD] __attribute__((aligned(4 * VW)));
    float block[N_LOGITS_PAD / VW]; /* each visited vector's sum of weights, for sampling */
    int every[N_LOGITS_PAD / VW];
    for (int i = N_LOGITS; i < N_LOGITS_PAD; ++i) logits[i] = -3.0e38f;
    const int listed = live && n_live > 0 && !log_probs;
    int n_vec = listed ? n_live : N_LOGITS_PAD / VW;
    const int *vec = listed ? live : every;
    if (!listed) {
        for (int t = 0; t < N_LOGITS_PAD / VW; ++t) every[t] = t;
    }
    if (mask) { /* the unlisted vectors hold no allowed action */
        for (int t = 0; t < n_vec; ++t) {
            for (int i = vec[t] * VW; i < vec[t] * VW + VW && i < N_LOGITS; ++i)
                logits[i] = mask[i] ? logits[i] : MASKED_LOGIT;
        }
    }
    VEC top = *(VEC *)(logits + vec[0] * VW);
    for (int t = 1; t < n_vec; ++t) {
        const VEC z = *(VEC *)(logits + vec[t] * VW);
        top = z > top ? z : top;
    }
    const float m = HMAX(top);
    if (listed && m <= MASKED_LOGIT + 87.0f) { /* nothing allowed: uniform over every action */
        for (int i = 0; i < N_LOGITS; ++i) logits[i] = MASKED_LOGIT;
        for (int t = 0; t < N_LOGITS_PAD / VW; ++t) every[t] = t;
        vec = every;
        n_vec = N_LOGITS_PAD / VW;
    }
    VEC sum = (VEC)(0.0f);
    float all = 0.0f; /* the running total of block */
    for (int t = 0; t < n_vec; ++t) {
        const int v = vec[t] * VW;
        const VEC z = *(VEC *)(logits + v) - (VEC)(m);
        *(VEC *)(logits + v) = z;
        /* Under a mask a vector may hold only masked actions: all its weights are 0
         * (weight_of flushes z < -87), so its exp and sums are skipped. */
        if (mask && HMAX(z) < -87.0f) {
            *(VEC *)(weight + v) = (VEC)(0.0f);
            block[t] = 0.0f;
            continue;
        }
        const VEC e = weight_of(z);
        *(VEC *)(weight + v) = e;
        block[t] = HSUM(e);
        all += block[t];
        sum += e;
    }
    const VEC log_total_lanes = vlog((VEC)(HSUM(sum)));
    const float log_total = ((const float *)&log_total_lanes)[0];
    int chosen;
    if (sample) {
        /* Two levels: find the vector by the running sum of the vectors' sums, then the lane
         * by first_above. The running sum is the total's order; within the chosen vector,
         * where lane-by-lane rounding leaves no crossing (the target within rounding of the
         * vector's top), first_above takes its last action with weight, which that top
         * belongs to. */
        const float target = uniform[0] * all;
        float before = 0.0f, before_last = 0.0f;
        int t = 0, last = 0;
        for (; t < n_vec; ++t) {
            if (block[t] > 0.0f) {
                last = t;
                before_last = before;
            }
            if (before + block[t] > target) break;
            before += block[t];
        }
        if (t == n_vec) { /* no crossing: the last vector with weight */
            t = last;
            before = before_last;
        }
        chosen = vec[t] * VW + first_above(weight + vec[t] * VW, VW, target - before);
    } else {
        VEC best = *(const VEC *)(logits + vec[0] * VW);
        VECI best_at = LANES + (VECI)(vec[0] * VW);
        for (int t = 1; t < n_vec; ++t) {
            const int v = vec[t] * VW;
            const VEC s = *(const VEC *)(logits + v);
            const VECI better = s > best;
            best = better ? s : best;
            best_at = better ? LANES + (VECI)(v) : best_at;
        }
        /* Across lanes: the highest logit, the lowest index among equals (as argmax does). */
        chosen = HMIN(best == (VEC)(HMAX(best)) ? best_at : (VECI)(INT_MAX));
    }
    /* Normalized only where read: the chosen action, and every action if asked. */
    action[0] = chosen;
    *log_prob = logits[chosen] - log_total;
    if (log_probs) {
        for (int i = 0; i < N_LOGITS; ++i) log_probs[i] = logits[i] - log_total;
    }
}
#else
/* Several components: short scalar loops per component, exp and log on vectors, over every
 * vector of logits (`live` is not used). */
INLINE void choose(float *logits, __global const uchar *mask, __global const float *uniform,
                   const int sample, __global int *action, __global float *log_prob,
                   __global float *log_probs, const int *live, const int n_live) {
    float shift[N_LOGITS_PAD] __attribute__((aligned(4 * VW)));
    float weight[N_LOGITS_PAD] __attribute__((aligned(4 * VW)));
    float head_log[N_HEADS_PAD] __attribute__((aligned(4 * VW)));
    float head_total[N_HEADS];
    if (mask) {
        for (int i = 0; i < N_LOGITS; ++i) logits[i] = mask[i] ? logits[i] : MASKED_LOGIT;
    }
    for (int h = 0; h < N_HEADS; ++h) {
        float m = logits[head_start[h]];
        for (int i = head_start[h] + 1; i < head_start[h + 1]; ++i) m = logits[i] > m ? logits[i] : m;
        for (int i = head_start[h]; i < head_start[h + 1]; ++i) shift[i] = m;
    }
    for (int i = N_LOGITS; i < N_LOGITS_PAD; ++i) shift[i] = logits[i];
    for (int v = 0; v < N_LOGITS_PAD; v += VW) {
        VEC z = *(VEC *)(logits + v) - *(VEC *)(shift + v);
        *(VEC *)(logits + v) = z;
        *(VEC *)(weight + v) = weight_of(z);
    }
    /* One logarithm per component: the log of its sum of weights, batched VW at a time. */
    for (int h = 0; h < N_HEADS_PAD; ++h) head_log[h] = 1.0f;
    for (int h = 0; h < N_HEADS; ++h) {
        float total = 0.0f;
        for (int i = head_start[h]; i < head_start[h + 1]; ++i) total += weight[i];
        head_log[h] = total;
        head_total[h] = total;
    }
    for (int v = 0; v < N_HEADS_PAD; v += VW) *(VEC *)(head_log + v) = vlog(*(VEC *)(head_log + v));
    for (int h = 0; h < N_HEADS; ++h) {
        for (int i = head_start[h]; i < head_start[h + 1]; ++i) logits[i] -= head_log[h];
    }
    float total_lp = 0.0f;
    for (int h = 0; h < N_HEADS; ++h) {
        const int n = head_start[h + 1] - head_start[h];
        int best = head_start[h];
        if (sample) {
            /* head_total[h], summed in first_above's order. */
            best += first_above(weight + head_start[h], n, uniform[h] * head_total[h]);
        } else {
            for (int i = head_start[h] + 1; i < head_start[h + 1]; ++i)
                best = logits[i] > logits[best] ? i : best;
        }
        action[h] = best - head_start[h];
        total_lp += logits[best];
    }
    *log_prob = total_lp;
    if (log_probs) {
        for (int i = 0; i < N_LOGITS; ++i) log_probs[i] = logits[i];
    }
}
#endif

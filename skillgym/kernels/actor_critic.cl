/*
 * Fused actor-critic forward pass, written in explicit SIMD (C-for-Metal style).
 *
 * One launch computes, for every sample: the policy MLP, the value MLP, the action head,
 * a masked log-softmax per action component, the action (argmax, or a sample by inverting
 * the CDF at one host-provided uniform per component), the chosen action's log-probability
 * and the value.
 *
 * Layout (see docs/kernels.md):
 *   - neurons lie across the lanes of a VEC (float8 by default), so one weight load serves
 *     TILE samples whose inputs are broadcast scalars: TILE * BLOCK accumulators stay in
 *     registers;
 *   - every layer's width is padded to a multiple of VW, weights are stored input-major
 *     ([in][out_pad]) followed by the bias, at offsets that are multiples of VW floats;
 *   - each work-item loops over tiles of TILE samples (taken from a shared counter), so the
 *     work-group size (1) never changes with the batch size and PoCL compiles one
 *     specialization.
 *
 * The host prepends its #defines (VW, VEC, TILE, BLOCK, OBS_DIM, N_LOGITS, N_LOGITS_PAD,
 * N_HEADS, HEAD_STARTS, MAX_WIDTH and the NETWORK macro listing the layers) and common.cl.
 */

/*
 * NB output vectors of one layer for TILE samples: y[s][j..j+NB*VW) = x[s] W + b (dense()
 * applies the activation afterwards).
 * The TILE x NB accumulators acc_<s>_<b> are the register block, 4 x 2 by default (with the
 * 2 weight vectors and a broadcast, 11 of AVX2's 16 registers). They are spelled out by
 * macros rather than left to loop unrolling, which PoCL's pipeline does not do reliably
 * before register allocation: an array of accumulators ends up on the stack, one load and
 * store per FMA.
 * FOR_TILE(M, a) (from the host) expands to M(0, a) ... M(TILE - 1, a).
 *
 * `index` (the observation layers) lists the inputs that are non-zero somewhere in the tile,
 * `n_index` of them; the other layers pass 0 and run over all n_in inputs.
 */
#define FOR4(M, s) M(s, 0) M(s, 1) M(s, 2) M(s, 3)
#define FOR3(M, s) M(s, 0) M(s, 1) M(s, 2)
#define FOR2(M, s) M(s, 0) M(s, 1)
#define FOR1(M, s) M(s, 0)
#define LOAD_BIAS(_, b) const VEC bias_##b = *(__global const VEC *)(bias + OFF(b));
#define INIT_ROW(s, FORN) FORN(INIT_ONE, s)
#define INIT_ONE(s, b) VEC acc_##s##_##b = bias_##b;
#define LOAD_W(_, b) const VEC w_##b = *(__global const VEC *)(wk + OFF(b));
#define ROW_POINTER(s, _) const float *x_##s = x + s * x_stride;
#define FMA_ROW(s, FORN) { const float xs = x_##s[k]; FORN(FMA_ONE, s) }
#define FMA_ONE(s, b) acc_##s##_##b += xs * w_##b;
#define STORE_ROW(s, FORN) FORN(STORE_ONE, s)
#define STORE_ONE(s, b) *(VEC *)(y + s * y_stride + OFF(b)) = acc_##s##_##b;
#define NONZERO(s, k) | (x[s * OBS_DIM + k] != 0.0f)
#define NONZERO_VEC(s, k) | (*(VEC *)(x + s * OBS_DIM + k) != (VEC)(0.0f))

/* OFF(b), defined before each use of DENSE_BLOCK, is where output vector b lies (in floats):
 * the NB vectors from y and w on (dense_block1..4), or at offsets given as arguments
 * (dense_pair). `...` declares those arguments. */
#define DENSE_BLOCK(NAME, NB, ...)                                                          \
    INLINE void NAME(const float *x, const int n_in, const int x_stride,                    \
                     float *y, const int y_stride, const int n_out,                         \
                     __global const float *w, const int *index,                             \
                     const int n_index __VA_ARGS__) {                                       \
        __global const float *bias = w + n_in * n_out;                                      \
        FOR##NB(LOAD_BIAS, _)                                                               \
        FOR_TILE(INIT_ROW, FOR##NB)                                                         \
        FOR_TILE(ROW_POINTER, _)                                                            \
        const int count = index ? n_index : n_in;                                           \
        for (int i = 0; i < count; ++i) {                                                   \
            const int k = index ? index[i] : i;                                             \
            __global const float *wk = w + k * n_out;                                       \
            FOR##NB(LOAD_W, _)                                                              \
            FOR_TILE(FMA_ROW, FOR##NB)                                                      \
        }                                                                                   \
        FOR_TILE(STORE_ROW, FOR##NB)                                                        \
    }
#define OFF(b) ((b) * VW)
DENSE_BLOCK(dense_block4, 4, )
DENSE_BLOCK(dense_block3, 3, )
DENSE_BLOCK(dense_block2, 2, )
DENSE_BLOCK(dense_block1, 1, )
#undef OFF
/* Two output vectors anywhere in the layer, at off0 and off1: the masked action head's blocks
 * (head_layer), whose vectors with an allowed action are seldom neighbours. */
#define OFF(b) off##b
DENSE_BLOCK(dense_pair, 2, , const int off0, const int off1)
#undef OFF

/*
 * The activation over a tile's outputs, in a pass of its own after a layer's sums: applied
 * as each block of sums is stored, tanh's ten constants competed with the accumulators for
 * registers and were reloaded from the stack (64-64 policy: 3-6 % slower).
 */
INLINE void activate_rows(float *y, const int y_stride, const int n_out, const int act) {
    if (act == ACT_NONE) return;
    for (int s = 0; s < TILE; ++s) {
        for (int v = 0; v < n_out; v += VW)
            *(VEC *)(y + s * y_stride + v) = activate(*(VEC *)(y + s * y_stride + v), act);
    }
}

#ifdef N_CODES
/*
 * The first layer of a trunk on a coded input (docs/kernels.md, "Coded observations"): each
 * sample's input is N_CODES one-hot positions and N_DENSE values at the positions dense_input
 * lists. x W + b is then the bias plus the codes' weight rows plus the dense values times
 * theirs: a gather and a sum, N_CODES + N_DENSE rows per sample instead of OBS_DIM.
 */
__constant int dense_input[N_DENSE > 0 ? N_DENSE : 1] = {DENSE_INPUTS};

INLINE void embed(const int *code, const float *x, float *y, const int y_stride, const int n_out,
                  __global const float *w, const int act) {
    __global const float *bias = w + OBS_DIM * n_out;
    for (int s = 0; s < TILE; ++s) {
        const int *codes = code + s * N_CODES;
        const float *values = x + s * N_DENSE;
        float *out = y + s * y_stride;
        int j = 0;
        /* Four output vectors at a time: one row address serves four loads, and the four
         * sums are independent chains of adds (one chain was bound by the add latency). */
        for (; j + 4 * VW <= n_out; j += 4 * VW) {
            VEC acc0 = *(__global const VEC *)(bias + j);
            VEC acc1 = *(__global const VEC *)(bias + j + VW);
            VEC acc2 = *(__global const VEC *)(bias + j + 2 * VW);
            VEC acc3 = *(__global const VEC *)(bias + j + 3 * VW);
            for (int c = 0; c < N_CODES; ++c) {
                __global const float *row = w + codes[c] * n_out + j;
                acc0 += *(__global const VEC *)row;
                acc1 += *(__global const VEC *)(row + VW);
                acc2 += *(__global const VEC *)(row + 2 * VW);
                acc3 += *(__global const VEC *)(row + 3 * VW);
            }
            for (int d = 0; d < N_DENSE; ++d) {
                __global const float *row = w + dense_input[d] * n_out + j;
                const float value = values[d];
                acc0 += value * *(__global const VEC *)row;
                acc1 += value * *(__global const VEC *)(row + VW);
                acc2 += value * *(__global const VEC *)(row + 2 * VW);
                acc3 += value * *(__global const VEC *)(row + 3 * VW);
            }
            *(VEC *)(out + j) = acc0;
            *(VEC *)(out + j + VW) = acc1;
            *(VEC *)(out + j + 2 * VW) = acc2;
            *(VEC *)(out + j + 3 * VW) = acc3;
        }
        for (; j < n_out; j += VW) {
            VEC acc = *(__global const VEC *)(bias + j);
            for (int c = 0; c < N_CODES; ++c)
                acc += *(__global const VEC *)(w + codes[c] * n_out + j);
            for (int d = 0; d < N_DENSE; ++d)
                acc += values[d] * *(__global const VEC *)(w + dense_input[d] * n_out + j);
            *(VEC *)(out + j) = acc;
        }
    }
    activate_rows(y, y_stride, n_out, act);
}
#endif

#define BLOCK_FUNCTION(n) CONCAT(dense_block, n)

/* A whole layer (n_out is the padded width): blocks of BLOCK vectors, the remainder, then the
 * activation. */
INLINE void dense(const float *x, const int n_in, const int x_stride,
                  float *y, const int y_stride, const int n_out,
                  __global const float *w, const int act, const int *index, const int n_index) {
    int j = 0;
    for (; j + BLOCK * VW <= n_out; j += BLOCK * VW)
        BLOCK_FUNCTION(BLOCK)(x, n_in, x_stride, y + j, y_stride, n_out, w + j, index, n_index);
    const int rest = (n_out - j) / VW;
    if (rest == 3) dense_block3(x, n_in, x_stride, y + j, y_stride, n_out, w + j, index, n_index);
    if (rest == 2) dense_block2(x, n_in, x_stride, y + j, y_stride, n_out, w + j, index, n_index);
    if (rest == 1) dense_block1(x, n_in, x_stride, y + j, y_stride, n_out, w + j, index, n_index);
    activate_rows(y, y_stride, n_out, act);
}

/*
 * The value head after a hidden layer, packed as a weight column then the bias: one output
 * per sample, so a dot product along the inputs (lane sums at the end) rather than a dense
 * layer whose every output vector would hold one useful lane (64-64 policy: 4 % faster).
 * n_in is the padded width of the hidden layer; its padding lanes are 0.
 */
INLINE void dot_head(const float *x, const int n_in, const int x_stride, float *value,
                     __global const float *w) {
    const float bias = w[n_in];
    for (int s = 0; s < TILE; ++s) {
        VEC acc = (VEC)(0.0f);
        for (int j = 0; j < n_in; j += VW)
            acc += *(const VEC *)(x + s * x_stride + j) * *(__global const VEC *)(w + j);
        value[s * VW] = HSUM(acc) + bias;
    }
}

/*
 * The action head. With masks, `live` lists the output vectors that hold an action allowed
 * in some row of the tile, `n_live` of them, and only those are computed, two at a time (one
 * weight load per vector feeds TILE FMAs; one vector at a time the broadcasts bound the
 * loop). The others, where every action is masked, are left unwritten: choose() visits only
 * the listed ones, or masks every lane before reading it. A masked policy often allows few of
 * its actions (AEC: 4 of 304), so this skips most of its largest layer. Without masks (`live`
 * is 0) it is a plain layer.
 */
INLINE void head_layer(const float *x, const int n_in, const int x_stride, float *y,
                       const int y_stride, const int n_out, __global const float *w,
                       const int *index, const int n_index, const int *live, const int n_live) {
    if (!live) {
        dense(x, n_in, x_stride, y, y_stride, n_out, w, ACT_NONE, index, n_index);
        return;
    }
    int i = 0;
    for (; i + 1 < n_live; i += 2) {
        dense_pair(x, n_in, x_stride, y, y_stride, n_out, w, index, n_index, live[i] * VW,
                   live[i + 1] * VW);
    }
    if (i < n_live) {
        const int j = live[i] * VW;
        dense_block1(x, n_in, x_stride, y + j, y_stride, n_out, w + j, index, n_index);
    }
}

/* Lists in `live` the vectors of N_LOGITS_PAD logits with an allowed action in some row of
 * the tile (rows past the batch repeat its last); returns how many. */
INLINE int allowed_vectors(__global const uchar *masks, const int first, const int batch,
                           int *live) {
    uchar any[N_LOGITS_PAD];
    for (int i = 0; i < N_LOGITS_PAD; ++i) any[i] = 0;
    for (int s = 0; s < TILE; ++s) {
        __global const uchar *row = masks + (first + s < batch ? first + s : batch - 1) * N_LOGITS;
        for (int i = 0; i < N_LOGITS; ++i) any[i] |= row[i];
    }
    int n_live = 0;
    for (int v = 0; v < N_LOGITS_PAD / VW; ++v) {
        uchar allowed = 0;
        for (int i = 0; i < VW; ++i) allowed |= any[v * VW + i];
        live[n_live] = v;
        n_live += allowed != 0;
    }
    return n_live;
}

__kernel void actor_critic(__global const float *restrict obs,
                           __global const float *restrict params,
                           __global const uchar *restrict masks,
                           __global const float *restrict uniforms,
                           __global int *restrict actions,
                           __global float *restrict log_prob,
                           __global float *restrict values,
                           __global float *restrict log_probs,
                           const int batch, const int use_masks, const int sample,
                           const int write_log_probs, const int with_values,
                           volatile __global int *restrict next_tile
#ifdef N_CODES
                           , __global const int *restrict codes
#endif
                           ) {
#ifdef N_CODES
    /* Coded input: obs holds the N_DENSE dense values of each sample, codes its N_CODES codes. */
    float x[TILE * (N_DENSE > 0 ? N_DENSE : 1)];
    int code[TILE * (N_CODES > 0 ? N_CODES : 1)];
#else
    float x[TILE * OBS_DIM] __attribute__((aligned(4 * VW)));
    int live_inputs[OBS_DIM];
#endif
    float a[TILE * MAX_WIDTH] __attribute__((aligned(4 * VW)));
    float b[TILE * MAX_WIDTH] __attribute__((aligned(4 * VW)));
    float logits[TILE * N_LOGITS_PAD] __attribute__((aligned(4 * VW)));
    float value[TILE * VW] __attribute__((aligned(4 * VW)));
    int head_live[N_LOGITS_PAD / VW];
    const int n_tiles = (batch + TILE - 1) / TILE;
    /* Tiles are handed out one at a time: the first by work-item id, the next to whichever
     * work-item finishes first (the host zeroes next_tile before each launch). A fixed split
     * would make every launch wait for the slowest core, and on a shared machine one core is
     * often busy with other work. */
    for (int tile = get_global_id(0); tile < n_tiles;
         tile = get_global_size(0) + atomic_inc(next_tile)) {
        const int first = tile * TILE;
        const int n_head_live = use_masks ? allowed_vectors(masks, first, batch, head_live) : 0;
        int *live = use_masks ? head_live : 0;
        /* The last tile repeats its final sample in the unused rows; they are never written. */
#ifdef N_CODES
        for (int s = 0; s < TILE; ++s) {
            const int row = first + s < batch ? first + s : batch - 1;
            for (int c = 0; c < N_CODES; ++c) code[s * N_CODES + c] = codes[row * N_CODES + c];
            for (int d = 0; d < N_DENSE; ++d) x[s * N_DENSE + d] = obs[row * N_DENSE + d];
        }
        NETWORK(x, 0, 0, a, b, logits, value, params, live, n_head_live, with_values);
#else
        for (int s = 0; s < TILE; ++s) {
            const int row = first + s < batch ? first + s : batch - 1;
            for (int k = 0; k < OBS_DIM; ++k) x[s * OBS_DIM + k] = obs[row * OBS_DIM + k];
        }
        /* One-hot encoded Discrete, MultiDiscrete and Dict observations are mostly zeros:
         * the observation layers skip the inputs that are zero in every row of the tile. */
        int n_live = 0;
        int k = 0;
#if OBS_DIM % VW == 0
        /* VW inputs at a time (the rows are whole vectors): where each is non-zero in some
         * row, as in dense observations, they are listed without a test per input. */
        for (; k < OBS_DIM; k += VW) {
            const VECI nonzero = (VECI)(0) FOR_TILE(NONZERO_VEC, k);
            if (HMIN(nonzero) == -1) {
                for (int i = 0; i < VW; ++i) live_inputs[n_live + i] = k + i;
                n_live += VW;
                continue;
            }
            for (int i = 0; i < VW; ++i) {
                live_inputs[n_live] = k + i;
                n_live += 0 FOR_TILE(NONZERO, k + i);
            }
        }
#endif
        for (; k < OBS_DIM; ++k) {
            /* Branch-free: dense observations would make a branch cost more than the store. */
            live_inputs[n_live] = k;
            n_live += 0 FOR_TILE(NONZERO, k);
        }
        /* Every input live (dense observations): the observation layers index the weights
         * directly, without loading each input's number from the list. */
        NETWORK(x, n_live < OBS_DIM ? live_inputs : 0, n_live, a, b, logits, value, params, live,
                n_head_live, with_values);
#endif
        for (int s = 0; s < TILE && first + s < batch; ++s) {
            const int row = first + s;
            choose(logits + s * N_LOGITS_PAD, use_masks ? masks + row * N_LOGITS : 0,
                   uniforms + row * N_HEADS, sample, actions + row * N_HEADS, log_prob + row,
                   write_log_probs ? log_probs + row * N_LOGITS : 0, live, n_head_live);
            if (with_values) values[row] = value[s * VW];
        }
    }
}

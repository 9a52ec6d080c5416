/*
 * The SIMT baseline: the same fused actor-critic pass written the usual OpenCL way, one
 * work-item per sample with scalar code, leaving vectorisation to the compiler (PoCL may
 * vectorise across the work-items of a work-group). It exists to measure what the explicit
 * layout of actor_critic.cl buys; the host builds it with VW = 1 and TILE = 1, so VEC is float.
 */

/* One sample's layer: y[0..n_out) = act(x W + b), W stored [n_in][n_out] then b. The plain
 * formulation runs over every input: `index` (inputs to skip zeros by) is ignored. */
INLINE void dense(const float *x, const int n_in, const int x_stride,
                  float *y, const int y_stride, const int n_out,
                  __global const float *w, const int act, const int *index, const int n_index) {
    for (int o = 0; o < n_out; ++o) {
        float acc = w[n_in * n_out + o];
        for (int k = 0; k < n_in; ++k) acc += x[k] * w[k * n_out + o];
        y[o] = activate(acc, act);
    }
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
                           const int write_log_probs, const int with_values) {
    const int row = get_global_id(0);
    if (row >= batch) return;
    float x[OBS_DIM];
    float a[MAX_WIDTH];
    float b[MAX_WIDTH];
    float logits[N_LOGITS_PAD];
    float value[1];
    for (int k = 0; k < OBS_DIM; ++k) x[k] = obs[row * OBS_DIM + k];
    NETWORK(x, 0, 0, a, b, logits, value, params, 0, 0, with_values);
    choose(logits, use_masks ? masks + row * N_LOGITS : 0, uniforms + row * N_HEADS, sample,
           actions + row * N_HEADS, log_prob + row, write_log_probs ? log_probs + row * N_LOGITS : 0,
           0, 0);
    if (with_values) values[row] = value[0];
}

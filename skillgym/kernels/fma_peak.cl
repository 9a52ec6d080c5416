/*
 * The device's multiply-add throughput: ACCUMULATORS independent chains x = x * a + b per
 * work-item, enough to cover the FMA latency on two pipes, few enough (12 float8) to stay in
 * AVX2's 16 vector registers. Plain operators only; the host defines VEC and ACCUMULATORS
 * and FOR_ACCUMULATORS(M), which expands to M(0) ... M(ACCUMULATORS - 1).
 */
#define DECLARE(i) VEC x##i = seed + (VEC)(i);
#define UPDATE(i) x##i = x##i * a + b;
#define SUM(i) total += x##i;

__kernel void fma_peak(__global float *out, const int iterations, const float a, const float b) {
    const VEC seed = (VEC)((float)get_global_id(0));
    FOR_ACCUMULATORS(DECLARE)
    for (int i = 0; i < iterations; ++i) {
        FOR_ACCUMULATORS(UPDATE)
    }
    VEC total = (VEC)(0.0f);
    FOR_ACCUMULATORS(SUM)
    /* One lane is enough to keep every chain live. */
    out[get_global_id(0)] = ((float *)&total)[0];
}

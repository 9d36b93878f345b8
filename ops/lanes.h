// lanes.h: the one lane-wise sum of the CPU ops (internal). Header-only and static inline so each
// op's AVX2 and portable builds vectorize it in place.
#ifndef TFT_OPS_LANES_H
#define TFT_OPS_LANES_H
#define TFT_LANES 8

// Σ x[0, n): TFT_LANES partial sums by position from x[0], then a fixed tree. The order depends
// only on n, so the same values give the same bits wherever they sit in memory.
static inline float tft_lane_sum(const float *x, int n) {
    float acc[TFT_LANES];
    for (int k = 0; k < TFT_LANES; k++)
        acc[k] = 0.0f;
    int c = 0;
    for (; c + TFT_LANES <= n; c += TFT_LANES)
        for (int k = 0; k < TFT_LANES; k++)
            acc[k] += x[c + k];
    for (int k = 0; c < n; c++, k++)
        acc[k] += x[c];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}
#endif

// resample.cu — kernels for resample.c. One thread per output element of each pass; backward
// passes gather over the outputs that read an input element (no atomics, deterministic).
#include "autograd/cuda_types.cuh"
#include "autograd/ops/resample_cuda.h"

// ---- pad2d ---------------------------------------------------------------------------------------
template <typename T>
__global__ void pad2d_kernel(const T *x, T *y, int64_t n, int64_t H, int64_t W, int64_t Ho, int64_t Wo, int64_t left,
                             int64_t top) {
    PT_GRID_STRIDE(i, n) {   // i over y (P, Ho, Wo)
        int64_t j = i % Wo, r = (i / Wo) % Ho, p = i / (Wo * Ho);
        int64_t h = r - top, w = j - left;
        y[i] = (h >= 0 && h < H && w >= 0 && w < W) ? x[(p * H + h) * W + w] : pt_cvt<T>(0.0f);
    }
}
template <typename T>
__global__ void pad2d_backward_kernel(const T *g, T *dx, int64_t n, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                      int64_t left, int64_t top) {
    PT_GRID_STRIDE(i, n) {   // i over dx (P, H, W)
        int64_t w = i % W, h = (i / W) % H, p = i / (W * H);
        dx[i] = g[(p * Ho + h + top) * Wo + w + left];
    }
}

extern "C" void pt_cuda_pad2d(const void *x, void *y, pt_dtype dt, int64_t P, int64_t H, int64_t W, int64_t left,
                              int64_t right, int64_t top, int64_t bottom) {
    int64_t Ho = H + top + bottom, Wo = W + left + right, n = P * Ho * Wo;
    if (n == 0) return;
    PT_DISPATCH_FLOAT(dt, pad2d_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>(
                              (const scalar_t *)x, (scalar_t *)y, n, H, W, Ho, Wo, left, top));
    CUDA_LAUNCH_CHECK();
}
extern "C" void pt_cuda_pad2d_backward(const void *g, void *dx, pt_dtype dt, int64_t P, int64_t H, int64_t W, int64_t left,
                                       int64_t right, int64_t top, int64_t bottom) {
    int64_t Ho = H + top + bottom, Wo = W + left + right, n = P * H * W;
    if (n == 0) return;
    PT_DISPATCH_FLOAT(dt, pad2d_backward_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>(
                              (const scalar_t *)g, (scalar_t *)dx, n, H, W, Ho, Wo, left, top));
    CUDA_LAUNCH_CHECK();
}

// ---- nearest 2x upsampling ---------------------------------------------------------------------------
template <typename T>
__global__ void upsample2x_kernel(const T *x, T *y, int64_t n, int64_t H, int64_t W) {
    PT_GRID_STRIDE(i, n) {   // i over y (P, 2H, 2W)
        int64_t j = i % (2 * W), r = (i / (2 * W)) % (2 * H), p = i / (4 * H * W);
        y[i] = x[(p * H + r / 2) * W + j / 2];
    }
}
template <typename T>
__global__ void upsample2x_backward_kernel(const T *g, T *dx, int64_t n, int64_t H, int64_t W) {
    PT_GRID_STRIDE(i, n) {   // i over dx (P, H, W): sum of the 2x2 block of g
        int64_t w = i % W, h = (i / W) % H, p = i / (W * H);
        const T *g0 = g + (p * 2 * H + 2 * h) * 2 * W + 2 * w;
        float acc = pt_ld<T>(g0, 0) + pt_ld<T>(g0, 1) + pt_ld<T>(g0, 2 * W) + pt_ld<T>(g0, 2 * W + 1);
        dx[i] = pt_cvt<T>(acc);
    }
}

extern "C" void pt_cuda_upsample2x(const void *x, void *y, pt_dtype dt, int64_t P, int64_t H, int64_t W) {
    int64_t n = P * 4 * H * W;
    if (n == 0) return;
    PT_DISPATCH_FLOAT(dt, upsample2x_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>(
                              (const scalar_t *)x, (scalar_t *)y, n, H, W));
    CUDA_LAUNCH_CHECK();
}
extern "C" void pt_cuda_upsample2x_backward(const void *g, void *dx, pt_dtype dt, int64_t P, int64_t H, int64_t W) {
    int64_t n = P * H * W;
    if (n == 0) return;
    PT_DISPATCH_FLOAT(dt, upsample2x_backward_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>(
                              (const scalar_t *)g, (scalar_t *)dx, n, H, W));
    CUDA_LAUNCH_CHECK();
}

// ---- max / avg pooling ---------------------------------------------------------------------------------
template <typename T>
__global__ void pool2d_kernel(const T *x, T *y, int32_t *idx, int64_t n, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                              int64_t k, int64_t s, int is_max) {
    PT_GRID_STRIDE(i, n) {   // i over y (P, Ho, Wo)
        int64_t wo = i % Wo, ho = (i / Wo) % Ho, p = i / (Wo * Ho);
        const T *xs = x + p * H * W;
        int64_t best = ho * s * W + wo * s;
        float acc = is_max ? pt_ld<T>(xs, best) : 0.0f;
        for (int64_t a = 0; a < k; a++)
            for (int64_t b = 0; b < k; b++) {
                int64_t q = (ho * s + a) * W + wo * s + b;
                float v = pt_ld<T>(xs, q);
                if (!is_max) acc += v;
                else if (v > acc || (isnan(v) && !isnan(acc))) { acc = v; best = q; }
            }
        y[i] = pt_cvt<T>(is_max ? acc : acc / (float)(k * k));
        if (is_max) idx[i] = (int32_t)best;
    }
}

// Input (h, w) lies in window (ho, wo) when ho*s <= h < ho*s + k, i.e.
// ho in [ceil((h - k + 1) / s), floor(h / s)] intersected with [0, Ho).
template <typename T>
__global__ void pool2d_backward_kernel(const T *g, const int32_t *idx, T *dx, int64_t n, int64_t H, int64_t W, int64_t Ho,
                                       int64_t Wo, int64_t k, int64_t s, int is_max) {
    PT_GRID_STRIDE(i, n) {   // i over dx (P, H, W)
        int64_t w = i % W, h = (i / W) % H, p = i / (W * H);
        int64_t ho0 = h - k + 1 <= 0 ? 0 : (h - k + 1 + s - 1) / s, ho1 = min(h / s, Ho - 1);
        int64_t wo0 = w - k + 1 <= 0 ? 0 : (w - k + 1 + s - 1) / s, wo1 = min(w / s, Wo - 1);
        int32_t self = (int32_t)(h * W + w);
        float acc = 0.0f;
        for (int64_t ho = ho0; ho <= ho1; ho++)
            for (int64_t wo = wo0; wo <= wo1; wo++) {
                int64_t o = (p * Ho + ho) * Wo + wo;
                if (!is_max) acc += pt_ld<T>(g, o);
                else if (idx[o] == self) acc += pt_ld<T>(g, o);
            }
        dx[i] = pt_cvt<T>(is_max ? acc : acc / (float)(k * k));
    }
}

extern "C" void pt_cuda_pool2d(const void *x, void *y, int32_t *idx, pt_dtype dt, int64_t P, int64_t H, int64_t W, int64_t k,
                               int64_t s, int is_max) {
    int64_t Ho = (H - k) / s + 1, Wo = (W - k) / s + 1, n = P * Ho * Wo;
    if (n == 0) return;
    PT_DISPATCH_FLOAT(dt, pool2d_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>(
                              (const scalar_t *)x, (scalar_t *)y, idx, n, H, W, Ho, Wo, k, s, is_max));
    CUDA_LAUNCH_CHECK();
}
extern "C" void pt_cuda_pool2d_backward(const void *g, const int32_t *idx, void *dx, pt_dtype dt, int64_t P, int64_t H,
                                        int64_t W, int64_t k, int64_t s, int is_max) {
    int64_t Ho = (H - k) / s + 1, Wo = (W - k) / s + 1, n = P * H * W;
    if (n == 0) return;
    PT_DISPATCH_FLOAT(dt, pool2d_backward_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>(
                              (const scalar_t *)g, idx, (scalar_t *)dx, n, H, W, Ho, Wo, k, s, is_max));
    CUDA_LAUNCH_CHECK();
}

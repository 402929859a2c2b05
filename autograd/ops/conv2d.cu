// conv2d.cu — im2col and col2im (gather form) kernels for conv2d.c. One thread per element.
#include "autograd/cuda_types.cuh"
#include "autograd/ops/conv2d_cuda.h"

// col (nb, CKK, L): i = (b * CKK + r) * L + l,  r = (c * kh + ki) * kw + kj,  l = ho * Wo + wo.
template <typename T>
__global__ void im2col_kernel(const T *x, T *col, int64_t n, pt_conv_geom g) {
    const int64_t L = g.Ho * g.Wo, CKK = g.C * g.kh * g.kw;
    PT_GRID_STRIDE(i, n) {
        int64_t l = i % L, r = (i / L) % CKK, b = i / (L * CKK);
        int64_t wo = l % g.Wo, ho = l / g.Wo;
        int64_t kj = r % g.kw, ki = (r / g.kw) % g.kh, c = r / (g.kw * g.kh);
        int64_t hi = ho * g.stride - g.pad + ki, wi = wo * g.stride - g.pad + kj;
        T v = pt_cvt<T>(0.0f);
        if (hi >= 0 && hi < g.H && wi >= 0 && wi < g.W) v = x[((b * g.C + c) * g.H + hi) * g.W + wi];
        col[i] = v;
    }
}

// dx (nb, C, H, W): input (h, w) is read by tap (ki, kj) of output (ho, wo) when
// h + pad = ho * stride + ki (and likewise for w), 0 <= ho < Ho.
template <typename T>
__global__ void col2im_kernel(const T *dcol, T *dx, int64_t n, pt_conv_geom g) {
    const int64_t L = g.Ho * g.Wo, CKK = g.C * g.kh * g.kw;
    PT_GRID_STRIDE(i, n) {
        int64_t w = i % g.W, h = (i / g.W) % g.H, c = (i / (g.W * g.H)) % g.C, b = i / (g.W * g.H * g.C);
        const T *dc = dcol + b * CKK * L;
        float acc = 0.0f;
        for (int64_t ki = 0; ki < g.kh; ki++) {
            int64_t th = h + g.pad - ki;
            if (th < 0 || th % g.stride != 0) continue;
            int64_t ho = th / g.stride;
            if (ho >= g.Ho) continue;
            for (int64_t kj = 0; kj < g.kw; kj++) {
                int64_t tw = w + g.pad - kj;
                if (tw < 0 || tw % g.stride != 0) continue;
                int64_t wo = tw / g.stride;
                if (wo >= g.Wo) continue;
                acc += pt_ld<T>(dc, ((c * g.kh + ki) * g.kw + kj) * L + ho * g.Wo + wo);
            }
        }
        dx[i] = pt_cvt<T>(acc);
    }
}

extern "C" void pt_cuda_im2col(const void *x, void *col, pt_dtype dt, int64_t nb, const pt_conv_geom *g) {
    int64_t n = nb * g->C * g->kh * g->kw * g->Ho * g->Wo;
    if (n == 0) return;
    PT_DISPATCH_FLOAT(dt, im2col_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>(
                              (const scalar_t *)x, (scalar_t *)col, n, *g));
    CUDA_LAUNCH_CHECK();
}

extern "C" void pt_cuda_col2im(const void *dcol, void *dx, pt_dtype dt, int64_t nb, const pt_conv_geom *g) {
    int64_t n = nb * g->C * g->H * g->W;
    if (n == 0) return;
    PT_DISPATCH_FLOAT(dt, col2im_kernel<scalar_t><<<pt_grid_1d(n, 256), 256, 0, pt_cuda()->stream>>>(
                              (const scalar_t *)dcol, (scalar_t *)dx, n, *g));
    CUDA_LAUNCH_CHECK();
}

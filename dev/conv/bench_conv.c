// bench_conv.c — timing harness for the CUDA conv2d / linear paths at SD1.5 shapes (not part of
// the build or of the tests). Forward and forward+backward time per call, and the rate in TFLOP/s
// counting 2*B*O*C*kh*kw*Ho*Wo per pass (backward = 2 passes).
// Build on a GPU machine from the repository root (see dev/conv/build.sh) and run:
//   dev/conv/build.sh && /tmp/opsmm_bench/bench_conv [batch]
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "autograd/cuda_common.h"
#include "autograd/ops.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

// Mean seconds of fn over reps after 2 warm-ups (synchronised).
typedef void (*bench_fn)(void *ctx);
static double timeit(bench_fn fn, void *ctx, int reps) {
    for (int i = 0; i < 2; i++) fn(ctx);
    pt_cuda_sync();
    double t0 = now();
    for (int i = 0; i < reps; i++) fn(ctx);
    pt_cuda_sync();
    return (now() - t0) / reps;
}

typedef struct conv_bench { pt_tensor *x, *w, *b; int stride, pad, backward; } conv_bench;
static void run_conv(void *vc) {
    conv_bench *c = vc;
    int mark = pt_scope_begin();
    pt_tensor *y = pt_conv2d(c->x, c->w, c->b, c->stride, c->pad);
    if (c->backward) pt_backward(y, pt_full(PT_CUDA, y->dtype, y->ndim, y->shape, 1.0f));
    pt_scope_end(mark, NULL);
    pt_tensor *leaves[3] = {c->x, c->w, c->b};   // drop the gradients: no accumulation across calls
    for (int k = 0; k < 3; k++) if (leaves[k]->grad) { pt_release(leaves[k]->grad); leaves[k]->grad = NULL; }
}

static void bench_conv(const char *name, int64_t B, int64_t C, int64_t H, int64_t O, int64_t k, int stride, int pad, pt_dtype dt) {
    int mark = pt_scope_begin();
    pt_rng rng;
    pt_rng_init(&rng, 1);
    conv_bench c = {pt_randn(PT_CUDA, dt, PT_DIMS(B, C, H, H), &rng), pt_randn(PT_CUDA, dt, PT_DIMS(O, C, k, k), &rng),
                    pt_randn(PT_CUDA, dt, PT_DIMS(O), &rng), stride, pad, 0};
    c.x->requires_grad = c.w->requires_grad = c.b->requires_grad = 1;
    int64_t Ho = (H + 2 * pad - k) / stride + 1;
    double flop = 2.0 * B * O * C * k * k * Ho * Ho;
    double tf;
    PT_NO_GRAD_BEGIN
    tf = timeit(run_conv, &c, 10);
    PT_NO_GRAD_END
    c.backward = 1;
    double tb = timeit(run_conv, &c, 10);
    printf("%-34s %-4s fwd %8.3f ms (%6.1f TFLOP/s)  fwd+bwd %8.3f ms (%6.1f TFLOP/s)\n", name, pt_dtype_name(dt), tf * 1e3,
           flop / tf * 1e-12, tb * 1e3, 3 * flop / tb * 1e-12);
    pt_scope_end(mark, NULL);
}

int main(int argc, char **argv) {
    int64_t B = argc > 1 ? atoll(argv[1]) : 4;
    const pt_dtype dts[] = {PT_BF16, PT_F32};
    for (int d = 0; d < 2; d++) {
        pt_dtype dt = dts[d];
        bench_conv("conv 3x3 320ch 64x64", B, 320, 64, 320, 3, 1, 1, dt);
        bench_conv("conv 3x3 640ch 32x32", B, 640, 32, 640, 3, 1, 1, dt);
        bench_conv("conv 3x3 1280ch 16x16", B, 1280, 16, 1280, 3, 1, 1, dt);
        bench_conv("conv 3x3 1280ch 8x8", B, 1280, 8, 1280, 3, 1, 1, dt);
        bench_conv("conv 3x3 s2 320ch 64->32", B, 320, 64, 320, 3, 2, 1, dt);
        bench_conv("conv 1x1 320->640 32x32", B, 320, 32, 640, 1, 1, 0, dt);
    }
    return 0;
}

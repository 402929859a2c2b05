// cmd_bench.c — posetune bench: the workloads of ../shared/BASELINE.md on SD1.5-size models with
// random weights (bf16 compute, fp32 master weights, AdamW), timed after warm-up (median of N).
//
// Rows: UNet train step at batch 1/4/8/16 on 64x64 latents, batch 16 with activation
// checkpointing, batch 4 at 96x96, batch 16 at 32x32; UNet inference step at batch 1 and 3;
// VAE decoder train step at batch 1 and 4 at 512x512. Each row: ms, img/s, TFLOP/s, MFU against
// the bf16 GEMM peak measured on the same card, peak memory.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/ops.h"
#include "models/unet.h"
#include "models/vae.h"
#include "tools/check.h"
#include "tools/cli.h"
#include "trainer/optim.h"

#ifdef POSETUNE_HAVE_CUDA
#include "autograd/cuda_common.h"
#endif

typedef struct bench_ctx {
    pt_device dev;
    pt_dtype dt;
    int iters, warmup, json;
    const char *only;
    double peak_tflops;
    int tiny;   // narrow models and 1/4-size inputs: a quick CPU run of the same code paths
} bench_ctx;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
static void dev_sync(pt_device d) {
#ifdef POSETUNE_HAVE_CUDA
    if (d == PT_CUDA) pt_cuda_sync();
#else
    (void)d;
#endif
}
static size_t peak_bytes(pt_device d) {
#ifdef POSETUNE_HAVE_CUDA
    if (d == PT_CUDA) return pt_cuda_peak_bytes();
#endif
    return pt_host_peak_bytes();
}
static void reset_peak(pt_device d) {
#ifdef POSETUNE_HAVE_CUDA
    if (d == PT_CUDA) { pt_cuda_reset_peak(); return; }
#endif
    (void)d;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// Times fn (median over iters after warmup) and prints one row.
typedef void (*bench_fn)(void *state);
static void run_row(bench_ctx *b, const char *name_in, bench_fn fn, void *state, int images, double gflop_per_image) {
    if (b->only && !strstr(name_in, b->only)) return;
    char name[128];
    snprintf(name, sizeof name, "%s%s", name_in, b->tiny ? " (tiny)" : "");
    if (b->tiny) gflop_per_image = 0;   // the FLOP counts are SD1.5's
    for (int i = 0; i < b->warmup; i++) fn(state);
    dev_sync(b->dev);
    reset_peak(b->dev);
    double *ms = pt_malloc(sizeof(double) * (size_t)b->iters);
    for (int i = 0; i < b->iters; i++) {
        double t0 = now_ms();
        fn(state);
        dev_sync(b->dev);
        ms[i] = now_ms() - t0;
    }
    qsort(ms, (size_t)b->iters, sizeof(double), cmp_d);
    double med = ms[b->iters / 2];
    double tflops = gflop_per_image * images / med;   // GFLOP / ms = TFLOP/s
    double mfu = b->peak_tflops > 0 ? tflops / b->peak_tflops : 0;
    double mem = peak_bytes(b->dev) / 1073741824.0;
    if (b->json)
        printf("{\"row\": \"%s\", \"ms\": %.3f, \"img_per_s\": %.2f, \"tflops\": %.2f, \"mfu\": %.4f, \"peak_gib\": %.2f}\n",
               name, med, images * 1000.0 / med, tflops, mfu, mem);
    else
        printf("%-44s %9.2f ms %9.2f img/s %8.1f TFLOP/s %6.1f%% MFU %7.2f GiB\n", name, med, images * 1000.0 / med, tflops,
               100 * mfu, mem);
    fflush(stdout);
    free(ms);
}

// ---- UNet train / inference --------------------------------------------------------------------
typedef struct unet_state {
    pt_unet u;
    pt_params P;
    pt_adamw opt;
    float *master;
    pt_tensor *x, *t, *ctx, *target;
    int train, checkpoint;
    pt_device dev;
} unet_state;

static void unet_step(void *s_) {
    unet_state *s = s_;
    int mark = pt_scope_begin();
    if (s->train) {
        pt_params_zero_grad(&s->P);
        pt_unet_hooks h = {0};
        h.checkpoint = s->checkpoint;
        pt_tensor *y = pt_unet_forward(&s->u, s->x, s->t, s->ctx, &h);
        pt_backward(pt_mse_loss(y, s->target, NULL), NULL);
#ifdef POSETUNE_HAVE_CUDA
        if (s->dev == PT_CUDA)
            pt_adamw_step_cuda(&s->opt, s->master, s->P.grad, 1e-5, s->P.dtype == PT_BF16 ? (uint16_t *)s->P.data : NULL);
#endif
        if (s->dev == PT_CPU) pt_adamw_step(&s->opt, s->master, s->P.grad, 1e-5);
    } else {
        PT_NO_GRAD_BEGIN
        pt_unet_forward(&s->u, s->x, s->t, s->ctx, NULL);
        PT_NO_GRAD_END
    }
    pt_scope_end(mark, NULL);
}

static void unet_setup(unet_state *s, bench_ctx *b, int train) {
    memset(s, 0, sizeof *s);
    s->dev = b->dev;
    s->train = train;
    pt_unet_config c;
    pt_unet_config_sd15(&c);
    if (b->tiny) {   // SD1.5's block layout at small widths
        static const int ch[4] = {32, 64, 64, 64};
        for (int i = 0; i < c.n_blocks; i++) { c.block_out_channels[i] = ch[i]; c.layers_per_block[i] = 1; c.heads[i] = 2; }
        c.cross_attention_dim = 32;
        c.norm_num_groups = 8;
        c.time_embed_dim = 4 * ch[0];
    }
    pt_params_init(&s->P, b->dev, b->dt);
    pt_unet_init(&s->u, &c, &s->P, "");
    if (!train) pt_params_set_trainable(&s->P, "", 0);
    pt_params_finalize(&s->P);
    pt_params_init_random(&s->P, 1234);
    if (train) {
        pt_params_alloc_grad(&s->P);
        pt_adamw_config oc = pt_adamw_config_default();
        int64_t n = s->P.numel_trainable;
#ifdef POSETUNE_HAVE_CUDA
        if (b->dev == PT_CUDA) {
            pt_adamw_init_cuda(&s->opt, &oc, n, NULL, 0);
            s->master = pt_cuda_alloc(sizeof(float) * (size_t)n);
            int mark = pt_scope_begin();
            pt_copy_(pt_wrap(PT_CUDA, PT_F32, 1, (int64_t[]){n}, s->master), pt_wrap(PT_CUDA, b->dt, 1, (int64_t[]){n}, s->P.data));
            pt_scope_end(mark, NULL);
        }
#endif
        if (b->dev == PT_CPU) { pt_adamw_init(&s->opt, &oc, n, NULL, 0); s->master = s->P.data; }
    }
}

static void unet_inputs(unet_state *s, bench_ctx *b, int B, int hw) {
    if (b->tiny) hw /= 4;
    int ctx_dim = b->tiny ? 32 : 768;
    pt_rng r;
    pt_rng_init(&r, 7);
    if (s->x) { pt_release(s->x); pt_release(s->t); pt_release(s->ctx); if (s->target) pt_release(s->target); }
    s->x = pt_own(pt_randn(b->dev, b->dt, PT_DIMS(B, 4, hw, hw), &r));
    s->target = pt_own(pt_randn(b->dev, b->dt, PT_DIMS(B, 4, hw, hw), &r));
    s->ctx = pt_own(pt_randn(b->dev, b->dt, PT_DIMS(B, 77, ctx_dim), &r));
    int64_t *ts = pt_malloc(sizeof(int64_t) * (size_t)B);
    for (int i = 0; i < B; i++) ts[i] = 999 - 37 * i;
    s->t = pt_own(pt_from_i64(b->dev, 1, (int64_t[]){B}, ts));
    free(ts);
}

// SD1.5 UNet forward GFLOP per image (BASELINE.md, PyTorch FLOP counter) at 64x64, scaled by area
// for other sizes (attention grows faster than area: an underestimate at 96x96, overestimate at 32x32).
static double unet_gflop(int hw, int train) { return 803.3 * (hw * hw) / 4096.0 * (train ? 3.0 : 1.0); }

// ---- VAE decoder train ----------------------------------------------------------------------------
typedef struct vae_state {
    pt_vae v;
    pt_params P;
    pt_adamw opt;
    float *master;
    pt_tensor *z, *target;
    pt_device dev;
} vae_state;

static void vae_step(void *s_) {
    vae_state *s = s_;
    int mark = pt_scope_begin();
    pt_params_zero_grad(&s->P);
    pt_tensor *y = pt_vae_decode(&s->v, s->z);
    pt_backward(pt_mse_loss(y, s->target, NULL), NULL);
#ifdef POSETUNE_HAVE_CUDA
    if (s->dev == PT_CUDA)
        pt_adamw_step_cuda(&s->opt, s->master, s->P.grad, 5e-5, s->P.dtype == PT_BF16 ? (uint16_t *)s->P.data : NULL);
#endif
    if (s->dev == PT_CPU) pt_adamw_step(&s->opt, s->master, s->P.grad, 5e-5);
    pt_scope_end(mark, NULL);
}

int pt_cmd_bench(int argc, char **argv) {
    const char *device = "cuda", *only = NULL, *size = NULL;
    int json = 0, iters = 10, warmup = 3;
    pt_flag flags[] = {
        {"device", PT_FLAG_STR, &device, "cuda (default) or cpu", "DEV"},
        {"json", PT_FLAG_BOOL, &json, "one JSON line per row", NULL},
        {"iters", PT_FLAG_INT, &iters, "timed iterations per row (median; default 10)", "N"},
        {"warmup", PT_FLAG_INT, &warmup, "warm-up iterations per row (default 3)", "N"},
        {"only", PT_FLAG_STR, &only, "run only rows whose name contains this text", "TEXT"},
        {"size", PT_FLAG_STR, &size, "sd15 (the baseline's models and inputs; default on cuda) or tiny (narrow models, 1/4-size "
                                     "inputs: a quick run of the same code; default on cpu)", "SIZE"},
    };
    pt_cli_spec spec = {"bench", "[--device cuda|cpu] [--size sd15|tiny] [--json] [--only TEXT]",
                        "Times the workloads of ../shared/BASELINE.md on SD1.5-size random weights: UNet train "
                        "steps (bf16 compute, fp32 master weights, AdamW), UNet inference steps, VAE decoder train steps.",
                        flags, (int)(sizeof flags / sizeof flags[0]), 0, 0};
    const char *pos[1];
    int np = 0;
    if (pt_cli_parse(&spec, argc, argv, pos, &np)) return 0;
    bench_ctx b = {PT_CPU, PT_F32, iters < 1 ? 1 : iters, warmup < 0 ? 0 : warmup, json, only, 0, 0};
    if (strcmp(device, "cuda") == 0) {
#ifdef POSETUNE_HAVE_CUDA
        b.dev = PT_CUDA;
        b.dt = PT_BF16;
#else
        PT_USAGE("bench: --device cuda, but this posetune was built without CUDA");
#endif
    } else if (strcmp(device, "cpu") != 0) PT_USAGE("bench: --device expects cuda or cpu, got '%s'", device);
    if (!size) b.tiny = b.dev == PT_CPU;
    else if (strcmp(size, "tiny") == 0) b.tiny = 1;
    else if (strcmp(size, "sd15") != 0) PT_USAGE("bench: --size expects sd15 or tiny, got '%s'", size);

    // bf16 GEMM peak of this card: 8192^3 through the same matmul op.
    if (b.dev == PT_CUDA) {
        int mark = pt_scope_begin();
        pt_rng r;
        pt_rng_init(&r, 1);
        pt_tensor *A = pt_randn(PT_CUDA, PT_BF16, PT_DIMS(8192, 8192), &r), *Bm = pt_randn(PT_CUDA, PT_BF16, PT_DIMS(8192, 8192), &r);
        double ms = 0;
        PT_NO_GRAD_BEGIN
        for (int i = 0; i < 3; i++) { int m2 = pt_scope_begin(); pt_matmul(A, Bm); pt_scope_end(m2, NULL); }
        dev_sync(b.dev);
        double t0 = now_ms();
        for (int i = 0; i < 10; i++) { int m2 = pt_scope_begin(); pt_matmul(A, Bm); pt_scope_end(m2, NULL); }
        dev_sync(b.dev);
        ms = (now_ms() - t0) / 10;
        PT_NO_GRAD_END
        b.peak_tflops = 2.0 * 8192.0 * 8192.0 * 8192.0 / (ms * 1e9);
        pt_scope_end(mark, NULL);
        if (!json) printf("bf16 GEMM peak (8192^3 through pt_matmul): %.1f TFLOP/s\n", b.peak_tflops);
    }
    if (!json) printf("%-44s %12s %15s %16s %10s %11s\n", "workload", "time", "rate", "compute", "MFU", "peak mem");

    unet_state us;
    unet_setup(&us, &b, 1);
    static const int batches[] = {1, 4, 8, 16};
    for (int i = 0; i < 4; i++) {
        char name[96];
        snprintf(name, sizeof name, "unet train b%d 64x64", batches[i]);
        if (b.only && !strstr(name, b.only)) continue;
        unet_inputs(&us, &b, batches[i], 64);
        run_row(&b, name, unet_step, &us, batches[i], unet_gflop(64, 1));
    }
    if (!b.only || strstr("unet train b16 64x64 ckpt", b.only)) {
        unet_inputs(&us, &b, 16, 64);
        us.checkpoint = 1;
        run_row(&b, "unet train b16 64x64 ckpt", unet_step, &us, 16, unet_gflop(64, 1));
        us.checkpoint = 0;
    }
    if (!b.only || strstr("unet train b4 96x96", b.only)) {
        unet_inputs(&us, &b, 4, 96);
        run_row(&b, "unet train b4 96x96", unet_step, &us, 4, unet_gflop(96, 1));
    }
    if (!b.only || strstr("unet train b16 32x32", b.only)) {
        unet_inputs(&us, &b, 16, 32);
        run_row(&b, "unet train b16 32x32", unet_step, &us, 16, unet_gflop(32, 1));
    }
    us.train = 0;
    for (int B = 1; B <= 3; B += 2) {
        char name[96];
        snprintf(name, sizeof name, "unet inference b%d 64x64", B);
        if (b.only && !strstr(name, b.only)) continue;
        unet_inputs(&us, &b, B, 64);
        run_row(&b, name, unet_step, &us, B, unet_gflop(64, 0));
    }

    vae_state vs;
    memset(&vs, 0, sizeof vs);
    vs.dev = b.dev;
    if (!b.only || strstr("vae decoder", b.only)) {
        pt_vae_config vc;
        pt_vae_config_sd(&vc);
        if (b.tiny) {
            static const int ch[4] = {16, 32, 32, 32};
            for (int i = 0; i < vc.n_blocks; i++) vc.block_out_channels[i] = ch[i];
            vc.layers_per_block = 1;
            vc.norm_num_groups = 8;
        }
        pt_params_init(&vs.P, b.dev, b.dt);
        pt_vae_init(&vs.v, &vc, &vs.P, "");
        pt_params_set_trainable(&vs.P, "", 0);
        pt_params_set_trainable(&vs.P, "decoder.", 1);
        pt_params_finalize(&vs.P);
        pt_params_init_random(&vs.P, 99);
        pt_params_alloc_grad(&vs.P);
        pt_adamw_config oc = pt_adamw_config_default();
        int64_t n = vs.P.numel_trainable;
#ifdef POSETUNE_HAVE_CUDA
        if (b.dev == PT_CUDA) {
            pt_adamw_init_cuda(&vs.opt, &oc, n, NULL, 0);
            vs.master = pt_cuda_alloc(sizeof(float) * (size_t)n);
            int mark = pt_scope_begin();
            pt_copy_(pt_wrap(PT_CUDA, PT_F32, 1, (int64_t[]){n}, vs.master), pt_wrap(PT_CUDA, b.dt, 1, (int64_t[]){n}, vs.P.data));
            pt_scope_end(mark, NULL);
        }
#endif
        if (b.dev == PT_CPU) { pt_adamw_init(&vs.opt, &oc, n, NULL, 0); vs.master = vs.P.data; }
        for (int B = 1; B <= 4; B += 3) {
            pt_rng r;
            pt_rng_init(&r, 3);
            int mark = pt_scope_begin();
            int zhw = b.tiny ? 16 : 64;
            vs.z = pt_randn(b.dev, b.dt, PT_DIMS(B, 4, zhw, zhw), &r);
            vs.target = pt_randn(b.dev, b.dt, PT_DIMS(B, 3, 8 * zhw, 8 * zhw), &r);
            char name[96];
            snprintf(name, sizeof name, "vae decoder train b%d 512x512", B);
            run_row(&b, name, vae_step, &vs, B, 7500.0);
            pt_scope_end(mark, NULL);
        }
    }
    return 0;
}

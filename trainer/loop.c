// loop.c — the shared training loop (see loop.h).
#include "trainer/loop.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "autograd/ops.h"
#include "autograd/rng.h"
#include "tools/check.h"
#include "tools/json.h"
#include "trainer/ckpt.h"
#include "trainer/dist.h"
#include "trainer/dist_buckets.h"
#include "trainer/zero1.h"
#include "trainer/lr_schedule.h"

#ifdef POSETUNE_HAVE_CUDA
#include "autograd/cuda_common.h"
#include "autograd/tensor_cuda.h"
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

uint64_t pt_trainer_sample_seed(const pt_trainer *t, const pt_sample *s, const char *purpose) {
    // position in the global order of the epoch: rank r holds positions r, r+W, r+2W, ...
    uint64_t global = (uint64_t)s->cursor * (uint64_t)t->world + (uint64_t)t->rank;
    uint64_t key = ((uint64_t)s->epoch << 40) ^ global;
    return pt_rng_derive((uint64_t)t->cfg->train.seed ^ key * 0x9E3779B97F4A7C15ull, purpose, 0);
}

// ---- state <-> JSON -------------------------------------------------------------------------
static char *state_json(pt_trainer *t) {
    pt_sampler_state st = pt_loader_get_state(t->loader);
    int64_t mine[3] = {(int64_t)st.seed, st.epoch, st.cursor};
    int64_t *all = pt_malloc(sizeof(int64_t) * 3 * (size_t)t->world);
    pt_dist_allgather_i64(mine, 3, all);
    size_t cap = 256 + 96 * (size_t)t->world, k = 0;
    char *s = pt_malloc(cap);
    k += (size_t)snprintf(s + k, cap - k, "{\"step\": %lld, \"samples_seen\": %lld, \"world\": %d, \"sampler\": [",
                          (long long)t->step, (long long)t->samples_seen, t->world);
    for (int r = 0; r < t->world; r++)
        k += (size_t)snprintf(s + k, cap - k, "%s[\"%llu\", %lld, %lld]", r ? ", " : "", (unsigned long long)all[3 * r],
                              (long long)all[3 * r + 1], (long long)all[3 * r + 2]);
    snprintf(s + k, cap - k, "]}");
    free(all);
    return s;
}

static void restore_state(pt_trainer *t, const char *json, const char *path, pt_sampler_state *st) {
    pt_json *j = pt_json_parse(json, strlen(json), path);
    t->step = (int64_t)pt_json_num(j, "step", 0);
    t->samples_seen = (int64_t)pt_json_num(j, "samples_seen", 0);
    int world = pt_json_int(j, "world", 1);
    if (world != t->world)
        PT_USAGE("%s: checkpoint was written by %d ranks, this run has %d: resume with the same world size "
                 "(the data order and RNG streams depend on it)", path, world, t->world);
    const pt_json *smp = pt_json_get(j, "sampler");
    if (!smp || smp->type != PT_JSON_ARR || smp->n != world) PT_USAGE("%s: posetune.state has no sampler array of %d", path, world);
    const pt_json *mine = &smp->items[t->rank];
    if (mine->type != PT_JSON_ARR || mine->n != 3) PT_USAGE("%s: malformed sampler state", path);
    st->seed = strtoull(mine->items[0].str ? mine->items[0].str : "0", NULL, 10);
    st->epoch = (int64_t)mine->items[1].num;
    st->cursor = (int64_t)mine->items[2].num;
    pt_json_free(j);
}

// ---- set-up -------------------------------------------------------------------------------------
void pt_trainer_init(pt_trainer *t, const pt_config *cfg, pt_params *P, const pt_loader_config *lc) {
    memset(t, 0, sizeof *t);
    t->cfg = cfg;
    t->P = P;
    t->device = P->device;
    pt_dist *d = pt_dist_get();
    t->rank = d->rank;
    t->world = d->world;
    t->out_dir = pt_strdup(cfg->train.out_dir);
    size_t n = strlen(t->out_dir) + 32;
    t->ckpt_dir = pt_malloc(n);
    snprintf(t->ckpt_dir, n, "%s/checkpoints", t->out_dir);
    if (t->rank == 0) {
        pt_mkdirs(t->out_dir);
        pt_mkdirs(t->ckpt_dir);
        int n_tmp = pt_ckpt_clean_temporaries(t->ckpt_dir);
        if (n_tmp) fprintf(stderr, "posetune: removed %d temporary file(s) left by an interrupted checkpoint write\n", n_tmp);
    }
    pt_dist_barrier();

    if (cfg->train.precision == PT_CFG_PREC_FP16 || P->dtype == PT_F16)
        PT_USAGE("config key 'train.precision': fp16 is for inference (posetune render); train with bf16 (no loss scaling is implemented)");
    pt_params_alloc_grad(P);
    int64_t nt = P->numel_trainable;
    PT_CHECKF(nt > 0, "nothing to train: every parameter is frozen");
    pt_adamw_config oc = {cfg->train.adam_beta1, cfg->train.adam_beta2, cfg->train.adam_eps, cfg->train.weight_decay};
    if (cfg->train.zero1) {   // sharded master/m/v instead of t->opt (resumed below)
        if (cfg->train.ema_decay > 0) PT_USAGE("train.zero1 with train.ema_decay > 0 is not supported yet: turn one of them off");
        t->zero1 = pt_zero1_create(P, &oc, NULL, 0);
    }
    if (t->device == PT_CPU) {
        PT_CHECKF(P->dtype == PT_F32, "CPU training needs f32 parameters");
        if (!t->zero1) pt_adamw_init(&t->opt, &oc, nt, NULL, 0);
        t->master = P->data;   // the parameters are the master weights
    } else {
#ifdef POSETUNE_HAVE_CUDA
        if (!t->zero1) pt_adamw_init_cuda(&t->opt, &oc, nt, NULL, 0);
        if (P->dtype == PT_F32) t->master = P->data;
        else if (!t->zero1) {
            t->master = pt_cuda_alloc(sizeof(float) * (size_t)nt);
            int mark = pt_scope_begin();
            pt_tensor *src = pt_wrap(PT_CUDA, P->dtype, 1, (int64_t[]){nt}, P->data);
            pt_tensor *dst = pt_wrap(PT_CUDA, PT_F32, 1, (int64_t[]){nt}, t->master);
            pt_copy_(dst, src);
            pt_scope_end(mark, NULL);
        }
#endif
    }
    // resume
    pt_sampler_state st = {lc->sampler.seed, 0, 0}, *resume = NULL;
    const char *r = cfg->train.resume;
    char *path = NULL;
    if (strcmp(r, "auto") == 0) path = pt_ckpt_latest(t->ckpt_dir);
    else if (strcmp(r, "never") != 0 && r[0]) path = pt_strdup(r);
    if (path) {
        // weights into the compute parameters, moments into the optimizer
        pt_weights *w = pt_ckpt_load(path, P, t->zero1 ? NULL : &t->opt, NULL);
        const char *sj = pt_weights_meta(w, "posetune.state");
        restore_state(t, sj ? sj : "{}", path, &st);
        resume = &st;
        if (t->zero1) pt_zero1_load(t->zero1, path);   // this rank's <ckpt>.rank<R>.safetensors
        if (t->master && t->master != P->data) {
#ifdef POSETUNE_HAVE_CUDA
            // master = exact f32 values from the checkpoint (not the rounded compute copy)
            float *tmp = pt_malloc(sizeof(float) * (size_t)nt);
            for (int i = 0; i < P->n; i++) {
                if (!P->e[i].trainable) continue;
                char nm[600];
                snprintf(nm, sizeof nm, "model.%s", P->e[i].name);
                pt_weights_read_f32(pt_weights_get(w, nm), tmp + P->e[i].offset);
            }
            pt_cuda_memcpy_h2d(t->master, tmp, sizeof(float) * (size_t)nt);
            free(tmp);
#endif
        }
        pt_weights_free(w);
        if (t->rank == 0) fprintf(stderr, "posetune: resumed from %s at step %lld\n", path, (long long)t->step);
        free(path);
    }
    if (cfg->train.ema_decay > 0) {
        size_t bytes = sizeof(float) * (size_t)nt;
        if (t->device == PT_CPU) { t->ema = pt_malloc(bytes); memcpy(t->ema, t->master, bytes); }
#ifdef POSETUNE_HAVE_CUDA
        else { t->ema = pt_cuda_alloc(bytes); CUDA_CHECK(cudaMemcpyAsync(t->ema, t->master, bytes, cudaMemcpyDeviceToDevice, pt_cuda()->stream)); }
#endif
    }
    size_t bucket_bytes = pt_dist_buckets_default_bytes();   // POSETUNE_BUCKET_MB=0: one all-reduce after backward
    if (t->world > 1 && !t->zero1 && bucket_bytes) t->buckets = pt_dist_buckets_create(P, bucket_bytes, NULL);
    t->loader_cfg = *lc;
#ifdef POSETUNE_HAVE_CUDA
    // Batches land in pinned host memory so their upload to the GPU is a fast DMA.
    if (t->device == PT_CUDA && !t->loader_cfg.alloc) {
        t->loader_cfg.alloc = pt_cuda_host_alloc;
        t->loader_cfg.release = pt_cuda_host_free;
    }
#endif
    t->loader = pt_loader_create(&t->loader_cfg, resume);
    if (t->rank == 0) {
        char mp[4096];
        snprintf(mp, sizeof mp, "%s/metrics.jsonl", t->out_dir);
        t->metrics = fopen(mp, resume ? "a" : "w");
        if (!t->metrics) PT_RUNTIME("cannot open '%s' for writing", mp);
        char cp[4096];
        snprintf(cp, sizeof cp, "%s/config.yaml", t->out_dir);
        pt_config_save(cfg, cp);
    }
}

void pt_trainer_free(pt_trainer *t) {
    if (t->loader) pt_loader_free(t->loader);
    if (t->metrics && fclose(t->metrics) != 0)   // buffered metric lines are written here
        PT_RUNTIME("write error on '%s/metrics.jsonl': %s", t->out_dir, strerror(errno));
    if (t->device == PT_CPU) { free(t->ema); }
#ifdef POSETUNE_HAVE_CUDA
    else {
        if (t->master && t->master != t->P->data) pt_cuda_free(t->master, sizeof(float) * (size_t)t->opt.n);
        if (t->ema) pt_cuda_free(t->ema, sizeof(float) * (size_t)t->opt.n);
    }
#endif
    pt_adamw_free(&t->opt);
    pt_dist_buckets_free(t->buckets);
    pt_zero1_free(t->zero1);
    free(t->out_dir); free(t->ckpt_dir);
    memset(t, 0, sizeof *t);
}

// ---- checkpoints --------------------------------------------------------------------------------
void pt_trainer_save(pt_trainer *t, const pt_regime_ops *ops) {
    char *sj = state_json(t);   // collective: every rank takes part
    float *zmaster = NULL;
    if (t->zero1) {   // every rank's optimizer shard first; rank 0's checkpoint (the completion mark) after
        char cp[4096];
        snprintf(cp, sizeof cp, "%s", pt_ckpt_path(t->ckpt_dir, t->step));
        pt_zero1_save(t->zero1, cp, t->cfg->train.keep_checkpoints);
        zmaster = pt_zero1_gather_master(t->zero1, 0);   // collective; exact f32 weights on rank 0
        pt_dist_barrier();
    }
    if (t->rank == 0) {
        int64_t nt = t->P->numel_trainable;
        (void)nt;
        float *master = NULL, *ema = NULL;
        if (t->device != PT_CPU) {
#ifdef POSETUNE_HAVE_CUDA
            if (!zmaster) {
                master = pt_malloc(sizeof(float) * (size_t)nt);
                pt_cuda_memcpy_d2h(master, t->master, sizeof(float) * (size_t)nt);
            }
            if (t->ema) { ema = pt_malloc(sizeof(float) * (size_t)nt); pt_cuda_memcpy_d2h(ema, t->ema, sizeof(float) * (size_t)nt); }
#endif
        } else { master = NULL; ema = t->ema; }
        if (zmaster) master = zmaster;
        char *yaml = pt_config_to_yaml(t->cfg);
        pt_ckpt_meta meta = {ops->name, t->step, sj, yaml};
        pt_ckpt_save_opts so = {master, t->zero1 ? NULL : &t->opt, ema, 0};
        pt_ckpt_save(pt_ckpt_path(t->ckpt_dir, t->step), t->P, &so, &meta);
        pt_ckpt_prune(t->ckpt_dir, t->cfg->train.keep_checkpoints);
        free(yaml);
        if (t->device != PT_CPU) { free(master); free(ema); } else free(zmaster);
    }
    free(sj);
    pt_dist_barrier();   // a checkpoint is complete only when every rank got here
}

// ---- the loop -----------------------------------------------------------------------------------
static void progress(pt_trainer *t, double t0, int64_t start, double loss) {
    const pt_config *c = t->cfg;
    double el = now_s() - t0;
    double its = (t->step - start) / (el > 1e-9 ? el : 1e-9);
    double eta = its > 0 ? (c->train.steps - t->step) / its : 0;
    if (isatty(2)) {
        int w = 30, f = (int)(w * (double)t->step / (double)(c->train.steps ? c->train.steps : 1));
        char bar[64];
        for (int i = 0; i < w; i++) bar[i] = i < f ? '#' : '.';
        bar[w] = 0;
        fprintf(stderr, "\r[%s] %lld/%lld  %.2f it/s  loss %.5f  lr %.2e  ETA %.0fs   ", bar, (long long)t->step,
                (long long)c->train.steps, its, loss, t->last_lr, eta);
        if (t->step == c->train.steps) fprintf(stderr, "\n");
    } else {
        fprintf(stderr, "step %lld/%lld  %.2f it/s  loss %.6f  grad_norm %.4g  lr %.3g  eta %.0fs\n", (long long)t->step,
                (long long)c->train.steps, its, loss, t->last_grad_norm, t->last_lr, eta);
    }
}

static void optimizer_step(pt_trainer *t, double lr) {
    pt_params *P = t->P;
    int64_t nt = P->numel_trainable;
    double clip = t->cfg->train.grad_clip;
    if (t->zero1) {   // reduce-scatter, clip, AdamW on this rank's shard, all-gather into P->data
        if (!pt_zero1_step(t->zero1, lr, clip > 0 ? clip : 0, &t->last_grad_norm))
            PT_WARN("non-finite gradient norm at step %lld: step skipped", (long long)t->step);
        return;   // (EMA is refused with zero1)
    }
    if (t->buckets) pt_dist_buckets_finish(t->buckets);   // launched during backward; wait for all
    else pt_dist_allreduce_mean(P->grad, nt, t->device);
    if (t->device == PT_CPU) {
        t->last_grad_norm = pt_clip_grad_norm(P->grad, nt, clip > 0 ? clip : 0);
        if (!isfinite(t->last_grad_norm)) { PT_WARN("non-finite gradient norm at step %lld: step skipped", (long long)t->step); return; }
        pt_adamw_step(&t->opt, t->master, P->grad, lr);
    } else {
#ifdef POSETUNE_HAVE_CUDA
        t->last_grad_norm = pt_clip_grad_norm_cuda(P->grad, nt, clip > 0 ? clip : 0);
        if (!isfinite(t->last_grad_norm)) { PT_WARN("non-finite gradient norm at step %lld: step skipped", (long long)t->step); return; }
        pt_adamw_step_cuda(&t->opt, t->master, P->grad, lr, t->master == P->data ? NULL : (uint16_t *)P->data);
#endif
    }
    if (t->ema) {
        float d = (float)t->cfg->train.ema_decay;
        int mark = pt_scope_begin();
        pt_tensor *e = pt_wrap(t->device, PT_F32, 1, (int64_t[]){nt}, t->ema);
        pt_tensor *m = pt_wrap(t->device, PT_F32, 1, (int64_t[]){nt}, t->master);
        PT_NO_GRAD_BEGIN
        pt_copy_(e, pt_axpby(e, d, m, 1.0f - d));
        PT_NO_GRAD_END
        pt_scope_end(mark, NULL);
    }
}

double pt_trainer_run(pt_trainer *t, const pt_regime_ops *ops, void *self) {
    const pt_config *c = t->cfg;
    pt_lr_schedule sched = {c->train.lr_schedule == PT_CFG_LR_CONSTANT ? PT_LR_CONSTANT
                            : c->train.lr_schedule == PT_CFG_LR_WARMUP ? PT_LR_WARMUP_CONSTANT : PT_LR_WARMUP_COSINE,
                            c->train.lr, c->train.warmup_steps, c->train.steps, 0.0};
    int64_t start = t->step;
    double t0 = now_s(), loss = 0;
    int accum = c->train.grad_accum > 0 ? c->train.grad_accum : 1;
    while (t->step < c->train.steps) {
        pt_params_zero_grad(t->P);
        loss = 0;
        for (int m = 0; m < accum; m++) {
            const pt_batch *b = pt_loader_next(t->loader);
            int mark = pt_scope_begin();
            if (t->buckets) pt_dist_buckets_begin_micro(t->buckets, m == accum - 1);   // communicate on the last only
            loss += ops->micro_step(self, t, b, 1.0 / accum) / accum;
            if (t->buckets) pt_dist_buckets_end_micro(t->buckets);
            pt_tape_clear();
            pt_scope_end(mark, NULL);
            t->samples_seen += (int64_t)b->B * t->world;
        }
        loss = pt_dist_allreduce_sum_f64(loss) / t->world;
        if (!isfinite(loss)) pt_dist_abort(PT_EXIT_RUNTIME, "the loss is not finite (NaN/inf): stopping; lower the learning rate or check the data");
        t->last_lr = pt_lr_at(&sched, t->step);
        optimizer_step(t, t->last_lr);
        t->step++;
        t->last_loss = loss;
        if (t->rank == 0) {
            if (t->metrics) {
                fprintf(t->metrics, "{\"step\": %lld, \"loss\": %.8g, \"grad_norm\": %.6g, \"lr\": %.6g, \"samples\": %lld, \"time\": %.3f}\n",
                        (long long)t->step, loss, t->last_grad_norm, t->last_lr, (long long)t->samples_seen, now_s() - t0);
                fflush(t->metrics);
            }
            int64_t le = c->train.log_every > 0 ? c->train.log_every : 1;
            if (!t->quiet && (t->step % le == 0 || t->step == c->train.steps || isatty(2))) progress(t, t0, start, loss);
        }
        if (c->train.checkpoint_every > 0 && t->step % c->train.checkpoint_every == 0 && t->step < c->train.steps)
            pt_trainer_save(t, ops);
        // Fault injection for the resume tests: POSETUNE_KILL_AT_STEP=N SIGKILLs the process after step N.
        const char *kill_at = getenv("POSETUNE_KILL_AT_STEP");
        if (kill_at && atoll(kill_at) == t->step) {
            fprintf(stderr, "posetune: rank %d: killed at step %lld (POSETUNE_KILL_AT_STEP)\n", t->rank, (long long)t->step);
            fflush(stderr);
            raise(SIGKILL);
        }
        pt_dist_fault_check(t->step);   // POSETUNE_FAIL_RANK=R: rank R fails with an error (tests/cli_mpi_fail.sh)
        if (ops->sample && t->rank == 0 && c->train.sample_every > 0 && t->step % c->train.sample_every == 0) {
            char p[4096];
            snprintf(p, sizeof p, "%s/sample-%08lld.png", t->out_dir, (long long)t->step);
            ops->sample(self, t, p);
        }
    }
    double train_s = now_s() - t0;
    if (t->rank == 0 && t->step > start) {
        size_t peak = 0;
#ifdef POSETUNE_HAVE_CUDA
        if (t->device == PT_CUDA) peak = pt_cuda_peak_bytes();
#endif
        if (t->device == PT_CPU) peak = pt_host_peak_bytes();
        fprintf(stderr, "posetune: %lld steps in %.2f s (%.1f ms/step, %.2f samples/s), peak %s memory %.2f GiB\n",
                (long long)(t->step - start), train_s, 1000.0 * train_s / (double)(t->step - start),
                (double)(t->step - start) * c->train.batch_size * (c->train.grad_accum > 0 ? c->train.grad_accum : 1) * t->world /
                    (train_s > 0 ? train_s : 1),
                t->device == PT_CUDA ? "GPU" : "host", peak / 1073741824.0);
    }
    char *latest = (t->step > start) ? NULL : pt_ckpt_latest(t->ckpt_dir);
    if (t->step > start || !latest) pt_trainer_save(t, ops);
    free(latest);
    return loss;
}

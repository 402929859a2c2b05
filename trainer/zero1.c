// zero1.c — sharded AdamW (ZeRO stage 1), see zero1.h.
#include "trainer/zero1.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autograd/ops.h"
#include "checkpoints/weights.h"
#include "tools/check.h"
#include "tools/json.h"
#include "trainer/dist.h"

#ifdef POSETUNE_HAVE_CUDA
#include "autograd/cuda_common.h"
#include "autograd/tensor_cuda.h"
#endif

// Cut the prefix's decay segments to [off, off + cnt), rebased to 0.
static pt_param_segment *slice_segments(const pt_param_segment *segs, int nsegs, int64_t off, int64_t cnt, int *n_out) {
    pt_param_segment all = {0, off + cnt, 1};
    if (!segs) { segs = &all; nsegs = 1; }
    pt_param_segment *out = pt_malloc(sizeof *out * (size_t)(nsegs + 1));
    int k = 0;
    for (int i = 0; i < nsegs; i++) {
        int64_t a = segs[i].offset > off ? segs[i].offset : off;
        int64_t b = segs[i].offset + segs[i].count < off + cnt ? segs[i].offset + segs[i].count : off + cnt;
        if (b > a) out[k++] = (pt_param_segment){a - off, b - a, segs[i].weight_decay};
    }
    if (k == 0) out[k++] = (pt_param_segment){0, cnt, 1};
    *n_out = k;
    return out;
}

pt_zero1 *pt_zero1_create(pt_params *P, const pt_adamw_config *oc, const pt_param_segment *segs, int nsegs) {
    pt_dist *d = pt_dist_get();
    pt_zero1 *z = pt_calloc(1, sizeof *z);
    z->P = P;
    z->dev = P->device;
    z->rank = d->rank;
    z->world = d->world;
    z->n = P->numel_trainable;
    if (z->n < z->world)
        PT_USAGE("train.zero1: %lld trainable elements cannot be sharded over %d ranks", (long long)z->n, z->world);
    pt_dist_shard(z->n, z->rank, z->world, &z->off, &z->cnt);
    int ns = 0;
    pt_param_segment *ss = slice_segments(segs, nsegs, z->off, z->cnt, &ns);
    size_t es = pt_dtype_size(P->dtype);
    if (z->dev == PT_CPU) {
        PT_CHECKF(P->dtype == PT_F32, "CPU training needs f32 parameters");
        pt_adamw_init(&z->opt, oc, z->cnt, ss, ns);
        z->master = (float *)P->data + z->off;
    } else {
#ifdef POSETUNE_HAVE_CUDA
        pt_adamw_init_cuda(&z->opt, oc, z->cnt, ss, ns);
        if (P->dtype == PT_F32) z->master = (float *)P->data + z->off;
        else {
            PT_CHECKF(P->dtype == PT_BF16, "train.zero1 on CUDA needs f32 or bf16 parameters");
            z->own_master = 1;
            z->master = pt_cuda_alloc(sizeof(float) * (size_t)z->cnt);
            int mark = pt_scope_begin();
            pt_tensor *src = pt_wrap(PT_CUDA, P->dtype, 1, (int64_t[]){z->cnt}, (char *)P->data + (size_t)z->off * es);
            pt_tensor *dst = pt_wrap(PT_CUDA, PT_F32, 1, (int64_t[]){z->cnt}, z->master);
            pt_copy_(dst, src);
            pt_scope_end(mark, NULL);
        }
#else
        PT_RUNTIME("train.zero1 on CUDA parameters in a build without CUDA");
#endif
    }
    (void)es;
    free(ss);
    return z;
}

void pt_zero1_free(pt_zero1 *z) {
    if (!z) return;
#ifdef POSETUNE_HAVE_CUDA
    if (z->own_master) pt_cuda_free(z->master, sizeof(float) * (size_t)z->cnt);
#endif
    pt_adamw_free(&z->opt);
    free(z);
}

size_t pt_zero1_state_bytes(const pt_zero1 *z) {
    return sizeof(float) * (size_t)z->cnt * (z->own_master ? 3 : 2);
}

// ---- the step -----------------------------------------------------------------------------------
int pt_zero1_step(pt_zero1 *z, double lr, double max_norm, double *grad_norm) {
    pt_params *P = z->P;
    float *g = P->grad + z->off;   // (cnt) this rank's gradient shard after the reduce-scatter
    pt_dist_reduce_scatter_f32(P->grad, z->n, PT_DIST_AVG, z->dev);
    double ss = 0;
    if (z->dev == PT_CPU) {
        for (int64_t i = 0; i < z->cnt; i++) ss += (double)g[i] * (double)g[i];
    } else {
#ifdef POSETUNE_HAVE_CUDA
        double nrm = pt_grad_norm_cuda(g, z->cnt);
        ss = nrm * nrm;
#endif
    }
    double norm = sqrt(pt_dist_allreduce_sum_f64(ss));
    *grad_norm = norm;
    if (!isfinite(norm)) return 0;
    if (max_norm > 0) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0) {
            float c = (float)coef;
            if (z->dev == PT_CPU) for (int64_t i = 0; i < z->cnt; i++) g[i] *= c;
#ifdef POSETUNE_HAVE_CUDA
            else pt_zero1_scale_cuda(g, z->cnt, c);
#endif
        }
    }
    size_t es = pt_dtype_size(P->dtype);
    if (z->dev == PT_CPU) pt_adamw_step(&z->opt, z->master, g, lr);
#ifdef POSETUNE_HAVE_CUDA
    else pt_adamw_step_cuda(&z->opt, z->master, g, lr, z->own_master ? (uint16_t *)((char *)P->data + (size_t)z->off * es) : NULL);
#endif
    pt_dist_allgather_shards(P->data, z->n, es, z->dev);
    return 1;
}

// ---- checkpoints --------------------------------------------------------------------------------
static float *master_to_host(const pt_zero1 *z) {
    float *h = pt_malloc(sizeof(float) * (size_t)(z->cnt ? z->cnt : 1));
    if (z->dev == PT_CPU) memcpy(h, z->master, sizeof(float) * (size_t)z->cnt);
#ifdef POSETUNE_HAVE_CUDA
    else pt_cuda_memcpy_d2h(h, z->master, sizeof(float) * (size_t)z->cnt);
#endif
    return h;
}

float *pt_zero1_gather_master(pt_zero1 *z, int root) {
    float *mine = master_to_host(z);
    float *all = z->rank == root ? pt_malloc(sizeof(float) * (size_t)z->n) : NULL;
    pt_dist_gather_shards_f32(mine, z->n, all, root);
    free(mine);
    return all;
}

const char *pt_zero1_shard_path(const char *ckpt_path, int rank) {
    static _Thread_local char buf[4096];
    snprintf(buf, sizeof buf, "%s.rank%d.safetensors", ckpt_path, rank);
    return buf;
}

// Keep this rank's newest keep+1 shard files in the checkpoint's folder (one more than the
// checkpoints: a shard written just before a crash belongs to no complete checkpoint yet).
static void prune_shards(const char *ckpt_path, int rank, int keep) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", ckpt_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    DIR *dd = opendir(dir);
    if (!dd) return;
    int64_t *steps = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    char want[64];
    snprintf(want, sizeof want, "safetensors.rank%d.safetensors", rank);
    while ((de = readdir(dd))) {
        long long s;
        char tail[96];
        if (sscanf(de->d_name, "step-%lld.%95s", &s, tail) == 2 && strcmp(tail, want) == 0) {
            if (n == cap) { cap = cap ? 2 * cap : 16; steps = pt_realloc(steps, sizeof(int64_t) * (size_t)cap); }
            steps[n++] = s;
        }
    }
    closedir(dd);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && steps[j - 1] > steps[j]; j--) { int64_t t = steps[j]; steps[j] = steps[j - 1]; steps[j - 1] = t; }
    for (int i = 0; i + keep + 1 < n; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/step-%08lld.safetensors.rank%d.safetensors", dir, (long long)steps[i], rank);
        if (unlink(p) != 0) PT_WARN("could not remove old optimizer shard '%s'", p);
    }
    free(steps);
}

void pt_zero1_save(pt_zero1 *z, const char *ckpt_path, int keep) {
    char path[4200];
    snprintf(path, sizeof path, "%s", pt_zero1_shard_path(ckpt_path, z->rank));
    int64_t step = 0, c = z->cnt ? z->cnt : 1;
    float *m = pt_malloc(sizeof(float) * (size_t)c), *v = pt_malloc(sizeof(float) * (size_t)c);
    pt_adamw_get_state(&z->opt, &step, m, v);
    float *master = master_to_host(z);
    pt_st_writer *w = pt_st_writer_new();
    int64_t shape[1] = {z->cnt};
    pt_st_writer_add(w, "zero1.master", PT_F32, 1, shape, PT_F32, master);
    pt_st_writer_add(w, "zero1.m", PT_F32, 1, shape, PT_F32, m);
    pt_st_writer_add(w, "zero1.v", PT_F32, 1, shape, PT_F32, v);
    char meta[256];
    snprintf(meta, sizeof meta, "{\"rank\": %d, \"world\": %d, \"offset\": %lld, \"count\": %lld, \"numel\": %lld}", z->rank,
             z->world, (long long)z->off, (long long)z->cnt, (long long)z->n);
    pt_st_writer_meta(w, "posetune.zero1", meta);
    snprintf(meta, sizeof meta, "%lld", (long long)step);
    pt_st_writer_meta(w, "posetune.optim_step", meta);
    pt_st_writer_write(w, path);
    pt_st_writer_free(w);
    free(m); free(v); free(master);
    if (keep > 0) prune_shards(ckpt_path, z->rank, keep);
}

static void read_shard_tensor(const pt_weights *w, const char *name, int64_t cnt, float *dst) {
    const pt_wtensor *t = pt_weights_find(w, name);
    if (!t) PT_USAGE("%s: optimizer shard has no tensor '%s'", w->source, name);
    if (pt_wtensor_numel(t) != cnt)
        PT_USAGE("%s: '%s' has %lld elements, this rank's shard %lld", w->source, name, (long long)pt_wtensor_numel(t), (long long)cnt);
    pt_weights_read_f32(t, dst);
}

void pt_zero1_load(pt_zero1 *z, const char *ckpt_path) {
    char path[4200];
    snprintf(path, sizeof path, "%s", pt_zero1_shard_path(ckpt_path, z->rank));
    if (access(path, R_OK) != 0)
        PT_USAGE("%s: optimizer shard of rank %d is missing (train.zero1 checkpoints need every rank's "
                 "<checkpoint>.rank<R>.safetensors; was it written with train.zero1 on?)", path, z->rank);
    pt_weights *w = pt_weights_load(path);
    const char *mj = pt_weights_meta(w, "posetune.zero1");
    if (!mj) PT_USAGE("%s: not a ZeRO-1 optimizer shard (no posetune.zero1 metadata)", path);
    pt_json *j = pt_json_parse(mj, strlen(mj), path);
    int world = pt_json_int(j, "world", -1), rank = pt_json_int(j, "rank", -1);
    int64_t off = (int64_t)pt_json_num(j, "offset", -1), cnt = (int64_t)pt_json_num(j, "count", -1),
            n = (int64_t)pt_json_num(j, "numel", -1);
    pt_json_free(j);
    if (world != z->world || rank != z->rank || off != z->off || cnt != z->cnt || n != z->n)
        PT_USAGE("%s: shard of rank %d of %d covering [%lld, +%lld) of %lld; this rank %d of %d needs [%lld, +%lld) of %lld "
                 "(resume with the same number of ranks and the same trainable parameters)",
                 path, rank, world, (long long)off, (long long)cnt, (long long)n, z->rank, z->world, (long long)z->off,
                 (long long)z->cnt, (long long)z->n);
    int64_t c = z->cnt ? z->cnt : 1;
    float *m = pt_malloc(sizeof(float) * (size_t)c), *v = pt_malloc(sizeof(float) * (size_t)c),
          *master = pt_malloc(sizeof(float) * (size_t)c);
    read_shard_tensor(w, "zero1.master", z->cnt, master);
    read_shard_tensor(w, "zero1.m", z->cnt, m);
    read_shard_tensor(w, "zero1.v", z->cnt, v);
    const char *s = pt_weights_meta(w, "posetune.optim_step");
    pt_adamw_set_state(&z->opt, s ? strtoll(s, NULL, 10) : 0, m, v);
    if (z->dev == PT_CPU) memcpy(z->master, master, sizeof(float) * (size_t)z->cnt);
#ifdef POSETUNE_HAVE_CUDA
    else pt_cuda_memcpy_h2d(z->master, master, sizeof(float) * (size_t)z->cnt);
#endif
    free(m); free(v); free(master);
    pt_weights_free(w);
}

// dist_buckets.c — gradient buckets launched during backward (see dist_buckets.h).
#include "trainer/dist_buckets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "tools/check.h"
#include "trainer/dist.h"

// ---- the process's backend ----------------------------------------------------------------------
typedef struct default_ctx { pt_device dev; } default_ctx;
static void default_launch(void *ctx, float *grad, int64_t offset, int64_t count, int bucket) {
    (void)bucket;
    pt_dist_iallreduce_mean_f32(grad + offset, count, ((default_ctx *)ctx)->dev);
}
static void default_wait(void *ctx) { pt_dist_iallreduce_wait_all(((default_ctx *)ctx)->dev); }

size_t pt_dist_buckets_default_bytes(void) {
    const char *s = getenv("POSETUNE_BUCKET_MB");
    double mb = s && s[0] ? atof(s) : 25.0;
    if (!(mb >= 0)) PT_USAGE("POSETUNE_BUCKET_MB='%s': expected a number of megabytes (0: no buckets)", s);
    return (size_t)(mb * 1024 * 1024);
}

// ---- layout -------------------------------------------------------------------------------------
pt_dist_buckets *pt_dist_buckets_create(pt_params *P, size_t bucket_bytes, const pt_bucket_comm *comm) {
    PT_CHECKF(P->finalized && P->grad, "gradient buckets need finalized parameters with a gradient buffer");
    pt_dist_buckets *db = pt_calloc(1, sizeof *db);
    db->P = P;
    if (comm) db->comm = *comm;
    else {
        default_ctx *c = pt_malloc(sizeof *c);
        c->dev = P->device;
        db->comm = (pt_bucket_comm){default_launch, default_wait, c};
    }
    for (int i = 0; i < P->n; i++) db->np += P->e[i].trainable;
    int np = db->np;
    db->p_entry = pt_malloc(sizeof(int) * (size_t)(np + 1));
    db->p_off = pt_malloc(sizeof(int64_t) * (size_t)(np + 1));
    db->p_bucket = pt_malloc(sizeof(int) * (size_t)(np + 1));
    db->p_ready = pt_calloc((size_t)(np + 1), sizeof(int));
    int k = 0;
    for (int i = 0; i < P->n; i++)
        if (P->e[i].trainable) { db->p_entry[k] = i; db->p_off[k] = P->e[i].offset; k++; }
    // ascending offsets (finalize lays them out in build order; sort anyway)
    for (int i = 1; i < np; i++)
        for (int j = i; j > 0 && db->p_off[j - 1] > db->p_off[j]; j--) {
            int64_t to = db->p_off[j]; db->p_off[j] = db->p_off[j - 1]; db->p_off[j - 1] = to;
            int te = db->p_entry[j]; db->p_entry[j] = db->p_entry[j - 1]; db->p_entry[j - 1] = te;
        }
    // reverse layout order, greedy: close a bucket once it reaches bucket_bytes
    db->b = pt_calloc((size_t)(np + 1), sizeof(pt_bucket));
    int64_t end = P->numel_trainable;
    int hi = np;              // parameters [lo, hi) form the bucket being built
    size_t bytes = 0;
    for (int i = np - 1; i >= 0; i--) {
        bytes += sizeof(float) * (size_t)pt_numel(P->e[db->p_entry[i]].t);
        if (bytes >= bucket_bytes || i == 0) {
            pt_bucket *b = &db->b[db->nb];
            b->first_param = i;
            b->n_params = hi - i;
            b->offset = i == 0 ? 0 : db->p_off[i];
            b->count = end - b->offset;
            for (int j = i; j < hi; j++) db->p_bucket[j] = db->nb;
            db->nb++;
            end = b->offset; hi = i; bytes = 0;
        }
    }
    return db;
}

void pt_dist_buckets_free(pt_dist_buckets *db) {
    if (!db) return;
    if (pt_dist_get()->rank == 0 && db->launched_in_backward + db->launched_at_finish > 0 && db->comm.launch == default_launch)
        fprintf(stderr, "posetune: gradient buckets: %d covering %.2f MB, %lld launched during backward, %lld after it\n", db->nb,
                sizeof(float) * (double)db->P->numel_trainable / (1024.0 * 1024.0), (long long)db->launched_in_backward,
                (long long)db->launched_at_finish);
    if (db->comm.launch == default_launch) free(db->comm.ctx);
    free(db->p_entry); free(db->p_off); free(db->p_bucket); free(db->p_ready); free(db->b);
    free(db);
}

// ---- launching ----------------------------------------------------------------------------------
static void launch(pt_dist_buckets *db, int k, int in_backward) {
    pt_bucket *b = &db->b[k];
    db->comm.launch(db->comm.ctx, db->P->grad, b->offset, b->count, k);
    b->launched = 1;
    if (in_backward) db->launched_in_backward++; else db->launched_at_finish++;
}

// Launch consecutive complete buckets from next_launch on (the order every rank shares).
static void launch_ready_prefix(pt_dist_buckets *db) {
    while (db->next_launch < db->nb) {
        pt_bucket *b = &db->b[db->next_launch];
        if (b->n_ready < b->n_params) break;
        launch(db, db->next_launch, 1);
        db->next_launch++;
    }
}

static int find_param(const pt_dist_buckets *db, const pt_tensor *t) {
    if (!t->st || t->st->data != db->P->data) return -1;
    int lo = 0, hi = db->np - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (db->p_off[mid] == t->offset) return db->P->e[db->p_entry[mid]].t == t ? mid : -1;
        if (db->p_off[mid] < t->offset) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

void pt_dist_buckets_on_ready(pt_tensor *param, void *ctx) {
    pt_dist_buckets *db = ctx;
    if (!db->active) return;
    int i = find_param(db, param);
    if (i < 0) return;   // a parameter of another table: not ours to reduce
    pt_bucket *b = &db->b[db->p_bucket[i]];
    if (db->p_ready[i]++ > 0) {
        // ready twice: the gradient was not final the first time
        if (db->mode == PT_BUCKETS_OVERLAP && b->launched) {
            char m[768];
            snprintf(m, sizeof m, "gradient of '%s' changed after its bucket was all-reduced (the parameter is used in "
                     "more places than in the first step); rerun with POSETUNE_BUCKET_MB=0 to reduce after backward",
                     db->P->e[db->p_entry[i]].name);
            pt_dist_abort(PT_EXIT_RUNTIME, m);
        }
        if (db->mode == PT_BUCKETS_OVERLAP) db->mode = PT_BUCKETS_FALLBACK;
        return;
    }
    b->n_ready++;
    if (db->mode == PT_BUCKETS_OVERLAP) launch_ready_prefix(db);
}

void pt_dist_buckets_begin_micro(pt_dist_buckets *db, int last) {
    db->active = last;
    if (last) {
        memset(db->p_ready, 0, sizeof(int) * (size_t)db->np);
        for (int k = 0; k < db->nb; k++) { db->b[k].n_ready = 0; db->b[k].launched = 0; }
        db->next_launch = 0;
        pt_set_grad_ready_hook(pt_dist_buckets_on_ready, db);
    }
}

void pt_dist_buckets_end_micro(pt_dist_buckets *db) {
    if (db->active) pt_set_grad_ready_hook(NULL, NULL);
    db->active = 0;
}

void pt_dist_buckets_finish(pt_dist_buckets *db) {
    pt_dist_buckets_end_micro(db);
    for (; db->next_launch < db->nb; db->next_launch++) launch(db, db->next_launch, 0);
    db->comm.wait_all(db->comm.ctx);
    if (db->mode == PT_BUCKETS_PROBE) {
        int twice = -1;
        for (int i = 0; i < db->np && twice < 0; i++) if (db->p_ready[i] > 1) twice = i;
        if (twice < 0) db->mode = PT_BUCKETS_OVERLAP;
        else {
            db->mode = PT_BUCKETS_FALLBACK;
            if (pt_dist_get()->rank == 0)
                fprintf(stderr, "posetune: note: parameter '%s' turns ready more than once per backward: gradients are "
                        "all-reduced after backward (no overlap)\n", db->P->e[db->p_entry[twice]].name);
        }
    }
}

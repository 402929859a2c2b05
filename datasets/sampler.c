// sampler.c — seeded, sharded, resumable sample selection (see sampler.h).
#include "datasets/sampler.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/rng.h"
#include "tools/check.h"

struct pt_sampler {
    pt_sampler_config c;
    int n_videos;
    int *n_frames;        // (n_videos)
    int64_t *first;       // (n_videos + 1) prefix sums of n_frames (DREAMPOSE items)
    int64_t n_items, n_local;
    pt_sampler_state st;
    int64_t *perm;        // (n_items) permutation of the current epoch
    int64_t perm_epoch;   // epoch perm was built for (-1: none)
    uint64_t pair_seed, drop_seed, perm_seed;
};

void pt_sampler_config_default(pt_sampler_config *c, pt_sampler_mode mode, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->mode = mode;
    c->seed = seed;
    c->world_size = 1;
    c->margin = 30;
    c->num_frames = 24;
    c->stride = 4;
}

pt_sampler *pt_sampler_create(const pt_sampler_config *c, const int *n_frames, int n_videos) {
    if (c->world_size < 1 || c->rank < 0 || c->rank >= c->world_size)
        PT_USAGE("sampler: rank %d is not in [0, world_size %d)", c->rank, c->world_size);
    if (c->p_drop_image < 0 || c->p_drop_pose < 0 || c->p_drop_both < 0 || c->p_drop_image + c->p_drop_pose + c->p_drop_both > 1.0f)
        PT_USAGE("sampler: dropout rates (image %g, pose %g, both %g) must be >= 0 and sum to at most 1",
                 c->p_drop_image, c->p_drop_pose, c->p_drop_both);
    if (c->mode == PT_SAMPLER_AA_STAGE2 && (c->num_frames < 1 || c->num_frames > PT_MAX_CLIP || c->stride < 1))
        PT_USAGE("sampler: num_frames %d must be in [1, %d] and stride %d >= 1", c->num_frames, PT_MAX_CLIP, c->stride);
    if (c->mode == PT_SAMPLER_AA_STAGE1 && c->margin < 0) PT_USAGE("sampler: margin %d must be >= 0", c->margin);
    if (n_videos < 1) PT_USAGE("sampler: the dataset has no videos");
    if (c->mode == PT_SAMPLER_SUBJECT && n_videos != 1) PT_USAGE("sampler: a subject set is one 'video', got %d", n_videos);
    int64_t total = 0;
    for (int v = 0; v < n_videos; v++) {
        if (n_frames[v] < 1) PT_USAGE("sampler: video %d has no frames", v);
        total += n_frames[v];
    }
    int64_t items = (c->mode == PT_SAMPLER_DREAMPOSE || c->mode == PT_SAMPLER_SUBJECT) ? total : n_videos;
    if (items - c->rank <= 0)
        PT_USAGE("sampler: %lld items per epoch cannot feed rank %d of %d (need at least one item per rank)",
                 (long long)items, c->rank, c->world_size);
    pt_sampler *s = pt_calloc(1, sizeof *s);
    s->c = *c;
    s->n_videos = n_videos;
    s->n_frames = pt_malloc(sizeof(int) * n_videos);
    s->first = pt_malloc(sizeof(int64_t) * (n_videos + 1));
    s->first[0] = 0;
    for (int v = 0; v < n_videos; v++) {
        s->n_frames[v] = n_frames[v];
        s->first[v + 1] = s->first[v] + n_frames[v];
    }
    s->n_items = (c->mode == PT_SAMPLER_DREAMPOSE || c->mode == PT_SAMPLER_SUBJECT) ? s->first[n_videos] : n_videos;
    s->n_local = (s->n_items - c->rank + c->world_size - 1) / c->world_size;
    s->perm = pt_malloc(sizeof(int64_t) * s->n_items);
    s->perm_epoch = -1;
    s->st.seed = c->seed;
    s->pair_seed = pt_rng_derive(c->seed, "sampler.pair", 0);
    s->drop_seed = pt_rng_derive(c->seed, "sampler.dropout", 0);
    return s;
}

void pt_sampler_free(pt_sampler *s) {
    if (!s) return;
    free(s->n_frames); free(s->first); free(s->perm); free(s);
}

pt_sampler_state pt_sampler_get_state(const pt_sampler *s) { return s->st; }
int64_t pt_sampler_n_items(const pt_sampler *s) { return s->n_items; }
int64_t pt_sampler_n_local(const pt_sampler *s) { return s->n_local; }

void pt_sampler_set_state(pt_sampler *s, pt_sampler_state st) {
    if (st.epoch < 0 || st.cursor < 0 || st.cursor > s->n_local)
        PT_USAGE("sampler: state (epoch %lld, cursor %lld) is out of range (cursor <= %lld samples per epoch on this rank)",
                 (long long)st.epoch, (long long)st.cursor, (long long)s->n_local);
    if (st.seed != s->c.seed) {   // a different seed: every derived stream changes with it
        s->c.seed = st.seed;
        s->pair_seed = pt_rng_derive(st.seed, "sampler.pair", 0);
        s->drop_seed = pt_rng_derive(st.seed, "sampler.dropout", 0);
        s->perm_epoch = -1;
    }
    s->st = st;
}

static void build_perm(pt_sampler *s) {
    if (s->perm_epoch == s->st.epoch) return;
    pt_rng r;
    pt_rng_init(&r, pt_rng_derive(s->c.seed, "sampler.perm", (int)s->st.epoch));
    pt_rng_permutation(&r, s->perm, s->n_items);
    s->perm_epoch = s->st.epoch;
}

void pt_sampler_dropout(const pt_sampler_config *c, uint64_t key, int *drop_image, int *drop_pose) {
    float u = pt_rng_uniform_at(pt_rng_derive(c->seed, "sampler.dropout", 0), key);
    *drop_image = *drop_pose = 0;
    if (u < c->p_drop_image) *drop_image = 1;
    else if (u < c->p_drop_image + c->p_drop_pose) *drop_pose = 1;
    else if (u < c->p_drop_image + c->p_drop_pose + c->p_drop_both) *drop_image = *drop_pose = 1;
}

static int clampi(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }

// Reference / target with |i - j| >= m (sampler.h).
static void far_pair(pt_rng *r, int n, int margin, int *ref, int *tgt) {
    int m = margin < n - 1 ? margin : n - 1;
    if (m <= 0) { *ref = (int)pt_rng_int(r, 0, n); *tgt = (int)pt_rng_int(r, 0, n); return; }
    for (int tries = 0; tries < 64; tries++) {
        int i = (int)pt_rng_int(r, 0, n);
        int lo = i - m >= 0 ? i - m + 1 : 0;      // count of j in [0, i-m]
        int hi = n - (i + m) > 0 ? n - (i + m) : 0;   // count of j in [i+m, n-1]
        if (lo + hi == 0) continue;
        int k = (int)pt_rng_int(r, 0, lo + hi);
        *ref = i;
        *tgt = k < lo ? k : i + m + (k - lo);
        return;
    }
    *ref = 0;
    *tgt = (int)pt_rng_int(r, m, n);
}

void pt_sampler_next(pt_sampler *s, pt_sample *o) {
    if (s->st.cursor >= s->n_local) { s->st.epoch++; s->st.cursor = 0; }
    build_perm(s);
    const pt_sampler_config *c = &s->c;
    memset(o, 0, sizeof *o);
    o->epoch = s->st.epoch;
    o->cursor = s->st.cursor;
    // The key is the sample's place in the GLOBAL order of the epoch (rank r holds positions
    // r, r+W, ...), so every random choice is the same whatever the world size: N ranks x batch B/N
    // see exactly the samples and draws of 1 rank x batch B.
    o->key = (uint64_t)s->st.epoch * (uint64_t)s->n_items + (uint64_t)c->rank + (uint64_t)s->st.cursor * (uint64_t)c->world_size;
    o->item = s->perm[c->rank + s->st.cursor * c->world_size];
    s->st.cursor++;
    pt_rng r = {s->pair_seed, o->key * 256};
    switch (c->mode) {
    case PT_SAMPLER_DREAMPOSE:
    case PT_SAMPLER_SUBJECT: {
        int v = 0;
        while (s->first[v + 1] <= o->item) v++;
        int n = s->n_frames[v], j = (int)(o->item - s->first[v]);
        int i = j;
        if (n > 1) { i = (int)pt_rng_int(&r, 0, n - 1); if (i >= j) i++; }
        o->video = v; o->target = j; o->cond = i;
        for (int k = 0; k < PT_POSE_WINDOW; k++)
            o->poses[k] = c->mode == PT_SAMPLER_SUBJECT ? j : clampi(j + k - PT_POSE_WINDOW / 2, 0, n - 1);
        break;
    }
    case PT_SAMPLER_AA_STAGE1: {
        o->video = (int)o->item;
        far_pair(&r, s->n_frames[o->video], c->margin, &o->cond, &o->target);
        break;
    }
    case PT_SAMPLER_AA_STAGE2: {
        o->video = (int)o->item;
        int n = s->n_frames[o->video];
        int span = (c->num_frames - 1) * c->stride + 1;
        int start = n >= span ? (int)pt_rng_int(&r, 0, n - span + 1) : 0;
        o->n_clip = c->num_frames;
        for (int k = 0; k < c->num_frames; k++) o->clip[k] = clampi(start + k * c->stride, 0, n - 1);
        o->cond = (int)pt_rng_int(&r, 0, n);
        o->target = o->clip[0];
        break;
    }
    }
    pt_sampler_dropout(c, o->key, &o->drop_image, &o->drop_pose);
}

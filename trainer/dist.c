// dist.c — MPI start-up, host reductions, CPU all-reduce; NCCL glue lives in dist_nccl.cu.
#include "trainer/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/check.h"

#ifdef POSETUNE_HAVE_MPI
#include <mpi.h>
#define MPI_CHECK(call)                                                                          \
    do { int e_ = (call);                                                                        \
        if (e_ != MPI_SUCCESS) { char s_[MPI_MAX_ERROR_STRING]; int l_ = 0; MPI_Error_string(e_, s_, &l_); \
            char m_[512]; snprintf(m_, sizeof m_, "MPI error in %s at %s:%d: %s", #call, __FILE__, __LINE__, s_); \
            pt_dist_abort(PT_EXIT_RUNTIME, m_); } } while (0)
#endif

#if defined(POSETUNE_HAVE_CUDA) && defined(POSETUNE_HAVE_MPI)
#define PT_HAVE_NCCL 1
void pt_dist_nccl_init(pt_dist *d);            // dist_nccl.cu
void pt_dist_nccl_allreduce_mean(pt_dist *d, float *buf, int64_t n);
void pt_dist_nccl_finalize(pt_dist *d);
// typed collectives on device memory (dist_buckets_cuda.cu)
void pt_dist_nccl_allreduce_op(pt_dist *d, float *buf, int64_t n, int op);
void pt_dist_nccl_reduce_scatter(pt_dist *d, float *buf, int64_t n, int op);
void pt_dist_nccl_allgather_shards(pt_dist *d, void *buf, int64_t n, size_t elem_size);
void pt_dist_nccl_iallreduce_mean(pt_dist *d, float *buf, int64_t n);
void pt_dist_nccl_wait_all(pt_dist *d);
#endif

static pt_dist g_dist = {0, 1, 0, 1, 0, 0, NULL, NULL};
static int g_inited = 0;

pt_dist *pt_dist_get(void) { return &g_dist; }

int pt_dist_launched_by_mpi(void) {
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v) v = getenv("PMI_SIZE");
    if (!v) v = getenv("PMIX_RANK") ? "2" : NULL;
    return v && atoi(v) > 1;
}

void pt_dist_abort(int code, const char *msg) {
    fflush(stdout);
    fprintf(stderr, "posetune: error: rank %d of %d: %s\n", g_dist.rank, g_dist.world, msg);
    fflush(stderr);
#ifdef POSETUNE_HAVE_MPI
    if (g_dist.mpi) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    exit(code);
}

#ifdef POSETUNE_HAVE_MPI
// A rank that exits while MPI is still initialised (any PT_RUNTIME / PT_USAGE failure, a return
// from main without pt_dist_finalize) would leave the other ranks blocked in their next collective:
// name the rank and abort the whole job instead.
static void exit_without_finalize(void) {
    if (!g_dist.mpi || g_dist.world < 2) return;
    char host[256] = {0};
    if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "unknown");
    fflush(stdout);
    fprintf(stderr, "posetune: error: rank %d of %d (host %s) stopped with an error (message above); "
            "ending every rank\n", g_dist.rank, g_dist.world, host);
    fflush(stderr);
    g_dist.mpi = 0;
    MPI_Abort(MPI_COMM_WORLD, PT_EXIT_RUNTIME);
}
#endif

void pt_dist_init(int use_cuda) {
    if (g_inited) return;
    g_inited = 1;
    if (!pt_dist_launched_by_mpi()) return;
#ifdef POSETUNE_HAVE_MPI
    int provided = 0;
    MPI_CHECK(MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided));
    g_dist.mpi = 1;
    MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL));
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &g_dist.rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &g_dist.world));
    // local rank: ranks on the same host, by hostname
    char host[256] = {0};
    if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "unknown");
    char *all = pt_calloc((size_t)g_dist.world, sizeof host);
    MPI_CHECK(MPI_Allgather(host, sizeof host, MPI_CHAR, all, sizeof host, MPI_CHAR, MPI_COMM_WORLD));
    g_dist.local_rank = 0;
    g_dist.local_world = 0;
    for (int r = 0; r < g_dist.world; r++)
        if (strcmp(all + (size_t)r * sizeof host, host) == 0) {
            if (r < g_dist.rank) g_dist.local_rank++;
            g_dist.local_world++;
        }
    free(all);
    atexit(exit_without_finalize);
#ifdef PT_HAVE_NCCL
    if (use_cuda) pt_dist_nccl_init(&g_dist);
#else
    (void)use_cuda;
#endif
#else
    (void)use_cuda;
    PT_USAGE("launched under mpirun, but this posetune was built without MPI (-DPOSETUNE_MPI=ON)");
#endif
}

void pt_dist_finalize(void) {
#ifdef PT_HAVE_NCCL
    if (g_dist.use_nccl) pt_dist_nccl_finalize(&g_dist);
#endif
#ifdef POSETUNE_HAVE_MPI
    if (g_dist.mpi) { MPI_Finalize(); g_dist.mpi = 0; }
#endif
}

void pt_dist_allreduce_mean(float *buf, int64_t n, pt_device dev) {
    if (g_dist.world == 1 || n == 0) return;
#ifdef PT_HAVE_NCCL
    if (dev == PT_CUDA) {
        PT_CHECKF(g_dist.use_nccl, "CUDA all-reduce without NCCL");
        pt_dist_nccl_allreduce_mean(&g_dist, buf, n);
        return;
    }
#endif
    PT_CHECKF(dev == PT_CPU, "all-reduce of device memory without CUDA");
#ifdef POSETUNE_HAVE_MPI
    // chunks of at most 2^30 elements (MPI counts are int)
    for (int64_t off = 0; off < n; off += (1 << 30)) {
        int cnt = (int)((n - off) < (1 << 30) ? (n - off) : (1 << 30));
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf + off, cnt, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
    }
    float inv = 1.0f / (float)g_dist.world;
    for (int64_t i = 0; i < n; i++) buf[i] *= inv;
#endif
}

void pt_dist_barrier(void) {
#ifdef POSETUNE_HAVE_MPI
    if (g_dist.mpi) MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
#endif
}

double pt_dist_allreduce_sum_f64(double v) {
#ifdef POSETUNE_HAVE_MPI
    if (g_dist.mpi) MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
#endif
    return v;
}

int64_t pt_dist_allreduce_max_i64(int64_t v) {
#ifdef POSETUNE_HAVE_MPI
    if (g_dist.mpi) {
        long long x = v;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD));
        v = x;
    }
#endif
    return v;
}

void pt_dist_bcast(void *buf, size_t bytes, int root) {
#ifdef POSETUNE_HAVE_MPI
    if (g_dist.mpi) MPI_CHECK(MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD));
#else
    (void)buf; (void)bytes; (void)root;
#endif
}

void pt_dist_allgather_i64(const int64_t *in, int n, int64_t *out) {
#ifdef POSETUNE_HAVE_MPI
    if (g_dist.mpi) {
        MPI_CHECK(MPI_Allgather(in, n, MPI_INT64_T, out, n, MPI_INT64_T, MPI_COMM_WORLD));
        return;
    }
#endif
    memcpy(out, in, sizeof(int64_t) * (size_t)n);
}

// ---- typed collectives --------------------------------------------------------------------------
#ifdef POSETUNE_HAVE_MPI
static MPI_Op mpi_op(pt_dist_op op) { return op == PT_DIST_MAX ? MPI_MAX : MPI_SUM; }
static int mpi_count(int64_t n, const char *what) {
    if (n > 0x7fffffff) {
        char m[256];
        snprintf(m, sizeof m, "%s of %lld elements exceeds the MPI count limit (2^31-1) of the CPU backend", what, (long long)n);
        pt_dist_abort(PT_EXIT_RUNTIME, m);
    }
    return (int)n;
}
#endif

static void host_scale(float *x, int64_t n, float s) { for (int64_t i = 0; i < n; i++) x[i] *= s; }

void pt_dist_allreduce_f32(float *buf, int64_t count, pt_dist_op op, pt_device dev) {
    if (g_dist.world == 1 || count == 0) return;
#ifdef PT_HAVE_NCCL
    if (dev == PT_CUDA) { PT_CHECKF(g_dist.use_nccl, "CUDA all-reduce without NCCL"); pt_dist_nccl_allreduce_op(&g_dist, buf, count, (int)op); return; }
#endif
    PT_CHECKF(dev == PT_CPU, "all-reduce of device memory without NCCL");
#ifdef POSETUNE_HAVE_MPI
    for (int64_t off = 0; off < count; off += (1 << 30)) {
        int cnt = (int)((count - off) < (1 << 30) ? (count - off) : (1 << 30));
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf + off, cnt, MPI_FLOAT, mpi_op(op), MPI_COMM_WORLD));
    }
    if (op == PT_DIST_AVG) host_scale(buf, count, 1.0f / (float)g_dist.world);
#else
    (void)buf; (void)op;
#endif
}

void pt_dist_shard(int64_t n, int rank, int world, int64_t *offset, int64_t *count) {
    int64_t s = n / world;
    *offset = (int64_t)rank * s;
    *count = s + (rank == world - 1 ? n - (int64_t)world * s : 0);
}

void pt_dist_reduce_scatter_f32(float *buf, int64_t n, pt_dist_op op, pt_device dev) {
    if (g_dist.world == 1 || n == 0) return;
#ifdef PT_HAVE_NCCL
    if (dev == PT_CUDA) { PT_CHECKF(g_dist.use_nccl, "CUDA reduce-scatter without NCCL"); pt_dist_nccl_reduce_scatter(&g_dist, buf, n, (int)op); return; }
#endif
    PT_CHECKF(dev == PT_CPU, "reduce-scatter of device memory without NCCL");
#ifdef POSETUNE_HAVE_MPI
    int W = g_dist.world;
    int *counts = pt_malloc(sizeof(int) * (size_t)W);
    for (int r = 0; r < W; r++) { int64_t o, c; pt_dist_shard(n, r, W, &o, &c); counts[r] = mpi_count(c, "reduce-scatter shard"); }
    mpi_count(n, "reduce-scatter");
    // MPI_IN_PLACE: the input is the whole buf, this rank's result lands at buf[0, count)
    MPI_CHECK(MPI_Reduce_scatter(MPI_IN_PLACE, buf, counts, MPI_FLOAT, mpi_op(op), MPI_COMM_WORLD));
    int64_t off, cnt;
    pt_dist_shard(n, g_dist.rank, W, &off, &cnt);
    if (off) memmove(buf + off, buf, sizeof(float) * (size_t)cnt);
    if (op == PT_DIST_AVG) host_scale(buf + off, cnt, 1.0f / (float)W);
    free(counts);
#else
    (void)buf; (void)op;
#endif
}

void pt_dist_allgather_shards(void *buf, int64_t n, size_t elem_size, pt_device dev) {
    if (g_dist.world == 1 || n == 0) return;
#ifdef PT_HAVE_NCCL
    if (dev == PT_CUDA) { PT_CHECKF(g_dist.use_nccl, "CUDA all-gather without NCCL"); pt_dist_nccl_allgather_shards(&g_dist, buf, n, elem_size); return; }
#endif
    PT_CHECKF(dev == PT_CPU, "all-gather of device memory without NCCL");
#ifdef POSETUNE_HAVE_MPI
    int W = g_dist.world;
    int *counts = pt_malloc(sizeof(int) * (size_t)W), *displs = pt_malloc(sizeof(int) * (size_t)W);
    mpi_count(n, "all-gather");
    for (int r = 0; r < W; r++) {
        int64_t o, c;
        pt_dist_shard(n, r, W, &o, &c);
        counts[r] = (int)c; displs[r] = (int)o;
    }
    MPI_Datatype t;
    MPI_CHECK(MPI_Type_contiguous((int)elem_size, MPI_BYTE, &t));
    MPI_CHECK(MPI_Type_commit(&t));
    MPI_CHECK(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, t, MPI_COMM_WORLD));
    MPI_CHECK(MPI_Type_free(&t));
    free(counts); free(displs);
#else
    (void)buf; (void)elem_size;
#endif
}

void pt_dist_gather_shards_f32(const float *mine, int64_t n, float *out, int root) {
    int64_t off, cnt;
    pt_dist_shard(n, g_dist.rank, g_dist.world, &off, &cnt);
    if (g_dist.world == 1) { memcpy(out, mine, sizeof(float) * (size_t)cnt); return; }
#ifdef POSETUNE_HAVE_MPI
    int W = g_dist.world;
    int *counts = pt_malloc(sizeof(int) * (size_t)W), *displs = pt_malloc(sizeof(int) * (size_t)W);
    mpi_count(n, "gather");
    for (int r = 0; r < W; r++) {
        int64_t o, c;
        pt_dist_shard(n, r, W, &o, &c);
        counts[r] = (int)c; displs[r] = (int)o;
    }
    MPI_CHECK(MPI_Gatherv(mine, (int)cnt, MPI_FLOAT, out, counts, displs, MPI_FLOAT, root, MPI_COMM_WORLD));
    free(counts); free(displs);
#else
    (void)root;
#endif
}

// Outstanding non-blocking all-reduces of the CPU backend (one per gradient bucket).
#ifdef POSETUNE_HAVE_MPI
static struct { MPI_Request *req; float **buf; int64_t *n; int k, cap; } g_pending;
#endif

void pt_dist_iallreduce_mean_f32(float *buf, int64_t count, pt_device dev) {
    if (g_dist.world == 1 || count == 0) return;
#ifdef PT_HAVE_NCCL
    if (dev == PT_CUDA) { PT_CHECKF(g_dist.use_nccl, "CUDA all-reduce without NCCL"); pt_dist_nccl_iallreduce_mean(&g_dist, buf, count); return; }
#endif
    PT_CHECKF(dev == PT_CPU, "all-reduce of device memory without NCCL");
#ifdef POSETUNE_HAVE_MPI
    if (g_pending.k == g_pending.cap) {
        g_pending.cap = g_pending.cap ? 2 * g_pending.cap : 64;
        g_pending.req = pt_realloc(g_pending.req, sizeof(MPI_Request) * (size_t)g_pending.cap);
        g_pending.buf = pt_realloc(g_pending.buf, sizeof(float *) * (size_t)g_pending.cap);
        g_pending.n = pt_realloc(g_pending.n, sizeof(int64_t) * (size_t)g_pending.cap);
    }
    int k = g_pending.k++;
    g_pending.buf[k] = buf;
    g_pending.n[k] = count;
    MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, buf, mpi_count(count, "gradient bucket"), MPI_FLOAT, MPI_SUM,
                             MPI_COMM_WORLD, &g_pending.req[k]));
    // Open MPI progresses non-blocking collectives only inside MPI calls: poke the earlier ones.
    int done = 0;
    MPI_CHECK(MPI_Testall(g_pending.k, g_pending.req, &done, MPI_STATUSES_IGNORE));
#endif
}

void pt_dist_iallreduce_wait_all(pt_device dev) {
    if (g_dist.world == 1) return;
#ifdef PT_HAVE_NCCL
    if (dev == PT_CUDA) { pt_dist_nccl_wait_all(&g_dist); return; }
#endif
    (void)dev;
#ifdef POSETUNE_HAVE_MPI
    if (!g_pending.k) return;
    MPI_CHECK(MPI_Waitall(g_pending.k, g_pending.req, MPI_STATUSES_IGNORE));
    float inv = 1.0f / (float)g_dist.world;
    for (int k = 0; k < g_pending.k; k++) host_scale(g_pending.buf[k], g_pending.n[k], inv);
    g_pending.k = 0;
#endif
}

void pt_dist_fault_check(int64_t step) {
    const char *r = getenv("POSETUNE_FAIL_RANK");
    if (!r || !r[0] || atoi(r) != g_dist.rank) return;
    const char *s = getenv("POSETUNE_FAIL_AT_STEP");
    int64_t at = s && s[0] ? atoll(s) : 1;
    if (step != at) return;
    PT_RUNTIME("injected failure on rank %d of %d after step %lld (POSETUNE_FAIL_RANK=%s)", g_dist.rank, g_dist.world,
               (long long)step, r);
}

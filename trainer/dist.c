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

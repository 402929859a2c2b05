// dist_buckets_cuda.cu — the NCCL side of the typed collectives in trainer/dist.h: bucketed
// non-blocking gradient all-reduce, reduce-scatter and all-gather of ZeRO-1 shards, and a
// watchdog wait that turns an NCCL error or a peer that stopped answering into an abort that names
// the rank (never a hang).
//
// Stream discipline: every collective runs on the communication stream d->comm_stream. Before it,
// the communication stream waits for an event recorded on the compute stream (so the data it reads
// is final); after it, the compute stream waits for an event recorded on the communication stream
// (so nothing later reads or overwrites the buffer early). Buckets launched during backward
// therefore overlap with the rest of the backward pass.
//
// Environment: POSETUNE_NCCL_TIMEOUT (seconds, default 1800) bounds how long the host waits for
// the outstanding bucket reductions before it declares the job dead.
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "autograd/cuda_common.h"
#include "trainer/dist.h"

#define NCCL_CHECK(call)                                                                          \
    do { ncclResult_t r_ = (call);                                                                \
        if (r_ != ncclSuccess) { char m_[512];                                                    \
            snprintf(m_, sizeof m_, "NCCL error in %s at %s:%d: %s", #call, __FILE__, __LINE__, ncclGetErrorString(r_)); \
            pt_dist_abort(PT_EXIT_RUNTIME, m_); } } while (0)

static cudaEvent_t g_ready = nullptr, g_done = nullptr;
static int g_outstanding = 0;   // bucket reductions launched and not yet waited for

static void ensure_events() {
    if (g_ready) return;
    CUDA_CHECK(cudaEventCreateWithFlags(&g_ready, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&g_done, cudaEventDisableTiming));
}

static ncclRedOp_t nccl_op(int op) { return op == PT_DIST_MAX ? ncclMax : op == PT_DIST_AVG ? ncclAvg : ncclSum; }

// comm stream waits for the compute stream's work so far
static void comm_after_compute(pt_dist *d) {
    ensure_events();
    CUDA_CHECK(cudaEventRecord(g_ready, pt_cuda()->stream));
    CUDA_CHECK(cudaStreamWaitEvent((cudaStream_t)d->comm_stream, g_ready, 0));
}

// Host waits (bounded) for the communication stream, watching NCCL's asynchronous error state;
// then the compute stream is ordered after it.
static void watchdog_wait(pt_dist *d, const char *what) {
    CUDA_CHECK(cudaEventRecord(g_done, (cudaStream_t)d->comm_stream));
    const char *env = getenv("POSETUNE_NCCL_TIMEOUT");
    double limit = env && env[0] ? atof(env) : 1800.0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        cudaError_t q = cudaEventQuery(g_done);
        if (q == cudaSuccess) break;
        if (q != cudaErrorNotReady) CUDA_CHECK(q);
        ncclResult_t ae = ncclSuccess;
        NCCL_CHECK(ncclCommGetAsyncError((ncclComm_t)d->nccl, &ae));
        if (ae != ncclSuccess) {
            char m[512];
            snprintf(m, sizeof m, "NCCL reported an asynchronous error during %s: %s (another rank may have died)", what,
                     ncclGetErrorString(ae));
            ncclCommAbort((ncclComm_t)d->nccl);
            pt_dist_abort(PT_EXIT_RUNTIME, m);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec) > limit) {
            char m[512];
            snprintf(m, sizeof m, "%s did not finish within %.0f s (POSETUNE_NCCL_TIMEOUT): a rank probably died or hangs",
                     what, limit);
            ncclCommAbort((ncclComm_t)d->nccl);
            pt_dist_abort(PT_EXIT_RUNTIME, m);
        }
        usleep(50);
    }
    CUDA_CHECK(cudaStreamWaitEvent(pt_cuda()->stream, g_done, 0));
}

// compute stream waits for the communication stream (no host wait)
static void compute_after_comm(pt_dist *d) {
    CUDA_CHECK(cudaEventRecord(g_done, (cudaStream_t)d->comm_stream));
    CUDA_CHECK(cudaStreamWaitEvent(pt_cuda()->stream, g_done, 0));
}

extern "C" void pt_dist_nccl_allreduce_op(pt_dist *d, float *buf, int64_t n, int op) {
    comm_after_compute(d);
    NCCL_CHECK(ncclAllReduce(buf, buf, (size_t)n, ncclFloat32, nccl_op(op), (ncclComm_t)d->nccl, (cudaStream_t)d->comm_stream));
    compute_after_comm(d);
}

// In place: ncclReduceScatter's in-place form has recvbuff == sendbuff + rank * recvcount; the
// remainder (< world elements) owned by the last rank goes through a reduce to that rank.
extern "C" void pt_dist_nccl_reduce_scatter(pt_dist *d, float *buf, int64_t n, int op) {
    int W = d->world;
    int64_t s = n / W, rem = n - s * W;
    comm_after_compute(d);
    cudaStream_t ks = (cudaStream_t)d->comm_stream;
    ncclComm_t c = (ncclComm_t)d->nccl;
    NCCL_CHECK(ncclGroupStart());
    if (s) NCCL_CHECK(ncclReduceScatter(buf, buf + (int64_t)d->rank * s, (size_t)s, ncclFloat32, nccl_op(op), c, ks));
    if (rem) NCCL_CHECK(ncclReduce(buf + s * W, buf + s * W, (size_t)rem, ncclFloat32, nccl_op(op), W - 1, c, ks));
    NCCL_CHECK(ncclGroupEnd());
    compute_after_comm(d);
}

// In place, dtype-agnostic (bytes): in-place all-gather has sendbuff == recvbuff + rank * sendcount;
// the last rank's remainder is broadcast from it.
extern "C" void pt_dist_nccl_allgather_shards(pt_dist *d, void *buf, int64_t n, size_t es) {
    int W = d->world;
    int64_t s = n / W, rem = n - s * W;
    char *b = (char *)buf;
    comm_after_compute(d);
    cudaStream_t ks = (cudaStream_t)d->comm_stream;
    ncclComm_t c = (ncclComm_t)d->nccl;
    NCCL_CHECK(ncclGroupStart());
    if (s) NCCL_CHECK(ncclAllGather(b + (size_t)(d->rank * s) * es, b, (size_t)s * es, ncclUint8, c, ks));
    if (rem) NCCL_CHECK(ncclBroadcast(b + (size_t)(s * W) * es, b + (size_t)(s * W) * es, (size_t)rem * es, ncclUint8, W - 1, c, ks));
    NCCL_CHECK(ncclGroupEnd());
    compute_after_comm(d);
}

extern "C" void pt_dist_nccl_iallreduce_mean(pt_dist *d, float *buf, int64_t n) {
    comm_after_compute(d);
    NCCL_CHECK(ncclAllReduce(buf, buf, (size_t)n, ncclFloat32, ncclAvg, (ncclComm_t)d->nccl, (cudaStream_t)d->comm_stream));
    g_outstanding++;
}

extern "C" void pt_dist_nccl_wait_all(pt_dist *d) {
    if (!g_outstanding) return;
    ensure_events();
    watchdog_wait(d, "the gradient all-reduce");
    g_outstanding = 0;
}

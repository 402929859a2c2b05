// dist.h — data parallelism: MPI for start-up and small host reductions, NCCL (CUDA) or MPI
// (CPU backend) for gradient all-reduce.
//
// Launch: `mpirun -np N posetune train CONFIG.yaml` (any number of nodes). Without mpirun (no
// OMPI_COMM_WORLD_SIZE / PMI_SIZE in the environment) the process is rank 0 of 1 and MPI is
// never initialised. Local rank = index among the ranks on the same host (hostname-based), used
// as the CUDA device. Rank 0 creates the NCCL unique id and broadcasts it over MPI.
//
// Failure: every MPI/NCCL call is checked; an error prints "rank R: ..." and calls MPI_Abort so
// no rank waits forever (MPI_ERRORS_ARE_FATAL on the world communicator).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "autograd/tensor.h"

#ifdef __cplusplus
extern "C" {   // also called from dist_nccl.cu / dist_buckets_cuda.cu
#endif

typedef struct pt_dist {
    int rank, world, local_rank, local_world;
    int mpi;          // MPI initialised by us
    int use_nccl;     // gradients reduced through NCCL (CUDA)
    void *nccl;       // ncclComm_t
    void *comm_stream;// cudaStream_t for communication
} pt_dist;

pt_dist *pt_dist_get(void);            // the process-wide instance (rank 0 of 1 until init)
void pt_dist_init(int use_cuda);       // idempotent
void pt_dist_finalize(void);
int pt_dist_launched_by_mpi(void);

// In-place mean over ranks of n floats (host memory for the CPU backend, device memory with NCCL).
void pt_dist_allreduce_mean(float *buf, int64_t n, pt_device dev);
// Host helpers (MPI; no-ops on one rank).
void pt_dist_barrier(void);
double pt_dist_allreduce_sum_f64(double v);
int64_t pt_dist_allreduce_max_i64(int64_t v);
void pt_dist_bcast(void *buf, size_t bytes, int root);
// Gather n int64 from every rank into out (world * n), rank-major.
void pt_dist_allgather_i64(const int64_t *in, int n, int64_t *out);
// End every rank: prints the message with this rank's number, then MPI_Abort (or exit).
void pt_dist_abort(int code, const char *msg);

// ---- typed collectives (added for buckets and ZeRO-1) -------------------------------------------
// Counts are ELEMENTS. Host memory goes through MPI (CPU backend), device memory through NCCL on the
// communication stream (ordered after the compute stream's work, and the compute stream waits for
// the result). On one rank every call is a no-op (the data already is the result).
typedef enum { PT_DIST_SUM, PT_DIST_AVG, PT_DIST_MAX } pt_dist_op;

// In-place all-reduce of count floats.
void pt_dist_allreduce_f32(float *buf, int64_t count, pt_dist_op op, pt_device dev);

// Shard layout of a flat buffer of n elements over the ranks (ZeRO-1): S = n / world; rank r owns
// [r*S, r*S + S), the last rank also owns the remainder [world*S, n). Contiguous, covers [0, n).
void pt_dist_shard(int64_t n, int rank, int world, int64_t *offset, int64_t *count);
// In-place reduce-scatter: afterwards buf[offset, offset+count) (this rank's shard, pt_dist_shard
// layout) holds the reduction of that range over the ranks; the rest of buf is unspecified.
void pt_dist_reduce_scatter_f32(float *buf, int64_t n, pt_dist_op op, pt_device dev);
// In-place all-gather: every rank contributes its shard of buf (n elements of elem_size bytes,
// pt_dist_shard layout); afterwards every rank holds all n.
void pt_dist_allgather_shards(void *buf, int64_t n, size_t elem_size, pt_device dev);
// Host-only: gather every rank's shard (pt_dist_shard layout of n floats) into out (n floats) on
// `root`; `mine` is this rank's shard (count floats). out may be NULL on the other ranks.
void pt_dist_gather_shards_f32(const float *mine, int64_t n, float *out, int root);

// Non-blocking mean all-reduce for gradient buckets: starts the reduction of buf[0, count) and
// returns at once (MPI_Iallreduce on host memory, ncclAllReduce on the communication stream for
// device memory). pt_dist_iallreduce_wait_all completes every started one (and divides by the
// world size on the CPU backend) before it returns / before later compute-stream work runs.
void pt_dist_iallreduce_mean_f32(float *buf, int64_t count, pt_device dev);
void pt_dist_iallreduce_wait_all(pt_device dev);

// Fault injection for the failure tests, called by the training loop once per optimizer step:
// POSETUNE_FAIL_RANK=R makes rank R fail with an ordinary runtime error after step
// POSETUNE_FAIL_AT_STEP (default 1). Other ranks are unaffected (they must be stopped by the
// failure handling, not hang).
void pt_dist_fault_check(int64_t step);

#ifdef __cplusplus
}
#endif

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

// dist_nccl.cu — NCCL communicator set-up (unique id over MPI) and the gradient all-reduce.
#include <mpi.h>
#include <nccl.h>
#include <stdio.h>

#include "autograd/cuda_common.h"
#include "trainer/dist.h"

#define NCCL_CHECK(call)                                                                          \
    do { ncclResult_t r_ = (call);                                                                \
        if (r_ != ncclSuccess) { char m_[512];                                                    \
            snprintf(m_, sizeof m_, "NCCL error in %s at %s:%d: %s", #call, __FILE__, __LINE__, ncclGetErrorString(r_)); \
            pt_dist_abort(PT_EXIT_RUNTIME, m_); } } while (0)

extern "C" void pt_dist_nccl_init(pt_dist *d) {
    pt_cuda_set_device(d->local_rank);
    pt_cuda();
    ncclUniqueId id;
    if (d->rank == 0) NCCL_CHECK(ncclGetUniqueId(&id));
    if (MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS) pt_dist_abort(1, "MPI_Bcast of the NCCL id failed");
    ncclComm_t comm;
    NCCL_CHECK(ncclCommInitRank(&comm, d->world, id, d->rank));
    d->nccl = comm;
    cudaStream_t s;
    CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    d->comm_stream = s;
    d->use_nccl = 1;
}

// Gradients are produced on the compute stream; the reduction runs on the communication stream
// after an event, and the compute stream waits for it before the optimizer step.
extern "C" void pt_dist_nccl_allreduce_mean(pt_dist *d, float *buf, int64_t n) {
    cudaStream_t cs = pt_cuda()->stream, ks = (cudaStream_t)d->comm_stream;
    cudaEvent_t ready, done;
    CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventRecord(ready, cs));
    CUDA_CHECK(cudaStreamWaitEvent(ks, ready, 0));
    NCCL_CHECK(ncclAllReduce(buf, buf, (size_t)n, ncclFloat32, ncclAvg, (ncclComm_t)d->nccl, ks));
    CUDA_CHECK(cudaEventRecord(done, ks));
    CUDA_CHECK(cudaStreamWaitEvent(cs, done, 0));
    CUDA_CHECK(cudaEventDestroy(ready));
    CUDA_CHECK(cudaEventDestroy(done));
}

extern "C" void pt_dist_nccl_finalize(pt_dist *d) {
    if (!d->use_nccl) return;
    NCCL_CHECK(ncclCommDestroy((ncclComm_t)d->nccl));
    CUDA_CHECK(cudaStreamDestroy((cudaStream_t)d->comm_stream));
    d->use_nccl = 0;
}

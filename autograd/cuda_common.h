// cuda_common.h — CUDA/cuBLAS check macros, the process-wide stream and handles.
// Included only from .cu files and from C code inside #ifdef POSETUNE_HAVE_CUDA.
#pragma once
#ifdef POSETUNE_HAVE_CUDA
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "tools/check.h"

#ifdef __cplusplus
extern "C" {
#endif

const char *pt_cublas_status_str(cublasStatus_t s);

#define CUDA_CHECK(call)                                                                     \
    do { cudaError_t e_ = (call);                                                            \
        if (e_ != cudaSuccess) pt_fail_at(__FILE__, __LINE__, PT_EXIT_RUNTIME, "CUDA error %s: %s (in %s)", \
                                          cudaGetErrorName(e_), cudaGetErrorString(e_), #call); } while (0)
#define CUBLAS_CHECK(call)                                                                   \
    do { cublasStatus_t s_ = (call);                                                         \
        if (s_ != CUBLAS_STATUS_SUCCESS) pt_fail_at(__FILE__, __LINE__, PT_EXIT_RUNTIME, "cuBLAS error %s (in %s)", \
                                                    pt_cublas_status_str(s_), #call); } while (0)
// After a kernel launch: catches bad launch configurations immediately.
#define CUDA_LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())

// The engine runs every kernel on one compute stream (plus a communication stream in trainer/dist).
typedef struct pt_cuda_ctx {
    int device;
    cudaStream_t stream;
    cublasHandle_t cublas;
    cublasLtHandle_t cublaslt;
    void *lt_workspace; size_t lt_workspace_bytes;
    int sm_count;
    int initialized;
} pt_cuda_ctx;

pt_cuda_ctx *pt_cuda(void);          // initialises on first use (device from pt_cuda_set_device or 0)
void pt_cuda_set_device(int device); // before first use
int pt_cuda_available(void);         // 1 if a device can be opened (no failure if none)

// Stream-ordered device memory (cudaMallocAsync pool); peak tracking.
void *pt_cuda_alloc(size_t bytes);
void pt_cuda_free(void *p, size_t bytes);
size_t pt_cuda_bytes_in_use(void);
size_t pt_cuda_peak_bytes(void);
void pt_cuda_reset_peak(void);
void pt_cuda_sync(void);
// Page-locked host memory (fast, asynchronous host<->device copies), e.g. for the data loader.
void *pt_cuda_host_alloc(size_t bytes, void *ctx);
void pt_cuda_host_free(void *p, void *ctx);

#ifdef __cplusplus
}
#endif
#endif  // POSETUNE_HAVE_CUDA

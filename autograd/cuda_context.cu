// cuda_context.cu — device selection, the compute stream, cuBLAS handles, the memory pool.
#include "autograd/cuda_common.h"

#include <stdio.h>

static pt_cuda_ctx g_ctx = {0};
static int g_requested_device = 0;
static size_t g_in_use = 0, g_peak = 0;

extern "C" const char *pt_cublas_status_str(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_(unknown)";
    }
}

extern "C" void pt_cuda_set_device(int device) {
    if (g_ctx.initialized && g_ctx.device != device)
        PT_RUNTIME("pt_cuda_set_device(%d) after the CUDA context was created on device %d", device, g_ctx.device);
    g_requested_device = device;
}

extern "C" int pt_cuda_available(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) { (void)cudaGetLastError(); return 0; }
    return n > 0;
}

extern "C" pt_cuda_ctx *pt_cuda(void) {
    if (g_ctx.initialized) return &g_ctx;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        PT_RUNTIME("no CUDA device is available (%s); use --device cpu", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    if (g_requested_device >= n) PT_RUNTIME("CUDA device %d requested but only %d present", g_requested_device, n);
    g_ctx.device = g_requested_device;
    CUDA_CHECK(cudaSetDevice(g_ctx.device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&g_ctx.stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&g_ctx.cublas));
    CUBLAS_CHECK(cublasSetStream(g_ctx.cublas, g_ctx.stream));
    CUBLAS_CHECK(cublasLtCreate(&g_ctx.cublaslt));
    g_ctx.lt_workspace_bytes = 64u << 20;
    CUDA_CHECK(cudaMalloc(&g_ctx.lt_workspace, g_ctx.lt_workspace_bytes));
    CUBLAS_CHECK(cublasSetWorkspace(g_ctx.cublas, g_ctx.lt_workspace, g_ctx.lt_workspace_bytes));
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, g_ctx.device));
    g_ctx.sm_count = prop.multiProcessorCount;
    // Keep freed blocks in the pool instead of returning them to the driver at every sync.
    cudaMemPool_t pool;
    CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, g_ctx.device));
    uint64_t threshold = UINT64_MAX;
    CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
    g_ctx.initialized = 1;
    return &g_ctx;
}

extern "C" void *pt_cuda_alloc(size_t bytes) {
    pt_cuda_ctx *c = pt_cuda();
    void *p = NULL;
    if (bytes == 0) bytes = 256;
    cudaError_t e = cudaMallocAsync(&p, bytes, c->stream);
    if (e != cudaSuccess)
        PT_RUNTIME("CUDA out of memory allocating %.1f MiB (%.1f MiB in use, peak %.1f MiB): %s",
                   bytes / 1048576.0, g_in_use / 1048576.0, g_peak / 1048576.0, cudaGetErrorString(e));
    g_in_use += bytes;
    if (g_in_use > g_peak) g_peak = g_in_use;
    return p;
}

extern "C" void pt_cuda_free(void *p, size_t bytes) {
    if (!p) return;
    CUDA_CHECK(cudaFreeAsync(p, pt_cuda()->stream));
    g_in_use -= bytes ? bytes : 256;
}

extern "C" size_t pt_cuda_bytes_in_use(void) { return g_in_use; }
extern "C" size_t pt_cuda_peak_bytes(void) { return g_peak; }
extern "C" void pt_cuda_reset_peak(void) { g_peak = g_in_use; }
extern "C" void pt_cuda_sync(void) { CUDA_CHECK(cudaStreamSynchronize(pt_cuda()->stream)); }

extern "C" void *pt_cuda_host_alloc(size_t bytes, void *ctx) {
    (void)ctx;
    void *p = NULL;
    pt_cuda();   // the context must exist before pinned allocations on this device
    CUDA_CHECK(cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault));
    return p;
}
extern "C" void pt_cuda_host_free(void *p, void *ctx) {
    (void)ctx;
    if (p) CUDA_CHECK(cudaFreeHost(p));
}

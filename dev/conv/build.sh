#!/bin/bash
# Build dev/conv/bench_conv and the GPU op test gpu_ops_mm without CMake (only the autograd core
# and the op families they use), into /tmp/opsmm_bench. Run from the repository root on a GPU machine.
set -e
export PATH=/usr/local/cuda/bin:$PATH
B=/tmp/opsmm_bench
rm -rf $B && mkdir -p $B
CU="autograd/cuda_context autograd/tensor_cuda autograd/ops/elementwise autograd/ops/matmul autograd/ops/conv2d autograd/ops/resample"
C="autograd/tensor autograd/tape autograd/dtype autograd/rng autograd/cpu_gemm autograd/ops/elementwise autograd/ops/shape
   autograd/ops/reduce autograd/ops/matmul autograd/ops/conv2d autograd/ops/resample tools/check"
for f in $CU; do
  nvcc -O3 -std=c++17 --expt-relaxed-constexpr -gencode arch=compute_90,code=sm_90 -DPOSETUNE_HAVE_CUDA=1 -I. -c $f.cu -o $B/$(basename $f)_cu.o &
done
for f in $C; do
  gcc -std=gnu11 -O2 -DPOSETUNE_HAVE_CUDA=1 -DPOSETUNE_SOURCE_DIR='"x"' -I. -I/usr/local/cuda/include -c $f.c -o $B/$(basename $f).o &
done
wait
for m in dev/conv/bench_conv tests/gpu/gpu_ops_mm; do
  gcc -std=gnu11 -O2 -DPOSETUNE_HAVE_CUDA=1 -DPOSETUNE_SOURCE_DIR='"x"' -I. -I/usr/local/cuda/include -c $m.c -o $B/main_$(basename $m).o
  g++ $B/*_cu.o $(ls $B/*.o | grep -v -e _cu.o -e main_) $B/main_$(basename $m).o -L/usr/local/cuda/lib64 -lcublas -lcublasLt -lcudart -lm -lpthread -o $B/$(basename $m)
done
echo "built $B/bench_conv $B/gpu_ops_mm"

// cuda-check: the CUDA program of the GPU machine check (a) (issue #6, docs/gpu-harness.md).
// Built on the development machine with nvcc (the CUDA runtime linked statically), put
// in a small image by tests/gpu/cuda-check.toml, and run there by `ocibake test --gpus
// all`: the container gets the device nodes and the driver's libcuda.so.1 from ocibake.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

__global__ void saxpy(int n, float a, const float* x, float* y) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        y[i] = a * x[i] + y[i];
    }
}

static void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) {
        std::printf("cuda-check: %s failed: %s\n", what, cudaGetErrorString(e));
        std::exit(1);
    }
}

int main() {
    int count = 0;
    check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
    int driver = 0;
    check(cudaDriverGetVersion(&driver), "cudaDriverGetVersion");
    cudaDeviceProp p{};
    check(cudaGetDeviceProperties(&p, 0), "cudaGetDeviceProperties");
    std::printf("cuda-check: %d GPU(s), driver CUDA %d.%d, GPU 0: %s, compute %d.%d, %zu MiB\n",
                count, driver / 1000, driver % 1000 / 10, p.name, p.major, p.minor,
                static_cast<size_t>(p.totalGlobalMem >> 20));
    const int n = 1 << 24;
    std::vector<float> x(n, 1.0f), y(n, 2.0f);
    float *dx = nullptr, *dy = nullptr;
    check(cudaMalloc(&dx, n * sizeof(float)), "cudaMalloc");
    check(cudaMalloc(&dy, n * sizeof(float)), "cudaMalloc");
    check(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
    check(cudaMemcpy(dy, y.data(), n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
    saxpy<<<(n + 255) / 256, 256>>>(n, 3.0f, dx, dy);
    check(cudaGetLastError(), "saxpy launch");
    check(cudaMemcpy(y.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
    for (int i = 0; i < n; ++i) {
        if (y[i] != 5.0f) {
            std::printf("cuda-check: saxpy wrong at %d: %f\n", i, y[i]);
            return 1;
        }
    }
    std::printf("cuda-check: saxpy of %d floats ok\n", n);
    cudaFree(dx);
    cudaFree(dy);
    return 0;
}

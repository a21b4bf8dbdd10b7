/* cudart-check: the program of the GPU machine check of issue #7 (docs/gpu-harness.md):
 * Debian 12's CUDA 11.8 runtime (libcudart11.0 from non-free) driving the host's GPU from
 * inside an image ocibake built from Debian packages. Plain C, compiled with gcc: it
 * loads libcudart.so.11.0 with dlopen (found through the image's ld.so.cache), asks for
 * the runtime's and the driver's versions and the GPUs, then fills 64 MiB on the GPU,
 * copies it device to device and back, and checks every byte. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*int_ptr_fn)(int*);
typedef const char* (*error_string_fn)(int);
typedef int (*malloc_fn)(void**, size_t);
typedef int (*memset_fn)(void*, int, size_t);
typedef int (*memcpy_fn)(void*, const void*, size_t, int);
typedef int (*free_fn)(void*);

static void* cudart;
static error_string_fn error_string;

static void* need(const char* name) {
    void* f = dlsym(cudart, name);
    if (f == NULL) {
        printf("cudart-check: libcudart.so.11.0 has no %s\n", name);
        exit(1);
    }
    return f;
}

static void check(int rc, const char* what) {
    if (rc != 0) {
        printf("cudart-check: %s failed: %s\n", what, error_string(rc));
        exit(1);
    }
}

int main(void) {
    cudart = dlopen("libcudart.so.11.0", RTLD_NOW);
    if (cudart == NULL) {
        printf("cudart-check: %s\n", dlerror());
        return 1;
    }
    printf("cudart-check: libcudart.so.11.0 loaded\n");
    error_string = (error_string_fn)need("cudaGetErrorString");
    int runtime = 0, driver = 0, count = 0;
    check(((int_ptr_fn)need("cudaRuntimeGetVersion"))(&runtime), "cudaRuntimeGetVersion");
    printf("cudart-check: CUDA runtime %d.%d\n", runtime / 1000, runtime % 1000 / 10);
    check(((int_ptr_fn)need("cudaDriverGetVersion"))(&driver), "cudaDriverGetVersion");
    check(((int_ptr_fn)need("cudaGetDeviceCount"))(&count), "cudaGetDeviceCount");
    printf("cudart-check: driver CUDA %d.%d, %d GPU(s)\n", driver / 1000, driver % 1000 / 10,
           count);
    const size_t n = (size_t)64 << 20;
    malloc_fn cuda_malloc = (malloc_fn)need("cudaMalloc");
    memset_fn cuda_memset = (memset_fn)need("cudaMemset");
    memcpy_fn cuda_memcpy = (memcpy_fn)need("cudaMemcpy");
    free_fn cuda_free = (free_fn)need("cudaFree");
    void* a = NULL;
    void* b = NULL;
    check(cuda_malloc(&a, n), "cudaMalloc");
    check(cuda_malloc(&b, n), "cudaMalloc");
    check(cuda_memset(a, 0x5a, n), "cudaMemset");
    check(cuda_memcpy(b, a, n, 3 /* cudaMemcpyDeviceToDevice */), "cudaMemcpy");
    unsigned char* host = malloc(n);
    if (host == NULL) {
        return 1;
    }
    memset(host, 0, n);
    check(cuda_memcpy(host, b, n, 2 /* cudaMemcpyDeviceToHost */), "cudaMemcpy");
    for (size_t i = 0; i < n; ++i) {
        if (host[i] != 0x5a) {
            printf("cudart-check: byte %zu is 0x%02x, not 0x5a\n", i, host[i]);
            return 1;
        }
    }
    printf("cudart-check: 64 MiB set, copied on the GPU and back: ok\n");
    cuda_free(a);
    cuda_free(b);
    free(host);
    return 0;
}

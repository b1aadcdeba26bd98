// CUDA random-number kernels: the same element recipes as the CPU reference
// (kernels/cpu/random.cpp), from tensor/philox.h, in grid-stride loops on the compute stream.
// Element i always reads the block at counter (first + i), whatever thread handles it,
// so the output does not depend on the launch geometry and matches the CPU bit for bit (float64
// normals to a few ulp: they use CUDA's log/cos). Tested against the CPU in
// tests/test_random.cpp (CudaRandom.*, skipped without a GPU). A draw captured into a CUDA graph
// carries device_state: each kernel then reads (seed, base) from device memory when it runs, so
// every replay draws at the counters the generator wrote just before it (docs/rng.md).
#include <cstdint>

#include <cub/device/device_radix_sort.cuh>

#include "kernels/random.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"
#include "tensor/philox.h"

namespace ember::kernels::cuda {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float uniform_of(const philox::Block& b, float) {
  return philox::uniform_float(b.v[0]);
}
__device__ __forceinline__ double uniform_of(const philox::Block& b, double) {
  return philox::uniform_double(b.v[0], b.v[1]);
}
__device__ __forceinline__ float normal_of(const philox::Block& b, float) {
  return philox::normal_float(b);
}
__device__ __forceinline__ double normal_of(const philox::Block& b, double) {
  return philox::normal_double(b);
}

// The draw's seed and first counter: the values of an eager draw, or {state[0], state[1] +
// first_counter} from device memory for a captured one (every thread reads the same two words).
__device__ __forceinline__ void resolve(const PhiloxDraw& draw, uint64_t& seed, uint64_t& first) {
  if (draw.device_state) {
    seed = draw.device_state[0];
    first = draw.device_state[1] + draw.first_counter;  // wraps like the host's uint64 sum
  } else {
    seed = draw.seed;
    first = draw.first_counter;
  }
}

// out: [n] contiguous. One Philox block per element (no block sharing between lanes).
template <typename T>
__global__ void uniform_kernel(T* out, long long n, PhiloxDraw draw, T lo, T scale) {
  uint64_t seed, first;
  resolve(draw, seed, first);
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const philox::Block b = philox::element_block(seed, first, static_cast<uint64_t>(i));
    out[i] = philox::fma_rn(uniform_of(b, T()), scale, lo);
  }
}

template <typename T>
__global__ void normal_kernel(T* out, long long n, PhiloxDraw draw, T mean, T std) {
  uint64_t seed, first;
  resolve(draw, seed, first);
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const philox::Block b = philox::element_block(seed, first, static_cast<uint64_t>(i));
    out[i] = philox::fma_rn(normal_of(b, T()), std, mean);
  }
}

template <typename T>
__global__ void bernoulli_kernel(T* out, long long n, PhiloxDraw draw, uint64_t threshold) {
  uint64_t seed, first;
  resolve(draw, seed, first);
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const philox::Block b = philox::element_block(seed, first, static_cast<uint64_t>(i));
    out[i] = philox::bernoulli_draw(b, threshold) ? T(1) : T(0);
  }
}

__global__ void iota_kernel(int64_t* out, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    out[i] = i;
}

__global__ void keys_kernel(int64_t* out, long long n, PhiloxDraw draw) {
  uint64_t seed, first;
  resolve(draw, seed, first);
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    out[i] = philox::element_block(seed, first, static_cast<uint64_t>(i)).v[0];
}

}  // namespace

void fill_uniform(const Tensor& out, const PhiloxDraw& draw, double low, double high) {
  const long long n = out.numel();
  dispatch_float(out.dtype(), "fill_uniform", [&](auto tag) {
    using T = typename decltype(tag)::type;
    uniform_kernel<T><<<::ember::cuda::grid_for(n, kThreads), kThreads, 0,
                        ::ember::cuda::compute_stream()>>>(
        static_cast<T*>(out.raw_data()), n, draw, static_cast<T>(low),
        static_cast<T>(high - low));
    EMBER_CUDA_CHECK_LAUNCH("uniform_kernel");
  });
}

void fill_normal(const Tensor& out, const PhiloxDraw& draw, double mean, double std) {
  const long long n = out.numel();
  dispatch_float(out.dtype(), "fill_normal", [&](auto tag) {
    using T = typename decltype(tag)::type;
    normal_kernel<T><<<::ember::cuda::grid_for(n, kThreads), kThreads, 0,
                       ::ember::cuda::compute_stream()>>>(
        static_cast<T*>(out.raw_data()), n, draw, static_cast<T>(mean),
        static_cast<T>(std));
    EMBER_CUDA_CHECK_LAUNCH("normal_kernel");
  });
}

void fill_bernoulli(const Tensor& out, const PhiloxDraw& draw, double p) {
  const long long n = out.numel();
  const uint64_t threshold = philox::bernoulli_threshold(p);
  const unsigned grid = ::ember::cuda::grid_for(n, kThreads);
  cudaStream_t stream = ::ember::cuda::compute_stream();
  switch (out.dtype()) {
    case DType::Float32:
      bernoulli_kernel<float><<<grid, kThreads, 0, stream>>>(static_cast<float*>(out.raw_data()),
                                                             n, draw, threshold);
      break;
    case DType::Float64:
      bernoulli_kernel<double><<<grid, kThreads, 0, stream>>>(
          static_cast<double*>(out.raw_data()), n, draw, threshold);
      break;
    case DType::UInt8:
      bernoulli_kernel<uint8_t><<<grid, kThreads, 0, stream>>>(
          static_cast<uint8_t*>(out.raw_data()), n, draw, threshold);
      break;
    default:
      EMBER_FAIL("fill_bernoulli: out must be float32, float64 or uint8, got ", out.describe());
  }
  EMBER_CUDA_CHECK_LAUNCH("bernoulli_kernel");
}

void random_keys(const Tensor& out, const PhiloxDraw& draw) {
  const long long n = out.numel();
  keys_kernel<<<::ember::cuda::grid_for(n, kThreads), kThreads, 0,
                ::ember::cuda::compute_stream()>>>(out.data<int64_t>(), n, draw);
  EMBER_CUDA_CHECK_LAUNCH("keys_kernel");
}

// CUB's radix sort is stable, so equal keys keep index order: the CPU's (key, index) order.
// The keys are uint32 values held in int64, so only bits 0..31 are sorted on.
void permutation_from_keys(const Tensor& perm, const Tensor& keys) {
  const long long n = perm.numel();
  EMBER_CHECK(n <= 0x7fffffffLL, "randperm on the GPU: n = ", n, " is over 2^31 - 1");
  cudaStream_t stream = ::ember::cuda::compute_stream();
  const Device device = perm.device();
  Tensor indices = empty({n}, {DType::Int64, device});
  Tensor sorted_keys = empty({n}, {DType::Int64, device});
  iota_kernel<<<::ember::cuda::grid_for(n, kThreads), kThreads, 0, stream>>>(
      indices.data<int64_t>(), n);
  EMBER_CUDA_CHECK_LAUNCH("iota_kernel");
  const auto* keys_in = reinterpret_cast<const unsigned long long*>(keys.data<int64_t>());
  auto* keys_out = reinterpret_cast<unsigned long long*>(sorted_keys.data<int64_t>());
  const int64_t* values_in = indices.data<int64_t>();
  int64_t* values_out = perm.data<int64_t>();
  size_t temp_bytes = 0;
  EMBER_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in, keys_out,
                                                   values_in, values_out, static_cast<int>(n), 0,
                                                   32, stream));
  Tensor temp = empty({static_cast<int64_t>(temp_bytes > 0 ? temp_bytes : 1)},
                      {DType::UInt8, device});
  EMBER_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.raw_data(), temp_bytes, keys_in, keys_out,
                                                   values_in, values_out, static_cast<int>(n), 0,
                                                   32, stream));
  EMBER_CUDA_CHECK_LAUNCH("cub::DeviceRadixSort::SortPairs");
}

}  // namespace ember::kernels::cuda

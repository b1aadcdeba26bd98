// CUDA elementwise kernels: binary, unary, where and add_inplace with the semantics of the CPU
// reference (kernels/cpu/elementwise.cpp) and the same formulas (kernels/elementwise_math.h,
// compiled for both). Each op is a compile-time functor, so every kernel instantiation is
// specialised for one op (no switch per element).
//
// Two paths per op (design: docs/cuda_kernels.md, "Elementwise, reductions, softmax"):
//   * contiguous: every operand contiguous with out's shape. When every pointer is 16-byte
//     aligned, each thread loads 16 bytes per operand (4 floats / 2 doubles) as one vector
//     access; the numel % vector-width tail and misaligned views take the scalar variant.
//   * strided: broadcasting and arbitrary strides through kernels/cuda/offset_calculator.h.
// Tested against the CPU in tests/test_cuda_elementwise.cpp (skipped without a GPU).
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/offset_calculator.h"
#include "kernels/elementwise.h"
#include "kernels/elementwise_math.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_context.h"

namespace ember::kernels::cuda {

namespace {

constexpr int kThreads = 256;

// The formulas of kernels/elementwise_math.h with CUDA's math calls (expf, logf, ...).
template <BinaryOp op, typename T>
struct BinaryFn {
  T alpha;
  using Out = std::conditional_t<writes_mask(op), uint8_t, T>;
  __device__ __forceinline__ Out operator()(T a, T b) const {
    return static_cast<Out>(pointwise::binary_formula<pointwise::CudaMath, op>(a, b, alpha));
  }
};

template <UnaryOp op, typename T>
struct UnaryFn {
  T alpha, beta;
  using Out = std::conditional_t<writes_mask(op), uint8_t, T>;
  __device__ __forceinline__ Out operator()(T x) const {
    return static_cast<Out>(pointwise::unary_formula<pointwise::CudaMath, op>(x, alpha, beta));
  }
};

// self + alpha * other (add_inplace).
template <typename T>
struct AxpyFn {
  T alpha;
  using Out = T;
  __device__ __forceinline__ T operator()(T s, T o) const { return pointwise::axpy(s, alpha, o); }
};

// ---- contiguous path ----
// 16 bytes of T, aligned so the compiler emits one 128-bit load/store (ld.global.v4.f32 for
// float, .v2.f64 for double): the float4 / double2 access without per-type code.
template <typename T>
struct alignas(16) Vec16 {
  static constexpr int kWidth = 16 / sizeof(T);
  T v[kWidth];
};

// Input pointers by value (unary ops leave p[1] unused).
template <typename T>
struct InPtrs2 { const T* p[2]; };

template <int kArity, typename F, typename T>
__device__ __forceinline__ auto apply(const F& f, const T (&v)[kArity]) {
  if constexpr (kArity == 1) return f(v[0]);
  else return f(v[0], v[1]);
}

// out, in[k]: [n] contiguous. kVector: every pointer is 16-byte aligned; the first
// (n / width) * width elements go by vectors and the rest (fewer than width) one by one.
template <bool kVector, int kArity, typename F, typename T, typename Out>
__global__ void contiguous_kernel(Out* out, InPtrs2<T> in, long long n, F f) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  long long first_scalar = 0;
  if constexpr (kVector) {
    constexpr int W = Vec16<T>::kWidth;
    const long long vectors = n / W;
    for (long long v = blockIdx.x * (long long)blockDim.x + threadIdx.x; v < vectors; v += stride) {
      Vec16<T> loaded[kArity];
#pragma unroll
      for (int k = 0; k < kArity; ++k) loaded[k] = reinterpret_cast<const Vec16<T>*>(in.p[k])[v];
      if constexpr (std::is_same_v<Out, T>) {
        Vec16<T> result;
        for (int j = 0; j < W; ++j) {
          T args[kArity];
          for (int k = 0; k < kArity; ++k) args[k] = loaded[k].v[j];
          result.v[j] = apply<kArity>(f, args);
        }
        reinterpret_cast<Vec16<T>*>(out)[v] = result;
      } else {  // uint8 masks: the output is narrower, store element by element
        for (int j = 0; j < W; ++j) {
          T args[kArity];
          for (int k = 0; k < kArity; ++k) args[k] = loaded[k].v[j];
          out[v * W + j] = apply<kArity>(f, args);
        }
      }
    }
    first_scalar = vectors * W;
  }
  for (long long i = first_scalar + blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += stride) {
    T args[kArity];
    for (int k = 0; k < kArity; ++k) args[k] = in.p[k][i];
    out[i] = apply<kArity>(f, args);
  }
}

// ---- strided path ----
// Operand 0 of `calc` is out, operands 1..kArity the inputs (broadcast strides, 0 where
// broadcast). n = numel of out's shape.
template <int kArity, typename F, typename T, typename Out>
__global__ void strided_kernel(Out* out, InPtrs2<T> in, long long n,
                               OffsetCalculator<kArity + 1> calc, F f) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    int64_t off[kArity + 1];
    calc.offsets(i, off);
    T args[kArity];
    for (int k = 0; k < kArity; ++k) args[k] = in.p[k][off[k + 1]];
    out[off[0]] = apply<kArity>(f, args);
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Runs f over out's elements. inputs[k] must have out's shape when `contiguous` is true;
// otherwise `strides` holds out's strides then each input's broadcast strides.
template <int kArity, typename F, typename T, typename Out>
void launch_pointwise(const char* name, Out* out, const T* const (&inputs)[kArity],
                      const Shape& shape, bool contiguous,
                      const std::array<Shape, kArity + 1>& strides, F f) {
  const long long n = numel_of(shape);
  if (n == 0) return;
  cudaStream_t stream = ::ember::cuda::compute_stream();
  InPtrs2<T> in{};
  for (int k = 0; k < kArity; ++k) in.p[k] = inputs[k];
  if (contiguous) {
    bool vector = n >= Vec16<T>::kWidth && aligned16(out);
    for (int k = 0; k < kArity; ++k) vector = vector && aligned16(inputs[k]);
    if (vector) {
      const long long work = n / Vec16<T>::kWidth + n % Vec16<T>::kWidth;
      contiguous_kernel<true, kArity><<<::ember::cuda::grid_for(work, kThreads), kThreads, 0,
                                        stream>>>(out, in, n, f);
    } else {
      contiguous_kernel<false, kArity><<<::ember::cuda::grid_for(n, kThreads), kThreads, 0,
                                         stream>>>(out, in, n, f);
    }
    EMBER_CUDA_CHECK_LAUNCH(name);
    return;
  }
  const OffsetCalculator<kArity + 1> calc = make_offset_calculator<kArity + 1>(shape, strides);
  strided_kernel<kArity><<<::ember::cuda::grid_for(n, kThreads), kThreads, 0, stream>>>(
      out, in, n, calc, f);
  EMBER_CUDA_CHECK_LAUNCH(name);
}

// ---- where ----
// The value operands are moved, never computed on, so they are dispatched by element size
// (unsigned integers of 1, 2, 4, 8 bytes): one instantiation serves float32 and int32, and so on.

// cond != 0 as the CPU decides it (through double): NaN counts as true, -0.0 as false.
template <typename C> __device__ __forceinline__ bool nonzero(C c) { return c != C(0); }
struct BF16Bits { uint16_t bits; };
__device__ __forceinline__ bool nonzero(BF16Bits c) { return (c.bits & 0x7fffu) != 0; }

template <typename C> struct CondType { using type = C; };
template <> struct CondType<bfloat16> { using type = BF16Bits; };

// out: [n] with out's strides; cond, a, b: broadcast strides (operands 1, 2, 3 of calc).
template <typename V, typename C>
__global__ void where_kernel(V* out, const C* cond, const V* a, const V* b, long long n,
                             OffsetCalculator<4> calc) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    int64_t off[4];
    calc.offsets(i, off);
    out[off[0]] = nonzero(cond[off[1]]) ? a[off[2]] : b[off[3]];
  }
}

}  // namespace

void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, double alpha) {
  dispatch_float(a.dtype(), "binary elementwise", [&](auto tag) {
    using T = typename decltype(tag)::type;
    with_op(op, [&](auto op_tag) {
      constexpr BinaryOp kOp = decltype(op_tag)::value;
      using F = BinaryFn<kOp, T>;
      using Out = typename F::Out;
      const bool contiguous = a.shape() == out.shape() && b.shape() == out.shape() &&
                              out.is_contiguous() && a.is_contiguous() && b.is_contiguous();
      const T* inputs[2] = {static_cast<const T*>(a.raw_data()), static_cast<const T*>(b.raw_data())};
      launch_pointwise<2>("binary_elementwise_kernel", static_cast<Out*>(out.raw_data()), inputs,
                          out.shape(), contiguous,
                          {out.strides(), broadcast_strides(a, out.shape()),
                           broadcast_strides(b, out.shape())},
                          F{static_cast<T>(alpha)});
    });
  });
}

void unary(UnaryOp op, const Tensor& out, const Tensor& x, double alpha, double beta) {
  dispatch_float(x.dtype(), "unary elementwise", [&](auto tag) {
    using T = typename decltype(tag)::type;
    with_op(op, [&](auto op_tag) {
      constexpr UnaryOp kOp = decltype(op_tag)::value;
      using F = UnaryFn<kOp, T>;
      using Out = typename F::Out;
      // out may be strided too: mul_ runs this in place on a view.
      const bool contiguous = out.is_contiguous() && x.is_contiguous();
      const T* inputs[1] = {static_cast<const T*>(x.raw_data())};
      launch_pointwise<1>("unary_elementwise_kernel", static_cast<Out*>(out.raw_data()), inputs,
                          out.shape(), contiguous,
                          {out.strides(), broadcast_strides(x, out.shape())},
                          F{static_cast<T>(alpha), static_cast<T>(beta)});
    });
  });
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  const long long n = out.numel();
  if (n == 0) return;
  const OffsetCalculator<4> calc = make_offset_calculator<4>(
      out.shape(), {out.strides(), broadcast_strides(cond, out.shape()),
                    broadcast_strides(a, out.shape()), broadcast_strides(b, out.shape())});
  auto launch = [&](auto value_tag, auto cond_tag) {
    using V = typename decltype(value_tag)::type;
    using C = typename decltype(cond_tag)::type;
    where_kernel<V, C><<<::ember::cuda::grid_for(n, kThreads), kThreads, 0,
                         ::ember::cuda::compute_stream()>>>(
        static_cast<V*>(out.raw_data()), static_cast<const C*>(cond.raw_data()),
        static_cast<const V*>(a.raw_data()), static_cast<const V*>(b.raw_data()), n, calc);
    EMBER_CUDA_CHECK_LAUNCH("where_kernel");
  };
  dispatch_all(cond.dtype(), [&](auto cond_tag) {
    using C = typename CondType<typename decltype(cond_tag)::type>::type;
    switch (dtype_size(out.dtype())) {
      case 1: return launch(TypeTag<uint8_t>{}, TypeTag<C>{});
      case 2: return launch(TypeTag<uint16_t>{}, TypeTag<C>{});
      case 4: return launch(TypeTag<uint32_t>{}, TypeTag<C>{});
      case 8: return launch(TypeTag<uint64_t>{}, TypeTag<C>{});
      default: EMBER_FAIL("where: unsupported element size of ", out.describe());
    }
  });
}

void add_inplace(const Tensor& self, const Tensor& other, double alpha) {
  dispatch_float(self.dtype(), "add_", [&](auto tag) {
    using T = typename decltype(tag)::type;
    // self is read and written at the same offset by the same thread, so aliasing is safe.
    const bool contiguous = self.is_contiguous() && other.is_contiguous() &&
                            other.shape() == self.shape();
    T* s = static_cast<T*>(self.raw_data());
    const T* inputs[2] = {s, static_cast<const T*>(other.raw_data())};
    // Operand list: out = self, input 0 = self (same strides), input 1 = other broadcast.
    launch_pointwise<2>("add_inplace_kernel", s, inputs, self.shape(), contiguous,
                        {self.strides(), self.strides(), broadcast_strides(other, self.shape())},
                        AxpyFn<T>{static_cast<T>(alpha)});
  });
}

}  // namespace ember::kernels::cuda

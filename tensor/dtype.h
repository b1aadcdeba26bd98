// Element types. float32 is the working type on every device; float64 exists on the CPU for
// gradient checks; bfloat16 is storage plus conversion; uint8/int32/int64 hold images, labels
// and indices.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "tensor/error.h"

namespace ember {

enum class DType : uint8_t { Float32, Float64, BFloat16, UInt8, Int32, Int64 };

// bfloat16: the top 16 bits of an IEEE float32. Conversion rounds to nearest even; NaN stays NaN.
struct bfloat16 {
  uint16_t bits = 0;
  bfloat16() = default;
  explicit bfloat16(float value) {
    uint32_t u;
    std::memcpy(&u, &value, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it quiet NaN, never round to inf
      bits = static_cast<uint16_t>((u >> 16) | 0x0040u);
    } else {
      uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
      bits = static_cast<uint16_t>((u + rounding) >> 16);
    }
  }
  explicit operator float() const {
    uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
inline bool is_floating(DType d) {
  return d == DType::Float32 || d == DType::Float64 || d == DType::BFloat16;
}
inline bool is_integral(DType d) { return !is_floating(d); }

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
template <> constexpr DType dtype_of<bfloat16>() { return DType::BFloat16; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::UInt8; }
template <> constexpr DType dtype_of<int32_t>() { return DType::Int32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::Int64; }

template <typename T> struct TypeTag { using type = T; };

// Calls fn(TypeTag<T>{}) for the C++ type of a float32/float64 dtype; anything else is an error
// naming the operation. Math kernels are written once as templates and instantiated here.
template <typename Fn>
decltype(auto) dispatch_float(DType dtype, const char* op, Fn&& fn) {
  switch (dtype) {
    case DType::Float32: return fn(TypeTag<float>{});
    case DType::Float64: return fn(TypeTag<double>{});
    default: EMBER_FAIL(op, ": expected a float32 or float64 tensor, got ", dtype_name(dtype));
  }
}

// Same over every dtype (used by copies, casts, fills, printing).
template <typename Fn>
decltype(auto) dispatch_all(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::Float32: return fn(TypeTag<float>{});
    case DType::Float64: return fn(TypeTag<double>{});
    case DType::BFloat16: return fn(TypeTag<bfloat16>{});
    case DType::UInt8: return fn(TypeTag<uint8_t>{});
    case DType::Int32: return fn(TypeTag<int32_t>{});
    case DType::Int64: return fn(TypeTag<int64_t>{});
  }
  EMBER_FAIL("unknown dtype");
}

// Converts between element types through double (exact for every type here but int64 > 2^53).
template <typename To, typename From>
inline To convert_scalar(From v) {
  if constexpr (std::is_same_v<To, From>) return v;
  else if constexpr (std::is_same_v<From, bfloat16>) return convert_scalar<To>(static_cast<float>(v));
  else if constexpr (std::is_same_v<To, bfloat16>) return bfloat16(static_cast<float>(v));
  else return static_cast<To>(v);
}

}  // namespace ember

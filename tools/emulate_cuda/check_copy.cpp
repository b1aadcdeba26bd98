// Emulated tensor/cuda/copy.cu (ember::cuda::copy_tensor, fill_tensor) against the CPU's copy_
// and fill_ (tensor/copy.cpp). Copies move or convert values with the same formulas on both
// sides, so every case must agree in every bit, bfloat16 rounding and NaNs included. Each path
// of copy.cu is driven: the same-dtype contiguous memcpy, the contiguous conversion loop, the
// strided loop (transposed, sliced with a step, broadcast, more dimensions than the old kernel's
// 8), the zero fill by memset, the non-zero and -0.0 fills, strided fills, empty tensors.
#include <cstring>
#include <limits>

#include "check.h"
#include "tensor/cuda/copy.h"

using namespace ember;
using namespace emu_check;

namespace {

const DType kAll[] = {DType::Float32, DType::Float64, DType::BFloat16,
                      DType::UInt8,   DType::Int32,   DType::Int64};

// Values every dtype holds exactly or converts to without undefined behaviour: 0..200 with
// halves (float -> integer truncates them the same way on both sides).
Tensor values(const Shape& s, uint64_t seed, DType dt) {
  Tensor t = rnd(s, seed, DType::Float64, 0, 200);
  std::vector<double> v = t.to_vector<double>();
  for (double& x : v) x = std::round(x * 2) / 2;
  return from_vector(v, s, {.dtype = dt});
}

// Byte-for-byte equality of two tensors' contiguous contents (NaN payloads, -0.0).
void same_bytes(const Tensor& got, const Tensor& want, const std::string& what) {
  ++cases;
  const Tensor a = got.contiguous(), b = want.contiguous();
  const size_t bytes = a.numel() * dtype_size(a.dtype());
  const bool ok = a.shape() == b.shape() && a.dtype() == b.dtype() &&
                  (bytes == 0 || std::memcmp(a.raw_data(), b.raw_data(), bytes) == 0);
  std::printf("%s %-58s (%lld)\n", ok ? "ok  " : "FAIL", what.c_str(),
              static_cast<long long>(a.numel()));
  if (!ok) ++failures;
}

// A fresh dst of dst_dt (filled with 7; transposed in memory if asked) <- src, on both sides.
void copy_case(const Tensor& src, DType dst_dt, const std::string& what,
               bool transposed_dst = false) {
  const Shape& s = src.shape();
  auto make_dst = [&] {
    if (!transposed_dst || s.size() != 2) return full(s, 7, {dst_dt});
    return full({s[1], s[0]}, 7, {dst_dt}).permute({1, 0});  // a strided destination
  };
  Tensor want = make_dst(), got = make_dst();
  copy_(want, src);
  cuda::copy_tensor(got, src);
  same_bytes(got, want, what);
}

void conversions() {
  // Every dtype pair, contiguous: the memcpy path on the diagonal, the flat loop elsewhere.
  for (DType from : kAll)
    for (DType to : kAll)
      copy_case(values({37, 29}, 11, from), to,
                std::string("copy contiguous ") + dtype_name(from) + " -> " + dtype_name(to));

  // bfloat16 rounding: ties to even, the largest finite values, infinities, -0.0, NaNs, and a
  // double whose rounding to float first matters (the CPU converts double -> float -> bf16).
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  auto bits = [](uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  const std::vector<float> special = {0.0f, -0.0f, 1.0f, bits(0x3f808000u), bits(0x3f818000u),
                                      bits(0x3f808001u), bits(0x7f7fffffu), -bits(0x7f7fffffu),
                                      inf, -inf, nan, -nan, bits(0x7f800001u), bits(0xffc12345u),
                                      1e-40f, -3.14159265f};
  const Tensor f32 = from_vector(special, {static_cast<int64_t>(special.size())});
  copy_case(f32, DType::BFloat16, "copy float32 -> bfloat16 special values");
  const Tensor f64 = f32.to(DType::Float64);
  copy_case(f64, DType::BFloat16, "copy float64 -> bfloat16 special values");
  const std::vector<double> double_ties = {1.00390625 + 1e-12, 1.00390625 - 1e-12,
                                          1.0 + 3.0 / 512 + 1e-9};
  copy_case(from_vector(double_ties, {3}, {.dtype = DType::Float64}), DType::BFloat16,
            "copy float64 -> bfloat16 near ties (double rounding as the CPU)");
  Tensor bf = f32.to(DType::BFloat16);
  for (DType to : {DType::Float32, DType::Float64, DType::BFloat16})
    copy_case(bf, to, std::string("copy bfloat16 special values -> ") + dtype_name(to));
}

void strided_copies() {
  for (DType dt : {DType::Float32, DType::BFloat16, DType::Int64}) {
    const std::string t = std::string(" ") + dtype_name(dt);
    const Tensor m = values({33, 70}, 21, dt);
    copy_case(m.permute({1, 0}), dt, "copy transposed source" + t);
    copy_case(m.permute({1, 0}), DType::Float64, "copy transposed source -> float64" + t);
    copy_case(m, dt, "copy into a transposed destination" + t, /*transposed_dst=*/true);
    copy_case(m.slice(1, 3, 61, 4), dt, "copy sliced with step 4" + t);
    copy_case(values({1, 70}, 22, dt).expand({33, 70}), dt, "copy broadcast rows" + t);
    const Tensor nhwc = values({2, 5, 7, 3}, 23, dt);
    copy_case(nhwc.permute({0, 3, 1, 2}), dt, "copy NHWC seen as NCHW" + t);
    // Ten dimensions, permuted so that none merge: more than the old kernel's limit of 8.
    const Tensor ten = values({2, 3, 2, 2, 3, 2, 2, 3, 2, 2}, 24, dt);
    copy_case(ten.permute({9, 7, 5, 3, 1, 8, 6, 4, 2, 0}), dt, "copy 10-d permuted" + t);
    // Twelve dimensions that merge into a few: fine for the offset calculator.
    const Tensor twelve = values({2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3}, 25, dt);
    copy_case(twelve.slice(11, 0, 2), dt, "copy 12-d sliced (merges to 2 dimensions)" + t);
  }
  copy_case(values({0, 5}, 26, DType::Float32), DType::Int32, "copy empty");
  expect_error([] {
    Tensor a = empty({2, 3}), b = empty({3, 2});
    cuda::copy_tensor(a, b);
  }, "GPU copy", "copy of a different shape is refused");
}

// The CPU's fill_ on want_view, the emulated GPU fill on got_view.
void fill_both(const Tensor& want_view, const Tensor& got_view, double value) {
  fill_(want_view, value);
  cuda::fill_tensor(got_view, value);
}

void fills() {
  for (DType dt : kAll) {
    const std::string t = std::string(" ") + dtype_name(dt);
    for (double value : {0.0, 2.5, -0.0, 255.0}) {
      const std::string v = " value " + std::string(std::signbit(value) ? "-" : "") +
                            std::to_string(std::abs(value));
      Tensor want = full({37, 29}, 9, {dt}), got = full({37, 29}, 9, {dt});
      fill_both(want, got, value);
      same_bytes(got, want, "fill contiguous" + v + t);
      // Every other column of the transposed matrix: a strided fill that leaves the rest alone.
      Tensor want2 = full({37, 29}, 9, {dt}), got2 = full({37, 29}, 9, {dt});
      fill_both(want2.permute({1, 0}).slice(1, 1, 37, 2), got2.permute({1, 0}).slice(1, 1, 37, 2),
                value);
      same_bytes(got2, want2, "fill strided" + v + t);
    }
  }
  Tensor want = full({300}, 1), got = full({300}, 1);
  fill_both(want, got, std::numeric_limits<double>::quiet_NaN());
  same_bytes(got, want, "fill contiguous NaN float32");
  Tensor want_bf = full({300}, 1, {DType::BFloat16}), got_bf = full({300}, 1, {DType::BFloat16});
  fill_both(want_bf, got_bf, 1.00390625);
  same_bytes(got_bf, want_bf, "fill bfloat16 with a tie (rounds to even)");
  Tensor none = empty({0, 4});
  cuda::fill_tensor(none, 1.0);
  same_bytes(none, empty({0, 4}), "fill empty");
}

}  // namespace

void check_copy() {
  conversions();
  strided_copies();
  fills();
}

// Device dispatch for random-number kernels: the one place that picks the CPU or CUDA version.
// Both fill the same elements with the same values (kernels/random.h), which
// tests/test_random.cpp checks on a GPU machine.
#include "kernels/random.h"

#include "kernels/dispatch.h"

namespace ember::kernels {

namespace {

void check_out(const Tensor& out, const char* op, bool allow_uint8, bool int64_only = false) {
  check_defined(out, op, "out");
  EMBER_CHECK(out.is_contiguous(), op, ": out must be contiguous, got a strided ", out.describe());
  const DType d = out.dtype();
  if (int64_only) {
    EMBER_CHECK(d == DType::Int64, op, ": out must be int64, got ", out.describe());
    return;
  }
  EMBER_CHECK(d == DType::Float32 || d == DType::Float64 || (allow_uint8 && d == DType::UInt8), op,
              ": out must be float32 or float64", allow_uint8 ? " or uint8" : "", ", got ",
              out.describe());
}

}  // namespace

void fill_uniform(const Tensor& out, const PhiloxDraw& draw, double low, double high) {
  check_out(out, "fill_uniform", false);
  if (out.numel() == 0) return;
  EMBER_DISPATCH_DEVICE(out, "fill_uniform", fill_uniform, out, draw, low, high);
}

void fill_normal(const Tensor& out, const PhiloxDraw& draw, double mean, double std) {
  check_out(out, "fill_normal", false);
  if (out.numel() == 0) return;
  EMBER_DISPATCH_DEVICE(out, "fill_normal", fill_normal, out, draw, mean, std);
}

void fill_bernoulli(const Tensor& out, const PhiloxDraw& draw, double p) {
  check_out(out, "fill_bernoulli", true);
  if (out.numel() == 0) return;
  EMBER_DISPATCH_DEVICE(out, "fill_bernoulli", fill_bernoulli, out, draw, p);
}

void random_keys(const Tensor& out, const PhiloxDraw& draw) {
  check_out(out, "random_keys", false, true);
  if (out.numel() == 0) return;
  EMBER_DISPATCH_DEVICE(out, "random_keys", random_keys, out, draw);
}

void permutation_from_keys(const Tensor& perm, const Tensor& keys) {
  check_out(perm, "permutation_from_keys", false, true);
  check_out(keys, "permutation_from_keys", false, true);
  check_same_device(perm, keys, "permutation_from_keys");
  EMBER_CHECK(perm.dim() == 1 && keys.shape() == perm.shape(), "permutation_from_keys: keys ",
              keys.describe(), " and perm ", perm.describe(), " must both be [n]");
  if (perm.numel() == 0) return;
  EMBER_DISPATCH_DEVICE(perm, "permutation_from_keys", permutation_from_keys, perm, keys);
}

}  // namespace ember::kernels

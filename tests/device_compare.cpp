#include "tests/device_compare.h"

#include <cmath>
#include <random>
#include <sstream>

namespace ember::testing {

namespace {

TensorList leaves_on(const TensorList& inputs, Device device) {
  TensorList out;
  for (const Tensor& t : inputs) {
    Tensor c;
    {
      NoGradGuard no_grad;
      c = device.is_cpu() ? t.detach().clone() : convert(t.detach(), t.dtype(), device);
    }
    if (t.requires_grad()) c.set_requires_grad(true);
    out.push_back(c);
  }
  return out;
}

TensorList requiring_grad(const TensorList& inputs) {
  TensorList out;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) out.push_back(t);
  return out;
}

// sum_i <a_i, b_i> as one differentiable scalar.
Tensor inner(const TensorList& a, const TensorList& b) {
  Tensor total;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].defined()) continue;
    Tensor term = sum(mul(a[i], b[i]));
    total = total.defined() ? add(total, term) : term;
  }
  return total;
}

std::string compare_lists(const TensorList& actual, const TensorList& expected,
                          const Tolerance& tol, const std::string& stage) {
  for (size_t i = 0; i < expected.size(); ++i) {
    if (actual[i].defined() != expected[i].defined())
      return stage + " of input " + std::to_string(i) + ": defined on one device only";
    if (!expected[i].defined()) continue;
    std::string r = compare_tensors(actual[i], expected[i], tol,
                                    stage + " of input " + std::to_string(i));
    if (!r.empty()) return r;
  }
  return "";
}

}  // namespace

Tensor random_tensor(const Shape& shape, uint64_t seed, DType dtype, double low, double high,
                     bool requires_grad) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(low, high);
  std::vector<double> v(numel_of(shape));
  for (double& x : v) x = dist(rng);
  Tensor t = from_vector(v, shape, {.dtype = dtype});
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

std::string compare_tensors(const Tensor& actual, const Tensor& expected, const Tolerance& tol,
                            const std::string& what) {
  if (actual.shape() != expected.shape())
    return what + ": shape " + actual.describe() + " vs expected " + expected.describe();
  const std::vector<double> a = actual.to_vector<double>();
  const std::vector<double> e = expected.to_vector<double>();
  double worst_excess = 0;
  int64_t worst = -1;
  for (size_t i = 0; i < e.size(); ++i) {
    const double allowed = tol.atol + tol.rtol * std::abs(e[i]);
    const double diff = std::abs(a[i] - e[i]);
    const bool bad = !(diff <= allowed) || std::isnan(a[i]) != std::isnan(e[i]);
    if (bad && (worst < 0 || diff - allowed > worst_excess)) {
      worst = static_cast<int64_t>(i);
      worst_excess = diff - allowed;
    }
  }
  if (worst < 0) return "";
  std::ostringstream s;
  s.precision(9);
  s << what << ": element " << worst << " is " << a[worst] << " but the reference gives "
    << e[worst] << " (|diff| " << std::abs(a[worst] - e[worst]) << " > atol " << tol.atol
    << " + rtol " << tol.rtol << " * |ref|)";
  return s.str();
}

std::string cuda_matches_cpu(const DeviceFn& f, const TensorList& cpu_inputs,
                             const DeviceCompareOptions& options) {
  const TensorList cpu = leaves_on(cpu_inputs, Device::cpu());
  const TensorList gpu = leaves_on(cpu_inputs, Device::cuda(0));
  const Tensor out_cpu = f(cpu);
  const Tensor out_gpu = f(gpu);
  if (!out_gpu.is_cuda()) return "the CUDA run returned a tensor on " + out_gpu.device().str();
  std::string r = compare_tensors(out_gpu, out_cpu, options.forward, "forward");
  if (!r.empty()) return r;

  const TensorList wrt_cpu = requiring_grad(cpu), wrt_gpu = requiring_grad(gpu);
  if (wrt_cpu.empty()) return "";
  const Tensor R = random_tensor(out_cpu.shape(), options.seed, out_cpu.dtype());
  const Tensor R_gpu = R.to(Device::cuda(0));
  const bool create = options.double_backward;
  const TensorList g_cpu = grad({inner({out_cpu}, {R})}, wrt_cpu, {}, create, create, true);
  const TensorList g_gpu = grad({inner({out_gpu}, {R_gpu})}, wrt_gpu, {}, create, create, true);
  r = compare_lists(g_gpu, g_cpu, options.backward, "backward");
  if (!r.empty() || !create) return r;

  TensorList V_cpu, V_gpu;
  for (size_t i = 0; i < wrt_cpu.size(); ++i) {
    V_cpu.push_back(random_tensor(wrt_cpu[i].shape(), options.seed + 1 + i, wrt_cpu[i].dtype()));
    V_gpu.push_back(V_cpu.back().to(Device::cuda(0)));
  }
  const Tensor H_cpu = inner(g_cpu, V_cpu), H_gpu = inner(g_gpu, V_gpu);
  if (!H_cpu.defined() || !H_cpu.requires_grad()) return "";  // the gradient is constant
  const TensorList gg_cpu = grad({H_cpu}, wrt_cpu, {}, false, false, true);
  const TensorList gg_gpu = grad({H_gpu}, wrt_gpu, {}, false, false, true);
  return compare_lists(gg_gpu, gg_cpu, options.double_backward_tol, "double backward");
}

}  // namespace ember::testing

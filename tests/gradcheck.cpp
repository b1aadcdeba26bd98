#include "tests/gradcheck.h"

#include <cmath>
#include <random>
#include <sstream>

namespace ember::testing {

namespace {

Tensor random_like_f64(const Shape& shape, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> v(numel_of(shape));
  for (double& x : v) x = dist(rng);
  return from_vector(v, shape, {.dtype = DType::Float64});
}

// Fresh leaves holding the same values, with the same requires_grad flags.
TensorList fresh_leaves(const TensorList& inputs) {
  TensorList out;
  for (const Tensor& t : inputs) {
    Tensor c;
    {
      NoGradGuard no_grad;
      c = t.detach().clone();
    }
    if (t.requires_grad()) c.set_requires_grad(true);
    out.push_back(c);
  }
  return out;
}

double scalar_value(const Tensor& t) { return t.item<double>(); }

}  // namespace

Tensor random_input(const Shape& shape, uint64_t seed, double low, double high) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(low, high);
  std::vector<double> v(numel_of(shape));
  for (double& x : v) x = dist(rng);
  Tensor t = from_vector(v, shape, {.dtype = DType::Float64});
  t.set_requires_grad(true);
  return t;
}

Tensor random_input_away_from(const Shape& shape, uint64_t seed, const std::vector<double>& kinks,
                              double margin, double low, double high) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(low, high);
  std::vector<double> v(numel_of(shape));
  for (double& x : v) {
    bool ok = false;
    while (!ok) {
      x = dist(rng);
      ok = true;
      for (double k : kinks) ok = ok && std::abs(x - k) >= margin;
    }
  }
  Tensor t = from_vector(v, shape, {.dtype = DType::Float64});
  t.set_requires_grad(true);
  return t;
}

namespace {

// dL/dx for every input that requires grad, by backward with or without create_graph.
TensorList analytic_gradients(const std::function<Tensor(const TensorList&)>& loss,
                              const TensorList& inputs, bool create_graph) {
  TensorList leaves = fresh_leaves(inputs);
  TensorList wrt;
  for (const Tensor& t : leaves)
    if (t.requires_grad()) wrt.push_back(t);
  const Tensor L = loss(leaves);
  if (!L.requires_grad()) return TensorList(wrt.size());
  return grad({L}, wrt, {}, create_graph, create_graph, true);
}

struct Mismatch {
  double excess = 0;  // |diff| - allowed, for the worst element
  std::string text;
};

// Compares one analytic gradient per input that requires grad with central differences.
Mismatch compare_with_numeric(const TensorList& inputs, const TensorList& analytic,
                              const std::vector<std::vector<double>>& numeric,
                              const GradcheckOptions& options, const char* path) {
  Mismatch worst;
  size_t k = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    const auto a = analytic[k].defined() ? analytic[k].to_vector<double>()
                                         : std::vector<double>(inputs[i].numel(), 0.0);
    const auto& n = numeric[k];
    ++k;
    for (int64_t j = 0; j < inputs[i].numel(); ++j) {
      const double err = std::abs(a[j] - n[j]);
      const double allowed = options.atol + options.rtol * std::abs(n[j]);
      if (!(err <= allowed) && (worst.text.empty() || err - allowed > worst.excess)) {
        worst.excess = err - allowed;
        std::ostringstream report;
        report << path << " backward: input " << i << " element " << j << ": analytic " << a[j]
               << " vs numeric " << n[j] << " (|diff| " << err << " > " << allowed << ")";
        worst.text = report.str();
      }
    }
  }
  return worst;
}

}  // namespace

std::string gradcheck(const Fn& f, const TensorList& inputs, const GradcheckOptions& options) {
  for (const Tensor& t : inputs)
    if (t.requires_grad() && t.dtype() != DType::Float64) return "gradcheck needs float64 inputs";
  if (!options.check_fast && !options.check_composite) return "gradcheck checks no backward path";
  // The projection R is fixed from the output's shape (f may itself need grad mode: H below).
  const Tensor probe = f(fresh_leaves(inputs));
  const Tensor R = random_like_f64(probe.shape(), options.seed);
  auto loss = [&](const TensorList& xs) { return sum(mul(f(xs), R)); };

  // Numeric gradients, one element at a time.
  std::vector<std::vector<double>> numeric;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    const auto base = inputs[i].to_vector<double>();
    std::vector<double> n(base.size());
    for (int64_t j = 0; j < inputs[i].numel(); ++j) {
      double values[2];
      for (int side = 0; side < 2; ++side) {
        auto perturbed = base;
        perturbed[j] += side == 0 ? options.eps : -options.eps;
        TensorList xs = fresh_leaves(inputs);
        Tensor p = from_vector(perturbed, inputs[i].shape(), {.dtype = DType::Float64});
        p.set_requires_grad(true);
        xs[i] = p;
        values[side] = scalar_value(loss(xs));
      }
      n[j] = (values[0] - values[1]) / (2 * options.eps);
    }
    numeric.push_back(std::move(n));
  }

  std::string report;
  auto check = [&](bool create_graph, const char* path) {
    const TensorList analytic = analytic_gradients(loss, inputs, create_graph);
    const Mismatch m = compare_with_numeric(inputs, analytic, numeric, options, path);
    if (!m.text.empty()) report += (report.empty() ? "" : "; ") + m.text;
  };
  if (options.check_fast) check(false, "fast");
  if (options.check_composite) check(true, "composite (create_graph)");
  return report;
}

std::string gradgradcheck(const Fn& f, const TensorList& inputs, const GradcheckOptions& options) {
  Tensor probe;
  {
    NoGradGuard no_grad;
    probe = f(inputs);
  }
  // H(inputs, R) = sum_i <d sum(f * R) / d x_i, V_i>, with R an input as well.
  std::vector<Tensor> V;
  uint64_t seed = options.seed + 1;
  for (const Tensor& t : inputs) V.push_back(t.requires_grad() ? random_like_f64(t.shape(), seed++) : Tensor());
  Tensor R = random_input(probe.shape(), options.seed + 100);
  TensorList extended = inputs;
  extended.push_back(R);
  const size_t n = inputs.size();
  auto make_H = [&](bool create_graph) {
    return [&, create_graph](const TensorList& xs) {
      TensorList originals(xs.begin(), xs.begin() + n);
      TensorList wrt;
      std::vector<size_t> which;
      for (size_t i = 0; i < n; ++i) if (xs[i].requires_grad()) { wrt.push_back(xs[i]); which.push_back(i); }
      Tensor L = sum(mul(f(originals), xs[n]));
      TensorList g = grad({L}, wrt, {}, create_graph, create_graph, true);
      Tensor total = zeros({}, {.dtype = DType::Float64});
      for (size_t k = 0; k < g.size(); ++k)
        if (g[k].defined()) total = add(total, sum(mul(g[k], V[which[k]])));
      return total;
    };
  };
  const Fn H = make_H(true);
  // The recorded first-order gradient must equal the fast one before its derivative means much.
  const double recorded = H(fresh_leaves(extended)).item<double>();
  const double fast = make_H(false)(fresh_leaves(extended)).item<double>();
  const double diff = std::abs(recorded - fast), allowed = options.atol + options.rtol * std::abs(fast);
  if (!(diff <= allowed)) {
    std::ostringstream report;
    report << "the first-order gradient recorded for double backward differs from the fast one: "
              "sum <grad, V> is " << recorded << " with create_graph and " << fast
           << " without (|diff| " << diff << " > " << allowed << ")";
    return report.str();
  }
  return gradcheck(H, extended, options);
}

}  // namespace ember::testing

// Every op against PyTorch as an outside oracle: forward, both first-order backward paths (the
// fast kernels, create_graph off; the composite gradient, create_graph on) and the double
// backward, on the float64 values of tests/torch_reference/<case>.safetensors (written by
// make_fixtures.py there, which says what each file holds). Tensors are matched by name, the
// tolerances come from the file, and each case prints the largest share of its tolerance used.
// Run: ember_tests --gtest_filter='TorchReference*'.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <cmath>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "nn/safetensors.h"
#include "ops/ops.h"

#ifndef EMBER_TORCH_REFERENCE_DIR
#error "EMBER_TORCH_REFERENCE_DIR must name tests/torch_reference (tests/CMakeLists.txt)"
#endif

namespace ember {
namespace {

using OpFn = std::function<Tensor(const TensorList&)>;

// The ember side of each case, with the same arguments as make_fixtures.py's PyTorch side;
// the inputs come in the order of the file's "inputs" metadata.
const std::map<std::string, OpFn>& ember_ops() {
  static const std::map<std::string, OpFn> ops = {
      {"relu", [](const TensorList& t) { return relu(t[0]); }},
      {"leaky_relu", [](const TensorList& t) { return leaky_relu(t[0], 0.2); }},
      {"sigmoid", [](const TensorList& t) { return sigmoid(t[0]); }},
      {"silu", [](const TensorList& t) { return silu(t[0]); }},
      {"tanh", [](const TensorList& t) { return tanh(t[0]); }},
      {"softmax", [](const TensorList& t) { return softmax(t[0], -1); }},
      {"log_softmax", [](const TensorList& t) { return log_softmax(t[0], -1); }},
      {"exp", [](const TensorList& t) { return exp(t[0]); }},
      {"log", [](const TensorList& t) { return log(t[0]); }},
      {"sqrt", [](const TensorList& t) { return sqrt(t[0]); }},
      {"rsqrt", [](const TensorList& t) { return rsqrt(t[0]); }},
      {"pow_1_5", [](const TensorList& t) { return pow(t[0], 1.5); }},
      {"div", [](const TensorList& t) { return div(t[0], t[1]); }},
      {"mul_broadcast", [](const TensorList& t) { return mul(t[0], t[1]); }},
      {"cross_entropy", [](const TensorList& t) { return cross_entropy(t[0], t[1]); }},
      {"cross_entropy_weighted_smoothed",
       [](const TensorList& t) { return cross_entropy(t[0], t[1], t[2], 0.1); }},
      {"mse_loss", [](const TensorList& t) { return mse_loss(t[0], t[1]); }},
      {"bce_with_logits", [](const TensorList& t) { return bce_with_logits(t[0], t[1]); }},
      {"linear", [](const TensorList& t) { return linear(t[0], t[1], t[2]); }},
      {"matmul", [](const TensorList& t) { return matmul(t[0], t[1]); }},
      {"conv2d_stride2_pad1",
       [](const TensorList& t) { return conv2d(t[0], t[1], t[2], symmetric_padding(1, 1, 2, 2)); }},
      {"conv2d_depthwise",
       [](const TensorList& t) {
         return conv2d(t[0], t[1], t[2], symmetric_padding(1, 1, 1, 1, /*groups=*/4));
       }},
      {"conv_transpose2d_k4_s2_p1",
       [](const TensorList& t) {
         return conv_transpose2d(t[0], t[1], t[2], symmetric_padding(1, 1, 2, 2));
       }},
      {"batch_norm_train",
       [](const TensorList& t) {
         return batch_norm(t[0], t[1], t[2], Tensor(), Tensor(), {.training = true, .eps = 1e-3});
       }},
      {"batch_norm_eval",
       [](const TensorList& t) {
         return batch_norm(t[0], t[1], t[2], t[3], t[4], {.training = false, .eps = 1e-3});
       }},
      {"layer_norm", [](const TensorList& t) { return layer_norm(t[0], 1, t[1], t[2], 1e-5); }},
      {"embedding", [](const TensorList& t) { return embedding(t[0], t[1]); }},
      {"global_avg_pool", [](const TensorList& t) { return global_avg_pool(t[0]); }},
      {"mean_axis1_keepdim", [](const TensorList& t) { return mean(t[0], {1}, true); }},
  };
  return ops;
}

std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string name; std::getline(in, name, ',');)
    if (!name.empty()) out.push_back(name);
  return out;
}

struct Fixture {
  std::map<std::string, Tensor> tensors;
  nn::SafetensorsMetadata metadata;
  std::string path;

  const Tensor& at(const std::string& name) const {
    const auto it = tensors.find(name);
    if (it == tensors.end()) throw Error("fixture " + path + " has no tensor '" + name + "'");
    return it->second;
  }
  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  const std::string& meta(const std::string& key) const {
    const auto it = metadata.find(key);
    if (it == metadata.end()) throw Error("fixture " + path + " has no metadata '" + key + "'");
    return it->second;
  }
};

Fixture read_fixture(const std::string& name) {
  Fixture f;
  f.path = std::string(EMBER_TORCH_REFERENCE_DIR) + "/" + name + ".safetensors";
  nn::SafetensorsFile file = nn::read_safetensors(f.path);
  for (auto& [tensor_name, tensor] : file.tensors) f.tensors[tensor_name] = tensor;
  f.metadata = file.metadata;
  return f;
}

// Compares `actual` with the fixture's `name` within atol + rtol * |expected| per element;
// returns the largest share of the tolerance used (> 1 fails, reported with the worst element).
double compare(const Tensor& actual, const Fixture& f, const std::string& name, const char* what) {
  const Tensor& expected = f.at(name);
  EXPECT_EQ(actual.shape(), expected.shape()) << what << " " << name << " of " << f.path;
  if (actual.shape() != expected.shape()) return INFINITY;
  const double atol = std::stod(f.meta("atol")), rtol = std::stod(f.meta("rtol"));
  const auto a = to_dtype(actual.detach(), DType::Float64).to_vector<double>();
  const auto e = expected.to_vector<double>();
  double worst = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    const double share = std::abs(a[i] - e[i]) / (atol + rtol * std::abs(e[i]));
    if (!(share <= worst)) {
      worst = std::isnan(share) ? INFINITY : share;
      worst_at = i;
    }
  }
  EXPECT_LE(worst, 1.0) << what << " " << name << " of " << f.path << ": element " << worst_at
                        << " is " << a[worst_at] << ", PyTorch " << e[worst_at];
  return worst;
}

class TorchReference : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchReference, ForwardBackwardAndDoubleBackwardMatchPyTorch) {
  const std::string name = GetParam();
  const Fixture f = read_fixture(name);
  const OpFn& op = ember_ops().at(name);
  const std::vector<std::string> input_names = split_names(f.meta("inputs"));
  const std::vector<std::string> constant = split_names(f.meta("constant"));
  auto is_constant = [&](const std::string& n) {
    return std::find(constant.begin(), constant.end(), n) != constant.end();
  };

  // Fresh leaves each time, so no pass sees another's graph or accumulated gradients.
  std::vector<std::string> wrt_names;
  for (const std::string& n : input_names)
    if (!is_constant(n)) wrt_names.push_back(n);
  auto leaves = [&] {
    TensorList inputs;
    for (const std::string& n : input_names) {
      Tensor t = f.at("input." + n).clone();
      if (!is_constant(n)) t.set_requires_grad(true);
      inputs.push_back(t);
    }
    return inputs;
  };
  auto differentiable = [&](const TensorList& inputs) {
    TensorList wrt;
    for (size_t i = 0; i < input_names.size(); ++i)
      if (!is_constant(input_names[i])) wrt.push_back(inputs[i]);
    return wrt;
  };

  double worst = compare(op(leaves()), f, "output", "forward");
  for (const bool create_graph : {false, true}) {
    const TensorList inputs = leaves();
    const Tensor L = sum(mul(op(inputs), f.at("R")));
    const TensorList g = grad({L}, differentiable(inputs), {}, create_graph, create_graph, true);
    const char* what = create_graph ? "composite backward" : "fast backward";
    for (size_t k = 0; k < wrt_names.size(); ++k)
      worst = std::max(worst, compare(g[k], f, "grad." + wrt_names[k], what));
  }
  if (f.meta("double_backward") == "yes") {
    const TensorList inputs = leaves();
    Tensor R = f.at("R").clone();
    R.set_requires_grad(true);
    const Tensor L = sum(mul(op(inputs), R));
    TensorList wrt = differentiable(inputs);
    const TensorList g = grad({L}, wrt, {}, true, true, true);
    Tensor H = zeros({}, {.dtype = DType::Float64});
    for (size_t k = 0; k < g.size(); ++k) H = add(H, sum(mul(g[k], f.at("V." + wrt_names[k]))));
    wrt.push_back(R);
    const TensorList second = grad({H}, wrt, {}, false, false, true);
    for (size_t k = 0; k < wrt.size(); ++k) {
      const std::string n = k < wrt_names.size() ? wrt_names[k] : "R";
      const Tensor value = second[k].defined() ? second[k] : zeros(wrt[k].shape(), {.dtype = DType::Float64});
      worst = std::max(worst, compare(value, f, "gradgrad." + n, "double backward"));
    }
  }
  std::cout << "[ torch    ] " << name << " (" << f.meta("torch_expression") << "): "
            << std::setprecision(2) << 100.0 * worst << "% of tolerance used\n";
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : ember_ops()) names.push_back(name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Ops, TorchReference, ::testing::ValuesIn(case_names()),
                         [](const auto& info) { return info.param; });

// Every fixture file has an ember case (a new fixture cannot be left unchecked).
TEST(TorchReferenceFiles, EveryFixtureHasACase) {
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(EMBER_TORCH_REFERENCE_DIR)) {
    if (entry.path().extension() != ".safetensors") continue;
    ++files;
    EXPECT_TRUE(ember_ops().count(entry.path().stem().string()))
        << entry.path() << " has no ember case in tests/test_torch_reference.cpp";
  }
  EXPECT_EQ(files, ember_ops().size());
}

}  // namespace
}  // namespace ember

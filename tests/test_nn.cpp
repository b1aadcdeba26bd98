// nn::Module and nn::Sequential bookkeeping: registration and dotted names, shared parameters,
// buffers, train/eval, zero_grad keeping its memory, and in-place to(dtype/device) that keeps
// every handle (and an optimizer holding them) valid. Uses only elementwise/reduce ops; the
// layer tests live in tests/test_nn_layers.cpp.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"
#include "nn/sequential.h"
#include "ops/ops.h"
#include "optim/sgd.h"

namespace ember {
namespace {

// y = x * scale + shift, with a step-counter buffer (int64) and a float buffer.
class Affine : public nn::Layer {
 public:
  explicit Affine(int64_t n, double scale = 1.0) {
    scale_ = register_parameter("scale", full({n}, scale));
    shift_ = register_parameter("shift", zeros({n}));
    calls_ = register_buffer("calls", zeros({1}, {.dtype = DType::Int64}));
    stats_ = register_buffer("stats", ones({n}));
  }
  std::string name() const override { return "Affine"; }
  Tensor forward(const Tensor& x) override { return x * scale_ + shift_; }

  Tensor scale_, shift_, calls_, stats_;
};

class Block : public nn::Module {
 public:
  Block() {
    first = register_module("first", std::make_shared<Affine>(3));
    second = register_module("second", std::make_shared<Affine>(3));
  }
  std::shared_ptr<Affine> first, second;
};

class Net : public nn::Module {
 public:
  Net() {
    head = register_parameter("head", ones({2, 3}));
    block1 = register_module("block1", std::make_shared<Block>());
    block2 = register_module("block2", std::make_shared<Block>());
  }
  Tensor head;
  std::shared_ptr<Block> block1, block2;
};

std::vector<std::string> names_of(const nn::NamedTensors& named) {
  std::vector<std::string> names;
  for (const auto& entry : named) names.push_back(entry.first);
  return names;
}

TEST(NnModule, NamedParametersAreDottedInRegistrationOrder) {
  Net net;
  EXPECT_EQ(names_of(net.named_parameters()),
            (std::vector<std::string>{"head", "block1.first.scale", "block1.first.shift",
                                      "block1.second.scale", "block1.second.shift",
                                      "block2.first.scale", "block2.first.shift",
                                      "block2.second.scale", "block2.second.shift"}));
  EXPECT_EQ(names_of(net.named_buffers()),
            (std::vector<std::string>{"block1.first.calls", "block1.first.stats",
                                      "block1.second.calls", "block1.second.stats",
                                      "block2.first.calls", "block2.first.stats",
                                      "block2.second.calls", "block2.second.stats"}));
  EXPECT_EQ(net.num_parameters(), 6 + 8 * 3);
  ASSERT_EQ(net.named_children().size(), 2u);
  EXPECT_EQ(net.named_children()[1].first, "block2");
}

TEST(NnModule, ParametersAreTheSameHandlesAsTheMembers) {
  Net net;
  const auto params = net.parameters();
  ASSERT_EQ(params.size(), 9u);
  EXPECT_TRUE(params[0].same(net.head));
  EXPECT_TRUE(params[3].same(net.block1->second->scale_));
  for (const Tensor& p : params) {
    EXPECT_TRUE(p.requires_grad());
    EXPECT_TRUE(p.is_leaf());
  }
  for (const Tensor& b : net.buffers()) EXPECT_FALSE(b.requires_grad());
}

TEST(NnModule, SharedParameterIsListedOnce) {
  class Tied : public nn::Module {
   public:
    Tied() {
      inner = register_module("inner", std::make_shared<Affine>(2));
      tied = register_parameter("tied", inner->scale_);  // same tensor under a second name
    }
    std::shared_ptr<Affine> inner;
    Tensor tied;
  };
  Tied m;
  EXPECT_EQ(names_of(m.named_parameters()),
            (std::vector<std::string>{"tied", "inner.shift"}));
  EXPECT_EQ(m.num_parameters(), 4);
}

TEST(NnModule, RegistrationErrorsNameTheProblem) {
  class Bad : public nn::Module {
   public:
    std::string name() const override { return "Bad"; }
    void add(const std::string& n, Tensor t) { register_parameter(n, std::move(t)); }
    void add_buffer(const std::string& n, Tensor t) { register_buffer(n, std::move(t)); }
    void add_module_named(const std::string& n) { register_module(n, std::make_shared<Affine>(1)); }
  };
  Bad m;
  m.add("w", zeros({2}));
  try {
    m.add("w", zeros({2}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'w' is already registered"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("Bad"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m.add_buffer("w", zeros({2})), Error);
  EXPECT_THROW(m.add_module_named("w"), Error);
  EXPECT_THROW(m.add("a.b", zeros({2})), Error);
  EXPECT_THROW(m.add("", zeros({2})), Error);
  EXPECT_THROW(m.add("u", Tensor()), Error);
  Tensor leaf = zeros({2}, {.requires_grad = true});
  EXPECT_THROW(m.add("nonleaf", leaf * 2.0), Error);
  EXPECT_THROW(m.add("ints", zeros({2}, {.dtype = DType::Int64})), Error);
}

TEST(NnModule, TrainAndEvalPropagateToChildren) {
  Net net;
  EXPECT_TRUE(net.is_training());
  net.eval();
  EXPECT_FALSE(net.is_training());
  EXPECT_FALSE(net.block1->is_training());
  EXPECT_FALSE(net.block2->second->is_training());
  net.block1->train();
  EXPECT_TRUE(net.block1->first->is_training());
  EXPECT_FALSE(net.block2->first->is_training());
  net.train();
  EXPECT_TRUE(net.block2->second->is_training());
}

TEST(NnModule, ZeroGradKeepsTheSameMemory) {
  Affine m(3, 2.0);
  const Tensor x = from_vector<float>({1, 2, 3}, {3});
  sum(m(x)).backward();
  ASSERT_TRUE(m.scale_.grad().defined());
  const void* scale_memory = m.scale_.grad().raw_data();
  const void* shift_memory = m.shift_.grad().raw_data();

  m.zero_grad(/*set_to_none=*/false);
  EXPECT_EQ(m.scale_.grad().raw_data(), scale_memory);
  EXPECT_EQ(m.shift_.grad().raw_data(), shift_memory);
  EXPECT_EQ(m.scale_.grad().to_vector<float>(), (std::vector<float>{0, 0, 0}));

  // The next backward accumulates into the zeroed memory: one step's gradient, same place.
  sum(m(x)).backward();
  EXPECT_EQ(m.scale_.grad().raw_data(), scale_memory);
  EXPECT_EQ(m.scale_.grad().to_vector<float>(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(m.shift_.grad().to_vector<float>(), (std::vector<float>{1, 1, 1}));

  m.zero_grad();  // the default drops them
  EXPECT_FALSE(m.scale_.grad().defined());
  EXPECT_FALSE(m.shift_.grad().defined());
}

TEST(NnModule, ZeroGradReplacesAGradientWithHistory) {
  Affine m(2, 3.0);
  const Tensor x = from_vector<float>({1, 2}, {2});
  // d/dscale sum((x*scale)^2) = 2 x^2 scale carries history under create_graph.
  sum(pow(m(x), 2.0)).backward(Tensor(), /*retain_graph=*/false, /*create_graph=*/true);
  const Tensor with_history = m.scale_.grad();
  ASSERT_TRUE(with_history.requires_grad());
  const std::vector<float> value = with_history.to_vector<float>();
  m.zero_grad(/*set_to_none=*/false);
  EXPECT_FALSE(m.scale_.grad().requires_grad());
  EXPECT_EQ(m.scale_.grad().grad_fn(), nullptr);
  EXPECT_EQ(m.scale_.grad().to_vector<float>(), (std::vector<float>{0, 0}));
  EXPECT_EQ(with_history.to_vector<float>(), value);  // the graph's tensor was not touched
}

TEST(NnModule, ToDTypeConvertsInPlaceKeepingHandles) {
  Net net;
  fill_(net.block1->first->scale_, 0.5);
  const auto before = net.parameters();
  const Tensor calls = net.block1->first->calls_;
  sum(net.block1->first->forward(ones({3}))).backward();  // gives it a .grad to convert too
  optim::SGD sgd(net.parameters(), {.lr = 1.0});

  net.to(DType::Float64);
  const auto after = net.parameters();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_TRUE(after[i].same(before[i]));
    EXPECT_EQ(before[i].dtype(), DType::Float64);
    EXPECT_TRUE(before[i].requires_grad());
  }
  EXPECT_EQ(net.block1->first->scale_.to_vector<double>(), (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_EQ(net.block1->first->scale_.grad().dtype(), DType::Float64);
  EXPECT_EQ(net.block1->first->stats_.dtype(), DType::Float64);
  EXPECT_EQ(calls.dtype(), DType::Int64);  // integer buffers keep their dtype

  // The optimizer built before the conversion updates the converted tensors, and new backward
  // passes accumulate float64 gradients into them.
  net.zero_grad(/*set_to_none=*/false);
  sum(net.block1->first->forward(ones({3}, {.dtype = DType::Float64}))).backward();
  sgd.step();
  EXPECT_EQ(net.block1->first->scale_.to_vector<double>(),
            (std::vector<double>{-0.5, -0.5, -0.5}));
  EXPECT_THROW(net.to(DType::Int32), Error);
}

TEST(NnModule, ToSameDeviceKeepsStorage) {
  Affine m(2);
  const void* memory = m.scale_.raw_data();
  m.to(Device::cpu());
  EXPECT_EQ(m.scale_.raw_data(), memory);
}

TEST(NnModule, ToCudaAndBackKeepsHandlesAndValues) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU visible (or a CPU-only build)";
  Affine m(2, 1.5);
  const Tensor scale = m.scale_;
  m.to(Device::cuda());
  EXPECT_TRUE(scale.is_cuda());
  EXPECT_TRUE(m.stats_.is_cuda());
  m.to(Device::cpu());
  EXPECT_FALSE(scale.is_cuda());
  EXPECT_EQ(scale.to_vector<float>(), (std::vector<float>{1.5f, 1.5f}));
}

TEST(NnSequential, ChainsLayersAndNamesThemByIndex) {
  nn::Sequential seq;
  auto a = seq.emplace<Affine>(2, 2.0);
  auto b = seq.add(std::make_shared<Affine>(2, 3.0));
  fill_(b->shift_, 1.0);
  EXPECT_EQ(seq.size(), 2u);
  EXPECT_EQ(names_of(seq.named_parameters()),
            (std::vector<std::string>{"0.scale", "0.shift", "1.scale", "1.shift"}));
  const Tensor y = seq(from_vector<float>({1, -1}, {2}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{7, -5}));  // (x * 2) * 3 + 1
  EXPECT_EQ(seq.name(), "Sequential(Affine, Affine)");
  EXPECT_EQ(&seq[0], a.get());
  EXPECT_THROW(seq[2], Error);
  seq.eval();
  EXPECT_FALSE(a->is_training());
}

TEST(NnSequential, NestsUnderAParentModule) {
  class Model : public nn::Module {
   public:
    Model() {
      features = register_module("features", std::make_shared<nn::Sequential>(
                                                 std::vector<std::shared_ptr<nn::Layer>>{
                                                     std::make_shared<Affine>(1),
                                                     std::make_shared<Affine>(1)}));
    }
    std::shared_ptr<nn::Sequential> features;
  };
  Model m;
  EXPECT_EQ(names_of(m.named_buffers()),
            (std::vector<std::string>{"features.0.calls", "features.0.stats", "features.1.calls",
                                      "features.1.stats"}));
  EXPECT_THROW(nn::Sequential(std::vector<std::shared_ptr<nn::Layer>>{nullptr}), Error);
}

}  // namespace
}  // namespace ember

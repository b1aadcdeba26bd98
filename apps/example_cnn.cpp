// example_cnn: the smallest tour of the API. A small CNN built from nn modules learns to
// classify 64 random 16x16 RGB images (NHWC) with SGD + momentum and prints its loss falling.
//
//   ./build/apps/example_cnn [--steps 40] [--lr 0.05] [--seed 0] [--device cpu|cuda]
//
// The data is synthetic and learnable: each of the 10 classes has a colour, and an image is its
// class colour plus per-pixel noise, so the net can tell (and memorise) them. Same seed, same
// losses, bit for bit.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "nn/layers.h"
#include "ops/ops.h"
#include "optim/sgd.h"
#include "apps/flags/cli.h"

using namespace ember;

namespace {

constexpr int64_t kImages = 64, kSize = 16, kChannels = 3, kClasses = 10;

// conv 3->8 (3x3, stride 2, same) -> BatchNorm -> silu -> conv 8->16 (3x3, same)
// -> leaky_relu -> global average pool -> linear 16->10 (logits)
class SmallCnn : public nn::Layer {
 public:
  explicit SmallCnn(RandomGenerator& gen) {
    const auto same = nn::Padding2d::same();
    conv1_ = register_module("conv1", std::make_shared<nn::Conv2d>(
                                          kChannels, 8, 3, gen,
                                          nn::Conv2dOptions{.stride = 2, .padding = same}));
    bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm>(8));
    conv2_ = register_module("conv2", std::make_shared<nn::Conv2d>(
                                          8, 16, 3, gen, nn::Conv2dOptions{.padding = same}));
    head_ = register_module("head", std::make_shared<nn::Linear>(16, kClasses, gen));
  }
  std::string name() const override { return "SmallCnn"; }

  Tensor forward(const Tensor& x) override {
    Tensor h = silu(bn1_->forward(conv1_->forward(x)));  // [N, 8, 8, 8]
    h = leaky_relu(conv2_->forward(h), 0.2);              // [N, 8, 8, 16]
    return head_->forward(global_avg_pool(h));            // [N, 10]
  }

 private:
  std::shared_ptr<nn::Conv2d> conv1_, conv2_;
  std::shared_ptr<nn::BatchNorm> bn1_;
  std::shared_ptr<nn::Linear> head_;
};

struct Flags {
  int64_t steps = 40;
  double lr = 0.05;
  uint64_t seed = 0;
  Device device = Device::cpu();
};

const char* kUsage = "usage: example_cnn [--steps N] [--lr X] [--seed S] [--device cpu|cuda]";

Flags parse_flags(int argc, char** argv) {
  Flags flags;
  training::FlagReader r(argc, argv);
  while (r.next()) {
    if (r.is("--steps")) flags.steps = r.int_value(1);
    else if (r.is("--lr")) flags.lr = r.double_value(1e-12);
    else if (r.is("--seed")) flags.seed = static_cast<uint64_t>(r.int_value(0));
    else if (r.is("--device")) flags.device = r.device_value();
    else r.unknown();
  }
  r.exit_if_help(kUsage);
  training::require_visible_device("--device", flags.device);
  return flags;
}

// Images [64, 16, 16, 3] = class colour + N(0, 1) noise; labels int64 [64].
std::pair<Tensor, Tensor> make_data(RandomGenerator& gen, Device device) {
  const auto colours = rand_normal({kClasses, kChannels}, gen).to_vector<float>();
  const auto noise = rand_normal({kImages, kSize, kSize, kChannels}, gen).to_vector<float>();
  const auto draws = rand_uniform({kImages}, gen, {}, 0.0, kClasses).to_vector<float>();
  std::vector<int64_t> labels(kImages);
  std::vector<float> images(noise.size());
  for (int64_t n = 0; n < kImages; ++n) {
    labels[n] = std::min<int64_t>(static_cast<int64_t>(draws[n]), kClasses - 1);
    for (int64_t p = 0; p < kSize * kSize; ++p) {
      for (int64_t c = 0; c < kChannels; ++c) {
        const int64_t i = (n * kSize * kSize + p) * kChannels + c;
        images[i] = colours[labels[n] * kChannels + c] + noise[i];
      }
    }
  }
  return {from_vector(images, {kImages, kSize, kSize, kChannels}, {.device = device}),
          from_vector(labels, {kImages}, {.dtype = DType::Int64, .device = device})};
}

int run(const Flags& flags) {
  RandomGenerator gen(flags.seed);
  SmallCnn model(gen);
  model.to(flags.device);
  const auto [images, labels] = make_data(gen, flags.device);
  std::printf("%s: %lld parameters, %lld images on %s\n", model.name().c_str(),
              static_cast<long long>(model.num_parameters()), static_cast<long long>(kImages),
              flags.device.str().c_str());

  optim::SGD sgd(model.parameters(), {.lr = flags.lr, .momentum = 0.9});
  float first = 0, last = 0;
  for (int64_t step = 1; step <= flags.steps; ++step) {
    sgd.zero_grad();
    const Tensor loss = cross_entropy(model(images), labels);
    loss.backward();
    sgd.step();
    last = loss.item<float>();
    if (step == 1) first = last;
    if (step == 1 || step % 5 == 0 || step == flags.steps) {
      std::printf("step %3lld  loss %.4f\n", static_cast<long long>(step), last);
    }
  }
  std::printf("loss went from %.4f to %.4f\n", first, last);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return training::run_cli_main("example_cnn", kUsage, [&] { return run(parse_flags(argc, argv)); });
}

// effnet_forward: ember's half of the PyTorch comparison (tests/interop/compare_torch.py).
// Builds EfficientNetB2 as torchvision's efficientnet_b2 (symmetric padding, BN eps 1e-5,
// momentum 0.1 in PyTorch's convention = 0.9 here, unbiased running variance, no input
// preprocessing, drop-connect and dropout 0), loads converted torchvision weights strictly,
// and for an input from PyTorch writes, in eval mode and then in training mode:
//   <mode>.logits       [N, classes]
//   <mode>.input_grad   [N, 3, H, W]  d(sum(logits * r)) / d(input), in PyTorch's NCHW
// and after the training-mode step every BatchNorm's running_mean / running_var under
// train.<layer>.running_mean etc. (ember names). The Python driver compares them with PyTorch.
//
// Usage: effnet_forward WEIGHTS INPUT OUTPUT
//   WEIGHTS  models/convert/convert_torchvision.py output (strict: every tensor of the model, no more)
//   INPUT    safetensors with "input" [N, 3, H, W] (NCHW, as PyTorch) and "r" [N, classes]
#include <exception>
#include <iostream>

#include "autograd/engine.h"
#include "models/efficientnet.h"
#include "nn/safetensors.h"
#include "ops/ops.h"
#include "tensor/error.h"

using namespace ember;

namespace {

const Tensor& find(const nn::SafetensorsFile& f, const std::string& name, const std::string& path) {
  for (const auto& [n, t] : f.tensors)
    if (n == name) return t;
  EMBER_FAIL("effnet_forward: ", path, " has no tensor '", name, "'");
}

// One forward and input-gradient pass in the model's current mode.
void run(models::EfficientNet& model, const Tensor& input_nchw, const Tensor& r,
         const std::string& mode, nn::NamedTensors& out) {
  // NCHW from PyTorch -> ember's NHWC; the leaf is the NHWC tensor, whose gradient is permuted
  // back so both sides compare d/d(input) element for element.
  Tensor x = input_nchw.permute({0, 2, 3, 1}).contiguous().detach();
  x.set_requires_grad(true);
  Tensor logits = model(x);
  TensorList g = grad({sum(mul(logits, r))}, {x});
  out.emplace_back(mode + ".logits", logits.detach().contiguous());
  out.emplace_back(mode + ".input_grad", g[0].permute({0, 3, 1, 2}).contiguous());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: effnet_forward WEIGHTS INPUT OUTPUT\n";
    return 2;
  }
  try {
    const std::string weights = argv[1], input_path = argv[2], output = argv[3];
    const nn::SafetensorsFile input = nn::read_safetensors(input_path);
    const Tensor x = find(input, "input", input_path);
    const Tensor r = find(input, "r", input_path);
    EMBER_CHECK(x.dim() == 4 && x.size(1) == 3, "effnet_forward: input must be [N, 3, H, W], got ",
                x.describe());
    EMBER_CHECK(r.dim() == 2 && r.size(0) == x.size(0), "effnet_forward: r must be [N, classes], got ",
                r.describe());

    RandomGenerator gen(0);  // no randomness is drawn with both rates 0; the weights are loaded
    const models::EfficientNetOptions options{.padding = models::EfficientNetPadding::Symmetric,
                                              .bn_eps = 1e-5,
                                              .bn_momentum = 0.9,
                                              .bn_unbiased_running_var = true,
                                              .drop_connect_rate = 0.0,
                                              .dropout_rate = 0.0,
                                              .include_preprocessing = false};
    auto model = models::efficientnet_b2(gen, r.size(1), options);
    const nn::LoadReport loaded = nn::load_module(*model, weights);  // strict
    std::cout << "effnet_forward: loaded " << loaded.loaded.size() << " tensors from " << weights
              << "\n";

    nn::NamedTensors out;
    model->eval();
    run(*model, x, r, "eval", out);
    model->train();
    run(*model, x, r, "train", out);
    for (const auto& [name, t] : model->named_buffers())
      out.emplace_back("train." + name, t.contiguous());
    nn::write_safetensors(output, out);
    std::cout << "effnet_forward: wrote " << out.size() << " tensors to " << output << "\n";
  } catch (const std::exception& e) {
    std::cerr << "effnet_forward: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

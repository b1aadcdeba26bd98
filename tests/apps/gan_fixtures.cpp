// Test fixtures for the generation apps' smoke tests (tests/apps/generate_smoke.sh):
//   gan_fixtures generator PATH SEED
//       a small untrained ConditionalGenerator for 64x64x3 EuroSAT images (widths 8, latent 8),
//       written with models::save_generator_file, as train_gan writes generator.safetensors
//   gan_fixtures classifier PATH CLASS
//       an untrained EfficientNetB2 with 10 classes whose classifier bias favours CLASS (an
//       index) by 1000, so it predicts CLASS for every image: written with nn::save_module, the
//       format of train_classifier's best.safetensors. A known acceptance (1 for CLASS, 0 for
//       every other class) lets the test check both a finished and a stopped generate run.
#include <cstdio>
#include <string>

#include "models/efficientnet.h"
#include "gan/networks_io.h"
#include "nn/safetensors.h"
#include "tensor/tensor.h"

using namespace ember;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: gan_fixtures generator PATH SEED | classifier PATH CLASS\n");
    return 2;
  }
  const std::string what = argv[1], path = argv[2];
  const int64_t value = std::stoll(argv[3]);
  try {
    if (what == "generator") {
      models::GeneratorConfig c;
      c.latent_dim = 8;
      c.embedding_dim = 4;
      c.base_channels = 8;
      c.stage_filters = {8, 8, 8, 8};
      RandomGenerator gen(static_cast<uint64_t>(value));
      models::ConditionalGenerator g(c, gen);
      models::save_generator_file(g, path, {{"epoch", "0"}});
    } else if (what == "classifier") {
      RandomGenerator gen(0);
      auto model = models::efficientnet_b2(gen, 10);
      for (auto& [name, p] : model->named_parameters())
        if (name == "predictions.bias") {
          std::vector<float> bias(10, 0.0f);
          bias.at(static_cast<size_t>(value)) = 1000.0f;
          copy_(p, from_vector<float>(bias, {10}));
        }
      nn::save_module(*model, path, {{"epoch", "0"}, {"val_accuracy", "0"}});
    } else {
      std::fprintf(stderr, "gan_fixtures: unknown fixture '%s'\n", what.c_str());
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gan_fixtures: %s\n", e.what());
    return 1;
  }
  return 0;
}

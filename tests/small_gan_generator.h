// A small DCGAN-initialised conditional generator (3 classes, 16x16x3 from an 8-dim latent)
// shared by the tests that need any generator to write, load or sample (test_gan_io.cpp,
// test_gan_quality.cpp).
#pragma once
#include "gan/networks.h"

namespace ember::testing {

inline models::GeneratorConfig small_dcgan_generator() {
  models::GeneratorConfig c;
  c.num_classes = 3;
  c.latent_dim = 8;
  c.embedding_dim = 4;
  c.base_channels = 8;
  c.stage_filters = {8, 4};
  c.image_size = 16;
  c.init = models::GanInit::Dcgan;
  return c;
}

}  // namespace ember::testing

// gan/networks_io.h: config JSON round trips, generator files that rebuild the same network and
// outputs, and clear errors for a missing, malformed or foreign file.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "gan/networks_io.h"
#include "ops/ops.h"
#include "tests/expect_error.h"
#include "tests/small_gan_generator.h"

namespace ember {
namespace {

using namespace ember::models;
namespace fs = std::filesystem;

TEST(GanIo, ConfigRoundTrips) {
  const GeneratorConfig g = testing::small_dcgan_generator();
  const GeneratorConfig g2 = generator_config_from_json(to_json(g), "test");
  EXPECT_EQ(to_json(g2), to_json(g));
  CriticConfig c;
  c.filters = {4, 8};
  c.image_size = 16;
  c.layer_norm = true;
  EXPECT_EQ(to_json(critic_config_from_json(to_json(c), "test")), to_json(c));
}

TEST(GanIo, ConfigErrorsNameTheField) {
  nlohmann::json j = to_json(testing::small_dcgan_generator());
  j.erase("latent_dim");
  EXPECT_ERROR_MENTIONS(generator_config_from_json(j, "f.json"), "missing field 'latent_dim'");
  j = to_json(testing::small_dcgan_generator());
  j["colour"] = 1;
  EXPECT_ERROR_MENTIONS(generator_config_from_json(j, "f.json"), "unknown field 'colour'");
  j = to_json(testing::small_dcgan_generator());
  j["kernel"] = "four";
  EXPECT_ERROR_MENTIONS(generator_config_from_json(j, "f.json"), "field 'kernel' has a bad value");
  j = to_json(testing::small_dcgan_generator());
  j["init"] = "he";
  EXPECT_ERROR_MENTIONS(generator_config_from_json(j, "f.json"), "he");
}

TEST(GanIo, GeneratorFileRebuildsTheSameNetwork) {
  const fs::path path = fs::temp_directory_path() / ("ember_gan_io_" + std::to_string(::getpid()) + ".safetensors");
  RandomGenerator gen(5);
  ConditionalGenerator g(testing::small_dcgan_generator(), gen);
  g.eval();
  save_generator_file(g, path.string(), {{"epoch", "7"}});
  LoadedGenerator loaded = load_generator_file(path.string());
  EXPECT_EQ(loaded.metadata.at("epoch"), "7");
  EXPECT_FALSE(loaded.generator->is_training());
  RandomGenerator noise(1);
  const Tensor z = rand_normal({4, 8}, noise);
  const Tensor labels = from_vector(std::vector<int64_t>{0, 1, 2, 1}, {4}, {DType::Int64});
  EXPECT_EQ(g(z, labels).to_vector<float>(), (*loaded.generator)(z, labels).to_vector<float>());
  EXPECT_ERROR_MENTIONS(save_generator_file(g, path.string(), {{kGeneratorConfigKey, "x"}}),
                        "reserved");
  // A file that is not a generator file (no config) is named as such.
  nn::save_module(g, path.string());
  EXPECT_ERROR_MENTIONS(load_generator_file(path.string()), "not a generator written by");
  fs::remove(path);
  EXPECT_ERROR_MENTIONS(load_generator_file(path.string()), path.filename().string());
}

}  // namespace
}  // namespace ember

// Generator files: a trained ConditionalGenerator in one safetensors file that carries its own
// configuration, so apps/generate (and anything else) rebuilds the network from the file alone.
//   tensors   module_state(generator): parameters and BatchNorm running statistics
//             (gan/networks.h names)
//   metadata  "ember.gan.generator_config": the GeneratorConfig as JSON (field names as in
//             the struct, init as "keras"/"dcgan"), plus any caller metadata (epoch, EMA, ...)
// The JSON forms of both configs are also what train_gan saves with its checkpoints and
// results. Tested in tests/test_gan_io.cpp (round trips, a file from another config refused,
// missing or malformed config named).
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "gan/networks.h"
#include "nn/safetensors.h"

namespace ember::models {

nlohmann::json to_json(const GeneratorConfig& config);
nlohmann::json to_json(const CriticConfig& config);
// Every field is required; an unknown field, a missing one or a bad value is an error naming
// it (and `source`).
GeneratorConfig generator_config_from_json(const nlohmann::json& j, const std::string& source);
CriticConfig critic_config_from_json(const nlohmann::json& j, const std::string& source);

constexpr const char* kGeneratorConfigKey = "ember.gan.generator_config";

// Writes `generator` (atomically) with its config and `metadata` (which must not use the key).
void save_generator_file(const ConditionalGenerator& generator, const std::string& path,
                         const nn::SafetensorsMetadata& metadata = {});

struct LoadedGenerator {
  std::unique_ptr<ConditionalGenerator> generator;  // in eval() mode, on the CPU
  nn::SafetensorsMetadata metadata;
};
// Rebuilds the generator from the file's config (drawing throwaway initial weights from a
// local RandomGenerator) and loads every tensor strictly.
LoadedGenerator load_generator_file(const std::string& path);

}  // namespace ember::models

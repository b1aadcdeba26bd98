// Generator files and the GAN configs as JSON (see networks_io.h).
#include "gan/networks_io.h"

#include <set>

#include "tensor/error.h"
#include "tensor/random.h"

namespace ember::models {
namespace {

// Reads j[key] as T; every key of j must be read exactly once (checked by finish()).
class FieldReader {
 public:
  FieldReader(const nlohmann::json& j, std::string what) : j_(j), what_(std::move(what)) {
    EMBER_CHECK(j_.is_object(), what_, ": expected a JSON object, got ", j_.dump());
  }
  template <typename T>
  T get(const char* key) {
    EMBER_CHECK(j_.contains(key), what_, ": missing field '", key, "'");
    seen_.insert(key);
    try {
      return j_.at(key).get<T>();
    } catch (const nlohmann::json::exception&) {
      EMBER_FAIL(what_, ": field '", key, "' has a bad value ", j_.at(key).dump());
    }
  }
  void finish() const {
    for (const auto& [key, _] : j_.items())
      EMBER_CHECK(seen_.count(key), what_, ": unknown field '", key, "'");
  }

 private:
  const nlohmann::json& j_;
  std::string what_;
  std::set<std::string> seen_;
};

}  // namespace

nlohmann::json to_json(const GeneratorConfig& c) {
  return {{"num_classes", c.num_classes},       {"latent_dim", c.latent_dim},
          {"embedding_dim", c.embedding_dim},   {"base_size", c.base_size},
          {"base_channels", c.base_channels},   {"stage_filters", c.stage_filters},
          {"kernel", c.kernel},                 {"out_channels", c.out_channels},
          {"rgb_kernel", c.rgb_kernel},         {"image_size", c.image_size},
          {"bn_momentum", c.bn_momentum},       {"bn_eps", c.bn_eps},
          {"init", gan_init_name(c.init)}};
}

nlohmann::json to_json(const CriticConfig& c) {
  return {{"num_classes", c.num_classes}, {"image_size", c.image_size},
          {"in_channels", c.in_channels}, {"filters", c.filters},
          {"kernel", c.kernel},           {"stride", c.stride},
          {"negative_slope", c.negative_slope}, {"layer_norm", c.layer_norm},
          {"layer_norm_eps", c.layer_norm_eps}, {"init", gan_init_name(c.init)}};
}

GeneratorConfig generator_config_from_json(const nlohmann::json& j, const std::string& source) {
  FieldReader r(j, "generator config in " + source);
  GeneratorConfig c;
  c.num_classes = r.get<int64_t>("num_classes");
  c.latent_dim = r.get<int64_t>("latent_dim");
  c.embedding_dim = r.get<int64_t>("embedding_dim");
  c.base_size = r.get<int64_t>("base_size");
  c.base_channels = r.get<int64_t>("base_channels");
  c.stage_filters = r.get<std::vector<int64_t>>("stage_filters");
  c.kernel = r.get<int64_t>("kernel");
  c.out_channels = r.get<int64_t>("out_channels");
  c.rgb_kernel = r.get<int64_t>("rgb_kernel");
  c.image_size = r.get<int64_t>("image_size");
  c.bn_momentum = r.get<double>("bn_momentum");
  c.bn_eps = r.get<double>("bn_eps");
  c.init = parse_gan_init(r.get<std::string>("init"));
  r.finish();
  c.validate();
  return c;
}

CriticConfig critic_config_from_json(const nlohmann::json& j, const std::string& source) {
  FieldReader r(j, "critic config in " + source);
  CriticConfig c;
  c.num_classes = r.get<int64_t>("num_classes");
  c.image_size = r.get<int64_t>("image_size");
  c.in_channels = r.get<int64_t>("in_channels");
  c.filters = r.get<std::vector<int64_t>>("filters");
  c.kernel = r.get<int64_t>("kernel");
  c.stride = r.get<int64_t>("stride");
  c.negative_slope = r.get<double>("negative_slope");
  c.layer_norm = r.get<bool>("layer_norm");
  c.layer_norm_eps = r.get<double>("layer_norm_eps");
  c.init = parse_gan_init(r.get<std::string>("init"));
  r.finish();
  c.validate();
  return c;
}

void save_generator_file(const ConditionalGenerator& generator, const std::string& path,
                         const nn::SafetensorsMetadata& metadata) {
  EMBER_CHECK(!metadata.count(kGeneratorConfigKey), "save_generator_file: the metadata key '",
              kGeneratorConfigKey, "' is reserved for the generator's config");
  nn::SafetensorsMetadata all = metadata;
  all[kGeneratorConfigKey] = to_json(generator.config()).dump();
  nn::save_module(generator, path, all);
}

LoadedGenerator load_generator_file(const std::string& path) {
  nn::SafetensorsFile file = nn::read_safetensors(path);
  const auto it = file.metadata.find(kGeneratorConfigKey);
  EMBER_CHECK(it != file.metadata.end(), "generator file ", path, " has no '", kGeneratorConfigKey,
              "' metadata: it is not a generator written by save_generator_file (train_gan)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    EMBER_FAIL("generator file ", path, ": its config is not JSON: ", e.what());
  }
  const GeneratorConfig config = generator_config_from_json(j, path);
  RandomGenerator init(0);  // the weights drawn here are all overwritten by the load
  LoadedGenerator out;
  out.generator = std::make_unique<ConditionalGenerator>(config, init);
  nn::load_into(nn::module_state(*out.generator), file.tensors, {}, path);
  out.generator->eval();
  out.metadata = std::move(file.metadata);
  return out;
}

}  // namespace ember::models

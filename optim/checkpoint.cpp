// Training checkpoints (see checkpoint.h; layout in docs/safetensors.md, "Checkpoints").
// Scalars go into one JSON document in the safetensors __metadata__ as strings: doubles as C99
// hexfloats ("%a", exact, and "inf"/"-inf"/"nan" spelled out, which JSON numbers cannot
// hold) and 64-bit integers in decimal (JSON readers that hold numbers as doubles would round
// them). Tested in tests/test_checkpoint.cpp.
#include "optim/checkpoint.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>

#include "nn/safetensors.h"
#include "tensor/error.h"

namespace ember::optim {
namespace {

using nlohmann::json;

constexpr const char* kFormatKey = "format";
constexpr const char* kFormat = "ember.checkpoint";
constexpr const char* kStateKey = "ember.checkpoint";
constexpr int kVersion = 1;

std::string double_to_string(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%a", v);
  return buffer;
}

double string_to_double(const std::string& s, const std::string& what, const std::string& path) {
  const char* begin = s.c_str();
  char* end = nullptr;
  const double v = std::strtod(begin, &end);
  EMBER_CHECK(!s.empty() && end == begin + s.size(), "load_checkpoint ", path, ": ", what,
              " is not a number: '", s, "'");
  return v;
}

template <typename Int>
Int string_to_int(const std::string& s, const std::string& what, const std::string& path) {
  Int v{};
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  EMBER_CHECK(ec == std::errc() && ptr == s.data() + s.size(), "load_checkpoint ", path, ": ",
              what, " is not a valid integer: '", s, "'");
  return v;
}

// {"name": ..., "scalars": [[name, hexfloat], ...]}; tensors go to the file under `prefix`.
json encode_state(const std::string& name, const OptimizerState& state, const std::string& prefix,
                  nn::NamedTensors& tensors) {
  json scalars = json::array();
  for (const auto& [key, value] : state.scalars) scalars.push_back({key, double_to_string(value)});
  for (const auto& [key, tensor] : state.tensors) tensors.emplace_back(prefix + key, tensor);
  return json{{"name", name}, {"scalars", scalars}};
}

// The reading side of one part: the JSON document and the file's tensors.
class Reader {
 public:
  Reader(std::string path, json doc, const nn::NamedTensors& tensors)
      : path_(std::move(path)), doc_(std::move(doc)), tensors_(tensors) {}

  const json& part(const char* key, const std::string& what) const {
    EMBER_CHECK(doc_.contains(key) && doc_.at(key).is_object(), "load_checkpoint ", path_,
                ": the checkpoint has no ", what, " state (key '", key, "'), but one was given to load");
    return doc_.at(key);
  }

  std::string string_field(const json& object, const char* key, const std::string& what) const {
    EMBER_CHECK(object.contains(key) && object.at(key).is_string(), "load_checkpoint ", path_,
                ": ", what, " has no string field '", key, "'");
    return object.at(key).get<std::string>();
  }

  // The state saved by encode_state under `key`, with the tensors named `prefix`<name>.
  OptimizerState state(const char* key, const std::string& what, const std::string& expected_name,
                       const std::string& prefix) const {
    const json& object = part(key, what);
    const std::string saved_name = string_field(object, "name", what);
    EMBER_CHECK(saved_name == expected_name, "load_checkpoint ", path_, ": the checkpoint's ",
                what, " is ", saved_name, ", but the one given is ", expected_name);
    EMBER_CHECK(object.contains("scalars") && object.at("scalars").is_array(), "load_checkpoint ",
                path_, ": ", what, " has no 'scalars' list");
    OptimizerState out;
    for (const json& entry : object.at("scalars")) {
      EMBER_CHECK(entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string(),
                  "load_checkpoint ", path_, ": a malformed ", what, " scalar: ", entry.dump());
      const std::string name = entry[0].get<std::string>();
      out.scalars.emplace_back(name, string_to_double(entry[1].get<std::string>(),
                                                      what + " scalar '" + name + "'", path_));
    }
    for (const auto& [name, tensor] : tensors_)
      if (name.rfind(prefix, 0) == 0) out.tensors.emplace_back(name.substr(prefix.size()), tensor);
    return out;
  }

  const json& doc() const { return doc_; }

 private:
  std::string path_;
  json doc_;
  const nn::NamedTensors& tensors_;
};

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

void save_checkpoint(const std::string& path, const CheckpointParts& parts, const CheckpointInfo& info) {
  EMBER_CHECK(parts.model != nullptr, "save_checkpoint ", path, ": no model given");
  nn::NamedTensors tensors;
  for (const auto& [name, tensor] : nn::module_state(*parts.model)) tensors.emplace_back("model." + name, tensor);

  json doc{{"version", kVersion},
           {"epoch", std::to_string(info.epoch)},
           {"step", std::to_string(info.step)}};
  if (parts.optimizer)
    doc["optimizer"] = encode_state(parts.optimizer->name(), parts.optimizer->state(), "optim.", tensors);
  if (parts.schedule) doc["schedule"] = encode_state(parts.schedule->name(), parts.schedule->state(), "schedule.", tensors);
  if (parts.plateau) doc["plateau"] = encode_state("ReduceLrOnPlateau", parts.plateau->state(), "plateau.", tensors);
  if (parts.ema) doc["ema"] = encode_state("ExponentialMovingAverage", parts.ema->state(), "ema.", tensors);
  json generators = json::object();
  for (const auto& [name, gen] : parts.generators) {
    EMBER_CHECK(gen != nullptr, "save_checkpoint ", path, ": generator '", name, "' is null");
    EMBER_CHECK(!generators.contains(name), "save_checkpoint ", path, ": generator '", name,
                "' is given twice");
    generators[name] = json{{"seed", std::to_string(gen->seed())}, {"offset", std::to_string(gen->offset())}};
  }
  doc["generators"] = generators;

  nn::SafetensorsMetadata metadata;
  for (const auto& [key, value] : info.metadata) {
    EMBER_CHECK(key != kFormatKey && key != kStateKey, "save_checkpoint ", path, ": metadata key '",
                key, "' is reserved for the checkpoint layout");
    metadata[key] = value;
  }
  metadata[kFormatKey] = kFormat;
  metadata[kStateKey] = doc.dump();
  nn::write_safetensors(path, tensors, metadata);
}

namespace {

// The checkpoint's state document (the JSON beside the tensors), after checking that the file
// is an ember checkpoint of a version this build reads.
json state_document(const std::string& path, const nn::SafetensorsFile& file) {
  const auto format = file.metadata.find(kFormatKey);
  const auto state_text = file.metadata.find(kStateKey);
  EMBER_CHECK(format != file.metadata.end() && format->second == kFormat && state_text != file.metadata.end(),
              "load_checkpoint ", path, ": not an ember checkpoint (the __metadata__ lacks format '",
              kFormat, "' or the '", kStateKey, "' document); a plain weight file loads with nn::load_module");
  json doc;
  try {
    doc = json::parse(state_text->second);
  } catch (const std::exception& e) {
    EMBER_FAIL("load_checkpoint ", path, ": the '", kStateKey, "' document is not valid JSON: ", e.what());
  }
  EMBER_CHECK(doc.is_object() && doc.contains("version") && doc.at("version") == kVersion, "load_checkpoint ",
              path, ": unsupported checkpoint version (this build reads version ", kVersion, ")");
  return doc;
}

// Every model parameter and buffer must be in the checkpoint with its shape and dtype, and the
// checkpoint must hold nothing more, so a load never half-fills a model.
void check_model_tensors(const std::string& path, const nn::NamedTensors& targets,
                         const nn::NamedTensors& model_source) {
  std::vector<std::string> missing, unexpected;
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, tensor] : model_source) by_name[name] = &tensor;
  for (const auto& [name, target] : targets) {
    const auto it = by_name.find(name);
    if (it == by_name.end()) {
      missing.push_back(name);
      continue;
    }
    const Tensor& saved = *it->second;
    EMBER_CHECK(saved.shape() == target.shape(), "load_checkpoint ", path, ": model tensor '", name,
                "' has shape ", shape_str(saved.shape()), " in the checkpoint but ",
                shape_str(target.shape()), " in the model");
    EMBER_CHECK(saved.dtype() == target.dtype(), "load_checkpoint ", path, ": model tensor '", name,
                "' is ", dtype_name(saved.dtype()), " in the checkpoint but ", dtype_name(target.dtype()),
                " in the model");
    by_name.erase(it);
  }
  for (const auto& [name, tensor] : by_name) unexpected.push_back(name);
  EMBER_CHECK(missing.empty(), "load_checkpoint ", path, ": the checkpoint lacks model tensors: ",
              join_names(missing));
  EMBER_CHECK(unexpected.empty(), "load_checkpoint ", path,
              ": the checkpoint has model tensors the model does not: ", join_names(unexpected));
}

// The saved (seed, offset) of each named random-number generator the caller asks for.
std::vector<std::pair<uint64_t, uint64_t>> random_generator_states(const std::string& path,
                                                                   const Reader& reader,
                                                                   const CheckpointParts& parts) {
  std::vector<std::pair<uint64_t, uint64_t>> states;
  if (parts.generators.empty()) return states;
  const json& generators = reader.part("generators", "generator");
  for (const auto& [name, gen] : parts.generators) {
    EMBER_CHECK(gen != nullptr, "load_checkpoint ", path, ": generator '", name, "' is null");
    EMBER_CHECK(generators.contains(name) && generators.at(name).is_object(), "load_checkpoint ",
                path, ": the checkpoint has no generator '", name, "'");
    const json& g = generators.at(name);
    const std::string what = "generator '" + name + "'";
    states.emplace_back(
        string_to_int<uint64_t>(reader.string_field(g, "seed", what), what + " seed", path),
        string_to_int<uint64_t>(reader.string_field(g, "offset", what), what + " offset", path));
  }
  return states;
}

// The optimizer's, the plateau scheduler's and the EMA's states, each checked by its own
// load_state before it changes anything; should a later one still fail, the earlier ones are
// rolled back to what they were, so a failed load leaves every part as it was.
void apply_training_states(const std::string& path, const CheckpointParts& parts,
                           const OptimizerState& optim_state, const OptimizerState& plateau_state,
                           const OptimizerState& ema_state) {
  const OptimizerState old_optim = parts.optimizer ? parts.optimizer->state() : OptimizerState{};
  const OptimizerState old_plateau = parts.plateau ? parts.plateau->state() : OptimizerState{};
  int applied = 0;
  try {
    if (parts.optimizer) parts.optimizer->load_state(optim_state);
    ++applied;
    if (parts.plateau) parts.plateau->load_state(plateau_state);
    ++applied;
    if (parts.ema) parts.ema->load_state(ema_state);
    ++applied;
  } catch (const Error& e) {
    if (applied >= 1 && parts.optimizer) parts.optimizer->load_state(old_optim);
    if (applied >= 2 && parts.plateau) parts.plateau->load_state(old_plateau);
    EMBER_FAIL("load_checkpoint ", path, ": ", e.what());
  }
}

}  // namespace

// Two phases: first every part is parsed and checked, changing nothing; then all are applied.
CheckpointInfo load_checkpoint(const std::string& path, const CheckpointParts& parts) {
  EMBER_CHECK(parts.model != nullptr, "load_checkpoint ", path, ": no model given");
  nn::SafetensorsFile file = nn::read_safetensors(path);

  // 1. Parse and check everything; nothing is changed yet.
  const json doc = state_document(path, file);
  const Reader reader(path, doc, file.tensors);
  CheckpointInfo info;
  info.epoch = string_to_int<int64_t>(reader.string_field(doc, "epoch", "the checkpoint"), "epoch", path);
  info.step = string_to_int<int64_t>(reader.string_field(doc, "step", "the checkpoint"), "step", path);
  for (const auto& [key, value] : file.metadata)
    if (key != kFormatKey && key != kStateKey) info.metadata[key] = value;

  const nn::NamedTensors targets = nn::module_state(*parts.model);
  nn::NamedTensors model_source;
  for (const auto& [name, tensor] : file.tensors)
    if (name.rfind("model.", 0) == 0) model_source.emplace_back(name.substr(6), tensor);
  check_model_tensors(path, targets, model_source);

  OptimizerState optim_state, plateau_state, ema_state;
  if (parts.optimizer) optim_state = reader.state("optimizer", "optimizer", parts.optimizer->name(), "optim.");
  if (parts.schedule) {
    const OptimizerState s = reader.state("schedule", "schedule", parts.schedule->name(), "schedule.");
    try {
      parts.schedule->load_state(s);  // const: only compares the configuration
    } catch (const Error& e) {
      EMBER_FAIL("load_checkpoint ", path, ": ", e.what());
    }
  }
  if (parts.plateau) plateau_state = reader.state("plateau", "plateau scheduler", "ReduceLrOnPlateau", "plateau.");
  if (parts.ema) ema_state = reader.state("ema", "weight average", "ExponentialMovingAverage", "ema.");
  const auto generator_states = random_generator_states(path, reader, parts);

  // 2. Apply.
  apply_training_states(path, parts, optim_state, plateau_state, ema_state);
  // Checked above, so this cannot fail on names, shapes or dtypes.
  nn::load_into(targets, model_source, {}, path);
  for (size_t i = 0; i < parts.generators.size(); ++i)
    parts.generators[i].second->set_state(generator_states[i].first, generator_states[i].second);
  return info;
}

}  // namespace ember::optim

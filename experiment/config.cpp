// Presets, merging, overrides and the checked typed view of the experiment's configuration
// (experiment/config.h). Tested in tests/test_experiment_config.cpp.
#include "experiment/config.h"

#include <fstream>
#include <set>
#include <sstream>
#include <type_traits>

#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace ember::experiment {

using nlohmann::json;

namespace {

// Every key the configuration has, with the full preset's values: the quick preset patches it.
json full_preset() {
  return json{
      {"preset", "full"},
      {"data", ""},
      {"out", "runs/experiment-full"},
      {"device", "cuda"},
      {"gpus", 0},
      {"exact_fp32", false},
      {"precision", ""},
      {"cuda_graphs", true},
      {"seeds", {0, 1, 2}},
      {"subset_seed", 0},
      {"fraction", 1.0},
      {"classifier",
       {{"epochs", 20},
        {"batch", 64},
        {"optimizer", "adam"},
        {"lr", 1e-3},
        {"schedule", "cosine"},
        {"augment", true},
        {"patience", 0},
        {"weights", ""},
        {"freeze", "0"},
        {"bn_momentum", 0.99},
        {"extra_args", json::array()}}},
      {"groups", {{"weighted", true}, {"oversampled", true}, {"balanced_gan", true}}},
      {"gan",
       {{"loss", "wgan-gp"},
        {"epochs", 60},
        {"batch", 64},
        {"fraction", 1.0},
        {"seed", 0},
        {"g_widths", json::array()},
        {"g_base_channels", 0},
        {"d_widths", json::array()},
        {"ema", 0.999},
        {"extra_args", json::array()}}},
      {"generation",
       {{"classes", {"Highway", "River"}},
        {"batch", 256},
        {"max_batches", 1000},
        {"allow_short", false},
        {"seed", 0}}},
      {"augmented", {{"sizes", {100, 300, 500}}, {"per", "class"}}},
      {"quality", {{"enabled", true}, {"count", 500}}},
      {"report", {{"browser_check", true}}},
  };
}

// The quick preset: every stage, small. Sizes and epochs were chosen so that the whole run
// takes about ten minutes on the 2-core CPU machine (README, "The experiment").
json quick_patch() {
  return json{
      {"preset", "quick"},
      {"out", "runs/experiment-quick"},
      {"device", "cpu"},
      {"fraction", 0.04},
      // From scratch, 2 epochs of a 4% subset are ~80 steps: BatchNorm's running statistics
      // must settle that fast, or evaluation sees the initial ones (test accuracy at chance).
      {"classifier",
       {{"epochs", 2}, {"batch", 16}, {"schedule", "constant"}, {"augment", false}, {"bn_momentum", 0.9}}},
      {"groups", {{"oversampled", false}, {"balanced_gan", false}}},
      {"gan",
       {{"epochs", 3},
        {"batch", 32},
        {"fraction", 0.1},
        {"g_widths", {64, 32, 16, 8}},
        {"g_base_channels", 64},
        {"d_widths", {16, 32, 64, 128}},
        {"ema", 0.0}}},
      {"generation", {{"batch", 64}, {"max_batches", 4}, {"allow_short", true}}},
      {"augmented", {{"sizes", {10, 30, 50}}}},
      {"quality", {{"count", 64}}},
  };
}

// Whether `v` is a T as JSON writes it. nlohmann converts between numbers and booleans on
// get<T>() (2.7 -> 2, true -> 1), so a setting given as a float where an integer is needed
// must be caught here, not silently truncated.
template <typename T>
bool json_is(const json& v) {
  if constexpr (std::is_same_v<T, bool>) return v.is_boolean();
  else if constexpr (std::is_integral_v<T>) return v.is_number_integer();
  else if constexpr (std::is_floating_point_v<T>) return v.is_number();
  else if constexpr (std::is_same_v<T, std::string>) return v.is_string();
  else {  // a vector
    if (!v.is_array()) return false;
    for (const json& item : v)
      if (!json_is<typename T::value_type>(item)) return false;
    return true;
  }
}

// Reads the value at `key` of object `j`, which must exist and have the right type.
template <typename T>
T get(const json& j, const std::string& path, const char* key) {
  const std::string where = path.empty() ? key : path + "." + key;
  EMBER_CHECK(j.contains(key), "config: missing key '", where, "'");
  const json& v = j.at(key);
  if (!json_is<T>(v)) {
    const bool whole = std::is_integral_v<T> || std::is_same_v<T, std::vector<int64_t>>;
    EMBER_FAIL("config: '", where, "' has the wrong type (", v.dump(), ")",
               whole && !std::is_same_v<T, bool> ? ": whole numbers expected" : "");
  }
  return v.get<T>();
}

// Every key of `actual` must be one of `reference`'s, recursively for objects.
void check_known_keys(const json& actual, const json& reference, const std::string& path) {
  EMBER_CHECK(actual.is_object(), "config: '", path.empty() ? "<top>" : path,
              "' must be an object, got ", actual.dump());
  for (auto it = actual.begin(); it != actual.end(); ++it) {
    const std::string where = path.empty() ? it.key() : path + "." + it.key();
    EMBER_CHECK(reference.contains(it.key()), "config: unknown key '", where, "'");
    if (reference.at(it.key()).is_object()) check_known_keys(it.value(), reference.at(it.key()), where);
  }
}

void check_positive(int64_t v, const char* key) {
  EMBER_CHECK(v > 0, "config: '", key, "' must be positive, got ", v);
}

}  // namespace

json preset_json(const std::string& name) {
  json config = full_preset();
  if (name == "full") return config;
  if (name == "quick") {
    config.merge_patch(quick_patch());
    return config;
  }
  EMBER_FAIL("unknown preset '", name, "' (choose quick or full)");
}

void apply_override(json& config, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  EMBER_CHECK(eq != std::string::npos && eq > 0, "--set '", assignment,
              "': expected key.path=value, e.g. classifier.epochs=5");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  json* node = &config;
  std::stringstream parts(key);
  std::string part, walked;
  while (std::getline(parts, part, '.')) {
    walked += (walked.empty() ? "" : ".") + part;
    EMBER_CHECK(node->is_object() && node->contains(part), "--set: unknown key '", walked, "'");
    node = &(*node)[part];
  }
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = text;  // a bare word is a string
  // JSON holds UTF-8 text only: other bytes would make nlohmann throw its own error later, when
  // an error message or the saved config.json dumps the value, instead of naming the setting.
  try {
    (void)value.dump();
  } catch (const json::type_error&) {
    EMBER_FAIL("--set '", key, "': the value is not UTF-8 text, which the JSON configuration "
               "cannot hold");
  }
  *node = value;
}

// The typed view of each section, checked in the order the keys are listed in the preset, so
// that the first wrong setting is the one named.
namespace {

void parse_top_level(const json& j, ExperimentConfig& c) {
  c.preset = get<std::string>(j, "", "preset");
  c.data = get<std::string>(j, "", "data");
  c.out = get<std::string>(j, "", "out");
  EMBER_CHECK(!c.out.empty(), "config: 'out' must name a folder");
  c.device = get<std::string>(j, "", "device");
  EMBER_CHECK(c.device == "cpu" || c.device == "cuda", "config: 'device' must be cpu or cuda, got '",
              c.device, "'");
  c.gpus = get<int64_t>(j, "", "gpus");
  EMBER_CHECK(c.gpus >= 0, "config: 'gpus' must be >= 0 (0: all visible), got ", c.gpus);
  c.exact_fp32 = get<bool>(j, "", "exact_fp32");
  c.precision = get<std::string>(j, "", "precision");
  EMBER_CHECK(c.precision.empty() || c.precision == "fp32" || c.precision == "tf32" ||
                  c.precision == "bf16",
              "config: 'precision' must be fp32, tf32, bf16 or \"\" (the apps' default), got '",
              c.precision, "'");
  // exact_fp32 is the older spelling of precision fp32, as --exact-fp32 is the apps' alias.
  EMBER_CHECK(!c.exact_fp32 || c.precision.empty() || c.precision == "fp32",
              "config: 'exact_fp32' (true) contradicts 'precision' (", c.precision,
              "): exact_fp32 means precision fp32; set one of them only");
  c.cuda_graphs = get<bool>(j, "", "cuda_graphs");
  c.seeds = get<std::vector<int64_t>>(j, "", "seeds");
  EMBER_CHECK(!c.seeds.empty(), "config: 'seeds' must list at least one seed");
  EMBER_CHECK(std::set<int64_t>(c.seeds.begin(), c.seeds.end()).size() == c.seeds.size(),
              "config: 'seeds' lists a seed twice");
  for (int64_t s : c.seeds) EMBER_CHECK(s >= 0, "config: seeds must be >= 0, got ", s);
  c.subset_seed = get<int64_t>(j, "", "subset_seed");
  c.fraction = get<double>(j, "", "fraction");
  EMBER_CHECK(c.fraction > 0 && c.fraction <= 1, "config: 'fraction' must be in (0, 1], got ",
              c.fraction);
}

ClassifierSettings parse_classifier(const json& cl) {
  ClassifierSettings s;
  s.epochs = get<int64_t>(cl, "classifier", "epochs");
  check_positive(s.epochs, "classifier.epochs");
  s.batch = get<int64_t>(cl, "classifier", "batch");
  check_positive(s.batch, "classifier.batch");
  s.optimizer = get<std::string>(cl, "classifier", "optimizer");
  s.lr = get<double>(cl, "classifier", "lr");
  EMBER_CHECK(s.lr > 0, "config: 'classifier.lr' must be positive");
  s.schedule = get<std::string>(cl, "classifier", "schedule");
  s.augment = get<bool>(cl, "classifier", "augment");
  s.patience = get<int64_t>(cl, "classifier", "patience");
  s.weights = get<std::string>(cl, "classifier", "weights");
  s.freeze = get<std::string>(cl, "classifier", "freeze");
  s.bn_momentum = get<double>(cl, "classifier", "bn_momentum");
  EMBER_CHECK(s.bn_momentum >= 0 && s.bn_momentum < 1,
              "config: 'classifier.bn_momentum' must be in [0, 1), got ", s.bn_momentum);
  s.extra_args = get<std::vector<std::string>>(cl, "classifier", "extra_args");
  return s;
}

void parse_groups(const json& groups, ExperimentConfig& c) {
  c.group_weighted = get<bool>(groups, "groups", "weighted");
  c.group_oversampled = get<bool>(groups, "groups", "oversampled");
  c.group_balanced_gan = get<bool>(groups, "groups", "balanced_gan");
}

GanSettings parse_gan(const json& g) {
  GanSettings s;
  s.loss = get<std::string>(g, "gan", "loss");
  EMBER_CHECK(s.loss == "wgan-gp" || s.loss == "bce",
              "config: 'gan.loss' must be wgan-gp or bce, got '", s.loss, "'");
  s.epochs = get<int64_t>(g, "gan", "epochs");
  check_positive(s.epochs, "gan.epochs");
  s.batch = get<int64_t>(g, "gan", "batch");
  check_positive(s.batch, "gan.batch");
  s.fraction = get<double>(g, "gan", "fraction");
  EMBER_CHECK(s.fraction > 0 && s.fraction <= 1, "config: 'gan.fraction' must be in (0, 1]");
  s.seed = get<int64_t>(g, "gan", "seed");
  s.g_widths = get<std::vector<int64_t>>(g, "gan", "g_widths");
  s.g_base_channels = get<int64_t>(g, "gan", "g_base_channels");
  s.d_widths = get<std::vector<int64_t>>(g, "gan", "d_widths");
  s.ema = get<double>(g, "gan", "ema");
  s.extra_args = get<std::vector<std::string>>(g, "gan", "extra_args");
  return s;
}

GenerationSettings parse_generation(const json& gen) {
  GenerationSettings s;
  s.classes = get<std::vector<std::string>>(gen, "generation", "classes");
  EMBER_CHECK(!s.classes.empty(), "config: 'generation.classes' is empty");
  s.batch = get<int64_t>(gen, "generation", "batch");
  check_positive(s.batch, "generation.batch");
  s.max_batches = get<int64_t>(gen, "generation", "max_batches");
  check_positive(s.max_batches, "generation.max_batches");
  s.allow_short = get<bool>(gen, "generation", "allow_short");
  s.seed = get<int64_t>(gen, "generation", "seed");
  return s;
}

void parse_augmented(const json& aug, ExperimentConfig& c) {
  c.augmented_sizes = get<std::vector<int64_t>>(aug, "augmented", "sizes");
  EMBER_CHECK(!c.augmented_sizes.empty(), "config: 'augmented.sizes' is empty");
  for (int64_t n : c.augmented_sizes) check_positive(n, "augmented.sizes");
  EMBER_CHECK(std::set<int64_t>(c.augmented_sizes.begin(), c.augmented_sizes.end()).size() ==
                  c.augmented_sizes.size(),
              "config: 'augmented.sizes' lists a size twice");
  c.augmented_per = get<std::string>(aug, "augmented", "per");
  EMBER_CHECK(c.augmented_per == "class" || c.augmented_per == "total",
              "config: 'augmented.per' must be class or total, got '", c.augmented_per, "'");
}

QualitySettings parse_quality(const json& q) {
  QualitySettings s;
  s.enabled = get<bool>(q, "quality", "enabled");
  s.count = get<int64_t>(q, "quality", "count");
  check_positive(s.count, "quality.count");
  return s;
}

}  // namespace

ExperimentConfig parse_config(const json& j) {
  check_known_keys(j, full_preset(), "");
  ExperimentConfig c;
  parse_top_level(j, c);
  c.classifier = parse_classifier(j.at("classifier"));
  parse_groups(j.at("groups"), c);
  c.gan = parse_gan(j.at("gan"));
  c.generation = parse_generation(j.at("generation"));
  parse_augmented(j.at("augmented"), c);
  c.quality = parse_quality(j.at("quality"));
  c.browser_check = get<bool>(j.at("report"), "report", "browser_check");
  return c;
}

json resolve_config(const std::string& preset, const std::string& file,
                    const std::vector<std::string>& overrides) {
  json config = preset_json(preset);
  if (!file.empty()) {
    const std::string text = read_file(file);
    json patch = json::parse(text, nullptr, /*allow_exceptions=*/false);
    EMBER_CHECK(!patch.is_discarded(), "config file ", file, " is not valid JSON");
    check_known_keys(patch, config, "");
    config.merge_patch(patch);
  }
  for (const std::string& o : overrides) apply_override(config, o);
  parse_config(config);  // every check, now
  return config;
}

}  // namespace ember::experiment

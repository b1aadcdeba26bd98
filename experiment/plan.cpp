// The units of the experiment and their dependencies (experiment/plan.h).
// Paths in arguments start with "{out}/", which the runner replaces by the output folder.
// Tested in tests/test_experiment_config.cpp.
#include "experiment/plan.h"

#include <algorithm>
#include <sstream>

#include "tensor/error.h"

namespace ember::experiment {

namespace {

constexpr double kTrainImages = 16200, kValTestImages = 10800, kUnbalancedTrain = 13680;

std::string join(const std::vector<int64_t>& values) {
  std::string s;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(values[i]);
  }
  return s;
}

std::string join(const std::vector<std::string>& values) {
  std::string s;
  for (size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + values[i];
  return s;
}

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// Appends "flag value" (or the switch `flag` when value is empty) to the unit's arguments and
// remembers the config key it comes from, so that a check of the arguments can name the key.
void add(Unit& u, const std::string& key, const std::string& flag, const std::string& value = "") {
  u.args.push_back(flag);
  if (!value.empty()) u.args.push_back(value);
  u.flag_keys[flag] = key;
}

// Appends a setting's extra arguments as they are; their flags belong to `key`.
void add_extra(Unit& u, const std::string& key, const std::vector<std::string>& extra) {
  u.args.insert(u.args.end(), extra.begin(), extra.end());
  for (const std::string& a : extra)
    if (a.rfind("--", 0) == 0) u.flag_keys[a] = key;
}

std::string classifier_id(const std::string& group, int64_t seed) {
  return "classifier-" + group + "-seed" + std::to_string(seed);
}

// The GANs: "full" always; "balanced" with the extra group.
struct GanSpec {
  std::string name, variant, group_suffix;
};

std::vector<GanSpec> gans(const ExperimentConfig& c) {
  std::vector<GanSpec> g = {{"full", "full", ""}};
  if (c.group_balanced_gan) g.push_back({"balanced", "balanced", "-balanced-gan"});
  return g;
}

// A unit that runs `program` with `--out {out}/units/<id>/<output>`, done when
// units/<id>/<done> exists.
Unit app_unit(const std::string& id, const char* stage, UnitKind kind, const char* program,
              const std::string& output, const std::string& done, bool uses_device) {
  Unit u;
  u.id = id;
  u.stage = stage;
  u.kind = kind;
  u.program = program;
  u.uses_device = uses_device;
  u.out_flag = "--out";
  u.output = "{out}/units/" + id + "/" + output;
  u.done_file = "units/" + id + "/" + done;
  return u;
}

// A step the runner does itself (no program), named after its stage.
Unit in_process_unit(const char* id, UnitKind kind, const std::string& done_file, double cost) {
  Unit u;
  u.id = id;
  u.stage = id;
  u.kind = kind;
  u.done_file = done_file;
  u.cost = cost;
  return u;
}

Unit classifier_unit(const ExperimentConfig& c, const std::string& group, int64_t seed) {
  Unit u = app_unit(classifier_id(group, seed),
                    group.rfind("augmented", 0) == 0 ? "augmented" : "classifiers",
                    UnitKind::kClassifier, "train_classifier", "run", "run/result.json", true);
  u.group = group;
  u.seed = seed;
  u.resumable = true;
  const ClassifierSettings& s = c.classifier;
  if (group == "original") u.args = {"--variant", "full"};
  else if (group == "unbalanced") u.args = {"--variant", "unbalanced"};
  else if (group == "weighted") u.args = {"--variant", "weighted"};
  else if (group == "oversampled") u.args = {"--variant", "unbalanced", "--balanced"};
  add(u, "seeds", "--seed", std::to_string(seed));
  add(u, "subset_seed", "--subset-seed", std::to_string(c.subset_seed));
  add(u, "classifier.epochs", "--epochs", std::to_string(s.epochs));
  add(u, "classifier.batch", "--batch", std::to_string(s.batch));
  add(u, "classifier.optimizer", "--optimizer", s.optimizer);
  add(u, "classifier.lr", "--lr", number(s.lr));
  add(u, "classifier.schedule", "--schedule", s.schedule);
  if (s.augment) add(u, "classifier.augment", "--augment");
  if (s.patience != 0) add(u, "classifier.patience", "--patience", std::to_string(s.patience));
  if (!s.weights.empty()) add(u, "classifier.weights", "--weights", s.weights);
  if (s.freeze != "0") add(u, "classifier.freeze", "--freeze", s.freeze);
  if (s.bn_momentum != 0.99) add(u, "classifier.bn_momentum", "--bn-momentum", number(s.bn_momentum));
  if (c.fraction < 1) add(u, "fraction", "--fraction", number(c.fraction));
  if (!c.data.empty()) add(u, "data", "--data", c.data);
  if (c.exact_fp32) add(u, "exact_fp32", "--exact-fp32");
  if (!c.precision.empty()) add(u, "precision", "--precision", c.precision);
  if (!c.cuda_graphs) add(u, "cuda_graphs", "--cuda-graphs", "off");
  add_extra(u, "classifier.extra_args", s.extra_args);
  const double train = (group == "original" ? kTrainImages : kUnbalancedTrain) * c.fraction;
  u.cost = static_cast<double>(s.epochs) * (train / 100.0 + kValTestImages * c.fraction / 3 / 400.0) +
           kValTestImages * c.fraction / 2 / 400.0 + 5.0;
  return u;
}

// One function per stage's units, in the order build_plan lists them.

// The classifiers on the real data: every base group for every seed.
void add_base_classifiers(const ExperimentConfig& c, std::vector<Unit>& plan) {
  std::vector<std::string> base = {"original", "unbalanced"};
  if (c.group_weighted) base.push_back("weighted");
  if (c.group_oversampled) base.push_back("oversampled");
  for (int64_t seed : c.seeds)
    for (const std::string& group : base) {
      Unit u = classifier_unit(c, group, seed);
      u.needs = {"prepare"};
      plan.push_back(u);
    }
}

Unit gan_unit(const ExperimentConfig& c, const GanSpec& g) {
  Unit gan = app_unit("gan-" + g.name, "gan", UnitKind::kGan, "train_gan", "run",
                      "run/generator.safetensors", true);
  gan.resumable = true;
  gan.needs = {"prepare"};
  const GanSettings& s = c.gan;
  gan.args = {"--variant", g.variant};
  add(gan, "gan.loss", "--loss", s.loss);
  add(gan, "gan.epochs", "--epochs", std::to_string(s.epochs));
  add(gan, "gan.batch", "--batch", std::to_string(s.batch));
  add(gan, "gan.seed", "--seed", std::to_string(s.seed));
  add(gan, "subset_seed", "--subset-seed", std::to_string(c.subset_seed));
  if (s.fraction < 1) add(gan, "gan.fraction", "--fraction", number(s.fraction));
  // An empty list keeps the app's default networks; 0 keeps its base channels.
  if (!s.g_widths.empty()) add(gan, "gan.g_widths", "--g-widths", join(s.g_widths));
  if (s.g_base_channels != 0)
    add(gan, "gan.g_base_channels", "--g-base-channels", std::to_string(s.g_base_channels));
  if (!s.d_widths.empty()) add(gan, "gan.d_widths", "--d-widths", join(s.d_widths));
  if (s.ema != 0) add(gan, "gan.ema", "--ema", number(s.ema));
  if (!c.data.empty()) add(gan, "data", "--data", c.data);
  if (c.exact_fp32) add(gan, "exact_fp32", "--exact-fp32");
  if (!c.precision.empty()) add(gan, "precision", "--precision", c.precision);
  if (!c.cuda_graphs) add(gan, "cuda_graphs", "--cuda-graphs", "off");
  add_extra(gan, "gan.extra_args", s.extra_args);
  const double images = (g.variant == "full" ? kTrainImages : kUnbalancedTrain) * s.fraction;
  gan.cost = static_cast<double>(s.epochs) * images / 25.0 + 5.0;
  return gan;
}

// Generates with `gan`'s generator and keeps what the `filter` classifier accepts, as many
// images per class as the largest augmented set needs.
Unit generate_unit(const ExperimentConfig& c, const GanSpec& g, const Unit& gan,
                   const std::string& filter) {
  int64_t keep = 0;
  for (int64_t n : c.augmented_sizes) keep = std::max(keep, n);
  Unit gen = app_unit("generate-" + g.name, "generation", UnitKind::kGenerate, "generate",
                      "kept", "kept/summary.json", true);
  gen.needs = {gan.id, filter};
  gen.args = {"--generator", "{out}/" + gan.done_file,
              "--classifier", "{out}/units/" + filter + "/run/best.safetensors"};
  add(gen, "generation.classes", "--classes", join(c.generation.classes));
  add(gen, "augmented.sizes", "--keep", std::to_string(keep));
  add(gen, "generation.batch", "--batch", std::to_string(c.generation.batch));
  add(gen, "generation.max_batches", "--max-batches", std::to_string(c.generation.max_batches));
  add(gen, "generation.seed", "--seed", std::to_string(c.generation.seed));
  if (c.generation.allow_short) add(gen, "generation.allow_short", "--allow-short");
  gen.cost = static_cast<double>(keep * c.generation.classes.size()) / 50.0 + 5.0;
  return gen;
}

Unit augment_unit(const ExperimentConfig& c, const GanSpec& g, const Unit& gen) {
  Unit aug = app_unit("augment-" + g.name, "generation", UnitKind::kAugment, "build_augmented",
                      "sets", "sets/augmented" + std::to_string(c.augmented_sizes.back()) +
                                  "/manifest.csv", false);
  aug.needs = {gen.id};
  aug.args = {"--generated", "{out}/units/" + gen.id + "/kept"};
  add(aug, "augmented.sizes", "--sizes", join(c.augmented_sizes));
  add(aug, "augmented.per", "--per", c.augmented_per);
  add(aug, "generation.classes", "--classes", join(c.generation.classes));
  if (c.generation.allow_short) add(aug, "generation.allow_short", "--allow-short");
  aug.cost = 2;
  return aug;
}

// The classifiers on the augmented sets that `aug` built: every size for every seed.
void add_augmented_classifiers(const ExperimentConfig& c, const GanSpec& g, const Unit& aug,
                               std::vector<Unit>& plan) {
  for (int64_t seed : c.seeds)
    for (int64_t n : c.augmented_sizes) {
      const std::string group = "augmented" + std::to_string(n) + g.group_suffix;
      Unit u = classifier_unit(c, group, seed);
      u.args.insert(u.args.begin(), {"--variant", "generated", "--generated",
                                     "{out}/units/" + aug.id + "/sets/augmented" +
                                         std::to_string(n)});
      u.needs = {aug.id};
      plan.push_back(u);
    }
}

Unit quality_unit(const ExperimentConfig& c, const GanSpec& g, const Unit& gan,
                  const std::string& features, const std::string& filter) {
  Unit q = app_unit("quality-" + g.name, "evaluation", UnitKind::kQuality, "gan_quality",
                    "gan_quality.json", "gan_quality.json", true);
  q.needs = {gan.id, features, filter};
  q.args = {"--generator", "{out}/" + gan.done_file,
            "--features-classifier", "{out}/units/" + features + "/run/best.safetensors",
            "--acceptance-classifier", "{out}/units/" + filter + "/run/best.safetensors",
            "--classes", "all", "--baseline"};
  add(q, "quality.count", "--count", std::to_string(c.quality.count));
  add(q, "generation.seed", "--seed", std::to_string(c.generation.seed));
  if (c.fraction < 1) add(q, "fraction", "--fraction", number(c.fraction));
  if (!c.data.empty()) add(q, "data", "--data", c.data);
  q.cost = static_cast<double>(c.quality.count) * 10 / 100.0 + 10.0;
  return q;
}

}  // namespace

const char* unit_kind_name(UnitKind kind) {
  switch (kind) {
    case UnitKind::kPrepare: return "prepare";
    case UnitKind::kClassifier: return "classifier";
    case UnitKind::kGan: return "gan";
    case UnitKind::kGenerate: return "generate";
    case UnitKind::kAugment: return "augment";
    case UnitKind::kQuality: return "quality";
    case UnitKind::kReport: return "report";
  }
  return "?";
}

const std::vector<std::string>& stage_names() {
  static const std::vector<std::string> names = {"prepare",   "classifiers", "gan",   "generation",
                                                 "augmented", "evaluation",  "report"};
  return names;
}

std::vector<std::string> classifier_groups(const ExperimentConfig& c) {
  std::vector<std::string> groups = {"original", "unbalanced"};
  if (c.group_weighted) groups.push_back("weighted");
  if (c.group_oversampled) groups.push_back("oversampled");
  for (const GanSpec& g : gans(c))
    for (int64_t n : c.augmented_sizes) groups.push_back("augmented" + std::to_string(n) + g.group_suffix);
  return groups;
}

std::vector<Unit> build_plan(const ExperimentConfig& c) {
  std::vector<Unit> plan;
  plan.push_back(in_process_unit("prepare", UnitKind::kPrepare, "units/prepare/data_summary.json", 10));
  add_base_classifiers(c, plan);

  // The first seed's classifiers filter the generated images and give the quality features.
  const std::string filter = classifier_id("unbalanced", c.seeds.front());
  const std::string features = classifier_id("original", c.seeds.front());
  for (const GanSpec& g : gans(c)) {
    const Unit gan = gan_unit(c, g);
    plan.push_back(gan);
    const Unit gen = generate_unit(c, g, gan, filter);
    plan.push_back(gen);
    const Unit aug = augment_unit(c, g, gen);
    plan.push_back(aug);
    add_augmented_classifiers(c, g, aug, plan);
    if (c.quality.enabled) plan.push_back(quality_unit(c, g, gan, features, filter));
  }

  // No needs: the report is built from whatever is finished, also after a failure.
  plan.push_back(in_process_unit("report", UnitKind::kReport, "report/report.html", 15));
  return plan;
}

std::string with_out(const std::string& text, const std::filesystem::path& out) {
  const std::string key = "{out}";
  std::string s = text;
  for (size_t at = s.find(key); at != std::string::npos; at = s.find(key, at))
    s.replace(at, key.size(), out.string());
  return s;
}

std::vector<std::string> unit_command(const Unit& u, const std::filesystem::path& out,
                                      const std::string& device, bool resume) {
  std::vector<std::string> args;
  for (const std::string& a : u.args) args.push_back(with_out(a, out));
  if (u.uses_device) args.insert(args.end(), {"--device", device});
  if (!u.out_flag.empty()) args.insert(args.end(), {u.out_flag, with_out(u.output, out)});
  if (resume) args.push_back("--resume");
  return args;
}

}  // namespace ember::experiment

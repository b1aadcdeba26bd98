// The units of the experiment and their dependencies (experiment/plan.h).
// Paths in arguments start with "{out}/", which the runner replaces by the output folder.
// Tested in tests/test_experiment_plan.cpp.
#include "experiment/plan.h"

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
  u.args.insert(u.args.end(),
                {"--seed", std::to_string(seed), "--subset-seed", std::to_string(c.subset_seed),
                 "--epochs", std::to_string(s.epochs), "--batch", std::to_string(s.batch),
                 "--optimizer", s.optimizer, "--lr", number(s.lr), "--schedule", s.schedule});
  if (s.augment) u.args.push_back("--augment");
  if (s.patience > 0) u.args.insert(u.args.end(), {"--patience", std::to_string(s.patience)});
  if (!s.weights.empty()) u.args.insert(u.args.end(), {"--weights", s.weights});
  if (s.freeze != "0") u.args.insert(u.args.end(), {"--freeze", s.freeze});
  if (s.bn_momentum != 0.99) u.args.insert(u.args.end(), {"--bn-momentum", number(s.bn_momentum)});
  if (c.fraction < 1) u.args.insert(u.args.end(), {"--fraction", number(c.fraction)});
  if (!c.data.empty()) u.args.insert(u.args.end(), {"--data", c.data});
  u.args.insert(u.args.end(), s.extra_args.begin(), s.extra_args.end());
  const double train = (group == "original" ? kTrainImages : kUnbalancedTrain) * c.fraction;
  u.cost = static_cast<double>(s.epochs) * (train / 100.0 + kValTestImages * c.fraction / 3 / 400.0) +
           kValTestImages * c.fraction / 2 / 400.0 + 5.0;
  return u;
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

  std::vector<std::string> base = {"original", "unbalanced"};
  if (c.group_weighted) base.push_back("weighted");
  if (c.group_oversampled) base.push_back("oversampled");
  for (int64_t seed : c.seeds)
    for (const std::string& group : base) {
      Unit u = classifier_unit(c, group, seed);
      u.needs = {"prepare"};
      plan.push_back(u);
    }

  const std::string filter = classifier_id("unbalanced", c.seeds.front());
  const std::string features = classifier_id("original", c.seeds.front());
  for (const GanSpec& g : gans(c)) {
    Unit gan = app_unit("gan-" + g.name, "gan", UnitKind::kGan, "train_gan", "run",
                        "run/generator.safetensors", true);
    gan.resumable = true;
    gan.needs = {"prepare"};
    const GanSettings& s = c.gan;
    gan.args = {"--variant", g.variant, "--loss", s.loss, "--epochs", std::to_string(s.epochs),
                "--batch", std::to_string(s.batch), "--seed", std::to_string(s.seed),
                "--subset-seed", std::to_string(c.subset_seed)};
    if (s.fraction < 1) gan.args.insert(gan.args.end(), {"--fraction", number(s.fraction)});
    if (!s.g_widths.empty()) gan.args.insert(gan.args.end(), {"--g-widths", join(s.g_widths)});
    if (s.g_base_channels > 0)
      gan.args.insert(gan.args.end(), {"--g-base-channels", std::to_string(s.g_base_channels)});
    if (!s.d_widths.empty()) gan.args.insert(gan.args.end(), {"--d-widths", join(s.d_widths)});
    if (s.ema > 0) gan.args.insert(gan.args.end(), {"--ema", number(s.ema)});
    if (!c.data.empty()) gan.args.insert(gan.args.end(), {"--data", c.data});
    gan.args.insert(gan.args.end(), s.extra_args.begin(), s.extra_args.end());
    const double images = (g.variant == "full" ? kTrainImages : kUnbalancedTrain) * s.fraction;
    gan.cost = static_cast<double>(s.epochs) * images / 25.0 + 5.0;
    plan.push_back(gan);

    int64_t keep = 0;
    for (int64_t n : c.augmented_sizes) keep = std::max(keep, n);
    Unit gen = app_unit("generate-" + g.name, "generation", UnitKind::kGenerate, "generate",
                        "kept", "kept/summary.json", true);
    gen.needs = {gan.id, filter};
    gen.args = {"--generator", "{out}/" + gan.done_file,
                "--classifier", "{out}/units/" + filter + "/run/best.safetensors",
                "--classes", join(c.generation.classes), "--keep", std::to_string(keep),
                "--batch", std::to_string(c.generation.batch),
                "--max-batches", std::to_string(c.generation.max_batches),
                "--seed", std::to_string(c.generation.seed)};
    if (c.generation.allow_short) gen.args.push_back("--allow-short");
    gen.cost = static_cast<double>(keep * c.generation.classes.size()) / 50.0 + 5.0;
    plan.push_back(gen);

    Unit aug = app_unit("augment-" + g.name, "generation", UnitKind::kAugment, "build_augmented",
                        "sets", "sets/augmented" + std::to_string(c.augmented_sizes.back()) +
                                    "/manifest.csv", false);
    aug.needs = {gen.id};
    aug.args = {"--generated", "{out}/units/" + gen.id + "/kept", "--sizes",
                join(c.augmented_sizes), "--per", c.augmented_per,
                "--classes", join(c.generation.classes)};
    if (c.generation.allow_short) aug.args.push_back("--allow-short");
    aug.cost = 2;
    plan.push_back(aug);

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

    if (c.quality.enabled) {
      Unit q = app_unit("quality-" + g.name, "evaluation", UnitKind::kQuality, "gan_quality",
                        "gan_quality.json", "gan_quality.json", true);
      q.needs = {gan.id, features, filter};
      q.args = {"--generator", "{out}/" + gan.done_file,
                "--features-classifier", "{out}/units/" + features + "/run/best.safetensors",
                "--acceptance-classifier", "{out}/units/" + filter + "/run/best.safetensors",
                "--classes", "all", "--count", std::to_string(c.quality.count),
                "--seed", std::to_string(c.generation.seed), "--baseline"};
      if (c.fraction < 1) q.args.insert(q.args.end(), {"--fraction", number(c.fraction)});
      if (!c.data.empty()) q.args.insert(q.args.end(), {"--data", c.data});
      q.cost = static_cast<double>(c.quality.count) * 10 / 100.0 + 10.0;
      plan.push_back(q);
    }
  }

  // No needs: the report is built from whatever is finished, also after a failure.
  plan.push_back(in_process_unit("report", UnitKind::kReport, "report/report.html", 15));
  return plan;
}

}  // namespace ember::experiment

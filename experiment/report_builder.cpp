// The report unit (experiment/report_builder.h): statistics, figures, tables, the comparison
// with the seed's conclusions, report.html and its browser check.
#include "experiment/report_builder.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include <stb/stb_image.h>

#include "experiment/results.h"
#include "experiment/stats.h"
#include "report/browser_check.h"
#include "report/figures.h"
#include "report/html_report.h"
#include "report/report_data.h"
#include "tensor/atomic_file.h"
#include "tensor/device.h"
#include "tensor/error.h"
#include "training/run_log.h"

namespace ember::experiment {

namespace fs = std::filesystem;
using nlohmann::json;
using training::format;

namespace {

constexpr const char* kBaseline = "unbalanced";
constexpr int kSamplesShown = 6;  // images per row and side in the sample grids

std::string pct(double fraction) {
  return std::isfinite(fraction) ? format("%.1f%%", 100.0 * fraction) : "n/a";
}

std::string pct_interval(const GroupStats& s) {
  if (!std::isfinite(s.ci_low)) return "n/a (1 run)";
  return format("%.1f to %.1f", 100.0 * s.ci_low, 100.0 * s.ci_high);
}

std::string p_value(const WelchTest& t) {
  if (!t.defined) return "n/a";
  return t.p_two_sided < 0.001 ? "<0.001" : format("%.3f", t.p_two_sided);
}

std::optional<json> read_json(const fs::path& file) {
  if (!fs::exists(file)) return std::nullopt;
  json j = json::parse(read_file(file.string()), nullptr, /*allow_exceptions=*/false);
  EMBER_CHECK(!j.is_discarded(), file.string(), " is not valid JSON");
  return j;
}

// A CSV file as rows of cells (the apps write plain CSV without quoting).
std::vector<std::vector<std::string>> read_csv(const fs::path& file) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    std::vector<std::string> cells;
    std::stringstream s(line);
    for (std::string c; std::getline(s, c, ',');) cells.push_back(c);
    rows.push_back(cells);
  }
  return rows;
}

// A PNG of any size as RGB (stb_image; its implementation is compiled in datasets/stb_impl.cpp).
report::RgbImage read_rgb(const fs::path& file) {
  int width = 0, height = 0, channels = 0;
  stbi_uc* pixels = stbi_load(file.c_str(), &width, &height, &channels, 3);
  EMBER_CHECK(pixels != nullptr, "cannot read the image ", file.string(), ": ", stbi_failure_reason());
  report::RgbImage image{width, height, std::vector<uint8_t>(pixels, pixels + static_cast<size_t>(width) * height * 3)};
  stbi_image_free(pixels);
  return image;
}

// Cell (row, col) of a train_gan sample grid (64x64 tiles, 2-pixel gaps, no border).
report::RgbImage grid_tile(const report::RgbImage& grid, int row, int col, int tile, int gap) {
  report::RgbImage t{tile, tile, std::vector<uint8_t>(static_cast<size_t>(tile) * tile * 3)};
  for (int y = 0; y < tile; ++y)
    for (int x = 0; x < tile; ++x)
      for (int c = 0; c < 3; ++c)
        t.pixels[(static_cast<size_t>(y) * tile + x) * 3 + c] =
            grid.pixels[((static_cast<size_t>(row) * (tile + gap) + y) * grid.width +
                         static_cast<size_t>(col) * (tile + gap) + x) * 3 + c];
  return t;
}

std::vector<fs::path> sorted_files(const fs::path& dir, const std::string& extension) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == extension) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// The first `n` PNGs of a folder in name order (none when the folder is missing).
std::vector<report::RgbImage> first_images(const fs::path& dir, int n) {
  std::vector<report::RgbImage> images;
  for (const fs::path& f : sorted_files(dir, ".png")) {
    if (static_cast<int>(images.size()) == n) break;
    images.push_back(read_rgb(f));
  }
  return images;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string memory_total() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  long kb = 0;
  in >> key >> kb;
  return format("%.1f GiB", static_cast<double>(kb) / (1024.0 * 1024.0));
}

struct GroupSummary {
  std::string group;
  GroupStats overall, minority;
  WelchTest vs_baseline, vs_baseline_minority;
  std::vector<double> overall_values, minority_values;
};

class Builder {
 public:
  Builder(const ExperimentConfig& c, const json& cj, const fs::path& out,
          const std::vector<Unit>& plan, const Ledger& ledger)
      : config_(c), config_json_(cj), out_(out), plan_(plan), ledger_(ledger),
        dir_(out / "report"), figures_(dir_ / "figures") {}

  void build();

 private:
  bool done(const std::string& id) const {
    for (const Unit& u : plan_)
      if (u.id == id) return ledger_.is_done(u.id, out_ / u.done_file);
    return false;
  }
  const GroupSummary* group(const std::string& name) const {
    for (const GroupSummary& g : groups_)
      if (g.group == name) return &g;
    return nullptr;
  }
  void add_figure(const std::string& id, const std::string& title, const std::string& caption,
                  const report::FigureFiles& files) {
    data_.figures.push_back({id, title, caption, fs::relative(files.svg, dir_).string(),
                             fs::relative(files.png, dir_).string()});
  }
  std::string stem(const std::string& name) const { return (figures_ / name).string(); }

  void statistics();
  void accuracy_figures();
  void data_figure();
  void curve_figures();
  void gan_sections();
  void gan_loss_figure(const std::string& gan, const fs::path& run, json& info);
  void gan_samples_figure(const std::string& gan, const fs::path& run);
  void kept_figure(const std::string& gan, json& info);
  void confusion_figures();
  void comparisons();
  void compare_unbalancing(const GroupSummary& base, const GroupSummary& original);
  void compare_overall(const GroupSummary& base, const std::vector<const GroupSummary*>& augmented);
  void compare_with_weights(const GroupSummary& weighted,
                            const std::vector<const GroupSummary*>& augmented);
  void compare_minority(const GroupSummary& base, const GroupSummary* weighted,
                        const std::vector<const GroupSummary*>& augmented);
  void compare_gans();
  void tables_and_notes();
  void groups_table();
  void pooled_table();
  void quality_tables();
  void runs_table();
  void notes();
  void shortfall_notes();
  json summary_json() const;

  const ExperimentConfig& config_;
  const json& config_json_;
  fs::path out_;
  const std::vector<Unit>& plan_;
  const Ledger& ledger_;
  fs::path dir_, figures_;
  std::vector<RunResult> runs_;
  std::vector<GroupSummary> groups_;
  std::optional<PooledVariance> pooled_, pooled_minority_;
  json gan_json_ = json::object();
  report::ReportData data_;
  std::vector<std::string> missing_;
};

void Builder::statistics() {
  for (const std::string& name : classifier_groups(config_)) {
    GroupSummary g;
    g.group = name;
    for (const RunResult& r : runs_)
      if (r.group == name) g.overall_values.push_back(r.accuracy), g.minority_values.push_back(r.minority_accuracy);
    if (g.overall_values.empty()) continue;
    g.overall = summarize({name, g.overall_values});
    g.minority = summarize({name, g.minority_values});
    groups_.push_back(g);
  }
  const GroupSummary* base = group(kBaseline);
  for (GroupSummary& g : groups_) {
    if (!base || g.group == kBaseline) continue;
    g.vs_baseline = welch_t_test(g.overall_values, base->overall_values);
    g.vs_baseline_minority = welch_t_test(g.minority_values, base->minority_values);
  }
  std::vector<GroupRuns> overall, minority;
  bool any_pair = false;
  for (const GroupSummary& g : groups_) {
    overall.push_back({g.group, g.overall_values});
    minority.push_back({g.group, g.minority_values});
    any_pair |= g.overall_values.size() >= 2;
  }
  if (any_pair) {
    pooled_ = pooled_variance(overall);
    pooled_minority_ = pooled_variance(minority);
  }
}

void Builder::data_figure() {
  const auto summary = read_json(out_ / "units/prepare/data_summary.json");
  if (!summary) return;
  const auto classes = summary->at("classes").get<std::vector<std::string>>();
  auto counts = [&](const char* key) {
    std::vector<double> v;
    for (int64_t n : summary->at(key).get<std::vector<int64_t>>()) v.push_back(static_cast<double>(n));
    return v;
  };
  report::Series original{"original", {}, counts("train_original")};
  report::Series unbalanced{"unbalanced (Highway, River cut by 85%)", {}, counts("train_unbalanced")};
  add_figure("class-counts", "Training images per class",
             "The standard training split and the unbalanced set the experiment trains on "
             "(subset seed " + std::to_string(config_.subset_seed) + "). Validation and test sets are untouched." +
                 (config_.fraction < 1 ? format(" Classifier runs use a stratified %.0f%% of each split (quick preset).", 100 * config_.fraction) : ""),
             report::grouped_bar_chart(stem("class_counts"), "Training images per class", classes,
                                       {original, unbalanced}, "images"));
}

void Builder::accuracy_figures() {
  if (groups_.empty()) return;
  const GroupSummary* base = group(kBaseline);
  for (const bool minority : {false, true}) {
    std::vector<report::BarGroup> bars;
    for (const GroupSummary& g : groups_) {
      const GroupStats& s = minority ? g.minority : g.overall;
      const bool interval = std::isfinite(s.ci_low);
      // An accuracy lies in [0, 1]: the whiskers stop there (the tables keep the raw t-interval).
      bars.push_back({g.group, s.mean, interval ? std::max(0.0, s.ci_low) : s.mean,
                      interval ? std::min(1.0, s.ci_high) : s.mean,
                      minority ? g.minority_values : g.overall_values});
    }
    report::BarChartOptions options;
    options.percent = true;
    options.from_zero = false;  // differences of a few points must be visible; the axis says where it starts
    if (base) {
      options.reference = (minority ? base->minority : base->overall).mean;
      options.reference_label = "unbalanced mean";
    }
    const std::string what = minority ? "minority classes (Highway, River)" : "all classes";
    add_figure(minority ? "accuracy-minority" : "accuracy-overall",
               std::string("Test accuracy per group: ") + what,
               "Bars: the mean over seeds; whiskers: the 95% t-interval of the mean, cut at 0% and "
               "100%; dots: the individual runs. The dashed line is the unbalanced baseline's mean. With few runs "
               "per group the intervals are wide.",
               report::bar_chart_with_errors(stem(minority ? "accuracy_minority" : "accuracy_overall"),
                                             "Test accuracy: " + what, "test accuracy", bars, options));
  }
}

void Builder::curve_figures() {
  if (runs_.empty()) return;
  std::vector<report::Series> val;
  for (const RunResult& r : runs_) {
    report::Series s{r.group, {}, {}};
    for (size_t e = 0; e < r.val_accuracy.size(); ++e) {
      s.x.push_back(static_cast<double>(e + 1));
      s.y.push_back(r.val_accuracy[e]);
    }
    val.push_back(s);
  }
  report::LineChartOptions percent_axis;
  percent_axis.percent = true;
  add_figure("training-curves", "Validation accuracy during training",
             "One line per run, coloured by group: the validation accuracy after each epoch.",
             report::line_chart(stem("training_curves"), "Validation accuracy per epoch", "epoch",
                                "validation accuracy", val, percent_axis));
}

// Losses per epoch, from the GAN's losses.csv; the last epoch's go into `info`.
void Builder::gan_loss_figure(const std::string& gan, const fs::path& run, json& info) {
  const auto rows = read_csv(run / "losses.csv");
  if (rows.size() < 2) return;
  const auto& header = rows.front();
  auto column = [&](const std::string& name) {
    const auto at = std::find(header.begin(), header.end(), name) - header.begin();
    report::Series s{name, {}, {}};
    for (size_t i = 1; i < rows.size(); ++i) {
      if (static_cast<size_t>(at) >= rows[i].size()) continue;
      s.x.push_back(std::stod(rows[i][0]));
      s.y.push_back(std::stod(rows[i][at]));
    }
    return s;
  };
  const auto last = rows.back();
  info["epochs"] = rows.size() - 1;
  info["last_losses"] = json::object();
  for (size_t i = 0; i < header.size() && i < last.size(); ++i)
    info["last_losses"][header[i]] = last[i];
  std::vector<report::Series> series = {column("d_loss"), column("g_loss")};
  if (config_.gan.loss == "wgan-gp") series.push_back(column("wasserstein"));
  add_figure("gan-losses-" + gan, "GAN training (" + gan + " set)",
             "Per epoch: the critic's and the generator's losses and the critic's estimate of "
             "the Wasserstein distance (WGAN-GP) or D's outputs (BCE).",
             report::line_chart(stem("gan_losses_" + gan), "GAN losses per epoch (" + gan + ")",
                                "epoch", "value", series));
}

// Real next to generated: real test images (prepare) and the last epoch's sample grid.
void Builder::gan_samples_figure(const std::string& gan, const fs::path& run) {
  const auto grids = sorted_files(run / "samples", ".png");
  const auto data = read_json(out_ / "units/prepare/data_summary.json");
  if (grids.empty() || !data) return;
  const report::RgbImage grid = read_rgb(grids.back());
  const int tile = 64, gap = 2;
  const int cols = (grid.width + gap) / (tile + gap);
  const auto classes = data->at("classes").get<std::vector<std::string>>();
  std::vector<report::SampleRow> rows;
  for (size_t c = 0; c < classes.size() && static_cast<int>(c) * (tile + gap) < grid.height; ++c) {
    report::SampleRow row{classes[c], {}, {}};
    row.real = first_images(out_ / "units/prepare/real" / classes[c], kSamplesShown);
    for (int k = 0; k < std::min(cols, kSamplesShown); ++k)
      row.generated.push_back(grid_tile(grid, static_cast<int>(c), k, tile, gap));
    rows.push_back(row);
  }
  add_figure("samples-" + gan, "Real and generated images (" + gan + "-set GAN)",
             "Left: real test images; right: the generator's samples from fixed noise after "
             "its last epoch (" + grids.back().filename().string() + "), one row per class.",
             report::sample_grid(stem("samples_" + gan),
                                 "Real (left) and generated (right): " + gan + "-set GAN", rows, 1));
}

// The images generate kept, next to real ones, for the minority classes; their acceptance
// rates go into `info`.
void Builder::kept_figure(const std::string& gan, json& info) {
  const fs::path kept = out_ / "units" / ("generate-" + gan) / "kept";
  const auto summary = read_json(kept / "summary.json");
  if (!summary) return;
  info["acceptance"] = summary->at("acceptance");
  std::vector<report::SampleRow> rows;
  for (const std::string& cls : config_.generation.classes) {
    report::SampleRow row{cls, {}, {}};
    row.real = first_images(out_ / "units/prepare/real" / cls, kSamplesShown);
    row.generated = first_images(kept / cls, kSamplesShown);
    rows.push_back(row);
  }
  add_figure("kept-" + gan,
             "Generated images the unbalanced classifier accepted (" + gan + "-set GAN)",
             "Left: real test images; right: the first images generate kept (predicted as "
             "their intended class by the unbalanced classifier); these are what the "
             "augmented sets add.",
             report::sample_grid(stem("kept_" + gan), "Real (left) and kept generated (right)",
                                 rows, 1));
}

void Builder::gan_sections() {
  for (const std::string gan : {"full", "balanced"}) {
    const std::string id = "gan-" + gan;
    if (!done(id)) continue;
    json info = json::object();
    const fs::path run = out_ / "units" / id / "run";
    gan_loss_figure(gan, run, info);
    gan_samples_figure(gan, run);
    kept_figure(gan, info);
    if (const auto quality = read_json(out_ / "units" / ("quality-" + gan) / "gan_quality.json"))
      info["quality"] = *quality;
    gan_json_[gan] = info;
  }
}

void Builder::confusion_figures() {
  for (const GroupSummary& g : groups_) {
    std::vector<std::vector<long long>> sum;
    std::vector<std::string> classes;
    for (const RunResult& r : runs_) {
      if (r.group != g.group) continue;
      if (sum.empty()) sum.assign(r.matrix.size(), std::vector<long long>(r.matrix.size(), 0)), classes = r.classes;
      for (size_t i = 0; i < r.matrix.size(); ++i)
        for (size_t j = 0; j < r.matrix[i].size(); ++j) sum[i][j] += r.matrix[i][j];
    }
    add_figure("confusion-" + g.group, "Confusion matrix: " + g.group,
               format("Test predictions of the %zu run(s) of group %s, summed; colour: the share "
                      "of each true class (row).", g.overall_values.size(), g.group.c_str()),
               report::confusion_matrix_chart(stem("confusion_" + g.group), "Confusion matrix: " + g.group, classes, sum));
  }
}

// "+1.2 points": a's mean accuracy minus b's, overall or on the minority classes.
std::string points_difference(const GroupSummary& a, const GroupSummary& b, bool minority) {
  const double d = minority ? a.minority.mean - b.minority.mean : a.overall.mean - b.overall.mean;
  return format("%+.1f points", d * 100);
}

void Builder::compare_unbalancing(const GroupSummary& base, const GroupSummary& original) {
  data_.comparisons.push_back(
      {"Cutting Highway and River by 85%",
       "The premise: the unbalanced set hurts the minority classes.",
       format("Minority accuracy %s on the original set vs %s unbalanced (%s); overall %s vs %s.",
              pct(original.minority.mean).c_str(), pct(base.minority.mean).c_str(),
              points_difference(original, base, true).c_str(), pct(original.overall.mean).c_str(),
              pct(base.overall.mean).c_str())});
}

void Builder::compare_overall(const GroupSummary& base,
                              const std::vector<const GroupSummary*>& augmented) {
  std::string ours;
  for (const GroupSummary* g : augmented)
    ours += format("%s%s %s overall (p = %s)", ours.empty() ? "" : "; ", g->group.c_str(),
                   points_difference(*g, base, false).c_str(), p_value(g->vs_baseline).c_str());
  data_.comparisons.push_back({"GAN images, overall accuracy",
                               "Adding generated images improves the overall test accuracy over the unbalanced baseline.",
                               ours + " vs unbalanced (Welch's t-test)."});
}

// Class weights against the best augmented group.
void Builder::compare_with_weights(const GroupSummary& weighted,
                                   const std::vector<const GroupSummary*>& augmented) {
  const GroupSummary* best = *std::max_element(
      augmented.begin(), augmented.end(),
      [](auto* a, auto* b) { return a->overall.mean < b->overall.mean; });
  const WelchTest t = welch_t_test(weighted.overall_values, best->overall_values);
  data_.comparisons.push_back({"Class weights vs GAN images",
                               "The generated images help, but not more than class weights on the unbalanced set.",
                               format("weighted %s vs the best augmented group (%s) %s: %s (p = %s).",
                                      pct(weighted.overall.mean).c_str(), best->group.c_str(),
                                      pct(best->overall.mean).c_str(),
                                      points_difference(weighted, *best, false).c_str(),
                                      p_value(t).c_str())});
}

void Builder::compare_minority(const GroupSummary& base, const GroupSummary* weighted,
                               const std::vector<const GroupSummary*>& augmented) {
  std::string ours;
  for (const GroupSummary* g : augmented)
    ours += format("%s%s %s", ours.empty() ? "" : ", ", g->group.c_str(),
                   pct(g->minority.mean).c_str());
  ours += format(" vs unbalanced %s", pct(base.minority.mean).c_str());
  if (weighted) ours += format(" and weighted %s", pct(weighted->minority.mean).c_str());
  data_.comparisons.push_back({"GAN images, minority classes",
                               "On Highway and River alone, adding synthetic images performs worse; the seed "
                               "suspects the generated images lack variability and the classifier overfits them.",
                               ours + "."});
}

void Builder::compare_gans() {
  std::string ours = "GAN trained on the full set";
  const json& info = gan_json_["full"];
  if (info.contains("acceptance"))
    for (auto it = info["acceptance"].begin(); it != info["acceptance"].end(); ++it)
      ours += format("; %s acceptance by the unbalanced classifier %s", it.key().c_str(),
                     pct(it.value().value("rate", NAN)).c_str());
  if (gan_json_.contains("balanced"))
    ours += "; a second GAN was trained on the unbalanced set with class-balanced sampling "
            "(see its section)";
  data_.comparisons.push_back(
      {"Which GAN",
       "A GAN trained on the unbalanced set failed; the one trained on the full set worked.",
       ours + "."});
}

// The seed's conclusions, each next to what this run's numbers say; a conclusion whose groups
// have no finished runs is left out.
void Builder::comparisons() {
  const GroupSummary* base = group(kBaseline);
  const GroupSummary* original = group("original");
  const GroupSummary* weighted = group("weighted");
  // The full-set GAN's augmented groups.
  std::vector<const GroupSummary*> augmented;
  for (const GroupSummary& g : groups_)
    if (g.group.rfind("augmented", 0) == 0 && g.group.find("balanced") == std::string::npos)
      augmented.push_back(&g);
  if (base && original) compare_unbalancing(*base, *original);
  if (base && !augmented.empty()) compare_overall(*base, augmented);
  if (weighted && !augmented.empty()) compare_with_weights(*weighted, augmented);
  if (base && !augmented.empty()) compare_minority(*base, weighted, augmented);
  if (gan_json_.contains("full")) compare_gans();
}

void Builder::groups_table() {
  report::Table groups{"groups", "Accuracy per group",
                       "Means over seeds with 95% t-intervals (in percent); p: Welch's two-sided t-test against the unbalanced group.",
                       {"group", "runs", "accuracy", "95% interval", "p vs unbalanced", "minority accuracy",
                        "95% interval", "p vs unbalanced (minority)"},
                       {}};
  for (const GroupSummary& g : groups_)
    groups.rows.push_back({g.group, std::to_string(g.overall.n), pct(g.overall.mean), pct_interval(g.overall),
                           g.group == kBaseline ? "baseline" : p_value(g.vs_baseline), pct(g.minority.mean),
                           pct_interval(g.minority), g.group == kBaseline ? "baseline" : p_value(g.vs_baseline_minority)});
  if (!groups.rows.empty()) data_.tables.push_back(groups);
}

void Builder::pooled_table() {
  if (!pooled_) return;
  data_.tables.push_back(
      {"pooled", "Pooled variance (the seed's estimate)",
       "Each group's runs centred on the group mean and pooled: sigma^2 = sum of squared deviations / "
       "sum over groups of (runs - 1); with 3 runs per group this is the seed's 1/(2|G|) sum. "
       "Standard deviations in accuracy points.",
       {"accuracy", "pooled variance", "pooled sd", "groups", "runs", "degrees of freedom"},
       {{"overall", format("%.3g", pooled_->variance), format("%.2f points", 100 * pooled_->sd),
         std::to_string(pooled_->groups_used), std::to_string(pooled_->runs), std::to_string(pooled_->degrees_of_freedom)},
        {"minority", format("%.3g", pooled_minority_->variance), format("%.2f points", 100 * pooled_minority_->sd),
         std::to_string(pooled_minority_->groups_used), std::to_string(pooled_minority_->runs),
         std::to_string(pooled_minority_->degrees_of_freedom)}}});
}

// One table per GAN whose quality was measured.
void Builder::quality_tables() {
  for (auto it = gan_json_.begin(); it != gan_json_.end(); ++it) {
    const json& info = it.value();
    if (!info.contains("quality")) continue;
    report::Table q{"quality-" + it.key(), "GAN quality (" + it.key() + "-set GAN)",
                    "Acceptance: the share of generated images the unbalanced classifier assigns to the intended class. "
                    "Fréchet distance between generated and real test images on the 1408-d pooled features of the "
                    "EfficientNetB2 trained on the original set (NOT the Inception-based FID); real val vs real test "
                    "as a floor. Diversity: mean pairwise feature distance.",
                    {"class", "acceptance", "Fréchet (gen vs test)", "Fréchet (val vs test)", "diversity gen", "diversity real"},
                    {}};
    for (auto c = info["quality"]["classes"].begin(); c != info["quality"]["classes"].end(); ++c) {
      const json& v = c.value();
      q.rows.push_back({c.key(), pct(v.value("acceptance_rate", NAN)), format("%.3g", v.value("frechet", NAN)),
                        format("%.3g", v.value("frechet_real_val_vs_test", NAN)),
                        format("%.3g", v.value("diversity_generated", NAN)), format("%.3g", v.value("diversity_real", NAN))});
    }
    data_.tables.push_back(q);
  }
}

void Builder::runs_table() {
  report::Table runs{"runs", "Every run", "One row per classifier run (also in results.csv).",
                     {"group", "seed", "accuracy", "minority", "epochs", "time", "device"}, {}};
  for (const RunResult& r : runs_)
    runs.rows.push_back({r.group, std::to_string(r.seed), pct(r.accuracy), pct(r.minority_accuracy),
                         std::to_string(r.epochs), format("%.0f s", r.seconds), r.device});
  if (!runs.rows.empty()) data_.tables.push_back(runs);
}

// What the reader should know before trusting the numbers.
void Builder::notes() {
  data_.notes.push_back("Few runs say little: with " + std::to_string(config_.seeds.size()) +
                        " seeds per group a t-interval is wide and a Welch test has low power; "
                        "p-values are not corrected for the several comparisons.");
  if (config_.preset == "quick")
    data_.notes.push_back(format("Quick preset: a %.0f%% subset of the data, %lld classifier epochs from scratch, a "
                                 "small GAN for %lld epochs. It exercises every stage; its numbers are not the "
                                 "experiment's result (use --preset full on a GPU).",
                                 100 * config_.fraction, static_cast<long long>(config_.classifier.epochs),
                                 static_cast<long long>(config_.gan.epochs)));
  if (config_.classifier.weights.empty())
    data_.notes.push_back("The classifiers are trained from scratch (no pretrained ImageNet weights were given: "
                          "classifier.weights); the seed fine-tuned a pretrained EfficientNetB2.");
  shortfall_notes();
  if (!missing_.empty()) {
    std::string list;
    for (const std::string& m : missing_) list += (list.empty() ? "" : ", ") + m;
    data_.notes.push_back("This report is partial: these units are not done yet: " + list + ".");
  }
}

// A short generation (allow_short) leaves the augmented sets smaller than their names.
void Builder::shortfall_notes() {
  for (auto it = gan_json_.begin(); it != gan_json_.end(); ++it) {
    if (!it.value().contains("acceptance")) continue;
    std::string shortfall;
    for (auto c = it.value()["acceptance"].begin(); c != it.value()["acceptance"].end(); ++c)
      if (c.value().value("short", false))
        shortfall += format("%s%s kept %lld", shortfall.empty() ? "" : ", ", c.key().c_str(),
                            static_cast<long long>(c.value().value("kept", 0)));
    if (!shortfall.empty())
      data_.notes.push_back("The " + it.key() + "-set GAN's generation fell short (" + shortfall +
                            " images): each augmented<N> set holds at most that many generated images "
                            "per class, and one with none is the unbalanced set itself (identical runs).");
  }
}

void Builder::tables_and_notes() {
  groups_table();
  pooled_table();
  quality_tables();
  runs_table();
  notes();
}

json Builder::summary_json() const {
  json groups = json::array();
  auto stats = [](const GroupStats& s) {
    return json{{"n", s.n}, {"mean", s.mean}, {"sd", std::isfinite(s.sd) ? json(s.sd) : json()},
                {"ci95", std::isfinite(s.ci_low) ? json{s.ci_low, s.ci_high} : json()}};
  };
  auto welch = [](const WelchTest& t) {
    return t.defined ? json{{"difference", t.mean_difference}, {"t", t.t}, {"dof", t.degrees_of_freedom}, {"p", t.p_two_sided}}
                     : json{{"undefined", t.reason_undefined}};
  };
  for (const GroupSummary& g : groups_) {
    json j = {{"group", g.group}, {"overall", stats(g.overall)}, {"minority", stats(g.minority)},
              {"runs_overall", g.overall_values}, {"runs_minority", g.minority_values}};
    if (g.group != kBaseline && group(kBaseline)) {
      j["welch_vs_unbalanced"] = welch(g.vs_baseline);
      j["welch_vs_unbalanced_minority"] = welch(g.vs_baseline_minority);
    }
    groups.push_back(j);
  }
  json pooled = json();
  if (pooled_)
    pooled = {{"overall", {{"variance", pooled_->variance}, {"sd", pooled_->sd}, {"dof", pooled_->degrees_of_freedom}}},
              {"minority", {{"variance", pooled_minority_->variance}, {"sd", pooled_minority_->sd},
                            {"dof", pooled_minority_->degrees_of_freedom}}}};
  json comparisons = json::array();
  for (const report::Comparison& c : data_.comparisons)
    comparisons.push_back({{"topic", c.topic}, {"seed", c.seed}, {"ours", c.ours}});
  return {{"format", "ember.experiment.summary.v1"}, {"preset", config_.preset},
          {"groups", groups}, {"pooled_variance", pooled}, {"gan", gan_json_},
          {"comparisons", comparisons}, {"missing_units", missing_}};
}

void Builder::build() {
  fs::create_directories(figures_);
  for (const Unit& u : plan_)
    if (u.kind != UnitKind::kReport && !ledger_.is_done(u.id, out_ / u.done_file)) missing_.push_back(u.id);
  runs_ = collect_results(plan_, out_, ledger_);
  write_file_atomically((dir_ / "results.csv").string(), results_csv(runs_));
  statistics();

  data_.title = "A conditional GAN for data augmentation: EuroSAT, reproduced with ember";
  data_.subtitle = format("preset %s, %zu seeds per group, generated %s", config_.preset.c_str(),
                          config_.seeds.size(), utc_now().c_str());
  data_figure();
  accuracy_figures();
  curve_figures();
  gan_sections();
  confusion_figures();
  comparisons();
  tables_and_notes();
  for (const GroupSummary& g : groups_)
    data_.summary.push_back(format("%s: %s overall (%zu runs), %s on Highway and River.", g.group.c_str(),
                                   pct(g.overall.mean).c_str(), g.overall.n, pct(g.minority.mean).c_str()));

  utsname host{};
  uname(&host);
  data_.hardware = {{"CPU", cpu_model() + format(" (%ld cores online)", sysconf(_SC_NPROCESSORS_ONLN))},
                    {"memory", memory_total()},
                    {"GPUs visible", std::to_string(cuda_device_count())},
                    {"CUDA backend", built_with_cuda() ? "built" : "not built"},
                    {"system", std::string(host.sysname) + " " + host.release},
                    {"devices used", ""}};
  std::map<std::string, int> devices;
  for (const auto& [id, e] : ledger_.entries()) devices[e.device] += 1;
  for (const auto& [d, n] : devices) data_.hardware.back().second += (data_.hardware.back().second.empty() ? "" : ", ") + format("%s (%d units)", d.c_str(), n);
  data_.config_json = config_json_.dump(2);

  const fs::path html = dir_ / "report.html";
  report::write_report_html(data_, html.string());
  const std::string markdown = report::render_markdown_summary(data_);
  write_file_atomically((dir_ / "summary.md").string(), markdown);

  json summary = summary_json();
  if (config_.browser_check) {
    const report::BrowserCheck check =
        report::check_report_in_browser(html.string(), (dir_ / "screenshot.png").string());
    summary["browser_check"] = {{"ran", check.ran}, {"ok", check.ok}, {"browser", check.browser},
                                {"reason", check.reason}, {"figures_total", check.figures_total},
                                {"figures_ok", check.figures_ok}, {"console_errors", check.console_errors}};
    if (check.ran)
      std::printf("report check in %s: %s (%d of %d figures loaded%s)\n", check.browser.c_str(),
                  check.ok ? "ok" : "FAILED", check.figures_ok, check.figures_total,
                  check.console_errors.empty() ? "" : ", console errors");
    else
      std::printf("report check skipped: %s\n", check.reason.c_str());
    EMBER_CHECK(!check.ran || check.ok, "report.html did not load cleanly in ", check.browser, ": ",
                check.reason);
  }
  write_file_atomically((dir_ / "summary.json").string(), summary.dump(2) + "\n");
  std::printf("\n%s\nreport: %s\n", markdown.c_str(), html.c_str());
  std::fflush(stdout);
}

}  // namespace

void build_report(const ExperimentConfig& config, const json& config_json, const fs::path& out,
                  const std::vector<Unit>& plan, const Ledger& ledger) {
  Builder(config, config_json, out, plan, ledger).build();
}

}  // namespace ember::experiment

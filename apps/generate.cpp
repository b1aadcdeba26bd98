// generate: samples a trained conditional generator for the chosen classes, shows every image
// to a classifier, and keeps only those it predicts as the intended class, until --keep images
// are kept per class (docs/gan.md; the seed filtered with its
// unbalanced classifier).
//
//   ./build/apps/generate --generator runs/gan-full/generator.safetensors
//       --classifier runs/unbalanced-1/best.safetensors --keep 500 --out gen/kept
//
// What the classifier sees is exactly what is written: the generator's [-1, 1] output rounded
// to uint8 (gan/quality.h, to_uint8_images), fed as 0..255 (EfficientNet's convention).
// Output (--out), in the class-folder layout that train_classifier --variant generated reads:
//   <Class>/gen_<Class>_<kept index, 6 digits>.png   names sort in the order they were kept, so
//                                                    "the first N" = the first N file names
//   manifest.csv   file,class,label,confidence,candidate,noise_seed,noise_offset: each image's
//                  classifier confidence and the noise that made it (z = the Philox stream
//                  noise_seed at counters [noise_offset, noise_offset + latent_dim), i.e.
//                  class_noise(noise_seed, label, candidate, 1, latent_dim)), so it can be
//                  regenerated
//   summary.json   acceptance rate per class, settings, files
//   generate.log   every line printed
// Restart-safe: the images go to <out>.partial, renamed to <out> only when every class is
// complete. An existing <out> is never touched (exit 1); a <out>.partial left by a failed or
// killed run is removed and generation restarts (it is deterministic, so the result is the
// same). One process at a time per --out (a lock on <out>.lock, training/output_lock.h).
// Every image is written whole or not at all, and a failed write (a full disk) stops the run
// with an error naming the file.
// A class whose acceptance is too low to reach --keep in --max-batches batches stops the run
// with a message saying so (exit 1) and leaves <out>.partial for inspection; with --allow-short
// the class keeps what it reached, the summary records the shortfall, and the run goes on (for
// quick runs, where an undertrained generator or classifier may accept almost nothing).
// Exit status: 0 done, 1 an error or a stopped run, 2 a bad flag (the flags and their rules:
// apps/flags/generate_flags.h). Tested by tests/apps/generate_smoke.sh (CTest GenerateApps).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/eurosat.h"
#include "datasets/image_io.h"
#include "gan/networks_io.h"
#include "tensor/atomic_file.h"
#include "apps/flags/cli.h"
#include "training/evaluate.h"
#include "gan/quality.h"
#include "training/output_lock.h"
#include "training/partial_folder.h"
#include "apps/flags/generate_flags.h"
#include "training/run_log.h"

using namespace ember;
using namespace ember::training;
namespace fs = std::filesystem;

namespace {

const char* kMarker = "GENERATING";  // in <out>.partial while it is being written

int64_t class_index(const std::string& name) {
  const std::vector<std::string>& names = datasets::eurosat_class_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<int64_t>(i);
  EMBER_FAIL("unknown class ", name);
}

// Writes manifest.csv and summary.json into `dir` (atomically).
void write_records(const fs::path& dir, const std::string& manifest, const nlohmann::json& summary) {
  write_file_atomically((dir / "manifest.csv").string(), manifest);
  write_file_atomically((dir / "summary.json").string(), summary.dump(2) + "\n");
}

// The generator (checked to make EuroSAT's images) and the filtering classifier, on the device.
struct Networks {
  models::LoadedGenerator loaded;
  LoadedClassifier classifier;
  models::ConditionalGenerator& generator() { return *loaded.generator; }
  const models::GeneratorConfig& config() const { return loaded.generator->config(); }
};

Networks load_networks(const GenerateFlags& f) {
  Networks n;
  n.loaded = models::load_generator_file(f.generator);
  const models::GeneratorConfig& config = n.config();
  EMBER_CHECK(config.num_classes == static_cast<int64_t>(datasets::eurosat_class_names().size()) &&
                  config.image_size == datasets::kEuroSatSize &&
                  config.out_channels == datasets::kEuroSatChannels,
              "generator ", f.generator, " makes ", config.image_size, "x", config.image_size, "x",
              config.out_channels, " images of ", config.num_classes,
              " classes; EuroSAT needs 64x64x3 of 10");
  n.classifier = load_classifier_file(f.classifier, config.num_classes);
  n.generator().to(f.device);
  n.classifier.model->to(f.device);
  return n;
}

// What the run writes as it goes: the images under `partial`, the manifest rows, and the
// summary (settings, then each class's acceptance).
struct Generation {
  const GenerateFlags& f;
  Networks& nets;
  fs::path partial;
  std::string manifest = "file,class,label,confidence,candidate,noise_seed,noise_offset\n";
  nlohmann::json per_class = nlohmann::json::object();
};

nlohmann::json summary_json(const GenerateFlags& f, const models::GeneratorConfig& config) {
  return {{"format", "ember.generate.v1"},
          {"generator", f.generator},
          {"classifier", f.classifier},
          {"keep", f.keep},
          {"batch", f.batch},
          {"seed", f.seed},
          {"max_batches", f.max_batches},
          {"allow_short", f.allow_short},
          {"latent_dim", config.latent_dim},
          {"noise", "z of candidate i of class c: Philox stream noise_seed at "
                    "counters [(c * 2^40 + i) * latent_dim, + latent_dim)"},
          {"complete", false}};
}

// Counts for one class: candidates classified, accepted (also beyond --keep), kept, batches.
struct ClassCounts {
  int64_t kept = 0, candidates = 0, batches = 0, accepted = 0;
};

// Writes the accepted images of one batch of candidates as PNGs (until --keep), each with its
// manifest row, and counts the batch.
void keep_accepted(Generation& g, const std::string& name, int64_t label,
                   const datasets::ImageSet& set, const EvalResult& eval, ClassCounts& c) {
  const models::GeneratorConfig& config = g.nets.config();
  const uint8_t* pixels = set.images.data<uint8_t>();
  const size_t image_bytes = static_cast<size_t>(set.images.numel() / set.size());
  for (int64_t i = 0; i < set.size() && c.kept < g.f.keep; ++i) {
    if (eval.predictions[i] != label) continue;
    const std::string file = format("%s/gen_%s_%06lld.png", name.c_str(), name.c_str(),
                                    static_cast<long long>(c.kept));
    const uint8_t* p = pixels + i * image_bytes;
    datasets::write_png(g.partial / file, std::vector<uint8_t>(p, p + image_bytes),
                        static_cast<int>(config.image_size), static_cast<int>(config.image_size),
                        static_cast<int>(config.out_channels));
    const int64_t candidate = c.candidates + i;
    g.manifest += format("%s,%s,%lld,%.6f,%lld,%llu,%llu\n", file.c_str(), name.c_str(),
                         static_cast<long long>(label), eval.confidence[i],
                         static_cast<long long>(candidate),
                         static_cast<unsigned long long>(g.f.seed),
                         static_cast<unsigned long long>(
                             noise_offset(label, candidate, config.latent_dim)));
    ++c.kept;
  }
  // The rate counts every candidate classified, also accepted ones beyond --keep.
  for (int64_t i = 0; i < set.size(); ++i) c.accepted += eval.predictions[i] == label;
  c.candidates += set.size();
  ++c.batches;
}

// Generates and filters one class until --keep are kept or --max-batches are spent; records
// its acceptance. Returns the reason the run stops ("" to go on).
std::string generate_class(Generation& g, const std::string& name, RunLog& log) {
  const GenerateFlags& f = g.f;
  const int64_t label = class_index(name);
  fs::create_directories(g.partial / name);
  ClassCounts c;
  while (c.kept < f.keep && c.batches < f.max_batches) {
    const datasets::ImageSet set = generate_class_images(
        g.nets.generator(), f.seed, label, c.candidates, f.batch, datasets::eurosat_class_names(),
        f.device);
    const EvalResult eval = evaluate_classifier(*g.nets.classifier.model, set,
                                                {.batch_size = f.batch, .device = f.device});
    keep_accepted(g, name, label, set, eval, c);
    log.progress(format("%s: batch %lld, kept %lld of %lld", name.c_str(),
                        static_cast<long long>(c.batches), static_cast<long long>(c.kept),
                        static_cast<long long>(f.keep)));
  }
  const double rate = static_cast<double>(c.accepted) / static_cast<double>(c.candidates);
  g.per_class[name] = {{"generated", c.candidates}, {"accepted", c.accepted}, {"rate", rate},
                       {"kept", c.kept}, {"batches", c.batches}};
  log.line(format("%s: acceptance rate %.4f (%lld of %lld candidates predicted %s), kept %lld",
                  name.c_str(), rate, static_cast<long long>(c.accepted),
                  static_cast<long long>(c.candidates), name.c_str(),
                  static_cast<long long>(c.kept)));
  if (c.kept >= f.keep) return "";
  if (f.allow_short) {
    g.per_class[name]["short"] = true;
    log.line(format("%s: kept only %lld of %lld (--allow-short: going on)", name.c_str(),
                    static_cast<long long>(c.kept), static_cast<long long>(f.keep)));
    return "";
  }
  return format("stopped: class %s kept only %lld of %lld images after %lld batches "
                "(--max-batches %lld; %lld candidates, acceptance rate %.4f): raise "
                "--max-batches, lower --keep, or train the generator longer",
                name.c_str(), static_cast<long long>(c.kept), static_cast<long long>(f.keep),
                static_cast<long long>(c.batches), static_cast<long long>(f.max_batches),
                static_cast<long long>(c.candidates), rate);
}

// Claims --out (never overwritten; one process at a time), loads the networks (a file that
// does not load leaves nothing behind), then generates every class into <out>.partial and
// renames it to --out when all are complete.
int run(const GenerateFlags& f) {
  const fs::path out = f.out;
  const fs::path partial = f.out + ".partial";
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  const OutputLock lock(lock_file_for(out), "the output folder " + out.string());
  EMBER_CHECK(!fs::exists(out), "the output folder ", out.string(),
              " already exists and is never overwritten: choose another --out or remove it");
  Networks nets = load_networks(f);
  std::string restart_note = start_partial_folder(
      partial, kMarker, "generate",
      "generate is writing this folder; it becomes " + out.string() + " when complete\n");
  if (!restart_note.empty()) restart_note += "; generation is deterministic and starts again";
  RunLog log(partial / "generate.log");
  if (!restart_note.empty()) log.line(restart_note);
  log.line(format("== generate: keep %lld per class, batch %lld, seed %llu, device %s -> %s",
                  static_cast<long long>(f.keep), static_cast<long long>(f.batch),
                  static_cast<unsigned long long>(f.seed), f.device.str().c_str(), out.c_str()));
  log.line(format("generator %s (%lld parameters, latent %lld), classifier %s", f.generator.c_str(),
                  static_cast<long long>(nets.generator().num_trainable_parameters()),
                  static_cast<long long>(nets.config().latent_dim), f.classifier.c_str()));

  Generation g{f, nets, partial};
  nlohmann::json summary = summary_json(f, nets.config());
  std::string stopped;
  for (const std::string& name : f.classes)
    if (!(stopped = generate_class(g, name, log)).empty()) break;
  summary["acceptance"] = g.per_class;
  if (!stopped.empty()) {
    summary["stopped"] = stopped;
    write_records(partial, g.manifest, summary);
    log.line(stopped);
    EMBER_FAIL(stopped, ". The incomplete output stays in ", partial.string(),
               " (not usable as a training set; the next run removes it)");
  }
  summary["complete"] = true;
  write_records(partial, g.manifest, summary);
  log.line("wrote " + out.string() + " (manifest.csv, summary.json)");
  finish_partial_folder(partial, out, kMarker);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_cli_main("generate", "(generate --help lists the flags)", [&] {
    const GenerateFlags f = parse_generate_flags(cli_args(argc, argv));
    if (f.help) return print_usage(kGenerateUsage);
    check_generate_inputs(f);
    require_visible_device("--device", f.device);
    return run(f);
  });
}

// build_augmented: from the output of generate (images the classifier accepted, in the order
// they were kept), builds the generated parts of the seed's augmented100 / augmented300 /
// augmented500 training sets as folders train_classifier reads:
//
//   ./build/apps/build_augmented --generated gen/kept --out gen/augmented
//   ./build/apps/train_classifier --variant generated --generated gen/augmented/augmented100 ...
//
// augmentedN = the unbalanced training set (train_classifier adds it) + the first N kept images
//   --per class  (default) of each minority class: N Highway + N River
//   --per total  N in all, split evenly over the classes in class order (floor(N / k) each,
//                the first N mod k classes one more): N/2 Highway + N/2 River
// The seed ("augmented100, 300, 500") does not say which it meant; per class is the default.
// "First" is generation order: generate numbers the files of a class in the order it kept them
// (gen_<Class>_000000.png, ...), and its manifest.csv lists them in that order.
// For --per class this is the same set as `train_classifier --variant generated --generated
// gen/kept --generated-per-class N` (first_per_class in file-name order), without a copy; this
// app makes both modes explicit folders with their own manifest, checked against the source.
//
// Output: <out>/augmented<N>/<Class>/<file> (hard links to the source files, copies where a
// link cannot be made) and <out>/augmented<N>/manifest.csv (the source manifest's rows for the
// chosen files). Checks: the source manifest's header and rows, every listed file present, the
// files of each class in manifest order = file-name order, enough images for each N (an error
// names the class and the shortfall; with --allow-short a set takes what there is and its
// manifest and the log say so), every image taken decodes as a 64x64 RGB image. An existing
// --out is never touched. Built in <out>.partial and renamed when complete; a <out>.partial
// left by a failed or killed run is removed by the next run (it holds the BUILDING marker;
// anything else there is refused). One process at a time per --out (a lock on <out>.lock).
// Exit status: 0 done, 1 an error, 2 a bad flag (the flags and their rules:
// apps/flags/augment_flags.h). Tested by tests/apps/generate_smoke.sh.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "datasets/eurosat.h"
#include "datasets/image_io.h"
#include "tensor/atomic_file.h"
#include "apps/flags/augment_flags.h"
#include "apps/flags/cli.h"
#include "training/output_lock.h"
#include "training/partial_folder.h"
#include "training/run_log.h"

using namespace ember;
using namespace ember::training;
namespace fs = std::filesystem;

namespace {

const char* kHeader = "file,class,label,confidence,candidate,noise_seed,noise_offset";
const char* kMarker = "BUILDING";  // in <out>.partial while it is being written

struct Row {
  std::string file, cls, line;
};

// The source manifest's rows by class, and the classes in the order they first appear.
struct SourceManifest {
  std::map<std::string, std::vector<Row>> by_class;
  std::vector<std::string> class_order;
};

// Reads and checks the source manifest: its header, each file in its class folder and
// present, and each class's files in file-name order (= generation order).
SourceManifest read_manifest(const fs::path& src) {
  const fs::path manifest_path = src / "manifest.csv";
  std::ifstream in(manifest_path);
  EMBER_CHECK(in, "cannot read ", manifest_path.string(),
              " (is --generated the output folder of generate?)");
  std::string line;
  EMBER_CHECK(std::getline(in, line) && line == kHeader, manifest_path.string(),
              ": the first line is not the header '", kHeader, "'");
  SourceManifest m;
  for (int64_t number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    std::stringstream fields(line);
    Row row{"", "", line};
    std::getline(fields, row.file, ',');
    std::getline(fields, row.cls, ',');
    EMBER_CHECK(!row.file.empty() && row.file.rfind(row.cls + "/", 0) == 0, manifest_path.string(),
                " line ", number, ": file '", row.file, "' is not in its class folder '", row.cls,
                "'");
    EMBER_CHECK(fs::is_regular_file(src / row.file), manifest_path.string(), " line ", number,
                ": ", (src / row.file).string(), " is missing");
    std::vector<Row>& rows = m.by_class[row.cls];
    if (rows.empty()) m.class_order.push_back(row.cls);
    EMBER_CHECK(rows.empty() || rows.back().file < row.file, manifest_path.string(), " line ",
                number, ": ", row.file, " does not sort after ", rows.back().file,
                " (file-name order must be generation order)");
    rows.push_back(row);
  }
  return m;
}

// --classes (default: every class in the manifest) in EuroSAT's class order; each must have
// images unless --allow-short.
std::vector<std::string> chosen_classes(const AugmentFlags& f, const SourceManifest& m,
                                        const fs::path& manifest_path) {
  const std::vector<std::string>& names = datasets::eurosat_class_names();
  std::vector<std::string> classes = f.classes.empty() ? m.class_order : f.classes;
  std::sort(classes.begin(), classes.end(), [&](const std::string& a, const std::string& b) {
    return std::find(names.begin(), names.end(), a) < std::find(names.begin(), names.end(), b);
  });
  EMBER_CHECK(!classes.empty(), manifest_path.string(), " lists no images");
  for (const std::string& c : classes)
    EMBER_CHECK(f.allow_short || m.by_class.count(c), "class '", c, "' has no images in ",
                manifest_path.string());
  return classes;
}

// augmented<n> in `set_dir`: the first images of each class (n each, or n split over the
// classes with --per total), each decoded once to catch a cut file, linked (or copied), and
// their manifest rows. Returns the per-class counts for the log.
std::string build_set(const AugmentFlags& f, const fs::path& src, SourceManifest& m,
                      const std::vector<std::string>& classes, int64_t n, const fs::path& set_dir) {
  std::string manifest = std::string(kHeader) + "\n";
  std::string counts;
  const int64_t k = static_cast<int64_t>(classes.size());
  for (int64_t c = 0; c < k; ++c) {
    const std::string& cls = classes[c];
    const int64_t wanted = f.per == "class" ? n : n / k + (c < n % k ? 1 : 0);
    const std::vector<Row>& rows = m.by_class[cls];
    const int64_t have = static_cast<int64_t>(rows.size());
    const int64_t take = f.allow_short ? std::min(wanted, have) : wanted;
    EMBER_CHECK(have >= take, "augmented", n, " (--per ", f.per,
                ") needs ", take, " images of ", cls, " but ", src.string(), " has only ",
                rows.size(), ": generate more (--keep)");
    fs::create_directories(set_dir);
    if (take > 0) fs::create_directories(set_dir / cls);  // no empty class folders
    for (int64_t i = 0; i < take; ++i) {
      // A cut or empty image (a writer that ignored a full disk) is named, not passed on.
      datasets::decode_image(src / rows[i].file, datasets::kEuroSatSize, datasets::kEuroSatSize,
                             datasets::kEuroSatChannels);
      std::error_code ec;
      fs::create_hard_link(src / rows[i].file, set_dir / rows[i].file, ec);
      if (ec) fs::copy_file(src / rows[i].file, set_dir / rows[i].file);
      manifest += rows[i].line + "\n";
    }
    counts += format("%s%s %lld", c ? ", " : "", cls.c_str(), static_cast<long long>(take));
    if (take < wanted)
      counts += format(" (SHORT: %lld wanted, --allow-short)", static_cast<long long>(wanted));
  }
  write_file_atomically((set_dir / "manifest.csv").string(), manifest);
  return counts;
}

// Claims --out (never overwritten; one process at a time), checks the source, builds every
// set into <out>.partial and renames it to --out when all are complete.
int run(const AugmentFlags& f) {
  const fs::path src = f.generated, out = f.out, partial = f.out + ".partial";
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  const OutputLock lock(lock_file_for(out), "the output folder " + out.string());
  EMBER_CHECK(!fs::exists(out), "the output folder ", out.string(),
              " already exists and is never overwritten: choose another --out or remove it");
  EMBER_CHECK(!fs::exists(src / "GENERATING"), src.string(),
              " is an incomplete generate output (it still holds the GENERATING marker)");
  SourceManifest m = read_manifest(src);
  const std::vector<std::string> classes = chosen_classes(f, m, src / "manifest.csv");

  RunLog log;
  const std::string restart_note = start_partial_folder(
      partial, kMarker, "build_augmented",
      "build_augmented is writing this folder; it becomes " + out.string() + " when complete\n");
  if (!restart_note.empty()) log.line(restart_note + "; building again");
  for (int64_t n : f.sizes) {
    const fs::path set_dir = partial / ("augmented" + std::to_string(n));
    const std::string counts = build_set(f, src, m, classes, n, set_dir);
    log.line(format("augmented%lld (--per %s): %s -> %s", static_cast<long long>(n),
                    f.per.c_str(), counts.c_str(), (out / set_dir.filename()).c_str()));
  }
  finish_partial_folder(partial, out, kMarker);
  log.line("train with: train_classifier --variant generated --generated " +
           (out / ("augmented" + std::to_string(f.sizes.front()))).string() + " ...");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_cli_main("build_augmented", "(build_augmented --help lists the flags)", [&] {
    const AugmentFlags f = parse_augment_flags(cli_args(argc, argv));
    if (f.help) return print_usage(kAugmentUsage);
    check_augment_inputs(f);
    return run(f);
  });
}

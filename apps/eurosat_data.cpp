// eurosat_data: loads and verifies the EuroSAT RGB data, then prints per-class counts for train,
// val, test and the unbalanced train set, and how long loading took.
//
//   ./build/apps/eurosat_data [--data DIR] [--cache DIR | --no-cache] [--seed S] [--threads N]
//                             [--unbalanced-list FILE]
//
// Verification: every listed file must exist and decode as 64x64x3 (the first bad one is named,
// exit status 1). With a valid decoded cache the images are not decoded again: the cache is only
// used when every file still has the size and modification time it had when it was decoded;
// --no-cache decodes every file again.
// --seed picks the unbalanced set's Highway/River images (and the fallback split, if the lists
// are absent); --unbalanced-list writes the kept file names for auditing. Where the data and the
// cache are looked for: README.md, "Data".
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "datasets/derived.h"
#include "datasets/eurosat.h"
#include "datasets/image_cache.h"
#include "apps/flags/cli.h"

using namespace ember;
using namespace ember::datasets;

namespace {

const char* kUsage =
    "usage: eurosat_data [--data DIR] [--cache DIR | --no-cache] [--seed S] [--threads N] "
    "[--unbalanced-list FILE]";

struct Flags {
  std::string data;
  std::string cache;
  bool no_cache = false;
  uint64_t seed = 0;
  int threads = 0;
  std::string unbalanced_list;
};

Flags parse_flags(int argc, char** argv) {
  Flags flags;
  training::FlagReader r(argc, argv);
  while (r.next()) {
    if (r.is_switch("--no-cache")) flags.no_cache = true;
    else if (r.is("--data")) flags.data = r.value();
    else if (r.is("--cache")) flags.cache = r.value();
    else if (r.is("--unbalanced-list")) flags.unbalanced_list = r.value();
    else if (r.is("--seed")) flags.seed = static_cast<uint64_t>(r.int_value(0));
    else if (r.is("--threads")) flags.threads = static_cast<int>(r.int_value(1, 256));
    else r.unknown();
  }
  r.exit_if_help(kUsage);
  training::require_flag(!(flags.no_cache && !flags.cache.empty()),
                         "--cache and --no-cache conflict");
  return flags;
}

void print_table(const std::vector<std::string>& classes,
                 const std::vector<std::pair<std::string, const ImageSet*>>& sets) {
  std::printf("%-22s", "class");
  for (const auto& [name, set] : sets) std::printf("%12s", name.c_str());
  std::printf("\n");
  std::vector<std::vector<int64_t>> counts;
  for (const auto& entry : sets) counts.push_back(class_counts(*entry.second));
  for (size_t c = 0; c < classes.size(); ++c) {
    std::printf("%2zu %-19s", c, classes[c].c_str());
    for (const auto& col : counts) std::printf("%12lld", static_cast<long long>(col[c]));
    std::printf("\n");
  }
  std::printf("%-22s", "total");
  for (const auto& entry : sets) std::printf("%12lld", static_cast<long long>(entry.second->size()));
  std::printf("\n");
}

int run(const Flags& flags) {
  const std::filesystem::path root = resolve_data_root(flags.data);
  LoadOptions options;
  options.threads = flags.threads;
  options.use_cache = !flags.no_cache;
  options.cache_dir = flags.cache;
  std::printf("data root: %s\n", root.string().c_str());
  const EuroSat data = load_eurosat(root, options, flags.seed);
  const ImageSet unbalanced = make_unbalanced(data.train, flags.seed);
  if (!flags.unbalanced_list.empty()) write_file_list(flags.unbalanced_list, unbalanced);

  std::printf("split: %s\n", data.fallback_split ? "SEEDED STRATIFIED 60/20/20 (no split lists)"
                                                 : "standard lists (splits/eurosat-*.txt)");
  print_table(data.train.class_names, {{"train", &data.train},
                                       {"val", &data.val},
                                       {"test", &data.test},
                                       {"unbalanced", &unbalanced}});
  const int64_t total = data.train.size() + data.val.size() + data.test.size();
  std::printf("verified: %lld files present and %s as 64x64x3\n", static_cast<long long>(total),
              data.stats.from_cache ? "unchanged since they were decoded" : "decoded");
  std::printf("cache: %s (%s)\n",
              data.stats.cache_file.empty() ? "off" : data.stats.cache_file.string().c_str(),
              data.stats.cache_note.c_str());
  std::printf("load time: %.3f s for %lld images (%s)\n", data.stats.seconds,
              static_cast<long long>(total), data.stats.from_cache ? "from cache" : "decoded");
  if (!flags.unbalanced_list.empty())
    std::printf("unbalanced files written to %s\n", flags.unbalanced_list.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return training::run_cli_main("eurosat_data", kUsage, [&] { return run(parse_flags(argc, argv)); });
}

// libFuzzer target: the experiment's configuration (experiment/config.h): a JSON config file
// merged over a preset, then "--set key.path=value" overrides, then the checked typed view, all
// through resolve_config as `experiment --config FILE --set ...` calls it. Expected outcomes: a
// resolved configuration, or ember::Error naming the key or the file.
//
// Input: the bytes up to the first NUL are the config file (none when empty); each further
// NUL-separated piece is one --set assignment. Both presets are tried. A configuration that
// resolves must also survive what the runner does with it: saved as <out>/config.json (dump) and
// read back with --config, it resolves to itself (a rerun must resolve to the same one). The file
// goes through an in-memory file (fuzz_common.h). Seeds: corpus/config/; dictionary:
// config.dict. Run: scripts/fuzz.sh config.
#include <cstdint>
#include <string>
#include <vector>

#include "experiment/config.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ember::fuzz::MemoryFile file;
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> pieces;
  for (size_t begin = 0;;) {
    const size_t end = input.find('\0', begin);
    pieces.push_back(input.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  const std::string config_text = pieces.front();
  const std::vector<std::string> overrides(pieces.begin() + 1, pieces.end());

  for (const char* preset : {"quick", "full"}) {
    ember::fuzz::expect_only_ember_errors([&] {
      const std::string path =
          config_text.empty() ? std::string() : file.write(config_text.data(), config_text.size());
      const nlohmann::json resolved = ember::experiment::resolve_config(preset, path, overrides);
      const std::string saved = resolved.dump(2);
      const nlohmann::json again =
          ember::experiment::resolve_config(preset, file.write(saved.data(), saved.size()), {});
      ember::fuzz::check_invariant(again == resolved,
                                   "a saved configuration read back resolves to another one");
    });
  }
  return 0;
}

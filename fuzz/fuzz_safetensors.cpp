// libFuzzer target: the safetensors reader, nn::decode_safetensors (nn/safetensors.h), on bytes
// in memory (read_safetensors runs the same decoder on a file). Expected outcomes: a decoded
// file, or ember::Error. A decoded file must survive a round trip: encode_safetensors of what was
// read decodes to the same names, dtypes, shapes, bytes and metadata. Seeds: corpus/safetensors/;
// dictionary: safetensors.dict. Run: scripts/fuzz.sh safetensors.
#include <cstdint>
#include <cstring>
#include <map>
#include <string>

#include "fuzz/fuzz_common.h"
#include "nn/safetensors.h"
#include "tensor/dtype.h"

namespace {

using ember::nn::SafetensorsFile;

// name -> (dtype, shape, bytes): the decoder orders tensors by their data offsets, the encoder by
// element size, so files are compared by name.
std::map<std::string, std::string> contents(const SafetensorsFile& file) {
  std::map<std::string, std::string> out;
  for (const auto& [name, t] : file.tensors) {
    std::string key = std::string(ember::dtype_name(t.dtype())) + "|";
    for (int64_t d : t.shape()) key += std::to_string(d) + ",";
    key.append(static_cast<const char*>(t.raw_data()),
               static_cast<size_t>(t.numel()) * ember::dtype_size(t.dtype()));
    out[name] = key;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  ember::fuzz::expect_only_ember_errors([&] {
    const SafetensorsFile file = ember::nn::decode_safetensors(bytes, "fuzz-input");
    // Every byte of every tensor is read here, so a tensor whose storage is shorter than its
    // shape says is an ASan report.
    const auto read = contents(file);
    std::string again;
    try {
      again = ember::nn::encode_safetensors(file.tensors, file.metadata);
    } catch (const ember::Error&) {
      return;  // e.g. a name the writer refuses (empty): reading it is still fine
    }
    const SafetensorsFile back = ember::nn::decode_safetensors(again, "round trip");
    ember::fuzz::check_invariant(contents(back) == read && back.metadata == file.metadata,
                                 "decode(encode(decoded file)) differs from the decoded file");
  });
  return 0;
}

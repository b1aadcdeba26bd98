// safetensors encoding, atomic writing, hardened decoding, and loading into existing tensors.
// Format: github.com/huggingface/safetensors (README "Format"), written from its description;
// docs/safetensors.md has the layout and the rules enforced here. Tested in
// tests/test_safetensors.cpp.
//
// The reader checks in this order, so each problem gets the message that names it: the
// 8-byte length, the header bytes (length cap, fits in the file), the JSON, each entry (keys,
// JSON types, dtype, shape, offsets, byte count), then the layout of the whole buffer
// (overlaps, gaps, trailing bytes). Only then is anything allocated, and every allocation is
// the size of a byte range already proven to lie inside the file.
#include "nn/safetensors.h"

#include "tensor/atomic_file.h"
#include "tensor/checksum.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace ember::nn {

// The format is little-endian; tensors are copied byte for byte, which is right only on a
// little-endian host (every machine ember targets).
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

using json = nlohmann::json;

// Headers above this are rejected before any allocation (the reference implementation uses the
// same 100 MB cap); real headers are a few hundred bytes per tensor.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Nesting deeper than this is rejected while parsing. A valid header nests 3 deep (object, entry,
// shape); the reference reader's JSON parser (serde_json) stops at 128. Without a limit, a header
// of a few hundred KB of '[' overflowed the stack when an error message dumped the value
// (nlohmann's serializer recurses once per level).
constexpr int kMaxHeaderDepth = 128;
// Metadata key of a tensor's CRC-32 (tensor/checksum.h), followed by its name.
const std::string kChecksumPrefix = "ember.crc32.";

struct DTypeName {
  const char* name;
  DType dtype;
};
constexpr DTypeName kDTypes[] = {{"F32", DType::Float32}, {"F64", DType::Float64},
                                 {"BF16", DType::BFloat16}, {"U8", DType::UInt8},
                                 {"I32", DType::Int32}, {"I64", DType::Int64}};
// Valid safetensors dtypes that ember has no tensor type for: named as such in the error.
constexpr const char* kForeignDTypes[] = {"F16", "I8", "I16", "U16", "U32", "U64", "BOOL",
                                          "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3",
                                          "F6_E3M2", "C64"};

// Where the bytes come from: a file (read with pread) or a string in memory.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Reads exactly n bytes at offset into out; [offset, offset + n) is within size().
  virtual void read(uint64_t offset, uint64_t n, void* out) const = 0;
};

class MemorySource : public ByteSource {
 public:
  explicit MemorySource(const std::string& bytes) : bytes_(bytes) {}
  uint64_t size() const override { return bytes_.size(); }
  void read(uint64_t offset, uint64_t n, void* out) const override {
    if (n) std::memcpy(out, bytes_.data() + offset, n);
  }

 private:
  const std::string& bytes_;
};

class FileSource : public ByteSource {
 public:
  explicit FileSource(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EMBER_CHECK(fd_ >= 0, "safetensors file '", path, "': cannot open: ", std::strerror(errno));
    struct stat st;
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      EMBER_FAIL("safetensors file '", path, "': not a regular file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~FileSource() override { ::close(fd_); }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  uint64_t size() const override { return size_; }
  void read(uint64_t offset, uint64_t n, void* out) const override {
    char* dst = static_cast<char*>(out);
    while (n > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, 1u << 30));
      const ssize_t got = ::pread(fd_, dst, chunk, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      EMBER_CHECK(got >= 0, "safetensors file '", path_, "': read failed at byte ", offset, ": ",
                  std::strerror(errno));
      // The size was taken from fstat; a short read means the file shrank while we read it.
      EMBER_CHECK(got > 0, "safetensors file '", path_, "': truncated while reading (ended at byte ",
                  offset, " of ", size_, ")");
      dst += got;
      offset += static_cast<uint64_t>(got);
      n -= static_cast<uint64_t>(got);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// A validated header entry.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // relative to the start of the data buffer
};

// Parses the header JSON, noting the first key that repeats within one object (nlohmann keeps
// the last value silently, which would hide a duplicated tensor name).
json parse_header(const std::string& text, const std::string& file) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    EMBER_CHECK(depth <= kMaxHeaderDepth, "safetensors file '", file, "': the header nests more than ",
                kMaxHeaderDepth, " levels deep");
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty()) {
      const std::string key = parsed.get<std::string>();
      if (!open_objects.back().insert(key).second && duplicate.empty())
        duplicate = depth == 1 ? "name '" + key + "'" : "key '" + key + "' inside an object";
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text, callback);
  } catch (const json::exception& e) {
    EMBER_FAIL("safetensors file '", file, "': the header is not valid JSON: ", e.what());
  }
  EMBER_CHECK(duplicate.empty(), "safetensors file '", file, "': duplicate ", duplicate,
              " in the header");
  EMBER_CHECK(header.is_object(), "safetensors file '", file,
              "': the header must be a JSON object, got ", header.type_name());
  return header;
}

DType parse_dtype(const json& value, const std::string& where) {
  EMBER_CHECK(value.is_string(), where, ": \"dtype\" must be a string, got ", value.type_name());
  const std::string name = value.get<std::string>();
  for (const DTypeName& d : kDTypes)
    if (name == d.name) return d.dtype;
  for (const char* foreign : kForeignDTypes)
    EMBER_CHECK(name != foreign, where, ": dtype ", name,
                " is valid safetensors but ember has no such tensor type (supported: F32, F64, "
                "BF16, U8, I32, I64)");
  EMBER_FAIL(where, ": unknown dtype '", name, "' (supported: F32, F64, BF16, U8, I32, I64)");
}

// A non-negative integer that fits in int64 (shapes) or uint64 (offsets).
uint64_t parse_count(const json& value, const std::string& where, const char* what) {
  EMBER_CHECK(value.is_number_integer(), where, ": ", what, " must be a non-negative integer, got ",
              value.dump());
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  const int64_t v = value.get<int64_t>();
  EMBER_CHECK(v >= 0, where, ": ", what, " must be a non-negative integer, got ", v);
  return static_cast<uint64_t>(v);
}

Entry parse_entry(const std::string& name, const json& value, const std::string& file,
                  uint64_t buffer_bytes) {
  const std::string where = "safetensors file '" + file + "', tensor '" + name + "'";
  EMBER_CHECK(value.is_object(), where, ": the entry must be a JSON object, got ", value.type_name());
  for (const char* key : {"dtype", "shape", "data_offsets"})
    EMBER_CHECK(value.contains(key), where, ": the entry has no \"", key, "\"");

  Entry entry;
  entry.name = name;
  entry.dtype = parse_dtype(value["dtype"], where);

  const json& shape = value["shape"];
  EMBER_CHECK(shape.is_array(), where, ": \"shape\" must be an array, got ", shape.type_name());
  // numel is built with overflow checks: a hostile shape must not wrap around to a small count.
  uint64_t numel = 1;
  bool overflow = false;
  for (const json& dim : shape) {
    const uint64_t d = parse_count(dim, where, "each shape dimension");
    EMBER_CHECK(d <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), where,
                ": shape dimension ", d, " is too large");
    entry.shape.push_back(static_cast<int64_t>(d));
    overflow = overflow || __builtin_mul_overflow(numel, d, &numel);
  }

  const json& offsets = value["data_offsets"];
  EMBER_CHECK(offsets.is_array() && offsets.size() == 2, where,
              ": \"data_offsets\" must be an array [begin, end], got ", offsets.dump());
  entry.begin = parse_count(offsets[0], where, "data_offsets[0]");
  entry.end = parse_count(offsets[1], where, "data_offsets[1]");
  EMBER_CHECK(entry.begin <= entry.end, where, ": data_offsets [", entry.begin, ", ", entry.end,
              "] end before they begin");
  EMBER_CHECK(entry.end <= buffer_bytes, where, ": data_offsets [", entry.begin, ", ", entry.end,
              "] lie past the end of the data buffer (", buffer_bytes,
              " bytes): the file is truncated or the offsets are out of range");

  uint64_t bytes = 0;
  overflow = overflow || __builtin_mul_overflow(numel, dtype_size(entry.dtype), &bytes);
  EMBER_CHECK(!overflow && bytes == entry.end - entry.begin, where, ": shape ",
              shape_str(entry.shape), " of ", safetensors_dtype_name(entry.dtype), " needs ",
              overflow ? std::string("more than 2^64") : std::to_string(bytes),
              " bytes but data_offsets [", entry.begin, ", ", entry.end, "] hold ",
              entry.end - entry.begin);
  return entry;
}

// Checks the CRC-32 of every tensor against the metadata's and removes those entries, so callers
// see only their own metadata. A file with checksums must have one for every tensor and no
// other (a file written elsewhere, without any, is read unchecked).
void verify_checksums(SafetensorsFile& result, const std::string& file) {
  std::map<std::string, std::string> recorded;
  for (auto it = result.metadata.begin(); it != result.metadata.end();) {
    if (it->first.rfind(kChecksumPrefix, 0) == 0) {
      recorded[it->first.substr(kChecksumPrefix.size())] = it->second;
      it = result.metadata.erase(it);
    } else {
      ++it;
    }
  }
  if (recorded.empty()) return;
  for (const auto& [name, t] : result.tensors) {
    const auto it = recorded.find(name);
    EMBER_CHECK(it != recorded.end(), "safetensors file '", file, "': tensor '", name,
                "' has no checksum while the others have one: the file is damaged");
    const std::string actual =
        crc32_hex(crc32_bytes(t.raw_data(), static_cast<size_t>(t.numel()) * dtype_size(t.dtype())));
    EMBER_CHECK(actual == it->second, "safetensors file '", file, "': tensor '", name,
                "' is damaged: its bytes have CRC-32 ", actual, " but the file records ",
                it->second);
    recorded.erase(it);
  }
  EMBER_CHECK(recorded.empty(), "safetensors file '", file, "': a checksum names tensor '",
              recorded.begin()->first, "', which the file does not hold: the file is damaged");
}

// The JSON header's text: an 8-byte little-endian length, then that many bytes, checked against
// a sane limit and the file's size before anything is allocated.
std::string read_header_text(const ByteSource& source, const std::string& file) {
  const uint64_t file_bytes = source.size();
  EMBER_CHECK(file_bytes >= 8, "safetensors file '", file, "': only ", file_bytes,
              " bytes, shorter than the 8-byte header length");
  uint8_t length_bytes[8];
  source.read(0, 8, length_bytes);
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | length_bytes[i];
  EMBER_CHECK(header_bytes <= kMaxHeaderBytes, "safetensors file '", file, "': header length ",
              header_bytes, " is absurd (the limit is ", kMaxHeaderBytes,
              " bytes): not a safetensors file, or a damaged one");
  EMBER_CHECK(header_bytes <= file_bytes - 8, "safetensors file '", file, "': header length ",
              header_bytes, " is larger than the ", file_bytes - 8,
              " bytes that follow it: the file is truncated or not a safetensors file");
  std::string text(header_bytes, '\0');
  source.read(8, header_bytes, text.data());
  return text;
}

// The buffer must be covered exactly: sorted by offsets, each tensor starts where the previous
// one ended, and the last ends at the end of the file. Overlaps would alias two tensors, gaps
// and trailing bytes hide data nothing accounts for (the reference reader rejects both too).
void check_buffer_covered(std::vector<Entry>& entries, uint64_t buffer_bytes,
                          const std::string& file) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    EMBER_CHECK(e.begin >= cursor, "safetensors file '", file, "': tensor '", e.name,
                "' (bytes [", e.begin, ", ", e.end, ")) overlaps tensor '",
                previous ? previous->name : "", "' (bytes [", previous ? previous->begin : 0, ", ",
                cursor, "))");
    EMBER_CHECK(e.begin == cursor, "safetensors file '", file, "': a gap of ", e.begin - cursor,
                " bytes in the data buffer before tensor '", e.name, "' (bytes [", cursor, ", ",
                e.begin, ") belong to no tensor)");
    cursor = e.end;
    previous = &e;
  }
  EMBER_CHECK(cursor == buffer_bytes, "safetensors file '", file, "': ", buffer_bytes - cursor,
              " trailing bytes after the last tensor (the data buffer is ", buffer_bytes,
              " bytes, tensors cover ", cursor, ")");
}

// Reading a file: the header, its metadata and tensor entries, the buffer's layout, then the
// bytes of each tensor and their checksums. Every check runs before the allocation it guards.
SafetensorsFile decode(const ByteSource& source, const std::string& file) {
  const std::string text = read_header_text(source, file);
  const json header = parse_header(text, file);
  const uint64_t buffer_start = 8 + text.size();
  const uint64_t buffer_bytes = source.size() - buffer_start;
  SafetensorsFile result;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      EMBER_CHECK(value.is_object(), "safetensors file '", file,
                  "': \"__metadata__\" must be an object of strings, got ", value.type_name());
      for (const auto& [key, text_value] : value.items()) {
        EMBER_CHECK(text_value.is_string(), "safetensors file '", file, "': metadata \"", key,
                    "\" must be a string, got ", text_value.dump());
        result.metadata[key] = text_value.get<std::string>();
      }
      continue;
    }
    EMBER_CHECK(!name.empty(), "safetensors file '", file, "': a tensor has an empty name");
    entries.push_back(parse_entry(name, value, file, buffer_bytes));
  }
  check_buffer_covered(entries, buffer_bytes, file);

  // Every range is now inside the file, so these allocations are bounded by its size.
  for (const Entry& e : entries) {
    Tensor t = empty(e.shape, {.dtype = e.dtype});
    source.read(buffer_start + e.begin, e.end - e.begin, t.raw_data());
    result.tensors.emplace_back(e.name, std::move(t));
  }
  verify_checksums(result, file);
  return result;
}

}  // namespace

const char* safetensors_dtype_name(DType dtype) {
  for (const DTypeName& d : kDTypes)
    if (d.dtype == dtype) return d.name;
  EMBER_FAIL("safetensors: no name for dtype ", dtype_name(dtype));
}

std::string encode_safetensors(const NamedTensors& tensors, const SafetensorsMetadata& metadata) {
  std::set<std::string> names;
  std::vector<std::pair<std::string, Tensor>> host;
  for (const auto& [name, t] : tensors) {
    EMBER_CHECK(!name.empty(), "write_safetensors: a tensor has an empty name");
    EMBER_CHECK(name != "__metadata__", "write_safetensors: '__metadata__' is reserved, not a tensor name");
    EMBER_CHECK(names.insert(name).second, "write_safetensors: duplicate tensor name '", name, "'");
    EMBER_CHECK(t.defined(), "write_safetensors: tensor '", name, "' is undefined");
    host.emplace_back(name, convert(t, t.dtype(), Device::cpu()));  // contiguous host copy
  }
  // Largest elements first (then by name): every tensor starts aligned to its element size.
  std::stable_sort(host.begin(), host.end(), [](const auto& a, const auto& b) {
    const size_t sa = dtype_size(a.second.dtype()), sb = dtype_size(b.second.dtype());
    return sa != sb ? sa > sb : a.first < b.first;
  });

  // Every tensor's bytes get a CRC-32 in the metadata, checked by every read (kChecksumPrefix).
  SafetensorsMetadata full_metadata = metadata;
  for (const auto& [key, value] : metadata)
    EMBER_CHECK(key.rfind(kChecksumPrefix, 0) != 0, "write_safetensors: metadata key '", key,
                "' is reserved (\"", kChecksumPrefix, "*\" holds the tensors' checksums)");
  for (const auto& [name, t] : host)
    full_metadata[kChecksumPrefix + name] =
        crc32_hex(crc32_bytes(t.raw_data(), static_cast<size_t>(t.numel()) * dtype_size(t.dtype())));

  json header = json::object();
  if (!full_metadata.empty()) header["__metadata__"] = full_metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : host) {
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype());
    header[name] = {{"dtype", safetensors_dtype_name(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  // Pad with spaces so the data buffer starts 8-byte aligned (8 + header length).
  text.append((8 - text.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + text.size() + offset);
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += text;
  for (const auto& [name, t] : host)
    out.append(static_cast<const char*>(t.raw_data()), t.numel() * dtype_size(t.dtype()));
  return out;
}

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const SafetensorsMetadata& metadata) {
  write_file_atomically(path, encode_safetensors(tensors, metadata));
}

SafetensorsFile read_safetensors(const std::string& path) {
  FileSource source(path);
  return decode(source, path);
}

SafetensorsFile decode_safetensors(const std::string& bytes, const std::string& source) {
  MemorySource memory(bytes);
  return decode(memory, source);
}

LoadReport load_into(const NamedTensors& targets, const NamedTensors& source,
                     const LoadOptions& options, const std::string& source_name) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : source)
    EMBER_CHECK(by_name.emplace(name, &t).second, "load_into: duplicate tensor '", name, "' in ",
                source_name);
  std::set<std::string> target_names;
  for (const auto& [name, t] : targets)
    EMBER_CHECK(target_names.insert(name).second, "load_into: duplicate target name '", name, "'");

  LoadReport report;
  std::vector<std::pair<const Tensor*, const Tensor*>> copies;  // (target, source)
  for (const auto& [name, target] : targets) {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      report.missing.push_back(name);
      continue;
    }
    const Tensor& src = *it->second;
    EMBER_CHECK(target.defined(), "load_into: target '", name, "' is undefined");
    EMBER_CHECK(src.shape() == target.shape(), "load_into: shape mismatch for tensor '", name,
                "': ", source_name, " has ", shape_str(src.shape()), ", the target is ",
                shape_str(target.shape()));
    EMBER_CHECK(options.convert_dtype || src.dtype() == target.dtype(),
                "load_into: dtype mismatch for tensor '", name, "': ", source_name, " has ",
                dtype_name(src.dtype()), ", the target is ", dtype_name(target.dtype()),
                " (set convert_dtype to cast)");
    copies.emplace_back(&target, &src);
    report.loaded.push_back(name);
  }
  for (const auto& [name, t] : source)
    if (!target_names.count(name)) report.unexpected.push_back(name);

  if (options.strict) {
    auto list = [](const std::vector<std::string>& names) {
      std::string out;
      for (size_t i = 0; i < names.size() && i < 10; ++i) out += (i ? ", '" : "'") + names[i] + "'";
      if (names.size() > 10) out += " and " + std::to_string(names.size() - 10) + " more";
      return out;
    };
    EMBER_CHECK(report.missing.empty(), "load_into: ", report.missing.size(), " missing tensor(s) in ",
                source_name, ": ", list(report.missing));
    EMBER_CHECK(report.unexpected.empty(), "load_into: ", report.unexpected.size(),
                " unexpected tensor(s) in ", source_name, ": ", list(report.unexpected));
  }
  for (const auto& [target, src] : copies) copy_(*target, *src);
  return report;
}

NamedTensors module_state(const Module& module) {
  NamedTensors state = module.named_parameters();
  for (auto& entry : module.named_buffers()) state.push_back(std::move(entry));
  return state;
}

void save_module(const Module& module, const std::string& path, const SafetensorsMetadata& metadata) {
  write_safetensors(path, module_state(module), metadata);
}

LoadReport load_module(Module& module, const std::string& path, const LoadOptions& options,
                       SafetensorsMetadata* metadata) {
  SafetensorsFile file = read_safetensors(path);
  LoadReport report = load_into(module_state(module), file.tensors, options, "'" + path + "'");
  if (metadata) *metadata = std::move(file.metadata);
  return report;
}

}  // namespace ember::nn

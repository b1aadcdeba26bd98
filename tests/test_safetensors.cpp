// safetensors (nn/safetensors.h): round trips of every dtype (scalars, empty tensors, views),
// metadata, a file built byte by byte from the format description and compared with the
// writer's output, every malformed-file case the reader must reject (bytes built here), the
// atomic write, and saving/loading a Module with each strict-load error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "nn/module.h"
#include "nn/safetensors.h"
#include "tensor/checksum.h"
#include "ops/ops.h"
#include "tests/device_compare.h"
#include "tests/expect_error.h"
#include "tests/temp_dir.h"

namespace ember {
namespace {

namespace fs = std::filesystem;
using nn::NamedTensors;
using testing::expect_error;

// Temporary folders named after this file's tests (tests/temp_dir.h).
struct TempDir : testing::TempDir {
  TempDir() : testing::TempDir("safetensors") {}
};

std::string bytes_of(const Tensor& t) {
  Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), c.numel() * dtype_size(c.dtype()));
}

// A file from its parts: the 8-byte little-endian length of `header`, the header, the buffer.
std::string file_bytes(const std::string& header, const std::string& buffer = "") {
  std::string out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out + header + buffer;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Expects decoding `bytes` to fail with a message naming the file and containing `problem`.
void expect_bad_file(const std::string& bytes, const std::string& problem) {
  expect_error([&] { nn::decode_safetensors(bytes, "bad.safetensors"); }, {"bad.safetensors", problem});
}

TEST(Safetensors, RoundTripEveryDTypeAndShape) {
  const std::vector<DType> dtypes = {DType::Float32, DType::Float64, DType::BFloat16,
                                     DType::UInt8, DType::Int32, DType::Int64};
  const std::vector<Shape> shapes = {{}, {0}, {2, 0, 3}, {5}, {2, 3}};
  NamedTensors tensors;
  for (DType dtype : dtypes)
    for (size_t s = 0; s < shapes.size(); ++s) {
      std::vector<double> values;
      for (int64_t i = 0; i < numel_of(shapes[s]); ++i) values.push_back(static_cast<double>(3 * i + 1));
      tensors.emplace_back(std::string(dtype_name(dtype)) + "_" + std::to_string(s),
                           from_vector<double>(values, shapes[s], {.dtype = dtype}));
    }
  TempDir dir;
  const std::string path = dir.file("all.safetensors");
  nn::write_safetensors(path, tensors);
  const nn::SafetensorsFile file = nn::read_safetensors(path);
  EXPECT_TRUE(file.metadata.empty());
  ASSERT_EQ(file.tensors.size(), tensors.size());
  for (const auto& [name, expected] : tensors) {
    auto it = std::find_if(file.tensors.begin(), file.tensors.end(),
                           [&](const auto& e) { return e.first == name; });
    ASSERT_NE(it, file.tensors.end()) << name;
    EXPECT_EQ(it->second.dtype(), expected.dtype()) << name;
    EXPECT_EQ(it->second.shape(), expected.shape()) << name;
    EXPECT_TRUE(it->second.device().is_cpu());
    EXPECT_EQ(bytes_of(it->second), bytes_of(expected)) << name;
  }
}

TEST(Safetensors, RoundTripKeepsSpecialFloatsBitExactAndWritesViewsRowMajor) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  Tensor special = from_vector<float>({nan, inf, -inf, -0.0f, 1e-45f, 3.4e38f}, {6});
  // A transposed view: stored as its row-major copy [[0, 3], [1, 4], [2, 5]].
  Tensor view = from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3}).permute({1, 0});
  const nn::SafetensorsFile file =
      nn::decode_safetensors(nn::encode_safetensors({{"special", special}, {"view", view}}));
  ASSERT_EQ(file.tensors.size(), 2u);
  EXPECT_EQ(file.tensors[0].first, "special");
  EXPECT_EQ(bytes_of(file.tensors[0].second), bytes_of(special));
  EXPECT_EQ(file.tensors[1].second.shape(), (Shape{3, 2}));
  EXPECT_EQ(file.tensors[1].second.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(Safetensors, MetadataRoundTrips) {
  const nn::SafetensorsMetadata metadata = {{"format", "ember"}, {"epoch", "7"}, {"note", "ünïcode \"q\""}};
  const nn::SafetensorsFile file =
      nn::decode_safetensors(nn::encode_safetensors({{"x", ones({2})}}, metadata));
  EXPECT_EQ(file.metadata, metadata);
}

// The writer's bytes equal a file assembled by hand from the format description: header keys
// sorted, data ordered by element size then name, the header padded with spaces to 8 bytes.
TEST(Safetensors, WriterMatchesHandBuiltFileByteForByte) {
  // The checksums are zlib.crc32 of each tensor's bytes (tensor/checksum.h).
  const std::string json =
      R"({"__metadata__":{"ember.crc32.a":"c3872656","ember.crc32.b":"55bc801d","k":"v"},)"
      R"("a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]},)"
      R"("b":{"data_offsets":[8,11],"dtype":"U8","shape":[3]}})";
  ASSERT_EQ(json.size(), 186u);
  std::string expected("\xc0\0\0\0\0\0\0\0", 8);  // 192 = 186 + 6 spaces, so 8 + 192 = 200
  expected += json + "      ";
  expected += std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8);  // 1.0f, -2.0f little-endian
  expected += std::string("\x01\x02\x03", 3);
  // Given in the "wrong" order: the layout does not depend on it.
  const NamedTensors tensors = {{"b", from_vector<uint8_t>({1, 2, 3}, {3}, {.dtype = DType::UInt8})},
                                {"a", from_vector<float>({1.0f, -2.0f}, {2})}};
  TempDir dir;
  const std::string path = dir.file("tiny.safetensors");
  nn::write_safetensors(path, tensors, {{"k", "v"}});
  EXPECT_EQ(read_file(path), expected);
  EXPECT_EQ(nn::encode_safetensors(tensors, {{"k", "v"}}), expected);
}

// A hand-built file as another writer might produce it: whitespace, unsorted keys, no padding,
// an int64 scalar, a bf16 tensor, an empty tensor.
TEST(Safetensors, ReadsHandBuiltFileFromAnotherWriter) {
  const std::string header =
      R"({ "s": {"shape": [], "dtype": "I64", "data_offsets": [0, 8]},
           "h": {"dtype": "BF16", "shape": [2], "data_offsets": [8, 12]},
           "e": {"dtype": "F64", "shape": [0, 4], "data_offsets": [12, 12]} })";
  std::string buffer("\xfe\xff\xff\xff\xff\xff\xff\xff", 8);  // int64 -2
  buffer += std::string("\x80\x3f\x40\xc0", 4);                // bf16 1.0 (0x3f80), -3.0 (0xc040)
  const nn::SafetensorsFile file = nn::decode_safetensors(file_bytes(header, buffer));
  ASSERT_EQ(file.tensors.size(), 3u);
  EXPECT_EQ(file.tensors[0].first, "s");  // in data order
  EXPECT_EQ(file.tensors[0].second.shape(), Shape{});
  EXPECT_EQ(file.tensors[0].second.item<int64_t>(), -2);
  EXPECT_EQ(file.tensors[1].first, "h");
  EXPECT_EQ(file.tensors[1].second.dtype(), DType::BFloat16);
  EXPECT_EQ(file.tensors[1].second.to_vector<float>(), (std::vector<float>{1.0f, -3.0f}));
  EXPECT_EQ(file.tensors[2].second.shape(), (Shape{0, 4}));
  EXPECT_EQ(file.tensors[2].second.dtype(), DType::Float64);
}

TEST(Safetensors, RejectsBadLengthAndHeader) {
  expect_bad_file(std::string("\x05\0\0", 3), "shorter than the 8-byte header length");
  expect_bad_file(file_bytes("{}").substr(0, 8) + "{", "larger than the 1 bytes that follow");
  std::string absurd("\0\0\0\0\0\x01\0\0", 8);  // 2^40
  expect_bad_file(absurd + "{}", "is absurd");
  expect_bad_file(file_bytes(""), "not valid JSON");
  expect_bad_file(file_bytes("{\"a\": "), "not valid JSON");
  expect_bad_file(file_bytes("[1, 2]"), "must be a JSON object, got array");
  expect_bad_file(file_bytes(R"({"__metadata__": [1]})"), "\"__metadata__\" must be an object");
  expect_bad_file(file_bytes(R"({"__metadata__": {"k": 1}})"), "metadata \"k\" must be a string");
  expect_bad_file(file_bytes("{\"a\": \"\xff\"}"), "not valid JSON");  // not UTF-8
  // Arrays nested a million deep in a shape (2 MB): an error, not a stack overflow in the
  // recursive JSON serializer that the error message used to call (found beside the fuzzer,
  // fuzz/fuzz_safetensors.cpp, whose inputs are too short to nest that deep).
  const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F32", "shape": [)" + deep + R"(], "data_offsets": [0, 0]}})"),
                  "the header nests more than 128 levels deep");
}

TEST(Safetensors, RejectsMalformedEntries) {
  const std::string buf8(8, '\0');
  expect_bad_file(file_bytes(R"({"t": 3})", buf8), "tensor 't': the entry must be a JSON object");
  expect_bad_file(file_bytes(R"({"t": {"shape": [2], "data_offsets": [0, 8]}})", buf8), "has no \"dtype\"");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F32", "data_offsets": [0, 8]}})", buf8), "has no \"shape\"");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F32", "shape": [2]}})", buf8), "has no \"data_offsets\"");
  expect_bad_file(file_bytes(R"({"t": {"dtype": 4, "shape": [2], "data_offsets": [0, 8]}})", buf8),
                  "\"dtype\" must be a string");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}})", buf8),
                  "\"shape\" must be an array");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [8]}})", buf8),
                  "\"data_offsets\" must be an array [begin, end]");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": {"a": 1}}})", buf8),
                  "\"data_offsets\" must be an array [begin, end]");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}})", buf8),
                  "unknown dtype 'Q7'");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]}})", buf8),
                  "dtype F16 is valid safetensors but ember has no such tensor type");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", buf8),
                  "each shape dimension must be a non-negative integer, got -2");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}})", buf8),
                  "each shape dimension must be a non-negative integer, got 2.0");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F32", "shape": [true], "data_offsets": [0, 8]}})", buf8),
                  "each shape dimension must be a non-negative integer");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [-1, 8]}})", buf8),
                  "data_offsets[0] must be a non-negative integer");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, "8"]}})", buf8),
                  "data_offsets[1] must be a non-negative integer");
  expect_bad_file(file_bytes(R"({"": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}})", buf8),
                  "empty name");
}

TEST(Safetensors, RejectsBadOffsetsAndSizes) {
  const std::string buf8(8, '\0');
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", buf8),
                  "tensor 't': data_offsets [8, 0] end before they begin");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F32", "shape": [25], "data_offsets": [0, 100]}})", buf8),
                  "lie past the end of the data buffer (8 bytes)");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [18446744073709551615, 18446744073709551615]}})", buf8),
                  "lie past the end of the data buffer");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", buf8),
                  "shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8");
  // A shape whose element count overflows 64 bits must not wrap around to a small size.
  expect_bad_file(file_bytes(R"({"t": {"dtype": "U8", "shape": [4294967296, 4294967296, 2], "data_offsets": [0, 0]}})"),
                  "needs more than 2^64 bytes");
  expect_bad_file(file_bytes(R"({"t": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 0]}})"),
                  "needs more than 2^64 bytes");
}

TEST(Safetensors, RejectsOverlapsGapsTrailingBytesAndDuplicates) {
  const std::string buf12(12, '\0');
  expect_bad_file(file_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                 "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", buf12),
                  "tensor 'b' (bytes [4, 12)) overlaps tensor 'a' (bytes [0, 8))");
  expect_bad_file(file_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                 "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})", buf12),
                  "a gap of 4 bytes in the data buffer before tensor 'b'");
  expect_bad_file(file_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", std::string(8, '\0')),
                  "a gap of 4 bytes in the data buffer before tensor 'a'");
  expect_bad_file(file_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", std::string(8, '\0')),
                  "4 trailing bytes after the last tensor");
  expect_bad_file(file_bytes("{}", "x"), "1 trailing bytes after the last tensor");
  expect_bad_file(file_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                 "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", std::string(8, '\0')),
                  "duplicate name 'a'");
  expect_bad_file(file_bytes(R"({"a": {"dtype": "F32", "dtype": "F64", "shape": [1], "data_offsets": [0, 4]}})", std::string(4, '\0')),
                  "duplicate key 'dtype'");
}

TEST(Safetensors, ReadingATruncatedOrShortFileFailsNamingIt) {
  TempDir dir;
  const std::string good = nn::encode_safetensors({{"w", ones({4, 4})}});
  const std::string path = dir.file("cut.safetensors");
  write_file(path, good.substr(0, good.size() - 3));
  expect_error([&] { nn::read_safetensors(path); },
               {path, "tensor 'w'", "data_offsets [0, 64] lie past the end of the data buffer (61 bytes)",
                "truncated"});
  write_file(path, good.substr(0, 20));  // cut inside the header
  expect_error([&] { nn::read_safetensors(path); }, {path, "larger than the 12 bytes that follow"});
  write_file(path, good.substr(0, 5));
  expect_error([&] { nn::read_safetensors(path); }, {path, "only 5 bytes"});
  expect_error([&] { nn::read_safetensors(dir.file("absent.safetensors")); },
               {"absent.safetensors", "cannot open"});
  expect_error([&] { nn::read_safetensors(dir.path.string()); }, {"not a regular file"});
}

// Every truncation of a valid file and every single-byte corruption of it either decodes or
// throws ember::Error: never another exception, a crash, or an out-of-bounds read (the last is
// what a sanitizer run of this test would catch).
TEST(Safetensors, EveryTruncationAndByteCorruptionIsHandled) {
  const std::string good = nn::encode_safetensors(
      {{"w", from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3})},
       {"n", from_vector<int64_t>({5}, {}, {.dtype = DType::Int64})},
       {"b", from_vector<uint8_t>({9, 8}, {2}, {.dtype = DType::UInt8})}},
      {{"k", "v"}});
  auto outcome = [](const std::string& bytes) {
    try {
      nn::decode_safetensors(bytes, "fuzz");
      return std::string("ok");
    } catch (const Error&) {
      return std::string("error");
    } catch (const std::exception& e) {
      return std::string("other exception: ") + e.what();
    }
  };
  EXPECT_EQ(outcome(good), "ok");
  for (size_t n = 0; n < good.size(); ++n) EXPECT_EQ(outcome(good.substr(0, n)), "error") << n;
  int decoded = 0;
  for (size_t i = 0; i < good.size(); ++i)
    for (int value : {0x00, 0xff, 0x80, int('['), int('{'), int('"'), int('1'), int('-'), int(' '), 0x07}) {
      std::string bad = good;
      bad[i] = static_cast<char>(value);
      const std::string result = outcome(bad);
      EXPECT_TRUE(result == "ok" || result == "error") << "byte " << i << ": " << result;
      decoded += result == "ok";
    }
  // Harmless header edits (e.g. a space in the padding) still decode: both paths were reached.
  EXPECT_GT(decoded, 0);
}

TEST(CheckSum, Crc32MatchesTheStandardCheckValueAndZlib) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);  // the CRC-32 catalogue's check value
  EXPECT_EQ(crc32(""), 0u);
  EXPECT_EQ(crc32_hex(crc32("123456789")), "cbf43926");
  // Incremental use, across the 8-byte fast path and the byte tail.
  const std::string text = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(crc32(text), 0x414FA339u);  // zlib.crc32 of the same text
  for (size_t cut : {0, 1, 7, 8, 9, 20, 43})
    EXPECT_EQ(crc32(text.substr(cut), crc32(text.substr(0, cut))), crc32(text)) << cut;
}

// One flipped bit anywhere in any tensor's bytes is an error naming the file and the tensor
// (before checksums such a file loaded silently, and a damaged generator gave a Frechet
// distance of 14 million instead of 0.06).
TEST(Safetensors, EveryFlippedDataBitIsAnErrorNamingTheTensor) {
  const NamedTensors tensors = {{"weight", from_vector<float>({0.5f, -1.25f, 3.0f}, {3})},
                                {"steps", from_vector<int64_t>({7}, {}, {.dtype = DType::Int64})}};
  const std::string good = nn::encode_safetensors(tensors, {{"k", "v"}});
  const nn::SafetensorsFile decoded = nn::decode_safetensors(good, "good.safetensors");
  EXPECT_EQ(decoded.metadata, (nn::SafetensorsMetadata{{"k", "v"}}));  // checksums not shown
  const size_t data_start = good.size() - 3 * 4 - 8;
  for (size_t byte = data_start; byte < good.size(); ++byte)
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      const std::string tensor = byte < data_start + 8 ? "steps" : "weight";  // int64 first
      expect_error([&] { nn::decode_safetensors(bad, "flipped.safetensors"); },
                   {"flipped.safetensors", "tensor '" + tensor + "' is damaged"});
    }
}

TEST(Safetensors, ChecksumsMustCoverEveryTensorAndAreReserved) {
  // A file written by another tool has no checksums and reads unchecked (hand-built above);
  // one with checksums must have one per tensor and none for a tensor it does not hold.
  const std::string buffer = std::string("\x00\x00\x80\x3f", 4) + std::string("\x01", 1);
  expect_bad_file(file_bytes(R"({"__metadata__":{"ember.crc32.a":"aca16a6a"},)"
                             R"("a":{"data_offsets":[0,4],"dtype":"F32","shape":[1]},)"
                             R"("b":{"data_offsets":[4,5],"dtype":"U8","shape":[1]}})",
                             buffer),
                  "tensor 'b' has no checksum");
  expect_bad_file(file_bytes(R"({"__metadata__":{"ember.crc32.a":"00000000","ember.crc32.c":"1"},)"
                             R"("a":{"data_offsets":[0,4],"dtype":"F32","shape":[1]}})",
                             buffer.substr(0, 4)),
                  "tensor 'a' is damaged");
  expect_error([] { nn::encode_safetensors({{"a", ones({1})}}, {{"ember.crc32.a", "0"}}); },
               {"reserved"});
}

TEST(Safetensors, WriteIsAtomicAndRejectsBadNames) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  nn::write_safetensors(path, {{"x", ones({3})}});
  const std::string before = read_file(path);
  // A failed write (here a duplicate name) leaves the old file as it was, and no temporary file.
  expect_error([&] { nn::write_safetensors(path, {{"x", ones({2})}, {"x", ones({2})}}); },
               {"duplicate tensor name 'x'"});
  expect_error([&] { nn::write_safetensors(path, {{"__metadata__", ones({2})}}); }, {"reserved"});
  expect_error([&] { nn::write_safetensors(path, {{"", ones({2})}}); }, {"empty name"});
  expect_error([&] { nn::write_safetensors(path, {{"u", Tensor()}}); }, {"'u' is undefined"});
  EXPECT_EQ(read_file(path), before);
  // A successful write replaces it.
  nn::write_safetensors(path, {{"y", zeros({2}, {.dtype = DType::Int32})}});
  const nn::SafetensorsFile file = nn::read_safetensors(path);
  ASSERT_EQ(file.tensors.size(), 1u);
  EXPECT_EQ(file.tensors[0].first, "y");
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(dir.path)) {
    ++entries;
    EXPECT_EQ(entry.path().filename(), "w.safetensors");
  }
  EXPECT_EQ(entries, 1);
  expect_error([&] { nn::write_safetensors(dir.file("no/such/folder/w.safetensors"), {{"x", ones({1})}}); },
               {"no/such/folder/w.safetensors", "cannot create temporary file"});
}

// Parameters (a float weight and bias) and buffers (float statistics, an int64 counter) in a
// child, as a real model has them.
class Inner : public nn::Module {
 public:
  Inner() {
    weight = register_parameter("weight", from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
    bias = register_parameter("bias", from_vector<float>({-1, -2}, {2}));
    stats = register_buffer("stats", from_vector<float>({0.5f, 0.25f}, {2}));
    count = register_buffer("count", from_vector<int64_t>({7}, {}, {.dtype = DType::Int64}));
  }
  Tensor weight, bias, stats, count;
};

class Outer : public nn::Module {
 public:
  Outer() {
    scale = register_parameter("scale", full({3}, 2.0));
    inner = register_module("inner", std::make_shared<Inner>());
  }
  Tensor scale;
  std::shared_ptr<Inner> inner;
};

void fill_all(const nn::Module& m, double value) {
  for (const auto& [name, t] : nn::module_state(m)) fill_(t, value);
}

TEST(SafetensorsModule, SaveLoadRoundTripKeepsHandles) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  Outer saved;
  nn::save_module(saved, path, {{"model", "outer"}});
  const nn::SafetensorsFile file = nn::read_safetensors(path);
  EXPECT_EQ(file.tensors.size(), 5u);

  Outer loaded;
  fill_all(loaded, 0.0);
  const Tensor weight_handle = loaded.inner->weight;
  nn::SafetensorsMetadata metadata;
  const nn::LoadReport report = nn::load_module(loaded, path, {}, &metadata);
  EXPECT_EQ(metadata.at("model"), "outer");
  EXPECT_EQ(report.loaded, (std::vector<std::string>{"scale", "inner.weight", "inner.bias",
                                                     "inner.stats", "inner.count"}));
  EXPECT_TRUE(report.missing.empty() && report.unexpected.empty());
  EXPECT_TRUE(weight_handle.same(loaded.inner->weight));
  EXPECT_TRUE(loaded.inner->weight.requires_grad());
  for (const auto& [name, t] : nn::module_state(loaded)) {
    const auto expected = std::find_if(file.tensors.begin(), file.tensors.end(),
                                       [&](const auto& e) { return e.first == name; });
    ASSERT_NE(expected, file.tensors.end()) << name;
    EXPECT_EQ(bytes_of(t), bytes_of(expected->second)) << name;
  }
  EXPECT_EQ(loaded.inner->count.item<int64_t>(), 7);
  EXPECT_EQ(loaded.inner->weight.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(SafetensorsModule, StrictLoadErrorsNameTheTensorAndWriteNothing) {
  Outer model;
  fill_all(model, 9.0);
  NamedTensors full_state;
  for (const auto& [name, t] : nn::module_state(Outer())) full_state.emplace_back(name, t);
  auto without = [&](const std::string& drop) {
    NamedTensors out;
    for (const auto& e : full_state)
      if (e.first != drop) out.push_back(e);
    return out;
  };
  auto replaced = [&](const std::string& name, const Tensor& t) {
    NamedTensors out = full_state;
    for (auto& e : out)
      if (e.first == name) e.second = t;
    return out;
  };
  const NamedTensors targets = nn::module_state(model);
  expect_error([&] { nn::load_into(targets, without("inner.bias"), {}, "ckpt"); },
               {"1 missing tensor(s) in ckpt", "'inner.bias'"});
  NamedTensors extra = full_state;
  extra.emplace_back("inner.ghost", ones({1}));
  expect_error([&] { nn::load_into(targets, extra, {}, "ckpt"); },
               {"1 unexpected tensor(s) in ckpt", "'inner.ghost'"});
  expect_error([&] { nn::load_into(targets, replaced("inner.weight", ones({3, 2})), {}, "ckpt"); },
               {"shape mismatch for tensor 'inner.weight'", "ckpt has [3, 2]", "the target is [2, 3]"});
  expect_error([&] { nn::load_into(targets, replaced("inner.stats", ones({2}, {.dtype = DType::Float64})), {}, "ckpt"); },
               {"dtype mismatch for tensor 'inner.stats'", "ckpt has float64", "the target is float32"});
  // Nothing was written by any failed load, even to tensors listed before the bad one.
  for (const auto& [name, t] : targets)
    for (double v : t.to_vector<double>()) EXPECT_EQ(v, 9.0) << name;
  // Shape mismatches are errors even when not strict.
  expect_error([&] { nn::load_into(targets, replaced("scale", ones({4})), {.strict = false}); },
               {"shape mismatch for tensor 'scale'"});
}

TEST(SafetensorsModule, NonStrictAndDTypeConversion) {
  Outer model;
  fill_all(model, 0.0);
  NamedTensors source = {{"scale", from_vector<double>({1.5, 2.5, 3.5}, {3}, {.dtype = DType::Float64})},
                         {"inner.count", from_vector<int64_t>({42}, {}, {.dtype = DType::Int64})},
                         {"head.weight", ones({1})}};
  const nn::LoadReport report =
      nn::load_into(nn::module_state(model), source, {.strict = false, .convert_dtype = true});
  EXPECT_EQ(report.loaded, (std::vector<std::string>{"scale", "inner.count"}));
  EXPECT_EQ(report.missing, (std::vector<std::string>{"inner.weight", "inner.bias", "inner.stats"}));
  EXPECT_EQ(report.unexpected, (std::vector<std::string>{"head.weight"}));
  EXPECT_EQ(model.scale.dtype(), DType::Float32);
  EXPECT_EQ(model.scale.to_vector<float>(), (std::vector<float>{1.5f, 2.5f, 3.5f}));
  EXPECT_EQ(model.inner->count.item<int64_t>(), 42);
  EXPECT_EQ(model.inner->weight.to_vector<float>(), std::vector<float>(6, 0.0f));
  // Duplicate names in the source are an error.
  expect_error([&] { nn::load_into(nn::module_state(model), {{"scale", ones({3})}, {"scale", ones({3})}}); },
               {"duplicate tensor 'scale'"});
}

// GPU tensors are copied to the host on save and loaded back in place on the GPU (targets keep
// their device); the bytes match a CPU model's file exactly.
TEST(SafetensorsModule, SavesAndLoadsAModuleOnTheGpu) {
  EMBER_REQUIRE_CUDA();
  TempDir dir;
  Outer cpu_model;
  Outer gpu_model;
  gpu_model.to(Device::cuda(0));
  nn::save_module(gpu_model, dir.file("gpu.safetensors"));
  nn::save_module(cpu_model, dir.file("cpu.safetensors"));
  EXPECT_EQ(read_file(dir.file("gpu.safetensors")), read_file(dir.file("cpu.safetensors")));

  Outer loaded;
  loaded.to(Device::cuda(0));
  fill_all(loaded, 0.0);
  nn::load_module(loaded, dir.file("cpu.safetensors"));
  EXPECT_TRUE(loaded.inner->weight.is_cuda());
  EXPECT_EQ(loaded.inner->weight.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(loaded.inner->count.item<int64_t>(), 7);
}

}  // namespace
}  // namespace ember

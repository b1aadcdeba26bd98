// EuroSAT loading, the split reader, the derived sets and the decoded cache, on tiny datasets of
// 64x64 JPEGs this file writes into a temporary folder (every bad input gives an
// ember::Error naming the file), plus the real-data integration test, which skips when
// ../shared/data (or $EMBER_DATA) is absent.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <random>

#include "datasets/derived.h"
#include "datasets/eurosat.h"
#include "datasets/image_cache.h"
#include "datasets/image_io.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using namespace datasets;
namespace fs = std::filesystem;

// A flat colour per image (flat blocks survive JPEG almost exactly), distinct per class and index.
std::vector<uint8_t> flat_image(int value, int h = 64, int w = 64, int c = 3) {
  std::vector<uint8_t> px(static_cast<size_t>(h) * w * c);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(value + 20 * (i % c));
  return px;
}

// A 64x64 single-channel (grayscale) baseline JPEG of flat grey 128, built by hand because
// stb_image_write always writes three channels. Level-shifted, every coefficient is 0, so with a
// one-code Huffman table each (DC, AC) symbol pair costs 2 bits: 64 blocks fill 16 zero bytes.
std::string gray_jpeg_bytes() {
  std::string j = "\xFF\xD8";                                          // SOI
  j += std::string("\xFF\xDB\x00\x43\x00", 5) + std::string(64, '\x01');  // DQT table 0
  j += std::string("\xFF\xC0\x00\x0B\x08\x00\x40\x00\x40\x01\x01\x11\x00", 13);  // SOF0 1 comp
  std::string counts(16, '\0');
  counts[0] = 1;  // one code of length 1
  j += std::string("\xFF\xC4\x00\x26", 4);  // DHT: DC 0 (category 0), AC 0 (EOB)
  j += std::string(1, '\x00') + counts + std::string(1, '\x00');
  j += std::string(1, '\x10') + counts + std::string(1, '\x00');
  j += std::string("\xFF\xDA\x00\x08\x01\x01\x00\x00\x3F\x00", 10);  // SOS
  j += std::string(16, '\0');                                           // 64 empty blocks
  j += "\xFF\xD9";                                                     // EOI
  return j;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A temporary data root: EuroSAT_RGB/<Class>/<Class>_<k>.jpg for k = 1..per_class[c].
class DatasetsEuroSat : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("ember_eurosat_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    options_.threads = 3;
    options_.cache_dir = root_ / "cache";
    options_.verbose = false;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  fs::path images() const { return root_ / "EuroSAT_RGB"; }
  fs::path file(const std::string& cls, int k) const {
    return images() / cls / (cls + "_" + std::to_string(k) + ".jpg");
  }
  void make_images(int per_class) {
    const auto& classes = eurosat_class_names();
    for (size_t c = 0; c < classes.size(); ++c) {
      fs::create_directories(images() / classes[c]);
      for (int k = 1; k <= per_class; ++k)
        write_jpeg(file(classes[c], k), flat_image(static_cast<int>(10 * c + k)), 64, 64, 3);
    }
  }
  // Split lists: for each class, images 1..a to train, the next b to val, the next to test.
  void make_lists(int a, int b, int c) {
    fs::create_directories(root_ / "splits");
    std::ofstream train(root_ / "splits/eurosat-train.txt"), val(root_ / "splits/eurosat-val.txt"),
        test(root_ / "splits/eurosat-test.txt");
    for (const std::string& cls : eurosat_class_names())
      for (int k = 1; k <= a + b + c; ++k)
        (k <= a ? train : k <= a + b ? val : test) << cls << "_" << k << ".jpg\n";
  }
  void write_list(const std::string& split, const std::string& text) {
    fs::create_directories(root_ / "splits");
    write_bytes(root_ / "splits" / ("eurosat-" + split + ".txt"), text);
  }

  fs::path root_;
  LoadOptions options_;
};

// ---- single images ----

TEST_F(DatasetsEuroSat, DecodesPngExactlyAndJpegClosely) {
  std::vector<uint8_t> px(64 * 64 * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 7);
  write_png(root_ / "a.png", px, 64, 64, 3);
  EXPECT_EQ(decode_image(root_ / "a.png", 64, 64, 3), px);
  write_jpeg(root_ / "b.jpg", flat_image(100), 64, 64, 3);
  const auto got = decode_image(root_ / "b.jpg", 64, 64, 3);
  const auto want = flat_image(100);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 3) << i;
}

TEST_F(DatasetsEuroSat, HeaderGivesSizeAndChannelsWithoutDecoding) {
  write_png(root_ / "a.png", std::vector<uint8_t>(5 * 7 * 4, 9), 5, 7, 4);
  const ImageHeader png = read_image_header(root_ / "a.png");
  EXPECT_EQ(png.height, 5);
  EXPECT_EQ(png.width, 7);
  EXPECT_EQ(png.channels, 4);
  write_jpeg(root_ / "b.jpg", flat_image(50, 32, 48), 32, 48, 3);
  const ImageHeader jpeg = read_image_header(root_ / "b.jpg");
  EXPECT_EQ(jpeg.height, 32);
  EXPECT_EQ(jpeg.width, 48);
  EXPECT_EQ(jpeg.channels, 3);
  write_bytes(root_ / "text.png", "not an image");
  testing::expect_error([&] { read_image_header(root_ / "text.png"); },
                        {(root_ / "text.png").string(), "corrupt"});
}

TEST_F(DatasetsEuroSat, BadImagesNameTheFileAndTheProblem) {
  const fs::path good = root_ / "good.jpg";
  write_jpeg(good, flat_image(50), 64, 64, 3);
  const std::string bytes = read_bytes(good);

  const fs::path missing = root_ / "missing.jpg";
  testing::expect_error([&] { decode_image(missing, 64, 64, 3); }, {missing.string(), "cannot open"});

  const fs::path empty_file = root_ / "empty.jpg";
  write_bytes(empty_file, "");
  testing::expect_error([&] { decode_image(empty_file, 64, 64, 3); }, {empty_file.string(), "empty"});

  const fs::path text = root_ / "text.jpg";
  write_bytes(text, "this is not an image at all");
  testing::expect_error([&] { decode_image(text, 64, 64, 3); }, {text.string(), "corrupt"});

  // A JPEG header followed by garbage: stb rejects it.
  const fs::path garbled = root_ / "garbled.jpg";
  std::string g = bytes.substr(0, 4) + std::string(200, '\x13') + "\xFF\xD9";
  write_bytes(garbled, g);
  testing::expect_error([&] { decode_image(garbled, 64, 64, 3); }, {garbled.string(), "corrupt"});

  const fs::path truncated = root_ / "truncated.jpg";
  write_bytes(truncated, bytes.substr(0, bytes.size() / 2));
  testing::expect_error([&] { decode_image(truncated, 64, 64, 3); }, {truncated.string(), "truncated"});

  const fs::path small = root_ / "small.jpg";
  write_jpeg(small, flat_image(50, 32, 48), 32, 48, 3);
  testing::expect_error([&] { decode_image(small, 64, 64, 3); },
                        {small.string(), "48x32", "expected 64x64"});

  const fs::path gray = root_ / "gray.jpg";
  write_bytes(gray, gray_jpeg_bytes());
  testing::expect_error([&] { decode_image(gray, 64, 64, 3); },
                        {gray.string(), "1 channel(s), expected 3"});

  // A Huffman table whose code counts (17 codes of 15 bits, 255 of 16) add up to 272, more than
  // the 256 symbols a table holds, placed before the file's own tables (found by
  // fuzz/fuzz_image.cpp). Debian 12's stb_image wrote past its arrays, and since the file's own
  // table 0 then replaced this one, decoded the image as if nothing were wrong.
  const fs::path dht = root_ / "dht.jpg";
  std::string table = std::string("\xFF\xC4\x01\x23\x00", 5) + std::string(14, '\0') + "\x11\xFF";
  table += std::string(272, '\0');  // the symbols: 2 + 1 + 16 + 272 = 0x123 bytes with the length
  write_bytes(dht, bytes.substr(0, 2) + table + bytes.substr(2));
  testing::expect_error([&] { decode_image(dht, 64, 64, 3); },
                        {dht.string(), "corrupt", "Huffman table lists 272 codes"});
  // read_image_header makes the same check before stb reads the header.
  testing::expect_error([&] { read_image_header(dht); },
                        {dht.string(), "corrupt", "Huffman table lists 272 codes"});
  // A table cut by the file's end: stb reads zeros past the end, so the count bytes that are there
  // still count (0x50 + 0xFF + 0xD9 = 552; the last two are the end-of-image marker).
  write_bytes(dht, std::string("\xFF\xD8\xFF\xC4\x00\x15\x01", 7) + std::string(12, '\0') +
                       "\x50\xFF\xD9");
  testing::expect_error([&] { read_image_header(dht); },
                        {dht.string(), "corrupt", "Huffman table lists 552 codes"});
  // A scan that uses a Huffman table no DHT defined: stb decoded with uninitialised tables. The
  // stb writer's scan header gives its first component the DC and AC tables 0 (byte 0x00);
  // make that AC table 2.
  const size_t sos = bytes.find("\xFF\xDA");
  ASSERT_NE(sos, std::string::npos);
  std::string undefined_table = bytes;
  ASSERT_EQ(undefined_table[sos + 6], '\x00');
  undefined_table[sos + 6] = '\x02';
  write_bytes(dht, undefined_table);
  testing::expect_error([&] { decode_image(dht, 64, 64, 3); },
                        {dht.string(), "corrupt", "uses the AC Huffman table 2", "no DHT"});
  // The same table as the second of one DHT segment, after a valid one.
  std::string two = std::string("\xFF\xC4\x01\x35\x10", 5) + std::string(15, '\0') +
                    std::string("\x01\x00", 2);  // one 16-bit code, its symbol
  two += table.substr(4);  // 2 + 18 + 289 = 0x135
  write_bytes(dht, bytes.substr(0, 2) + two + bytes.substr(2));
  testing::expect_error([&] { decode_image(dht, 64, 64, 3); },
                        {dht.string(), "corrupt", "Huffman table lists 272 codes"});
}

TEST_F(DatasetsEuroSat, PngChunksMustLieInsideTheFile) {
  write_png(root_ / "a.png", std::vector<uint8_t>(4 * 4 * 3, 7), 4, 4, 3);
  const std::string bytes = read_bytes(root_ / "a.png");
  const size_t idat = bytes.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  // An IDAT chunk that claims 2 GiB: stb allocated that much before reading a byte of it.
  std::string huge = bytes;
  huge.replace(idat - 4, 4, std::string("\x7F\xFF\xFF\xFF", 4));
  const fs::path bad = root_ / "bad.png";
  write_bytes(bad, huge);
  testing::expect_error([&] { decode_image(bad, 4, 4, 3); },
                        {bad.string(), "corrupt", "chunk 'IDAT' claims 2147483647 bytes"});
  testing::expect_error([&] { read_image_header(bad); }, {bad.string(), "IDAT"});
  // Cut before its IEND chunk.
  write_bytes(bad, bytes.substr(0, bytes.size() - 12));
  testing::expect_error([&] { decode_image(bad, 4, 4, 3); },
                        {bad.string(), "truncated", "no IEND chunk"});
}

TEST_F(DatasetsEuroSat, UnreadableFileIsNamed) {
  // A folder where a file should be opens but cannot be read: the read error path, even as root.
  fs::create_directories(root_ / "folder.jpg");
  testing::expect_error([&] { decode_image(root_ / "folder.jpg", 64, 64, 3); },
                        {(root_ / "folder.jpg").string(), "cannot"});

  const fs::path locked = root_ / "locked.jpg";
  write_jpeg(locked, flat_image(50), 64, 64, 3);
  ASSERT_EQ(::chmod(locked.c_str(), 0), 0);
  if (std::ifstream(locked).good()) {
    ::chmod(locked.c_str(), 0644);
    GTEST_SKIP() << "running as root: a chmod 000 file is still readable";
  }
  testing::expect_error([&] { decode_image(locked, 64, 64, 3); },
                        {locked.string(), "cannot open", "Permission denied"});
  ::chmod(locked.c_str(), 0644);
}

// ---- folders, lists, roots ----

TEST_F(DatasetsEuroSat, DataRootFlagAndEnvMustPointAtData) {
  testing::expect_error([&] { resolve_data_root((root_ / "nowhere").string()); },
                        {(root_ / "nowhere").string(), "no EuroSAT_RGB"});
  make_images(1);
  EXPECT_EQ(resolve_data_root(root_.string()), root_);
  testing::expect_error([&] { resolve_data_root(images().string()); },
                        {images().string(), "not EuroSAT_RGB itself"});
  const char* old = std::getenv("EMBER_DATA");
  const std::string saved = old ? old : "";
  ::setenv("EMBER_DATA", (root_ / "elsewhere").c_str(), 1);
  testing::expect_error([&] { resolve_data_root(""); }, {"EMBER_DATA", "elsewhere"});
  ::setenv("EMBER_DATA", root_.c_str(), 1);
  EXPECT_EQ(resolve_data_root(""), root_);
  EXPECT_EQ(resolve_data_root(root_.string()), root_);  // the flag wins over the env
  if (old) ::setenv("EMBER_DATA", saved.c_str(), 1); else ::unsetenv("EMBER_DATA");
}

TEST_F(DatasetsEuroSat, MissingRootMissingClassAndEmptyClassAreErrors) {
  testing::expect_error([&] { load_eurosat(root_, options_); },
                        {images().string(), "does not exist"});
  make_images(1);
  fs::remove_all(images() / "Pasture");
  testing::expect_error([&] { load_eurosat(root_, options_); },
                        {(images() / "Pasture").string(), "missing"});
  fs::create_directories(images() / "Pasture");
  testing::expect_error([&] { load_eurosat(root_, options_); },
                        {(images() / "Pasture").string(), "empty"});
  fs::create_directories(images() / "Clouds");
  write_jpeg(images() / "Pasture/Pasture_1.jpg", flat_image(1), 64, 64, 3);
  testing::expect_error([&] { load_eurosat(root_, options_); }, {"Clouds", "unexpected"});
}

TEST_F(DatasetsEuroSat, SplitReaderWithAndWithoutFinalNewline) {
  make_images(3);
  const auto& classes = eurosat_class_names();
  write_list("train", "Forest_1.jpg\n\nRiver_2.jpg\r\n  SeaLake_3.jpg");
  const auto a = read_split_list(root_ / "splits/eurosat-train.txt", images(), classes);
  write_list("train", "Forest_1.jpg\nRiver_2.jpg\nSeaLake_3.jpg\n\n");
  const auto b = read_split_list(root_ / "splits/eurosat-train.txt", images(), classes);
  const std::vector<std::pair<std::string, int64_t>> want = {
      {"Forest_1.jpg", 1}, {"River_2.jpg", 8}, {"SeaLake_3.jpg", 9}};
  EXPECT_EQ(a, want);
  EXPECT_EQ(b, want);
}

TEST_F(DatasetsEuroSat, SplitNamingABadFileNamesListLineAndFile) {
  make_images(2);
  const auto& classes = eurosat_class_names();
  const fs::path list = root_ / "splits/eurosat-val.txt";
  write_list("val", "Forest_1.jpg\nForest_9.jpg");
  testing::expect_error([&] { read_split_list(list, images(), classes); },
                        {list.string() + ":2:", "Forest_9.jpg", "does not exist"});
  write_list("val", "Forest_1.jpg\n\nCloud_1.jpg\n");
  testing::expect_error([&] { read_split_list(list, images(), classes); },
                        {list.string() + ":3:", "Cloud_1.jpg", "known class"});
  write_list("val", "Forest_1.jpg\nForest_1.jpg\n");
  testing::expect_error([&] { read_split_list(list, images(), classes); },
                        {list.string() + ":2:", "twice"});
  write_list("val", "\n\n");
  testing::expect_error([&] { read_split_list(list, images(), classes); },
                        {list.string(), "names no files"});
  // Through the whole loader too, and one list missing out of three is an error, not a fallback.
  make_lists(1, 1, 0);
  write_list("test", "Forest_2.jpg");
  write_list("val", "Forest_7.jpg");
  testing::expect_error([&] { load_eurosat(root_, options_); }, {"eurosat-val.txt:1:", "Forest_7.jpg"});
  fs::remove(list);
  testing::expect_error([&] { load_eurosat(root_, options_); }, {"missing", "eurosat-val.txt"});
}

TEST_F(DatasetsEuroSat, BadImageInTheSetFailsTheLoadNamingIt) {
  make_images(3);
  make_lists(1, 1, 1);
  const std::string bytes = read_bytes(file("River", 2));
  write_bytes(file("River", 2), bytes.substr(0, bytes.size() / 3));
  write_bytes(file("Forest", 3), gray_jpeg_bytes());
  // The first bad file in list order is named (train, val, test: River_2 is in val and Forest_3
  // in test, so River_2 comes first), with a count of the others: never a smaller set.
  testing::expect_error([&] { load_eurosat(root_, options_); },
                        {file("River", 2).string(), "truncated", "1 more"});
}

TEST_F(DatasetsEuroSat, LoadsInListOrderWhateverTheThreadCount) {
  make_images(4);
  make_lists(2, 1, 1);
  options_.use_cache = false;
  options_.threads = 1;
  const EuroSat one = load_eurosat(root_, options_);
  options_.threads = 4;
  const EuroSat four = load_eurosat(root_, options_);
  ASSERT_EQ(one.train.size(), 20);
  EXPECT_EQ(one.val.size(), 10);
  EXPECT_EQ(one.test.size(), 10);
  EXPECT_FALSE(one.fallback_split);
  EXPECT_EQ(one.train.images.shape(), (Shape{20, 64, 64, 3}));
  EXPECT_EQ(one.train.images.to_vector<uint8_t>(), four.train.images.to_vector<uint8_t>());
  EXPECT_EQ(one.test.files, four.test.files);
  // Row i is the file the list names at i, with its class label: its flat colour says so.
  const auto labels = one.train.labels.to_vector<int64_t>();
  const uint8_t* px = one.train.images.data<uint8_t>();
  for (int64_t i = 0; i < one.train.size(); ++i) {
    const std::string& name = one.train.files[i];
    const int64_t c = labels[i];
    EXPECT_EQ(name.rfind(eurosat_class_names()[c] + "_", 0), 0u) << name;
    const int k = std::stoi(name.substr(name.rfind('_') + 1));
    EXPECT_NEAR(px[i * 64 * 64 * 3], 10 * c + k, 3) << name;
  }
}

TEST_F(DatasetsEuroSat, FallbackSplitIsStratifiedSeededAndLoud) {
  make_images(10);
  options_.use_cache = false;
  ::testing::internal::CaptureStderr();
  const EuroSat a = load_eurosat(root_, options_, 7);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("SEEDED STRATIFIED 60/20/20"), std::string::npos) << log;
  EXPECT_TRUE(a.fallback_split);
  EXPECT_EQ(class_counts(a.train), std::vector<int64_t>(10, 6));
  EXPECT_EQ(class_counts(a.val), std::vector<int64_t>(10, 2));
  EXPECT_EQ(class_counts(a.test), std::vector<int64_t>(10, 2));
  const EuroSat b = load_eurosat(root_, options_, 7);
  const EuroSat c = load_eurosat(root_, options_, 8);
  EXPECT_EQ(a.train.files, b.train.files);
  EXPECT_NE(a.train.files, c.train.files);
}

// ---- derived sets ----

// An ImageSet with counts[c] images of class c (1x1x1 pixels holding the index).
ImageSet synthetic_set(const std::vector<int64_t>& counts) {
  ImageSet set;
  const auto& classes = eurosat_class_names();
  set.class_names.assign(classes.begin(), classes.begin() + counts.size());
  std::vector<int64_t> labels;
  for (size_t c = 0; c < counts.size(); ++c)
    for (int64_t k = 0; k < counts[c]; ++k) {
      labels.push_back(static_cast<int64_t>(c));
      set.files.push_back(set.class_names[c] + "_" + std::to_string(k + 1) + ".jpg");
    }
  const int64_t n = static_cast<int64_t>(labels.size());
  // Interleave classes so the "keeps input order" check means something.
  std::mt19937 rng(3);
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<int64_t> shuffled_labels(n);
  std::vector<std::string> shuffled_files(n);
  std::vector<uint8_t> px(n);
  for (int64_t i = 0; i < n; ++i) {
    shuffled_labels[i] = labels[order[i]];
    shuffled_files[i] = set.files[order[i]];
    px[i] = static_cast<uint8_t>(i);
  }
  set.files = shuffled_files;
  set.labels = from_vector<int64_t>(shuffled_labels, {n}, {.dtype = DType::Int64});
  set.images = from_vector<uint8_t>(px, {n, 1, 1, 1}, {.dtype = DType::UInt8});
  return set;
}

TEST(DatasetsUnbalanced, KeepsRoundedFifteenPercentOfHighwayAndRiver) {
  // Highway (3): 20 -> 3; River (8): 10 -> round(1.5) = 2; others untouched.
  const ImageSet train = synthetic_set({5, 4, 3, 20, 2, 1, 1, 1, 10, 6});
  const ImageSet u = make_unbalanced(train, 42);
  EXPECT_EQ(class_counts(u), (std::vector<int64_t>{5, 4, 3, 3, 2, 1, 1, 1, 2, 6}));
  // The rows kept are the input's rows, in input order, with their own pixels and labels.
  const auto px = u.images.to_vector<uint8_t>();
  for (size_t i = 1; i < px.size(); ++i) EXPECT_LT(px[i - 1], px[i]);
  for (size_t i = 0; i < px.size(); ++i) EXPECT_EQ(u.files[i], train.files[px[i]]);
  // Reproducible: same seed, same files; another seed, other Highway files.
  EXPECT_EQ(make_unbalanced(train, 42).files, u.files);
  EXPECT_NE(make_unbalanced(train, 43).files, u.files);
  // The rounding rule at its edges.
  EXPECT_EQ(class_counts(make_unbalanced(synthetic_set({0, 0, 0, 7, 0, 0, 0, 0, 3, 0}), 1))[3], 1);
  EXPECT_EQ(class_counts(make_unbalanced(synthetic_set({0, 0, 0, 7, 0, 0, 0, 0, 3, 0}), 1))[8], 0);
  EXPECT_EQ(class_counts(make_unbalanced(synthetic_set({0, 0, 0, 1500, 0, 0, 0, 0, 1470, 0}), 1))[8], 221);
  EXPECT_ERROR_MENTIONS(make_unbalanced(train, 1, {"Lake"}), "Lake");
}

TEST(DatasetsUnbalanced, WritesTheKeptFilesForAuditing) {
  const ImageSet u = make_unbalanced(synthetic_set({2, 0, 0, 20, 0, 0, 0, 0, 10, 1}), 5);
  const fs::path path = fs::temp_directory_path() / ("ember_unbalanced_" + std::to_string(::getpid()) + ".txt");
  write_file_list(path, u);
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  fs::remove(path);
  EXPECT_EQ(lines, u.files);
  EXPECT_EQ(lines.size(), 2u + 3u + 2u + 1u);
}

TEST(DatasetsClassWeights, BalancedFormula) {
  const ImageSet set = synthetic_set({4, 2, 2});  // 8 samples, 3 classes
  const auto w = balanced_class_weights(set);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_DOUBLE_EQ(w[0], 8.0 / (3 * 4));
  EXPECT_DOUBLE_EQ(w[1], 8.0 / (3 * 2));
  EXPECT_DOUBLE_EQ(w[2], 8.0 / (3 * 2));
  EXPECT_ERROR_MENTIONS(balanced_class_weights(synthetic_set({4, 0, 2})), "'Forest' has no images");
}

// ---- the decoded cache ----

TEST_F(DatasetsEuroSat, CacheHitStaleDamagedAndTruncatedAreHandled) {
  make_images(3);
  make_lists(1, 1, 1);
  const EuroSat cold = load_eurosat(root_, options_);
  EXPECT_FALSE(cold.stats.from_cache);
  EXPECT_EQ(cold.stats.cache_note, "written");
  ASSERT_TRUE(fs::exists(cold.stats.cache_file));
  const fs::path cache = cold.stats.cache_file;
  EXPECT_EQ(cache.parent_path(), options_.cache_dir);

  const EuroSat hit = load_eurosat(root_, options_);
  EXPECT_TRUE(hit.stats.from_cache) << hit.stats.cache_note;
  EXPECT_EQ(hit.train.images.to_vector<uint8_t>(), cold.train.images.to_vector<uint8_t>());
  EXPECT_EQ(hit.test.labels.to_vector<int64_t>(), cold.test.labels.to_vector<int64_t>());
  EXPECT_EQ(hit.train.files, cold.train.files);

  // A source image changes: stale, rebuilt with the new pixels, then a hit again.
  write_jpeg(file("Highway", 1), flat_image(200), 64, 64, 3);
  fs::last_write_time(file("Highway", 1), fs::last_write_time(file("Highway", 1)) + std::chrono::seconds(5));
  const EuroSat stale = load_eurosat(root_, options_);
  EXPECT_FALSE(stale.stats.from_cache);
  EXPECT_NE(stale.stats.cache_note.find("stale: Highway_1.jpg changed"), std::string::npos)
      << stale.stats.cache_note;
  EXPECT_NEAR(stale.train.images.data<uint8_t>()[3 * 64 * 64 * 3], 200, 3);
  EXPECT_TRUE(load_eurosat(root_, options_).stats.from_cache);

  // One flipped pixel byte: the checksum catches it.
  std::string bytes = read_bytes(cache);
  bytes[bytes.size() - 100] ^= 0x40;
  write_bytes(cache, bytes);
  const EuroSat damaged = load_eurosat(root_, options_);
  EXPECT_FALSE(damaged.stats.from_cache);
  EXPECT_NE(damaged.stats.cache_note.find("damaged: checksum"), std::string::npos)
      << damaged.stats.cache_note;
  EXPECT_EQ(damaged.train.images.to_vector<uint8_t>(), stale.train.images.to_vector<uint8_t>());

  // Truncated (an interrupted copy), and cut inside the index.
  for (size_t keep : {read_bytes(cache).size() - 1000, size_t{60}, size_t{5}}) {
    write_bytes(cache, read_bytes(cache).substr(0, keep));
    const EuroSat cut = load_eurosat(root_, options_);
    EXPECT_FALSE(cut.stats.from_cache);
    EXPECT_NE(cut.stats.cache_note.find("damaged"), std::string::npos) << cut.stats.cache_note;
    EXPECT_TRUE(load_eurosat(root_, options_).stats.from_cache);
  }
  // A different list gets its own cache file; no temp files are left behind.
  write_list("val", "Forest_2.jpg");
  const EuroSat other = load_eurosat(root_, options_);
  EXPECT_NE(other.stats.cache_file, cache);
  for (const auto& entry : fs::directory_iterator(options_.cache_dir))
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << entry.path();
}

TEST(DatasetsCache, DigestSeesEveryByte) {
  std::vector<uint8_t> data(1000, 7);
  const uint64_t base = fast_digest(data.data(), data.size());
  for (size_t i : {size_t{0}, size_t{31}, size_t{500}, size_t{999}}) {
    data[i] ^= 1;
    EXPECT_NE(fast_digest(data.data(), data.size()), base) << i;
    data[i] ^= 1;
  }
  EXPECT_NE(fast_digest(data.data(), 999), base);
}

// ---- the real data ----

// Per-class counts of a split list, read independently of the loader.
std::map<std::string, int64_t> list_counts(const fs::path& list) {
  std::map<std::string, int64_t> counts;
  std::ifstream in(list);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) ++counts[line.substr(0, line.rfind('_'))];
  return counts;
}

TEST(DatasetsEuroSatRealData, CountsMatchTheListsAndUnbalancedIsReproducible) {
  fs::path root;
  try {
    root = resolve_data_root("");
  } catch (const Error& e) {
    GTEST_SKIP() << "EuroSAT data absent (" << e.what() << ")";
  }
  if (!fs::exists(root / "splits/eurosat-train.txt")) GTEST_SKIP() << "no split lists under " << root;
  LoadOptions options;
  options.use_cache = false;  // a test leaves no 333 MB cache file behind (decoding takes ~2 s)
  options.verbose = false;
  const EuroSat data = load_eurosat(root, options);
  EXPECT_FALSE(data.fallback_split);
  EXPECT_EQ(data.train.size(), 16200);
  EXPECT_EQ(data.val.size(), 5400);
  EXPECT_EQ(data.test.size(), 5400);
  EXPECT_EQ(data.train.images.shape(), (Shape{16200, 64, 64, 3}));
  const auto& classes = eurosat_class_names();
  EXPECT_EQ(data.train.class_names, classes);
  const std::pair<const char*, const ImageSet*> splits[] = {
      {"train", &data.train}, {"val", &data.val}, {"test", &data.test}};
  for (const auto& [name, set] : splits) {
    const auto want = list_counts(root / "splits" / (std::string("eurosat-") + name + ".txt"));
    const auto got = class_counts(*set);
    for (size_t c = 0; c < classes.size(); ++c)
      EXPECT_EQ(got[c], want.at(classes[c])) << name << " " << classes[c];
  }
  const auto train_counts = class_counts(data.train);
  const ImageSet a = make_unbalanced(data.train, 0), b = make_unbalanced(data.train, 0);
  const auto counts = class_counts(a);
  for (size_t c = 0; c < classes.size(); ++c) {
    const bool reduced = classes[c] == "Highway" || classes[c] == "River";
    EXPECT_EQ(counts[c], reduced ? (train_counts[c] * 15 + 50) / 100 : train_counts[c]) << classes[c];
  }
  EXPECT_EQ(a.files, b.files);
  EXPECT_EQ(a.images.to_vector<uint8_t>(), b.images.to_vector<uint8_t>());
  EXPECT_NE(make_unbalanced(data.train, 1).files, a.files);
}

}  // namespace
}  // namespace ember

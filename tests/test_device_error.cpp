// The host half of the deferred device errors (tensor/device_error.h), on the CPU in every
// build: each record formats into the message the CPU path throws for the same problem (taken
// from the CPU ops themselves, so a change of wording on one side fails here), plus the position
// the GPU adds, and the deferred message says where the report came from. The records' round
// trip through a GPU is tested in tests/test_cuda_index.cpp and tests/test_cuda_loss.cpp.
#include <gtest/gtest.h>

#include <string>

#include "ops/ops.h"
#include "tensor/device_error.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using testing::error_of;

DeviceErrorRecord record_of(DeviceErrorCode code, int64_t value, int64_t position, int64_t bound,
                            int64_t axis) {
  DeviceErrorRecord r;
  r.code = static_cast<int32_t>(code);
  r.value = value;
  r.position = position;
  r.bound = bound;
  r.axis = axis;
  return r;
}

// The CPU message names the indexed tensor after "for axis <a>"; the GPU cannot, and says where
// the entry was instead. Everything up to there must be the same text.
void expect_same_index_message(const std::string& cpu, const std::string& gpu) {
  const size_t cut = cpu.find(" of ", cpu.find("for axis"));
  ASSERT_NE(cut, std::string::npos) << cpu;
  EXPECT_EQ(gpu.substr(0, cut), cpu.substr(0, cut)) << "cpu: " << cpu << "\ngpu: " << gpu;
}

TEST(DeviceError, IndexRecordsReadLikeTheCpuErrors) {
  const Tensor x = full({3, 5}, 1.0);
  const Tensor bad = from_vector<int64_t>({0, 1, 4, 99, 2, -4}, {3, 2}, {.dtype = DType::Int64});
  const std::string gather_gpu =
      format_device_error(record_of(DeviceErrorCode::GatherIndex, 99, 3, 5, 1));
  expect_same_index_message(error_of([&] { gather(x, 1, bad); }), gather_gpu);
  EXPECT_EQ(gather_gpu,
            "gather: index 99 is out of range [0, 5) for axis 1 (index entry 3 in row-major order)");

  expect_same_index_message(
      error_of([&] { scatter_add({3, 5}, 1, bad, full({3, 2}, 1.0)); }),
      format_device_error(record_of(DeviceErrorCode::ScatterAddIndex, 99, 3, 5, 1)));

  const Tensor table = full({10, 4}, 1.0);
  const Tensor labels = from_vector<int64_t>({3, 9, -1, 2}, {4}, {.dtype = DType::Int64});
  const std::string embedding_gpu =
      format_device_error(record_of(DeviceErrorCode::EmbeddingIndex, -1, 2, 10, 0));
  expect_same_index_message(error_of([&] { embedding(table, labels); }), embedding_gpu);
  EXPECT_NE(embedding_gpu.find("index entry 2"), std::string::npos) << embedding_gpu;

  expect_same_index_message(
      error_of([&] { embedding_backward(full({4, 4}, 1.0), labels, 10); }),
      format_device_error(record_of(DeviceErrorCode::EmbeddingBackwardIndex, -1, 2, 10, 0)));
}

TEST(DeviceError, CrossEntropyRecordIsTheCpuError) {
  const Tensor x = full({3, 4}, 0.5);
  const Tensor target = from_vector<int64_t>({0, 4, 1}, {3}, {.dtype = DType::Int64});
  const std::string cpu = error_of([&] { cross_entropy(x, target); });
  const std::string gpu =
      format_device_error(record_of(DeviceErrorCode::CrossEntropyTarget, 4, 1, 4, 0));
  EXPECT_EQ(gpu, "cross_entropy: target label 4 of sample 1 is out of range [0, 4)");
  // The op adds the logits' description; the kernel's wording is the GPU message exactly.
  EXPECT_EQ(cpu.rfind(gpu, 0), 0u) << "cpu: " << cpu << "\ngpu: " << gpu;
}

TEST(DeviceError, DeferredMessageSaysWhereItCameFrom) {
  const DeviceErrorRecord r = record_of(DeviceErrorCode::GatherIndex, -2, 0, 7, 0);
  const std::string later = deferred_device_error_message(r, nullptr);
  EXPECT_EQ(later.rfind(format_device_error(r), 0), 0u) << later;
  EXPECT_NE(later.find("earlier asynchronous kernel"), std::string::npos) << later;
  EXPECT_NE(later.find("EMBER_CUDA_SYNC=1"), std::string::npos) << later;
  const std::string at_once = deferred_device_error_message(r, "index_range_check_kernel");
  EXPECT_EQ(at_once.rfind(format_device_error(r), 0), 0u) << at_once;
  EXPECT_NE(at_once.find("index_range_check_kernel"), std::string::npos) << at_once;
  EXPECT_EQ(at_once.find("earlier"), std::string::npos) << at_once;
}

TEST(DeviceError, UnknownCodeStillShowsTheRecord) {
  const std::string m = format_device_error(record_of(static_cast<DeviceErrorCode>(77), 5, 6, 4, 2));
  EXPECT_EQ(m, "device error 77: value 5 at position 6, valid range [0, 4), axis 2");
}

}  // namespace
}  // namespace ember

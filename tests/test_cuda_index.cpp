// CUDA gather / scatter_add / embedding / embedding_backward (kernels/cuda/index.cu) against the
// CPU reference through ops/index.h: forward and backward (also with create_graph; the ops are
// linear in their float input, so the second-order stage has nothing to compare) in float32 and
// float64, on the shapes that matter (cross-entropy's [N, C] with index [N, 1], a class-weight
// gather with many repeats, a 10-class GAN label embedding), strided operands, and the
// out-of-range error: recorded by the GPU's check and thrown at the next host sync (deferred
// device errors, tensor/cuda/device_errors.h), the first one only, then cleared; the smallest
// bad position across many blocks is the one named. Skipped without a GPU.
//
// Tolerance: exact. Gather and embedding copy values; scatter_add and embedding_backward add,
// per output element, the same terms in the same (row-major index) order as the CPU, in the
// output's dtype, so every stage is bit-identical by design.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ops/index.h"
#include "ops/ops.h"
#include "tensor/memory.h"
#include "tests/device_compare.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using testing::DeviceCompareOptions;
using testing::error_of;
using testing::random_tensor;

const Device kGpu = Device::cuda(0);

DeviceCompareOptions exact(bool double_backward = true) {
  DeviceCompareOptions o;
  o.forward = {0.0, 0.0};
  o.backward = {0.0, 0.0};
  o.double_backward_tol = {0.0, 0.0};
  o.double_backward = double_backward;
  return o;
}

// int64 values uniform in [0, size) on the CPU.
Tensor random_index(const Shape& shape, int64_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> dist(0, size - 1);
  std::vector<int64_t> v(numel_of(shape));
  for (int64_t& i : v) i = dist(rng);
  return from_vector(v, shape, {.dtype = DType::Int64});
}

TEST(CudaIndex, CrossEntropyGatherMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    // logits [N, C] picked at the target class: index [N, 1] along axis 1; the backward is a
    // scatter_add with one candidate per output element.
    const Tensor logits = random_tensor({257, 1000}, 1, dtype, -3.0, 3.0, true);
    const Tensor target = random_index({257, 1}, 1000, 2);
    auto f = [](const TensorList& in) { return gather(in[0], 1, in[1]); };
    EXPECT_CUDA_MATCHES_CPU(f, {logits, target}, exact()) << dtype_name(dtype);
  }
}

TEST(CudaIndex, ClassWeightGatherWithRepeatsMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    // weight [C] gathered at 5000 targets among 7 classes: each weight's gradient adds ~700
    // terms, in index order on both devices.
    const Tensor weight = random_tensor({7}, 3, dtype, 0.1, 2.0, true);
    const Tensor target = random_index({5000}, 7, 4);
    auto f = [](const TensorList& in) { return gather(in[0], 0, in[1]); };
    EXPECT_CUDA_MATCHES_CPU(f, {weight, target}, exact()) << dtype_name(dtype);
  }
}

TEST(CudaIndex, GatherStridedOperandsMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    // x: a transposed [9, 11, 6] view; index: a stride-2 slice, smaller than x off the axis.
    const Tensor x = random_tensor({11, 9, 6}, 5, dtype, -1.0, 1.0, true);
    for (int64_t axis : {0, 1, 2}) {
      const int64_t size = std::vector<int64_t>{9, 11, 6}[axis];
      const Tensor idx = random_index({8, 10, 5}, size, 7 + axis);
      auto f = [axis](const TensorList& in) {
        return gather(in[0].permute({1, 0, 2}), axis, in[1].slice(0, 0, 8, 2));
      };
      EXPECT_CUDA_MATCHES_CPU(f, {x, idx}, exact())
          << dtype_name(dtype) << " axis " << axis;
    }
  }
}

TEST(CudaIndex, ScatterAddMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    // out [6, 5, 4] along axis 1 from index [3, 40, 4]: 40 candidates per output element (many
    // repeats), and out rows 3..5 not reached by the index (left zero).
    const Tensor index = random_index({3, 40, 4}, 5, 8);
    const Tensor src = random_tensor({3, 40, 4}, 9, dtype, -1.0, 1.0, true);
    auto f = [](const TensorList& in) { return scatter_add({6, 5, 4}, 1, in[0], in[1]); };
    EXPECT_CUDA_MATCHES_CPU(f, {index, src}, exact()) << dtype_name(dtype);
    // Strided src (a transposed view) and axis 0.
    const Tensor src_t = random_tensor({4, 40, 3}, 10, dtype, -1.0, 1.0, true);
    const Tensor index0 = random_index({40, 3, 4}, 6, 11);
    auto g = [](const TensorList& in) {
      return scatter_add({6, 5, 4}, 0, in[0], in[1].permute({1, 2, 0}));
    };
    EXPECT_CUDA_MATCHES_CPU(g, {index0, src_t}, exact()) << dtype_name(dtype);
  }
}

TEST(CudaIndex, EmbeddingMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    // A GAN's label embedding: 10 classes, batch 64, D = 128.
    const Tensor table = random_tensor({10, 128}, 12, dtype, -1.0, 1.0, true);
    const Tensor labels = random_index({64}, 10, 13);
    auto f = [](const TensorList& in) { return embedding(in[0], in[1]); };
    EXPECT_CUDA_MATCHES_CPU(f, {table, labels}, exact()) << dtype_name(dtype);
    // A larger table with a 2-D index (600 rows of g: three tiles of the backward's staging),
    // D = 300 (two column tiles, the second partial), weight a column-strided view.
    const Tensor wide = random_tensor({1000, 600}, 14, dtype, -1.0, 1.0, true);
    const Tensor index = random_index({20, 30}, 1000, 15);
    auto g = [](const TensorList& in) { return embedding(in[0].slice(1, 0, 600, 2), in[1]); };
    EXPECT_CUDA_MATCHES_CPU(g, {wide, index}, exact()) << dtype_name(dtype);
  }
}

TEST(CudaIndex, EmbeddingBackwardOpMatchesCpu) {
  EMBER_REQUIRE_CUDA();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    // g [index..., D] strided (a transposed view), 17 rows of out, many repeats.
    const Tensor g = random_tensor({33, 9, 25}, 16, dtype, -1.0, 1.0, true);
    const Tensor index = random_index({9, 25}, 17, 17);
    auto f = [](const TensorList& in) {
      return embedding_backward(in[0].permute({1, 2, 0}), in[1], 17);
    };
    EXPECT_CUDA_MATCHES_CPU(f, {g, index}, exact()) << dtype_name(dtype);
  }
}

// EMBER_CUDA_SYNC=1 checks every launch at once, so a bad index throws at the call itself.
bool sync_mode() {
  const char* v = std::getenv("EMBER_CUDA_SYNC");
  return v && *v && std::string(v) != "0";
}

// Runs `call` (which queues a GPU op with a bad index) and then `sync` (something that waits for
// the GPU). Without sync mode the call must not throw (no host sync) and `sync` must throw the
// deferred error; with it the call throws. Returns the message.
std::string deferred_error(const std::function<void()>& call, const std::function<void()>& sync) {
  if (sync_mode()) return error_of(call);
  EXPECT_EQ(error_of(call), "") << "the bad index must not be reported before a host sync";
  return error_of(sync);
}

void expect_contains(const std::string& message, const std::string& part) {
  EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' missing from: " << message;
}

TEST(CudaIndex, OutOfRangeIndexIsTheCpuErrorAtTheNextSync) {
  EMBER_REQUIRE_CUDA();
  const Tensor x = random_tensor({3, 5}, 18, DType::Float32);
  // Two bad entries: the first in row-major order (99 at position 3) is the one reported.
  const Tensor bad = from_vector<int64_t>({0, 1, 4, 99, 2, -4}, {3, 2}, {.dtype = DType::Int64});
  const Tensor x_gpu = convert(x, DType::Float32, kGpu);
  const Tensor bad_gpu = convert(bad, DType::Int64, kGpu);

  // The CPU names the indexed tensor; the GPU record cannot, and names the entry instead.
  const std::string cpu_gather = error_of([&] { gather(x, 1, bad); });
  const std::string same = "gather: index 99 is out of range [0, 5) for axis 1";
  expect_contains(cpu_gather, same + " of float32[3, 5]");
  Tensor y;
  const std::string gpu_gather = deferred_error([&] { y = gather(x_gpu, 1, bad_gpu); },
                                                [&] { y.to_vector<float>(); });
  expect_contains(gpu_gather, same + " (index entry 3 in row-major order)");
  if (!sync_mode()) {
    expect_contains(gpu_gather, "earlier asynchronous kernel");
    expect_contains(gpu_gather, "EMBER_CUDA_SYNC=1");
  }

  Tensor s;
  const std::string gpu_scatter = deferred_error(
      [&] { s = scatter_add({3, 5}, 1, bad_gpu, convert(x.slice(1, 0, 2), DType::Float32, kGpu)); },
      [&] { s.to(Device::cpu()); });
  expect_contains(gpu_scatter, "scatter_add: index 99 is out of range [0, 5) for axis 1 (index entry 3");

  const Tensor table = convert(random_tensor({10, 4}, 19, DType::Float64), DType::Float64, kGpu);
  const Tensor labels = from_vector<int64_t>({3, 9, 10, 2}, {4}, {.dtype = DType::Int64});
  const Tensor labels_gpu = convert(labels, DType::Int64, kGpu);
  Tensor e;
  const std::string gpu_embedding =
      deferred_error([&] { e = embedding(table, labels_gpu); }, [&] { sum(e).item<double>(); });
  const std::string cpu_embedding =
      error_of([&] { embedding(convert(table, DType::Float64, Device::cpu()), labels); });
  expect_contains(cpu_embedding, "embedding: index 10 is out of range [0, 10) for axis 0 of float64[10, 4]");
  expect_contains(gpu_embedding, "embedding: index 10 is out of range [0, 10) for axis 0 (index entry 2");

  const Tensor g = convert(random_tensor({4, 4}, 20, DType::Float64), DType::Float64, kGpu);
  const std::string gpu_backward = deferred_error(
      [&] { embedding_backward(g, labels_gpu, 10); }, [&] { cuda_synchronize(); });
  expect_contains(gpu_backward, "embedding_backward: index 10 is out of range [0, 10) for axis 0");

  // The record was cleared by each report: a good call afterwards works and nothing throws.
  const Tensor good = from_vector<int64_t>({0, 4, 1, 3, 2, 2}, {3, 2}, {.dtype = DType::Int64});
  std::vector<float> got;
  EXPECT_EQ(error_of([&] { got = gather(x_gpu, 1, convert(good, DType::Int64, kGpu)).to_vector<float>(); }), "");
  EXPECT_EQ(got, gather(x, 1, good).to_vector<float>());
  EXPECT_EQ(error_of([] { cuda_synchronize(); }), "");
}

TEST(CudaIndex, FirstErrorWinsAndLaterOnesAreDropped) {
  EMBER_REQUIRE_CUDA();
  if (sync_mode()) GTEST_SKIP() << "EMBER_CUDA_SYNC=1 reports each error at its own launch";
  const Tensor x = convert(random_tensor({3, 5}, 21, DType::Float32), DType::Float32, kGpu);
  const Tensor table = convert(random_tensor({6, 3}, 22, DType::Float32), DType::Float32, kGpu);
  const Tensor bad_gather = convert(from_vector<int64_t>({7, 0}, {2, 1}, {.dtype = DType::Int64}), DType::Int64, kGpu);
  const Tensor bad_rows = convert(from_vector<int64_t>({1, 6}, {2}, {.dtype = DType::Int64}), DType::Int64, kGpu);
  // Two bad ops queued back to back, no sync between them: the first in stream order is kept.
  EXPECT_EQ(error_of([&] {
              gather(x, 1, bad_gather);
              embedding(table, bad_rows);
            }),
            "");
  const std::string message = error_of([] { cuda_synchronize(); });
  expect_contains(message, "gather: index 7 is out of range [0, 5) for axis 1 (index entry 0");
  EXPECT_EQ(message.find("embedding"), std::string::npos) << message;
  // The second error was dropped with the first report, not kept for the next sync.
  EXPECT_EQ(error_of([] { cuda_synchronize(); }), "");
  // Good calls neither throw nor leave anything behind.
  const Tensor rows = convert(from_vector<int64_t>({5, 0, 2}, {3}, {.dtype = DType::Int64}), DType::Int64, kGpu);
  EXPECT_EQ(error_of([&] { embedding(table, rows).to_vector<float>(); }), "");
  EXPECT_EQ(error_of([] { cuda_synchronize(); }), "");
}

TEST(CudaIndex, SmallestBadPositionIsReportedFromManyBlocks) {
  EMBER_REQUIRE_CUDA();
  // 2^20 entries: thousands of check blocks, several bad entries far apart; the reported one is
  // the smallest row-major position whatever the order the blocks ran in. The index is a
  // transposed view, so the position is the logical one, not the memory offset.
  const int64_t rows = 1024, cols = 1024;
  std::vector<int64_t> values(rows * cols);
  for (int64_t i = 0; i < rows * cols; ++i) values[i] = (i * 7) % 9;
  // Memory [cols, rows]; logical index = its transpose [rows, cols], position r * cols + c lives
  // at memory offset c * rows + r.
  auto set_logical = [&](int64_t position, int64_t value) {
    values[(position % cols) * rows + position / cols] = value;
  };
  set_logical(999999, 9);
  set_logical(300001, -5);
  set_logical(700000, 123);
  const Tensor stored = convert(from_vector(values, {cols, rows}, {.dtype = DType::Int64}), DType::Int64, kGpu);
  const Tensor index = stored.permute({1, 0});  // [rows, cols], strided
  const Tensor x = convert(random_tensor({rows, 9}, 23, DType::Float32), DType::Float32, kGpu);
  for (int repeat = 0; repeat < 3; ++repeat) {
    Tensor y;
    const std::string message = deferred_error([&] { y = gather(x, 1, index); },
                                               [&] { y.to_vector<float>(); });
    expect_contains(message, "gather: index -5 is out of range [0, 9) for axis 1 (index entry 300001 ");
  }
  // The scratch words were put back: the good entries alone check clean.
  set_logical(999999, 0);
  set_logical(300001, 0);
  set_logical(700000, 0);
  const Tensor clean = convert(from_vector(values, {cols, rows}, {.dtype = DType::Int64}), DType::Int64, kGpu);
  EXPECT_EQ(error_of([&] { gather(x, 1, clean.permute({1, 0})).to_vector<float>(); }), "");
}

}  // namespace
}  // namespace ember

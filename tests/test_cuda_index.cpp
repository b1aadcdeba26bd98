// CUDA gather / scatter_add / embedding / embedding_backward (kernels/cuda/index.cu) against the
// CPU reference through ops/index.h: forward and backward (also with create_graph; the ops are
// linear in their float input, so the second-order stage has nothing to compare) in float32 and
// float64, on the shapes that matter (cross-entropy's [N, C] with index [N, 1], a class-weight
// gather with many repeats, a 10-class GAN label embedding), strided operands, and the
// out-of-range error raised from the GPU's check. Skipped without a GPU.
//
// Tolerance: exact. Gather and embedding copy values; scatter_add and embedding_backward add,
// per output element, the same terms in the same (row-major index) order as the CPU, in the
// output's dtype, so every stage is bit-identical by design.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "ops/index.h"
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

TEST(CudaIndex, OutOfRangeIndexIsTheCpuError) {
  EMBER_REQUIRE_CUDA();
  const Tensor x = random_tensor({3, 5}, 18, DType::Float32);
  // Two bad entries: the first in row-major order (99 at position 3) is the one reported.
  const Tensor bad = from_vector<int64_t>({0, 1, 4, 99, 2, -4}, {3, 2}, {.dtype = DType::Int64});
  const Tensor x_gpu = convert(x, DType::Float32, kGpu);
  const Tensor bad_gpu = convert(bad, DType::Int64, kGpu);

  const std::string cpu_gather = error_of([&] { gather(x, 1, bad); });
  const std::string gpu_gather = error_of([&] { gather(x_gpu, 1, bad_gpu); });
  ASSERT_FALSE(cpu_gather.empty());
  const std::string expected = "gather: index 99 is out of range [0, 5) for axis 1 of float32[3, 5]";
  EXPECT_NE(cpu_gather.find(expected), std::string::npos) << cpu_gather;
  EXPECT_NE(gpu_gather.find(expected), std::string::npos) << gpu_gather;

  const std::string gpu_scatter =
      error_of([&] { scatter_add({3, 5}, 1, bad_gpu, convert(x.slice(1, 0, 2), DType::Float32, kGpu)); });
  EXPECT_NE(gpu_scatter.find("scatter_add: index 99 is out of range [0, 5) for axis 1"),
            std::string::npos)
      << gpu_scatter;

  const Tensor table = convert(random_tensor({10, 4}, 19, DType::Float64), DType::Float64, kGpu);
  const Tensor labels = from_vector<int64_t>({3, 9, 10, 2}, {4}, {.dtype = DType::Int64});
  const std::string gpu_embedding = error_of([&] { embedding(table, convert(labels, DType::Int64, kGpu)); });
  EXPECT_NE(gpu_embedding.find("embedding: index 10 is out of range [0, 10) for axis 0 of float64[10, 4]"),
            std::string::npos)
      << gpu_embedding;
  const std::string cpu_embedding =
      error_of([&] { embedding(convert(table, DType::Float64, Device::cpu()), labels); });
  EXPECT_NE(cpu_embedding.find("embedding: index 10 is out of range [0, 10) for axis 0 of float64[10, 4]"),
            std::string::npos)
      << cpu_embedding;

  const Tensor g = convert(random_tensor({4, 4}, 20, DType::Float64), DType::Float64, kGpu);
  const std::string gpu_backward =
      error_of([&] { embedding_backward(g, convert(labels, DType::Int64, kGpu), 10); });
  EXPECT_NE(gpu_backward.find("embedding_backward: index 10 is out of range [0, 10)"),
            std::string::npos)
      << gpu_backward;

  // The stream is still usable after the error: a good call afterwards works.
  const Tensor good = from_vector<int64_t>({0, 4, 1, 3, 2, 2}, {3, 2}, {.dtype = DType::Int64});
  EXPECT_EQ(gather(x_gpu, 1, convert(good, DType::Int64, kGpu)).to_vector<float>(),
            gather(x, 1, good).to_vector<float>());
}

}  // namespace
}  // namespace ember

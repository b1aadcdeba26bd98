// The dispatch count (tensor/dispatch_count.h): one count per kernel the dispatch layer runs,
// named by op, per thread, with nested tallies; copies and fills count too, and an op that only
// makes a view counts nothing; GPU kernel launches are counted apart.
#include <gtest/gtest.h>

#include <cstdint>
#include <thread>

#include "nn/module.h"
#include "ops/ops.h"
#include "tensor/dispatch_count.h"
#include "tests/device_compare.h"

namespace ember {
namespace {

Tensor vec(std::vector<float> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return from_vector<float>(v, {n});
}

TEST(DispatchCount, OneCountPerKernelNamedByOp) {
  const Tensor a = vec({1, 2, 3});
  const Tensor b = vec({4, 5, 6});
  const uint64_t before = dispatch_count();
  DispatchTally tally;
  const Tensor c = a * b + a;  // two kernels: Mul, then Add
  const Tensor s = sum(c);     // one reduction
  EXPECT_EQ(dispatch_count() - before, 3u);
  EXPECT_EQ(tally.total(), 3u);
  const auto rows = tally.by_name();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::pair<std::string, uint64_t>{"Add", 1}));  // ties sorted by name
  EXPECT_EQ(rows[1], (std::pair<std::string, uint64_t>{"Mul", 1}));
  EXPECT_EQ(rows[2], (std::pair<std::string, uint64_t>{"sum", 1}));
  EXPECT_FLOAT_EQ(s.item<float>(), 4 + 10 + 18 + 6);
}

TEST(DispatchCount, CopiesAndFillsCountViewsDoNot) {
  const Tensor m = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  DispatchTally tally;
  const Tensor t = transpose(m, 0, 1);  // a view: no kernel
  EXPECT_EQ(tally.total(), 0u);
  const Tensor dense = t.contiguous();  // one strided copy
  fill_(dense, 0.0);
  const Tensor z = zeros({4});  // a fill
  const auto rows = tally.by_name();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::pair<std::string, uint64_t>{"fill", 2}));
  EXPECT_EQ(rows[1], (std::pair<std::string, uint64_t>{"copy", 1}));
}

TEST(DispatchCount, TalliesNestAndTheOuterResumes) {
  const Tensor a = vec({1, 2});
  DispatchTally outer;
  const Tensor b = a + a;
  {
    DispatchTally inner;
    const Tensor c = a * a;
    const Tensor d = a * a;
    EXPECT_EQ(inner.total(), 2u);
  }
  const Tensor e = -a;
  const auto rows = outer.by_name();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::pair<std::string, uint64_t>{"Add", 1}));
  EXPECT_EQ(rows[1], (std::pair<std::string, uint64_t>{"Neg", 1}));
}

TEST(DispatchCount, AnotherThreadsDispatchesAreItsOwn) {
  const Tensor a = vec({1, 2, 3});
  const uint64_t before = dispatch_count();
  DispatchTally tally;
  uint64_t other_thread_count = 0;
  std::thread worker([&] {
    const uint64_t start = dispatch_count();
    for (int i = 0; i < 5; ++i) (void)(a + a);
    other_thread_count = dispatch_count() - start;
  });
  worker.join();
  EXPECT_EQ(other_thread_count, 5u);
  EXPECT_EQ(dispatch_count() - before, 0u);
  EXPECT_EQ(tally.total(), 0u);
}

TEST(DispatchCount, GradientsSetToNoneCostNoDispatchZeroesOneFillEach) {
  Tensor w = from_vector<float>({1, 2}, {2}, {.requires_grad = true});
  Tensor v = from_vector<float>({3}, {1}, {.requires_grad = true});
  sum(w * w).backward();
  sum(v * v).backward();
  {
    DispatchTally tally;
    nn::zero_grad({w, v}, /*set_to_none=*/false);
    EXPECT_EQ(tally.total(), 2u);
  }
  DispatchTally tally;
  nn::zero_grad({w, v});  // the default drops them
  EXPECT_EQ(tally.total(), 0u);
  EXPECT_FALSE(w.grad().defined());
}

// On the GPU one elementwise dispatch is one kernel launch, and the CPU path launches nothing.
// (Suite Cuda*: the GPU check, scripts/gpu-check.sh, runs the Cuda* tests.)
TEST(CudaDispatchCount, LaunchesAreCountedBesideDispatches) {
  const Tensor a = vec({1, 2, 3});
  uint64_t before = launch_count();
  (void)(a + a);
  EXPECT_EQ(launch_count() - before, 0u);
  EMBER_REQUIRE_CUDA();
  const Tensor g = a.to(Device::cuda());
  before = launch_count();
  const uint64_t dispatches_before = dispatch_count();
  const Tensor h = g * g + g;
  EXPECT_EQ(dispatch_count() - dispatches_before, 2u);
  EXPECT_EQ(launch_count() - before, 2u);
  EXPECT_EQ(h.to(Device::cpu()).to_vector<float>(), (std::vector<float>{2, 6, 12}));
}

}  // namespace
}  // namespace ember

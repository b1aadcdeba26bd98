// Counter-based RNG and random ops: Philox known answers, the element-to-counter mapping,
// reproducibility and replay of generator state, moments of the distributions, randperm,
// dropout/drop_path statistics and gradients, and CPU-vs-CUDA equivalence (CudaRandom.*, which
// skip with a reason when no GPU is visible).
#include <gtest/gtest.h>

#include "kernels/random.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "tensor/philox.h"
#include "tests/gradcheck.h"

namespace ember {
namespace {

using testing::random_input;

const TensorOptions kF32{.dtype = DType::Float32};
const TensorOptions kF64{.dtype = DType::Float64};

struct Moments {
  double mean = 0, stddev = 0;
};
Moments moments_of(const std::vector<double>& v) {
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  double var = 0;
  for (double x : v) var += (x - m.mean) * (x - m.mean);
  m.stddev = std::sqrt(var / static_cast<double>(v.size() - 1));
  return m;
}

// --- Philox itself ---------------------------------------------------------------------------

// Known-answer vectors of Philox4x32-10 published with Random123 by D. E. Shaw Research
// (the "philox4x32 10" lines of the kat_vectors file shipped with the library,
// github.com/DEShawResearch/random123, alongside the SC'11 paper by Salmon et al.).
// Columns: counter words c0..c3, key words k0..k1, expected output words.
TEST(Philox, MatchesRandom123KnownAnswers) {
  struct Vector {
    uint32_t counter[4], key[2], expected[4];
  };
  const Vector vectors[] = {
      {{0x00000000, 0x00000000, 0x00000000, 0x00000000}, {0x00000000, 0x00000000},
       {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Vector& v : vectors) {
    // Our packing: counter_lo = c1:c0, counter_hi = c3:c2, key = k1:k0 (low word first).
    const uint64_t lo = v.counter[0] | (uint64_t{v.counter[1]} << 32);
    const uint64_t hi = v.counter[2] | (uint64_t{v.counter[3]} << 32);
    const uint64_t key = v.key[0] | (uint64_t{v.key[1]} << 32);
    const philox::Block b = philox::philox4x32_10(lo, hi, key);
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(b.v[i], v.expected[i]) << "lane " << i << " of counter " << std::hex
                                       << v.counter[0] << " key " << v.key[0];
  }
}

// Element 0 of a draw with seed 0 at offset 0 is the all-zero known-answer block, so the
// mapping (counter = offset + i, key = seed, float from lane 0's top 24 bits) is pinned to the
// published vector too.
TEST(Philox, FirstElementUsesZeroCounterBlock) {
  RandomGenerator gen(0);
  const float u = rand_uniform({1}, gen, kF32).item<float>();
  EXPECT_EQ(u, static_cast<float>(0x6627e8d5u >> 8) / 16777216.0f);
  RandomGenerator gen64(0);
  const double d = rand_uniform({1}, gen64, kF64).item<double>();
  // 32 bits of lane 0 then the top 21 bits of lane 1, over 2^53.
  const uint64_t bits = (uint64_t{0x6627e8d5u} << 21) | (0xe169c58du >> 11);
  EXPECT_EQ(d, static_cast<double>(bits) / 9007199254740992.0);
}

TEST(Philox, UniformsFollowTheCounterMapping) {
  RandomGenerator gen(987654321);
  gen.reserve(1000);  // start from a nonzero offset
  const std::vector<float> u = rand_uniform({257}, gen, kF32, -1.0, 3.0).to_vector<float>();
  for (size_t i = 0; i < u.size(); ++i) {
    const philox::Block b = philox::philox4x32_10(1000 + i, 0, 987654321);
    EXPECT_EQ(u[i], std::fma(philox::uniform_float(b.v[0]), 4.0f, -1.0f)) << "element " << i;
  }
}

// The float32 normal uses its own fma-only log and cos (identical on host and device). Compare
// it with the same Box-Muller formula evaluated in double on the same two uniforms.
TEST(Philox, FloatNormalMatchesDoubleFormula) {
  double worst = 0;
  for (uint64_t i = 0; i < 200000; ++i) {
    const philox::Block b = philox::philox4x32_10(i, 0, 42);
    const double u1 = 1.0 - (b.v[0] >> 8) / 16777216.0;
    const double u2 = (b.v[1] >> 8) / 16777216.0;
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
    const double err = std::abs(philox::normal_float(b) - z) / std::max(1.0, std::abs(z));
    worst = std::max(worst, err);
  }
  // A few float ulps (2^-23 = 1.2e-7): the log and cos are each within 2 ulp.
  EXPECT_LT(worst, 6e-7);
  // The extreme cases: u1 = 1 (radius 0) and the smallest u1 = 2^-24 (largest radius).
  philox::Block top{{0x000000ffu, 0, 0, 0}};  // lane0 >> 8 == 0: u1 = 1
  EXPECT_EQ(philox::normal_float(top), 0.0f);
  philox::Block bottom{{0xffffffffu, 0, 0, 0}};  // u1 = 2^-24, angle 0: z = sqrt(48 ln 2)
  EXPECT_NEAR(philox::normal_float(bottom), std::sqrt(48.0 * std::log(2.0)), 1e-5);
}

// --- RandomGenerator state -------------------------------------------------------------------------

TEST(RandomGenerator, ReserveAdvancesAndManualSeedResets) {
  RandomGenerator gen(5);
  EXPECT_EQ(gen.reserve(10), 0u);
  EXPECT_EQ(gen.reserve(3), 10u);
  EXPECT_EQ(gen.offset(), 13u);
  rand_normal({2, 3}, gen);
  EXPECT_EQ(gen.offset(), 19u);  // one counter per element

  manual_seed(77);
  EXPECT_EQ(default_random_generator().seed(), 77u);
  EXPECT_EQ(default_random_generator().offset(), 0u);
  const std::vector<float> a = rand_uniform({16}, default_random_generator()).to_vector<float>();
  manual_seed(77);
  EXPECT_EQ(rand_uniform({16}, default_random_generator()).to_vector<float>(), a);
}

TEST(RandomGenerator, SameSeedSameNumbersDifferentOffsetsDifferentNumbers) {
  RandomGenerator g1(123), g2(123), g3(124);
  const auto a = rand_uniform({1000}, g1).to_vector<float>();
  EXPECT_EQ(rand_uniform({1000}, g2).to_vector<float>(), a);
  EXPECT_NE(rand_uniform({1000}, g3).to_vector<float>(), a);  // another seed
  const auto b = rand_uniform({1000}, g1).to_vector<float>();  // next offset
  size_t equal = 0;
  for (size_t i = 0; i < a.size(); ++i) equal += a[i] == b[i];
  EXPECT_LT(equal, 5u);
}

TEST(RandomGenerator, ConsecutiveDrawsTileOneLongDraw) {
  // Counters are consumed in order, so two draws of 10 and 7 are the two parts of one draw of
  // 17: the shape of the request does not change the stream.
  RandomGenerator split(9), whole(9);
  const auto first = rand_normal({2, 5}, split, kF64).to_vector<double>();
  const auto second = rand_normal({7}, split, kF64).to_vector<double>();
  const auto all = rand_normal({17}, whole, kF64).to_vector<double>();
  std::vector<double> joined = first;
  joined.insert(joined.end(), second.begin(), second.end());
  EXPECT_EQ(joined, all);
}

TEST(RandomGenerator, SavedStateReplays) {
  RandomGenerator gen(31337);
  rand_uniform({100}, gen);
  const uint64_t seed = gen.seed(), offset = gen.offset();
  const auto u = rand_uniform({50}, gen).to_vector<float>();
  const auto n = rand_normal({50}, gen, kF64).to_vector<double>();
  const auto p = randperm(20, gen).to_vector<int64_t>();
  gen.set_state(seed, offset);
  EXPECT_EQ(rand_uniform({50}, gen).to_vector<float>(), u);
  EXPECT_EQ(rand_normal({50}, gen, kF64).to_vector<double>(), n);
  EXPECT_EQ(randperm(20, gen).to_vector<int64_t>(), p);
}

TEST(RandomGenerator, FailedDrawDoesNotAdvance) {
  RandomGenerator gen(1);
  EXPECT_THROW(rand_uniform({4}, gen, {.dtype = DType::Int32}), Error);
  EXPECT_THROW(rand_normal({4}, gen, kF32, 0.0, -1.0), Error);
  EXPECT_THROW(bernoulli({4}, 1.5, gen), Error);
  EXPECT_EQ(gen.offset(), 0u);
}

// --- Distributions ---------------------------------------------------------------------------

TEST(RandomDistributions, UniformMoments) {
  // 100k samples: the standard error of the mean of U(-2, 3) is 5/sqrt(12)/316 = 0.0046.
  for (DType dtype : {DType::Float32, DType::Float64}) {
    RandomGenerator gen(2024);
    const auto v = rand_uniform({100000}, gen, {.dtype = dtype}, -2.0, 3.0).to_vector<double>();
    const Moments m = moments_of(v);
    EXPECT_NEAR(m.mean, 0.5, 0.02) << dtype_name(dtype);
    EXPECT_NEAR(m.stddev, 5.0 / std::sqrt(12.0), 0.01) << dtype_name(dtype);
    EXPECT_GE(*std::min_element(v.begin(), v.end()), -2.0);
    EXPECT_LT(*std::max_element(v.begin(), v.end()), 3.0);
    // Each tenth of the range holds about a tenth of the samples (se 0.00095).
    std::vector<int> bins(10, 0);
    for (double x : v) ++bins[std::min(9, static_cast<int>((x + 2.0) / 0.5))];
    for (int b : bins) EXPECT_NEAR(b / 100000.0, 0.1, 0.005);
  }
}

TEST(RandomDistributions, NormalMoments) {
  // 100k samples: se of the mean 0.0022 (std 0.7), of the std 0.0016.
  for (DType dtype : {DType::Float32, DType::Float64}) {
    RandomGenerator gen(77);
    const auto v = rand_normal({100000}, gen, {.dtype = dtype}, 1.5, 0.7).to_vector<double>();
    const Moments m = moments_of(v);
    EXPECT_NEAR(m.mean, 1.5, 0.01) << dtype_name(dtype);
    EXPECT_NEAR(m.stddev, 0.7, 0.008) << dtype_name(dtype);
    // Shape, not just the first two moments: P(|z| < 1) = 0.6827, P(|z| < 2) = 0.9545.
    double within1 = 0, within2 = 0, third = 0;
    for (double x : v) {
      const double z = (x - 1.5) / 0.7;
      within1 += std::abs(z) < 1;
      within2 += std::abs(z) < 2;
      third += z * z * z;
    }
    EXPECT_NEAR(within1 / 1e5, 0.6827, 0.006) << dtype_name(dtype);
    EXPECT_NEAR(within2 / 1e5, 0.9545, 0.004) << dtype_name(dtype);
    EXPECT_NEAR(third / 1e5, 0.0, 0.05) << dtype_name(dtype);  // skewness (se 0.008)
  }
}

TEST(RandomDistributions, BernoulliRate) {
  RandomGenerator gen(3);
  const auto v = bernoulli({100000}, 0.3, gen, {.dtype = DType::UInt8}).to_vector<uint8_t>();
  double ones = 0;
  for (uint8_t x : v) {
    ASSERT_TRUE(x == 0 || x == 1);
    ones += x;
  }
  EXPECT_NEAR(ones / 1e5, 0.3, 0.006);  // se 0.00145
  // The float mask holds the same draws as the uint8 one for the same counters.
  RandomGenerator again(3);
  const auto f = bernoulli({100000}, 0.3, again, kF64).to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(f[i], static_cast<double>(v[i]));
  // The edges are exact.
  RandomGenerator g(4);
  const auto none = bernoulli({1000}, 0.0, g).to_vector<float>();
  const auto all = bernoulli({1000}, 1.0, g).to_vector<float>();
  EXPECT_EQ(std::accumulate(none.begin(), none.end(), 0.0), 0.0);
  EXPECT_EQ(std::accumulate(all.begin(), all.end(), 0.0), 1000.0);
}

TEST(RandomDistributions, RequiresGradMarksALeaf) {
  RandomGenerator gen(8);
  Tensor w = rand_normal({3, 4}, gen, {.dtype = DType::Float64, .requires_grad = true});
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(w.is_leaf());
}

TEST(RandomDistributions, ErrorsNameTheProblem) {
  RandomGenerator gen(1);
  try {
    rand_uniform({2}, gen, kF32, 1.0, 0.0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("low <= high"), std::string::npos) << e.what();
  }
  try {
    bernoulli({2}, 0.5, gen, {.dtype = DType::Int64});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("int64"), std::string::npos) << e.what();
  }
  EXPECT_THROW(randperm(-1, gen), Error);
}

// --- randperm --------------------------------------------------------------------------------

TEST(Randperm, IsAReproduciblePermutation) {
  RandomGenerator gen(55);
  const auto p = randperm(1000, gen).to_vector<int64_t>();
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), int64_t{0});
  EXPECT_EQ(sorted, identity);
  EXPECT_NE(p, identity);
  EXPECT_EQ(gen.offset(), 1000u);

  RandomGenerator same(55), other(56);
  EXPECT_EQ(randperm(1000, same).to_vector<int64_t>(), p);
  EXPECT_NE(randperm(1000, other).to_vector<int64_t>(), p);
  // It is the argsort of the lane-0 keys.
  for (size_t i = 0; i + 1 < p.size(); ++i)
    ASSERT_LE(philox::philox4x32_10(p[i], 0, 55).v[0], philox::philox4x32_10(p[i + 1], 0, 55).v[0]);

  EXPECT_EQ(randperm(0, gen).numel(), 0);
  EXPECT_EQ(randperm(1, gen).to_vector<int64_t>(), std::vector<int64_t>{0});
  EXPECT_EQ(randperm(5, gen).dtype(), DType::Int64);
}

TEST(Randperm, FirstPositionIsUniform) {
  // Over 4000 permutations of 4, each value lands first about 1000 times (se 27).
  RandomGenerator gen(12);
  std::vector<int> first(4, 0);
  for (int t = 0; t < 4000; ++t) ++first[randperm(4, gen).to_vector<int64_t>()[0]];
  for (int c : first) EXPECT_NEAR(c, 1000, 120);
}

// --- dropout and drop_path -------------------------------------------------------------------

TEST(Dropout, StatisticsAndScale) {
  RandomGenerator gen(100);
  Tensor x = ones({100000}, kF32);
  const auto y = dropout(x, 0.25, true, gen).to_vector<float>();
  double zeros = 0, sum = 0;
  for (float v : y) {
    ASSERT_TRUE(v == 0.0f || v == static_cast<float>(1.0 / 0.75)) << v;
    zeros += v == 0.0f;
    sum += v;
  }
  EXPECT_NEAR(zeros / 1e5, 0.25, 0.006);
  EXPECT_NEAR(sum / 1e5, 1.0, 0.01);  // inverted dropout keeps the mean
  EXPECT_EQ(gen.offset(), 100000u);
}

TEST(Dropout, IdentityWhenNotTrainingOrPZero) {
  RandomGenerator gen(1);
  Tensor x = random_input({3, 4}, 1);
  EXPECT_TRUE(dropout(x, 0.5, false, gen).same(x));
  EXPECT_TRUE(dropout(x, 0.0, true, gen).same(x));
  EXPECT_TRUE(drop_path(x, 0.5, false, gen).same(x));
  EXPECT_EQ(gen.offset(), 0u);  // no counters used
}

TEST(Dropout, POneGivesZerosAndBadPIsAnError) {
  RandomGenerator gen(2);
  Tensor x = random_input({2, 3}, 2);
  Tensor y = dropout(x, 1.0, true, gen);
  EXPECT_EQ(y.to_vector<double>(), std::vector<double>(6, 0.0));
  EXPECT_EQ(gen.offset(), 6u);  // the same counters as any other p
  y.sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), std::vector<double>(6, 0.0));
  EXPECT_THROW(dropout(x, 1.5, true, gen), Error);
  EXPECT_THROW(dropout(x, -0.1, true, gen), Error);
  EXPECT_THROW(drop_path(x, std::nan(""), true, gen), Error);
}

TEST(Dropout, GradientIsTheMask) {
  RandomGenerator gen(3);
  Tensor x = random_input({4, 5}, 3);
  Tensor y = dropout(x, 0.4, true, gen);
  y.sum().backward();
  const auto xs = x.to_vector<double>(), ys = y.to_vector<double>(), g = x.grad().to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i) EXPECT_NEAR(g[i], ys[i] / xs[i], 1e-12);
}

TEST(Dropout, Gradcheck) {
  // The generator is reset inside f, so every evaluation uses the same mask.
  const Tensor x = random_input({3, 4}, 4);
  auto f = [](const TensorList& t) {
    RandomGenerator gen(11);
    return dropout(t[0], 0.3, true, gen);
  };
  EXPECT_GRADCHECK(f, {x});
  EXPECT_GRADGRADCHECK([&](const TensorList& t) { return mul(f(t), t[0]); }, {x});
}

TEST(DropPath, DropsWholeSamples) {
  RandomGenerator gen(21);
  const int64_t n = 20000;
  Tensor x = ones({n, 2, 3}, kF32);
  const auto y = drop_path(x, 0.2, true, gen).to_vector<float>();
  EXPECT_EQ(gen.offset(), static_cast<uint64_t>(n));  // one counter per sample
  double dropped = 0;
  for (int64_t s = 0; s < n; ++s) {
    const float v = y[s * 6];
    ASSERT_TRUE(v == 0.0f || v == static_cast<float>(1.0 / 0.8)) << v;
    for (int j = 1; j < 6; ++j) ASSERT_EQ(y[s * 6 + j], v) << "sample " << s;
    dropped += v == 0.0f;
  }
  EXPECT_NEAR(dropped / n, 0.2, 0.015);  // se 0.0028
  EXPECT_THROW(drop_path(scalar_tensor(1.0), 0.5, true, gen), Error);
}

TEST(DropPath, Gradcheck) {
  const Tensor x = random_input({4, 2, 3}, 5);
  auto f = [](const TensorList& t) {
    RandomGenerator gen(6);
    return drop_path(t[0], 0.5, true, gen);
  };
  // The fixed mask keeps some samples and drops others (checked so the test is not vacuous).
  const auto y = f({x}).to_vector<double>();
  int kept = 0;
  for (int s = 0; s < 4; ++s) kept += y[s * 6] != 0.0;
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 4);
  EXPECT_GRADCHECK(f, {x});
  EXPECT_GRADGRADCHECK([&](const TensorList& t) { return mul(f(t), t[0]); }, {x});
}

TEST(Randperm, PermutationFromKeysOrdersByKeyThenIndex) {
  const Tensor keys = from_vector(std::vector<int64_t>{5, 1, 5, 0, 1, 4294967295LL}, {6},
                                  {.dtype = DType::Int64});
  Tensor perm = empty({6}, {.dtype = DType::Int64});
  kernels::permutation_from_keys(perm, keys);
  EXPECT_EQ(perm.to_vector<int64_t>(), (std::vector<int64_t>{3, 1, 4, 0, 2, 5}));
}

// --- CPU vs CUDA -----------------------------------------------------------------------------

#define EMBER_SKIP_WITHOUT_GPU()                                                           \
  if (!cuda_available())                                                                   \
  GTEST_SKIP() << (built_with_cuda() ? "no CUDA device visible"                            \
                                     : "this build has no CUDA backend (EMBER_CUDA=OFF)")  \
               << ": CPU-vs-CUDA comparison not run"

const Device kGpu = Device::cuda(0);

TEST(CudaRandom, UniformAndBernoulliIdenticalToCpu) {
  EMBER_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    RandomGenerator cpu_gen(17), gpu_gen(17);
    cpu_gen.reserve(12345);
    gpu_gen.reserve(12345);
    // An odd size so the last grid-stride iteration is partial.
    Tensor c = rand_uniform({1001, 37}, cpu_gen, {.dtype = dtype}, -0.5, 2.0);
    Tensor g = rand_uniform({1001, 37}, gpu_gen, {.dtype = dtype, .device = kGpu}, -0.5, 2.0);
    EXPECT_TRUE(g.is_cuda());
    EXPECT_EQ(g.to_vector<double>(), c.to_vector<double>()) << dtype_name(dtype);
    EXPECT_EQ(gpu_gen.offset(), cpu_gen.offset());
  }
  for (DType dtype : {DType::UInt8, DType::Float32, DType::Float64}) {
    RandomGenerator cpu_gen(18), gpu_gen(18);
    Tensor c = bernoulli({70001}, 0.37, cpu_gen, {.dtype = dtype});
    Tensor g = bernoulli({70001}, 0.37, gpu_gen, {.dtype = dtype, .device = kGpu});
    EXPECT_EQ(g.to_vector<double>(), c.to_vector<double>()) << dtype_name(dtype);
  }
}

TEST(CudaRandom, NormalsMatchCpu) {
  EMBER_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    RandomGenerator cpu_gen(19), gpu_gen(19);
    const auto c = rand_normal({100003}, cpu_gen, {.dtype = dtype}, 0.25, 2.0).to_vector<double>();
    const auto g = rand_normal({100003}, gpu_gen, {.dtype = dtype, .device = kGpu}, 0.25, 2.0)
                       .to_vector<double>();
    ASSERT_EQ(c.size(), g.size());
    double worst = 0;
    size_t differ = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      worst = std::max(worst, std::abs(g[i] - c[i]) / std::max(1.0, std::abs(c[i])));
      differ += g[i] != c[i];
    }
    EXPECT_LE(worst, 1e-6) << dtype_name(dtype);
    // float32 normals use the fma-only log/cos of tensor/philox.h: bit-identical by design.
    if (dtype == DType::Float32) {
      EXPECT_EQ(differ, 0u) << "float32 normals differ from the CPU";
    }
  }
}

TEST(CudaRandom, RandpermIdenticalToCpu) {
  EMBER_SKIP_WITHOUT_GPU();
  RandomGenerator cpu_gen(20), gpu_gen(20);
  Tensor c = randperm(5000, cpu_gen);
  Tensor g = randperm(5000, gpu_gen, kGpu);
  EXPECT_TRUE(g.is_cuda());
  EXPECT_EQ(g.dtype(), DType::Int64);
  EXPECT_EQ(g.to_vector<int64_t>(), c.to_vector<int64_t>());
}

// Ties are where an unstable sort would differ: many equal keys must keep index order on both
// devices (CUB's radix sort is stable; the CPU uses std::stable_sort).
TEST(CudaRandom, PermutationFromTiedKeysKeepsIndexOrder) {
  EMBER_SKIP_WITHOUT_GPU();
  std::vector<int64_t> keys(100003);
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = static_cast<int64_t>((i * 7919) % 13) << 19;
  const Tensor k = from_vector(keys, {100003}, {.dtype = DType::Int64});
  Tensor c = empty({100003}, {.dtype = DType::Int64});
  Tensor g = empty({100003}, {.dtype = DType::Int64, .device = kGpu});
  kernels::permutation_from_keys(c, k);
  kernels::permutation_from_keys(g, k.to(kGpu));
  EXPECT_EQ(g.to_vector<int64_t>(), c.to_vector<int64_t>());
}

TEST(CudaTensor, FactoriesAndCopies) {
  EMBER_SKIP_WITHOUT_GPU();
  Tensor z = zeros({3, 5}, {.dtype = DType::Float32, .device = kGpu});
  EXPECT_TRUE(z.is_cuda());
  EXPECT_EQ(z.to_vector<float>(), std::vector<float>(15, 0.0f));
  EXPECT_EQ(full({4}, 2.5, {.dtype = DType::Float64, .device = kGpu}).to_vector<double>(),
            std::vector<double>(4, 2.5));
  EXPECT_EQ(ones({2, 2}, {.dtype = DType::Int32, .device = kGpu}).to_vector<int32_t>(),
            std::vector<int32_t>(4, 1));

  // Host -> GPU -> host round trip keeps every bit.
  RandomGenerator gen(21);
  Tensor host = rand_normal({6, 7}, gen, kF32);
  Tensor dev = host.to(kGpu);
  EXPECT_TRUE(dev.is_cuda());
  Tensor back = dev.to(Device::cpu());
  EXPECT_EQ(back.to_vector<float>(), host.to_vector<float>());

  // dtype conversion on the GPU matches the CPU conversion.
  EXPECT_EQ(dev.to(DType::Float64).to(Device::cpu()).to_vector<double>(),
            host.to(DType::Float64).to_vector<double>());
  Tensor ints = from_vector<int64_t>({-3, 0, 7, 1 << 20}, {4});
  EXPECT_EQ(ints.to(kGpu).to(DType::Float32).to(Device::cpu()).to_vector<float>(),
            (std::vector<float>{-3.0f, 0.0f, 7.0f, 1048576.0f}));

  // A strided (transposed) view on the GPU becomes contiguous with the right element order.
  Tensor t = dev.permute({1, 0}).contiguous();
  EXPECT_TRUE(t.is_cuda());
  EXPECT_EQ(t.to(Device::cpu()).to_vector<float>(),
            host.permute({1, 0}).contiguous().to_vector<float>());
}

}  // namespace
}  // namespace ember

// gan/quality.h: the Fréchet distance against cases computed by hand (1-d Gaussians,
// diagonal covariances, identical sets, a rotation of both sets) and against numpy (a random
// 4-d case and one from raw feature rows, reference values computed with np.linalg.eigvals of
// S1 S2, i.e. not through the symmetric form the code uses); feature statistics and pairwise
// distances by hand; acceptance counts; the noise counters (a candidate's noise does not depend
// on its batch) and regeneration of one image, whose PNG decodes to the same pixels; the
// [-1, 1] -> uint8 rounding; the pooled EfficientNet features in batches against one call.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <vector>

#include "datasets/image_io.h"
#include "models/efficientnet.h"
#include "gan/networks.h"
#include "ops/ops.h"
#include "tests/expect_error.h"
#include "tests/small_gan_generator.h"
#include "gan/quality.h"

namespace ember {
namespace {

using namespace ember::training;

FeatureStats stats_of(std::vector<double> mean, std::vector<double> cov) {
  const int64_t d = static_cast<int64_t>(mean.size());
  return FeatureStats{0, d, std::move(mean), std::move(cov)};
}

FeatureMatrix rows_of(const std::vector<std::vector<double>>& rows) {
  FeatureMatrix m;
  m.rows = static_cast<int64_t>(rows.size());
  m.dim = static_cast<int64_t>(rows[0].size());
  for (const auto& r : rows) m.values.insert(m.values.end(), r.begin(), r.end());
  return m;
}

// Six 3-dimensional samples, with numpy's statistics and distances quoted in the tests.
FeatureMatrix six_samples() {
  return rows_of({{0.0, 0.3, -0.27},
                  {-0.89, -0.45, -0.99},
                  {0.06, 1.34, -0.49},
                  {-0.62, 0.49, 0.36},
                  {0.11, -0.93, -0.03},
                  {0.7, -1.34, -0.46}});
}

// a a^T + eps I for a row-major d x d matrix a.
std::vector<double> gram_plus(const std::vector<double>& a, int64_t d, double eps) {
  std::vector<double> out(d * d, 0.0);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) {
      for (int64_t k = 0; k < d; ++k) out[i * d + j] += a[i * d + k] * a[j * d + k];
      if (i == j) out[i * d + j] += eps;
    }
  return out;
}

TEST(GanQuality, FrechetOneDimensionalGaussians) {
  // N(1, 2^2) and N(4, 0.5^2): (m1 - m2)^2 + (s1 - s2)^2 = 9 + 2.25.
  EXPECT_NEAR(frechet_distance(stats_of({1.0}, {4.0}), stats_of({4.0}, {0.25})), 11.25, 1e-12);
  EXPECT_NEAR(frechet_distance(stats_of({-2.0}, {9.0}), stats_of({-2.0}, {9.0})), 0.0, 1e-12);
}

TEST(GanQuality, FrechetDiagonalCovariances) {
  // Commuting (diagonal) covariances: sum_i (m1i - m2i)^2 + (sqrt(a_i) - sqrt(b_i))^2.
  const FeatureStats a = stats_of({0, 1, 2}, {1, 0, 0, 0, 4, 0, 0, 0, 9});
  const FeatureStats b = stats_of({1, 1, 0}, {4, 0, 0, 0, 4, 0, 0, 0, 1});
  const double want = (1 + 0 + 4) + (1 + 0 + 4);
  EXPECT_NEAR(frechet_distance(a, b), want, 1e-12);
  EXPECT_NEAR(frechet_distance(b, a), want, 1e-12);  // symmetric
}

TEST(GanQuality, FrechetOfIdenticalSetsIsZero) {
  const FeatureMatrix x = six_samples();
  const FeatureStats s = feature_stats(x);
  EXPECT_NEAR(frechet_distance(s, s), 0.0, 1e-12);
  // Fewer samples than dimensions: singular covariances, still 0 for a set against itself.
  const FeatureMatrix few = rows_of({{1, 2, 3, 4, 5}, {0, -1, 2, 0, 1}, {3, 3, 1, -2, 0}});
  const FeatureStats f = feature_stats(few);
  EXPECT_NEAR(frechet_distance(f, f), 0.0, 1e-12);
}

TEST(GanQuality, FrechetIsInvariantUnderARotationOfBothSets) {
  const FeatureMatrix x = six_samples();
  const FeatureMatrix y = rows_of({{-2.55, -1.63, -2.46},
                                   {-0.05, -1.6, 0.71},
                                   {0.54, 0.02, -3.48},
                                   {-0.51, 0.23, 0.47},
                                   {-2.0, -0.42, -1.17}});
  // R = Rz(0.7) Rx(-1.1), an orthogonal matrix; rows become R x.
  const double c1 = std::cos(0.7), s1 = std::sin(0.7), c2 = std::cos(-1.1), s2 = std::sin(-1.1);
  const double rz[9] = {c1, -s1, 0, s1, c1, 0, 0, 0, 1};
  const double rx[9] = {1, 0, 0, 0, c2, -s2, 0, s2, c2};
  double r[9] = {};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) r[i * 3 + j] += rz[i * 3 + k] * rx[k * 3 + j];
  auto rotate = [&](FeatureMatrix m) {
    for (int64_t n = 0; n < m.rows; ++n) {
      double v[3] = {};
      for (int i = 0; i < 3; ++i)
        for (int k = 0; k < 3; ++k) v[i] += r[i * 3 + k] * m.values[n * 3 + k];
      for (int i = 0; i < 3; ++i) m.values[n * 3 + i] = v[i] + 5.0;  // and a common shift
    }
    return m;
  };
  const double plain = frechet_distance(feature_stats(x), feature_stats(y));
  const double rotated = frechet_distance(feature_stats(rotate(x)), feature_stats(rotate(y)));
  EXPECT_NEAR(rotated, plain, 1e-11);
  // numpy: np.cov(rowvar=False), then sum((m1-m2)^2) + tr S1 + tr S2 - 2 sum sqrt(eigvals(S1 S2)).
  EXPECT_NEAR(plain, 4.426824979198397, 1e-12);
}

TEST(GanQuality, FrechetMatchesNumpyOnARandomCase) {
  // S1 = A A^T + 0.1 I, S2 = B B^T + 0.2 I (non-commuting), reference from numpy's eigvals(S1 S2).
  const std::vector<double> a = {1.053, 1.776, -2.553, -0.138, 1.014,  1.352, 0.654, 1.497,
                                 0.29,  0.551, 0.179,  -1.074, -0.847, 0.38,  -0.58, 1.272};
  const std::vector<double> b = {1.292,  1.799,  -0.026, 1.384,  -0.906, -0.816, 0.081, 0.281,
                                 -1.599, -1.731, 0.355,  -0.862, 1.208,  0.395,  0.307, 0.208};
  const FeatureStats s1 = stats_of({0.895, -0.153, 1.086, -0.526}, gram_plus(a, 4, 0.1));
  const FeatureStats s2 = stats_of({-0.225, -0.681, 0.598, 0.036}, gram_plus(b, 4, 0.2));
  EXPECT_NEAR(frechet_distance(s1, s2), 13.430813737973665, 1e-10);
  EXPECT_NEAR(frechet_distance(s2, s1), 13.430813737973665, 1e-10);
}

TEST(GanQuality, FrechetChecksItsInputs) {
  EXPECT_ERROR_MENTIONS(frechet_distance(stats_of({1.0}, {1.0}), stats_of({1, 2}, {1, 0, 0, 1})),
                        "feature dimensions differ (1 and 2)");
  EXPECT_ERROR_MENTIONS(feature_stats(rows_of({{1.0, 2.0}})), "at least 2 samples, got 1");
}

TEST(GanQuality, FeatureStatsByHand) {
  // Rows (1, 2), (3, 2), (5, 8): mean (3, 4); centred (-2, -2), (0, -2), (2, 4);
  // covariance / (n - 1) = [[8, 12], [12, 24]] / 2.
  const FeatureStats s = feature_stats(rows_of({{1, 2}, {3, 2}, {5, 8}}));
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.mean, (std::vector<double>{3, 4}));
  EXPECT_EQ(s.covariance, (std::vector<double>{4, 6, 6, 12}));
  // A numpy np.cov entry of the six samples.
  const FeatureStats x = feature_stats(six_samples());
  EXPECT_NEAR(x.covariance[1], -0.18522666666666668, 1e-15);
  EXPECT_NEAR(x.covariance[8], 0.20922666666666664, 1e-15);
}

TEST(GanQuality, MeanPairwiseDistance) {
  // (0, 0), (3, 4), (0, 4): distances 5, 3, 4.
  EXPECT_NEAR(mean_pairwise_distance(rows_of({{0, 0}, {3, 4}, {0, 4}})), 4.0, 1e-15);
  EXPECT_NEAR(mean_pairwise_distance(rows_of({{1, 1}, {1, 1}})), 0.0, 0.0);
  const FeatureMatrix x = six_samples();
  EXPECT_NEAR(mean_pairwise_distance(x), 1.6561673729603894, 1e-14);  // numpy
  EXPECT_ERROR_MENTIONS(mean_pairwise_distance(rows_of({{1.0}})), "at least 2 samples");
}

TEST(GanQuality, SelectKeepsTheRowsOfOneLabel) {
  const FeatureMatrix x = rows_of({{1, 2}, {3, 4}, {5, 6}});
  const FeatureMatrix s = x.select({1, 0, 1}, 1);
  EXPECT_EQ(s.rows, 2);
  EXPECT_EQ(s.values, (std::vector<double>{1, 2, 5, 6}));
  EXPECT_ERROR_MENTIONS(x.select({1, 0}, 1), "2 labels for 3 rows");
}

TEST(GanQuality, AcceptanceRatesCount) {
  const AcceptanceRates r =
      acceptance_rates({0, 0, 0, 0, 2, 2}, {0, 1, 0, 2, 2, 2}, {"a", "b", "c"});
  EXPECT_EQ(r.generated, (std::vector<int64_t>{4, 0, 2}));
  EXPECT_EQ(r.accepted, (std::vector<int64_t>{2, 0, 2}));
  EXPECT_DOUBLE_EQ(r.rate(0), 0.5);
  EXPECT_TRUE(std::isnan(r.rate(1)));
  EXPECT_DOUBLE_EQ(r.rate(2), 1.0);
  const nlohmann::json j = r.to_json();
  EXPECT_FALSE(j.contains("b"));
  EXPECT_EQ(j["a"]["accepted"], 2);
  EXPECT_ERROR_MENTIONS(acceptance_rates({0}, {3}, {"a", "b", "c"}), "class 3 is outside [0, 3)");
  EXPECT_ERROR_MENTIONS(acceptance_rates({0, 1}, {0}, {"a", "b"}), "2 intended classes but 1");
}

TEST(GanQuality, NoiseOfACandidateDoesNotDependOnItsBatch) {
  const Tensor all = class_noise(11, 2, 0, 5, 6);
  const Tensor part = class_noise(11, 2, 2, 3, 6);
  EXPECT_EQ(all.shape(), Shape({5, 6}));
  EXPECT_EQ(max_abs_diff(all.slice(0, 2, 5), part), 0.0);
  // Other classes and seeds draw other numbers.
  EXPECT_GT(max_abs_diff(class_noise(11, 1, 0, 5, 6), all), 0.1);
  EXPECT_GT(max_abs_diff(class_noise(12, 2, 0, 5, 6), all), 0.1);
  EXPECT_EQ(noise_offset(2, 3, 6), ((uint64_t{2} << 40) + 3) * 6);
  EXPECT_ERROR_MENTIONS(noise_offset(-1, 0, 6), "out of range");
}

TEST(GanQuality, ToUint8RoundsLikeThePngWouldStoreIt) {
  const Tensor x = from_vector<float>({-1.0f, 1.0f, 0.0f, -2.0f, 0.5f, 3.0f}, {1, 1, 2, 3});
  EXPECT_EQ(to_uint8_images(x).to_vector<uint8_t>(),
            (std::vector<uint8_t>{0, 255, 128, 0, 191, 255}));  // 127.5 -> 128, 191.25 -> 191
  const Tensor bad = from_vector<float>({0.0f, NAN}, {2, 1, 1, 1});
  EXPECT_ERROR_MENTIONS(to_uint8_images(bad), "image 1 of the batch holds NaN");
}

TEST(GanQuality, GeneratedImagesRegenerateOneByOne) {
  RandomGenerator init(3);
  models::ConditionalGenerator g(testing::small_dcgan_generator(), init);
  g.train();
  const std::vector<std::string> names = {"a", "b", "c"};
  const datasets::ImageSet batch = generate_class_images(g, 7, 1, 0, 4, names);
  EXPECT_TRUE(g.is_training());  // restored
  ASSERT_EQ(batch.images.shape(), Shape({4, 16, 16, 3}));
  EXPECT_EQ(batch.labels.to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(batch.files[3], "gen_b_cand3");
  // Candidate 2 alone: eval-mode BatchNorm, so the same pixels (up to one level, in case a
  // matrix product rounds differently for another batch size).
  const datasets::ImageSet one = generate_class_images(g, 7, 1, 2, 1, names);
  const std::vector<uint8_t> a = batch.images.slice(0, 2, 3).to_vector<uint8_t>();
  const std::vector<uint8_t> b = one.images.to_vector<uint8_t>();
  int max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) max_diff = std::max(max_diff, std::abs(a[i] - b[i]));
  EXPECT_LE(max_diff, 1);
  // The PNG holds exactly the pixels the classifier is shown (lossless, no second rounding).
  const std::filesystem::path png = std::filesystem::temp_directory_path() /
                                    ("ember_gan_quality_" + std::to_string(::getpid()) + ".png");
  datasets::write_png(png, b, 16, 16, 3);
  EXPECT_EQ(datasets::decode_image(png, 16, 16, 3), b);
  std::filesystem::remove(png);
  EXPECT_ERROR_MENTIONS(generate_class_images(g, 7, 3, 0, 1, names), "class 3 is outside [0, 3)");
}

TEST(GanQuality, EfficientNetFeaturesInBatchesMatchOneCall) {
  RandomGenerator gen(1);
  auto model = models::efficientnet_b2(gen, 10);
  RandomGenerator data(2);
  datasets::ImageSet set;
  set.images = to_dtype(rand_uniform({3, 32, 32, 3}, data, {}, 0.0, 255.0), DType::UInt8);
  set.labels = from_vector<int64_t>({0, 1, 2}, {3}, {.dtype = DType::Int64});
  set.files = {"x", "y", "z"};
  set.class_names = {"a", "b", "c"};
  model->train();
  const FeatureMatrix f = efficientnet_features(*model, set, /*batch_size=*/2);
  EXPECT_TRUE(model->is_training());
  ASSERT_EQ(f.rows, 3);
  ASSERT_EQ(f.dim, 1408);
  model->eval();
  const std::vector<double> direct =
      model->features(to_dtype(set.images, DType::Float32)).to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < direct.size(); ++i)
    worst = std::max(worst, std::abs(direct[i] - f.values[i]) / (1e-3 + std::abs(direct[i])));
  EXPECT_LT(worst, 1e-4);
}

}  // namespace
}  // namespace ember

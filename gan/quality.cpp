// GAN quality measures and shared sampling (see quality.h; formulas in docs/gan.md).
#include "gan/quality.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/grad_mode.h"
#include "datasets/loader.h"
#include "nn/safetensors.h"
#include "ops/ops.h"
#include "tensor/error.h"
#include "training/evaluate.h"

namespace ember::training {

namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void check_class(int64_t label, size_t classes, const char* what) {
  EMBER_CHECK(label >= 0 && label < static_cast<int64_t>(classes), what, ": class ", label,
              " is outside [0, ", classes, ")");
}

// Square roots of the eigenvalues of a symmetric positive semi-definite matrix, those below
// the rounding level d * eps * max eigenvalue taken as 0 (the rank tolerance of
// numpy.linalg.matrix_rank): an eigenvalue that should be 0 comes out as +-1e-16 * scale, and
// its square root, 1e-8 * sqrt(scale), would otherwise be added to the trace once per null
// direction (hundreds of them when a set has fewer samples than dimensions).
Eigen::VectorXd psd_eigen_sqrt(const Eigen::VectorXd& eigenvalues) {
  const double top = eigenvalues.size() ? eigenvalues.maxCoeff() : 0.0;
  const double tol = std::max(top, 0.0) * static_cast<double>(eigenvalues.size()) *
                     std::numeric_limits<double>::epsilon();
  return eigenvalues.unaryExpr([tol](double l) { return l > tol ? std::sqrt(l) : 0.0; });
}

// The square root of a symmetric positive semi-definite matrix, V diag(sqrt(l)) V^T.
Matrix psd_sqrt(const Matrix& m) {
  Eigen::SelfAdjointEigenSolver<Matrix> eig(m);
  EMBER_CHECK(eig.info() == Eigen::Success, "frechet_distance: the eigendecomposition failed");
  const Eigen::VectorXd root = psd_eigen_sqrt(eig.eigenvalues());
  return eig.eigenvectors() * root.asDiagonal() * eig.eigenvectors().transpose();
}

}  // namespace

// ---- sampling ----

uint64_t noise_offset(int64_t label, int64_t index, int64_t latent_dim) {
  EMBER_CHECK(label >= 0 && label < (1 << 20) && index >= 0 && index < (int64_t{1} << 40) &&
                  latent_dim > 0 && latent_dim < (1 << 12),
              "noise_offset: class ", label, ", index ", index, ", latent_dim ", latent_dim,
              " out of range (class < 2^20, index < 2^40, latent_dim < 4096)");
  return ((static_cast<uint64_t>(label) << 40) + static_cast<uint64_t>(index)) *
         static_cast<uint64_t>(latent_dim);
}

Tensor class_noise(uint64_t seed, int64_t label, int64_t first, int64_t count, int64_t latent_dim,
                   Device device) {
  EMBER_CHECK(count > 0, "class_noise: count must be positive, got ", count);
  noise_offset(label, first + count - 1, latent_dim);  // range check of the last candidate
  RandomGenerator gen(seed);
  gen.set_state(seed, noise_offset(label, first, latent_dim));
  return rand_normal({count, latent_dim}, gen, {.dtype = DType::Float32, .device = device});
}

Tensor to_uint8_images(const Tensor& images) {
  EMBER_CHECK(images.dim() == 4, "to_uint8_images: expected [N, H, W, C] images, got ",
              images.describe());
  const std::vector<float> x = images.to_vector<float>();
  Tensor out = empty(images.shape(), {.dtype = DType::UInt8});
  uint8_t* p = out.data<uint8_t>();
  const size_t per_image = x.size() / static_cast<size_t>(images.size(0));
  for (size_t i = 0; i < x.size(); ++i) {
    EMBER_CHECK(!std::isnan(x[i]), "to_uint8_images: image ", i / per_image,
                " of the batch holds NaN (the generator's output is broken)");
    const double v = std::round((static_cast<double>(x[i]) + 1.0) * 127.5);
    p[i] = static_cast<uint8_t>(std::min(255.0, std::max(0.0, v)));
  }
  return out;
}

datasets::ImageSet generate_class_images(models::ConditionalGenerator& generator, uint64_t seed,
                                         int64_t label, int64_t first, int64_t count,
                                         const std::vector<std::string>& class_names,
                                         Device device) {
  const models::GeneratorConfig& config = generator.config();
  check_class(label, class_names.size(), "generate_class_images");
  EMBER_CHECK(static_cast<int64_t>(class_names.size()) == config.num_classes,
              "generate_class_images: the generator has ", config.num_classes, " classes, not ",
              class_names.size());
  const bool was_training = generator.is_training();
  generator.eval();
  datasets::ImageSet set;
  try {
    NoGradGuard no_grad;
    const Tensor z = class_noise(seed, label, first, count, config.latent_dim, device);
    const Tensor labels =
        full({count}, static_cast<double>(label), {.dtype = DType::Int64, .device = device});
    set.images = to_uint8_images(generator(z, labels));
  } catch (...) {
    generator.train(was_training);
    throw;
  }
  generator.train(was_training);
  set.labels = full({count}, static_cast<double>(label), {.dtype = DType::Int64});
  set.class_names = class_names;
  for (int64_t i = 0; i < count; ++i)
    set.files.push_back("gen_" + class_names[label] + "_cand" + std::to_string(first + i));
  return set;
}

LoadedClassifier load_classifier_file(const std::string& path, int64_t num_classes) {
  LoadedClassifier out;
  out.generator = std::make_unique<RandomGenerator>(0);  // the initial weights are all overwritten
  out.model = models::efficientnet_b2(*out.generator, num_classes);
  try {
    nn::load_module(*out.model, path);
  } catch (const Error& e) {
    EMBER_FAIL("classifier file ", path, " is not an EfficientNetB2 checkpoint with ", num_classes,
               " classes as train_classifier writes (best.safetensors): ", e.what());
  }
  out.model->eval();
  return out;
}

// ---- acceptance ----

double AcceptanceRates::rate(int64_t c) const {
  check_class(c, class_names.size(), "AcceptanceRates::rate");
  return generated[c] > 0 ? static_cast<double>(accepted[c]) / static_cast<double>(generated[c])
                          : std::numeric_limits<double>::quiet_NaN();
}

nlohmann::json AcceptanceRates::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  for (size_t c = 0; c < class_names.size(); ++c)
    if (generated[c] > 0)
      out[class_names[c]] = {{"generated", generated[c]},
                             {"accepted", accepted[c]},
                             {"rate", rate(static_cast<int64_t>(c))}};
  return out;
}

AcceptanceRates acceptance_rates(const std::vector<int64_t>& intended,
                                 const std::vector<int64_t>& predicted,
                                 const std::vector<std::string>& class_names) {
  EMBER_CHECK(intended.size() == predicted.size(), "acceptance_rates: ", intended.size(),
              " intended classes but ", predicted.size(), " predictions");
  AcceptanceRates r{class_names, std::vector<int64_t>(class_names.size(), 0),
                    std::vector<int64_t>(class_names.size(), 0)};
  for (size_t i = 0; i < intended.size(); ++i) {
    check_class(intended[i], class_names.size(), "acceptance_rates (intended)");
    check_class(predicted[i], class_names.size(), "acceptance_rates (predicted)");
    ++r.generated[intended[i]];
    if (predicted[i] == intended[i]) ++r.accepted[intended[i]];
  }
  return r;
}

AcceptanceRates acceptance_rates(nn::Layer& classifier, const datasets::ImageSet& generated,
                                 int64_t batch_size, Device device) {
  const EvalResult eval =
      evaluate_classifier(classifier, generated, {.batch_size = batch_size, .device = device});
  return acceptance_rates(generated.labels.to_vector<int64_t>(), eval.predictions,
                          generated.class_names);
}

// ---- features, Fréchet distance, diversity ----

FeatureMatrix FeatureMatrix::select(const std::vector<int64_t>& labels, int64_t label) const {
  EMBER_CHECK(static_cast<int64_t>(labels.size()) == rows, "FeatureMatrix::select: ", labels.size(),
              " labels for ", rows, " rows");
  FeatureMatrix out;
  out.dim = dim;
  for (int64_t i = 0; i < rows; ++i) {
    if (labels[i] != label) continue;
    out.values.insert(out.values.end(), values.begin() + i * dim, values.begin() + (i + 1) * dim);
    ++out.rows;
  }
  return out;
}

FeatureMatrix efficientnet_features(models::EfficientNet& model, const datasets::ImageSet& set,
                                    int64_t batch_size, Device device) {
  FeatureMatrix out;
  const bool was_training = model.is_training();
  model.eval();
  try {
    NoGradGuard no_grad;
    datasets::Loader loader(
        set, {.batch_size = batch_size, .shuffle = false, .prefetch = 1, .device = device,
              .pixel_dtype = DType::UInt8});  // EfficientNet converts them inside
    loader.start_epoch(0);
    while (std::optional<datasets::Batch> batch = loader.next()) {
      const Tensor f = model.features(batch->images);
      const int64_t b = static_cast<int64_t>(batch->indices.size());
      EMBER_CHECK(f.dim() == 2 && f.size(0) == b, "efficientnet_features: features() gave ",
                  f.describe(), " for a batch of ", b);
      if (out.dim == 0) out.dim = f.size(1);
      const std::vector<double> host = f.to_vector<double>();
      out.values.insert(out.values.end(), host.begin(), host.end());
      out.rows += b;
    }
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  return out;
}

FeatureStats feature_stats(const FeatureMatrix& features) {
  const int64_t n = features.rows, d = features.dim;
  EMBER_CHECK(n >= 2, "feature_stats: a covariance needs at least 2 samples, got ", n);
  EMBER_CHECK(d > 0 && static_cast<int64_t>(features.values.size()) == n * d,
              "feature_stats: ", features.values.size(), " values for ", n, " rows of ", d);
  const Eigen::Map<const Matrix> x(features.values.data(), n, d);
  const Eigen::RowVectorXd mean = x.colwise().mean();
  const Matrix centered = x.rowwise() - mean;
  const Matrix cov = (centered.transpose() * centered) / static_cast<double>(n - 1);
  FeatureStats s{n, d, std::vector<double>(mean.data(), mean.data() + d),
                 std::vector<double>(cov.data(), cov.data() + d * d)};
  return s;
}

double frechet_distance(const FeatureStats& a, const FeatureStats& b) {
  EMBER_CHECK(a.dim == b.dim && a.dim > 0, "frechet_distance: feature dimensions differ (", a.dim,
              " and ", b.dim, ")");
  const int64_t d = a.dim;
  EMBER_CHECK(a.mean.size() == static_cast<size_t>(d) && b.mean.size() == static_cast<size_t>(d) &&
                  a.covariance.size() == static_cast<size_t>(d * d) &&
                  b.covariance.size() == static_cast<size_t>(d * d),
              "frechet_distance: malformed FeatureStats");
  const Eigen::Map<const Eigen::VectorXd> mu1(a.mean.data(), d), mu2(b.mean.data(), d);
  const Eigen::Map<const Matrix> s1(a.covariance.data(), d, d), s2(b.covariance.data(), d, d);
  for (double v : a.mean) EMBER_CHECK(std::isfinite(v), "frechet_distance: non-finite mean");
  for (double v : b.mean) EMBER_CHECK(std::isfinite(v), "frechet_distance: non-finite mean");
  const Matrix root1 = psd_sqrt(0.5 * (s1 + s1.transpose()));
  Matrix m = root1 * s2 * root1;
  m = 0.5 * (m + m.transpose());  // symmetric in exact arithmetic; make it so in floating point
  Eigen::SelfAdjointEigenSolver<Matrix> eig(m, Eigen::EigenvaluesOnly);
  EMBER_CHECK(eig.info() == Eigen::Success, "frechet_distance: the eigendecomposition failed");
  const double trace_sqrt = psd_eigen_sqrt(eig.eigenvalues()).sum();
  return (mu1 - mu2).squaredNorm() + s1.trace() + s2.trace() - 2.0 * trace_sqrt;
}

double mean_pairwise_distance(const FeatureMatrix& features) {
  const int64_t n = features.rows, d = features.dim;
  EMBER_CHECK(n >= 2, "mean_pairwise_distance: needs at least 2 samples, got ", n);
  const double* x = features.values.data();
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    double row_sum = 0;  // per row, so the long sum adds numbers of similar size
    for (int64_t j = i + 1; j < n; ++j) {
      double sq = 0;
      for (int64_t k = 0; k < d; ++k) {
        const double diff = x[i * d + k] - x[j * d + k];
        sq += diff * diff;
      }
      row_sum += std::sqrt(sq);
    }
    sum += row_sum;
  }
  return sum / (static_cast<double>(n) * static_cast<double>(n - 1) / 2.0);
}

}  // namespace ember::training

// Measuring a conditional GAN (docs/gan.md, "Measuring quality"), and the sampling that the
// generate and gan_quality apps share:
//   - sampling: class-conditional noise at fixed Philox counters, so every image can be
//     regenerated from (seed, class, candidate index) alone; generator output [-1, 1] rounded
//     to uint8 pixels exactly as a PNG stores them (what the classifier is then shown);
//   - acceptance rate: per class, the share of images generated for class c that a classifier
//     predicts as c;
//   - a Fréchet distance between two sets of feature vectors (Dowson & Landau 1982; the formula
//     of Heusel et al. 2017's FID, evaluated here on the 1408-d pooled features of an
//     EfficientNetB2 classifier trained on EuroSAT, NOT on Inception-v3's pool3 features: the
//     numbers are not comparable with published FIDs);
//   - diversity: the mean pairwise Euclidean distance between the feature vectors of a set.
// Formulas and their numerics: docs/gan.md ("Measuring quality"). Linear algebra in double
// with Eigen's symmetric eigensolver (only quality.cpp includes Eigen).
// Tested in tests/test_gan_quality.cpp (1-d Gaussians, diagonal covariances, identical sets,
// rotation invariance, a random case against numpy's eigh, pairwise distances by hand,
// acceptance counts, the noise counters, the uint8 rounding).
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datasets/image_set.h"
#include "models/efficientnet.h"
#include "gan/networks.h"
#include "nn/module.h"
#include "tensor/tensor.h"

namespace ember::training {

// ---- sampling ----

// The noise of candidate `index` of class `label` is the Philox stream `seed` at counters
// [noise_offset, noise_offset + latent_dim), noise_offset = (label * 2^40 + index) * latent_dim:
// one draw of z ~ N(0, 1) per image that no other image of any class shares (2^40 candidates
// per class), and a batch of consecutive candidates is one draw.
uint64_t noise_offset(int64_t label, int64_t index, int64_t latent_dim);
// z for candidates first .. first + count - 1 of class `label`: float32 [count, latent_dim].
Tensor class_noise(uint64_t seed, int64_t label, int64_t first, int64_t count, int64_t latent_dim,
                   Device device = Device::cpu());

// Generator output in [-1, 1] (float [N, H, W, C], any device) -> uint8 [N, H, W, C] on the
// CPU: round((x + 1) * 127.5) clamped to 0..255, the inverse of x = p / 127.5 - 1. NaN is an
// error naming the image.
Tensor to_uint8_images(const Tensor& images);

// Candidates first .. first + count - 1 of class `label` as an ImageSet of uint8 images (all
// labelled `label`; files "gen_<Class>_cand<index>"). The generator runs in eval() mode (BatchNorm
// on its running statistics, so an image does not depend on the rest of its batch) without
// autograd, on `device` (where it already lives); its training flag is restored.
datasets::ImageSet generate_class_images(models::ConditionalGenerator& generator, uint64_t seed,
                                         int64_t label, int64_t first, int64_t count,
                                         const std::vector<std::string>& class_names,
                                         Device device = Device::cpu());

// A classifier checkpoint of train_classifier (best.safetensors: nn::save_module of an
// EfficientNetB2 with `num_classes` classes, Keras padding) rebuilt and loaded strictly, in
// eval() mode on the CPU; an error names the file when it is not such a checkpoint. The model
// keeps a reference to its RandomGenerator (for dropout), so the two travel together.
struct LoadedClassifier {
  std::unique_ptr<RandomGenerator> generator;
  std::shared_ptr<models::EfficientNet> model;
};
LoadedClassifier load_classifier_file(const std::string& path, int64_t num_classes = 10);

// ---- acceptance ----

struct AcceptanceRates {
  std::vector<std::string> class_names;
  std::vector<int64_t> generated;  // per intended class
  std::vector<int64_t> accepted;   // of those, predicted as the intended class

  // accepted / generated of class c; NaN when none were generated.
  double rate(int64_t c) const;
  // {"Highway": {"generated": n, "accepted": k, "rate": r}, ...} for classes with images.
  nlohmann::json to_json() const;
};

// From intended classes and predictions (equal lengths, values in [0, class_names.size())).
AcceptanceRates acceptance_rates(const std::vector<int64_t>& intended,
                                 const std::vector<int64_t>& predicted,
                                 const std::vector<std::string>& class_names);
// Runs `classifier` (0..255 float images -> logits, e.g. an EfficientNet) on `generated`
// (labels = intended classes) through evaluate_classifier.
AcceptanceRates acceptance_rates(nn::Layer& classifier, const datasets::ImageSet& generated,
                                 int64_t batch_size = 128, Device device = Device::cpu());

// ---- features, Fréchet distance, diversity ----

// Feature vectors as rows: values[i * dim + j] is feature j of sample i.
struct FeatureMatrix {
  int64_t rows = 0, dim = 0;
  std::vector<double> values;
  // The rows whose entry in `labels` equals `label` (labels.size() == rows).
  FeatureMatrix select(const std::vector<int64_t>& labels, int64_t label) const;
};

// The 1408-d (for B2) pooled features of `model` (EfficientNet::features: everything before
// dropout and the classifier) for every image of `set`, in order, in eval() mode without
// autograd, batched; the model's training flag is restored.
FeatureMatrix efficientnet_features(models::EfficientNet& model, const datasets::ImageSet& set,
                                    int64_t batch_size = 128, Device device = Device::cpu());

// Mean and covariance of the rows, in double. The covariance is the unbiased one (divided by
// rows - 1), as numpy.cov and the reference FID code use; at least 2 rows.
struct FeatureStats {
  int64_t count = 0, dim = 0;
  std::vector<double> mean;        // [dim]
  std::vector<double> covariance;  // [dim, dim], row-major, symmetric
};
FeatureStats feature_stats(const FeatureMatrix& features);

// d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)), the squared Fréchet (2-Wasserstein)
// distance between N(mu1, S1) and N(mu2, S2). tr((S1 S2)^(1/2)) is computed as
// tr((A S2 A)^(1/2)) with A = S1^(1/2): A S2 A is symmetric positive semi-definite and similar to
// S1 S2, so both square roots come from symmetric eigendecompositions; eigenvalues below the
// rounding level (d * eps * the largest) are taken as 0, as a set with fewer samples than
// dimensions has many that are 0 in exact arithmetic. Dimensions must agree.
double frechet_distance(const FeatureStats& a, const FeatureStats& b);

// Mean Euclidean distance over all unordered pairs of rows (at least 2 rows).
double mean_pairwise_distance(const FeatureMatrix& features);

}  // namespace ember::training

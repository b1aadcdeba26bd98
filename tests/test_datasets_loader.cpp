// The batch loader (datasets/loader.h) on small ImageSets built in memory whose pixels all
// equal the sample's index, so every batch can be checked for which samples it holds: each
// sample once per epoch, seeded orders, the last-batch policy, the balanced sampler's class
// frequencies, prefetching equal to synchronous batching, shutdown mid-epoch, worker errors,
// bad sets, uint8 batches (pixel_dtype) equal to the float32 ones, and (on a GPU) batches on
// the device equal to the CPU ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "datasets/loader.h"
#include "tests/device_compare.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using datasets::Batch;
using datasets::LastBatch;
using datasets::Loader;
using datasets::LoaderOptions;

// labels.size() images of 2x2x3 whose every pixel is the image's index (so at most 256).
datasets::ImageSet indexed_set(const std::vector<int64_t>& labels, int64_t classes) {
  const int64_t n = static_cast<int64_t>(labels.size());
  std::vector<uint8_t> pixels;
  for (int64_t i = 0; i < n; ++i) pixels.insert(pixels.end(), 12, static_cast<uint8_t>(i));
  datasets::ImageSet set;
  set.images = from_vector(pixels, {n, 2, 2, 3}, {DType::UInt8});
  set.labels = from_vector(labels, {n}, {DType::Int64});
  for (int64_t i = 0; i < n; ++i) set.files.push_back("img_" + std::to_string(i) + ".jpg");
  for (int64_t c = 0; c < classes; ++c) set.class_names.push_back("class" + std::to_string(c));
  return set;
}

datasets::ImageSet cyclic_set(int64_t n, int64_t classes) {
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back(i % classes);
  return indexed_set(labels, classes);
}

// Every batch of `epoch`, checked to hold what its indices say: pixels == index, labels right.
std::vector<Batch> run_epoch(Loader& loader, const datasets::ImageSet& set, int64_t epoch) {
  const std::vector<int64_t> labels = set.labels.to_vector<int64_t>();
  std::vector<Batch> batches;
  loader.start_epoch(epoch);
  while (auto batch = loader.next()) {
    EXPECT_EQ(batch->number, static_cast<int64_t>(batches.size()));
    EXPECT_EQ(batch->images.dtype(), DType::Float32);
    EXPECT_EQ(batch->labels.dtype(), DType::Int64);
    const int64_t b = batch->images.size(0);
    EXPECT_EQ(batch->images.shape(), (Shape{b, 2, 2, 3}));
    EXPECT_EQ(static_cast<int64_t>(batch->indices.size()), b);
    const std::vector<float> pixels = batch->images.to_vector<float>();
    const std::vector<int64_t> got_labels = batch->labels.to_vector<int64_t>();
    for (int64_t k = 0; k < b; ++k) {
      const int64_t index = batch->indices[k];
      EXPECT_EQ(got_labels[k], labels[index]);
      for (int64_t p = 0; p < 12; ++p)
        EXPECT_EQ(pixels[k * 12 + p], static_cast<float>(index)) << "batch row " << k;
    }
    batches.push_back(std::move(*batch));
  }
  EXPECT_FALSE(loader.next().has_value()) << "the epoch must stay over";
  return batches;
}

std::vector<int64_t> indices_of(const std::vector<Batch>& batches) {
  std::vector<int64_t> all;
  for (const Batch& b : batches) all.insert(all.end(), b.indices.begin(), b.indices.end());
  return all;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(DatasetsLoader, EverySampleOncePerEpoch) {
  const datasets::ImageSet set = cyclic_set(50, 3);
  for (int64_t prefetch : {0, 2}) {
    Loader loader(set, {.batch_size = 8, .seed = 1, .prefetch = prefetch});
    EXPECT_EQ(loader.epoch_size(), 50);
    for (int64_t epoch : {0, 1, 2}) {
      const std::vector<Batch> batches = run_epoch(loader, set, epoch);
      std::vector<int64_t> seen = indices_of(batches);
      EXPECT_NE(seen, iota(50)) << "epoch " << epoch << " is not shuffled";
      std::sort(seen.begin(), seen.end());
      EXPECT_EQ(seen, iota(50)) << "epoch " << epoch << " prefetch " << prefetch;
    }
  }
}

TEST(DatasetsLoader, WithoutShuffleTheOrderIsTheSet) {
  const datasets::ImageSet set = cyclic_set(20, 2);
  Loader loader(set, {.batch_size = 6, .shuffle = false});
  EXPECT_EQ(indices_of(run_epoch(loader, set, 0)), iota(20));
  EXPECT_EQ(indices_of(run_epoch(loader, set, 5)), iota(20));
}

TEST(DatasetsLoader, SeedAndEpochFixTheOrder) {
  const datasets::ImageSet set = cyclic_set(64, 4);
  Loader a(set, {.batch_size = 10, .seed = 42});
  Loader b(set, {.batch_size = 10, .seed = 42, .prefetch = 0});
  Loader other_seed(set, {.batch_size = 10, .seed = 43});
  EXPECT_EQ(indices_of(run_epoch(a, set, 3)), indices_of(run_epoch(b, set, 3)));
  EXPECT_EQ(a.epoch_order(3), b.epoch_order(3));
  EXPECT_NE(a.epoch_order(0), a.epoch_order(1));
  EXPECT_NE(a.epoch_order(3), other_seed.epoch_order(3));
  // The order is a function of (seed, epoch) alone, not of what ran before.
  const std::vector<int64_t> first = a.epoch_order(7);
  run_epoch(a, set, 1);
  EXPECT_EQ(a.epoch_order(7), first);
  EXPECT_EQ(indices_of(run_epoch(a, set, 7)), first);
}

TEST(DatasetsLoader, LastBatchKeepOrDrop) {
  const datasets::ImageSet set = cyclic_set(50, 3);
  Loader keep(set, {.batch_size = 8, .last_batch = LastBatch::Keep});
  Loader drop(set, {.batch_size = 8, .last_batch = LastBatch::Drop});
  EXPECT_EQ(keep.batches_per_epoch(), 7);
  EXPECT_EQ(drop.batches_per_epoch(), 6);
  std::vector<int64_t> keep_sizes, drop_sizes;
  for (const Batch& b : run_epoch(keep, set, 0)) keep_sizes.push_back(b.images.size(0));
  for (const Batch& b : run_epoch(drop, set, 0)) drop_sizes.push_back(b.images.size(0));
  EXPECT_EQ(keep_sizes, (std::vector<int64_t>{8, 8, 8, 8, 8, 8, 2}));
  EXPECT_EQ(drop_sizes, (std::vector<int64_t>{8, 8, 8, 8, 8, 8}));
  // Dropping serves the first 48 of the same order; the next epoch drops different samples.
  std::vector<int64_t> order = keep.epoch_order(0);
  order.resize(48);
  EXPECT_EQ(indices_of(run_epoch(drop, set, 0)), order);
  // An exact multiple has no partial batch either way.
  Loader exact(set, {.batch_size = 10, .last_batch = LastBatch::Drop});
  EXPECT_EQ(exact.batches_per_epoch(), 5);
  EXPECT_ERROR_MENTIONS(Loader(set, {.batch_size = 64, .last_batch = LastBatch::Drop}),
                        "has no batches");
  Loader small_keep(set, {.batch_size = 64});
  EXPECT_EQ(run_epoch(small_keep, set, 0).size(), 1u);
}

TEST(DatasetsLoader, BalancedSamplerDrawsClassesEqually) {
  // 30 / 6 / 4 samples in classes 0 / 1 / 2.
  std::vector<int64_t> labels(30, 0);
  labels.insert(labels.end(), 6, 1);
  labels.insert(labels.end(), 4, 2);
  const datasets::ImageSet set = indexed_set(labels, 3);
  Loader loader(set, {.batch_size = 16, .seed = 9, .balanced = true});
  EXPECT_EQ(loader.epoch_size(), 90);
  EXPECT_EQ(loader.batches_per_epoch(), 6);
  for (int64_t epoch : {0, 1}) {
    const std::vector<int64_t> drawn = indices_of(run_epoch(loader, set, epoch));
    ASSERT_EQ(drawn.size(), 90u);
    std::map<int64_t, int64_t> per_class, per_sample;
    for (int64_t i : drawn) {
      ++per_class[labels[i]];
      ++per_sample[i];
    }
    EXPECT_EQ(per_class[0], 30);
    EXPECT_EQ(per_class[1], 30);
    EXPECT_EQ(per_class[2], 30);
    // Oversampling spreads evenly: 30 / 6 = 5 each; 30 / 4 = 7.5, so 7 or 8; class 0 once each.
    for (int64_t i = 0; i < 40; ++i) {
      const int64_t expected_low = labels[i] == 0 ? 1 : labels[i] == 1 ? 5 : 7;
      const int64_t expected_high = labels[i] == 2 ? 8 : expected_low;
      EXPECT_GE(per_sample[i], expected_low) << "sample " << i;
      EXPECT_LE(per_sample[i], expected_high) << "sample " << i;
    }
    // Shuffled across classes, not class by class: the first third is not all class 0.
    int64_t class0_in_first_third = 0;
    for (int64_t k = 0; k < 30; ++k) class0_in_first_third += labels[drawn[k]] == 0;
    EXPECT_LT(class0_in_first_third, 20);
  }
  Loader twin(set, {.batch_size = 16, .seed = 9, .balanced = true});
  EXPECT_EQ(twin.epoch_order(1), loader.epoch_order(1));
  EXPECT_NE(loader.epoch_order(0), loader.epoch_order(1));
}

TEST(DatasetsLoader, BalancedSamplerRejectsAnEmptyClassAndNoShuffle) {
  const datasets::ImageSet set = indexed_set({0, 0, 2, 2}, 3);  // class 1 has no samples
  EXPECT_ERROR_MENTIONS(Loader(set, {.balanced = true}), "class 1 (class1)");
  Loader unbalanced(set, {});  // without the sampler an empty class is fine
  EXPECT_ERROR_MENTIONS(Loader(cyclic_set(4, 2), {.shuffle = false, .balanced = true}),
                        "needs shuffle");
}

TEST(DatasetsLoader, PrefetchGivesTheSynchronousBatches) {
  const datasets::ImageSet set = cyclic_set(70, 5);
  for (bool balanced : {false, true}) {
    Loader sync(set, {.batch_size = 9, .seed = 3, .balanced = balanced,
                      .augment = {.flips_and_rotations = true}, .prefetch = 0});
    Loader ahead(set, {.batch_size = 9, .seed = 3, .balanced = balanced,
                       .augment = {.flips_and_rotations = true}, .prefetch = 3});
    for (int64_t epoch : {0, 4}) {
      sync.start_epoch(epoch);
      ahead.start_epoch(epoch);
      int64_t count = 0;
      while (auto expected = sync.next()) {
        auto got = ahead.next();
        ASSERT_TRUE(got) << "prefetching ended early at batch " << count;
        EXPECT_EQ(got->indices, expected->indices);
        EXPECT_TRUE(allclose(got->images, expected->images, 0, 0));
        EXPECT_TRUE(allclose(got->labels, expected->labels, 0, 0));
        ++count;
      }
      EXPECT_FALSE(ahead.next());
      EXPECT_EQ(count, sync.batches_per_epoch());
    }
  }
}

TEST(DatasetsLoader, StoppingMidEpochDoesNotHang) {
  const datasets::ImageSet set = cyclic_set(200, 4);
  {
    Loader loader(set, {.batch_size = 2, .prefetch = 2});
    loader.start_epoch(0);
    ASSERT_TRUE(loader.next());
    // The worker is now blocked on a full queue; the destructor must wake and join it.
  }
  {
    Loader never_started(set, {.batch_size = 2});
  }
  {
    Loader started_only(set, {.batch_size = 2});
    started_only.start_epoch(0);
  }
  // Restarting mid-epoch abandons the old epoch: the new one is complete and in its own order.
  Loader loader(set, {.batch_size = 7, .prefetch = 1});
  loader.start_epoch(0);
  ASSERT_TRUE(loader.next());
  ASSERT_TRUE(loader.next());
  EXPECT_EQ(indices_of(run_epoch(loader, set, 1)), loader.epoch_order(1));
}

TEST(DatasetsLoader, WorkerErrorsReachTheConsumer) {
  const datasets::ImageSet set = cyclic_set(40, 2);
  for (int64_t prefetch : {0, 2}) {
    LoaderOptions options{.batch_size = 8, .prefetch = prefetch};
    options.host_transform = [](Batch& batch) {
      if (batch.number == 2) EMBER_FAIL("decoding went wrong in batch ", batch.number);
    };
    Loader loader(set, options);
    loader.start_epoch(0);
    EXPECT_TRUE(loader.next());  // batches made before the failure are served
    EXPECT_TRUE(loader.next());
    EXPECT_ERROR_MENTIONS(loader.next(), "decoding went wrong in batch 2");
    // Other exception types arrive as ember::Error with their message.
    options.host_transform = [](Batch&) { throw std::runtime_error("disk on fire"); };
    Loader other(set, options);
    other.start_epoch(0);
    EXPECT_ERROR_MENTIONS(other.next(), "disk on fire");
    // A new epoch starts clean.
    std::atomic<int> calls{0};
    options.host_transform = [&calls](Batch&) { ++calls; };
    Loader fine(set, options);
    EXPECT_EQ(run_epoch(fine, set, 0).size(), 5u);
    EXPECT_EQ(calls.load(), 5);
  }
}

TEST(DatasetsLoader, BadSetsAndOptionsAreErrors) {
  datasets::ImageSet set = cyclic_set(4, 2);
  EXPECT_ERROR_MENTIONS(Loader(datasets::ImageSet{}, {}), "no images");
  EXPECT_ERROR_MENTIONS(Loader(set, {.batch_size = 0}), "batch_size");
  EXPECT_ERROR_MENTIONS(Loader(set, {.prefetch = -1}), "prefetch");
  datasets::ImageSet bad_label = cyclic_set(4, 2);
  bad_label.labels = from_vector(std::vector<int64_t>{0, 1, 2, 0}, {4}, {DType::Int64});
  EXPECT_ERROR_MENTIONS(Loader(bad_label, {}), "label 2 of sample 2 (img_2.jpg)");
  datasets::ImageSet floats = cyclic_set(4, 2);
  floats.images = floats.images.to(DType::Float32);
  EXPECT_ERROR_MENTIONS(Loader(floats, {}), "uint8");
  datasets::ImageSet short_labels = cyclic_set(4, 2);
  short_labels.labels = short_labels.labels.slice(0, 0, 3);
  EXPECT_ERROR_MENTIONS(Loader(short_labels, {}), "labels");
  Loader loader(set, {});
  EXPECT_ERROR_MENTIONS(loader.next(), "before start_epoch");
  if (!cuda_available()) {
    EXPECT_ERROR_MENTIONS(Loader(set, {.device = Device::cuda()}), "no CUDA device");
  }
}

// pixel_dtype = UInt8: the same batches as float32 (same samples, order, augmentation and
// labels), their pixels as uint8 of the same values, with and without the prefetch thread.
TEST(DatasetsLoader, Uint8BatchesHoldTheFloatBatchesPixels) {
  datasets::ImageSet set = cyclic_set(45, 3);
  // Distinct values within each image (so a symmetry shows): pixel p of image i is i + 5 * p.
  std::vector<uint8_t> pixels = set.images.to_vector<uint8_t>();
  for (size_t k = 0; k < pixels.size(); ++k) pixels[k] = static_cast<uint8_t>(k / 12 + 5 * (k % 12));
  set.images = from_vector(pixels, {45, 2, 2, 3}, {DType::UInt8});
  EXPECT_EQ(LoaderOptions{}.pixel_dtype, DType::Float32);  // the default stays float32
  for (int64_t prefetch : {0, 2}) {
    for (bool augment : {false, true}) {
      const LoaderOptions options{.batch_size = 8, .seed = 4,
                                  .augment = {.flips_and_rotations = augment},
                                  .prefetch = prefetch};
      LoaderOptions bytes_options = options;
      bytes_options.pixel_dtype = DType::UInt8;
      Loader floats(set, options), bytes(set, bytes_options);
      for (int64_t epoch : {0, 1}) {
        floats.start_epoch(epoch);
        bytes.start_epoch(epoch);
        int64_t batches = 0;
        while (auto expected = floats.next()) {
          auto got = bytes.next();
          ASSERT_TRUE(got);
          ++batches;
          EXPECT_EQ(got->images.dtype(), DType::UInt8);
          EXPECT_EQ(got->images.shape(), expected->images.shape());
          EXPECT_EQ(got->indices, expected->indices);
          EXPECT_EQ(got->labels.to_vector<int64_t>(), expected->labels.to_vector<int64_t>());
          // Every value 0..255 converts exactly, so the float batch is the uint8 one converted.
          EXPECT_EQ(got->images.to(DType::Float32).to_vector<float>(),
                    expected->images.to_vector<float>())
              << "epoch " << epoch << " batch " << batches << " augment " << augment;
        }
        EXPECT_FALSE(bytes.next());
        EXPECT_EQ(batches, 6);
      }
    }
  }
  // Without augmentation and shuffle, a uint8 batch is the set's rows as they are.
  Loader plain(set, {.batch_size = 45, .shuffle = false, .pixel_dtype = DType::UInt8});
  plain.start_epoch(0);
  EXPECT_EQ(plain.next()->images.to_vector<uint8_t>(), pixels);
  EXPECT_ERROR_MENTIONS(Loader(set, {.pixel_dtype = DType::Int64}),
                        "pixel_dtype must be float32 or uint8");
}

TEST(DatasetsLoader, CudaBatchesEqualTheCpuOnes) {
  EMBER_REQUIRE_CUDA();
  const datasets::ImageSet set = cyclic_set(45, 3);
  for (int64_t prefetch : {0, 2}) {
    Loader cpu(set, {.batch_size = 8, .seed = 2, .augment = {.flips_and_rotations = true},
                     .prefetch = prefetch});
    Loader gpu(set, {.batch_size = 8, .seed = 2, .augment = {.flips_and_rotations = true},
                     .prefetch = prefetch, .device = Device::cuda()});
    for (int64_t epoch : {0, 1}) {
      cpu.start_epoch(epoch);
      gpu.start_epoch(epoch);
      while (auto expected = cpu.next()) {
        auto got = gpu.next();
        ASSERT_TRUE(got);
        EXPECT_TRUE(got->images.is_cuda());
        EXPECT_TRUE(got->labels.is_cuda());
        EXPECT_EQ(got->indices, expected->indices);
        // to_vector waits for the queued copy.
        EXPECT_EQ(got->images.to_vector<float>(), expected->images.to_vector<float>());
        EXPECT_EQ(got->labels.to_vector<int64_t>(), expected->labels.to_vector<int64_t>());
      }
      EXPECT_FALSE(gpu.next());
    }
  }
}

TEST(DatasetsLoader, CudaUint8BatchesEqualTheCpuOnes) {
  EMBER_REQUIRE_CUDA();
  const datasets::ImageSet set = cyclic_set(45, 3);
  for (int64_t prefetch : {0, 2}) {
    Loader cpu(set, {.batch_size = 8, .seed = 2, .augment = {.flips_and_rotations = true},
                     .prefetch = prefetch});
    Loader gpu(set, {.batch_size = 8, .seed = 2, .augment = {.flips_and_rotations = true},
                     .prefetch = prefetch, .device = Device::cuda(),
                     .pixel_dtype = DType::UInt8});
    for (int64_t epoch : {0, 1}) {
      cpu.start_epoch(epoch);
      gpu.start_epoch(epoch);
      while (auto expected = cpu.next()) {
        auto got = gpu.next();
        ASSERT_TRUE(got);
        EXPECT_TRUE(got->images.is_cuda());
        EXPECT_EQ(got->images.dtype(), DType::UInt8);  // uploaded as uint8: a quarter the bytes
        EXPECT_EQ(got->indices, expected->indices);
        EXPECT_EQ(got->images.to(Device::cpu()).to(DType::Float32).to_vector<float>(),
                  expected->images.to_vector<float>());
        EXPECT_EQ(got->labels.to_vector<int64_t>(), expected->labels.to_vector<int64_t>());
      }
      EXPECT_FALSE(gpu.next());
    }
  }
}

}  // namespace
}  // namespace ember

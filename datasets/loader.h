// Loader: serves an ImageSet (datasets/image_set.h) in batches for training and evaluation.
//
//   datasets::Loader loader(train_set, {.batch_size = 64, .seed = 7, .device = Device::cuda()});
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     while (std::optional<datasets::Batch> batch = loader.next()) {
//       Tensor logits = model.forward(batch->images);  // [B, H, W, C], values 0..255
//       ... cross_entropy(logits, batch->labels) ...   // int64 [B]
//     }
//   }
//
// Order: with shuffle (the default) epoch e visits the samples in the order randperm draws from
// a Philox RandomGenerator in state (seed, e * 2^40): the same on every run and every machine, a
// different one each epoch, each sample exactly once. Without shuffle: 0, 1, ..., N-1.
// Class-balanced sampler (balanced = true): an epoch holds max_count samples of every class
// (max_count = the size of the largest class), so each class is drawn equally often; a class
// with fewer samples is oversampled by repeating seeded permutations of it (each of its samples
// appears floor or ceil of max_count / count times), the largest class appears exactly once.
// The epoch is then shuffled. The epoch is longer than N: epoch_size() tells.
// Last batch: LastBatch::Keep serves the smaller remainder, LastBatch::Drop leaves it out (for
// BatchNorm, which dislikes tiny batches); with Drop a set smaller than one batch is an error
// rather than an epoch of nothing.
//
// Output: images as NHWC with the raw pixel values 0..255 (the EfficientNet convention: the
// Keras model rescales/normalises inside the network, so the loader does not), float32 or, with
// pixel_dtype = UInt8, the pixels as they are stored (a quarter of the bytes to upload; the
// model converts them on the device); labels as int64, both on options.device. With augment.flips_and_rotations each image is
// transformed by one of the 8 symmetries of the square (datasets/augment.h), drawn per sample
// from (seed, epoch, position in the epoch).
//
// Threads: with prefetch > 0 one background thread assembles up to `prefetch` batches ahead
// into a bounded queue (on the host; in pinned memory when the device is CUDA). next() pops a
// batch and, for CUDA, queues its copy with to(device, non_blocking = true), so the copy of
// batch b+1 overlaps the compute on batch b; the pinned cache keeps the buffer from reuse until
// the copy has run (docs/memory.md). All CUDA stream work stays on the caller's thread.
// An exception in the worker (including one from options.host_transform) is re-thrown by
// next() as an ember::Error (ember::Errors unchanged, others wrapped with their message).
// start_epoch() while an epoch is unfinished abandons it; the destructor stops the worker
// without waiting for the epoch to finish. prefetch = 0: no thread, next() builds the batch
// itself (the same batches, bit for bit). A Loader is used from one thread.
//
// Tested in tests/test_datasets_loader.cpp (the GPU path with EMBER_REQUIRE_CUDA).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "datasets/augment.h"
#include "datasets/image_set.h"
#include "tensor/tensor.h"

namespace ember::datasets {

enum class LastBatch { Keep, Drop };

struct Batch {
  Tensor images;                 // [B, H, W, C], 0..255, pixel_dtype, on the loader's device
  Tensor labels;                 // int64 [B], on the loader's device
  std::vector<int64_t> indices;  // the samples of the set it holds (rows of set.images)
  int64_t number = 0;            // 0, 1, ... within the epoch
};

struct LoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = true;
  uint64_t seed = 0;  // the seed of the shuffle, the balanced sampler and the augmentation
  LastBatch last_batch = LastBatch::Keep;
  bool balanced = false;  // class-balanced sampler (needs shuffle)
  AugmentOptions augment = {};  // off by default (see augment.h)
  int64_t prefetch = 2;    // batches prepared ahead by the worker thread; 0: no thread
  Device device = Device::cpu();
  // Batch images as float32 (values 0..255) or as the uint8 pixels themselves, a quarter of the
  // bytes to copy to a GPU: for a model that converts them inside (EfficientNet fuses the
  // conversion with its rescaling; the GAN trainer maps them to [-1, 1] on the device).
  DType pixel_dtype = DType::Float32;
  // Runs on the worker thread on each host batch before it is queued (and before the device
  // copy): a place for extra host-side processing. Its exceptions reach next().
  std::function<void(Batch&)> host_transform = nullptr;
};

class Loader {
 public:
  // Checks the set (uint8 [N, H, W, C] on the CPU, int64 labels [N] within the classes, N > 0)
  // and the options; keeps handles to the set's tensors (no copy of the pixels).
  Loader(const ImageSet& set, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  const LoaderOptions& options() const { return options_; }
  int64_t epoch_size() const;         // samples in an epoch (N, or classes * max_count)
  int64_t batches_per_epoch() const;  // after the last-batch policy
  // The sample order of `epoch` (set rows, epoch_size() of them), before batching.
  std::vector<int64_t> epoch_order(int64_t epoch) const;

  // Begins `epoch` (>= 0), abandoning any unfinished one.
  void start_epoch(int64_t epoch);
  // The next batch of the current epoch, or nullopt when it is over. Throws if no epoch was
  // started, or re-throws the worker's error.
  std::optional<Batch> next();

 private:
  Batch build_host_batch(int64_t number) const;  // pure in (order_, number): any thread
  void stop_worker();
  void worker_loop();

  LoaderOptions options_;
  Tensor images_;  // uint8 [N, H, W, C], contiguous, CPU
  Tensor labels_;  // int64 [N], contiguous, CPU
  int64_t num_classes_ = 0;
  std::vector<std::vector<int64_t>> class_members_;  // rows of each class, ascending

  int64_t epoch_ = -1;
  std::vector<int64_t> order_;
  int64_t batches_ = 0;
  int64_t next_number_ = 0;  // the next batch next() hands out

  // Worker state, guarded by mutex_.
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> queue_;
  std::exception_ptr error_;
  bool stop_ = false;
};

}  // namespace ember::datasets

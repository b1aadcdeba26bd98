// The batch loader (datasets/loader.h): epoch orders, the balanced sampler, batch assembly with
// augmentation, and the prefetch thread. Tested in tests/test_datasets_loader.cpp.
#include "datasets/loader.h"

#include <algorithm>
#include <string>
#include <utility>

#include "ops/random.h"
#include "tensor/error.h"
#include "tensor/random.h"

namespace ember::datasets {
namespace {

// Each epoch draws from its own stretch of the Philox stream: 2^40 counters is far more than
// any epoch uses (a few permutations of at most a few hundred thousand samples).
constexpr int kEpochCounterShift = 40;

// next() promises ember::Error: other exceptions from the worker or a host_transform are
// wrapped with their message.
std::exception_ptr as_ember_error(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error&) {
    return std::current_exception();
  } catch (const std::exception& e) {
    return std::make_exception_ptr(Error(std::string("Loader: batch preparation failed: ") + e.what()));
  } catch (...) {
    return std::make_exception_ptr(Error("Loader: batch preparation failed with an unknown exception"));
  }
}

}  // namespace

Loader::Loader(const ImageSet& set, LoaderOptions options) : options_(std::move(options)) {
  EMBER_CHECK(set.images.defined() && set.labels.defined(),
              "Loader: the ImageSet has no images or no labels");
  EMBER_CHECK(set.images.dtype() == DType::UInt8 && set.images.dim() == 4 &&
                  set.images.device().is_cpu(),
              "Loader: images must be uint8 [N, H, W, C] on the CPU, got ",
              set.images.describe());
  EMBER_CHECK(set.labels.dtype() == DType::Int64 && set.labels.dim() == 1 &&
                  set.labels.device().is_cpu(),
              "Loader: labels must be int64 [N] on the CPU, got ", set.labels.describe());
  const int64_t n = set.images.size(0);
  EMBER_CHECK(set.labels.size(0) == n, "Loader: ", set.images.describe(), " images but ",
              set.labels.describe(), " labels");
  EMBER_CHECK(n > 0, "Loader: the ImageSet is empty");
  EMBER_CHECK(options_.batch_size >= 1, "Loader: batch_size must be >= 1, got ",
              options_.batch_size);
  EMBER_CHECK(options_.prefetch >= 0, "Loader: prefetch must be >= 0, got ", options_.prefetch);
  EMBER_CHECK(!options_.balanced || options_.shuffle,
              "Loader: the balanced sampler needs shuffle (unshuffled, its epoch would come "
              "class by class)");
  EMBER_CHECK(!options_.augment.flips_and_rotations || set.images.size(1) == set.images.size(2),
              "Loader: flips_and_rotations need square images, got ", set.images.describe());
  EMBER_CHECK(options_.pixel_dtype == DType::Float32 || options_.pixel_dtype == DType::UInt8,
              "Loader: pixel_dtype must be float32 or uint8, got ",
              dtype_name(options_.pixel_dtype));
  if (options_.device.is_cuda())
    EMBER_CHECK(cuda_available(), "Loader: device ", options_.device.str(),
                " requested but no CUDA device is available");
  images_ = set.images.contiguous();
  labels_ = set.labels.contiguous();

  const int64_t* labels = labels_.data<int64_t>();
  int64_t max_label = -1;
  for (int64_t i = 0; i < n; ++i) max_label = std::max(max_label, labels[i]);
  num_classes_ = set.class_names.empty() ? max_label + 1
                                         : static_cast<int64_t>(set.class_names.size());
  class_members_.assign(static_cast<size_t>(num_classes_), {});
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes_) {
      const std::string file = static_cast<size_t>(i) < set.files.size() ? set.files[i] : "";
      EMBER_FAIL("Loader: label ", labels[i], " of sample ", i, file.empty() ? "" : " (",
                 file, file.empty() ? "" : ")", " is outside [0, ", num_classes_, ")");
    }
    class_members_[static_cast<size_t>(labels[i])].push_back(i);
  }
  if (options_.balanced)
    for (int64_t c = 0; c < num_classes_; ++c)
      EMBER_CHECK(!class_members_[c].empty(), "Loader: the balanced sampler cannot draw class ",
                  c, set.class_names.empty() ? "" : " (", set.class_names.empty() ? "" :
                  set.class_names[c], set.class_names.empty() ? "" : ")",
                  ": it has no samples");
  EMBER_CHECK(options_.last_batch == LastBatch::Keep || epoch_size() >= options_.batch_size,
              "Loader: with LastBatch::Drop an epoch of ", epoch_size(),
              " samples and batch size ", options_.batch_size, " has no batches");
}

Loader::~Loader() { stop_worker(); }

int64_t Loader::epoch_size() const {
  if (!options_.balanced) return images_.size(0);
  size_t largest = 0;
  for (const auto& members : class_members_) largest = std::max(largest, members.size());
  return num_classes_ * static_cast<int64_t>(largest);
}

int64_t Loader::batches_per_epoch() const {
  const int64_t size = epoch_size(), b = options_.batch_size;
  return options_.last_batch == LastBatch::Drop ? size / b : (size + b - 1) / b;
}

std::vector<int64_t> Loader::epoch_order(int64_t epoch) const {
  EMBER_CHECK(epoch >= 0, "Loader: epoch must be >= 0, got ", epoch);
  const int64_t n = images_.size(0);
  std::vector<int64_t> order;
  if (!options_.shuffle) {
    order.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[i] = i;
    return order;
  }
  RandomGenerator gen(options_.seed);
  gen.set_state(options_.seed, static_cast<uint64_t>(epoch) << kEpochCounterShift);
  std::vector<int64_t> pool;
  if (options_.balanced) {
    const int64_t per_class = epoch_size() / num_classes_;
    pool.reserve(static_cast<size_t>(epoch_size()));
    for (const auto& members : class_members_) {
      // Whole seeded permutations of the class, repeated until per_class are drawn: each
      // sample appears floor or ceil of per_class / count times, never more unevenly.
      const int64_t count = static_cast<int64_t>(members.size());
      int64_t taken = 0;
      while (taken < per_class) {
        const std::vector<int64_t> perm = randperm(count, gen).to_vector<int64_t>();
        for (int64_t j = 0; j < count && taken < per_class; ++j, ++taken)
          pool.push_back(members[perm[j]]);
      }
    }
  } else {
    pool.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) pool[i] = i;
  }
  const std::vector<int64_t> perm =
      randperm(static_cast<int64_t>(pool.size()), gen).to_vector<int64_t>();
  order.resize(pool.size());
  for (size_t i = 0; i < pool.size(); ++i) order[i] = pool[perm[i]];
  return order;
}

namespace {

// Image b of a batch: the set's row `in` (uint8 [H, W, C]) into `dst`, transformed by
// `symmetry` (0: as it is), as float values 0..255 or as the uint8 pixels themselves.
template <typename Out>
void write_image(Out* dst, const uint8_t* in, int symmetry, int64_t h, int64_t w, int64_t c) {
  if (symmetry == 0) {
    for (int64_t k = 0; k < h * w * c; ++k) dst[k] = static_cast<Out>(in[k]);
    return;
  }
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      int64_t sy, sx;
      symmetry_source(symmetry, h, y, x, sy, sx);
      const uint8_t* p = in + (sy * w + sx) * c;
      Out* q = dst + (y * w + x) * c;
      for (int64_t k = 0; k < c; ++k) q[k] = static_cast<Out>(p[k]);
    }
}

}  // namespace

Batch Loader::build_host_batch(int64_t number) const {
  const int64_t first = number * options_.batch_size;
  const int64_t count =
      std::min<int64_t>(options_.batch_size, static_cast<int64_t>(order_.size()) - first);
  const int64_t h = images_.size(1), w = images_.size(2), c = images_.size(3);
  const int64_t pixels = h * w * c;
  // Pinned when the batch goes to a GPU, so that next()'s non_blocking copy is a queued DMA.
  // Each batch gets a fresh buffer; the pinned cache never hands out one still being copied.
  const bool pinned = options_.device.is_cuda();
  const DType dtype = options_.pixel_dtype;
  Batch batch;
  batch.number = number;
  batch.images = pinned ? empty_pinned({count, h, w, c}, dtype)
                        : empty({count, h, w, c}, {dtype, Device::cpu()});
  batch.labels = pinned ? empty_pinned({count}, DType::Int64)
                        : empty({count}, {DType::Int64, Device::cpu()});
  batch.indices.assign(order_.begin() + first, order_.begin() + first + count);
  const uint8_t* src = images_.data<uint8_t>();
  const int64_t* labels = labels_.data<int64_t>();
  int64_t* out_labels = batch.labels.data<int64_t>();
  for (int64_t b = 0; b < count; ++b) {
    const int64_t row = batch.indices[b];
    out_labels[b] = labels[row];
    const int symmetry = options_.augment.flips_and_rotations
                             ? draw_symmetry(options_.seed, epoch_, first + b) : 0;
    if (dtype == DType::UInt8)
      write_image(batch.images.data<uint8_t>() + b * pixels, src + row * pixels, symmetry, h, w, c);
    else
      write_image(batch.images.data<float>() + b * pixels, src + row * pixels, symmetry, h, w, c);
  }
  if (options_.host_transform) options_.host_transform(batch);
  return batch;
}

void Loader::stop_worker() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  worker_.join();
  queue_.clear();
  error_ = nullptr;
  stop_ = false;
}

void Loader::worker_loop() {
  for (int64_t number = 0; number < batches_; ++number) {
    {
      // Bounded queue: wait for room (or for the owner to stop us).
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] {
        return stop_ || static_cast<int64_t>(queue_.size()) < options_.prefetch;
      });
      if (stop_) return;
    }
    try {
      Batch batch = build_host_batch(number);
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = as_ember_error(std::current_exception());
      changed_.notify_all();
      return;
    }
    changed_.notify_all();
  }
}

void Loader::start_epoch(int64_t epoch) {
  EMBER_CHECK(epoch >= 0, "Loader: epoch must be >= 0, got ", epoch);
  stop_worker();
  order_ = epoch_order(epoch);  // on this thread: randperm and the RandomGenerator stay here
  epoch_ = epoch;
  batches_ = batches_per_epoch();
  next_number_ = 0;
  if (options_.prefetch > 0) worker_ = std::thread([this] { worker_loop(); });
}

std::optional<Batch> Loader::next() {
  EMBER_CHECK(epoch_ >= 0, "Loader: next() called before start_epoch()");
  if (next_number_ >= batches_) return std::nullopt;
  Batch batch;
  if (options_.prefetch == 0) {
    try {
      batch = build_host_batch(next_number_);
    } catch (...) {
      std::rethrow_exception(as_ember_error(std::current_exception()));
    }
  } else {
    std::unique_lock<std::mutex> lock(mutex_);
    // Batches made before a failure are still served in order; then the failure.
    changed_.wait(lock, [&] { return !queue_.empty() || error_; });
    if (queue_.empty()) std::rethrow_exception(error_);
    batch = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    changed_.notify_all();
  }
  ++next_number_;
  if (options_.device.is_cuda()) {
    batch.images = batch.images.to(options_.device, /*non_blocking=*/true);
    batch.labels = batch.labels.to(options_.device, /*non_blocking=*/true);
  }
  return batch;
}

}  // namespace ember::datasets

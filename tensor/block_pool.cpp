// The caching allocator's pool logic (see tensor/block_pool.h and docs/memory.md). Host C++ only;
// tested with a fake backend in tests/test_caching_allocator.cpp.
#include "tensor/block_pool.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace ember {

std::string describe(const MemoryStats& s) {
  const double hit_rate = s.num_allocs ? 100.0 * s.cache_hits / s.num_allocs : 0.0;
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.1f%%", hit_rate);
  return detail::concat("in use ", memory::format_bytes(s.allocated_bytes), " (peak ",
                        memory::format_bytes(s.peak_allocated_bytes), "), reserved ",
                        memory::format_bytes(s.reserved_bytes), " (peak ",
                        memory::format_bytes(s.peak_reserved_bytes), "), ", s.num_allocs,
                        " allocations (", rate, " from the cache), ", s.num_device_allocs,
                        " device allocations, ", s.num_device_frees, " device frees");
}

namespace memory {

namespace {
size_t round_up(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }
}  // namespace

std::string format_bytes(size_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 5) { value /= 1024.0; ++unit; }
  char text[32];
  if (unit == 0) std::snprintf(text, sizeof text, "%zu B", bytes);
  else std::snprintf(text, sizeof text, "%.2f %s", value, units[unit]);
  return text;
}

AllocatorMode parse_allocator_mode(const char* value) {
  if (value == nullptr || *value == '\0' || std::strcmp(value, "caching") == 0)
    return AllocatorMode::Caching;
  if (std::strcmp(value, "direct") == 0) return AllocatorMode::Direct;
  if (std::strcmp(value, "deferred") == 0) return AllocatorMode::Deferred;
  EMBER_FAIL("EMBER_CUDA_ALLOCATOR='", value, "' is not understood: use 'caching' (the default), ",
             "'direct' (cudaMalloc/cudaFree for every tensor, for compute-sanitizer) or ",
             "'deferred' (a freed block is reused only after the GPU work queued before its ",
             "free has finished, to check the one-stream rule)");
}

size_t parse_max_split_size(const char* value) {
  if (value == nullptr || *value == '\0') return kDefaultMaxSplitSize;
  const std::string text = value;
  const bool digits = text.size() <= 9 && text.find_first_not_of("0123456789") == std::string::npos;
  EMBER_CHECK(digits && std::stoull(text) >= 2, "EMBER_CUDA_MAX_SPLIT_MB='", text,
              "' is not understood: use a whole number of MiB, at least 2 (default ",
              kDefaultMaxSplitSize / kMiB, ")");
  return static_cast<size_t>(std::stoull(text)) * kMiB;
}

BlockPool::BlockPool(RawBackend& backend, PoolConfig config) : backend_(backend), config_(config) {
  EMBER_CHECK(config_.max_split_size >= kLargeSegmentRound, "BlockPool: max_split_size ",
              config_.max_split_size, " is below the large segment granularity ",
              kLargeSegmentRound);
}

BlockPool::~BlockPool() {
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    release_free_segments();
  } catch (const Error&) {
    // Waiting for a pending free failed (a broken device): its segment is left to the driver.
  }
  for (Block* block : pending_) backend_.destroy_event(block->event);
  for (void* event : spare_events_) backend_.destroy_event(event);
  // Blocks still handed out belong to tensors that outlive the pool (the process allocators
  // are never destroyed, so this only happens to pools made by tests): forget them, and the
  // free and pending pieces of their segments, which release_free_segments could not give back.
  // Each block is in exactly one of these.
  for (Block* block : pending_) delete block;
  for (Block* block : small_free_) delete block;
  for (Block* block : large_free_) delete block;
  for (auto& [ptr, block] : live_) {
    (void)ptr;
    delete block;
  }
}

// ---------------------------------------------------------------------------------------------
// Stats

void BlockPool::note_allocated(size_t size, size_t requested) {
  stats_.allocated_bytes += size;
  stats_.requested_bytes += requested;
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  ++stats_.num_allocs;
  ++stats_.active_blocks;
}

void BlockPool::note_reserved(size_t size) {
  stats_.reserved_bytes += size;
  stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
  ++stats_.num_device_allocs;
  ++stats_.segments;
}

MemoryStats BlockPool::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void BlockPool::reset_peak_stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
  stats_.peak_reserved_bytes = stats_.reserved_bytes;
}

// ---------------------------------------------------------------------------------------------
// Allocation

void* BlockPool::allocate(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  if (config_.mode == AllocatorMode::Direct) return allocate_direct(nbytes);
  EMBER_CHECK(nbytes <= SIZE_MAX - kLargeSegmentRound, "cannot allocate ", nbytes,
              " bytes on ", backend_.device_name(), ": the size overflows");

  const size_t size = round_up(nbytes, kRoundBytes);
  const bool small = size <= kSmallRequest;
  if (!pending_.empty()) release_finished_frees();
  Block* block = find_free_block(size, small);
  // Deferred mode: rather than grow the pool, wait for the frees of this pool still pending.
  while (!block && pending_in_pool(small)) {
    wait_oldest_pending_free();
    block = find_free_block(size, small);
  }
  if (block) {
    ++stats_.cache_hits;
  } else {
    const size_t segment_size = small ? kSmallSegment : round_up(size, kLargeSegmentRound);
    block = new_segment(nbytes, segment_size, small);
  }
  split(block, size);
  block->allocated = true;
  block->requested = nbytes;
  live_.emplace(block->ptr, block);
  note_allocated(block->size, nbytes);
  return block->ptr;
}

// Best fit within the request's pool, subject to the split limit (see the header).
BlockPool::Block* BlockPool::find_free_block(size_t size, bool small) {
  FreeSet& set = free_set(small);
  Block key;
  key.size = size;
  key.ptr = nullptr;
  auto it = set.lower_bound(&key);  // smallest block >= size, lowest address among equals
  if (it == set.end()) return nullptr;
  Block* block = *it;
  if (!small) {
    // The set is ordered by size, so when the best fit is unusable every larger block is too.
    if (!oversize(size) && oversize(block->size)) return nullptr;
    if (oversize(size) && block->size - size > kOversizeSlack) return nullptr;
  }
  set.erase(it);
  return block;
}

BlockPool::Block* BlockPool::new_segment(size_t nbytes, size_t segment_size, bool small) {
  void* ptr = backend_.raw_alloc(segment_size);
  if (!ptr && hold_segments_) {
    ++stats_.num_ooms;
    throw_out_of_memory(nbytes, segment_size);
  }
  if (!ptr) {
    // Out of device memory: cached segments may be what fills it. Give them back, try again.
    ++stats_.num_oom_retries;
    release_free_segments();
    ptr = backend_.raw_alloc(segment_size);
  }
  if (!ptr) {
    ++stats_.num_ooms;
    throw_out_of_memory(nbytes, segment_size);
  }
  note_reserved(segment_size);
  Block* block = new Block;
  block->ptr = static_cast<char*>(ptr);
  block->size = segment_size;
  block->small = small;
  return block;
}

// Cuts `size` bytes off the front of a free (not yet handed out) block when the remainder is
// worth keeping as a free block of its own; otherwise the block is handed out whole.
void BlockPool::split(Block* block, size_t size) {
  const size_t remainder = block->size - size;
  const bool worth = block->small ? remainder >= kRoundBytes
                                  : remainder > kMinLargeRemainder && !oversize(block->size);
  if (!worth) return;
  Block* rest = new Block;
  rest->ptr = block->ptr + size;
  rest->size = remainder;
  rest->small = block->small;
  rest->prev = block;
  rest->next = block->next;
  if (block->next) block->next->prev = rest;
  block->next = rest;
  block->size = size;
  free_set(rest->small).insert(rest);
}

void BlockPool::throw_out_of_memory(size_t nbytes, size_t asked) {
  size_t free_bytes = 0, total_bytes = 0;
  backend_.memory_info(&free_bytes, &total_bytes);
  const std::string device_memory =
      total_bytes ? detail::concat(format_bytes(free_bytes), " (", free_bytes, " bytes) free of ",
                                   format_bytes(total_bytes), " (", total_bytes, " bytes)")
                  : std::string("unknown free/total memory");
  if (hold_segments_)
    EMBER_FAIL("CUDA out of memory while capturing a CUDA graph on ", backend_.device_name(),
               ": tried to allocate ", nbytes, " bytes (", format_bytes(nbytes), "; ", asked,
               " bytes asked of the device: ", backend_.last_failure(), ") for the graph's ",
               "private pool, which holds ", stats_.reserved_bytes, " bytes (",
               format_bytes(stats_.reserved_bytes), "); cached memory cannot be given back ",
               "during a capture (cudaFree is not allowed then); the device has ", device_memory,
               ". Free memory before capturing (cuda_empty_cache) or use smaller batches.");
  EMBER_FAIL("CUDA out of memory on ", backend_.device_name(), ": tried to allocate ", nbytes,
             " bytes (", format_bytes(nbytes), "; ", asked, " bytes asked of the device: ",
             backend_.last_failure(), "); ember ",
             "holds ", stats_.allocated_bytes, " bytes (", format_bytes(stats_.allocated_bytes),
             ") in use and ", stats_.reserved_bytes, " bytes (",
             format_bytes(stats_.reserved_bytes), ") reserved, after giving back its cached ",
             "blocks; the device has ", device_memory,
             ". Free tensors you no longer need or use smaller batches.");
}

// ---------------------------------------------------------------------------------------------
// Freeing

void BlockPool::deallocate(void* ptr) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (config_.mode == AllocatorMode::Direct) return deallocate_direct(ptr);
  auto it = live_.find(ptr);
  EMBER_CHECK(it != live_.end(), "free of ", ptr, " on ", backend_.device_name(),
              ": not a block handed out by this allocator (double free?)");
  Block* block = it->second;
  live_.erase(it);
  stats_.allocated_bytes -= block->size;
  stats_.requested_bytes -= block->requested;
  --stats_.active_blocks;
  ++stats_.num_frees;
  block->allocated = false;
  block->requested = 0;
  if (config_.mode == AllocatorMode::Deferred) return defer_free(block);
  // No wait for the GPU here: the next user of this block queues its work on the same compute
  // stream, behind the work of the previous owner (docs/memory.md).
  insert_free(block);
}

void BlockPool::insert_free(Block* block) {
  // Merge with free neighbours (only blocks of the same segment are linked), so the segment can
  // become one free block again and be given back by empty_cache. Blocks whose free is still
  // pending (deferred mode) are not free yet: they merge when their own event completes.
  FreeSet& set = free_set(block->small);
  if (Block* prev = block->prev; prev && is_free(prev)) {
    set.erase(prev);
    block->ptr = prev->ptr;
    block->size += prev->size;
    block->prev = prev->prev;
    if (block->prev) block->prev->next = block;
    delete prev;
  }
  if (Block* next = block->next; next && is_free(next)) {
    set.erase(next);
    block->size += next->size;
    block->next = next->next;
    if (block->next) block->next->prev = block;
    delete next;
  }
  set.insert(block);
}

// ---------------------------------------------------------------------------------------------
// Deferred mode: a freed block waits for the GPU work queued before its free.

void BlockPool::defer_free(Block* block) {
  void* event = nullptr;
  try {
    if (spare_events_.empty()) {
      event = backend_.create_event();
    } else {
      event = spare_events_.back();
      spare_events_.pop_back();
    }
    backend_.record_event(event);
  } catch (const Error&) {
    // Frees run in Storage destructors, possibly while an earlier CUDA error unwinds the stack:
    // never throw here. Without an event, wait for all queued work instead; then the block is
    // safe to reuse at once.
    if (event) backend_.destroy_event(event);
    backend_.synchronize();
    insert_free(block);
    return;
  }
  block->event = event;
  pending_.push_back(block);
  stats_.pending_free_bytes += block->size;
}

void BlockPool::finish_oldest_pending_free() {
  Block* block = pending_.front();
  pending_.pop_front();
  spare_events_.push_back(block->event);
  block->event = nullptr;
  stats_.pending_free_bytes -= block->size;
  insert_free(block);
}

void BlockPool::release_finished_frees() {
  // Every event is recorded on the one compute stream, and a stream completes its events in the
  // order they were recorded: the first pending free not yet done ends the scan.
  while (!pending_.empty() && backend_.event_done(pending_.front()->event))
    finish_oldest_pending_free();
}

void BlockPool::wait_oldest_pending_free() {
  ++stats_.num_pending_waits;
  backend_.wait_event(pending_.front()->event);
  finish_oldest_pending_free();
  release_finished_frees();
}

bool BlockPool::pending_in_pool(bool small) const {
  return std::any_of(pending_.begin(), pending_.end(),
                     [small](const Block* block) { return block->small == small; });
}

void BlockPool::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_free_segments();
}

void BlockPool::set_hold_segments(bool hold) {
  std::lock_guard<std::mutex> lock(mutex_);
  hold_segments_ = hold;
}

void BlockPool::release_free_segments() {
  if (hold_segments_) return;  // a capture allocates from this pool: no cudaFree, no sync
  // Deferred mode: blocks whose free is pending count as free once their work is done, and a
  // segment must not go back to the driver under queued work anyway. Wait for them all.
  if (!pending_.empty()) release_finished_frees();
  while (!pending_.empty()) wait_oldest_pending_free();
  std::vector<Block*> whole;
  for (FreeSet* set : {&small_free_, &large_free_})
    for (Block* block : *set)
      if (!block->prev && !block->next) whole.push_back(block);
  if (whole.empty()) return;
  // The blocks are free on the host, but queued kernels may still use them.
  backend_.synchronize();
  for (Block* block : whole) {
    free_set(block->small).erase(block);
    backend_.raw_free(block->ptr, block->size);
    stats_.reserved_bytes -= block->size;
    ++stats_.num_device_frees;
    --stats_.segments;
    delete block;
  }
}

// ---------------------------------------------------------------------------------------------
// Direct mode: no cache, exact sizes, every free waits for the GPU and gives the memory back.

void* BlockPool::allocate_direct(size_t nbytes) {
  void* ptr = backend_.raw_alloc(nbytes);
  if (!ptr) {
    ++stats_.num_ooms;
    throw_out_of_memory(nbytes, nbytes);
  }
  direct_live_.emplace(ptr, nbytes);
  note_reserved(nbytes);
  note_allocated(nbytes, nbytes);
  return ptr;
}

void BlockPool::deallocate_direct(void* ptr) {
  auto it = direct_live_.find(ptr);
  EMBER_CHECK(it != direct_live_.end(), "free of ", ptr, " on ", backend_.device_name(),
              ": not a block handed out by this allocator (double free?)");
  const size_t nbytes = it->second;
  direct_live_.erase(it);
  backend_.synchronize();  // queued kernels may still use it
  backend_.raw_free(ptr, nbytes);
  stats_.allocated_bytes -= nbytes;
  stats_.requested_bytes -= nbytes;
  stats_.reserved_bytes -= nbytes;
  --stats_.active_blocks;
  --stats_.segments;
  ++stats_.num_frees;
  ++stats_.num_device_frees;
}

// ---------------------------------------------------------------------------------------------
// For tests

size_t BlockPool::block_size(void* ptr) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = live_.find(ptr); it != live_.end()) return it->second->size;
  if (auto it = direct_live_.find(ptr); it != direct_live_.end()) return it->second;
  return 0;
}

std::string BlockPool::check_invariants() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (config_.mode == AllocatorMode::Direct) {
    size_t total = 0;
    for (const auto& [ptr, n] : direct_live_) { (void)ptr; total += n; }
    if (total != stats_.allocated_bytes || total != stats_.reserved_bytes)
      return detail::concat("direct: live bytes ", total, " != stats ", stats_.allocated_bytes);
    return "";
  }
  // Collect every block: the handed-out ones and the free ones.
  std::vector<const Block*> all;
  for (const auto& [ptr, block] : live_) {
    if (ptr != block->ptr || !block->allocated || block->event) return "live map entry inconsistent";
    all.push_back(block);
  }
  for (const FreeSet* set : {&small_free_, &large_free_}) {
    for (const Block* block : *set) {
      if (block->allocated) return detail::concat("allocated block in a free set at ", (void*)block->ptr);
      if (block->event) return detail::concat("pending block in a free set at ", (void*)block->ptr);
      if (block->small != (set == &small_free_)) return "free block in the wrong pool";
      all.push_back(block);
    }
  }
  if (config_.mode != AllocatorMode::Deferred && (!pending_.empty() || !spare_events_.empty()))
    return "events outside the deferred mode";
  size_t pending_bytes = 0;
  for (const Block* block : pending_) {
    if (block->allocated || !block->event) return "pending block without its event, or in use";
    pending_bytes += block->size;
    all.push_back(block);
  }
  if (pending_bytes != stats_.pending_free_bytes)
    return detail::concat("pending blocks hold ", pending_bytes, " bytes, stats say ",
                          stats_.pending_free_bytes);
  size_t reserved = 0, allocated = 0, requested = 0, segments = 0, walked = 0;
  for (const Block* head : all) {
    if (head->prev) continue;
    ++segments;
    size_t segment_size = 0;
    for (const Block* b = head; b; b = b->next) {
      ++walked;
      if (b->size == 0 || b->size % kRoundBytes) return detail::concat("bad block size ", b->size);
      if (b->small != head->small) return "segment mixes pools";
      if (b->next && b->next->prev != b) return "broken prev/next links";
      if (b->next && b->ptr + b->size != b->next->ptr) return "blocks of a segment not contiguous";
      if (b->next && is_free(b) && is_free(b->next)) return "two free neighbours not merged";
      if (b->allocated) { allocated += b->size; requested += b->requested; }
      segment_size += b->size;
    }
    if (head->small && segment_size != kSmallSegment)
      return detail::concat("small segment of ", segment_size, " bytes");
    if (!head->small && segment_size % kLargeSegmentRound)
      return detail::concat("large segment of ", segment_size, " bytes");
    reserved += segment_size;
  }
  if (walked != all.size()) return detail::concat("walked ", walked, " blocks, know ", all.size());
  if (reserved != stats_.reserved_bytes)
    return detail::concat("segments hold ", reserved, " bytes, stats say ", stats_.reserved_bytes);
  if (allocated != stats_.allocated_bytes)
    return detail::concat("blocks in use hold ", allocated, " bytes, stats say ",
                          stats_.allocated_bytes);
  if (requested != stats_.requested_bytes) return "requested bytes disagree with the stats";
  if (segments != stats_.segments) return "segment count disagrees with the stats";
  if (live_.size() != stats_.active_blocks) return "active block count disagrees with the stats";
  return "";
}

}  // namespace memory
}  // namespace ember

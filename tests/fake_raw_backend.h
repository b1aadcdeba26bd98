// FakeDevice: a RawBackend (tensor/block_pool.h) for the allocator tests on the CPU, shared by
// tests/test_caching_allocator.cpp and tests/test_graph_pools.cpp. It never touches memory.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tensor/block_pool.h"
#include "tensor/error.h"

namespace ember::testing {

// A device with `capacity` bytes that hands out consecutive addresses (so segments lie next to
// each other and a merge across segments would go unnoticed by address arithmetic alone). Its
// "stream" finishes work only when the test says so (finish_all) or when the host waits on an
// event, so the tests decide which frees are still pending in the deferred mode.
class FakeDevice final : public memory::RawBackend {
 public:
  explicit FakeDevice(size_t capacity = size_t{1} << 40) : capacity_(capacity) {}

  void* raw_alloc(size_t nbytes) override {
    if (used_ + nbytes > capacity_) {
      ++failed_allocs;
      log.push_back("fail " + std::to_string(nbytes));
      return nullptr;
    }
    const uintptr_t address = next_;
    next_ += nbytes;
    live_[address] = nbytes;
    used_ += nbytes;
    ++allocs;
    log.push_back("alloc " + std::to_string(nbytes));
    return reinterpret_cast<void*>(address);
  }
  void raw_free(void* ptr, size_t nbytes) override {
    auto it = live_.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == live_.end()) {
      ADD_FAILURE() << "raw_free of a pointer the device never handed out";
      return;
    }
    EXPECT_EQ(it->second, nbytes) << "raw_free with a size other than the allocation's";
    used_ -= it->second;
    live_.erase(it);
    ++frees;
    log.push_back("free " + std::to_string(nbytes));
  }
  void synchronize() override {
    ++syncs;
    log.push_back("sync");
  }
  std::string device_name() const override { return "fake:0"; }
  std::string last_failure() const override { return "fake_alloc: no room"; }
  void memory_info(size_t* free_bytes, size_t* total_bytes) override {
    *free_bytes = capacity_ - used_;
    *total_bytes = capacity_;
  }
  void* create_event() override {
    events_.push_back(std::make_unique<uint64_t>(0));
    ++events_created;
    ++live_events;
    return events_.back().get();
  }
  void record_event(void* event) override {
    if (fail_records) EMBER_FAIL("fake_record_event: the device is broken");
    ++records;
    *static_cast<uint64_t*>(event) = ++clock_;
  }
  bool event_done(void* event) override { return *static_cast<uint64_t*>(event) <= completed_; }
  void wait_event(void* event) override {
    log.push_back("wait");
    completed_ = std::max(completed_, *static_cast<uint64_t*>(event));
  }
  void destroy_event(void*) override { --live_events; }

  void finish_all() { completed_ = clock_; }  // the stream caught up with everything queued
  size_t used() const { return used_; }
  size_t live_segments() const { return live_.size(); }

  int allocs = 0, frees = 0, syncs = 0, failed_allocs = 0;
  int events_created = 0, live_events = 0, records = 0;
  bool fail_records = false;
  std::vector<std::string> log;

 private:
  size_t capacity_;
  size_t used_ = 0;
  uintptr_t next_ = uintptr_t{1} << 32;
  std::map<uintptr_t, size_t> live_;
  std::vector<std::unique_ptr<uint64_t>> events_;
  uint64_t clock_ = 0, completed_ = 0;
};

}  // namespace ember::testing

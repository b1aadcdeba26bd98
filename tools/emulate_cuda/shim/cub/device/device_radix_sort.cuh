// Emulator stand-in for CUB's DeviceRadixSort::SortPairs (tools/emulate_cuda/): a stable host
// sort on bits [begin_bit, end_bit) of the keys. It checks how a wrapper calls CUB (temporary
// storage query, key bits, stability), never CUB itself.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <vector>

namespace cub {
struct DeviceRadixSort {
  template <typename Key, typename Value>
  static cudaError_t SortPairs(void* temp, size_t& temp_bytes, const Key* keys_in, Key* keys_out,
                               const Value* values_in, Value* values_out, int n, int begin_bit = 0,
                               int end_bit = static_cast<int>(sizeof(Key) * 8),
                               cudaStream_t = nullptr) {
    if (temp == nullptr) {
      temp_bytes = 64;  // any non-zero size: the caller must allocate and call again
      return cudaSuccess;
    }
    if (temp_bytes < 64 || n < 0) return cudaErrorInvalidValue;
    const int bits = end_bit - begin_bit;
    auto digit = [&](Key k) {
      using U = unsigned long long;
      const U u = static_cast<U>(k) >> begin_bit;
      return bits >= 64 ? u : (u & ((U(1) << bits) - 1));
    };
    std::vector<int> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return digit(keys_in[a]) < digit(keys_in[b]); });
    std::vector<Key> k(n);
    std::vector<Value> v(n);
    for (int i = 0; i < n; ++i) {
      k[i] = keys_in[order[i]];
      v[i] = values_in[order[i]];
    }
    std::copy(k.begin(), k.end(), keys_out);
    std::copy(v.begin(), v.end(), values_out);
    return cudaSuccess;
  }
};
}  // namespace cub

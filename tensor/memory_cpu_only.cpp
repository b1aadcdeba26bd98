// CPU-only build: the tensor/memory.h API exists. Asking for a GPU's stats, or for a CUDA
// graph's memory pool, is an error (there is no such device); emptying the caches and synchronizing have nothing to do; no pinned memory
// exists, so its stats are zero.
#ifndef EMBER_WITH_CUDA
#include "tensor/error.h"
#include "tensor/memory.h"

namespace ember {

MemoryStats cuda_memory_stats(int device) {
  EMBER_FAIL("cuda_memory_stats(cuda:", device, "): this build has no CUDA backend ",
             "(configure with -DEMBER_CUDA=ON)");
}
void cuda_reset_peak_stats(int device) {
  EMBER_FAIL("cuda_reset_peak_stats(cuda:", device, "): this build has no CUDA backend ",
             "(configure with -DEMBER_CUDA=ON)");
}
void cuda_empty_cache() {}
uint64_t cuda_graph_pool_open(int device) {
  EMBER_FAIL("cuda_graph_pool_open(cuda:", device, "): CUDA graphs' memory pools need a CUDA ",
             "build (configure with -DEMBER_CUDA=ON)");
}
void cuda_graph_pool_route(int device, uint64_t) {
  EMBER_FAIL("cuda_graph_pool_route(cuda:", device, "): CUDA graphs' memory pools need a CUDA ",
             "build (configure with -DEMBER_CUDA=ON)");
}
void cuda_graph_pool_release(int device, uint64_t) {
  EMBER_FAIL("cuda_graph_pool_release(cuda:", device, "): CUDA graphs' memory pools need a CUDA ",
             "build (configure with -DEMBER_CUDA=ON)");
}
size_t cuda_graph_pool_reserved_bytes(int device, uint64_t) {
  EMBER_FAIL("cuda_graph_pool_reserved_bytes(cuda:", device, "): CUDA graphs' memory pools need ",
             "a CUDA build (configure with -DEMBER_CUDA=ON)");
}
MemoryStats pinned_memory_stats() { return {}; }
void cuda_synchronize() {}

}  // namespace ember
#endif

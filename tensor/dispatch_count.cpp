// Per-name tallies of kernel dispatches (contract in tensor/dispatch_count.h).
#include "tensor/dispatch_count.h"

#include <algorithm>

namespace ember {

void dispatch_detail::record(const char* name) { ++tally->counts_[name]; }

DispatchTally::DispatchTally() : outer_(dispatch_detail::tally) { dispatch_detail::tally = this; }

DispatchTally::~DispatchTally() { dispatch_detail::tally = outer_; }

uint64_t DispatchTally::total() const {
  uint64_t sum = 0;
  for (const auto& [name, n] : counts_) sum += n;
  return sum;
}

std::vector<std::pair<std::string, uint64_t>> DispatchTally::by_name() const {
  std::vector<std::pair<std::string, uint64_t>> rows(counts_.begin(), counts_.end());
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return rows;
}

}  // namespace ember

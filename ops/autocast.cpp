// The thread-local precision scope (contract: ops/autocast.h).
#include "ops/autocast.h"

namespace ember {

namespace {
thread_local Precision current = Precision::Float32;
}  // namespace

Precision autocast_precision() { return current; }

Precision autocast_precision_for(DType dtype) {
  return dtype == DType::Float32 ? current : Precision::Float32;
}

PrecisionScope::PrecisionScope(Precision precision) : saved_(current) { current = precision; }

PrecisionScope::~PrecisionScope() { current = saved_; }

}  // namespace ember

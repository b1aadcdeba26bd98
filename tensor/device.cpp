#include "tensor/device.h"

#include "tensor/error.h"

namespace ember {

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0) {
    const std::string digits = text.substr(5);
    EMBER_CHECK(!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos,
                "bad device '", text, "': expected cpu, cuda or cuda:N");
    return cuda(std::stoi(digits));
  }
  EMBER_FAIL("bad device '", text, "': expected cpu, cuda or cuda:N");
}

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

bool cuda_available() { return cuda_device_count() > 0; }

#ifndef EMBER_WITH_CUDA
int cuda_device_count() { return 0; }
bool built_with_cuda() { return false; }
#endif

}  // namespace ember

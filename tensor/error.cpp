#include "tensor/error.h"

namespace ember::detail {

void throw_error(const char* file, int line, const std::string& message) {
  std::string where = file;
  // Keep the path relative to the repository so messages stay short and stable.
  for (const char* root : {"/tensor/", "/kernels/", "/autograd/", "/ops/", "/nn/", "/optim/",
                           "/models/", "/apps/"}) {
    auto pos = where.rfind(root);
    if (pos != std::string::npos) { where = where.substr(pos + 1); break; }
  }
  throw Error(message + " (" + where + ":" + std::to_string(line) + ")");
}

}  // namespace ember::detail

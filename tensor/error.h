// Error reporting for the whole framework: one exception type and check macros.
// Library code never exits; it throws ember::Error with the failing condition, file:line and a
// message that names the operands involved. Tested in tests/test_errors.cpp.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace ember {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
[[noreturn]] void throw_error(const char* file, int line, const std::string& message);
}  // namespace detail

}  // namespace ember

// EMBER_CHECK(cond, parts...): throws ember::Error("<parts> (file:line)") when cond is false.
#define EMBER_CHECK(cond, ...)                                                           \
  do {                                                                                   \
    if (!(cond)) ::ember::detail::throw_error(__FILE__, __LINE__,                         \
                                              ::ember::detail::concat(__VA_ARGS__));     \
  } while (0)

#define EMBER_FAIL(...) \
  ::ember::detail::throw_error(__FILE__, __LINE__, ::ember::detail::concat(__VA_ARGS__))

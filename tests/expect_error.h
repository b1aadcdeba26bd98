// Shared assertions for error-message tests: an op must throw ember::Error, and the message
// must name the problem (the op, the operands, the bad value).
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <initializer_list>
#include <string>

#include "tensor/error.h"

namespace ember::testing {

// The message of the ember::Error that f throws, or "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Runs fn, expecting an ember::Error whose message contains every one of `parts`.
inline void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> parts) {
  const std::string message = error_of(fn);
  if (message.empty()) {
    ADD_FAILURE() << "expected an ember::Error";
    return;
  }
  for (const std::string& part : parts)
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' missing from: " << message;
}

}  // namespace ember::testing

// EXPECT that `statement` throws an ember::Error whose message contains `text`.
#define EXPECT_ERROR_MENTIONS(statement, text)                                              \
  do {                                                                                      \
    const std::string ember_message_ = ::ember::testing::error_of([&] { statement; });     \
    EXPECT_NE(ember_message_, "") << "expected an ember::Error from " #statement;          \
    EXPECT_NE(ember_message_.find(text), std::string::npos) << ember_message_;              \
  } while (0)

// Whether ops record history. Thread-local, on by default. NoGradGuard turns recording off for a
// scope (evaluation, optimizer updates); the engine turns it on during backward only when
// create_graph is asked for, so that the backward pass is itself differentiable.
#pragma once

namespace ember {

class GradMode {
 public:
  static bool enabled();
  static void set_enabled(bool enabled);
};

class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(GradMode::enabled()) { GradMode::set_enabled(enabled); }
  ~GradModeGuard() { GradMode::set_enabled(previous_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

class NoGradGuard : public GradModeGuard {
 public:
  NoGradGuard() : GradModeGuard(false) {}
};

}  // namespace ember

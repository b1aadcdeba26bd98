// The apps' profiling of chosen training steps (contract in training/profiled_steps.h).
#include "training/profiled_steps.h"

#include <utility>

#include "tensor/profile_output.h"

namespace ember::training {

ProfiledSteps::ProfiledSteps(std::optional<profiler::Settings> settings)
    : settings_(std::move(settings)) {}

ProfiledSteps::~ProfiledSteps() {
  range_.reset();  // before the session it records into
  session_.reset();
}

void ProfiledSteps::begin_step() {
  ++step_;
  if (!settings_ || step_ < settings_->first_step || step_ > settings_->last_step) return;
  if (!session_) session_ = std::make_unique<profiler::Session>();
  range_.reset();
  range_name_ = "step " + std::to_string(step_);
  range_ = std::make_unique<profiler::Range>(range_name_.c_str());
}

std::string ProfiledSteps::end_step() {
  range_.reset();
  if (!session_ || step_ < settings_->last_step) return "";
  return write();
}

std::string ProfiledSteps::finish() {
  range_.reset();
  return session_ ? write() : "";
}

std::string ProfiledSteps::write() {
  const profiler::Trace trace = session_->stop();
  session_.reset();
  const auto csv = profiler::write(trace, settings_->path);
  return "profile: wrote the trace of steps " + std::to_string(settings_->first_step) + "-" +
         std::to_string(std::min(step_, settings_->last_step)) + " to " +
         settings_->path.string() + " (open it in ui.perfetto.dev or chrome://tracing) and its "
         "per-op table to " + csv.string();
}

}  // namespace ember::training

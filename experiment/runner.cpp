// The experiment runner's scheduling loop (experiment/runner.h).
#include "experiment/runner.h"


#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <thread>

#include "experiment/process.h"
#include "experiment/validate.h"
#include "tensor/atomic_file.h"
#include "tensor/device.h"
#include "tensor/error.h"
#include "apps/flags/cli.h"
#include "training/config_difference.h"
#include "training/output_lock.h"
#include "training/run_log.h"

namespace ember::experiment {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using training::format;
using training::format_duration;

namespace {

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// `saved` with the settings it lacks taken from its preset: a config.json written before a
// setting existed (precision, cuda_graphs) is read that way by --resume too, so it must not
// count as another configuration.
json with_preset_defaults(const json& saved) {
  const json preset = saved.is_object() ? saved.value("preset", json()) : json();
  if (!preset.is_string() || (preset != "quick" && preset != "full")) return saved;
  json filled = preset_json(preset.get<std::string>());
  filled.merge_patch(saved);
  return filled;
}

// The fields of two resolved configurations that differ and matter for results, as JSON
// pointers ("/classifier/epochs, /seeds/-"; "" if none): where the data, report and output
// go, which devices run it and whether CUDA graphs replay the training steps (a replay equals
// the eager step bit for bit, docs/cuda_graphs.md) may change between runs. The math
// (exact_fp32, precision) changes results, so it may not.
std::string changed_settings(const json& saved, const json& now) {
  json a = with_preset_defaults(saved), b = now;
  for (json* j : {&a, &b})
    for (const char* key : {"device", "gpus", "data", "out", "report", "cuda_graphs"}) j->erase(key);
  std::string keys;
  for (const training::ConfigChange& c : training::config_changes(a, b))
    keys += (keys.empty() ? "" : ", ") + c.path;
  return keys;
}

// Whether the app left state that its --resume continues.
bool has_resumable_state(const Unit& u, const fs::path& out) {
  const fs::path dir = with_out(u.output, out);
  if (u.kind == UnitKind::kClassifier) return fs::exists(dir / "last.safetensors");
  if (u.kind == UnitKind::kGan) return fs::exists(dir / "checkpoint.json");
  return false;
}

struct Running {
  const Unit* unit;
  int gpu;
  Clock::time_point started;
};

class Scheduler {
 public:
  Scheduler(const RunnerOptions& options, const InProcessSteps& steps)
      : options_(options), steps_(steps), config_(parse_config(options.config)),
        out_(fs::absolute(config_.out)), plan_(build_plan(config_)) {
    for (const Unit& u : plan_) by_id_[u.id] = &u;
  }

  int run();

 private:
  bool done(const Unit& u) const { return ledger_->is_done(u.id, out_ / u.done_file); }
  bool selected(const Unit& u) const {
    return options_.stages.empty() || options_.stages.count(u.stage);
  }
  bool is_running(const Unit& u) const;
  bool ready(const Unit& u) const;
  std::vector<int> slots() const;
  void check_saved_config() const;
  void open_ledger_and_log();
  void check_dependencies() const;
  void log_plan() const;
  void run_units(const std::vector<int>& gpu_slots);
  bool start_ready_units();
  bool reap_finished();
  void start(const Unit& u, int gpu);
  void run_in_process(const Unit& u);
  void finish(pid_t pid, int exit_code);
  void run_report();
  int conclude(size_t left);
  void print_progress();
  double estimate(const Unit& u) const;

  const RunnerOptions& options_;
  const InProcessSteps& steps_;
  ExperimentConfig config_;
  fs::path out_;
  std::vector<Unit> plan_;
  std::map<std::string, const Unit*> by_id_;  // into plan_
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<training::RunLog> log_;
  std::map<pid_t, Running> running_;
  std::vector<std::string> failures_;
  std::vector<int> free_slots_;  // GPUs (or -1: the CPU) with no unit running, in order
  size_t slot_count_ = 1;
  Clock::time_point start_ = Clock::now(), last_progress_ = Clock::now();
};

std::vector<int> Scheduler::slots() const {
  if (config_.device == "cpu") return {-1};
  if (!options_.assume_gpus.empty()) return options_.assume_gpus;
  const int visible = cuda_device_count();
  training::require_flag(visible > 0, "device cuda: no GPU is visible",
                         built_with_cuda() ? "" : " (this build has no CUDA backend: configure "
                                                  "with -DEMBER_CUDA=ON)");
  const int n = config_.gpus > 0 ? static_cast<int>(std::min<int64_t>(config_.gpus, visible)) : visible;
  std::vector<int> gpus;
  for (int i = 0; i < n; ++i) gpus.push_back(i);
  return gpus;
}

void Scheduler::check_dependencies() const {
  for (const Unit& u : plan_) {
    if (!selected(u) || done(u)) continue;
    for (const std::string& need : u.needs) {
      const Unit& d = *by_id_.at(need);
      EMBER_CHECK(selected(d) || done(d), "unit ", u.id, " (stage ", u.stage, ") needs ", d.id,
                  " (stage ", d.stage, "), which is not done and not among the stages to run: add "
                  "stage '", d.stage, "' or run the earlier stages first");
    }
  }
}

double Scheduler::estimate(const Unit& u) const {
  // Seconds per unit of cost, measured on finished units of the same kind, else of any kind.
  double kind_seconds = 0, kind_cost = 0, all_seconds = 0, all_cost = 0;
  for (const Unit& v : plan_) {
    const LedgerEntry* e = ledger_->find(v.id);
    if (!e || e->status != "done" || v.program.empty()) continue;
    all_seconds += e->seconds;
    all_cost += v.cost;
    if (v.kind == u.kind) kind_seconds += e->seconds, kind_cost += v.cost;
  }
  const double rate = kind_cost > 0 ? kind_seconds / kind_cost : all_cost > 0 ? all_seconds / all_cost : 1.0;
  return u.cost * rate;
}

void Scheduler::print_progress() {
  last_progress_ = Clock::now();
  size_t total = 0, finished = 0;
  double remaining = 0;
  std::string stage;
  for (const Unit& u : plan_) {
    if (!selected(u)) continue;
    ++total;
    if (done(u)) {
      ++finished;
      continue;
    }
    double left = estimate(u);
    for (const auto& [pid, r] : running_)
      if (r.unit == &u) left = std::max(0.0, left - since(r.started));
    remaining += left;
    if (stage.empty()) stage = u.stage;
  }
  const double parallel = static_cast<double>(std::max<size_t>(1, slot_count_));
  const auto& stages = stage_names();
  const size_t stage_index =
      std::find(stages.begin(), stages.end(), stage) - stages.begin() + 1;
  log_->line(format("[experiment] stage %s (%zu/%zu) | %zu/%zu units done | %s elapsed | ETA %s",
                    stage.empty() ? "done" : stage.c_str(), std::min(stage_index, stages.size()),
                    stages.size(), finished, total, format_duration(since(start_)).c_str(),
                    format_duration(remaining / parallel).c_str()));
  for (const auto& [pid, r] : running_) {
    const std::string tail = last_line(out_ / "units" / r.unit->id / "log.txt");
    log_->line(format("  %s (%s, %s)%s%s", r.unit->id.c_str(),
                      r.gpu >= 0 ? ("GPU " + std::to_string(r.gpu)).c_str() : "cpu",
                      format_duration(since(r.started)).c_str(), tail.empty() ? "" : ": ",
                      tail.substr(0, 140).c_str()));
  }
}

void Scheduler::start(const Unit& u, int gpu) {
  const fs::path dir = out_ / "units" / u.id;
  const bool resume = u.resumable && has_resumable_state(u, out_);
  if (!resume) {
    fs::remove_all(dir);  // a unit interrupted before any saved state starts afresh
  }
  fs::create_directories(dir);
  const std::vector<std::string> args = unit_command(u, out_, config_.device, resume);
  const std::string device = gpu >= 0 ? "cuda (GPU " + std::to_string(gpu) + ")" : "cpu";
  ledger_->mark_running(u.id, device);
  std::string command = u.program;
  for (const std::string& a : args) command += " " + a;
  write_file_atomically((dir / "command.txt").string(), command + "\n");
  log_->line(format("[experiment] start %s on %s%s", u.id.c_str(), device.c_str(),
                    resume ? " (resuming its saved state)" : ""));
  const fs::path apps = options_.apps_dir.empty() ? executable_dir() : options_.apps_dir;
  const pid_t pid = start_child({apps / u.program, args, dir / "log.txt", gpu});
  running_[pid] = {&u, gpu, Clock::now()};
}

void Scheduler::run_in_process(const Unit& u) {
  const auto t0 = Clock::now();
  log_->line("[experiment] " + u.id);
  ledger_->mark_running(u.id, "cpu");
  try {
    if (u.kind == UnitKind::kPrepare) steps_.prepare(config_, out_);
    else steps_.report(config_, options_.config, out_, plan_, *ledger_);
  } catch (const std::exception& e) {
    ledger_->mark_failed(u.id, since(t0), e.what());
    throw;
  }
  ledger_->mark_done(u.id, since(t0));
}

void Scheduler::finish(pid_t pid, int exit_code) {
  auto it = running_.find(pid);
  if (it == running_.end()) return;  // not ours
  const Running r = it->second;
  running_.erase(it);
  const double seconds = since(r.started);
  const fs::path log = out_ / "units" / r.unit->id / "log.txt";
  if (exit_code == 0 && fs::exists(out_ / r.unit->done_file)) {
    ledger_->mark_done(r.unit->id, seconds);
    log_->line(format("[experiment] done %s in %s", r.unit->id.c_str(),
                      format_duration(seconds).c_str()));
    return;
  }
  const std::string why = exit_code == 0 ? "exited 0 but wrote no " + r.unit->done_file
                                         : "exit status " + std::to_string(exit_code) + ": " +
                                               error_line(log, r.unit->program);
  ledger_->mark_failed(r.unit->id, seconds, why);
  failures_.push_back(r.unit->id + " failed (" + why + "); its log: " + log.string());
  log_->line("[experiment] FAILED " + failures_.back());
}

bool Scheduler::is_running(const Unit& u) const {
  for (const auto& [pid, r] : running_)
    if (r.unit == &u) return true;
  return false;
}

bool Scheduler::ready(const Unit& u) const {
  return std::all_of(u.needs.begin(), u.needs.end(),
                     [&](const std::string& id) { return done(*by_id_.at(id)); });
}

// A folder holds one experiment: a rerun must ask for the settings it was started with.
void Scheduler::check_saved_config() const {
  const fs::path saved = out_ / "config.json";
  if (!fs::exists(saved)) return;
  const json before = json::parse(read_file(saved.string()), nullptr, false);
  EMBER_CHECK(!before.is_discarded(), saved.string(), " is not valid JSON");
  const std::string diff = changed_settings(before, options_.config);
  EMBER_CHECK(diff.empty(), out_.string(), " holds an experiment with another configuration (",
              diff, " differ): resume it with the same settings (--config ", saved.string(),
              "), or choose another --out");
}

void Scheduler::open_ledger_and_log() {
  ledger_ = std::make_unique<Ledger>(out_ / "ledger.json");
  log_ = options_.dry_run ? std::make_unique<training::RunLog>()
                          : std::make_unique<training::RunLog>(out_ / "experiment.log");
}

// The plan in one line; a dry run also lists every unit with what would happen to it.
void Scheduler::log_plan() const {
  size_t todo = 0;
  for (const Unit& u : plan_) todo += selected(u) && !done(u);
  log_->line(format("[experiment] preset %s -> %s: %zu units, %zu to run (%zu done before)",
                    config_.preset.c_str(), out_.c_str(), plan_.size(), todo,
                    static_cast<size_t>(std::count_if(plan_.begin(), plan_.end(),
                                                      [&](const Unit& u) { return done(u); }))));
  if (!options_.dry_run) return;
  for (const Unit& u : plan_) {
    std::string line = format("  %-40s %-12s %s", u.id.c_str(), u.stage.c_str(),
                              done(u) ? "done" : selected(u) ? "to run" : "not selected");
    log_->line(line);
  }
}

// Starts every ready unit while a slot is free (in-process ones only when nothing runs);
// whether it started any. The report waits for the end (run_report).
bool Scheduler::start_ready_units() {
  bool started = false;
  for (const Unit& u : plan_) {
    if (!selected(u) || done(u) || u.kind == UnitKind::kReport) continue;
    if (is_running(u) || !ready(u)) continue;
    if (u.program.empty()) {
      if (!running_.empty()) continue;
      run_in_process(u);
      return true;  // the ledger changed: the caller looks again from the start
    }
    if (free_slots_.empty()) break;
    const int gpu = free_slots_.front();
    free_slots_.erase(free_slots_.begin());
    start(u, gpu);
    started = true;
    print_progress();
  }
  return started;
}

// Records a child that exited, if one did, and frees its slot; whether one did.
bool Scheduler::reap_finished() {
  int exit_code = 0;
  const pid_t pid = poll_children(&exit_code);
  if (pid <= 0) return false;
  const auto it = running_.find(pid);
  if (it != running_.end()) free_slots_.push_back(it->second.gpu);
  std::sort(free_slots_.begin(), free_slots_.end());
  finish(pid, exit_code);
  return true;
}

// Until nothing is running and nothing more can start; after a failure, no new unit starts
// and the running ones are waited for.
void Scheduler::run_units(const std::vector<int>& gpu_slots) {
  slot_count_ = gpu_slots.size();
  if (gpu_slots.size() > 1)
    log_->line(format("[experiment] %zu GPUs: independent units run at once, one process per GPU",
                      gpu_slots.size()));
  free_slots_ = gpu_slots;
  for (;;) {
    const bool started = failures_.empty() && start_ready_units();
    if (running_.empty() && !started) break;
    if (reap_finished()) continue;
    if (!started) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (since(last_progress_) >= options_.progress_seconds && !running_.empty()) print_progress();
  }
}

// The report, also after a failure: it shows what is finished and names what is missing.
void Scheduler::run_report() {
  const Unit* report = nullptr;
  for (const Unit& u : plan_)
    if (u.kind == UnitKind::kReport && selected(u)) report = &u;
  if (!report) return;
  try {
    run_in_process(*report);
  } catch (const std::exception& e) {
    failures_.push_back(std::string("the report failed: ") + e.what());
    log_->line("[experiment] FAILED " + failures_.back());
  }
}

// The last lines of the log and the exit status; `left` counts the selected units (the
// report aside) that were not done when the loop ended.
int Scheduler::conclude(size_t left) {
  print_progress();
  if (!failures_.empty()) {
    log_->line(format("[experiment] stopped: %zu unit(s) failed; finished units are kept, rerun "
                      "the same command to continue after fixing the cause:",
                      failures_.size()));
    for (const std::string& f : failures_) log_->line("  " + f);
    return 1;
  }
  EMBER_CHECK(left == 0, left, " selected unit(s) could not run (their dependencies are not done)");
  log_->line(format("[experiment] finished in %s", format_duration(since(start_)).c_str()));
  return 0;
}

int Scheduler::run() {
  // What can be refused is refused before anything is written, so that a corrected
  // configuration is not turned away as "another configuration": every unit's settings as its
  // app will read them, and the GPUs (a dry run checks the same).
  validate_plan(plan_, out_, config_.device);
  const std::vector<int> gpu_slots = slots();
  // A dry run reads what is there and writes nothing.
  // One runner per folder (two would redo each other's units): the apps' own --out lock.
  std::optional<training::OutputLock> lock;
  if (!options_.dry_run) {
    fs::create_directories(out_);
    lock.emplace(out_ / ".lock", "the experiment folder " + out_.string());
  }
  check_saved_config();
  if (!options_.dry_run)
    write_file_atomically((out_ / "config.json").string(), options_.config.dump(2) + "\n");
  open_ledger_and_log();
  check_dependencies();
  log_plan();
  if (options_.dry_run) return 0;

  run_units(gpu_slots);
  size_t left = 0;
  for (const Unit& u : plan_) left += selected(u) && !done(u) && u.kind != UnitKind::kReport;
  run_report();
  return conclude(left);
}

}  // namespace

int run_experiment(const RunnerOptions& options, const InProcessSteps& steps) {
  Scheduler scheduler(options, steps);
  return scheduler.run();
}

}  // namespace ember::experiment

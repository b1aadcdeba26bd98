// Headless Chromium as a checker (see browser_check.h). The browser is started with
// posix_spawn (safe in a process that runs worker threads, unlike fork) in its own process
// group, its stdout and stderr go to files in a private temporary folder, and the parent polls
// waitpid against a deadline; on timeout the whole group is killed, since Chromium's helper
// processes would otherwise outlive it. Flags: --no-sandbox because the checks run as root in
// containers, where Chromium refuses to start sandboxed; --disable-dev-shm-usage because
// containers have a small /dev/shm; --virtual-time-budget so that "load" has fired before the
// DOM is dumped. Tested in tests/test_report_browser.cpp.
#include "report/browser_check.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tensor/atomic_file.h"

extern char** environ;

namespace ember::report {

namespace {

namespace fs = std::filesystem;

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

// `name` looked up on $PATH, or "".
std::string on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return {};
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = (fs::path(dir) / name).string();
    if (is_executable_file(candidate)) return candidate;
  }
  return {};
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The last `n` characters, so that a reason quotes the end of a long log.
std::string tail(const std::string& text, size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

struct ChildResult {
  bool started = false;
  bool timed_out = false;
  int exit_code = -1;
  std::string error;  // why it did not start
  std::string out;
  std::string err;
};

// Runs argv with stdout/stderr captured into files under `work`, killed after `timeout`.
ChildResult run_child(const std::vector<std::string>& argv, const fs::path& work,
                      const std::string& tag, std::chrono::seconds timeout) {
  ChildResult result;
  const fs::path out_path = work / (tag + ".stdout"), err_path = work / (tag + ".stderr");
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  // Its own process group (pgid = its pid), so that a timeout can kill the helpers as well.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    result.error = "could not start " + argv[0] + ": " + std::strerror(rc);
    return result;
  }
  result.started = true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Helpers still alive after the main process ended (renderer, zygote) go with their group.
  ::kill(-pid, SIGKILL);
  if (!result.timed_out && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.out = read_text(out_path);
  result.err = read_text(err_path);
  return result;
}

std::vector<std::string> chromium_args(const std::string& browser, const fs::path& profile) {
  return {browser,
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-dev-shm-usage",
          "--hide-scrollbars",
          "--no-first-run",
          "--no-default-browser-check",
          "--disable-extensions",
          "--disable-background-networking",
          "--disable-component-update",
          "--force-device-scale-factor=1",
          "--user-data-dir=" + profile.string(),
          "--enable-logging=stderr",
          "--v=0",
          "--virtual-time-budget=15000"};
}

int to_int(const std::map<std::string, std::string>& attrs, const std::string& key) {
  const auto it = attrs.find(key);
  if (it == attrs.end()) return 0;
  try {
    return std::stoi(it->second);
  } catch (...) {
    return 0;
  }
}

std::string decode_entities(const std::string& text) {
  static const std::pair<const char*, const char*> kEntities[] = {
      {"&quot;", "\""}, {"&#39;", "'"}, {"&#x27;", "'"}, {"&lt;", "<"},
      {"&gt;", ">"},    {"&nbsp;", " "}, {"&amp;", "&"}};
  std::string out;
  for (size_t i = 0; i < text.size();) {
    bool replaced = false;
    if (text[i] == '&') {
      for (const auto& [entity, plain] : kEntities) {
        const size_t n = std::strlen(entity);
        if (text.compare(i, n, entity) == 0) {
          out += plain;
          i += n;
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += text[i++];
  }
  return out;
}

// A private folder for the two profiles and the logs, removed with this object whatever
// happened in it.
class WorkDir {
 public:
  // path() is empty, and `why` says why, when the folder cannot be made.
  explicit WorkDir(std::string& why) {
    std::string pattern = (fs::temp_directory_path() / "ember_chromium_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      why = "cannot create a temporary folder from " + pattern + ": " + std::strerror(errno);
      return;
    }
    path_ = pattern;
  }
  ~WorkDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// What every browser run of one check shares.
struct BrowserRun {
  std::string browser;
  fs::path work;  // the private folder
  std::string url;
  std::chrono::seconds timeout;
};

std::string too_slow(const BrowserRun& run, const char* mode) {
  return "the browser did not finish within " + std::to_string(run.timeout.count()) + " s (" +
         mode + ")";
}

ChildResult dump_dom(const BrowserRun& run) {
  std::vector<std::string> argv = chromium_args(run.browser, run.work / "profile-dom");
  // The same width as the screenshot, so that the page height measured here (the layout
  // reflows below 1000 px) is the height the screenshot needs.
  argv.push_back("--window-size=1280,900");
  argv.push_back("--dump-dom");
  argv.push_back(run.url);
  return run_child(argv, run.work, "dom", run.timeout);
}

// The page's verdict, figure counts and console errors read off the dumped <body>; returns the
// height the page measured itself (0: unknown).
int read_verdict(BrowserCheck& check, const BrowserRun& run, const ChildResult& dom,
                 std::vector<std::string>& problems) {
  if (dom.timed_out) {
    problems.push_back(too_slow(run, "--dump-dom"));
    return 0;
  }
  const auto attrs = body_attributes(dom.out);
  const auto verdict = attrs.find("data-report-check");
  if (dom.out.empty() || verdict == attrs.end()) {
    problems.push_back("no page verdict in the dumped DOM (exit code " +
                       std::to_string(dom.exit_code) + "); browser log: " + tail(dom.err, 600));
    return 0;
  }
  check.figures_total = to_int(attrs, "data-figures-total");
  check.figures_ok = to_int(attrs, "data-figures-ok");
  if (verdict->second != "ok") problems.push_back("page check: " + verdict->second);
  if (check.figures_ok != check.figures_total) {
    problems.push_back(std::to_string(check.figures_ok) + " of " +
                       std::to_string(check.figures_total) + " figures shown");
  }
  const auto page_errors = attrs.find("data-console-error-text");
  if (page_errors != attrs.end() && !page_errors->second.empty()) {
    check.console_errors.push_back("page: " + page_errors->second);
  }
  return to_int(attrs, "data-page-height");
}

// Copies the screenshot the browser wrote at `shot` to screenshot_path, if it is a PNG.
void keep_screenshot(BrowserCheck& check, const fs::path& shot, const std::string& browser_log,
                     const std::string& screenshot_path, std::vector<std::string>& problems) {
  std::string png;
  if (fs::is_regular_file(shot)) png = read_text(shot);
  if (png.size() < 8 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) {
    problems.push_back("no screenshot PNG written; browser log: " + tail(browser_log, 600));
    return;
  }
  try {
    write_file_atomically(screenshot_path, png);
    check.screenshot_path = screenshot_path;
  } catch (const std::exception& e) {
    problems.push_back(std::string("cannot keep the screenshot: ") + e.what());
  }
}

// The screenshot, as tall as the page said it is (within reason); returns the browser run.
ChildResult take_screenshot(BrowserCheck& check, const BrowserRun& run, int page_height,
                            const std::string& screenshot_path,
                            std::vector<std::string>& problems) {
  const int height = std::clamp(page_height > 0 ? page_height : 2000, 600, 16000);
  const fs::path shot = run.work / "screenshot.png";
  std::vector<std::string> argv = chromium_args(run.browser, run.work / "profile-shot");
  argv.push_back("--screenshot=" + shot.string());
  argv.push_back("--window-size=1280," + std::to_string(height));
  argv.push_back(run.url);
  const ChildResult screenshot = run_child(argv, run.work, "shot", run.timeout);
  if (!screenshot.started) {
    problems.push_back(screenshot.error);
  } else if (screenshot.timed_out) {
    problems.push_back(too_slow(run, "--screenshot"));
  }
  keep_screenshot(check, shot, screenshot.err, screenshot_path, problems);
  return screenshot;
}

// The second run's log mostly repeats the first's errors: only new lines are added.
void add_new_console_errors(BrowserCheck& check, const std::string& log) {
  for (std::string& line : console_errors_from_log(log)) {
    if (std::find(check.console_errors.begin(), check.console_errors.end(), line) ==
        check.console_errors.end()) {
      check.console_errors.push_back(std::move(line));
    }
  }
}

// ok when nothing went wrong; else every problem in the reason, in the order found.
void conclude(BrowserCheck& check, std::vector<std::string> problems) {
  if (!check.console_errors.empty()) {
    problems.push_back(std::to_string(check.console_errors.size()) + " console error(s): " +
                       check.console_errors.front());
  }
  check.ok = problems.empty();
  for (size_t i = 0; i < problems.size(); ++i) {
    check.reason += (i ? "; " : "") + problems[i];
  }
}

void check_in(BrowserCheck& check, const std::string& html_path,
              const std::string& screenshot_path, int timeout_seconds) {
  std::string why;
  check.browser = find_chromium(check.browser, why);
  if (check.browser.empty()) {
    check.reason = why;
    return;
  }
  std::error_code ec;
  const fs::path page = fs::absolute(html_path, ec);
  if (ec || !fs::is_regular_file(page)) {
    check.reason = "no page to check at " + html_path;
    return;
  }
  const WorkDir work(why);
  if (work.path().empty()) {
    check.reason = why;
    return;
  }
  const BrowserRun run{check.browser, work.path(), file_url(page.string()),
                       std::chrono::seconds(std::max(1, timeout_seconds))};

  // 1. The DOM after load, with the page's own verdict on <body>.
  const ChildResult dom = dump_dom(run);
  if (!dom.started) {
    check.reason = dom.error;
    return;
  }
  check.ran = true;
  std::vector<std::string> problems;
  const int page_height = read_verdict(check, run, dom, problems);
  for (std::string& line : console_errors_from_log(dom.err)) {
    check.console_errors.push_back(std::move(line));
  }
  // 2. The screenshot, at the height the page measured.
  const ChildResult screenshot =
      take_screenshot(check, run, page_height, screenshot_path, problems);
  add_new_console_errors(check, screenshot.err);
  conclude(check, std::move(problems));
}

}  // namespace

std::string find_chromium(const std::string& preferred, std::string& why) {
  if (!preferred.empty()) {
    const std::string found =
        preferred.find('/') == std::string::npos ? on_path(preferred) : preferred;
    if (is_executable_file(found)) return found;
    why = "the browser given (" + preferred + ") is not an executable file";
    return {};
  }
  if (const char* env = std::getenv("EMBER_CHROMIUM"); env != nullptr && *env != '\0') {
    if (is_executable_file(env)) return env;
    why = std::string("$EMBER_CHROMIUM (") + env + ") is not an executable file";
    return {};
  }
  if (is_executable_file("/usr/bin/chromium")) return "/usr/bin/chromium";
  for (const char* name :
       {"chromium-headless-shell", "chromium", "google-chrome", "google-chrome-stable"}) {
    const std::string found = on_path(name);
    if (!found.empty()) return found;
  }
  why = "no Chromium found (looked at $EMBER_CHROMIUM, /usr/bin/chromium, and "
        "chromium-headless-shell, chromium, google-chrome on PATH); on Debian: apt-get install "
        "chromium";
  return {};
}

std::map<std::string, std::string> body_attributes(const std::string& html) {
  std::map<std::string, std::string> attrs;
  size_t i = 0;
  // The first "<body" followed by white space or '>' (not "<bodyx").
  for (;;) {
    i = html.find("<body", i);
    if (i == std::string::npos) return attrs;
    const char next = i + 5 < html.size() ? html[i + 5] : '\0';
    if (next == '>' || std::isspace(static_cast<unsigned char>(next))) break;
    i += 5;
  }
  i += 5;
  while (i < html.size()) {
    while (i < html.size() && std::isspace(static_cast<unsigned char>(html[i]))) ++i;
    if (i >= html.size() || html[i] == '>' || html[i] == '/') break;
    const size_t name_start = i;
    while (i < html.size() && html[i] != '=' && html[i] != '>' &&
           !std::isspace(static_cast<unsigned char>(html[i])))
      ++i;
    const std::string name = html.substr(name_start, i - name_start);
    std::string value;
    if (i < html.size() && html[i] == '=') {
      ++i;
      if (i < html.size() && (html[i] == '"' || html[i] == '\'')) {
        const char quote = html[i++];
        const size_t end = html.find(quote, i);
        if (end == std::string::npos) break;
        value = html.substr(i, end - i);
        i = end + 1;
      } else {
        const size_t start = i;
        while (i < html.size() && html[i] != '>' &&
               !std::isspace(static_cast<unsigned char>(html[i])))
          ++i;
        value = html.substr(start, i - start);
      }
    }
    attrs[name] = decode_entities(value);
  }
  return attrs;
}

std::vector<std::string> console_errors_from_log(const std::string& log) {
  std::vector<std::string> errors;
  std::stringstream lines(log);
  std::string line;
  auto has = [&](const char* s) { return line.find(s) != std::string::npos; };
  while (std::getline(lines, line)) {
    // Chromium logs console messages as "...:INFO:CONSOLE:7] "text", source: url (7)" (older
    // builds: "CONSOLE(7)"), whatever their level: only the ones that read as errors count.
    const bool console = has(":CONSOLE");
    const bool error_text = has("Uncaught") || has("Failed to load") || has("net::ERR_") ||
                            has("Error") || has("error");
    const bool page_load_failure = (has("Failed to load") || has("net::ERR_")) && has("file://");
    if ((console && error_text) || page_load_failure) errors.push_back(line);
  }
  return errors;
}

std::string file_url(const std::string& path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string url = "file://";
  for (const char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '/' || c == '.' || c == '_' || c == '~' || c == '-') {
      url += ch;
    } else {
      url += '%';
      url += kHex[c >> 4];
      url += kHex[c & 15];
    }
  }
  return url;
}

BrowserCheck check_report_in_browser(const std::string& html_path,
                                     const std::string& screenshot_path,
                                     const std::string& browser, int timeout_seconds) {
  BrowserCheck check;
  check.browser = browser;
  try {
    check_in(check, html_path, screenshot_path, timeout_seconds);
  } catch (const std::exception& e) {
    // Never throws for a browser failure: the caller decides what a failed check means.
    check.ok = false;
    check.reason = std::string("browser check failed: ") + e.what();
  }
  return check;
}

}  // namespace ember::report

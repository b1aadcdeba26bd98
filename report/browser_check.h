// The report checked in a real browser: report.html opened in headless Chromium (Debian's
// chromium package), once with --dump-dom to read the verdict the page's own check script wrote
// into <body data-...> (report/html_report.cpp: every figure shown, every image decoded, no
// error), and once with --screenshot to keep a picture of the page with the results. The
// browser runs as a child process with a time limit this code enforces; a missing browser is
// reported (ran = false, with the reason) so that callers and tests can skip, and a browser
// failure is reported, never thrown. Tested in tests/test_report_browser.cpp (a good page, a
// page with a broken image, the parsers on hand-written input).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace ember::report {

struct BrowserCheck {
  bool ran = false;          // a browser was found and started
  bool ok = false;           // everything below checked out
  std::string browser;       // the executable used
  std::string reason;        // why not ran, or why not ok ("" when ok)
  int figures_total = 0;     // as the page counted them (data-figures-total)
  int figures_ok = 0;        // figures showing an <svg> or a decoded <img>
  std::vector<std::string> console_errors;  // from the page's own record and Chromium's log
  std::string screenshot_path;              // set when a non-empty PNG was written there
};

// Opens `html_path` in headless Chromium and checks it; writes the screenshot (1280 px wide,
// as tall as the page up to 16000 px) to `screenshot_path` atomically. `browser` ("" = look
// for one: $EMBER_CHROMIUM, /usr/bin/chromium, then chromium-headless-shell, chromium,
// google-chrome on PATH). Each browser run is killed after `timeout_seconds`.
BrowserCheck check_report_in_browser(const std::string& html_path,
                                     const std::string& screenshot_path,
                                     const std::string& browser = "",
                                     int timeout_seconds = 120);

// Pieces, public for the tests.

// The executable to use, or "" with `why` set. An explicit `preferred` that is not an
// executable is an answer in itself ("" and why), not a reason to look elsewhere.
std::string find_chromium(const std::string& preferred, std::string& why);

// The attributes of the first <body ...> tag of an HTML text, entities decoded.
std::map<std::string, std::string> body_attributes(const std::string& html);

// The lines of Chromium's stderr log that report a page error: console messages about uncaught
// errors or failed loads, and "Failed to load" / net::ERR_ lines about a file:// page.
// D-Bus, GPU and sandbox chatter is not an error of the page and is left out.
std::vector<std::string> console_errors_from_log(const std::string& log);

// "file://" + the absolute path, with characters outside [A-Za-z0-9/._~-] percent-encoded.
std::string file_url(const std::string& path);

}  // namespace ember::report

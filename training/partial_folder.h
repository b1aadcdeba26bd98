// Output folders that appear whole or not at all: generate and build_augmented build
// "<out>.partial" and rename it to <out> when complete. While the folder is written it holds a
// marker file; the marker is what lets the next run remove a folder an interrupted run left
// (a failure, a kill), so a rerun is never blocked by it, and nothing the program did not write
// is ever removed. Call under the output's lock (output_lock.h), so no live run's folder is
// touched. Tested in tests/test_file_safety.cpp and tests/apps/generate_smoke.sh.
#pragma once
#include <filesystem>
#include <string>

namespace ember::training {

// Creates `partial` with the file `marker` in it (holding `marker_text`); a failure to write the
// marker removes the folder again. A `partial` left by an interrupted run of `program` (it holds
// `marker`) is removed first, and the returned note says so for the log ("" when there was
// none). Anything else at `partial`, an empty folder included, is refused with an error naming
// it and `program`. (Only a kill between making the folder and writing the marker, a few
// microseconds, leaves an unmarked folder, which the error then names.)
std::string start_partial_folder(const std::filesystem::path& partial, const std::string& marker,
                                 const std::string& program, const std::string& marker_text);

// Removes the marker and renames `partial` to `out` (which must not exist).
void finish_partial_folder(const std::filesystem::path& partial, const std::filesystem::path& out,
                           const std::string& marker);

}  // namespace ember::training

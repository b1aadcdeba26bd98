// "<out>.partial" folders (see partial_folder.h).
#include "training/partial_folder.h"

#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace ember::training {

namespace fs = std::filesystem;

std::string start_partial_folder(const fs::path& partial, const std::string& marker,
                                 const std::string& program, const std::string& marker_text) {
  std::string note;
  if (fs::exists(fs::symlink_status(partial))) {
    const bool marked = fs::is_directory(fs::symlink_status(partial)) &&
                        fs::is_regular_file(fs::symlink_status(partial / marker));
    EMBER_CHECK(marked, partial.string(), " exists but was not written by ", program, " (no ",
                marker, " marker): move it away or choose another --out");
    fs::remove_all(partial);
    note = "removed the incomplete " + partial.string() + " of an earlier run";
  }
  fs::create_directories(partial);
  try {
    write_file_atomically((partial / marker).string(), marker_text);
  } catch (...) {
    // An unmarked folder would block every rerun: take back the (empty) folder just made.
    std::error_code ignored;
    fs::remove(partial, ignored);
    throw;
  }
  return note;
}

void finish_partial_folder(const fs::path& partial, const fs::path& out, const std::string& marker) {
  EMBER_CHECK(!fs::exists(fs::symlink_status(out)), "cannot finish ", partial.string(), ": ",
              out.string(), " exists");
  fs::remove(partial / marker);
  fs::rename(partial, out);
}

}  // namespace ember::training

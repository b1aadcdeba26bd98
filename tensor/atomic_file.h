// Atomic file replacement: the bytes go to a temporary file beside the target, which is
// fsynced, then renamed over it, and the folder is fsynced (best effort). A reader sees the old
// file or the new one, never a part; a failure (or a kill) at any point leaves the old file as
// it was. Every step is checked: a short write (a full disk, a file-size limit) is an error
// naming the file, never a silently cut file. Used for checkpoints (nn/safetensors.cpp), result
// files (training/), images (datasets/image_io.cpp) and the decoded-image cache.
// Temporary files are named "<path>.tmp.<pid>.<n>"; remove_leftover_temp_files removes those of
// writers that were killed before their rename.
// Tested in tests/test_safetensors.cpp (a failed write keeps the old file),
// tests/test_training_cli.cpp and tests/test_file_safety.cpp (a full disk, leftovers).
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace ember {

struct AtomicWriteOptions {
  // fsync the file and its folder before returning, so the new file survives a power cut.
  // Off for many small files (images): a reader still never sees a part, and a failed write
  // (checked up to close) is still an error.
  bool sync = true;
};

// Replaces `path` with `bytes` (or the concatenation of `parts`, for data too large to copy
// into one string). Errors name `path` and the failing step.
void write_file_atomically(const std::string& path, std::string_view bytes,
                           const AtomicWriteOptions& options = {});
void write_file_atomically(const std::string& path, std::initializer_list<std::string_view> parts,
                           const AtomicWriteOptions& options = {});

// Removes what writers killed before their rename left in `folder` (and, with `recursive`, its
// subfolders): files named "<name>.tmp.<pid>.<n>" (or the older "<name>.tmp.<pid>") whose
// process <pid> no longer exists. A live writer's file is never touched, so this is safe in a
// folder that other processes write too (pids are those of this machine's pid namespace).
// Returns the removed paths, for the caller's log; a missing folder holds none.
std::vector<std::string> remove_leftover_temp_files(const std::string& folder,
                                                    bool recursive = false);

// The whole file as bytes; an error names the path when it cannot be read.
std::string read_file(const std::string& path);

}  // namespace ember

// Atomic file replacement: the bytes go to a temporary file beside the target, which is
// fsynced, then renamed over it, and the folder is fsynced (best effort). A reader sees the old
// file or the new one, never a part; a failure (or a kill) at any point leaves the old file as
// it was. Used for checkpoints (nn/safetensors.cpp) and result files (training/).
// Tested in tests/test_safetensors.cpp (a failed write keeps the old file) and
// tests/test_training_cli.cpp.
#pragma once
#include <string>

namespace ember {

// Replaces `path` with `bytes`. Errors name `path` and the failing step.
void write_file_atomically(const std::string& path, const std::string& bytes);

// The whole file as bytes; an error names the path when it cannot be read.
std::string read_file(const std::string& path);

}  // namespace ember

// safetensors files: the format every ember weight file and checkpoint uses, read and written
// here with a hardened reader (a damaged or hostile file gives an ember::Error naming the file
// and the problem; nothing is read out of bounds or allocated from an unchecked size), and
// helpers that load named tensors into existing parameters and buffers.
// Matches the safetensors format of Hugging Face (github.com/huggingface/safetensors, README
// "Format"), written from the format description; notes and the choices made here are in
// docs/safetensors.md. Namespace ember::nn because it sits beside Module, whose named tensors it
// saves. Tested in tests/test_safetensors.cpp (round trips, a hand-built file byte for byte,
// every malformed-file case, strict loading into a module).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nn/module.h"

namespace ember::nn {

// The file's "__metadata__": free-form string pairs (e.g. {"format": "ember"}).
using SafetensorsMetadata = std::map<std::string, std::string>;

struct SafetensorsFile {
  NamedTensors tensors;  // contiguous CPU tensors, in the order of their data in the file
  SafetensorsMetadata metadata;
};

// The safetensors name of an ember dtype ("F32", "F64", "BF16", "U8", "I32", "I64").
const char* safetensors_dtype_name(DType dtype);

// Encodes tensors (any device: copied to the host) and metadata as the bytes of a file. Names
// must be non-empty, unique and not "__metadata__". Data is laid out by element size
// (largest first), then by name, so every tensor starts aligned to its element size and the
// bytes do not depend on the order of `tensors`.
std::string encode_safetensors(const NamedTensors& tensors, const SafetensorsMetadata& metadata = {});

// Every tensor's bytes get a CRC-32 (tensor/checksum.h) stored in the metadata as
// "ember.crc32.<name>" (a reserved prefix), and every read below checks them: one flipped bit is
// an error naming the file and the tensor. The checksum entries are removed from the metadata a
// read returns. Files without any checksum (written by other tools) are read unchecked.
//
// Writes encode_safetensors(...) to `path` atomically: a temporary file in the same folder,
// fsync, rename over `path`, fsync of the folder. On any failure the old file (if any) is left
// untouched and the temporary file removed.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const SafetensorsMetadata& metadata = {});

// Reads and validates a whole file. Errors name `path` and the problem.
SafetensorsFile read_safetensors(const std::string& path);

// Decodes the bytes of a file held in memory; `source` names it in error messages.
SafetensorsFile decode_safetensors(const std::string& bytes, const std::string& source = "<memory>");

struct LoadOptions {
  // Strict: every target must be in the source and every source tensor must have a target.
  // Otherwise the missing and unexpected names are returned and skipped.
  bool strict = true;
  // Cast a source tensor whose dtype differs from its target's (else that is an error).
  bool convert_dtype = false;
};

struct LoadReport {
  std::vector<std::string> missing;     // targets with no tensor in the source (non-strict only)
  std::vector<std::string> unexpected;  // source tensors with no target (non-strict only)
  std::vector<std::string> loaded;      // names written, in target order
};

// Copies source tensors into the targets with the same names, in place: the targets keep their
// handles, devices and (unless converting) dtypes, so optimizers and modules holding them see
// the new values. Every check runs before anything is written, so on an error no target has
// changed. A shape mismatch is always an error; `source` names the origin in messages.
LoadReport load_into(const NamedTensors& targets, const NamedTensors& source,
                     const LoadOptions& options = {}, const std::string& source_name = "source");

// A module's state: named_parameters() followed by named_buffers().
NamedTensors module_state(const Module& module);

// Saves module_state(module) to `path` (atomically, as write_safetensors).
void save_module(const Module& module, const std::string& path,
                 const SafetensorsMetadata& metadata = {});

// Loads `path` into module_state(module); returns the report, and the metadata through
// `metadata` when given.
LoadReport load_module(Module& module, const std::string& path, const LoadOptions& options = {},
                       SafetensorsMetadata* metadata = nullptr);

}  // namespace ember::nn

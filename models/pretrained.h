// Pretrained weights for an EfficientNet: loads a converted file (models/convert/convert_keras_h5.py,
// models/convert/convert_torchvision.py) into every tensor of the model except its classifier head, the
// way Keras's include_top=False weights plus a new Dense(classes) are fine-tuned.
//
// The head is `predictions.*` (models/efficientnet.h): its shape depends on the number of
// classes, and ImageNet files have 1000 classes (torchvision) or none (Keras notop), so it is
// skipped on both sides and the model keeps its own freshly initialised head. Everything else
// is strict: a backbone tensor missing from the file, a file tensor the model does not have, or
// a shape mismatch is an error naming the tensors, found before anything is written (a failed
// load leaves the model unchanged). The converters record the padding and BN epsilon the
// weights were trained with in the file's metadata (ember.padding, ember.bn_eps); a model built
// with other options is refused, since it would load cleanly and then compute other features.
// Tested in tests/test_pretrained.cpp (files written from a model with save_module).
#pragma once
#include <string>
#include <vector>

#include "models/efficientnet.h"
#include "nn/safetensors.h"

namespace ember::models {

struct PretrainedReport {
  std::vector<std::string> loaded;        // model tensors written from the file
  std::vector<std::string> skipped;       // file tensors not loaded (the file's head)
  std::vector<std::string> kept;          // model tensors left as they were (the model's head)
  nn::SafetensorsMetadata metadata;       // the file's metadata (source, padding, bn_eps, ...)
  std::string describe() const;           // one line for logs: counts and the skipped names
};

// True for the classifier head's tensor names ("predictions.weight", "predictions.bias").
bool is_classifier_head(const std::string& name);

// Loads `path` into every parameter and buffer of `model` except the classifier head (dtypes
// are converted to the model's). Errors name the file and the tensors; see the top of the file.
PretrainedReport load_pretrained_backbone(EfficientNet& model, const std::string& path);

// The same from tensors already in memory; `source` names them in messages.
PretrainedReport load_pretrained_backbone(EfficientNet& model, const nn::SafetensorsFile& file,
                                          const std::string& source);

}  // namespace ember::models

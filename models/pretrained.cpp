// Loading converted pretrained weights into an EfficientNet's backbone (models/pretrained.h).
// Tested in tests/test_pretrained.cpp.
#include "models/pretrained.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "tensor/error.h"

namespace ember::models {

namespace {

bool has_prefix(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool has_name(const nn::NamedTensors& tensors, const std::string& name) {
  return std::any_of(tensors.begin(), tensors.end(),
                     [&](const auto& entry) { return entry.first == name; });
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

// The options recorded by the converters must be the model's: a mismatch loads cleanly and then
// computes different features, so it is refused here with the option to change.
void check_metadata(const EfficientNet& model, const nn::SafetensorsMetadata& meta,
                    const std::string& source) {
  const auto source_of = [&] {
    auto it = meta.find("source");
    return it == meta.end() ? std::string() : " (converted from " + it->second + ")";
  };
  if (auto it = meta.find("ember.padding"); it != meta.end()) {
    EMBER_CHECK(it->second == "symmetric" || it->second == "tf_same",
                "load_pretrained_backbone: ", source, " has an unknown ember.padding '", it->second,
                "' (expected symmetric or tf_same)");
    const bool symmetric = model.options().padding == EfficientNetPadding::Symmetric;
    EMBER_CHECK((it->second == "symmetric") == symmetric, "load_pretrained_backbone: ", source,
                source_of(), " holds weights for ", it->second,
                " padding but the model was built with ", symmetric ? "symmetric" : "tf_same",
                " padding: set EfficientNetOptions::padding = ",
                it->second == "symmetric" ? "Symmetric" : "TfSame");
  }
  if (auto it = meta.find("ember.bn_eps"); it != meta.end()) {
    char* end = nullptr;
    const double eps = std::strtod(it->second.c_str(), &end);
    EMBER_CHECK(end != it->second.c_str() && *end == '\0' && eps > 0.0,
                "load_pretrained_backbone: ", source, " has a bad ember.bn_eps '", it->second, "'");
    const double mine = model.options().bn_eps;
    EMBER_CHECK(std::fabs(eps - mine) <= 1e-9 * std::max(eps, mine), "load_pretrained_backbone: ",
                source, source_of(), " holds weights for BatchNorm epsilon ", it->second,
                " but the model was built with bn_eps ", mine,
                ": set EfficientNetOptions::bn_eps = ", it->second);
  }
}

}  // namespace

bool is_classifier_head(const std::string& name) { return has_prefix(name, "predictions."); }

std::string PretrainedReport::describe() const {
  return "loaded " + std::to_string(loaded.size()) + " tensors; skipped from the file: " +
         join(skipped) + "; kept the model's own: " + join(kept);
}

PretrainedReport load_pretrained_backbone(EfficientNet& model, const nn::SafetensorsFile& file,
                                          const std::string& source) {
  check_metadata(model, file.metadata, source);
  PretrainedReport report;
  report.metadata = file.metadata;
  nn::NamedTensors targets, tensors;
  for (const auto& entry : nn::module_state(model)) {
    if (is_classifier_head(entry.first))
      report.kept.push_back(entry.first);
    else
      targets.push_back(entry);
  }
  for (const auto& entry : file.tensors) {
    if (is_classifier_head(entry.first))
      report.skipped.push_back(entry.first);
    else
      tensors.push_back(entry);
  }
  // The input normalisation is the likeliest mismatch (torchvision files have none, Keras files
  // do), so it gets a message saying which option to change rather than "missing tensor".
  const bool model_norm = has_name(targets, "normalization.mean");
  const bool file_norm = has_name(tensors, "normalization.mean");
  EMBER_CHECK(!model_norm || file_norm, "load_pretrained_backbone: ", source,
              " has no normalization.mean/variance (weights for normalised inputs, e.g. from "
              "torchvision) but the model normalises its 0..255 inputs itself: build it with "
              "include_preprocessing = false, or convert with --imagenet-normalization");
  EMBER_CHECK(model_norm || !file_norm, "load_pretrained_backbone: ", source,
              " holds normalization.mean/variance (weights for 0..255 inputs normalised inside "
              "the model, as Keras does) but the model was built with include_preprocessing = "
              "false: build it with include_preprocessing = true");
  try {
    nn::LoadReport r = nn::load_into(targets, tensors, {.strict = true, .convert_dtype = true},
                                     source);
    report.loaded = std::move(r.loaded);
  } catch (const Error& e) {
    EMBER_FAIL("load_pretrained_backbone (every tensor but the predictions head must match): ",
               e.what());
  }
  return report;
}

PretrainedReport load_pretrained_backbone(EfficientNet& model, const std::string& path) {
  return load_pretrained_backbone(model, nn::read_safetensors(path), "'" + path + "'");
}

}  // namespace ember::models

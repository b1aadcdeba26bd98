// generate's flags (apps/flags/generate_flags.h).
#include "apps/flags/generate_flags.h"

#include <filesystem>

#include "datasets/eurosat.h"
#include "apps/flags/cli.h"

namespace ember::training {

const char* const kGenerateUsage = R"(usage: generate --generator FILE --classifier FILE [flags]
  --generator FILE    generator.safetensors written by train_gan (its config is in the file)
  --classifier FILE   a train_classifier best.safetensors (EfficientNetB2, 10 classes): an
                      image is kept when this classifier predicts its intended class
  --classes A,B       classes to generate (default Highway,River)
  --keep N            images to keep per class (default 500)
  --batch N           candidates generated and classified at once (default 64)
  --seed S            noise seed (default 0); the manifest records each image's noise
  --max-batches N     stop (with an error) when a class has not reached --keep after N
  --allow-short       ... or keep what it reached and go on (summary.json: "short")
                      batches (default 1000)
  --device cpu|cuda|cuda:N (cpu)
  --out DIR           output folder (default gen/kept); must not exist, never overwritten
)";

GenerateFlags parse_generate_flags(const std::vector<std::string>& args) {
  GenerateFlags f;
  FlagReader r(args);
  while (r.next()) {
    if (r.is("--generator")) f.generator = r.value();
    else if (r.is("--classifier")) f.classifier = r.value();
    else if (r.is("--classes"))
      f.classes = parse_names("--classes", r.value(), datasets::eurosat_class_names(), "class");
    else if (r.is("--keep")) f.keep = r.int_value(1, 1000000);
    else if (r.is("--batch")) f.batch = r.int_value(1, 1 << 16);
    else if (r.is("--seed")) f.seed = static_cast<uint64_t>(r.int_value(0));
    else if (r.is("--max-batches")) f.max_batches = r.int_value(1);
    else if (r.is_switch("--allow-short")) f.allow_short = true;
    else if (r.is("--device")) f.device = r.device_value();
    else if (r.is("--out")) f.out = r.value();
    else r.unknown();
  }
  f.help = r.help_requested();
  if (f.help) return f;
  require_flag(!f.generator.empty(), "--generator FILE is required");
  require_flag(!f.classifier.empty(), "--classifier FILE is required");
  while (!f.out.empty() && f.out.back() == '/') f.out.pop_back();
  require_flag(!f.out.empty(), "--out: empty folder name");
  return f;
}

void check_generate_inputs(const GenerateFlags& f) {
  namespace fs = std::filesystem;
  require_flag(fs::is_regular_file(f.generator), "--generator: no such file '", f.generator, "'");
  require_flag(fs::is_regular_file(f.classifier), "--classifier: no such file '", f.classifier,
               "'");
}

}  // namespace ember::training

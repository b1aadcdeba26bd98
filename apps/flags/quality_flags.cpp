// gan_quality's flags (apps/flags/quality_flags.h).
#include "apps/flags/quality_flags.h"

#include <filesystem>

#include "datasets/eurosat.h"
#include "apps/flags/cli.h"

namespace ember::training {

const char* const kQualityUsage = R"(usage: gan_quality --generator FILE --features-classifier FILE [flags]
  --generator FILE              generator.safetensors written by train_gan
  --features-classifier FILE    train_classifier best.safetensors of a classifier trained on
                                the full real data: its pooled features (1408-d) are the space
                                of the Fréchet distance and the diversity
  --acceptance-classifier FILE  the classifier whose acceptance rate is reported (generate's
                                filter; default: the features classifier)
  --classes A,B|all             classes to measure (default all)
  --count N                     generated images per class (default 500)
  --seed S                      noise seed (default 0, as generate)
  --baseline                    also the Fréchet distance of real val vs real test per class
  --batch N (64)  --device cpu|cuda|cuda:N (cpu)
  --data DIR  --cache-dir DIR | --no-cache  --threads N
  --fraction F                  a stratified fraction of the real splits (quick runs; default 1)
  --out FILE                    the JSON result (default gan_quality.json; never overwritten)
Exit status: 0 done, 1 an error, 2 a bad flag, 77 no EuroSAT data found and no place named.
)";

QualityFlags parse_quality_flags(const std::vector<std::string>& args) {
  QualityFlags f;
  f.classes = datasets::eurosat_class_names();
  FlagReader r(args);
  while (r.next()) {
    if (r.is("--generator")) f.generator = r.value();
    else if (r.is("--features-classifier")) f.features = r.value();
    else if (r.is("--acceptance-classifier")) f.acceptance = r.value();
    else if (r.is("--classes")) {
      const std::string v = r.value();
      f.classes = v == "all" ? datasets::eurosat_class_names()
                             : parse_names("--classes", v, datasets::eurosat_class_names(), "class");
    }
    else if (r.is("--count")) f.count = r.int_value(2, 1000000);
    else if (r.is("--seed")) f.seed = static_cast<uint64_t>(r.int_value(0));
    else if (r.is_switch("--baseline")) f.baseline = true;
    else if (r.is("--batch")) f.batch = r.int_value(1, 1 << 16);
    else if (r.is("--device")) f.device = r.device_value();
    else if (r.is("--data")) f.data = r.value();
    else if (r.is("--cache-dir")) f.cache_dir = r.value();
    else if (r.is_switch("--no-cache")) f.no_cache = true;
    else if (r.is("--threads")) f.threads = r.int_value(0, 1024);
    else if (r.is("--fraction")) f.fraction = r.double_value(1e-6, 1.0);
    else if (r.is("--out")) f.out = r.value();
    else r.unknown();
  }
  f.help = r.help_requested();
  if (f.help) return f;
  require_flag(!f.generator.empty(), "--generator FILE is required");
  require_flag(!f.features.empty(), "--features-classifier FILE is required");
  if (f.acceptance.empty()) f.acceptance = f.features;
  return f;
}

void check_quality_inputs(const QualityFlags& f) {
  for (const std::string* p : {&f.generator, &f.features, &f.acceptance})
    require_flag(std::filesystem::is_regular_file(*p), "no such file '", *p, "'");
}

}  // namespace ember::training

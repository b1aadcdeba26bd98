// build_augmented's flags (apps/flags/augment_flags.h).
#include "apps/flags/augment_flags.h"

#include <filesystem>

#include "apps/flags/cli.h"

namespace ember::training {

const char* const kAugmentUsage = R"(usage: build_augmented --generated DIR --out DIR [flags]
  --generated DIR   the output folder of generate (class folders + manifest.csv)
  --out DIR         where augmented<N>/ folders go (must not exist)
  --sizes A,B,...   the N of each set (default 100,300,500)
  --per class|total N images of each class (default) or N in all, split evenly over classes
  --classes A,B     the classes to take (default: every class in the manifest)
  --allow-short     a set takes what there is when a class has fewer images (quick runs)
)";

AugmentFlags parse_augment_flags(const std::vector<std::string>& args) {
  AugmentFlags f;
  FlagReader r(args);
  while (r.next()) {
    if (r.is("--generated")) f.generated = r.value();
    else if (r.is("--out")) f.out = r.value();
    else if (r.is_switch("--allow-short")) f.allow_short = true;
    else if (r.is("--per")) f.per = r.choice_value({"class", "total"});
    else if (r.is("--sizes")) {
      f.sizes.clear();
      for (const std::string& s : split_list("--sizes", r.value())) {
        const int64_t n = parse_int("--sizes", s);
        require_flag(n > 0, "--sizes: sizes must be positive, got ", n);
        f.sizes.push_back(n);
      }
    } else if (r.is("--classes")) {
      f.classes = split_list("--classes", r.value());  // checked against the manifest
    } else {
      r.unknown();
    }
  }
  f.help = r.help_requested();
  if (f.help) return f;
  require_flag(!f.generated.empty(), "--generated DIR is required");
  require_flag(!f.out.empty(), "--out DIR is required");
  while (f.out.size() > 1 && f.out.back() == '/') f.out.pop_back();
  return f;
}

void check_augment_inputs(const AugmentFlags& f) {
  require_flag(std::filesystem::is_directory(f.generated), "--generated: no such folder '",
               f.generated, "'");
}

}  // namespace ember::training

// The one translation unit that compiles stb_image and stb_image_write (Debian libstb-dev headers
// in /usr/include/stb). Every other file includes the headers for declarations only; defining
// the implementation twice would break the link. Exercised by tests/test_datasets_eurosat.cpp.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
// Decoding runs on several threads (datasets/eurosat.cpp): safe because this stb keeps its
// failure reason thread_local (STBI_THREAD_LOCAL, on unless STBI_NO_THREAD_LOCALS) and no code
// here sets the global flip flag.
// Only the formats ember reads: EuroSAT JPEGs and generated PNGs.
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
// stb's file writers ignore fwrite errors (a full disk gives an empty image and success), so
// they are not compiled: image_io.cpp encodes into memory and writes through
// tensor/atomic_file.h, and a new call to stbi_write_png(filename, ...) fails to link.
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

/* Writes the JPEG seeds of fuzz/corpus/image/ with libjpeg (Debian libjpeg62-turbo-dev): the
 * JPEG features stb_image decodes, each in a tiny image (odd sizes reach the partial-block
 * edges). Only needed to remake the committed seeds:
 *   cc fuzz/make_jpeg_seeds.c -ljpeg -o /tmp/make_jpeg_seeds && /tmp/make_jpeg_seeds fuzz/corpus/image
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

struct seed {
  const char* name;
  int width, height, components; /* 1 gray, 3 RGB, 4 CMYK */
  int progressive, restart_rows, subsample, quality;
};

static void write_seed(const char* dir, const struct seed* s) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, s->name);
  FILE* out = fopen(path, "wb");
  if (!out) { perror(path); exit(1); }
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, out);
  c.image_width = s->width;
  c.image_height = s->height;
  c.input_components = s->components;
  c.in_color_space = s->components == 1 ? JCS_GRAYSCALE : s->components == 3 ? JCS_RGB : JCS_CMYK;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, s->quality, TRUE);
  if (s->components == 3 && !s->subsample) /* 4:4:4 instead of the default 4:2:0 */
    c.comp_info[0].h_samp_factor = c.comp_info[0].v_samp_factor = 1;
  if (s->progressive) jpeg_simple_progression(&c);
  c.restart_in_rows = s->restart_rows;
  jpeg_start_compress(&c, TRUE);
  unsigned char row[64 * 4];
  while (c.next_scanline < c.image_height) {
    for (int x = 0; x < s->width * s->components; ++x)
      row[x] = (unsigned char)(x * 37 + c.next_scanline * 11 + (x % s->components) * 80);
    JSAMPROW rows[1] = {row};
    jpeg_write_scanlines(&c, rows, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  fclose(out);
}

int main(int argc, char** argv) {
  if (argc != 2) { fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]); return 2; }
  const struct seed seeds[] = {
      {"baseline_420_8x8.jpg", 8, 8, 3, 0, 0, 1, 75},
      {"baseline_444_17x13.jpg", 17, 13, 3, 0, 0, 0, 95},
      {"progressive_16x9.jpg", 16, 9, 3, 1, 0, 1, 80},
      {"gray_progressive_9x9.jpg", 9, 9, 1, 1, 0, 0, 90},
      {"gray_restart_24x16.jpg", 24, 16, 1, 0, 1, 0, 50},
      {"restart_420_32x16.jpg", 32, 16, 3, 0, 1, 1, 60},
      {"cmyk_8x8.jpg", 8, 8, 4, 0, 0, 0, 90},
  };
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; ++i) write_seed(argv[1], &seeds[i]);
  return 0;
}

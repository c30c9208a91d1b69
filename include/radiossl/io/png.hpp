/// @file
/// PNG through libpng: read 8/16-bit grayscale or colour pictures into an Image, write 8-bit
/// grayscale or RGB pictures (galleries, plots, quick looks).
#pragma once

#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "radiossl/error.hpp"
#include "radiossl/image.hpp"

namespace radiossl::io {

namespace detail {

/// libpng reports errors by longjmp. Every function that calls libpng and sets the jump point
/// below holds only trivially destructible locals, so that the jump never skips a destructor;
/// C++ objects are built by the callers between these calls.
struct PngState {
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::FILE* fp = nullptr;
  char message[256] = {0};
};

inline void png_on_error(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(st->message, sizeof st->message, "%s", msg ? msg : "libpng error");
  png_longjmp(png, 1);
}
inline void png_on_warning(png_structp, png_const_charp) {}

/// Opens the file, reads the header and sets the transformations; outputs the row layout.
inline bool png_read_begin(PngState* st, const char* file, std::uint32_t* w, std::uint32_t* h,
                           int* channels, int* depth) {
  st->fp = std::fopen(file, "rb");
  if (!st->fp) {
    std::snprintf(st->message, sizeof st->message, "cannot open PNG file");
    return false;
  }
  unsigned char sig[8];
  if (std::fread(sig, 1, 8, st->fp) != 8 || png_sig_cmp(sig, 0, 8) != 0) {
    std::snprintf(st->message, sizeof st->message, "not a PNG file (bad signature)");
    return false;
  }
  st->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, st, png_on_error, png_on_warning);
  if (!st->png) return false;
  st->info = png_create_info_struct(st->png);
  if (!st->info) return false;
  if (setjmp(png_jmpbuf(st->png))) return false;
  png_init_io(st->png, st->fp);
  png_set_sig_bytes(st->png, 8);
  png_read_info(st->png, st->info);
  const int color = png_get_color_type(st->png, st->info);
  const int bits = png_get_bit_depth(st->png, st->info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(st->png);
  if (color == PNG_COLOR_TYPE_GRAY && bits < 8) png_set_expand_gray_1_2_4_to_8(st->png);
  png_set_strip_alpha(st->png);
  if (bits == 16) png_set_swap(st->png);  // 16-bit samples in host (little-endian) order
  png_set_interlace_handling(st->png);
  png_read_update_info(st->png, st->info);
  *w = png_get_image_width(st->png, st->info);
  *h = png_get_image_height(st->png, st->info);
  *channels = png_get_channels(st->png, st->info);
  *depth = png_get_bit_depth(st->png, st->info);
  return true;
}

inline bool png_read_rows(PngState* st, png_bytepp rows) {
  if (setjmp(png_jmpbuf(st->png))) return false;
  png_read_image(st->png, rows);
  png_read_end(st->png, nullptr);
  return true;
}

inline void png_read_close(PngState* st) {
  if (st->png) png_destroy_read_struct(&st->png, st->info ? &st->info : nullptr, nullptr);
  if (st->fp) std::fclose(st->fp);
  st->fp = nullptr;
}

inline bool png_write_all(PngState* st, const char* file, std::uint32_t w, std::uint32_t h, int color,
                          png_bytepp rows) {
  st->fp = std::fopen(file, "wb");
  if (!st->fp) {
    std::snprintf(st->message, sizeof st->message, "cannot open for writing");
    return false;
  }
  st->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, st, png_on_error, png_on_warning);
  if (!st->png) return false;
  st->info = png_create_info_struct(st->png);
  if (!st->info) return false;
  if (setjmp(png_jmpbuf(st->png))) return false;
  png_init_io(st->png, st->fp);
  png_set_IHDR(st->png, st->info, w, h, 8, color, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(st->png, st->info);
  png_write_image(st->png, rows);
  png_write_end(st->png, nullptr);
  return true;
}

inline void png_write_close(PngState* st) {
  if (st->png) png_destroy_write_struct(&st->png, st->info ? &st->info : nullptr);
  if (st->fp && std::fclose(st->fp) != 0 && st->message[0] == 0)
    std::snprintf(st->message, sizeof st->message, "write failed");
  st->fp = nullptr;
}

}  // namespace detail

/// Reads a PNG as float32 pixel values as stored: 0-255 for 8-bit, 0-65535 for 16-bit pictures
/// (min-max normalisation comes later, in data::preprocess, as for FITS). Grayscale (with or
/// without alpha) gives one channel; colour and palette pictures give three (R, G, B); alpha is
/// dropped. Throws radiossl::Error naming the file on a missing, truncated or non-PNG file.
[[nodiscard]] inline Image read_png(const std::filesystem::path& path) {
  detail::PngState st;
  std::uint32_t w = 0, h = 0;
  int channels = 0, depth = 0;
  const std::string file = path.string();
  if (!detail::png_read_begin(&st, file.c_str(), &w, &h, &channels, &depth)) {
    detail::png_read_close(&st);
    throw Error(file + ": " + (st.message[0] ? st.message : "cannot read PNG"));
  }
  const int bytes = depth == 16 ? 2 : 1;
  std::vector<unsigned char> buf(static_cast<std::size_t>(w) * h * static_cast<std::size_t>(channels * bytes));
  std::vector<png_bytep> rows(h);
  for (std::uint32_t y = 0; y < h; ++y) rows[y] = buf.data() + static_cast<std::size_t>(y) * w * channels * bytes;
  const bool ok = detail::png_read_rows(&st, rows.data());
  detail::png_read_close(&st);
  if (!ok) throw Error(file + ": " + (st.message[0] ? st.message : "cannot read PNG data"));

  Image img(static_cast<std::int64_t>(channels), h, w, 0.0f);
  const std::size_t plane = static_cast<std::size_t>(w) * h;
  for (std::size_t i = 0; i < plane; ++i)
    for (int c = 0; c < channels; ++c) {
      const std::size_t k = i * static_cast<std::size_t>(channels) + static_cast<std::size_t>(c);
      float v;
      if (bytes == 2) {
        std::uint16_t s;
        std::memcpy(&s, buf.data() + 2 * k, 2);
        v = s;
      } else {
        v = buf[k];
      }
      img.pixels[static_cast<std::size_t>(c) * plane + i] = v;
    }
  return img;
}

/// Writes an Image as an 8-bit PNG: one channel gives grayscale, three give RGB.
///
/// Pixel values map linearly from [lo, hi] to 0-255 (rounded, clipped; NaN gives 0). The default
/// range [0, 1] fits normalised cut-outs, augmented views and plots drawn in [0, 1].
/// Throws radiossl::Error naming the file for other channel counts or a failed write.
inline void write_png(const std::filesystem::path& path, const Image& img, float lo = 0.0f, float hi = 1.0f) {
  const std::string file = path.string();
  if (img.channels != 1 && img.channels != 3)
    throw Error(file + ": write_png needs 1 or 3 channels, the image has " + std::to_string(img.channels));
  if (img.height <= 0 || img.width <= 0) throw Error(file + ": write_png got an empty image");
  if (!(hi > lo)) throw Error(file + ": write_png needs hi > lo");
  const auto c = static_cast<std::size_t>(img.channels);
  const auto plane = static_cast<std::size_t>(img.plane_size());
  std::vector<unsigned char> buf(plane * c);
  const float scale = 255.0f / (hi - lo);
  for (std::size_t i = 0; i < plane; ++i)
    for (std::size_t k = 0; k < c; ++k) {
      const float v = img.pixels[k * plane + i];
      const float s = std::isnan(v) ? 0.0f : std::clamp((v - lo) * scale, 0.0f, 255.0f);
      buf[i * c + k] = static_cast<unsigned char>(std::lround(s));
    }
  std::vector<png_bytep> rows(static_cast<std::size_t>(img.height));
  for (std::size_t y = 0; y < rows.size(); ++y) rows[y] = buf.data() + y * static_cast<std::size_t>(img.width) * c;
  detail::PngState st;
  const bool ok = detail::png_write_all(&st, file.c_str(), static_cast<std::uint32_t>(img.width),
                                        static_cast<std::uint32_t>(img.height),
                                        c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, rows.data());
  detail::png_write_close(&st);
  if (!ok || st.message[0]) throw Error(file + ": " + (st.message[0] ? st.message : "cannot write PNG"));
}

}  // namespace radiossl::io

/// @file
/// A small RGB raster canvas for figures: rectangles, lines, dots and 5x7 text, on an `Image`.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "radiossl/detail/font5x7.hpp"
#include "radiossl/image.hpp"

namespace radiossl::detail {

/// An RGB colour with components in [0, 1].
struct Rgb {
  float r, g, b;
};

/// A categorical palette that stays distinguishable for up to ten classes (colour-blind friendly order).
inline Rgb palette(std::size_t i) {
  static constexpr std::array<Rgb, 10> colours{{{0.00f, 0.45f, 0.70f}, {0.90f, 0.62f, 0.00f},
                                                {0.00f, 0.62f, 0.45f}, {0.80f, 0.47f, 0.65f},
                                                {0.34f, 0.71f, 0.91f}, {0.84f, 0.37f, 0.00f},
                                                {0.94f, 0.89f, 0.26f}, {0.40f, 0.40f, 0.40f},
                                                {0.55f, 0.27f, 0.07f}, {0.00f, 0.00f, 0.00f}}};
  return colours[i % colours.size()];
}

/// Draws onto a 3-channel `Image` (values in [0, 1]), ready for `io::write_png`.
class Canvas {
 public:
  Canvas(std::int64_t height, std::int64_t width, Rgb background = {1, 1, 1})
      : image_(3, height, width) {
    fill_rect(0, 0, width, height, background);
  }

  [[nodiscard]] const Image& image() const { return image_; }
  [[nodiscard]] std::int64_t width() const { return image_.width; }
  [[nodiscard]] std::int64_t height() const { return image_.height; }

  void set(std::int64_t x, std::int64_t y, Rgb c) {
    if (x < 0 || y < 0 || x >= image_.width || y >= image_.height) return;
    image_.at(0, y, x) = c.r;
    image_.at(1, y, x) = c.g;
    image_.at(2, y, x) = c.b;
  }

  void fill_rect(std::int64_t x0, std::int64_t y0, std::int64_t w, std::int64_t h, Rgb c) {
    for (std::int64_t y = std::max<std::int64_t>(0, y0); y < std::min(image_.height, y0 + h); ++y)
      for (std::int64_t x = std::max<std::int64_t>(0, x0); x < std::min(image_.width, x0 + w); ++x)
        set(x, y, c);
  }

  void rect_outline(std::int64_t x0, std::int64_t y0, std::int64_t w, std::int64_t h, Rgb c) {
    line(x0, y0, x0 + w - 1, y0, c);
    line(x0, y0 + h - 1, x0 + w - 1, y0 + h - 1, c);
    line(x0, y0, x0, y0 + h - 1, c);
    line(x0 + w - 1, y0, x0 + w - 1, y0 + h - 1, c);
  }

  /// Bresenham line, both ends included.
  void line(std::int64_t x0, std::int64_t y0, std::int64_t x1, std::int64_t y1, Rgb c) {
    const std::int64_t dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const std::int64_t sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    std::int64_t err = dx + dy;
    for (;;) {
      set(x0, y0, c);
      if (x0 == x1 && y0 == y1) break;
      const std::int64_t e2 = 2 * err;
      if (e2 >= dy) { err += dy; x0 += sx; }
      if (e2 <= dx) { err += dx; y0 += sy; }
    }
  }

  /// A filled disc, for scatter plots.
  void dot(double cx, double cy, double radius, Rgb c) {
    const auto r = static_cast<std::int64_t>(std::ceil(radius));
    const auto x0 = static_cast<std::int64_t>(std::lround(cx));
    const auto y0 = static_cast<std::int64_t>(std::lround(cy));
    for (std::int64_t y = -r; y <= r; ++y)
      for (std::int64_t x = -r; x <= r; ++x)
        if (static_cast<double>(x * x + y * y) <= radius * radius) set(x0 + x, y0 + y, c);
  }

  /// Text with its top-left corner at (x, y); `scale` enlarges each font pixel to scale x scale.
  /// Returns the width drawn.
  std::int64_t text(std::int64_t x, std::int64_t y, std::string_view s, Rgb c = {0, 0, 0},
                    int scale = 1) {
    std::int64_t cx = x;
    for (char ch : s) {
      const auto& rows = glyph(ch);
      for (int gy = 0; gy < 7; ++gy)
        for (int gx = 0; gx < 5; ++gx)
          if (rows[static_cast<std::size_t>(gy)][static_cast<std::size_t>(gx)] == '#')
            fill_rect(cx + gx * scale, y + gy * scale, scale, scale, c);
      cx += 6 * scale;
    }
    return cx - x;
  }

  /// Width in pixels that `text` would draw.
  static std::int64_t text_width(std::string_view s, int scale = 1) {
    return static_cast<std::int64_t>(s.size()) * 6 * scale;
  }

  /// Copies a one-channel image with values in [0, 1] as grey levels, top-left at (x, y).
  void blit_gray(const Image& gray, std::int64_t x, std::int64_t y) {
    for (std::int64_t j = 0; j < gray.height; ++j)
      for (std::int64_t i = 0; i < gray.width; ++i) {
        const float v = std::clamp(gray.at(j, i), 0.0f, 1.0f);
        set(x + i, y + j, {v, v, v});
      }
  }

 private:
  Image image_;
};

}  // namespace radiossl::detail

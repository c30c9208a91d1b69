/// @file
/// A gallery of example cut-outs per class of the simulated sets (rows = classes, labelled with a
/// built-in bitmap font), asinh-stretched, so a person can check at a glance that classes look right.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "radiossl/detail/font5x7.hpp"
#include "radiossl/image.hpp"
#include "radiossl/io/png.hpp"
#include "radiossl/sim/sets.hpp"

namespace radiossl::sim {

/// Gallery layout.
struct GalleryOptions {
  int columns = 8;          ///< examples per class
  std::int64_t tile = 96;   ///< tile side, pixels (cut-outs are resampled to it)
  double asinh_a = 0.1;    ///< asinh softening, as a share of the (peak - median) range
  int font_scale = 2;       ///< label glyph magnification
  bool zoom = true;         ///< show the square of 1.5x the target's bounding box, not the whole cut-out
};

/// The square around a cut-out's target (1.5x its bounding box, at least 32 px), clipped to the
/// cut-out; the whole cut-out when it has no target (background class).
inline Image zoom_on_target(const LabeledCutout& c) {
  const auto& f = c.target;
  if (f.bbox_w <= 0 || f.bbox_h <= 0) return c.image;
  const auto side = std::max<std::int64_t>(32, static_cast<std::int64_t>(1.5 * static_cast<double>(std::max(f.bbox_w, f.bbox_h))));
  const auto cx = f.bbox_x0 + f.bbox_w / 2, cy = f.bbox_y0 + f.bbox_h / 2;
  const auto x0 = std::clamp<std::int64_t>(cx - side / 2, 0, c.image.width - 1), y0 = std::clamp<std::int64_t>(cy - side / 2, 0, c.image.height - 1);
  const auto x1 = std::min(c.image.width, x0 + side), y1 = std::min(c.image.height, y0 + side);
  Image out(y1 - y0, x1 - x0);
  for (std::int64_t y = y0; y < y1; ++y)
    for (std::int64_t x = x0; x < x1; ++x) out.at(y - y0, x - x0) = c.image.at(y, x);
  return out;
}

/// Maps a cut-out to [0, 1] for display: NaN to the minimum, background = median, asinh stretch of
/// (v - median) / (max - median) with softening a, negatives clipped; resampled (bilinear) to tile x tile.
inline Image stretch_tile(const Image& im, std::int64_t tile, double a) {
  std::vector<float> v;
  for (float x : im.pixels)
    if (!std::isnan(x)) v.push_back(x);
  Image out(tile, tile, 0.0f);
  if (v.empty()) return out;
  std::vector<float> s = v;
  std::nth_element(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(s.size() / 2), s.end());
  const double med = s[s.size() / 2];
  const double hi = *std::max_element(v.begin(), v.end());
  const double range = std::max(hi - med, 1e-30);
  const double norm = std::asinh(1.0 / a);
  for (std::int64_t y = 0; y < tile; ++y)
    for (std::int64_t x = 0; x < tile; ++x) {
      const double sx = (static_cast<double>(x) + 0.5) * static_cast<double>(im.width) / static_cast<double>(tile) - 0.5;
      const double sy = (static_cast<double>(y) + 0.5) * static_cast<double>(im.height) / static_cast<double>(tile) - 0.5;
      const auto x0 = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::floor(sx)), 0, im.width - 1);
      const auto y0 = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::floor(sy)), 0, im.height - 1);
      const auto x1 = std::min(x0 + 1, im.width - 1), y1 = std::min(y0 + 1, im.height - 1);
      const double fx = std::clamp(sx - static_cast<double>(x0), 0.0, 1.0), fy = std::clamp(sy - static_cast<double>(y0), 0.0, 1.0);
      auto px = [&](std::int64_t yy, std::int64_t xx) {
        const float q = im.at(yy, xx);
        return std::isnan(q) ? med : static_cast<double>(q);
      };
      const double val = (1 - fy) * ((1 - fx) * px(y0, x0) + fx * px(y0, x1)) + fy * ((1 - fx) * px(y1, x0) + fx * px(y1, x1));
      const double t = std::max(0.0, (val - med) / range);
      // Display row 0 is the top: FITS row 0 is the bottom (north up), so flip vertically.
      out.at(tile - 1 - y, x) = static_cast<float>(std::min(1.0, std::asinh(t / a) / norm));
    }
  return out;
}

/// Draws `text` into `img` at (x, y) (top-left), value `ink`, glyphs 5x7 scaled by `scale`.
inline void draw_text(Image& img, std::int64_t x, std::int64_t y, const std::string& text, int scale, float ink = 1.0f) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto& g = radiossl::detail::glyph(text[i]);
    for (int r = 0; r < 7; ++r)
      for (int c = 0; c < 5; ++c)
        if (g[static_cast<std::size_t>(r)][static_cast<std::size_t>(c)] == '#')
          for (int dy = 0; dy < scale; ++dy)
            for (int dx = 0; dx < scale; ++dx) {
              const std::int64_t xx = x + static_cast<std::int64_t>(i) * 6 * scale + c * scale + dx, yy = y + r * scale + dy;
              if (xx >= 0 && yy >= 0 && xx < img.width && yy < img.height) img.at(yy, xx) = ink;
            }
  }
}

/// The gallery image: one row per class of every labeled set ("set: class"), `columns` examples each,
/// rendered in memory from `seed` at the preset's cut-out sizes (zoomed on the target by default).
inline Image render_gallery(std::uint64_t seed, const DatasetPreset& preset, const GalleryOptions& g = {}) {
  std::vector<std::pair<std::string, int>> rows;
  for (const auto& set : labeled_set_names())
    for (std::size_t c = 0; c < classes_of(set).size(); ++c) rows.emplace_back(set, static_cast<int>(c));
  const std::int64_t gap = 4, label_w = 6 * g.font_scale * 24;
  const std::int64_t w = label_w + g.columns * (g.tile + gap), h = static_cast<std::int64_t>(rows.size()) * (g.tile + gap);
  Image img(h, w, 0.15f);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto& [set, cls] = rows[r];
    const std::int64_t y0 = static_cast<std::int64_t>(r) * (g.tile + gap);
    draw_text(img, 4, y0 + g.tile / 2 - 7 * g.font_scale, set, g.font_scale, 0.7f);
    draw_text(img, 4, y0 + g.tile / 2 + 2, classes_of(set)[static_cast<std::size_t>(cls)], g.font_scale, 1.0f);
    for (int k = 0; k < g.columns; ++k) {
      const LabeledCutout c = make_labeled_cutout(set, preset, seed, k, cls);
      const Image t = stretch_tile(g.zoom ? zoom_on_target(c) : c.image, g.tile, g.asinh_a);
      const std::int64_t x0 = label_w + k * (g.tile + gap);
      for (std::int64_t y = 0; y < g.tile; ++y)
        for (std::int64_t x = 0; x < g.tile; ++x) img.at(y0 + y, x0 + x) = t.at(y, x);
    }
  }
  return img;
}

/// Renders the gallery and writes it as an 8-bit grayscale PNG.
inline void write_gallery(const std::filesystem::path& path, std::uint64_t seed, const DatasetPreset& preset,
                          const GalleryOptions& g = {}) {
  io::write_png(path, render_gallery(seed, preset, g));
}

}  // namespace radiossl::sim

/// @file
/// Photometric augmentation stages: Gaussian blur and contrast, each applied with a probability.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "radiossl/concepts/augment.hpp"
#include "radiossl/data/preprocess.hpp"
#include "radiossl/data/random.hpp"
#include "radiossl/image.hpp"

namespace radiossl::augment {

namespace detail {

/// Reflect-101 index (torch's "reflect" padding: -1 -> 1, n -> n - 2), valid for any offset.
inline std::int64_t reflect_index(std::int64_t i, std::int64_t n) {
  if (n == 1) return 0;
  const std::int64_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

}  // namespace detail

/// Separable Gaussian blur of every channel with standard deviation `sigma` (pixels), kernel
/// radius ceil(3 sigma), reflect padding. Separable: 2(2r+1) multiply-adds per pixel instead of
/// (2r+1)^2 (perf-notes: the 2-D 23x23 blur dominated the peer pipeline).
inline void gaussian_blur(Image& img, double sigma) {
  if (!(sigma > 0.0) || img.empty()) return;
  const auto r = static_cast<std::int64_t>(std::ceil(3.0 * sigma));
  std::vector<float> k(static_cast<std::size_t>(2 * r + 1));
  double sum = 0.0;
  for (std::int64_t i = -r; i <= r; ++i) {
    const double v = std::exp(-0.5 * static_cast<double>(i * i) / (sigma * sigma));
    k[static_cast<std::size_t>(i + r)] = static_cast<float>(v);
    sum += v;
  }
  for (float& v : k) v = static_cast<float>(v / sum);
  const std::int64_t h = img.height, w = img.width;
  // Scratch reused across calls in one thread: views are blurred many times per second.
  thread_local std::vector<float> padded, tmp;
  padded.resize(static_cast<std::size_t>(w + 2 * r));
  tmp.resize(static_cast<std::size_t>(h * w));
  const float* kp = k.data();
  const std::int64_t taps = 2 * r + 1;
  std::vector<const float*> rows(static_cast<std::size_t>(taps));
  for (std::int64_t c = 0; c < img.channels; ++c) {
    float* plane = img.plane(c);
    // Horizontal: pad each row by reflection, then the row multiply-add over shifted copies.
    for (std::int64_t y = 0; y < h; ++y) {
      const float* row = plane + y * w;
      std::copy(row, row + w, padded.data() + r);
      for (std::int64_t i = 1; i <= r; ++i) {  // only the borders need the reflected index
        padded[static_cast<std::size_t>(r - i)] = row[detail::reflect_index(-i, w)];
        padded[static_cast<std::size_t>(r + w - 1 + i)] = row[detail::reflect_index(w - 1 + i, w)];
      }
      float* dst = tmp.data() + y * w;
      for (std::int64_t t = 0; t < taps; ++t) rows[static_cast<std::size_t>(t)] = padded.data() + t;
      data::detail::weighted_rows(rows.data(), kp, taps, dst, w);
    }
    // Vertical: the same multiply-add over rows, reflected row indices at the edges.
    for (std::int64_t y = 0; y < h; ++y) {
      for (std::int64_t t = 0; t < taps; ++t) {
        const std::int64_t yy = y + t - r;
        rows[static_cast<std::size_t>(t)] = tmp.data() + (yy >= 0 && yy < h ? yy : detail::reflect_index(yy, h)) * w;
      }
      data::detail::weighted_rows(rows.data(), kp, taps, plane + y * w, w);
    }
  }
}

/// Gaussian blur with probability `p`, sigma ~ U(sigma_min, sigma_max) (the paper: p 0.25,
/// sigma in [0.1, 2]; solo-learn-radio blurs with PIL's GaussianBlur(radius=sigma), a box
/// approximation of the same Gaussian).
struct RandomGaussianBlur {
  double p = 0.25;
  double sigma_min = 0.1;
  double sigma_max = 2.0;
  void operator()(Image& img, Rng& rng) const {
    if (!data::bernoulli(rng, p)) return;
    gaussian_blur(img, data::uniform(rng, sigma_min, sigma_max));
  }
};

/// Mean used as the contrast pivot: the plain mean of one channel, or PIL's "L" luminance
/// (0.299 R + 0.587 G + 0.114 B) of three channels, as ImageEnhance.Contrast uses.
[[nodiscard]] inline double contrast_pivot(const Image& img) {
  const std::int64_t n = img.plane_size();
  if (n == 0) return 0.0;
  auto plane_mean = [&](std::int64_t c) {
    // Eight float lanes over blocks of 1024, summed in double: vectorised, and accurate enough
    // for a pivot (a plain double loop is latency-bound, 4 cycles per pixel).
    const float* p = img.plane(c);
    double total = 0.0;
    for (std::int64_t b = 0; b < n; b += 1024) {
      const std::int64_t e = std::min(n, b + 1024);
      float lane[8] = {};
      std::int64_t i = b;
      for (; i + 8 <= e; i += 8)
        for (int l = 0; l < 8; ++l) lane[l] += p[i + l];
      for (; i < e; ++i) lane[0] += p[i];
      for (float v : lane) total += v;
    }
    return total / static_cast<double>(n);
  };
  if (img.channels == 3) return 0.299 * plane_mean(0) + 0.587 * plane_mean(1) + 0.114 * plane_mean(2);
  double s = 0.0;
  for (std::int64_t c = 0; c < img.channels; ++c) s += plane_mean(c);
  return s / static_cast<double>(img.channels);
}

/// Contrast adjustment: out = clip(m + factor (x - m), 0, 1), m the pivot above (PIL's
/// ImageEnhance.Contrast on [0, 1] data; it clips to the pixel range the same way).
inline void adjust_contrast(Image& img, double factor) {
  const auto m = static_cast<float>(contrast_pivot(img));
  const auto f = static_cast<float>(factor);
  const float off = m * (1.0f - f);
  data::detail::affine_clip_span(img.pixels.data(), img.size(), off, f, 0.0f, 1.0f);
}

/// Contrast with probability `p`, factor ~ U(factor_min, factor_max) (the paper: p 0.5,
/// [0.2, 1.8], i.e. torchvision ColorJitter(contrast=0.8)).
struct RandomContrast {
  double p = 0.5;
  double factor_min = 0.2;
  double factor_max = 1.8;
  void operator()(Image& img, Rng& rng) const {
    if (!data::bernoulli(rng, p)) return;
    adjust_contrast(img, data::uniform(rng, factor_min, factor_max));
  }
};

}  // namespace radiossl::augment

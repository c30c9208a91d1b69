/// @file
/// Geometric augmentation stages: random resized crop, flips, and the evaluation resize.
///
/// A stage is a small copyable struct with `void operator()(Image&, Rng&) const`; stages that
/// build a new image from their input also offer `Image make(const Image&, Rng&) const`, which
/// `augment::Pipeline` uses for its first stage to avoid copying the source cut-out per view.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "radiossl/concepts/augment.hpp"
#include "radiossl/data/preprocess.hpp"
#include "radiossl/data/random.hpp"
#include "radiossl/error.hpp"
#include "radiossl/image.hpp"

namespace radiossl::augment {

/// A crop box in pixels: rows [top, top + height), columns [left, left + width).
struct CropBox {
  std::int64_t top = 0, left = 0, height = 0, width = 0;
};

/// torchvision's `RandomResizedCrop`: a crop of random area (fraction `scale_min..scale_max` of the
/// image) and aspect (`ratio_min..ratio_max`, log-uniform; 1 = square, as solo-learn-radio uses),
/// resampled to `size` x `size`. Ten attempts, then the centre crop, as torchvision does.
/// The resample is antialiased bicubic by default (PIL's BICUBIC), clipped to [0, 1].
struct RandomResizedCrop {
  std::int64_t size = 224;
  double scale_min = 0.65;
  double scale_max = 1.0;
  double ratio_min = 1.0;
  double ratio_max = 1.0;
  data::Interp interp = data::Interp::bicubic;

  /// The crop box for an image of `height` x `width` (torchvision `get_params`).
  [[nodiscard]] CropBox draw_box(std::int64_t height, std::int64_t width, Rng& rng) const {
    const double area = static_cast<double>(height) * static_cast<double>(width);
    const double log_lo = std::log(ratio_min), log_hi = std::log(ratio_max);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target = area * data::uniform(rng, scale_min, scale_max);
      const double aspect = std::exp(data::uniform(rng, log_lo, log_hi));
      // Python's round() rounds half to even; so does nearbyint in the default rounding mode.
      const auto w = static_cast<std::int64_t>(std::nearbyint(std::sqrt(target * aspect)));
      const auto h = static_cast<std::int64_t>(std::nearbyint(std::sqrt(target / aspect)));
      if (w > 0 && w <= width && h > 0 && h <= height) {
        const auto top = static_cast<std::int64_t>(data::uniform_index(rng, static_cast<std::uint64_t>(height - h + 1)));
        const auto left = static_cast<std::int64_t>(data::uniform_index(rng, static_cast<std::uint64_t>(width - w + 1)));
        return {top, left, h, w};
      }
    }
    const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
    std::int64_t w = width, h = height;
    if (in_ratio < ratio_min) {
      h = static_cast<std::int64_t>(std::nearbyint(static_cast<double>(w) / ratio_min));
    } else if (in_ratio > ratio_max) {
      w = static_cast<std::int64_t>(std::nearbyint(static_cast<double>(h) * ratio_max));
    }
    return {(height - h) / 2, (width - w) / 2, h, w};
  }

  [[nodiscard]] Image make(const Image& src, Rng& rng) const {
    if (src.empty()) throw Error("RandomResizedCrop: empty image");
    const CropBox b = draw_box(src.height, src.width, rng);
    return data::resample_clipped(src, b.top, b.left, b.height, b.width, size, size, interp);
  }
  void operator()(Image& img, Rng& rng) const { img = make(img, rng); }
};

namespace detail {

#ifdef RADIOSSL_DETAIL_AVX_DISPATCH
/// The vector loop of `reverse_span` with AVX2, eight from each end per step; returns how far
/// it got from each end.
[[gnu::target("avx2")]] inline std::int64_t reverse_span_avx2(float* p, std::int64_t n) {
  const __m256i backwards = _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0);
  std::int64_t i = 0, j = n;
  for (; j - i >= 16; i += 8, j -= 8) {
    const __m256 a = _mm256_loadu_ps(p + i), b = _mm256_loadu_ps(p + j - 8);
    _mm256_storeu_ps(p + i, _mm256_permutevar8x32_ps(b, backwards));
    _mm256_storeu_ps(p + j - 8, _mm256_permutevar8x32_ps(a, backwards));
  }
  return i;
}

/// The vector loop of `swap_spans` with AVX, eight per step; returns the floats done.
[[gnu::target("avx")]] inline std::int64_t swap_spans_avx(float* a, float* b, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 u = _mm256_loadu_ps(a + i), v = _mm256_loadu_ps(b + i);
    _mm256_storeu_ps(a + i, v);
    _mm256_storeu_ps(b + i, u);
  }
  return i;
}
#endif

/// Reverses p[0, n) in place. Note: std::reverse swaps one float at a time; with SSE2 (from
/// data/preprocess.hpp) four from each end per step, reversed in registers, or eight with AVX2.
inline void reverse_span(float* p, std::int64_t n) {
  std::int64_t i = 0, j = n;
#ifdef RADIOSSL_DETAIL_AVX_DISPATCH
  if (data::detail::cpu_has_avx2()) j = n - (i = reverse_span_avx2(p, n));
#endif
#ifdef RADIOSSL_DETAIL_SSE2
  for (; j - i >= 8; i += 4, j -= 4) {
    const __m128 a = _mm_loadu_ps(p + i), b = _mm_loadu_ps(p + j - 4);
    _mm_storeu_ps(p + i, _mm_shuffle_ps(b, b, _MM_SHUFFLE(0, 1, 2, 3)));
    _mm_storeu_ps(p + j - 4, _mm_shuffle_ps(a, a, _MM_SHUFFLE(0, 1, 2, 3)));
  }
#endif
  std::reverse(p + i, p + j);
}

/// Swaps a[0, n) and b[0, n) (non-overlapping); std::swap_ranges goes one float at a time.
inline void swap_spans(float* a, float* b, std::int64_t n) {
  std::int64_t i = 0;
#ifdef RADIOSSL_DETAIL_AVX_DISPATCH
  if (data::detail::cpu_has_avx_fma()) i = swap_spans_avx(a, b, n);
#endif
#ifdef RADIOSSL_DETAIL_SSE2
  for (; i + 4 <= n; i += 4) {
    const __m128 u = _mm_loadu_ps(a + i), v = _mm_loadu_ps(b + i);
    _mm_storeu_ps(a + i, v);
    _mm_storeu_ps(b + i, u);
  }
#endif
  std::swap_ranges(a + i, a + n, b + i);
}

}  // namespace detail

/// Mirrors left-right with probability `p`.
struct RandomHorizontalFlip {
  double p = 0.5;
  void operator()(Image& img, Rng& rng) const {
    if (!data::bernoulli(rng, p)) return;
    for (std::int64_t c = 0; c < img.channels; ++c)
      for (std::int64_t y = 0; y < img.height; ++y) detail::reverse_span(img.plane(c) + y * img.width, img.width);
  }
};

/// Mirrors top-bottom with probability `p` (the paper's vertical flip; solo-learn-radio's
/// pretraining pipeline lacks it, the paper's text has it, and radiossl follows the text).
struct RandomVerticalFlip {
  double p = 0.5;
  void operator()(Image& img, Rng& rng) const {
    if (!data::bernoulli(rng, p)) return;
    for (std::int64_t c = 0; c < img.channels; ++c) {
      float* plane = img.plane(c);
      for (std::int64_t y = 0, z = img.height - 1; y < z; ++y, --z)
        detail::swap_spans(plane + y * img.width, plane + z * img.width, img.width);
    }
  }
};

/// Deterministic evaluation resize: the shorter side to `size` (torchvision `Resize(size)`), then
/// the centre `size` x `size` square, so that every view of a batch has the same shape. For square
/// cut-outs this is exactly `Resize(size)`.
struct Resize {
  std::int64_t size = 224;
  data::Interp interp = data::Interp::bicubic;

  [[nodiscard]] Image make(const Image& src, Rng&) const {
    if (src.empty()) throw Error("Resize: empty image");
    // Crop the centre square of the source first: the same result as resizing then cropping,
    // up to the one-pixel rounding of the resized long side.
    const std::int64_t side = std::min(src.height, src.width);
    return data::resample_clipped(src, (src.height - side) / 2, (src.width - side) / 2, side, side, size, size,
                                  interp);
  }
  void operator()(Image& img, Rng& rng) const { img = make(img, rng); }
};

}  // namespace radiossl::augment

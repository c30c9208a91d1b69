/// @file
/// Sigma-clipped background statistics and the background floor that radio surveys' labeled sets
/// apply before min-max (MiraBest: pixels at or below 3 sigma set to zero; data.md section 3).
///
/// Why the library offers it: with min-max alone, a cut-out's background level after normalisation
/// is set by its noise-to-peak ratio, a number both views of a pretraining pair share. On the
/// synthetic sky the SSL methods learn that number first (it is the first principal component of
/// their features, correlation 0.94 with the normalised median) and lose the morphology the
/// labeled classes differ by; flooring the background at median + k sigma removes it (README,
/// "Science check").
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "radiossl/error.hpp"
#include "radiossl/image.hpp"

namespace radiossl::data {

/// Statistics of the pixels that survive iterative sigma clipping.
struct ClippedStats {
  double mean = 0.0;
  double median = 0.0;
  double std = 0.0;        ///< population standard deviation (ddof 0), as numpy's default
  std::int64_t kept = 0;   ///< finite pixels left after clipping
};

namespace detail {

/// Median of `v` (reordered in place); the mean of the two middle values for an even count, as numpy.
inline double median_in_place(std::vector<float>& v) {
  const std::size_t n = v.size();
  const std::size_t mid = n / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  const double upper = v[mid];
  if (n % 2 == 1) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return 0.5 * (lower + upper);
}

/// Mean and population std of `v` in one pass, accumulated in double around `centre` (the median),
/// which keeps the sum of squares free of cancellation.
inline void mean_std(const std::vector<float>& v, double centre, double& mean, double& std) {
  double s1 = 0.0, s2 = 0.0;
  for (float x : v) {
    const double d = x - centre;
    s1 += d;
    s2 += d * d;
  }
  const double n = static_cast<double>(v.size());
  mean = centre + s1 / n;
  std = std::sqrt(std::max(0.0, s2 / n - (s1 / n) * (s1 / n)));
}

/// The finite pixels of `img`, in order.
inline std::vector<float> finite_pixels(const Image& img) {
  std::vector<float> kept;
  kept.reserve(img.size());
  for (float x : img.pixels)
    if (std::isfinite(x)) kept.push_back(x);
  return kept;
}

/// `sigma_clipped_stats` on a non-empty set of finite values, consumed (reordered and clipped).
inline ClippedStats clipped_stats(std::vector<float>& kept, double sigma, int maxiters) {
  // The statistics of the current set give the next bounds and, once nothing more is clipped or
  // the passes are used up, the result: one median and one pass per set.
  ClippedStats s;
  auto describe = [&] {
    s.kept = static_cast<std::int64_t>(kept.size());
    s.median = median_in_place(kept);  // reorders `kept`, which is a set here
    mean_std(kept, s.median, s.mean, s.std);
  };
  describe();
  for (int it = 0; it < maxiters; ++it) {
    const double lo = s.median - sigma * s.std, hi = s.median + sigma * s.std;
    const auto before = kept.size();
    std::erase_if(kept, [&](float x) { return x < lo || x > hi; });
    if (kept.size() == before) break;
    if (kept.empty()) throw Error("sigma_clipped_stats: clipping left no pixel");
    describe();
  }
  return s;
}

}  // namespace detail

/// astropy's `sigma_clipped_stats(data, sigma, maxiters)` over the finite pixels of `img` (all
/// channels): repeatedly drop pixels farther than `sigma` standard deviations from the median
/// until none is dropped or `maxiters` passes were made, then the mean, median and std of the rest.
/// Throws radiossl::Error when no pixel is finite or the options are out of range.
[[nodiscard]] inline ClippedStats sigma_clipped_stats(const Image& img, double sigma = 3.0, int maxiters = 5) {
  if (!(sigma > 0.0)) throw Error("sigma_clipped_stats: sigma must be > 0, got " + std::to_string(sigma));
  if (maxiters < 1) throw Error("sigma_clipped_stats: maxiters must be >= 1, got " + std::to_string(maxiters));
  std::vector<float> kept = detail::finite_pixels(img);
  if (kept.empty()) throw Error("sigma_clipped_stats: the image has no finite pixel");
  return detail::clipped_stats(kept, sigma, maxiters);
}

/// Raises every pixel below median + k sigma (3-sigma, 5-pass clipped statistics) to that level,
/// non-finite pixels included, so that min-max afterwards maps the background to exactly 0.
/// Returns the floor; an image without a finite pixel is left as it is (NaN is returned), as
/// min-max turns it to zeros anyway. k must be > 0.
inline double floor_background(Image& img, double k) {
  if (!(k > 0.0)) throw Error("floor_background: k must be > 0, got " + std::to_string(k));
  std::vector<float> kept = detail::finite_pixels(img);
  if (kept.empty()) return std::nan("");
  const ClippedStats s = detail::clipped_stats(kept, 3.0, 5);
  const double floor_level = s.median + k * s.std;
  const auto f = static_cast<float>(floor_level);
  for (float& x : img.pixels)
    if (!(x >= f)) x = f;  // NaN and -inf as well
  return floor_level;
}

}  // namespace radiossl::data

/// @file
/// The benchmark's normalisation of one cut-out (NaN fill, min-max, resize, channels) and the
/// intensity stretches of solo-learn-radio's `AddNormChannels`.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#if defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__))
#include <emmintrin.h>
#define RADIOSSL_DETAIL_SSE2 1
#endif

#include "radiossl/data/random.hpp"
#include "radiossl/error.hpp"
#include "radiossl/image.hpp"

namespace radiossl::data {

// ---- stretches ----------------------------------------------------------------------------------

/// Astropy's stretches with the parameters solo-learn-radio uses (methods.md 5.2), on x in [0, 1].
enum class Stretch {
  minmax,   ///< y = x (LinearStretch)
  log,      ///< y = log(a x + 1) / log(a + 1), a = 1000
  sqrt,     ///< y = sqrt(x)
  asinh,    ///< y = asinh(x / a) / asinh(1 / a), a = 0.1
  sinh,     ///< y = sinh(x / a) / sinh(1 / a), a = 1/3
  power,    ///< y = x^a, a = 2 (PowerStretch)
  squared,  ///< y = x^2 (SquaredStretch; the same curve as power)
};

/// The stretch's name as solo-learn's YAMLs spell it.
[[nodiscard]] constexpr std::string_view to_string(Stretch s) {
  constexpr std::array<std::string_view, 7> names{"minmax", "log", "sqrt", "asinh", "sinh", "power", "squared"};
  return names[static_cast<std::size_t>(s)];
}

/// Parses a stretch name; throws radiossl::Error naming the bad value.
[[nodiscard]] inline Stretch parse_stretch(std::string_view name) {
  for (int i = 0; i < 7; ++i)
    if (to_string(static_cast<Stretch>(i)) == name) return static_cast<Stretch>(i);
  throw Error("unknown stretch '" + std::string(name) + "' (expected minmax, log, sqrt, asinh, sinh, power or squared)");
}

/// One stretched value; the input is clipped to [0, 1] first, as astropy's stretches do.
[[nodiscard]] inline float stretch_value(Stretch s, float x) {
  const double v = std::clamp(static_cast<double>(x), 0.0, 1.0);
  switch (s) {
    case Stretch::minmax: return static_cast<float>(v);
    case Stretch::log: return static_cast<float>(std::log(1000.0 * v + 1.0) / std::log(1001.0));
    case Stretch::sqrt: return static_cast<float>(std::sqrt(v));
    case Stretch::asinh: return static_cast<float>(std::asinh(v / 0.1) / std::asinh(10.0));
    case Stretch::sinh: return static_cast<float>(std::sinh(v * 3.0) / std::sinh(3.0));
    case Stretch::power:
    case Stretch::squared: return static_cast<float>(v * v);
  }
  return static_cast<float>(v);
}

/// Applies a stretch to every pixel of every channel, in place (NaN stays NaN).
inline void apply_stretch(Image& img, Stretch s) {
  if (s == Stretch::minmax) {  // NaN fails both comparisons and stays NaN
    for (float& p : img.pixels) {
      const float v = p < 0.0f ? 0.0f : p;
      p = v > 1.0f ? 1.0f : v;
    }
    return;
  }
  for (float& p : img.pixels)
    if (!std::isnan(p)) p = stretch_value(s, p);
}

// ---- normalisation ------------------------------------------------------------------------------

namespace detail {

/// Finite-pixel range and non-finite count in one pass.
struct FiniteRange {
  float lo, hi;
  std::int64_t bad;
};
/// Note: with SSE2, four lanes at a time, with non-finite lanes masked (x - x == 0 is false
/// exactly for NaN and inf); compilers do not vectorise the scalar form without -ffast-math,
/// which is 3-4x slower.
inline FiniteRange finite_range(const float* p, std::size_t n) {
  FiniteRange r{std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), 0};
  std::size_t i = 0;
#ifdef RADIOSSL_DETAIL_SSE2
  const __m128 pinf = _mm_set1_ps(std::numeric_limits<float>::infinity());
  const __m128 ninf = _mm_set1_ps(-std::numeric_limits<float>::infinity());
  const __m128 zero = _mm_setzero_ps();
  __m128 lo = pinf, hi = ninf;
  std::int64_t bad = 0;
  for (; i + 4 <= n; i += 4) {
    const __m128 v = _mm_loadu_ps(p + i);
    const __m128 fin = _mm_cmpeq_ps(_mm_sub_ps(v, v), zero);
    lo = _mm_min_ps(lo, _mm_or_ps(_mm_and_ps(fin, v), _mm_andnot_ps(fin, pinf)));
    hi = _mm_max_ps(hi, _mm_or_ps(_mm_and_ps(fin, v), _mm_andnot_ps(fin, ninf)));
    bad += 4 - __builtin_popcount(static_cast<unsigned>(_mm_movemask_ps(fin)));
  }
  alignas(16) float l4[4], h4[4];
  _mm_store_ps(l4, lo);
  _mm_store_ps(h4, hi);
  for (int k = 0; k < 4; ++k) {
    r.lo = std::min(r.lo, l4[k]);
    r.hi = std::max(r.hi, h4[k]);
  }
  r.bad = bad;
#endif
  for (; i < n; ++i) {
    const float v = p[i];
    if (v - v == 0.0f) {
      r.lo = std::min(r.lo, v);
      r.hi = std::max(r.hi, v);
    } else {
      ++r.bad;
    }
  }
  return r;
}

}  // namespace detail

/// Replaces non-finite pixels (NaN, +-inf) by the minimum of the finite ones, over the whole
/// cut-out (solo-learn's `removeNaNs`); a cut-out with no finite pixel becomes all zeros.
/// Returns the number of pixels replaced.
inline std::int64_t fill_nan(Image& img) {
  const auto r = detail::finite_range(img.pixels.data(), img.size());
  if (r.bad == 0) return 0;
  const float lo = r.bad == static_cast<std::int64_t>(img.size()) ? 0.0f : r.lo;
  for (float& p : img.pixels) p = p - p == 0.0f ? p : lo;
  return r.bad;
}

/// Per-cut-out min-max to [0, 1] over the finite pixels of all channels (astropy MinMaxInterval
/// + clip). A constant cut-out gives zeros, never NaN; non-finite pixels become 0.
inline void minmax_normalize(Image& img) {
  const auto r = detail::finite_range(img.pixels.data(), img.size());
  if (!(r.hi > r.lo)) {
    std::fill(img.pixels.begin(), img.pixels.end(), 0.0f);
    return;
  }
  // The scale in double: radio maps can span many decades, and hi - lo may overflow a float.
  const auto inv = static_cast<float>(1.0 / (static_cast<double>(r.hi) - r.lo));
  const float lo = r.lo;
  for (float& p : img.pixels) {
    const bool fin = p - p == 0.0f;
    float v = (p - lo) * inv;
    v = v < 0.0f ? 0.0f : v;
    v = v > 1.0f ? 1.0f : v;
    p = fin ? v : 0.0f;
  }
}

// ---- resampling ---------------------------------------------------------------------------------

/// Resampling filter of `resample` / `resize`.
enum class Interp {
  bilinear,  ///< triangle filter (2 taps at scale 1)
  bicubic,   ///< Keys cubic, a = -0.5 (PIL's and torchvision's BICUBIC; 4 taps at scale 1)
};

namespace detail {

/// Filter taps of one axis: for each output pixel, the first input index and its weights.
struct Taps {
  std::vector<std::int32_t> start;
  std::vector<std::int32_t> count;
  std::vector<float> weights;  // out_size * max_count, zero padded
  std::int32_t max_count = 0;
};

inline double filter_value(Interp interp, double x) {
  x = std::fabs(x);
  if (interp == Interp::bilinear) return x < 1.0 ? 1.0 - x : 0.0;
  constexpr double a = -0.5;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

/// PIL's `precompute_coeffs` (Imaging/Resample.c) for the input span [lo, lo + len) -> out pixels.
/// When shrinking, the filter is widened by the scale (antialiasing), as PIL and torchvision
/// (antialias=True) do. Every output gets the same number of taps (`max_count`, zero-padded, the
/// window moved inside the span), so the inner loops have a fixed trip count.
inline Taps make_taps(std::int64_t lo, std::int64_t len, std::int64_t out, Interp interp) {
  const double scale = static_cast<double>(len) / static_cast<double>(out);
  const double fscale = std::max(scale, 1.0);
  const double support = (interp == Interp::bilinear ? 1.0 : 2.0) * fscale;
  Taps t;
  const auto n_taps = std::min<std::int64_t>(static_cast<std::int64_t>(std::ceil(support)) * 2 + 1, len);
  t.max_count = static_cast<std::int32_t>(n_taps);
  t.start.resize(static_cast<std::size_t>(out));
  t.count.assign(static_cast<std::size_t>(out), t.max_count);
  t.weights.assign(static_cast<std::size_t>(out * n_taps), 0.0f);
  std::vector<double> w(static_cast<std::size_t>(std::ceil(support)) * 2 + 1);
  for (std::int64_t o = 0; o < out; ++o) {
    const double center = static_cast<double>(lo) + (static_cast<double>(o) + 0.5) * scale;
    auto xmin = static_cast<std::int64_t>(std::floor(center - support + 0.5));
    auto xmax = static_cast<std::int64_t>(std::floor(center + support + 0.5));
    xmin = std::max(xmin, lo);
    xmax = std::min(xmax, lo + len);
    const auto n = std::min<std::int64_t>(xmax - xmin, static_cast<std::int64_t>(w.size()));
    double sum = 0.0;
    for (std::int64_t k = 0; k < n; ++k) {
      w[static_cast<std::size_t>(k)] = filter_value(interp, (static_cast<double>(k + xmin) - center + 0.5) / fscale);
      sum += w[static_cast<std::size_t>(k)];
    }
    const std::int64_t first = std::min(xmin, lo + len - n_taps);
    t.start[static_cast<std::size_t>(o)] = static_cast<std::int32_t>(first);
    for (std::int64_t k = 0; k < n; ++k)
      t.weights[static_cast<std::size_t>(o * n_taps + (xmin - first) + k)] =
          static_cast<float>(sum != 0.0 ? w[static_cast<std::size_t>(k)] / sum : 0.0);
  }
  return t;
}

/// dst[x] = sum_t w[t] * rows[t][x], x < n: the multiply-add of a separable filter along a row.
/// Note: blocks of 16 outputs stay in registers across all taps (one load per tap and vector),
/// about 3x faster than accumulating into memory tap by tap.
inline void weighted_rows(const float* const* rows, const float* w, std::int64_t taps, float* dst,
                          std::int64_t n) {
  constexpr std::int64_t B = 16;
  std::int64_t x0 = 0;
  for (; x0 + B <= n; x0 += B) {
    float acc[B] = {};
    for (std::int64_t t = 0; t < taps; ++t) {
      const float wt = w[t];
      const float* s = rows[t] + x0;
      for (std::int64_t l = 0; l < B; ++l) acc[l] += wt * s[l];
    }
    for (std::int64_t l = 0; l < B; ++l) dst[x0 + l] = acc[l];
  }
  if (x0 < n) {  // the last partial block, through a local buffer
    float acc[B] = {};
    const std::int64_t rest = n - x0;
    for (std::int64_t t = 0; t < taps; ++t)
      for (std::int64_t l = 0; l < rest; ++l) acc[l] += w[t] * rows[t][x0 + l];
    std::copy(acc, acc + rest, dst + x0);
  }
}

/// One row of the horizontal pass with N taps per output (N fixed: fully unrolled; consecutive
/// outputs have no dependency, so they overlap in the pipeline).
template <int N>
inline void resample_row(const float* row, const Taps& t, float* dst, std::int64_t out_w) {
  const float* wt = t.weights.data();
  const std::int32_t* st = t.start.data();
  for (std::int64_t o = 0; o < out_w; ++o) {
    const float* s = row + st[o];
    const float* w = wt + o * N;
    float acc = 0.0f;
    for (int k = 0; k < N; ++k) acc += w[k] * s[k];
    dst[o] = acc;
  }
}

inline void resample_row_any(const float* row, const Taps& t, float* dst, std::int64_t out_w) {
  switch (t.max_count) {
    case 2: return resample_row<2>(row, t, dst, out_w);
    case 3: return resample_row<3>(row, t, dst, out_w);
    case 4: return resample_row<4>(row, t, dst, out_w);
    case 5: return resample_row<5>(row, t, dst, out_w);
    case 6: return resample_row<6>(row, t, dst, out_w);
    case 7: return resample_row<7>(row, t, dst, out_w);
    case 8: return resample_row<8>(row, t, dst, out_w);
    case 9: return resample_row<9>(row, t, dst, out_w);
    default: break;
  }
  const std::int32_t n = t.max_count;
  for (std::int64_t o = 0; o < out_w; ++o) {
    const float* s = row + t.start[static_cast<std::size_t>(o)];
    const float* w = t.weights.data() + o * n;
    float acc = 0.0f;
    for (std::int32_t k = 0; k < n; ++k) acc += w[k] * s[k];
    dst[o] = acc;
  }
}

}  // namespace detail

/// Resamples the integer box [y0, y0 + h) x [x0, x0 + w) of every channel to out_h x out_w: a
/// crop and a resize in one separable pass, so that a random resized crop touches each source
/// pixel once. Pixels outside the box are never read (PIL's `crop().resize()`).
/// Throws radiossl::Error when the box leaves the image or a size is not positive.
[[nodiscard]] inline Image resample(const Image& in, std::int64_t y0, std::int64_t x0, std::int64_t h,
                                    std::int64_t w, std::int64_t out_h, std::int64_t out_w,
                                    Interp interp = Interp::bicubic) {
  if (h <= 0 || w <= 0 || out_h <= 0 || out_w <= 0 || y0 < 0 || x0 < 0 || y0 + h > in.height || x0 + w > in.width)
    throw Error("resample: box " + std::to_string(h) + "x" + std::to_string(w) + "+" + std::to_string(y0) + "+" +
                std::to_string(x0) + " -> " + std::to_string(out_h) + "x" + std::to_string(out_w) +
                " does not fit the " + std::to_string(in.height) + "x" + std::to_string(in.width) + " image");
  Image out(in.channels, out_h, out_w);
  const bool same_w = w == out_w, same_h = h == out_h;
  const detail::Taps tx = same_w ? detail::Taps{} : detail::make_taps(x0, w, out_w, interp);
  const detail::Taps ty = same_h ? detail::Taps{} : detail::make_taps(y0, h, out_h, interp);
  std::vector<float> tmp(static_cast<std::size_t>(h * out_w));
  std::vector<const float*> rows(static_cast<std::size_t>(std::max<std::int32_t>(ty.max_count, 1)));
  for (std::int64_t c = 0; c < in.channels; ++c) {
    const float* src = in.plane(c);
    // Horizontal pass: rows of the box -> tmp [h, out_w].
    for (std::int64_t y = 0; y < h; ++y) {
      const float* row = src + (y0 + y) * in.width;
      float* dst = tmp.data() + y * out_w;
      if (same_w) {
        std::copy(row + x0, row + x0 + w, dst);
        continue;
      }
      detail::resample_row_any(row, tx, dst, out_w);
    }
    // Vertical pass: tmp -> out rows, vectorised along x.
    float* dst_plane = out.plane(c);
    for (std::int64_t o = 0; o < out_h; ++o) {
      float* dst = dst_plane + o * out_w;
      if (same_h) {
        std::copy(tmp.data() + o * out_w, tmp.data() + (o + 1) * out_w, dst);
        continue;
      }
      const float* wt = ty.weights.data() + o * ty.max_count;
      const std::int64_t first = ty.start[static_cast<std::size_t>(o)] - y0;
      for (std::int32_t k = 0; k < ty.max_count; ++k) rows[static_cast<std::size_t>(k)] = tmp.data() + (first + k) * out_w;
      detail::weighted_rows(rows.data(), wt, ty.max_count, dst, out_w);
    }
  }
  return out;
}

/// Resizes the whole image to out_h x out_w (antialiased when shrinking; see `resample`).
[[nodiscard]] inline Image resize(const Image& in, std::int64_t out_h, std::int64_t out_w,
                                  Interp interp = Interp::bicubic) {
  return resample(in, 0, 0, in.height, in.width, out_h, out_w, interp);
}

/// Clips every pixel to [lo, hi] (bicubic overshoot; PIL clips to uint8 in the same place).
inline void clamp_pixels(Image& img, float lo = 0.0f, float hi = 1.0f) {
  for (float& p : img.pixels) {
    const float v = p < lo ? lo : p;
    p = v > hi ? hi : v;
  }
}

// ---- channels -----------------------------------------------------------------------------------

/// Copies a one-channel image into `channels` identical planes (a model pretrained on RGB
/// expects three). An image that already has `channels` planes is returned as is.
[[nodiscard]] inline Image replicate_channels(const Image& in, std::int64_t channels) {
  if (in.channels == channels) return in;
  if (in.channels != 1)
    throw Error("replicate_channels: cannot turn " + std::to_string(in.channels) + " channels into " +
                std::to_string(channels));
  Image out(channels, in.height, in.width);
  for (std::int64_t c = 0; c < channels; ++c) std::copy(in.pixels.begin(), in.pixels.end(), out.plane(c));
  return out;
}

/// One luminance plane from a 3-channel image (PIL "L": 0.299 R + 0.587 G + 0.114 B), or the mean
/// of the planes for other channel counts. A one-channel image is returned as is.
[[nodiscard]] inline Image to_gray(const Image& in) {
  if (in.channels == 1) return in;
  Image out(1, in.height, in.width);
  const std::int64_t n = in.plane_size();
  for (std::int64_t c = 0; c < in.channels; ++c) {
    const float w = in.channels == 3 ? std::array<float, 3>{0.299f, 0.587f, 0.114f}[static_cast<std::size_t>(c)]
                                     : 1.0f / static_cast<float>(in.channels);
    const float* src = in.plane(c);
    float* dst = out.plane(0);
    for (std::int64_t i = 0; i < n; ++i) dst[i] += w * src[i];
  }
  return out;
}

/// Three channels from one normalised plane, one stretch each (AddNormChannels).
[[nodiscard]] inline Image stack_stretches(const Image& in, const std::array<Stretch, 3>& stretches) {
  if (in.channels != 1) throw Error("stack_stretches: needs a one-channel image, got " + std::to_string(in.channels));
  Image out(3, in.height, in.width);
  for (std::int64_t c = 0; c < 3; ++c) {
    const Stretch s = stretches[static_cast<std::size_t>(c)];
    const float* src = in.plane(0);
    float* dst = out.plane(c);
    for (std::int64_t i = 0; i < in.plane_size(); ++i) dst[i] = stretch_value(s, src[i]);
  }
  return out;
}

/// solo-learn-radio's "mixed" channels: ch0 in {power, squared, sinh}, ch1 minmax,
/// ch2 in {log, sqrt, asinh}, each drawn uniformly (methods.md 5.2).
[[nodiscard]] inline Image mixed_channels(const Image& in, Rng& rng) {
  constexpr std::array<Stretch, 3> first{Stretch::power, Stretch::squared, Stretch::sinh};
  constexpr std::array<Stretch, 3> last{Stretch::log, Stretch::sqrt, Stretch::asinh};
  const Stretch a = first[uniform_index(rng, 3)];
  const Stretch b = last[uniform_index(rng, 3)];
  return stack_stretches(in, {a, Stretch::minmax, b});
}

// ---- the whole normalisation --------------------------------------------------------------------

/// How the channels of a preprocessed cut-out are made.
enum class ChannelMode {
  replicate,  ///< one stretch, the plane copied to `channels` planes (solo-learn "minmax")
  mixed,      ///< three different random stretches (solo-learn "mixed"; needs an Rng)
};

/// Options of `preprocess`. Defaults: the benchmark's minmax normalisation at 224 px, 3 channels.
struct PreprocessOptions {
  /// Output side (square); 0 keeps the cut-out's size (e.g. when a random resized crop resamples
  /// to the training size later, so that pixels are resampled only once).
  std::int64_t size = 224;
  /// Resampling filter; bicubic as solo-learn's torchvision transforms, antialiased when shrinking.
  Interp interp = Interp::bicubic;
  /// Stretch applied after min-max (replicate mode).
  Stretch stretch = Stretch::minmax;
  /// 1 or 3 output channels (replicate mode; mixed always gives 3).
  std::int64_t channels = 3;
  ChannelMode channel_mode = ChannelMode::replicate;
};

/// The benchmark's normalisation of one raw cut-out ([C, H, W], NaN allowed): non-finite pixels to
/// the cut-out's finite minimum, min-max to [0, 1] over all channels (constant or all-NaN
/// cut-outs give zeros), resize to `size` x `size` (non-square cut-outs are stretched to the
/// square; pad first to keep the aspect), stretch, channels. A one-channel cut-out is replicated
/// to `channels`; a 3-channel one (RGB PNG) is kept for `channels` 3 and turned to luminance for 1
/// or for mixed mode. `rng` is needed only for ChannelMode::mixed.
/// Throws radiossl::Error on an empty cut-out, bad options, or mixed mode without an Rng.
[[nodiscard]] inline Image preprocess(Image img, const PreprocessOptions& opt = {}, Rng* rng = nullptr) {
  if (img.empty()) throw Error("preprocess: empty cut-out");
  if (opt.size < 0) throw Error("preprocess: size must be >= 0, got " + std::to_string(opt.size));
  if (opt.channels != 1 && opt.channels != 3)
    throw Error("preprocess: channels must be 1 or 3, got " + std::to_string(opt.channels));
  const bool mixed = opt.channel_mode == ChannelMode::mixed;
  if (mixed && rng == nullptr) throw Error("preprocess: ChannelMode::mixed draws stretches and needs an Rng");
  // minmax_normalize maps non-finite pixels to 0, where the filled minimum would go: the NaN fill
  // needs its own pass only before mixing channels.
  if (img.channels != 1 && (mixed || img.channels != opt.channels)) {
    fill_nan(img);
    img = to_gray(img);
  }
  minmax_normalize(img);
  if (opt.size > 0 && (img.height != opt.size || img.width != opt.size)) {
    img = resize(img, opt.size, opt.size, opt.interp);
    clamp_pixels(img);
  }
  if (mixed) return mixed_channels(img, *rng);
  if (opt.stretch != Stretch::minmax) apply_stretch(img, opt.stretch);  // minmax: already in [0, 1]
  if (img.channels == opt.channels) return img;
  return replicate_channels(img, opt.channels);
}

}  // namespace radiossl::data

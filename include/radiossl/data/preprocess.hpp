/// @file
/// The benchmark's normalisation of one cut-out (NaN fill, min-max, resize, channels) and the
/// intensity stretches of solo-learn-radio's `AddNormChannels`.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#if defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define RADIOSSL_DETAIL_SSE2 1
#endif

#include "radiossl/data/random.hpp"
#include "radiossl/detail/cpu.hpp"
#include "radiossl/data/sigma_clip.hpp"
#include "radiossl/error.hpp"
#include "radiossl/image.hpp"

#if defined(RADIOSSL_DETAIL_SSE2) && defined(RADIOSSL_DETAIL_X86_DISPATCH)
/// Set where the kernels below have AVX variants chosen at run time.
#define RADIOSSL_DETAIL_AVX_DISPATCH 1
#endif

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

using radiossl::detail::cpu_has_avx2;
using radiossl::detail::cpu_has_avx_fma;

/// Finite-pixel range and non-finite count in one pass.
struct FiniteRange {
  float lo, hi;
  std::int64_t bad;
};
/// The masked scalar loop of `finite_range` (its tail, and its fallback).
inline FiniteRange finite_range_scalar(const float* p, std::size_t n) {
  FiniteRange r{std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), 0};
  for (std::size_t i = 0; i < n; ++i) {
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

/// Note: with SSE2, four lanes at a time: minps/maxps skip NaN lanes by themselves (they return
/// their second operand, the running bound, when either is NaN) and the finite lanes are counted
/// from the x - x == 0 mask (false exactly for NaN and inf). An infinite pixel would become a
/// bound; that case, rare in radio maps, is redone with the masked scalar loop. Compilers do
/// not vectorise the scalar form without -ffast-math, which is 3-4x slower.
/// The end of the vector `finite_range` loops: per-lane bounds and minus the per-lane finite
/// counts over p[0, done), merged with the scalar tail p[done, n). When an infinity became a
/// bound (the lanes do not mask it), the whole span is redone with the masked scalar loop.
inline FiniteRange merge_lanes(const float* lane_lo, const float* lane_hi, const std::int32_t* minus_finite,
                               int lanes, const float* p, std::size_t done, std::size_t n) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  FiniteRange r = finite_range_scalar(p + done, n - done);
  std::int64_t finite_count = static_cast<std::int64_t>(n - done) - r.bad;
  for (int k = 0; k < lanes; ++k) {
    r.lo = std::min(r.lo, lane_lo[k]);
    r.hi = std::max(r.hi, lane_hi[k]);
    finite_count -= minus_finite[k];
  }
  r.bad = static_cast<std::int64_t>(n) - finite_count;
  if (r.lo == -inf || r.hi == inf) return finite_range_scalar(p, n);
  return r;
}

#ifdef RADIOSSL_DETAIL_AVX_DISPATCH
/// `finite_range` with AVX2, 16 pixels per step (the same lane rules); about twice as fast.
[[gnu::target("avx2")]] inline FiniteRange finite_range_avx2(const float* p, std::size_t n) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  const std::size_t n16 = n / 16 * 16;
  __m256 lo = _mm256_set1_ps(inf), hi = _mm256_set1_ps(-inf), lo2 = lo, hi2 = hi;
  const __m256 zero = _mm256_setzero_ps();
  __m256i finite = _mm256_setzero_si256();  // per lane: minus the count of finite pixels
  for (std::size_t i = 0; i < n16; i += 16) {
    const __m256 v = _mm256_loadu_ps(p + i), u = _mm256_loadu_ps(p + i + 8);
    lo = _mm256_min_ps(v, lo);
    hi = _mm256_max_ps(v, hi);
    lo2 = _mm256_min_ps(u, lo2);
    hi2 = _mm256_max_ps(u, hi2);
    finite = _mm256_add_epi32(finite, _mm256_castps_si256(_mm256_cmp_ps(_mm256_sub_ps(v, v), zero, _CMP_EQ_OQ)));
    finite = _mm256_add_epi32(finite, _mm256_castps_si256(_mm256_cmp_ps(_mm256_sub_ps(u, u), zero, _CMP_EQ_OQ)));
  }
  lo = _mm256_min_ps(lo, lo2);
  hi = _mm256_max_ps(hi, hi2);
  alignas(32) float l8[8], h8[8];
  alignas(32) std::int32_t f8[8];
  _mm256_store_ps(l8, lo);
  _mm256_store_ps(h8, hi);
  _mm256_store_si256(reinterpret_cast<__m256i*>(f8), finite);
  return merge_lanes(l8, h8, f8, 8, p, n16, n);
}
#endif

inline FiniteRange finite_range(const float* p, std::size_t n) {
#ifdef RADIOSSL_DETAIL_AVX_DISPATCH
  if (cpu_has_avx2()) return finite_range_avx2(p, n);
#endif
#ifdef RADIOSSL_DETAIL_SSE2
  constexpr float inf = std::numeric_limits<float>::infinity();
  const std::size_t n4 = n / 8 * 8;
  // Two sets of bounds, so that consecutive min/max do not wait for each other.
  __m128 lo = _mm_set1_ps(inf), hi = _mm_set1_ps(-inf), lo2 = lo, hi2 = hi;
  const __m128 zero = _mm_setzero_ps();
  __m128i finite = _mm_setzero_si128();  // per lane: minus the count of finite pixels
  for (std::size_t i = 0; i < n4; i += 8) {
    const __m128 v = _mm_loadu_ps(p + i), u = _mm_loadu_ps(p + i + 4);
    lo = _mm_min_ps(v, lo);
    hi = _mm_max_ps(v, hi);
    lo2 = _mm_min_ps(u, lo2);
    hi2 = _mm_max_ps(u, hi2);
    finite = _mm_add_epi32(finite, _mm_castps_si128(_mm_cmpeq_ps(_mm_sub_ps(v, v), zero)));
    finite = _mm_add_epi32(finite, _mm_castps_si128(_mm_cmpeq_ps(_mm_sub_ps(u, u), zero)));
  }
  lo = _mm_min_ps(lo, lo2);
  hi = _mm_max_ps(hi, hi2);
  alignas(16) float l4[4], h4[4];
  alignas(16) std::int32_t f4[4];
  _mm_store_ps(l4, lo);
  _mm_store_ps(h4, hi);
  _mm_store_si128(reinterpret_cast<__m128i*>(f4), finite);
  return merge_lanes(l4, h4, f4, 4, p, n4, n);
#else
  return finite_range_scalar(p, n);
#endif
}

#ifdef RADIOSSL_DETAIL_AVX_DISPATCH
/// The vector loop of `minmax_normalize` with AVX2 over the whole 8-pixel blocks of p[0, n);
/// returns the pixels done. About 2.5x the SSE2 loop on a cut-out in L2.
[[gnu::target("avx2")]] inline std::size_t minmax_span_avx2(float* p, std::size_t n, float lo, float inv) {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f), lo8 = _mm256_set1_ps(lo),
               inv8 = _mm256_set1_ps(inv);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(p + i);
    const __m256 fin = _mm256_cmp_ps(_mm256_sub_ps(x, x), zero, _CMP_EQ_OQ);
    const __m256 v = _mm256_min_ps(one, _mm256_max_ps(zero, _mm256_mul_ps(_mm256_sub_ps(x, lo8), inv8)));
    _mm256_storeu_ps(p + i, _mm256_and_ps(fin, v));
  }
  return i;
}
#endif

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
  float* p = img.pixels.data();
  const std::size_t n = img.size();
  std::size_t i = 0;
#ifdef RADIOSSL_DETAIL_AVX_DISPATCH
  if (detail::cpu_has_avx2()) i = detail::minmax_span_avx2(p, n, lo, inv);
#endif
#ifdef RADIOSSL_DETAIL_SSE2
  // Compilers turn the scalar selects below into compare-and-mask sequences, twice as long.
  const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.0f), lo4 = _mm_set1_ps(lo), inv4 = _mm_set1_ps(inv);
  for (; i + 4 <= n; i += 4) {
    const __m128 x = _mm_loadu_ps(p + i);
    const __m128 fin = _mm_cmpeq_ps(_mm_sub_ps(x, x), zero);
    const __m128 v = _mm_min_ps(one, _mm_max_ps(zero, _mm_mul_ps(_mm_sub_ps(x, lo4), inv4)));
    _mm_storeu_ps(p + i, _mm_and_ps(fin, v));
  }
#endif
  for (; i < n; ++i) {
    const bool fin = p[i] - p[i] == 0.0f;
    float v = (p[i] - lo) * inv;
    v = v < 0.0f ? 0.0f : v;
    v = v > 1.0f ? 1.0f : v;
    p[i] = fin ? v : 0.0f;
  }
}

// ---- resampling ---------------------------------------------------------------------------------

/// Resampling filter of `resample` / `resize`.
enum class Interp {
  bilinear,  ///< triangle filter (2 taps at scale 1)
  bicubic,   ///< Keys cubic, a = -0.5 (PIL's and torchvision's BICUBIC; 4 taps at scale 1)
};

namespace detail {

/// Filter taps of one axis: for each output pixel, the first input index (relative to the start
/// of the span) and its weights.
struct Taps {
  std::vector<std::int32_t> start;
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

/// PIL's `precompute_coeffs` (Imaging/Resample.c) for an input span of `len` pixels -> `out`
/// pixels, as PIL computes them for `crop().resize()`. When shrinking, the filter is widened by
/// the scale (antialiasing), as PIL and torchvision (antialias=True) do. Every output gets the
/// same number of taps (`max_count`: the most any output has, zero-padded, the window moved
/// inside the span), so the inner loops have a fixed trip count. Note: PIL's bound
/// ceil(support) * 2 + 1 is one or two taps more than any output uses (7 for 5 at scale 1.03);
/// counting the used ones cuts the multiply-adds by 20-30 %.
inline Taps make_taps(std::int64_t len, std::int64_t out, Interp interp) {
  const double scale = static_cast<double>(len) / static_cast<double>(out);
  const double fscale = std::max(scale, 1.0);
  const double support = (interp == Interp::bilinear ? 1.0 : 2.0) * fscale;
  const auto bound = std::min<std::int64_t>(static_cast<std::int64_t>(std::ceil(support)) * 2 + 1, len);
  const auto uo = static_cast<std::size_t>(out);
  std::vector<std::int64_t> xmin(uo), count(uo);
  std::int64_t n_taps = 1;
  for (std::size_t o = 0; o < uo; ++o) {
    const double center = (static_cast<double>(o) + 0.5) * scale;
    const auto x0 = std::max<std::int64_t>(static_cast<std::int64_t>(std::floor(center - support + 0.5)), 0);
    const auto x1 = std::min<std::int64_t>(static_cast<std::int64_t>(std::floor(center + support + 0.5)), len);
    xmin[o] = x0;
    count[o] = std::min(x1 - x0, bound);
    n_taps = std::max(n_taps, count[o]);
  }
  Taps t;
  t.max_count = static_cast<std::int32_t>(n_taps);
  t.start.resize(uo);
  t.weights.assign(uo * static_cast<std::size_t>(n_taps), 0.0f);
  std::vector<double> w(static_cast<std::size_t>(bound));
  for (std::size_t o = 0; o < uo; ++o) {
    const double center = (static_cast<double>(o) + 0.5) * scale;
    const std::int64_t x0 = xmin[o], n = count[o];
    double sum = 0.0;
    for (std::int64_t k = 0; k < n; ++k) {
      w[static_cast<std::size_t>(k)] = filter_value(interp, (static_cast<double>(k + x0) - center + 0.5) / fscale);
      sum += w[static_cast<std::size_t>(k)];
    }
    const std::int64_t first = std::min(x0, len - n_taps);
    t.start[o] = static_cast<std::int32_t>(first);
    for (std::int64_t k = 0; k < n; ++k)
      t.weights[o * static_cast<std::size_t>(n_taps) + static_cast<std::size_t>(x0 - first + k)] =
          static_cast<float>(sum != 0.0 ? w[static_cast<std::size_t>(k)] / sum : 0.0);
  }
  return t;
}

/// `make_taps`, remembered per thread: the random resized crops of a run draw from a few dozen
/// box sizes, so after the first views every resample finds its taps here (computing them
/// was 5 % of a view). Shared pointers, so that clearing a full cache frees nothing in use.
inline std::shared_ptr<const Taps> cached_taps(std::int64_t len, std::int64_t out, Interp interp) {
  struct Entry {
    std::int64_t len, out;
    Interp interp;
    std::shared_ptr<const Taps> taps;
  };
  thread_local std::vector<Entry> cache;
  for (const Entry& e : cache)
    if (e.len == len && e.out == out && e.interp == interp) return e.taps;
  if (cache.size() >= 256) cache.clear();  // at most ~1.5 MB of 224-pixel taps
  cache.push_back({len, out, interp, std::make_shared<const Taps>(make_taps(len, out, interp))});
  return cache.back().taps;
}

/// dst[x] = sum_t w[t] * rows[t][x], x < n: the multiply-add of a separable filter along a row,
/// portable scalar form (the reference of the vector kernels below, and their fallback).
inline void weighted_rows_scalar(const float* const* rows, const float* w, std::int64_t taps, float* dst,
                                 std::int64_t n) {
  for (std::int64_t x = 0; x < n; ++x) {
    float acc = 0.0f;
    for (std::int64_t t = 0; t < taps; ++t) acc += w[t] * rows[t][x];
    dst[x] = acc;
  }
}

#ifdef RADIOSSL_DETAIL_SSE2
/// `weighted_rows_scalar` with SSE2. Note: blocks of 16 outputs stay in registers across all
/// taps (one load per tap and vector), about 3x faster than accumulating into memory tap by
/// tap; the last block overlaps the one before it (outputs are recomputed, never read), so
/// there is no scalar tail once n >= 4.
inline void weighted_rows_sse2(const float* const* rows, const float* w, std::int64_t taps, float* dst,
                               std::int64_t n) {
  if (n < 4) return weighted_rows_scalar(rows, w, taps, dst, n);
  std::int64_t x = 0;
  for (; x + 16 <= n; x += 16) {
    __m128 a0 = _mm_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (std::int64_t t = 0; t < taps; ++t) {
      const __m128 wt = _mm_set1_ps(w[t]);
      const float* s = rows[t] + x;
      a0 = _mm_add_ps(a0, _mm_mul_ps(wt, _mm_loadu_ps(s)));
      a1 = _mm_add_ps(a1, _mm_mul_ps(wt, _mm_loadu_ps(s + 4)));
      a2 = _mm_add_ps(a2, _mm_mul_ps(wt, _mm_loadu_ps(s + 8)));
      a3 = _mm_add_ps(a3, _mm_mul_ps(wt, _mm_loadu_ps(s + 12)));
    }
    _mm_storeu_ps(dst + x, a0);
    _mm_storeu_ps(dst + x + 4, a1);
    _mm_storeu_ps(dst + x + 8, a2);
    _mm_storeu_ps(dst + x + 12, a3);
  }
  for (; x < n; x += 4) {
    x = std::min(x, n - 4);
    __m128 a0 = _mm_setzero_ps();
    for (std::int64_t t = 0; t < taps; ++t) a0 = _mm_add_ps(a0, _mm_mul_ps(_mm_set1_ps(w[t]), _mm_loadu_ps(rows[t] + x)));
    _mm_storeu_ps(dst + x, a0);
  }
}
#endif

#ifdef RADIOSSL_DETAIL_AVX_DISPATCH
/// `weighted_rows_sse2` with AVX and FMA (8 lanes, blocks of 32, one fused multiply-add per tap
/// and vector), chosen at run time: x86-64 builds target SSE2 unless told otherwise.
[[gnu::target("avx,fma")]] inline void weighted_rows_avx(const float* const* rows, const float* w,
                                                        std::int64_t taps, float* dst, std::int64_t n) {
  if (n < 8) return weighted_rows_sse2(rows, w, taps, dst, n);
  std::int64_t x = 0;
  for (; x + 32 <= n; x += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (std::int64_t t = 0; t < taps; ++t) {
      const __m256 wt = _mm256_set1_ps(w[t]);
      const float* s = rows[t] + x;
      a0 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(s), a0);
      a1 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(s + 8), a1);
      a2 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(s + 16), a2);
      a3 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(s + 24), a3);
    }
    _mm256_storeu_ps(dst + x, a0);
    _mm256_storeu_ps(dst + x + 8, a1);
    _mm256_storeu_ps(dst + x + 16, a2);
    _mm256_storeu_ps(dst + x + 24, a3);
  }
  for (; x < n; x += 8) {
    x = std::min(x, n - 8);
    __m256 a0 = _mm256_setzero_ps();
    for (std::int64_t t = 0; t < taps; ++t) a0 = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), _mm256_loadu_ps(rows[t] + x), a0);
    _mm256_storeu_ps(dst + x, a0);
  }
}

#endif

/// dst[x] = sum_t w[t] * rows[t][x], x < n, with the widest vectors this CPU runs. Results differ
/// between kernels only in float rounding (FMA rounds once per multiply-add). `dst` must not
/// overlap the rows.
inline void weighted_rows(const float* const* rows, const float* w, std::int64_t taps, float* dst,
                          std::int64_t n) {
#ifdef RADIOSSL_DETAIL_AVX_DISPATCH
  if (cpu_has_avx_fma()) return weighted_rows_avx(rows, w, taps, dst, n);
#endif
#ifdef RADIOSSL_DETAIL_SSE2
  weighted_rows_sse2(rows, w, taps, dst, n);
#else
  weighted_rows_scalar(rows, w, taps, dst, n);
#endif
}

/// p[i] = min(hi, max(lo, p[i])), i < n; NaN stays NaN.
inline void clip_span(float* p, std::size_t n, float lo, float hi) {
  std::size_t i = 0;
#ifdef RADIOSSL_DETAIL_SSE2
  // maxps/minps return their second operand when either is NaN: the pixel.
  const __m128 l = _mm_set1_ps(lo), h = _mm_set1_ps(hi);
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(p + i, _mm_min_ps(h, _mm_max_ps(l, _mm_loadu_ps(p + i))));
#endif
  for (; i < n; ++i) {
    const float v = p[i] < lo ? lo : p[i];
    p[i] = v > hi ? hi : v;
  }
}

#ifdef RADIOSSL_DETAIL_AVX_DISPATCH
/// The vector loop of `affine_clip_span` with AVX2 over the whole 8-pixel blocks; returns the
/// pixels done.
[[gnu::target("avx2")]] inline std::size_t affine_clip_span_avx2(float* p, std::size_t n, float off, float f,
                                                                 float lo, float hi) {
  const __m256 o = _mm256_set1_ps(off), g = _mm256_set1_ps(f), l = _mm256_set1_ps(lo), h = _mm256_set1_ps(hi);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(p + i,
                     _mm256_min_ps(h, _mm256_max_ps(l, _mm256_add_ps(o, _mm256_mul_ps(g, _mm256_loadu_ps(p + i))))));
  return i;
}
#endif

/// p[i] = min(hi, max(lo, off + f * p[i])), i < n: an affine map and a clip in one pass; NaN stays NaN.
inline void affine_clip_span(float* p, std::size_t n, float off, float f, float lo, float hi) {
  std::size_t i = 0;
#ifdef RADIOSSL_DETAIL_AVX_DISPATCH
  if (cpu_has_avx2()) i = affine_clip_span_avx2(p, n, off, f, lo, hi);
#endif
#ifdef RADIOSSL_DETAIL_SSE2
  const __m128 o = _mm_set1_ps(off), g = _mm_set1_ps(f), l = _mm_set1_ps(lo), h = _mm_set1_ps(hi);
  for (; i + 4 <= n; i += 4)
    _mm_storeu_ps(p + i, _mm_min_ps(h, _mm_max_ps(l, _mm_add_ps(o, _mm_mul_ps(g, _mm_loadu_ps(p + i))))));
#endif
  for (; i < n; ++i) {
    const float y = off + f * p[i];
    const float v = y < lo ? lo : y;
    p[i] = v > hi ? hi : v;
  }
}

/// dst[c * dst_stride + r] = src[r * src_stride + c] for a rows x cols block (with SSE2, 4x4
/// tiles in registers).
inline void transpose(const float* src, std::int64_t rows, std::int64_t cols, std::int64_t src_stride, float* dst,
                      std::int64_t dst_stride) {
  std::int64_t r0 = 0;
#ifdef RADIOSSL_DETAIL_SSE2
  for (; r0 + 4 <= rows; r0 += 4) {
    const float* s = src + r0 * src_stride;
    std::int64_t c = 0;
    for (; c + 4 <= cols; c += 4) {
      __m128 a = _mm_loadu_ps(s + c), b = _mm_loadu_ps(s + src_stride + c);
      __m128 e = _mm_loadu_ps(s + 2 * src_stride + c), f = _mm_loadu_ps(s + 3 * src_stride + c);
      _MM_TRANSPOSE4_PS(a, b, e, f);
      float* d = dst + c * dst_stride + r0;
      _mm_storeu_ps(d, a);
      _mm_storeu_ps(d + dst_stride, b);
      _mm_storeu_ps(d + 2 * dst_stride, e);
      _mm_storeu_ps(d + 3 * dst_stride, f);
    }
    for (; c < cols; ++c)
      for (std::int64_t r = r0; r < r0 + 4; ++r) dst[c * dst_stride + r] = src[r * src_stride + c];
  }
#endif
  for (; r0 < rows; ++r0)
    for (std::int64_t c = 0; c < cols; ++c) dst[c * dst_stride + r0] = src[r0 * src_stride + c];
}

/// The vertical pass of a separable resample: output row o (n pixels, at dst + o * dst_stride) is
/// the taps' weighted sum of the rows src + (t.start[o] + k) * src_stride.
inline void filter_rows(const float* src, std::int64_t src_stride, const Taps& t, std::int64_t n, float* dst,
                        std::int64_t dst_stride) {
  thread_local std::vector<const float*> rows;
  rows.resize(static_cast<std::size_t>(t.max_count));
  const auto out = static_cast<std::int64_t>(t.start.size());
  for (std::int64_t o = 0; o < out; ++o) {
    const float* first = src + t.start[static_cast<std::size_t>(o)] * src_stride;
    for (std::int32_t k = 0; k < t.max_count; ++k) rows[static_cast<std::size_t>(k)] = first + k * src_stride;
    weighted_rows(rows.data(), t.weights.data() + o * t.max_count, t.max_count, dst + o * dst_stride, n);
  }
}

/// Where `filter_rows_transposed` clips its results: to [lo, hi] when `on`.
struct Clip {
  bool on = false;
  float lo = 0.0f, hi = 1.0f;
};

/// `filter_rows` with the output stored transposed, dst[x * dst_stride + o], and clipped when asked:
/// portable scalar form (the reference of the vector kernels below, and their fallback).
inline void filter_rows_transposed_scalar(const float* src, std::int64_t src_stride, const Taps& t, std::int64_t n,
                                          float* dst, std::int64_t dst_stride, Clip clip) {
  const auto out = static_cast<std::int64_t>(t.start.size());
  for (std::int64_t o = 0; o < out; ++o) {
    const float* r = src + t.start[static_cast<std::size_t>(o)] * src_stride;
    const float* w = t.weights.data() + o * t.max_count;
    for (std::int64_t x = 0; x < n; ++x) {
      float acc = 0.0f;
      for (std::int32_t k = 0; k < t.max_count; ++k) acc += w[k] * r[k * src_stride + x];
      dst[x * dst_stride + o] = acc;
    }
  }
  if (clip.on)
    for (std::int64_t x = 0; x < n; ++x) clip_span(dst + x * dst_stride, static_cast<std::size_t>(out), clip.lo, clip.hi);
}

/// The first source row r[j] and the tap weights w[j] of outputs o + j, j < 4, of `t`: what the
/// vector kernels below keep in registers while they sweep the columns.
inline void four_outputs(const float* src, std::int64_t src_stride, const Taps& t, std::int64_t o, const float* (&r)[4],
                         const float* (&w)[4]) {
  for (std::int64_t j = 0; j < 4; ++j) {
    r[j] = src + t.start[static_cast<std::size_t>(o + j)] * src_stride;
    w[j] = t.weights.data() + (o + j) * t.max_count;
  }
}

#ifdef RADIOSSL_DETAIL_SSE2
/// `filter_rows_transposed_scalar` with SSE2: four output rows times 8 columns in registers across
/// all taps, then two 4x4 transposes on the way out, so that a resample's horizontal pass costs
/// no gathers and no separate transposes. Blocks at the ends overlap the ones before them
/// (outputs recomputed, never read).
inline void filter_rows_transposed_sse2(const float* src, std::int64_t src_stride, const Taps& t, std::int64_t n,
                                        float* dst, std::int64_t dst_stride, Clip clip) {
  const auto out = static_cast<std::int64_t>(t.start.size());
  if (out < 4 || n < 8) return filter_rows_transposed_scalar(src, src_stride, t, n, dst, dst_stride, clip);
  const std::int64_t taps = t.max_count;
  const __m128 lo = _mm_set1_ps(clip.lo), hi = _mm_set1_ps(clip.hi);
  auto store4 = [&](__m128 a, __m128 b, __m128 c, __m128 d, float* to) {
    _MM_TRANSPOSE4_PS(a, b, c, d);
    if (clip.on) {
      a = _mm_min_ps(hi, _mm_max_ps(lo, a));
      b = _mm_min_ps(hi, _mm_max_ps(lo, b));
      c = _mm_min_ps(hi, _mm_max_ps(lo, c));
      d = _mm_min_ps(hi, _mm_max_ps(lo, d));
    }
    _mm_storeu_ps(to, a);
    _mm_storeu_ps(to + dst_stride, b);
    _mm_storeu_ps(to + 2 * dst_stride, c);
    _mm_storeu_ps(to + 3 * dst_stride, d);
  };
  for (std::int64_t o = 0; o < out; o += 4) {
    o = std::min(o, out - 4);
    const float* r[4];
    const float* w[4];
    four_outputs(src, src_stride, t, o, r, w);
    for (std::int64_t x = 0; x < n; x += 8) {
      x = std::min(x, n - 8);
      __m128 a[4][2] = {};
      for (std::int64_t k = 0; k < taps; ++k) {
        const std::int64_t off = k * src_stride + x;
        for (std::int64_t j = 0; j < 4; ++j) {
          const __m128 wk = _mm_set1_ps(w[j][k]);
          a[j][0] = _mm_add_ps(a[j][0], _mm_mul_ps(wk, _mm_loadu_ps(r[j] + off)));
          a[j][1] = _mm_add_ps(a[j][1], _mm_mul_ps(wk, _mm_loadu_ps(r[j] + off + 4)));
        }
      }
      store4(a[0][0], a[1][0], a[2][0], a[3][0], dst + x * dst_stride + o);
      store4(a[0][1], a[1][1], a[2][1], a[3][1], dst + (x + 4) * dst_stride + o);
    }
  }
}
#endif

#ifdef RADIOSSL_DETAIL_AVX_DISPATCH
/// Rows a[0..3][half] of 8 columns -> 8 columns of 4 at to, to + stride, ... (each 128-bit lane
/// transposes its own 4x4), clipped when asked.
[[gnu::target("avx,fma")]] inline void store_columns_avx(const __m256 (&a)[4][2], int half, Clip clip, float* to,
                                                        std::int64_t stride) {
  const __m256 t0 = _mm256_unpacklo_ps(a[0][half], a[1][half]), t1 = _mm256_unpackhi_ps(a[0][half], a[1][half]);
  const __m256 t2 = _mm256_unpacklo_ps(a[2][half], a[3][half]), t3 = _mm256_unpackhi_ps(a[2][half], a[3][half]);
  __m256 col[4] = {_mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)),
                   _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2))};
  const __m256 lo = _mm256_set1_ps(clip.lo), hi = _mm256_set1_ps(clip.hi);
  for (std::int64_t i = 0; i < 4; ++i) {
    if (clip.on) col[i] = _mm256_min_ps(hi, _mm256_max_ps(lo, col[i]));
    _mm_storeu_ps(to + i * stride, _mm256_castps256_ps128(col[i]));
    _mm_storeu_ps(to + (i + 4) * stride, _mm256_extractf128_ps(col[i], 1));
  }
}

/// `filter_rows_transposed_sse2` with AVX and FMA: four output rows times 16 columns.
[[gnu::target("avx,fma")]] inline void filter_rows_transposed_avx(const float* src, std::int64_t src_stride,
                                                                 const Taps& t, std::int64_t n, float* dst,
                                                                 std::int64_t dst_stride, Clip clip) {
  const auto out = static_cast<std::int64_t>(t.start.size());
  if (out < 4 || n < 16) return filter_rows_transposed_sse2(src, src_stride, t, n, dst, dst_stride, clip);
  const std::int64_t taps = t.max_count;
  for (std::int64_t o = 0; o < out; o += 4) {
    o = std::min(o, out - 4);
    const float* r[4];
    const float* w[4];
    four_outputs(src, src_stride, t, o, r, w);
    for (std::int64_t x = 0; x < n; x += 16) {
      x = std::min(x, n - 16);
      __m256 a[4][2] = {};
      for (std::int64_t k = 0; k < taps; ++k) {
        const std::int64_t off = k * src_stride + x;
        for (std::int64_t j = 0; j < 4; ++j) {
          const __m256 wk = _mm256_broadcast_ss(w[j] + k);
          a[j][0] = _mm256_fmadd_ps(wk, _mm256_loadu_ps(r[j] + off), a[j][0]);
          a[j][1] = _mm256_fmadd_ps(wk, _mm256_loadu_ps(r[j] + off + 8), a[j][1]);
        }
      }
      store_columns_avx(a, 0, clip, dst + x * dst_stride + o, dst_stride);
      store_columns_avx(a, 1, clip, dst + (x + 8) * dst_stride + o, dst_stride);
    }
  }
}
#endif

/// `filter_rows` with the output stored transposed, dst[x * dst_stride + o] (x < n, o < the
/// number of taps' outputs), clipped when asked, with the widest vectors this CPU runs. Two of
/// these make a resample: each pass reads along rows and writes the next pass's rows.
inline void filter_rows_transposed(const float* src, std::int64_t src_stride, const Taps& t, std::int64_t n,
                                   float* dst, std::int64_t dst_stride, Clip clip = {}) {
#ifdef RADIOSSL_DETAIL_AVX_DISPATCH
  if (cpu_has_avx_fma()) return filter_rows_transposed_avx(src, src_stride, t, n, dst, dst_stride, clip);
#endif
#ifdef RADIOSSL_DETAIL_SSE2
  filter_rows_transposed_sse2(src, src_stride, t, n, dst, dst_stride, clip);
#else
  filter_rows_transposed_scalar(src, src_stride, t, n, dst, dst_stride, clip);
#endif
}

/// Outputs [first, last) of `t` as taps of their own: the rows of one band of a resample.
inline void slice_taps(const Taps& t, std::int64_t first, std::int64_t last, Taps& out) {
  const auto mc = static_cast<std::ptrdiff_t>(t.max_count);
  out.max_count = t.max_count;
  out.start.assign(t.start.begin() + first, t.start.begin() + last);
  out.weights.assign(t.weights.begin() + first * mc, t.weights.begin() + last * mc);
}

/// Output rows a resample makes per band. Note: resampling the whole image pass by pass kept
/// the source, the transposed intermediate and the output (660 KB at 256 -> 224 px) in flight,
/// more than a 512 KB L2; per band of 32 rows the intermediate and the output rows in work
/// stay in L1/L2, and the crop of a random resized crop got about a third faster.
inline constexpr std::int64_t kResampleBand = 32;

/// `resample`, clipping the result when asked.
inline Image resample_impl(const Image& in, std::int64_t y0, std::int64_t x0, std::int64_t h, std::int64_t w,
                           std::int64_t out_h, std::int64_t out_w, Interp interp, Clip clip) {
  if (h <= 0 || w <= 0 || out_h <= 0 || out_w <= 0 || y0 < 0 || x0 < 0 || y0 + h > in.height || x0 + w > in.width)
    throw Error("resample: box " + std::to_string(h) + "x" + std::to_string(w) + "+" + std::to_string(y0) + "+" +
                std::to_string(x0) + " -> " + std::to_string(out_h) + "x" + std::to_string(out_w) +
                " does not fit the " + std::to_string(in.height) + "x" + std::to_string(in.width) + " image");
  Image out(in.channels, out_h, out_w);
  const bool same_w = w == out_w, same_h = h == out_h;
  const auto tx = same_w ? nullptr : cached_taps(w, out_w, interp);
  const auto ty = same_h ? nullptr : cached_taps(h, out_h, interp);
  thread_local std::vector<float> cols;  // one band's vertical pass, transposed: [w, band]
  thread_local Taps band_taps;
  for (std::int64_t c = 0; c < in.channels; ++c) {
    const float* box = in.plane(c) + y0 * in.width + x0;
    float* dst = out.plane(c);
    if (same_w) {  // one pass (or none), straight into the output
      if (same_h) {
        for (std::int64_t y = 0; y < h; ++y) std::copy(box + y * in.width, box + y * in.width + w, dst + y * w);
      } else {
        filter_rows(box, in.width, *ty, w, dst, w);
      }
      if (clip.on) clip_span(dst, static_cast<std::size_t>(out.plane_size()), clip.lo, clip.hi);
      continue;
    }
    // Per band of output rows: the vertical pass into [w, band], then the horizontal one as a
    // vertical pass over that, which lands back in rows [y0, y0 + band) of [out_h, out_w].
    for (std::int64_t y0 = 0; y0 < out_h; y0 += kResampleBand) {
      const std::int64_t band = std::min(kResampleBand, out_h - y0);
      cols.resize(static_cast<std::size_t>(w * band));
      if (same_h) {
        transpose(box + y0 * in.width, band, w, in.width, cols.data(), band);
      } else {
        slice_taps(*ty, y0, y0 + band, band_taps);
        filter_rows_transposed(box, in.width, band_taps, w, cols.data(), band);
      }
      filter_rows_transposed(cols.data(), band, *tx, band, dst + y0 * out_w, out_w, clip);
    }
  }
  return out;
}

}  // namespace detail

/// Resamples the integer box [y0, y0 + h) x [x0, x0 + w) of every channel to out_h x out_w: a
/// crop and a resize in one separable pass, so that a random resized crop touches each source
/// pixel once. Pixels outside the box are never read (PIL's `crop().resize()`).
/// Throws radiossl::Error when the box leaves the image or a size is not positive.
///
/// Note: both passes run down columns (vertical, then horizontal on the transposed result and
/// back), because a row-wise horizontal pass gathers each output's taps one by one (it was
/// three quarters of the time); they go band by band of output rows so that the scratch stays
/// in cache, the multiply-adds use AVX/FMA where the CPU has them, and the scratch buffers are
/// kept per thread.
[[nodiscard]] inline Image resample(const Image& in, std::int64_t y0, std::int64_t x0, std::int64_t h,
                                    std::int64_t w, std::int64_t out_h, std::int64_t out_w,
                                    Interp interp = Interp::bicubic) {
  return detail::resample_impl(in, y0, x0, h, w, out_h, out_w, interp, {});
}

/// `resample`, then every pixel clipped to [lo, hi] (bicubic overshoot; PIL clips to uint8 in
/// the same place), in the same last pass: what the random resized crop and Resize stages do.
[[nodiscard]] inline Image resample_clipped(const Image& in, std::int64_t y0, std::int64_t x0, std::int64_t h,
                                            std::int64_t w, std::int64_t out_h, std::int64_t out_w,
                                            Interp interp = Interp::bicubic, float lo = 0.0f, float hi = 1.0f) {
  return detail::resample_impl(in, y0, x0, h, w, out_h, out_w, interp, {true, lo, hi});
}

/// Resizes the whole image to out_h x out_w (antialiased when shrinking; see `resample`).
[[nodiscard]] inline Image resize(const Image& in, std::int64_t out_h, std::int64_t out_w,
                                  Interp interp = Interp::bicubic) {
  return resample(in, 0, 0, in.height, in.width, out_h, out_w, interp);
}

/// Clips every pixel to [lo, hi] (bicubic overshoot; PIL clips to uint8 in the same place);
/// NaN stays NaN.
inline void clamp_pixels(Image& img, float lo = 0.0f, float hi = 1.0f) {
  detail::clip_span(img.pixels.data(), img.size(), lo, hi);
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

/// solo-learn-radio's `np.uint8(y * 255)` after its stretches (methods.md 5.2), kept as float32
/// k / 255 as its ToTensor gives them: every pixel of [0, 1] truncated down to a multiple of 1/255,
/// so pixels less than 1/255 of the range above the minimum become 0. NaN becomes 0 (preprocessing
/// has none left by then).
inline void truncate_to_8bit(Image& img) {
  for (float& p : img.pixels) {
    const float v = p * 255.0f;
    // A cast truncates toward zero, as numpy's does; unlike floor() it vectorises without SSE4.1.
    p = v > 0.0f ? static_cast<float>(static_cast<std::int32_t>(v < 255.0f ? v : 255.0f)) / 255.0f : 0.0f;
  }
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

/// The channels solo-learn-radio's "mixed" evaluation means for validation images: sinh, minmax,
/// asinh, the same for every image. Its code draws them from the training lists instead, a bug
/// not copied here (methods.md 5.4).
[[nodiscard]] inline Image mixed_fixed_channels(const Image& in) {
  return stack_stretches(in, {Stretch::sinh, Stretch::minmax, Stretch::asinh});
}

/// solo-learn-radio's Pad2Square: the image centred on a square of zeros whose side is its longer
/// side; an odd extra pixel goes to the bottom or right. A square image is returned as is.
[[nodiscard]] inline Image pad_to_square(const Image& in) {
  if (in.height == in.width) return in;
  const std::int64_t side = std::max(in.height, in.width);
  const std::int64_t top = (side - in.height) / 2, left = (side - in.width) / 2;
  Image out(in.channels, side, side);
  for (std::int64_t c = 0; c < in.channels; ++c)
    for (std::int64_t y = 0; y < in.height; ++y)
      std::copy_n(in.plane(c) + y * in.width, in.width, out.plane(c) + (top + y) * side + left);
  return out;
}

// ---- the whole normalisation --------------------------------------------------------------------

/// How the channels of a preprocessed cut-out are made.
enum class ChannelMode {
  replicate,    ///< one stretch, the plane copied to `channels` planes (solo-learn "minmax")
  mixed,        ///< three different random stretches (solo-learn "mixed"; needs an Rng)
  mixed_fixed,  ///< sinh, minmax, asinh: "mixed" for validation images (mixed_fixed_channels)
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
  /// Background floor before min-max: pixels below median + clip_sigma x sigma (3-sigma clipped
  /// statistics) are raised to it, so the background normalises to 0 (`floor_background`; MiraBest
  /// uses 3). 0, the paper's plain min-max, turns it off.
  double clip_sigma = 0.0;
  /// Pad a non-square cut-out with zeros to a square after min-max (`pad_to_square`), so that the
  /// resize and crops that follow see all of it; solo-learn-radio's downstream sets do this.
  bool pad_square = false;
  /// Truncate the stretched pixels to 8 bits (`truncate_to_8bit`), as solo-learn-radio's
  /// AddNormChannels does before its PIL transforms. Off: the cut-out stays float32.
  bool eight_bit = false;
};

/// The benchmark's normalisation of one raw cut-out ([C, H, W], NaN allowed): non-finite pixels to
/// the cut-out's finite minimum, min-max to [0, 1] over all channels (constant or all-NaN
/// cut-outs give zeros), with `pad_square` padding to a square, resize to `size` x `size`
/// (non-square cut-outs are otherwise stretched to the square), stretch, channels; with `clip_sigma`
/// > 0 the background is floored before the min-max, with `eight_bit` the stretched pixels are
/// truncated to 8 bits. A one-channel cut-out is replicated to `channels`; a 3-channel one
/// (RGB PNG) is kept for `channels` 3 and turned to luminance for 1 or for the mixed modes. `rng` is
/// needed only for ChannelMode::mixed.
/// Throws radiossl::Error on an empty cut-out, bad options, or mixed mode without an Rng.
[[nodiscard]] inline Image preprocess(Image img, const PreprocessOptions& opt = {}, Rng* rng = nullptr) {
  if (img.empty()) throw Error("preprocess: empty cut-out");
  if (opt.size < 0) throw Error("preprocess: size must be >= 0, got " + std::to_string(opt.size));
  if (opt.channels != 1 && opt.channels != 3)
    throw Error("preprocess: channels must be 1 or 3, got " + std::to_string(opt.channels));
  if (!(opt.clip_sigma >= 0.0))
    throw Error("preprocess: clip_sigma must be >= 0 (0: off), got " + std::to_string(opt.clip_sigma));
  const bool mixed = opt.channel_mode != ChannelMode::replicate;
  if (opt.channel_mode == ChannelMode::mixed && rng == nullptr)
    throw Error("preprocess: ChannelMode::mixed draws stretches and needs an Rng");
  // minmax_normalize maps non-finite pixels to 0, where the filled minimum would go: the NaN fill
  // needs its own pass only before mixing channels.
  if (img.channels != 1 && (mixed || img.channels != opt.channels)) {
    fill_nan(img);
    img = to_gray(img);
  }
  if (opt.clip_sigma > 0.0) floor_background(img, opt.clip_sigma);
  minmax_normalize(img);
  // solo-learn-radio truncates right after its stretch, before Pad2Square and the resize; the
  // min-max stretch is the identity, so that order holds here too. Other stretches come after the
  // resize here (when `size` > 0), and the truncation with them.
  if (opt.eight_bit && !mixed && opt.stretch == Stretch::minmax) truncate_to_8bit(img);
  // Zero is the normalised minimum and every stretch keeps it, so padding here equals solo-learn's
  // padding of the stretched image.
  if (opt.pad_square) img = pad_to_square(img);
  if (opt.size > 0 && (img.height != opt.size || img.width != opt.size)) {
    img = resample_clipped(img, 0, 0, img.height, img.width, opt.size, opt.size, opt.interp);
  }
  if (mixed) {
    Image out = opt.channel_mode == ChannelMode::mixed ? mixed_channels(img, *rng) : mixed_fixed_channels(img);
    if (opt.eight_bit) truncate_to_8bit(out);
    return out;
  }
  if (opt.stretch != Stretch::minmax) {  // minmax: already in [0, 1]
    apply_stretch(img, opt.stretch);
    if (opt.eight_bit) truncate_to_8bit(img);
  }
  if (img.channels == opt.channels) return img;
  return replicate_channels(img, opt.channels);
}

}  // namespace radiossl::data

/// @file
/// Parametric radio-source morphologies (point, resolved Gaussian, FRI, FRII, diffuse, multi-island and
/// the class configurations of RGZ, MSRS and VLASS) as sums of elliptical Gaussian components, and their
/// rendering onto an `Image` at sub-pixel positions.
///
/// Note: every morphology is a list of Gaussian components. A Gaussian convolved with the Gaussian beam
/// is again a Gaussian whose covariance is the sum of both, so sources are rendered *already convolved*,
/// exactly, into a small patch around them: no map-sized FFT per source, sub-pixel positions are exact,
/// and the peak, bounding box, islands and peaks of each source can be measured on its own noise-free
/// patch before it joins the map. Rendering with a pixel-sized beam gives the true sky.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "radiossl/image.hpp"
#include "radiossl/sim/fft.hpp"
#include "radiossl/sim/random.hpp"

namespace radiossl::sim {

/// FWHM / sigma of a Gaussian: 2 sqrt(2 ln 2).
inline constexpr double fwhm_per_sigma = 2.3548200450309493;

/// A Gaussian restoring beam in pixel units: FWHM along the major and minor axes (pixels) and the
/// position angle (degrees east of north, as BPA).
struct BeamPx {
  double fwhm_major = 1.0;
  double fwhm_minor = 1.0;
  double pa_deg = 0.0;
  [[nodiscard]] Cov2 cov() const {
    return Cov2::from_axes(fwhm_major / fwhm_per_sigma, fwhm_minor / fwhm_per_sigma, pa_deg);
  }
  /// Geometric-mean FWHM in pixels: the length scale morphologies are built in.
  [[nodiscard]] double fwhm() const { return std::sqrt(fwhm_major * fwhm_minor); }
};

/// One elliptical Gaussian of the true sky: centre (0-based pixels), integrated flux (Jy), intrinsic
/// FWHM along its major/minor axes (pixels; 0 = unresolved) and position angle (degrees E of N).
struct Component {
  double x = 0, y = 0;
  double flux = 0;
  double fwhm_major = 0, fwhm_minor = 0;
  double pa_deg = 0;
};

/// A source: its class name (as written in catalogues and manifests) and its components.
struct Source {
  std::string kind;
  std::vector<Component> components;

  [[nodiscard]] double total_flux() const {
    double s = 0;
    for (const auto& c : components) s += c.flux;
    return s;
  }
  void translate(double dx, double dy) {
    for (auto& c : components) {
      c.x += dx;
      c.y += dy;
    }
  }
  void scale_flux(double f) {
    for (auto& c : components) c.flux *= f;
  }
  /// Appends another source's components (blends, neighbours that belong to the same object).
  void append(const Source& o) { components.insert(components.end(), o.components.begin(), o.components.end()); }
};

/// The noise-free rendering of one source: a rectangle of the pixel grid (may extend past a map).
struct Patch {
  std::int64_t x0 = 0, y0 = 0, w = 0, h = 0;
  std::vector<float> v;
  [[nodiscard]] float at(std::int64_t y, std::int64_t x) const { return v[static_cast<std::size_t>(y * w + x)]; }
};

/// What a catalogue records about a rendered source (pixels are 0-based map pixels).
struct Footprint {
  double peak_x = 0, peak_y = 0;  ///< position of the brightest pixel, refined to sub-pixel
  double peak_flux = 0;           ///< Jy/beam, noise-free
  double int_flux = 0;            ///< Jy, sum of the components
  std::int64_t bbox_x0 = 0, bbox_y0 = 0, bbox_w = 0, bbox_h = 0;  ///< where flux >= fraction x peak
  int islands = 0;                ///< 8-connected regions above the island threshold
  int peaks = 0;                  ///< separated local maxima above the peak threshold
};

/// Renders `src` convolved with `beam` into a patch covering `nsigma` convolved sigmas of every
/// component. Pixel values are in Jy/beam: an unresolved component of flux S peaks at S.
inline Patch rasterize(const Source& src, const BeamPx& beam, double nsigma = 5.0) {
  struct Prepared {
    double x, y, amp, ixx, ixy, iyy, hx, hy;
  };
  std::vector<Prepared> prep;
  const Cov2 bc = beam.cov();
  const double beam_norm = std::sqrt(bc.det());  // sigma_maj * sigma_min of the beam
  double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300;
  for (const auto& c : src.components) {
    if (c.flux == 0.0) continue;
    Cov2 s = Cov2::from_axes(c.fwhm_major / fwhm_per_sigma, c.fwhm_minor / fwhm_per_sigma, c.pa_deg) + bc;
    if (s.det() < 1e-6) s = s + Cov2{0.09, 0.0, 0.09};  // a pixel-sized floor for true-sky rendering
    const double det = s.det();
    Prepared p{c.x, c.y, c.flux * std::max(beam_norm, 1e-12) / std::sqrt(det),
               s.yy / det, -s.xy / det, s.xx / det, nsigma * std::sqrt(s.xx), nsigma * std::sqrt(s.yy)};
    if (beam_norm < 1e-9) p.amp = c.flux / (2.0 * std::numbers::pi * std::sqrt(det));  // true sky: Jy/pixel
    xmin = std::min(xmin, c.x - p.hx);
    xmax = std::max(xmax, c.x + p.hx);
    ymin = std::min(ymin, c.y - p.hy);
    ymax = std::max(ymax, c.y + p.hy);
    prep.push_back(p);
  }
  Patch out;
  if (prep.empty()) return out;
  out.x0 = static_cast<std::int64_t>(std::floor(xmin));
  out.y0 = static_cast<std::int64_t>(std::floor(ymin));
  out.w = static_cast<std::int64_t>(std::ceil(xmax)) - out.x0 + 1;
  out.h = static_cast<std::int64_t>(std::ceil(ymax)) - out.y0 + 1;
  out.v.assign(static_cast<std::size_t>(out.w * out.h), 0.0f);
  std::vector<double> acc(out.v.size(), 0.0);
  for (const auto& p : prep) {
    const std::int64_t xa = static_cast<std::int64_t>(std::floor(p.x - p.hx)) - out.x0;
    const std::int64_t xb = static_cast<std::int64_t>(std::ceil(p.x + p.hx)) - out.x0;
    const std::int64_t ya = static_cast<std::int64_t>(std::floor(p.y - p.hy)) - out.y0;
    const std::int64_t yb = static_cast<std::int64_t>(std::ceil(p.y + p.hy)) - out.y0;
    for (std::int64_t yy = std::max<std::int64_t>(ya, 0); yy <= std::min(yb, out.h - 1); ++yy) {
      const double dy = static_cast<double>(yy + out.y0) - p.y;
      double* row = acc.data() + yy * out.w;
      for (std::int64_t xx = std::max<std::int64_t>(xa, 0); xx <= std::min(xb, out.w - 1); ++xx) {
        const double dx = static_cast<double>(xx + out.x0) - p.x;
        const double q = p.ixx * dx * dx + 2.0 * p.ixy * dx * dy + p.iyy * dy * dy;
        if (q < 2.0 * 25.0) row[xx] += p.amp * std::exp(-0.5 * q);
      }
    }
  }
  for (std::size_t i = 0; i < acc.size(); ++i) out.v[i] = static_cast<float>(acc[i]);
  return out;
}

namespace detail {
/// Number of 8-connected regions of `mask`.
inline int count_regions(const std::vector<unsigned char>& mask, std::int64_t w, std::int64_t h) {
  std::vector<unsigned char> seen(mask.size(), 0);
  std::vector<std::int64_t> stack;
  int n = 0;
  for (std::int64_t i = 0; i < w * h; ++i) {
    if (!mask[static_cast<std::size_t>(i)] || seen[static_cast<std::size_t>(i)]) continue;
    ++n;
    stack.push_back(i);
    seen[static_cast<std::size_t>(i)] = 1;
    while (!stack.empty()) {
      const std::int64_t k = stack.back();
      stack.pop_back();
      const std::int64_t ky = k / w, kx = k % w;
      for (std::int64_t dy = -1; dy <= 1; ++dy)
        for (std::int64_t dx = -1; dx <= 1; ++dx) {
          const std::int64_t ny = ky + dy, nx = kx + dx;
          if (ny < 0 || nx < 0 || ny >= h || nx >= w) continue;
          const auto j = static_cast<std::size_t>(ny * w + nx);
          if (mask[j] && !seen[j]) {
            seen[j] = 1;
            stack.push_back(ny * w + nx);
          }
        }
    }
  }
  return n;
}
}  // namespace detail

/// Measures a rendered patch: peak (sub-pixel by a parabola through the neighbours), bounding box of
/// the pixels >= `bbox_fraction` x peak, integrated flux `int_flux` (given: the patch may be clipped),
/// islands above `island_threshold` (Jy/beam) and peaks: local maxima above `peak_threshold` whose
/// valley towards every brighter accepted peak dips below `saddle_ratio` of their own height, the
/// test an eye applies to call two peaks separate.
inline Footprint measure(const Patch& p, double int_flux, double bbox_fraction, double island_threshold,
                         double peak_threshold, double saddle_ratio = 0.8) {
  Footprint f;
  f.int_flux = int_flux;
  if (p.v.empty()) return f;
  std::int64_t best = 0;
  for (std::int64_t i = 1; i < p.w * p.h; ++i)
    if (p.v[static_cast<std::size_t>(i)] > p.v[static_cast<std::size_t>(best)]) best = i;
  const std::int64_t by = best / p.w, bx = best % p.w;
  const double pk = p.v[static_cast<std::size_t>(best)];
  auto refine = [&](double m, double c, double q) {
    const double den = m - 2.0 * c + q;
    return den < 0.0 ? std::clamp(0.5 * (m - q) / den, -0.5, 0.5) : 0.0;
  };
  double ox = 0.0, oy = 0.0;
  if (bx > 0 && bx + 1 < p.w) ox = refine(p.at(by, bx - 1), pk, p.at(by, bx + 1));
  if (by > 0 && by + 1 < p.h) oy = refine(p.at(by - 1, bx), pk, p.at(by + 1, bx));
  f.peak_x = static_cast<double>(p.x0 + bx) + ox;
  f.peak_y = static_cast<double>(p.y0 + by) + oy;
  f.peak_flux = pk;
  std::int64_t x0 = p.w, y0 = p.h, x1 = -1, y1 = -1;
  const double thr = bbox_fraction * pk;
  std::vector<unsigned char> mask(p.v.size(), 0);
  for (std::int64_t y = 0; y < p.h; ++y)
    for (std::int64_t x = 0; x < p.w; ++x) {
      const double v = p.at(y, x);
      if (v >= thr) {
        x0 = std::min(x0, x);
        x1 = std::max(x1, x);
        y0 = std::min(y0, y);
        y1 = std::max(y1, y);
      }
      mask[static_cast<std::size_t>(y * p.w + x)] = v >= island_threshold ? 1 : 0;
    }
  f.bbox_x0 = p.x0 + x0;
  f.bbox_y0 = p.y0 + y0;
  f.bbox_w = x1 - x0 + 1;
  f.bbox_h = y1 - y0 + 1;
  f.islands = detail::count_regions(mask, p.w, p.h);
  // Peaks: strict local maxima in 3x3, brightest first, kept if separated by a real valley.
  std::vector<std::pair<double, std::int64_t>> maxima;
  for (std::int64_t y = 1; y + 1 < p.h; ++y)
    for (std::int64_t x = 1; x + 1 < p.w; ++x) {
      const float v = p.at(y, x);
      if (v < peak_threshold) continue;
      bool is_max = true;
      for (std::int64_t dy = -1; dy <= 1 && is_max; ++dy)
        for (std::int64_t dx = -1; dx <= 1; ++dx)
          if ((dy || dx) && p.at(y + dy, x + dx) >= v && !(p.at(y + dy, x + dx) == v && (dy < 0 || (dy == 0 && dx < 0)))) {
            is_max = false;
            break;
          }
      if (is_max) maxima.emplace_back(v, y * p.w + x);
    }
  std::sort(maxima.begin(), maxima.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::int64_t> kept;
  for (const auto& [v, idx] : maxima) {
    bool separate = true;
    for (std::int64_t k : kept) {
      const double ax = static_cast<double>(idx % p.w), ay = static_cast<double>(idx / p.w);
      const double bxk = static_cast<double>(k % p.w), byk = static_cast<double>(k / p.w);
      const int steps = static_cast<int>(std::ceil(std::hypot(ax - bxk, ay - byk) * 2.0)) + 1;
      double lowest = v;
      for (int s = 0; s <= steps; ++s) {
        const double t = static_cast<double>(s) / steps;
        const auto sx = static_cast<std::int64_t>(std::lround(ax + t * (bxk - ax)));
        const auto sy = static_cast<std::int64_t>(std::lround(ay + t * (byk - ay)));
        lowest = std::min(lowest, static_cast<double>(p.at(sy, sx)));
      }
      if (lowest > saddle_ratio * v) {
        separate = false;
        break;
      }
    }
    if (separate) kept.push_back(idx);
  }
  f.peaks = static_cast<int>(kept.size());
  return f;
}

/// Adds `scale` x the patch into `img` (channel 0), clipping at the image edges.
inline void add_patch(const Patch& p, Image& img, double scale = 1.0) {
  for (std::int64_t y = std::max<std::int64_t>(0, -p.y0); y < p.h && p.y0 + y < img.height; ++y)
    for (std::int64_t x = std::max<std::int64_t>(0, -p.x0); x < p.w && p.x0 + x < img.width; ++x)
      img.at(p.y0 + y, p.x0 + x) += static_cast<float>(scale * p.at(y, x));
}

/// Rescales `src` so that its beam-convolved peak equals `peak` (Jy/beam); returns the factor.
inline double scale_to_peak(Source& src, const BeamPx& beam, double peak) {
  const Patch p = rasterize(src, beam, 4.0);
  float m = 0.0f;
  for (float v : p.v) m = std::max(m, v);
  const double f = m > 0.0f ? peak / static_cast<double>(m) : 0.0;
  src.scale_flux(f);
  return f;
}

// ---- morphologies ------------------------------------------------------------------------------------
// Geometry is in pixels; `beam` (FWHM, pixels) sets the scale of compact parts. Fluxes are relative (the
// components of one source sum to 1 unless said otherwise); callers scale them with scale_flux or
// scale_to_peak. Angles `phi` are in the pixel frame (radians from +x towards +y).

namespace detail {
/// Position angle (degrees E of N) of a direction phi in the pixel frame.
inline double pa_of(double phi) { return phi * 180.0 / std::numbers::pi - 90.0; }
/// Angle a + t * (b - a) along the shorter arc.
inline double lerp_angle(double a, double b, double t) {
  double d = std::remainder(b - a, 2.0 * std::numbers::pi);
  return a + t * d;
}
}  // namespace detail

/// An unresolved source of unit flux at (x, y).
inline Source make_point(double x, double y) { return {"point", {{x, y, 1.0, 0.0, 0.0, 0.0}}}; }

/// A resolved elliptical Gaussian of unit flux (intrinsic FWHM in pixels, PA in degrees E of N).
inline Source make_gaussian(double x, double y, double fwhm_major, double fwhm_minor, double pa_deg) {
  return {"resolved", {{x, y, 1.0, fwhm_major, std::min(fwhm_minor, fwhm_major), pa_deg}}};
}

/// Variants of FRI radio galaxies (MiraBest's third digit: standard, wide-angle tail, head-tail).
enum class FriVariant { standard, wide_angle_tail, head_tail };
/// Variants of FRII radio galaxies (MiraBest: standard, double-double).
enum class FriiVariant { standard, double_double };

/// FRI (Fanaroff & Riley 1974, class I): a bright core, two jets that widen and fade outward along a
/// gently curved path, and diffuse plumes where they end. Wide-angle tails bend both jets towards one
/// side (a "U"/"V"); head-tails bend them back into one tail behind a bright head. `size` is the
/// largest angular size in pixels.
inline Source make_fri(Rng& rng, double x, double y, double size, double beam, FriVariant variant) {
  Source s{variant == FriVariant::standard ? "fri" : variant == FriVariant::wide_angle_tail ? "fri_wat" : "fri_ht", {}};
  const double phi = rng.uniform(0.0, 2.0 * std::numbers::pi);
  const double core = rng.uniform(0.08, 0.2);
  s.components.push_back({x, y, core, rng.uniform(0.0, 0.3) * beam, 0.0, 0.0});
  const double psi = phi + std::numbers::pi / 2.0 * (rng.bernoulli(0.5) ? 1.0 : -1.0);  // tail direction
  const double w = rng.uniform(0.5, 0.68);
  double half = size / 2.0;
  if (variant == FriVariant::head_tail) half = size * 0.85;  // one tail spans the source
  for (int side = 0; side < 2; ++side) {
    const double side_flux = (1.0 - core) * (side == 0 ? w : 1.0 - w);
    double dir0 = phi + (side == 0 ? 0.0 : std::numbers::pi);
    double bend = rng.uniform(-0.25, 0.25);  // gentle S/C curvature of standard jets
    if (variant == FriVariant::wide_angle_tail) bend = rng.uniform(0.45, 0.8);
    if (variant == FriVariant::head_tail) {
      dir0 = psi + (side == 0 ? 1.0 : -1.0) * rng.uniform(0.25, 0.6);
      bend = 0.9;
    }
    const double len = half * rng.uniform(0.8, 1.0);
    const int n = std::max(8, static_cast<int>(len / (0.45 * beam)));
    const double step = len / n;
    double px = x, py = y;
    const double jet_flux = side_flux * 0.7, plume_flux = side_flux * 0.3;
    std::vector<double> weights(static_cast<std::size_t>(n));
    double wsum = 0.0;
    for (int i = 0; i < n; ++i) wsum += (weights[static_cast<std::size_t>(i)] = std::exp(-(i + 1.0) / (0.45 * n)));
    double end_dir = dir0;
    for (int i = 0; i < n; ++i) {
      const double t = (i + 1.0) / n;
      const double d = variant == FriVariant::standard
                           ? dir0 + bend * t * t
                           : detail::lerp_angle(dir0, psi, bend * std::pow(t, 1.3));
      px += step * std::cos(d);
      py += step * std::sin(d);
      const double across = 0.3 * beam + 0.12 * len * t;
      s.components.push_back({px, py, jet_flux * weights[static_cast<std::size_t>(i)] / wsum,
                              std::max(across, 1.6 * step), std::min(across, 1.6 * step), detail::pa_of(d) +
                                                                                              (across > 1.6 * step ? 90.0 : 0.0)});
      end_dir = d;
    }
    const int m = 3 + static_cast<int>(rng.index(3));
    for (int j = 0; j < m; ++j) {
      const double along = len * rng.uniform(-0.3, 0.1);
      const double off = len * rng.uniform(-0.15, 0.15);
      const double fw = len * rng.uniform(0.4, 0.7);
      s.components.push_back({px + along * std::cos(end_dir) - off * std::sin(end_dir),
                              py + along * std::sin(end_dir) + off * std::cos(end_dir), plume_flux / m, fw,
                              fw * rng.uniform(0.5, 0.9), rng.uniform(0.0, 180.0)});
    }
  }
  return s;
}

/// FRII (class II): a faint core, lobes brightening towards their ends and compact hotspots at the
/// extremities; double-doubles carry a second, inner pair of lobes from a restarted jet. `size` is the
/// largest angular size (hotspot to hotspot) in pixels.
inline Source make_frii(Rng& rng, double x, double y, double size, double beam, FriiVariant variant) {
  Source s{variant == FriiVariant::standard ? "frii" : "frii_dd", {}};
  const double phi = rng.uniform(0.0, 2.0 * std::numbers::pi);
  const double core = rng.uniform(0.0, 0.05);
  if (core > 0.005) s.components.push_back({x, y, core, 0.0, 0.0, 0.0});
  const double w = rng.uniform(0.4, 0.6);
  const double width = size * rng.uniform(0.08, 0.18);
  for (int side = 0; side < 2; ++side) {
    const double side_flux = (1.0 - core) * (side == 0 ? w : 1.0 - w);
    const double dir = phi + (side == 0 ? 0.0 : std::numbers::pi) + rng.uniform(-0.08, 0.08);
    const double len = size / 2.0 * rng.uniform(0.85, 1.0);
    const double cx = std::cos(dir), cy = std::sin(dir);
    const double hs = side_flux * rng.uniform(0.15, 0.3);
    const double inner = variant == FriiVariant::double_double ? side_flux * 0.25 : 0.0;
    s.components.push_back({x + len * cx, y + len * cy, hs, rng.uniform(0.0, 0.4) * beam, 0.0, 0.0});
    const double lobe = side_flux - hs - inner;
    const int k = 6;
    double wsum = 0.0;
    for (int i = 0; i < k; ++i) wsum += 0.2 + std::pow((i + 1.0) / k, 2.0);
    for (int i = 0; i < k; ++i) {
      const double t = 0.4 + 0.55 * (i + 0.5) / k;
      const double across = std::max(width * (0.6 + 0.8 * (1.0 - t)), beam * 0.5);
      const double off = rng.uniform(-0.15, 0.15) * across;
      s.components.push_back({x + t * len * cx - off * cy, y + t * len * cy + off * cx,
                              lobe * (0.2 + std::pow((i + 1.0) / k, 2.0)) / wsum, across,
                              std::max(0.15 * len, 0.5 * beam), detail::pa_of(dir) + 90.0});
    }
    if (variant == FriiVariant::double_double) {
      const double t = rng.uniform(0.3, 0.45);
      s.components.push_back({x + t * len * cx, y + t * len * cy, inner * 0.6, 0.3 * beam, 0.0, 0.0});
      s.components.push_back({x + (t - 0.06) * len * cx, y + (t - 0.06) * len * cy, inner * 0.4,
                              std::max(0.15 * len, beam * 0.5), 0.5 * width, detail::pa_of(dir)});
    }
  }
  return s;
}

/// HII region: one to four overlapping roundish Gaussian blobs, `size` pixels across.
inline Source make_hii(Rng& rng, double x, double y, double size) {
  Source s{"hii", {}};
  const int n = 1 + static_cast<int>(rng.index(4));
  for (int i = 0; i < n; ++i) {
    const double fw = size * rng.uniform(0.3, 0.6);
    s.components.push_back({x + size * rng.uniform(-0.2, 0.2), y + size * rng.uniform(-0.2, 0.2),
                            rng.uniform(0.5, 1.0) / n, fw, fw * rng.uniform(0.6, 1.0), rng.uniform(0.0, 180.0)});
  }
  return s;
}

/// Supernova-remnant shell: a limb-brightened ring (possibly partial, slightly elliptical) of
/// diameter `size` pixels, its brightness varying around the rim, with faint interior emission.
inline Source make_shell(Rng& rng, double x, double y, double size, double beam) {
  Source s{"shell", {}};
  const double r = size / 2.0;
  const double thick = std::max(size * rng.uniform(0.08, 0.16), 0.6 * beam);
  const double ell = rng.uniform(0.8, 1.0), rot = rng.uniform(0.0, std::numbers::pi);
  const double bright_dir = rng.uniform(0.0, 2.0 * std::numbers::pi);
  const double contrast = rng.uniform(0.3, 0.9);
  const int n = std::max(12, static_cast<int>(2.0 * std::numbers::pi * r / (0.5 * thick)));
  for (int i = 0; i < n; ++i) {
    const double a = 2.0 * std::numbers::pi * i / n;
    const double ex = r * std::cos(a), ey = r * ell * std::sin(a);
    const double gx = ex * std::cos(rot) - ey * std::sin(rot), gy = ex * std::sin(rot) + ey * std::cos(rot);
    const double b = std::max(0.0, 1.0 - contrast * 0.5 * (1.0 - std::cos(a - bright_dir))) *
                     rng.uniform(0.7, 1.0);
    const double tangent = std::atan2(gy, gx) + std::numbers::pi / 2.0;
    s.components.push_back({x + gx, y + gy, b, 1.5 * thick, thick, detail::pa_of(tangent)});
  }
  double sum = s.total_flux();
  s.components.push_back({x, y, sum * rng.uniform(0.02, 0.1), size * 0.7, size * 0.7 * ell, 0.0});
  s.scale_flux(1.0 / s.total_flux());
  return s;
}

/// Large irregular diffuse emission: a random walk of 10-30 broad Gaussians within `size` pixels.
inline Source make_diffuse(Rng& rng, double x, double y, double size) {
  Source s{"diffuse", {}};
  const int n = 10 + static_cast<int>(rng.index(21));
  double px = 0.0, py = 0.0;
  for (int i = 0; i < n; ++i) {
    const double fw = size * rng.uniform(0.12, 0.3);
    s.components.push_back({x + px, y + py, rng.uniform(0.3, 1.0), fw, fw * rng.uniform(0.4, 1.0),
                            rng.uniform(0.0, 180.0)});
    px += size * rng.normal(0.0, 0.12);
    py += size * rng.normal(0.0, 0.12);
    const double rr = std::hypot(px, py);
    if (rr > 0.35 * size) {  // keep the walk inside the nominal size
      px *= 0.35 * size / rr;
      py *= 0.35 * size / rr;
    }
  }
  s.scale_flux(1.0 / s.total_flux());
  return s;
}

/// A multi-island source: `n` compact-to-slightly-resolved blobs of one object, strung along a
/// (bent) line with gaps of at least `gap_beams` beams between neighbours so that they stay separate
/// islands. `size` bounds the overall extent in pixels.
inline Source make_multi_island(Rng& rng, double x, double y, int n, double size, double beam, double gap_beams = 3.0) {
  Source s{"multi_island", {}};
  const double sep = std::max(size / std::max(1, n - 1), gap_beams * beam);
  double dir = rng.uniform(0.0, 2.0 * std::numbers::pi);
  double px = -0.5 * sep * (n - 1) * std::cos(dir), py = -0.5 * sep * (n - 1) * std::sin(dir);
  for (int i = 0; i < n; ++i) {
    const double fw = beam * rng.uniform(0.3, 1.5);
    s.components.push_back({x + px, y + py, rng.uniform(0.4, 1.0), fw, fw * rng.uniform(0.5, 1.0),
                            rng.uniform(0.0, 180.0)});
    dir += rng.uniform(-0.35, 0.35);
    px += sep * rng.uniform(1.0, 1.2) * std::cos(dir);
    py += sep * rng.uniform(1.0, 1.2) * std::sin(dir);
  }
  s.scale_flux(1.0 / s.total_flux());
  return s;
}

/// `n` compact components of one island: neighbours `sep_beams` beams apart (about 1.3-2 beams keeps
/// separate peaks inside one island), along a line or a bent chain.
inline Source make_blend(Rng& rng, double x, double y, int n, double beam, double sep_beams, double min_ratio = 0.4) {
  Source s{"blend", {}};
  double dir = rng.uniform(0.0, 2.0 * std::numbers::pi);
  const double sep = sep_beams * beam;
  double px = -0.5 * sep * (n - 1) * std::cos(dir), py = -0.5 * sep * (n - 1) * std::sin(dir);
  for (int i = 0; i < n; ++i) {
    s.components.push_back({x + px, y + py, rng.uniform(min_ratio, 1.0), rng.uniform(0.0, 0.4) * beam, 0.0, 0.0});
    dir += rng.uniform(-0.5, 0.5);
    px += sep * std::cos(dir);
    py += sep * std::sin(dir);
  }
  s.scale_flux(1.0 / s.total_flux());
  return s;
}

// ---- class configurations of the labeled sets --------------------------------------------------------

/// Radio Galaxy Zoo DR1 classes, named as in the paper (Cecconello et al., section 3.4). Note: the
/// paper writes the RGZ/ClaRAN class `c_p` (c components = islands, p >= c peaks) as "pC-cP", so
/// "2C-1P" is one island with two peaks and "3C-2P" two islands with three peaks; the generator
/// renders that physical content (checked on the noise-free patch) under the paper's names.
inline const std::vector<std::string>& rgz_classes() {
  static const std::vector<std::string> names{"1C-1P", "2C-1P", "2C-2P", "3C-1P", "3C-2P", "3C-3P"};
  return names;
}
/// (islands, peaks) of an RGZ class index.
inline std::pair<int, int> rgz_islands_peaks(int cls) {
  static const std::pair<int, int> table[] = {{1, 1}, {1, 2}, {2, 2}, {1, 3}, {2, 3}, {3, 3}};
  return table[cls];
}
/// An RGZ configuration of class `cls` centred near (x, y): blends for peaks inside an island,
/// separated islands for components.
inline Source make_rgz(Rng& rng, int cls, double x, double y, double beam) {
  const auto [islands, peaks] = rgz_islands_peaks(cls);
  Source s{rgz_classes()[static_cast<std::size_t>(cls)], {}};
  if (islands == 1 && peaks == 1) {
    const Source g = rng.bernoulli(0.6) ? make_point(x, y)
                                        : make_gaussian(x, y, beam * rng.uniform(0.8, 2.0), beam * rng.uniform(0.3, 0.8),
                                                        rng.uniform(0.0, 180.0));
    s.append(g);
    return s;
  }
  if (islands == 1) {
    s.append(make_blend(rng, x, y, peaks, beam, rng.uniform(1.3, 1.8)));
    return s;
  }
  // Separated islands; with one more peak than islands, one island is itself a blend.
  const double sep = beam * rng.uniform(3.5, 6.0);
  const Source layout = make_multi_island(rng, x, y, islands, sep * (islands - 1), beam, 3.5);
  for (int i = 0; i < islands; ++i) {
    const auto& c = layout.components[static_cast<std::size_t>(i)];
    if (i == 0 && peaks > islands) {
      Source b = make_blend(rng, c.x, c.y, 2, beam, rng.uniform(1.3, 1.7), 0.6);
      b.scale_flux(1.3);
      s.append(b);
    } else {
      s.components.push_back({c.x, c.y, rng.uniform(0.5, 1.0), rng.uniform(0.0, 0.5) * beam, 0.0, 0.0});
    }
  }
  s.scale_flux(1.0 / s.total_flux());
  return s;
}

/// VLASS-like classes (Gordon et al. Table 2 types, section 3.4 of the paper).
inline const std::vector<std::string>& vlass_classes() {
  static const std::vector<std::string> names{"single", "two_close", "three_close", "two_asymmetric",
                                              "brighter_than_neighbours"};
  return names;
}
/// A VLASS configuration of class `cls` centred near (x, y); `beam` is the FWHM in pixels.
inline Source make_vlass(Rng& rng, int cls, double x, double y, double beam) {
  Source s{vlass_classes()[static_cast<std::size_t>(cls)], {}};
  switch (cls) {
    case 0:
      s.components.push_back({x, y, 1.0, rng.uniform(0.0, 1.2) * beam, rng.uniform(0.0, 0.6) * beam,
                              rng.uniform(0.0, 180.0)});
      break;
    case 1:
      s.append(make_multi_island(rng, x, y, 2, beam * rng.uniform(2.5, 6.0), beam, 2.0));
      break;
    case 2:
      s.append(make_multi_island(rng, x, y, 3, beam * rng.uniform(5.0, 10.0), beam, 2.0));
      break;
    case 3: {  // a compact core blended with a fainter, resolved lobe on one side
      const double phi = rng.uniform(0.0, 2.0 * std::numbers::pi);
      const double d = beam * rng.uniform(1.3, 2.2);
      s.components.push_back({x, y, 1.0, rng.uniform(0.0, 0.4) * beam, 0.0, 0.0});
      s.components.push_back({x + d * std::cos(phi), y + d * std::sin(phi), rng.uniform(0.6, 1.5),
                              beam * rng.uniform(1.2, 2.0), beam * rng.uniform(0.6, 1.0), detail::pa_of(phi)});
      s.scale_flux(1.0 / s.total_flux());
      break;
    }
    default: {  // one bright source among 2-4 much fainter close neighbours
      s.components.push_back({x, y, 1.0, rng.uniform(0.0, 0.8) * beam, 0.0, 0.0});
      const int n = 2 + static_cast<int>(rng.index(3));
      for (int i = 0; i < n; ++i) {
        const double a = rng.uniform(0.0, 2.0 * std::numbers::pi), r = beam * rng.uniform(3.0, 12.0);
        s.components.push_back({x + r * std::cos(a), y + r * std::sin(a), rng.uniform(0.05, 0.2),
                                rng.uniform(0.0, 1.0) * beam, 0.0, 0.0});
      }
      s.scale_flux(1.0 / s.total_flux());
    }
  }
  return s;
}

/// MSRS classes (section 3.4): compact single islands with N peaks, faint diffuse, single-island
/// extended, multi-island extended, and pure background.
inline const std::vector<std::string>& msrs_classes() {
  static const std::vector<std::string> names{"1C-NP", "Diffuse", "Extended", "Extended-MI", "background"};
  return names;
}

}  // namespace radiossl::sim

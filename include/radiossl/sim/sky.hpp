/// @file
/// `SkyParams` and `render_sky`: a synthetic radio-continuum map (beam-convolved sources with power-law
/// fluxes, extended and diffuse morphologies, beam-correlated noise, Galactic background, imaging
/// artefacts) with its source catalogue and WCS.
///
/// Physical facts and defaults: shared/spec/data.md section 4 (SMGPS: Goedhart et al. 2024; compact and
/// extended source densities: Mutale et al. 2026, Bordiu et al. 2025; FIRST: Becker et al. 1995).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "radiossl/error.hpp"
#include "radiossl/image.hpp"
#include "radiossl/io/wcs.hpp"
#include "radiossl/sim/fft.hpp"
#include "radiossl/sim/morphology.hpp"
#include "radiossl/sim/random.hpp"

namespace radiossl::sim {

/// Relative weights of the extended-source classes placed on a survey map (need not sum to 1).
struct ClassMix {
  double fri = 1.0;           ///< FRI radio galaxies (standard, wide-angle tail, head-tail)
  double frii = 1.0;          ///< FRII radio galaxies (standard, double-double)
  double hii = 1.0;           ///< HII-region blobs
  double shell = 0.5;         ///< supernova-remnant shells
  double diffuse = 0.5;       ///< large irregular diffuse emission
  double multi_island = 0.5;  ///< multi-island sources
  [[nodiscard]] std::array<double, 6> weights() const { return {fri, frii, hii, shell, diffuse, multi_island}; }
};

/// Everything `render_sky` needs, in physical units. Defaults are an SMGPS-like Galactic-plane map;
/// `SkyParams::first()` gives a FIRST-like extragalactic one.
struct SkyParams {
  std::string survey = "smgps";         ///< name written in headers and catalogues
  std::int64_t width = 1024;            ///< map width, pixels
  std::int64_t height = 1024;           ///< map height, pixels
  double pixel_arcsec = 1.5;            ///< pixel size, arcsec
  double beam_major_arcsec = 8.0;       ///< restoring beam FWHM, major axis, arcsec
  double beam_minor_arcsec = 8.0;       ///< restoring beam FWHM, minor axis, arcsec
  double beam_pa_deg = 0.0;             ///< beam position angle, degrees east of north
  double noise_rms = 15e-6;             ///< image noise rms, Jy/beam
  double freq_hz = 1.284e9;             ///< observing frequency (FREQ axis), Hz
  double ra_deg = 266.4;                ///< map centre, degrees (ICRS)
  double dec_deg = -28.9;

  // -- source populations
  double compact_density = 1000.0;      ///< compact sources above flux_min_snr x rms, per deg^2
  double resolved_fraction = 0.1;       ///< share of compact sources that are resolved Gaussians
  double resolved_fwhm_min_beams = 0.8; ///< their intrinsic FWHM range, in beams
  double resolved_fwhm_max_beams = 2.5;
  double flux_slope = 1.8;              ///< gamma of dN/dS ~ S^-gamma (sub-Euclidean, 1.6-2.0)
  double flux_min_snr = 5.0;            ///< faintest compact source, in units of noise_rms
  double flux_max_jy = 1.0;             ///< brightest compact source, Jy
  double extended_density = 33.0;       ///< extended (> 5 beams) sources, per deg^2
  ClassMix extended_mix{1.0, 1.0, 1.5, 0.7, 0.7, 0.5};  ///< Galactic plane: rich in HII and SNRs
  double extended_size_min_arcsec = 30.0;   ///< largest angular size range of extended sources
  double extended_size_max_arcsec = 180.0;
  double extended_peak_snr_min = 8.0;   ///< peak brightness range of radio galaxies / multi-island, x rms
  double extended_peak_snr_max = 400.0;
  double diffuse_peak_snr_min = 4.0;    ///< peak brightness range of HII / shells / diffuse, x rms
  double diffuse_peak_snr_max = 60.0;

  // -- Galactic background
  double background_amplitude = 2.0e-5; ///< mean of the smooth positive background, Jy/beam (0 = none)
  double background_scale_arcsec = 240.0; ///< its correlation length (Gaussian sigma), arcsec

  // -- artefacts
  double sidelobe_strength = 0.01;      ///< ripple amplitude / peak near bright sources (0 = none)
  double sidelobe_min_snr = 300.0;      ///< sources brighter than this (x rms) get ripples
  double bowl_depth = 0.03;             ///< negative bowl depth / peak around extended sources (0 = none)
  double seam_probability = 0.5;        ///< chance that a map carries a straight mosaic seam
  double seam_step_snr = 1.0;           ///< brightness step across the seam, x rms
  double seam_noise_ratio = 1.3;        ///< noise rms ratio across the seam
  double nan_border_probability = 0.5;  ///< chance that one map edge is blanked (NaN), mosaic-style
  double nan_border_max_fraction = 0.15;///< deepest blanked border, as a share of the map side
  double edge_noise_rise = 1.6;         ///< noise multiplier next to a blanked border (primary beam)

  // -- catalogue
  double catalogue_min_snr = 5.0;       ///< catalogue sources whose peak is above this, x rms
  double bbox_fraction = 0.05;          ///< bounding box: pixels above this share of the peak
  double island_snr = 3.0;              ///< islands: connected pixels above this, x rms
  double extended_min_beams = 5.0;      ///< "extended" class threshold on the bounding box, beams (curated set)

  /// SMGPS-like: MeerKAT Galactic plane, 8" beam, 1.5"/px, 15 uJy/beam, Galactic background.
  static SkyParams smgps() { return {}; }
  /// FIRST-like: VLA B-array 1.4 GHz extragalactic, 5.4" beam, 1.8"/px, 0.15 mJy/beam, no Galactic
  /// background, radio galaxies dominate the extended population.
  static SkyParams first() {
    SkyParams p;
    p.survey = "first";
    p.pixel_arcsec = 1.8;
    p.beam_major_arcsec = 5.4;
    p.beam_minor_arcsec = 5.4;
    p.noise_rms = 0.15e-3;
    p.freq_hz = 1.4e9;
    p.ra_deg = 150.1;
    p.dec_deg = 2.2;
    p.compact_density = 100.0;
    p.extended_density = 8.0;
    p.extended_mix = {1.0, 1.2, 0.0, 0.0, 0.05, 0.5};
    p.background_amplitude = 0.0;
    p.seam_probability = 0.2;
    p.nan_border_probability = 0.2;
    return p;
  }
  /// EMU-pilot-like (ASKAP): 13" beam, 2"/px, 30 uJy/beam, extragalactic.
  static SkyParams emu() {
    SkyParams p = first();
    p.survey = "emu";
    p.pixel_arcsec = 2.0;
    p.beam_major_arcsec = 13.0;
    p.beam_minor_arcsec = 11.0;
    p.beam_pa_deg = 30.0;
    p.noise_rms = 30e-6;
    p.freq_hz = 944e6;
    p.ra_deg = 330.0;
    p.dec_deg = -52.0;
    p.compact_density = 600.0;
    p.extended_density = 20.0;
    return p;
  }
  /// VLASS-Quick-Look-like: 2.5" beam, 1"/px, 0.13 mJy/beam, extragalactic.
  static SkyParams vlass() {
    SkyParams p = first();
    p.survey = "vlass";
    p.pixel_arcsec = 1.0;
    p.beam_major_arcsec = 2.8;
    p.beam_minor_arcsec = 2.3;
    p.beam_pa_deg = 10.0;
    p.noise_rms = 0.13e-3;
    p.freq_hz = 3.0e9;
    p.compact_density = 80.0;
    return p;
  }

  /// The beam in pixels.
  [[nodiscard]] BeamPx beam_px() const {
    return {beam_major_arcsec / pixel_arcsec, beam_minor_arcsec / pixel_arcsec, beam_pa_deg};
  }
  /// The map area, deg^2.
  [[nodiscard]] double area_deg2() const {
    const double d = pixel_arcsec / 3600.0;
    return static_cast<double>(width * height) * d * d;
  }
  /// The SIN-projected WCS of the map, centred on (ra_deg, dec_deg).
  [[nodiscard]] io::WcsSpec wcs() const {
    io::WcsSpec w;
    w.projection = "SIN";
    w.crval_ra_deg = ra_deg;
    w.crval_dec_deg = dec_deg;
    w.crpix_x = static_cast<double>(width) / 2.0 + 0.5;
    w.crpix_y = static_cast<double>(height) / 2.0 + 0.5;
    w.cdelt_deg = pixel_arcsec / 3600.0;
    return w;
  }
  /// Throws radiossl::Error naming the first inconsistent parameter.
  void validate() const {
    auto need = [](bool ok, const char* what) {
      if (!ok) throw Error(std::string("SkyParams: ") + what);
    };
    need(width > 0 && height > 0, "width and height must be positive");
    need(pixel_arcsec > 0.0, "pixel_arcsec must be positive");
    need(beam_major_arcsec > 0.0 && beam_minor_arcsec > 0.0, "beam FWHM must be positive");
    need(beam_minor_arcsec <= beam_major_arcsec, "beam_minor_arcsec must not exceed beam_major_arcsec");
    need(noise_rms > 0.0, "noise_rms must be positive");
    need(compact_density >= 0.0 && extended_density >= 0.0, "densities must be non-negative");
    need(flux_slope > 1.0, "flux_slope must be above 1 (a normalisable power law)");
    need(flux_max_jy > flux_min_snr * noise_rms, "flux_max_jy must exceed flux_min_snr x noise_rms");
    need(extended_size_min_arcsec > 0.0 && extended_size_max_arcsec >= extended_size_min_arcsec,
         "extended size range must be positive and ordered");
    need(bbox_fraction > 0.0 && bbox_fraction < 1.0, "bbox_fraction must be in (0, 1)");
  }
};

/// One catalogued source of a rendered map.
struct SkyObject {
  std::int64_t id = 0;
  std::string kind;       ///< morphology class (point, resolved, fri, fri_wat, fri_ht, frii, frii_dd, ...)
  Footprint footprint;    ///< peak position and flux, bounding box, islands, peaks (map pixels)
  double ra_deg = 0, dec_deg = 0;  ///< of the peak
  bool extended = false;  ///< bounding box above extended_min_beams beams
};

/// A rendered map: pixels (Jy/beam, NaN in blanked borders), the catalogue of sources whose peak
/// exceeds catalogue_min_snr x rms, the footprints of the injected sources (in order, catalogued
/// or not) and the WCS.
struct Sky {
  Image map;
  std::vector<SkyObject> catalogue;
  std::vector<Footprint> injected;
  io::WcsSpec wcs;
  BeamPx beam;
};

namespace detail {
/// Smooth positive Galactic background: softplus of a smooth Gaussian random field, mean `amp`.
inline void add_background(Image& map, const SkyParams& p, Rng& rng) {
  if (p.background_amplitude <= 0.0) return;
  const double s = p.background_scale_arcsec / p.pixel_arcsec;
  const auto f = correlated_noise(map.height, map.width, Cov2{s * s, 0.0, s * s}, rng);
  double mean = 0.0;
  std::vector<double> b(f.size());
  for (std::size_t i = 0; i < f.size(); ++i) mean += (b[i] = std::log1p(std::exp(1.5 * f[i])));
  mean /= static_cast<double>(b.size());
  for (std::size_t i = 0; i < f.size(); ++i)
    map.pixels[i] += static_cast<float>(p.background_amplitude * b[i] / mean);
}

/// "Water ripple" sidelobes around a bright source: a damped ring pattern with six spokes (the
/// imprint of an incompletely deconvolved dirty beam), tapered away from the source itself.
inline void add_sidelobes(Image& map, double x, double y, double peak, double beam_fwhm, double strength, Rng& rng) {
  const double lambda = beam_fwhm * rng.uniform(2.0, 3.0), r0 = beam_fwhm * rng.uniform(5.0, 9.0);
  const double phase = rng.uniform(0.0, 2.0 * std::numbers::pi), spoke = rng.uniform(0.0, std::numbers::pi);
  const double rmax = 4.0 * r0;
  for (auto yy = std::max<std::int64_t>(0, static_cast<std::int64_t>(y - rmax));
       yy <= std::min<std::int64_t>(map.height - 1, static_cast<std::int64_t>(y + rmax)); ++yy)
    for (auto xx = std::max<std::int64_t>(0, static_cast<std::int64_t>(x - rmax));
         xx <= std::min<std::int64_t>(map.width - 1, static_cast<std::int64_t>(x + rmax)); ++xx) {
      const double dx = static_cast<double>(xx) - x, dy = static_cast<double>(yy) - y;
      const double r = std::hypot(dx, dy);
      if (r > rmax) continue;
      const double taper = 1.0 - std::exp(-std::pow(r / (1.5 * beam_fwhm), 2.0));
      const double ang = 0.6 + 0.4 * std::cos(6.0 * std::atan2(dy, dx) + spoke);
      map.at(yy, xx) += static_cast<float>(strength * peak * taper * ang * std::exp(-r / r0) *
                                           std::cos(2.0 * std::numbers::pi * r / lambda + phase));
    }
}

/// A negative Gaussian bowl (amplitude -depth, FWHM `fwhm` pixels): missing short spacings around
/// extended emission.
inline void add_bowl(Image& map, double x, double y, double depth, double fwhm) {
  const double s = fwhm / fwhm_per_sigma, rmax = 3.0 * s;
  for (auto yy = std::max<std::int64_t>(0, static_cast<std::int64_t>(y - rmax));
       yy <= std::min<std::int64_t>(map.height - 1, static_cast<std::int64_t>(y + rmax)); ++yy)
    for (auto xx = std::max<std::int64_t>(0, static_cast<std::int64_t>(x - rmax));
         xx <= std::min<std::int64_t>(map.width - 1, static_cast<std::int64_t>(x + rmax)); ++xx) {
      const double dx = static_cast<double>(xx) - x, dy = static_cast<double>(yy) - y;
      map.at(yy, xx) -= static_cast<float>(depth * std::exp(-0.5 * (dx * dx + dy * dy) / (s * s)));
    }
}

/// Draws one extended source of the map's mix at (x, y); its flux is scaled to a drawn peak SNR.
inline Source draw_extended(const SkyParams& p, Rng& rng, double x, double y) {
  const BeamPx beam = p.beam_px();
  const double b = beam.fwhm();
  const double size = rng.log_uniform(p.extended_size_min_arcsec, p.extended_size_max_arcsec) / p.pixel_arcsec;
  const auto k = rng.choose(p.extended_mix.weights());
  Source s;
  bool diffuse = false;
  switch (k) {
    case 0: {
      const double u = rng.uniform();
      s = make_fri(rng, x, y, size, b,
                   u < 0.6 ? FriVariant::standard : u < 0.85 ? FriVariant::wide_angle_tail : FriVariant::head_tail);
      break;
    }
    case 1:
      s = make_frii(rng, x, y, size, b, rng.bernoulli(0.15) ? FriiVariant::double_double : FriiVariant::standard);
      break;
    case 2:
      s = make_hii(rng, x, y, size);
      diffuse = true;
      break;
    case 3:
      s = make_shell(rng, x, y, size, b);
      diffuse = true;
      break;
    case 4:
      s = make_diffuse(rng, x, y, size * 1.5);
      diffuse = true;
      break;
    default:
      s = make_multi_island(rng, x, y, 2 + static_cast<int>(rng.index(3)), size, b);
  }
  const double snr = diffuse ? rng.log_uniform(p.diffuse_peak_snr_min, p.diffuse_peak_snr_max)
                             : rng.log_uniform(p.extended_peak_snr_min, p.extended_peak_snr_max);
  scale_to_peak(s, beam, snr * p.noise_rms);
  return s;
}

/// Draws one compact source (point or resolved Gaussian) with a power-law flux.
inline Source draw_compact(const SkyParams& p, Rng& rng, double x, double y) {
  const double flux = rng.power_law(p.flux_slope, p.flux_min_snr * p.noise_rms, p.flux_max_jy);
  Source s;
  if (rng.bernoulli(p.resolved_fraction)) {
    const double b = p.beam_px().fwhm();
    const double fw = b * rng.uniform(p.resolved_fwhm_min_beams, p.resolved_fwhm_max_beams);
    s = make_gaussian(x, y, fw, fw * rng.uniform(0.4, 1.0), rng.uniform(0.0, 180.0));
  } else {
    s = make_point(x, y);
  }
  s.scale_flux(flux);
  return s;
}
}  // namespace detail

/// Renders a map of `p` from `seed`. `injected` sources (e.g. the target of a labeled cut-out) are
/// rendered first, with their own class names and fluxes, then the random population.
///
/// Order of the model: sources (already beam-convolved, see morphology.hpp) + negative bowls around
/// extended ones + sidelobe ripples around bright ones + Galactic background + beam-correlated noise
/// (white noise through the beam, rescaled to noise_rms; raised across a seam and next to blanked
/// borders) + seam step + NaN borders. Deterministic: every random part has its own stream of `seed`.
inline Sky render_sky(const SkyParams& p, std::uint64_t seed, const std::vector<Source>& injected = {}) {
  p.validate();
  Sky sky;
  sky.map = Image(p.height, p.width, 0.0f);
  sky.wcs = p.wcs();
  sky.beam = p.beam_px();
  const BeamPx beam = sky.beam;
  const double rms = p.noise_rms;

  Rng counts(stream_seed(seed, 1));
  const auto n_ext = counts.poisson(p.extended_density * p.area_deg2());
  const auto n_cmp = counts.poisson(p.compact_density * p.area_deg2());
  std::vector<Source> sources = injected;
  const std::size_t n_injected = injected.size();
  for (std::int64_t i = 0; i < n_ext + n_cmp; ++i) {
    Rng r(stream_seed(seed, 2, static_cast<std::uint64_t>(i)));
    const double x = r.uniform(0.0, static_cast<double>(p.width));
    const double y = r.uniform(0.0, static_cast<double>(p.height));
    sources.push_back(i < n_ext ? detail::draw_extended(p, r, x, y) : detail::draw_compact(p, r, x, y));
  }

  const io::Wcs wcs(sky.wcs);
  Rng art(stream_seed(seed, 3));
  const double ext_px = p.extended_min_beams * beam.fwhm();
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const Source& s = sources[i];
    const Patch patch = rasterize(s, beam);
    const Footprint f = measure(patch, s.total_flux(), p.bbox_fraction, p.island_snr * rms, p.catalogue_min_snr * rms);
    add_patch(patch, sky.map);
    if (i < n_injected) sky.injected.push_back(f);
    const bool extended = static_cast<double>(std::max(f.bbox_w, f.bbox_h)) >= ext_px;
    if (extended && p.bowl_depth > 0.0)
      detail::add_bowl(sky.map, f.peak_x, f.peak_y, p.bowl_depth * f.peak_flux,
                       2.5 * static_cast<double>(std::max(f.bbox_w, f.bbox_h)));
    if (p.sidelobe_strength > 0.0 && f.peak_flux >= p.sidelobe_min_snr * rms)
      detail::add_sidelobes(sky.map, f.peak_x, f.peak_y, f.peak_flux, beam.fwhm(), p.sidelobe_strength, art);
    const bool inside = f.peak_x >= -0.5 && f.peak_y >= -0.5 && f.peak_x < static_cast<double>(p.width) - 0.5 &&
                        f.peak_y < static_cast<double>(p.height) - 0.5;
    if (f.peak_flux >= p.catalogue_min_snr * rms && inside) {
      SkyObject o;
      o.id = static_cast<std::int64_t>(sky.catalogue.size());
      o.kind = s.kind;
      o.footprint = f;
      const auto [ra, dec] = wcs.pixel_to_sky(f.peak_x, f.peak_y);
      o.ra_deg = ra;
      o.dec_deg = dec;
      o.extended = extended;
      sky.catalogue.push_back(std::move(o));
    }
  }

  Rng bg(stream_seed(seed, 4));
  detail::add_background(sky.map, p, bg);

  // Noise, with the seam and blanked-border geometry drawn first so that they modulate it.
  Rng geo(stream_seed(seed, 5));
  const double W = static_cast<double>(p.width), H = static_cast<double>(p.height);
  const bool seam = geo.bernoulli(p.seam_probability);
  const double sx = geo.uniform(0.3, 0.7) * W, sy = geo.uniform(0.3, 0.7) * H;
  const double sa = geo.uniform(0.0, std::numbers::pi);
  const bool border = geo.bernoulli(p.nan_border_probability);
  const auto edge = geo.index(4);
  const double side_len = (edge < 2) ? H : W, across_len = (edge < 2) ? W : H;
  const double d0 = geo.uniform(0.0, p.nan_border_max_fraction) * across_len;
  const double d1 = geo.uniform(0.0, p.nan_border_max_fraction) * across_len;
  Rng nr(stream_seed(seed, 6));
  const auto noise = correlated_noise(p.height, p.width, beam.cov(), nr);
  for (std::int64_t y = 0; y < p.height; ++y)
    for (std::int64_t x = 0; x < p.width; ++x) {
      double gain = 1.0, step = 0.0;
      if (seam && (static_cast<double>(x) - sx) * std::sin(sa) - (static_cast<double>(y) - sy) * std::cos(sa) > 0.0) {
        gain = p.seam_noise_ratio;
        step = p.seam_step_snr * rms;
      }
      bool blank = false;
      if (border) {
        const double along = static_cast<double>(edge < 2 ? y : x);
        const double dist = edge == 0 ? static_cast<double>(x) : edge == 1 ? W - 1.0 - static_cast<double>(x)
                            : edge == 2 ? static_cast<double>(y) : H - 1.0 - static_cast<double>(y);
        const double depth = d0 + (d1 - d0) * along / side_len;
        blank = dist < depth;
        gain *= 1.0 + (p.edge_noise_rise - 1.0) * std::exp(-(dist - depth) / (0.08 * across_len));
      }
      float& v = sky.map.at(y, x);
      v = blank ? std::numeric_limits<float>::quiet_NaN()
                : static_cast<float>(v + step + gain * rms * noise[static_cast<std::size_t>(y * p.width + x)]);
    }
  // A source whose peak fell into the blanked border is not in the survey's catalogue.
  std::erase_if(sky.catalogue, [&](const SkyObject& o) {
    const auto x = std::clamp<std::int64_t>(std::llround(o.footprint.peak_x), 0, p.width - 1);
    const auto y = std::clamp<std::int64_t>(std::llround(o.footprint.peak_y), 0, p.height - 1);
    return std::isnan(sky.map.at(y, x));
  });
  for (std::size_t i = 0; i < sky.catalogue.size(); ++i) sky.catalogue[i].id = static_cast<std::int64_t>(i);
  return sky;
}

}  // namespace radiossl::sim

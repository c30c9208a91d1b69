/// @file
/// The embedded default data: survey maps, catalogues, pretraining sets and four labeled sets standing
/// in for every dataset of the paper, written as real files (FITS, CSV, info.json, dataset.json).
///
/// Stands in for: SMGPS and ASKAP EMU pilot maps (paper section 3.2; curated set from SMGPS extended
/// sources, uncurated 256x256 windows with 50% overlap), MiraBest, RGZ DR1, MSRS and VLASS (section 3.4).
/// Example: examples/simulate_sky.cpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "radiossl/data/cutout.hpp"
#include "radiossl/error.hpp"
#include "radiossl/image.hpp"
#include "radiossl/io/catalogue.hpp"
#include "radiossl/io/fits.hpp"
#include "radiossl/sim/morphology.hpp"
#include "radiossl/sim/sky.hpp"
#include "radiossl/version.hpp"

namespace radiossl::sim {

/// How much to generate. `smoke` takes seconds (CI), `quick` under a minute on 2 cores (a meaningful
/// small benchmark), `paper` the sizes of the paper's sets.
struct DatasetPreset {
  std::string name = "quick";
  int smgps_maps = 4;                 ///< SMGPS-like maps (curated + uncurated sources)
  int emu_maps = 2;                   ///< EMU-like maps (uncurated only, as in the paper)
  std::int64_t map_size = 1024;       ///< side of each map, pixels
  double extended_enrichment = 8.0;   ///< extended-source density multiplier on the maps
  std::int64_t window = 256;          ///< uncurated window side, pixels
  double overlap = 0.5;               ///< uncurated window overlap
  std::vector<std::int64_t> mirabest_counts{100, 100};      ///< FRI, FRII
  std::int64_t mirabest_size = 150;                         ///< side, pixels
  std::int64_t rgz_per_class = 40;
  std::int64_t rgz_min_size = 32, rgz_max_size = 150;       ///< crop side bounds, pixels
  std::int64_t msrs_per_class = 40;
  std::int64_t msrs_min_size = 32, msrs_max_size = 160;
  std::int64_t vlass_per_class = 40;
  std::int64_t vlass_size = 224;
  int labeled_scale = 1;              ///< the labeled counts above, multiplied by with_labeled_scale
  std::string note;                   ///< what differs from the paper's sets

  static DatasetPreset smoke() {
    DatasetPreset p;
    p.name = "smoke";
    p.smgps_maps = 1;
    p.emu_maps = 1;
    p.map_size = 384;
    p.extended_enrichment = 40.0;
    p.mirabest_counts = {3, 3};
    p.mirabest_size = 64;
    p.rgz_per_class = 3;
    p.rgz_max_size = 64;
    p.msrs_per_class = 3;
    p.msrs_max_size = 64;
    p.vlass_per_class = 3;
    p.vlass_size = 64;
    p.note = "smoke: tiny maps (384 px) and cut-outs (MiraBest 64 px instead of 150, VLASS 64 instead of 224, "
             "RGZ/MSRS at most 64) for tests; extended sources 40x denser than SMGPS";
    return p;
  }
  static DatasetPreset quick() {
    DatasetPreset p;
    p.note = "quick: 6 maps of 1024 px; labeled sets of a few hundred images at the paper's cut-out sizes; "
             "extended sources 8x denser than SMGPS so that the curated set is not tiny";
    return p;
  }
  static DatasetPreset paper() {
    DatasetPreset p;
    p.name = "paper";
    p.smgps_maps = 16;
    p.emu_maps = 8;
    p.map_size = 4096;
    p.extended_enrichment = 2.0;
    p.mirabest_counts = {397, 435};
    p.rgz_per_class = 4500;
    p.msrs_per_class = 2310;
    p.vlass_per_class = 2900;
    p.note = "paper: labeled set sizes as in the paper (MiraBest 397/435, RGZ 27000, MSRS 11550, VLASS 14500); "
             "24 maps of 4096 px (the paper's SMGPS mosaics are far larger)";
    return p;
  }
  /// Replaces the map counts (a larger or smaller pretraining set at the preset's other settings)
  /// and says so in `note`. Throws radiossl::Error unless there is at least one SMGPS-like map:
  /// the curated set comes from them.
  DatasetPreset& with_maps(int smgps, int emu) {
    if (smgps < 1 || emu < 0)
      throw Error("map counts " + std::to_string(smgps) + " SMGPS-like, " + std::to_string(emu) +
                  " EMU-like: need at least one SMGPS-like map (the curated set comes from them) and no "
                  "negative count");
    smgps_maps = smgps;
    emu_maps = emu;
    note += "; map counts set by the user: " + std::to_string(smgps) + " SMGPS-like, " + std::to_string(emu) +
            " EMU-like";
    return *this;
  }
  /// Multiplies every labeled set's count per class by `k` and says so in `note`: larger labeled sets
  /// at the preset's other settings. Sample j of a class is the same image whatever the count, so the
  /// larger sets contain the smaller ones. Throws radiossl::Error unless k >= 1.
  DatasetPreset& with_labeled_scale(int k) {
    if (k < 1) throw Error("labeled scale " + std::to_string(k) + ": must be at least 1");
    for (auto& c : mirabest_counts) c *= k;
    rgz_per_class *= k;
    msrs_per_class *= k;
    vlass_per_class *= k;
    labeled_scale *= k;
    note += "; labeled sets " + std::to_string(k) + "x the preset's counts";
    return *this;
  }
  /// smoke, quick or paper; throws radiossl::Error naming the preset otherwise.
  static DatasetPreset from_name(const std::string& n) {
    if (n == "smoke") return smoke();
    if (n == "quick") return quick();
    if (n == "paper") return paper();
    throw Error("--preset '" + n + "': unknown preset (expected smoke, quick or paper)");
  }
};

/// One labeled cut-out in memory.
struct LabeledCutout {
  Image image;              ///< Jy/beam
  int label = 0;            ///< class index in the set's class list
  std::string variant;      ///< morphology sub-type (e.g. fri_wat, frii_dd, double, shell)
  SkyParams params;         ///< the survey style it was rendered with (width/height = cut-out size)
  Footprint target;         ///< the target source's footprint (zeros for background cut-outs)
};

/// The four labeled sets: names and class lists.
inline const std::vector<std::string>& labeled_set_names() {
  static const std::vector<std::string> n{"mirabest", "rgz", "msrs", "vlass"};
  return n;
}
inline const std::vector<std::string>& mirabest_classes() {
  static const std::vector<std::string> n{"FRI", "FRII"};
  return n;
}
/// Class names of a labeled set by name.
inline const std::vector<std::string>& classes_of(const std::string& set) {
  if (set == "mirabest") return mirabest_classes();
  if (set == "rgz") return rgz_classes();
  if (set == "msrs") return msrs_classes();
  if (set == "vlass") return vlass_classes();
  throw Error("labeled set '" + set + "': unknown (expected mirabest, rgz, msrs or vlass)");
}

namespace detail {

/// A cut-out of `p` (size already set) around `target` placed at its centre; labeled cut-outs carry
/// no mosaic seams or blanked borders (those live in the survey maps).
inline LabeledCutout render_cutout(SkyParams p, std::uint64_t seed, const Source* target, int label,
                                   std::string variant) {
  p.seam_probability = 0.0;
  p.nan_border_probability = 0.0;
  LabeledCutout c;
  std::vector<Source> injected;
  if (target) injected.push_back(*target);
  Sky sky = render_sky(p, seed, injected);
  c.image = std::move(sky.map);
  c.label = label;
  c.variant = std::move(variant);
  c.params = p;
  if (target) c.target = sky.injected.front();
  return c;
}

/// Footprint of a source alone (noise-free), with the island/peak thresholds of `p`.
inline Footprint footprint_of(const Source& s, const SkyParams& p) {
  return measure(rasterize(s, p.beam_px()), s.total_flux(), p.bbox_fraction, p.island_snr * p.noise_rms,
                 p.catalogue_min_snr * p.noise_rms);
}

/// Moves the source so that its bounding-box centre is at the centre of a w x h cut-out.
inline void centre(Source& s, const Footprint& f, std::int64_t w, std::int64_t h) {
  const double cx = static_cast<double>(f.bbox_x0) + static_cast<double>(f.bbox_w - 1) / 2.0;
  const double cy = static_cast<double>(f.bbox_y0) + static_cast<double>(f.bbox_h - 1) / 2.0;
  s.translate(static_cast<double>(w - 1) / 2.0 - cx, static_cast<double>(h - 1) / 2.0 - cy);
}
}  // namespace detail

/// MiraBest-like sample `index` of class `cls` (0 FRI, 1 FRII): a FIRST-like size x size cut-out of
/// a radio galaxy, variants in MiraBest's proportions, largest angular size log-uniform 15"-240"
/// (capped to fit), bright (peak 15-500 sigma) as the MiraBest selection is.
inline LabeledCutout make_mirabest_cutout(std::uint64_t seed, std::int64_t index, int cls, std::int64_t size) {
  Rng r(stream_seed(seed, 11, static_cast<std::uint64_t>(index), static_cast<std::uint64_t>(cls)));
  SkyParams p = SkyParams::first();
  p.width = p.height = size;
  const double b = p.beam_px().fwhm();
  const double las = std::min(r.log_uniform(30.0, 240.0) / p.pixel_arcsec, 0.8 * static_cast<double>(size));
  const double c = static_cast<double>(size - 1) / 2.0;
  Source s;
  if (cls == 0) {
    const double u = r.uniform();
    s = make_fri(r, c, c, std::max(las, 4.0 * b), b,
                 u < 0.7 ? FriVariant::standard : u < 0.88 ? FriVariant::wide_angle_tail : FriVariant::head_tail);
  } else {
    s = make_frii(r, c, c, std::max(las, 4.0 * b), b, r.bernoulli(0.12) ? FriiVariant::double_double : FriiVariant::standard);
  }
  scale_to_peak(s, p.beam_px(), r.log_uniform(15.0, 500.0) * p.noise_rms);
  detail::centre(s, detail::footprint_of(s, p), size, size);
  const std::string variant = s.kind;
  s.kind = mirabest_classes()[static_cast<std::size_t>(cls)];
  return detail::render_cutout(p, stream_seed(seed, 12, static_cast<std::uint64_t>(index), static_cast<std::uint64_t>(cls)),
                               &s, cls, variant);
}

/// RGZ-like sample: a FIRST-like configuration of class `cls` (islands and peaks checked on the
/// noise-free source at 3 and 5 sigma; redrawn until they match), cropped to 1.5x its size.
inline LabeledCutout make_rgz_cutout(std::uint64_t seed, std::int64_t index, int cls, std::int64_t min_size,
                                     std::int64_t max_size) {
  Rng r(stream_seed(seed, 21, static_cast<std::uint64_t>(index), static_cast<std::uint64_t>(cls)));
  SkyParams p = SkyParams::first();
  const double b = p.beam_px().fwhm();
  const auto [islands, peaks] = rgz_islands_peaks(cls);
  Source s;
  Footprint f;
  for (int attempt = 0; attempt < 200; ++attempt) {
    s = make_rgz(r, cls, 0.0, 0.0, b);
    scale_to_peak(s, p.beam_px(), r.log_uniform(12.0, 300.0) * p.noise_rms);
    f = detail::footprint_of(s, p);
    const auto side = static_cast<std::int64_t>(std::ceil(1.5 * static_cast<double>(std::max(f.bbox_w, f.bbox_h))));
    if (f.islands == islands && f.peaks == peaks && side <= max_size) break;
  }
  const auto side = std::clamp<std::int64_t>(
      static_cast<std::int64_t>(std::ceil(1.5 * static_cast<double>(std::max(f.bbox_w, f.bbox_h)))), min_size, max_size);
  p.width = p.height = side;
  detail::centre(s, f, side, side);
  return detail::render_cutout(p, stream_seed(seed, 22, static_cast<std::uint64_t>(index), static_cast<std::uint64_t>(cls)),
                               &s, cls, s.kind);
}

/// MSRS-like sample: a survey style drawn from SMGPS/EMU/FIRST-like (the set is multi-survey), a target
/// of class `cls` (1C-NP: one island with 1-3 peaks; Diffuse: faint HII/shell/irregular; Extended: one
/// island; Extended-MI: two or more islands; background: none), cut-out rectangular, the source's size
/// plus a margin.
inline LabeledCutout make_msrs_cutout(std::uint64_t seed, std::int64_t index, int cls, std::int64_t min_size,
                                      std::int64_t max_size) {
  Rng r(stream_seed(seed, 31, static_cast<std::uint64_t>(index), static_cast<std::uint64_t>(cls)));
  const auto style = r.index(3);
  SkyParams p = style == 0 ? SkyParams::smgps() : style == 1 ? SkyParams::emu() : SkyParams::first();
  const double b = p.beam_px().fwhm();
  const BeamPx beam = p.beam_px();
  const double maxd = static_cast<double>(max_size);
  if (cls == 4) {  // pure background: noise, the survey's faint population, no target
    p.width = min_size + r.index(max_size - min_size + 1);
    p.height = min_size + r.index(max_size - min_size + 1);
    p.compact_density = 0.0;
    p.extended_density = 0.0;
    return detail::render_cutout(p, stream_seed(seed, 32, static_cast<std::uint64_t>(index), 4), nullptr, cls,
                                 "background");
  }
  Source s;
  Footprint f;
  std::string variant;
  for (int attempt = 0; attempt < 200; ++attempt) {
    bool ok = true;
    const double size = std::min(r.log_uniform(5.0 * b, 0.7 * maxd), 0.7 * maxd);
    if (cls == 0) {
      const int n = 1 + static_cast<int>(r.index(3));
      s = n == 1 ? make_point(0, 0) : make_blend(r, 0, 0, n, b, r.uniform(1.3, 1.8));
      variant = n == 1 ? "point" : n == 2 ? "double" : "triple";
      scale_to_peak(s, beam, r.log_uniform(10.0, 200.0) * p.noise_rms);
      f = detail::footprint_of(s, p);
      ok = f.islands == 1 && f.peaks == n;
    } else if (cls == 1) {
      const auto k = r.index(3);
      s = k == 0 ? make_hii(r, 0, 0, size) : k == 1 ? make_shell(r, 0, 0, size, b) : make_diffuse(r, 0, 0, size);
      variant = s.kind;
      scale_to_peak(s, beam, r.log_uniform(4.0, 15.0) * p.noise_rms);
      f = detail::footprint_of(s, p);
    } else if (cls == 2) {
      const auto k = r.index(3);
      s = k == 0 ? make_fri(r, 0, 0, size, b, r.bernoulli(0.7) ? FriVariant::standard : FriVariant::wide_angle_tail)
          : k == 1 ? make_frii(r, 0, 0, std::min(size, 12.0 * b), b, FriiVariant::standard)
                   : make_gaussian(0, 0, std::max(size * 0.5, 3.0 * b), std::max(size * 0.2, 1.5 * b), r.uniform(0.0, 180.0));
      variant = s.kind;
      scale_to_peak(s, beam, r.log_uniform(20.0, 300.0) * p.noise_rms);
      f = detail::footprint_of(s, p);
      ok = f.islands == 1 && std::max(f.bbox_w, f.bbox_h) >= 3.0 * b;
    } else {
      const auto k = r.index(2);
      s = k == 0 ? make_frii(r, 0, 0, std::max(size, 10.0 * b), b,
                             r.bernoulli(0.2) ? FriiVariant::double_double : FriiVariant::standard)
                 : make_multi_island(r, 0, 0, 2 + static_cast<int>(r.index(3)), size, b);
      variant = s.kind;
      scale_to_peak(s, beam, r.log_uniform(10.0, 300.0) * p.noise_rms);
      f = detail::footprint_of(s, p);
      ok = f.islands >= 2;
    }
    const double extent = static_cast<double>(std::max(f.bbox_w, f.bbox_h)) * 1.2 + 2.0 * b;
    if (ok && extent <= maxd) break;
  }
  p.width = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(static_cast<double>(f.bbox_w) * 1.2 + 2.0 * b)),
                                     min_size, max_size);
  p.height = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(static_cast<double>(f.bbox_h) * 1.2 + 2.0 * b)),
                                      min_size, max_size);
  detail::centre(s, f, p.width, p.height);
  s.kind = msrs_classes()[static_cast<std::size_t>(cls)];
  return detail::render_cutout(p, stream_seed(seed, 32, static_cast<std::uint64_t>(index), static_cast<std::uint64_t>(cls)),
                               &s, cls, variant);
}

/// VLASS-like sample: a VLASS-Quick-Look-like size x size cut-out of class `cls`; "two/three close"
/// are checked to show that many peaks, "single" one.
inline LabeledCutout make_vlass_cutout(std::uint64_t seed, std::int64_t index, int cls, std::int64_t size) {
  Rng r(stream_seed(seed, 41, static_cast<std::uint64_t>(index), static_cast<std::uint64_t>(cls)));
  SkyParams p = SkyParams::vlass();
  p.width = p.height = size;
  const double b = p.beam_px().fwhm();
  const double c = static_cast<double>(size - 1) / 2.0;
  Source s;
  for (int attempt = 0; attempt < 200; ++attempt) {
    // Components a few beams across, as the extended VLASS host-matched sources are.
    s = make_vlass(r, cls, c, c, std::min(2.5 * b, static_cast<double>(size) / 20.0));
    scale_to_peak(s, p.beam_px(), r.log_uniform(cls == 4 ? 60.0 : 15.0, 600.0) * p.noise_rms);
    const Footprint f = detail::footprint_of(s, p);
    const bool fits = f.bbox_x0 >= 0 && f.bbox_y0 >= 0 && f.bbox_x0 + f.bbox_w <= size && f.bbox_y0 + f.bbox_h <= size;
    const int want = cls == 0 ? 1 : cls == 1 ? 2 : cls == 2 ? 3 : 0;
    if (fits && (want == 0 || f.peaks == want)) break;
  }
  return detail::render_cutout(p, stream_seed(seed, 42, static_cast<std::uint64_t>(index), static_cast<std::uint64_t>(cls)),
                               &s, cls, s.kind);
}

/// Sample `index` of class `cls` of a labeled set by name, at the preset's sizes.
inline LabeledCutout make_labeled_cutout(const std::string& set, const DatasetPreset& pr, std::uint64_t seed,
                                         std::int64_t index, int cls) {
  if (set == "mirabest") return make_mirabest_cutout(seed, index, cls, pr.mirabest_size);
  if (set == "rgz") return make_rgz_cutout(seed, index, cls, pr.rgz_min_size, pr.rgz_max_size);
  if (set == "msrs") return make_msrs_cutout(seed, index, cls, pr.msrs_min_size, pr.msrs_max_size);
  if (set == "vlass") return make_vlass_cutout(seed, index, cls, pr.vlass_size);
  throw Error("labeled set '" + set + "': unknown (expected mirabest, rgz, msrs or vlass)");
}

/// The parameters of a SkyParams as JSON (dataset.json records every generator parameter).
inline nlohmann::ordered_json to_json(const SkyParams& p) {
  nlohmann::ordered_json j;
  j["survey"] = p.survey;
  j["width_px"] = p.width;
  j["height_px"] = p.height;
  j["pixel_arcsec"] = p.pixel_arcsec;
  j["beam_major_arcsec"] = p.beam_major_arcsec;
  j["beam_minor_arcsec"] = p.beam_minor_arcsec;
  j["beam_pa_deg"] = p.beam_pa_deg;
  j["noise_rms_jy_per_beam"] = p.noise_rms;
  j["freq_hz"] = p.freq_hz;
  j["centre_ra_deg"] = p.ra_deg;
  j["centre_dec_deg"] = p.dec_deg;
  j["compact_density_per_deg2"] = p.compact_density;
  j["resolved_fraction"] = p.resolved_fraction;
  j["resolved_fwhm_beams"] = {p.resolved_fwhm_min_beams, p.resolved_fwhm_max_beams};
  j["flux_slope_gamma"] = p.flux_slope;
  j["flux_min_snr"] = p.flux_min_snr;
  j["flux_max_jy"] = p.flux_max_jy;
  j["extended_density_per_deg2"] = p.extended_density;
  j["extended_mix"] = {{"fri", p.extended_mix.fri}, {"frii", p.extended_mix.frii}, {"hii", p.extended_mix.hii},
                       {"shell", p.extended_mix.shell}, {"diffuse", p.extended_mix.diffuse},
                       {"multi_island", p.extended_mix.multi_island}};
  j["extended_size_arcsec"] = {p.extended_size_min_arcsec, p.extended_size_max_arcsec};
  j["extended_peak_snr"] = {p.extended_peak_snr_min, p.extended_peak_snr_max};
  j["diffuse_peak_snr"] = {p.diffuse_peak_snr_min, p.diffuse_peak_snr_max};
  j["background_amplitude_jy_per_beam"] = p.background_amplitude;
  j["background_scale_arcsec"] = p.background_scale_arcsec;
  j["sidelobe_strength"] = p.sidelobe_strength;
  j["sidelobe_min_snr"] = p.sidelobe_min_snr;
  j["bowl_depth"] = p.bowl_depth;
  j["seam_probability"] = p.seam_probability;
  j["seam_step_snr"] = p.seam_step_snr;
  j["seam_noise_ratio"] = p.seam_noise_ratio;
  j["nan_border_probability"] = p.nan_border_probability;
  j["nan_border_max_fraction"] = p.nan_border_max_fraction;
  j["edge_noise_rise"] = p.edge_noise_rise;
  j["catalogue_min_snr"] = p.catalogue_min_snr;
  j["bbox_fraction"] = p.bbox_fraction;
  j["island_snr"] = p.island_snr;
  j["extended_min_beams"] = p.extended_min_beams;
  return j;
}

/// The beam of `p` as written in FITS headers.
inline io::Beam fits_beam(const SkyParams& p) {
  return {p.beam_major_arcsec / 3600.0, p.beam_minor_arcsec / 3600.0, p.beam_pa_deg};
}

namespace detail {
/// Replaces the DATE card CFITSIO writes with a COMMENT of the same length, so that the same seed gives
/// the same bytes. The header is edited in place (80-character cards, no size change).
inline void drop_fits_date(const std::filesystem::path& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  if (!f) throw Error(path.string() + ": cannot open to normalise the DATE card");
  char card[81] = {};
  for (std::int64_t pos = 0;; pos += 80) {
    f.seekg(pos);
    if (!f.read(card, 80)) break;
    const std::string_view c(card, 80);
    if (c.substr(0, 8) == "END     ") break;
    if (c.substr(0, 9) == "DATE    =") {
      char repl[81];
      std::snprintf(repl, sizeof repl, "%-80s", "COMMENT   DATE omitted: radiossl simulate_sky output is byte-reproducible");
      f.seekp(pos);
      f.write(repl, 80);
      break;
    }
  }
}

/// Runs task(i) for i in [0, n) on `threads` threads; the first error is rethrown after all stop.
/// Output never depends on the schedule: each task writes its own files from its own seed.
inline void parallel_for(std::int64_t n, int threads, const std::function<void(std::int64_t)>& task) {
  std::atomic<std::int64_t> next{0};
  std::exception_ptr error;
  std::mutex m;
  auto work = [&] {
    for (;;) {
      const std::int64_t i = next++;
      if (i >= n) return;
      try {
        task(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(m);
        if (!error) error = std::current_exception();
        next = n;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  out << text;
  if (!out) throw Error(path.string() + ": cannot write");
}
}  // namespace detail

/// Options of `generate_dataset`.
struct GenerateOptions {
  std::filesystem::path out;                 ///< output directory (created)
  std::uint64_t seed = 0;
  DatasetPreset preset = DatasetPreset::quick();
  int threads = 1;                           ///< worker threads; the output does not depend on it
  std::function<void(const std::string&)> progress;  ///< one line per step (may be empty)
};

/// What `generate_dataset` wrote (counts; paths are relative to the output directory).
struct GenerateResult {
  std::vector<std::string> maps;
  std::int64_t curated = 0, uncurated = 0;
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> labeled;  ///< set -> count per class
};

/// Writes the whole default dataset into `opt.out`:
/// - `maps/<survey>_<k>.fits` (NAXIS 4 [N,N,1,1], SIN, Jy/beam, BMAJ/BMIN/BPA) and `maps/<survey>_<k>.csv`
///   (id, ra, dec, x, y, bbox_x0, bbox_y0, bbox_w, bbox_h, class, peak_flux, int_flux);
/// - `pretrain/curated/` (SMGPS extended sources, 2.5x bbox) and `pretrain/uncurated/` (windows),
///   each with FITS, info.json and manifest.csv, built by radiossl::data's cut-out builders;
/// - `labeled/<set>/images/*.fits`, `labeled/<set>/manifest.csv` (`path,label`) and
///   `labeled/<set>/info.json` (`target_path`, `source_type`, ...);
/// - `dataset.json` and `README.md` describing every file and the generator's parameters.
inline GenerateResult generate_dataset(const GenerateOptions& opt) {
  namespace fs = std::filesystem;
  const DatasetPreset& pr = opt.preset;
  auto say = [&](const std::string& s) {
    if (opt.progress) opt.progress(s);
  };
  std::error_code ec;
  fs::create_directories(opt.out / "maps", ec);
  if (ec) throw Error(opt.out.string() + ": cannot create the output directory (" + ec.message() + ")");
  GenerateResult res;
  nlohmann::ordered_json doc;
  doc["generator"] = "radiossl simulate_sky";
  doc["radiossl_version"] = std::to_string(RADIOSSL_VERSION_MAJOR) + "." + std::to_string(RADIOSSL_VERSION_MINOR) +
                            "." + std::to_string(RADIOSSL_VERSION_PATCH);
  doc["seed"] = opt.seed;
  doc["preset"] = pr.name;
  doc["preset_note"] = pr.note;
  doc["smgps_maps"] = pr.smgps_maps;
  doc["emu_maps"] = pr.emu_maps;
  doc["labeled_scale"] = pr.labeled_scale;
  doc["determinism"] = "same seed, preset, map counts and labeled scale give byte-identical files, whatever the "
                       "thread count";

  // ---- survey maps
  struct MapJob {
    std::string name;
    SkyParams params;
    bool curated;
  };
  std::vector<MapJob> jobs;
  for (int k = 0; k < pr.smgps_maps + pr.emu_maps; ++k) {
    const bool smgps = k < pr.smgps_maps;
    SkyParams p = smgps ? SkyParams::smgps() : SkyParams::emu();
    p.width = p.height = pr.map_size;
    p.extended_density *= pr.extended_enrichment;
    p.ra_deg += 0.5 * (smgps ? k : k - pr.smgps_maps);  // neighbouring fields along the strip
    char name[32];
    std::snprintf(name, sizeof name, "%s_%03d", p.survey.c_str(), smgps ? k : k - pr.smgps_maps);
    jobs.push_back({name, p, smgps});
  }
  say("maps: rendering " + std::to_string(jobs.size()) + " maps of " + std::to_string(pr.map_size) + " px");
  std::vector<std::vector<io::Source>> cats(jobs.size());
  detail::parallel_for(static_cast<std::int64_t>(jobs.size()), opt.threads, [&](std::int64_t k) {
    const auto& job = jobs[static_cast<std::size_t>(k)];
    const Sky sky = render_sky(job.params, stream_seed(opt.seed, 1000, static_cast<std::uint64_t>(k)));
    io::FitsWriteOptions w;
    w.wcs = sky.wcs;
    w.beam = fits_beam(job.params);
    w.radio_axes = true;
    w.freq_hz = job.params.freq_hz;
    w.history.push_back("radiossl simulate_sky: synthetic " + job.params.survey + "-like map, seed " +
                        std::to_string(opt.seed) + ", preset " + pr.name);
    w.extra_cards.emplace_back("TELESCOP", job.params.survey == "smgps" ? "MeerKAT (simulated)" : "ASKAP (simulated)");
    w.extra_cards.emplace_back("OBJECT", job.name);
    const auto fits = opt.out / "maps" / (job.name + ".fits");
    io::write_fits(fits, sky.map, w);
    detail::drop_fits_date(fits);
    std::vector<io::Source> cat;
    for (const auto& o : sky.catalogue) {
      io::Source s;
      char id[64];
      std::snprintf(id, sizeof id, "%s_%05lld", job.name.c_str(), static_cast<long long>(o.id));
      s.id = id;
      s.ra_deg = o.ra_deg;
      s.dec_deg = o.dec_deg;
      s.x = o.footprint.peak_x;
      s.y = o.footprint.peak_y;
      // The CSV's box is centred on (x, y): the half-sizes cover the measured box on both sides.
      const double hx = std::max(o.footprint.peak_x - static_cast<double>(o.footprint.bbox_x0),
                                 static_cast<double>(o.footprint.bbox_x0 + o.footprint.bbox_w - 1) - o.footprint.peak_x);
      const double hy = std::max(o.footprint.peak_y - static_cast<double>(o.footprint.bbox_y0),
                                 static_cast<double>(o.footprint.bbox_y0 + o.footprint.bbox_h - 1) - o.footprint.peak_y);
      s.bbox_w = std::ceil(2.0 * hx + 1.0);
      s.bbox_h = std::ceil(2.0 * hy + 1.0);
      s.label = o.kind;
      s.peak_flux = o.footprint.peak_flux;
      s.int_flux = o.footprint.int_flux;
      cat.push_back(std::move(s));
    }
    io::write_catalogue(opt.out / "maps" / (job.name + ".csv"), cat);
    // Only the extended sources seed the curated set (the paper uses SMGPS's extended catalogue).
    std::vector<io::Source> ext;
    for (std::size_t i = 0; i < sky.catalogue.size(); ++i)
      if (sky.catalogue[i].extended) ext.push_back(cat[i]);
    cats[static_cast<std::size_t>(k)] = std::move(ext);
  });
  nlohmann::ordered_json maps = nlohmann::ordered_json::array();
  for (const auto& job : jobs) {
    res.maps.push_back("maps/" + job.name + ".fits");
    maps.push_back({{"fits", "maps/" + job.name + ".fits"},
                    {"catalogue", "maps/" + job.name + ".csv"},
                    {"used_for", job.curated ? "curated + uncurated pretraining" : "uncurated pretraining"},
                    {"params", to_json(job.params)}});
  }
  doc["maps"] = std::move(maps);

  // ---- pretraining sets, through radiossl::data's builders (the maps are read back from disk)
  say("pretraining: cutting curated and uncurated sets");
  data::UncuratedOptions uo;
  uo.window = pr.window;
  uo.overlap = pr.overlap;
  data::CuratedOptions co;
  co.size_factor = 2.5;
  co.min_size = 16;
  std::vector<data::CutoutBuildResult> unc(jobs.size()), cur(jobs.size());
  detail::parallel_for(static_cast<std::int64_t>(jobs.size()), opt.threads, [&](std::int64_t k) {
    const auto& job = jobs[static_cast<std::size_t>(k)];
    auto map = io::read_fits(opt.out / "maps" / (job.name + ".fits"));
    map.path = "maps/" + job.name + ".fits";  // recorded relative to the dataset root
    {
      data::CutoutWriteOptions wo;
      wo.prefix = job.name;
      data::detail::CutoutWriter writer(map, opt.out / "pretrain" / "uncurated" / job.name, wo);
      const auto stats = data::for_each_uncurated(map.image, uo, std::ref(writer));
      unc[static_cast<std::size_t>(k)] = writer.finish(stats);
    }
    if (job.curated) {
      data::CutoutWriteOptions wo;
      wo.prefix = job.name;
      data::detail::CutoutWriter writer(map, opt.out / "pretrain" / "curated" / job.name, wo);
      const auto stats = data::for_each_curated(map.image, cats[static_cast<std::size_t>(k)], co, std::ref(writer));
      cur[static_cast<std::size_t>(k)] = writer.finish(stats);
    }
  });
  // One list per set over all maps, in the solo-learn form, relative to the set's folder.
  auto merge = [&](const std::vector<data::CutoutBuildResult>& parts, const fs::path& dir) {
    nlohmann::ordered_json info = nlohmann::ordered_json::object();
    std::string csv = "path,source_map\n";  // unlabeled: no label column
    std::int64_t n = 0;
    for (std::size_t k = 0; k < parts.size(); ++k)
      for (const auto& f : parts[k].files) {
        detail::drop_fits_date(f);
        const std::string rel = jobs[k].name + "/" + f.filename().string();
        info[std::to_string(n++)] = {{"target_path", rel}, {"source_map", "maps/" + jobs[k].name + ".fits"}};
        csv += rel + ",maps/" + jobs[k].name + ".fits\n";
      }
    detail::write_text(dir / "info.json", info.dump(1) + "\n");
    detail::write_text(dir / "manifest.csv", csv);
    return n;
  };
  res.uncurated = merge(unc, opt.out / "pretrain" / "uncurated");
  fs::create_directories(opt.out / "pretrain" / "curated", ec);
  res.curated = merge(cur, opt.out / "pretrain" / "curated");
  doc["pretraining"] = {
      {"curated", {{"dir", "pretrain/curated"}, {"count", res.curated},
                   {"lists", {"pretrain/curated/info.json", "pretrain/curated/manifest.csv"}},
                   {"description", "cut-outs centred on catalogued extended sources (bbox >= extended_min_beams beams) "
                                   "of the SMGPS-like maps, side 2.5x the bounding box (min 16 px), NaN filled with "
                                   "the cut-out minimum; per-map folders hold the builder's own info.json/manifest.csv"}}},
      {"uncurated", {{"dir", "pretrain/uncurated"}, {"count", res.uncurated},
                     {"lists", {"pretrain/uncurated/info.json", "pretrain/uncurated/manifest.csv"}},
                     {"description", "sliding windows " + std::to_string(pr.window) + "x" + std::to_string(pr.window) +
                                         ", overlap " + std::to_string(pr.overlap) +
                                         " over every map; windows more than half NaN skipped, NaN filled with the "
                                         "window minimum"}}}};

  // ---- labeled sets
  nlohmann::ordered_json labeled = nlohmann::ordered_json::object();
  for (const auto& set : labeled_set_names()) {
    const auto& classes = classes_of(set);
    std::vector<std::int64_t> counts;
    if (set == "mirabest") counts = pr.mirabest_counts;
    else counts.assign(classes.size(), set == "rgz" ? pr.rgz_per_class : set == "msrs" ? pr.msrs_per_class : pr.vlass_per_class);
    // Interleaved order (k-th of every class, then k+1-th): classes appear in class-list order.
    std::vector<std::pair<int, std::int64_t>> order;
    const std::int64_t most = *std::max_element(counts.begin(), counts.end());
    for (std::int64_t k = 0; k < most; ++k)
      for (std::size_t c = 0; c < classes.size(); ++c)
        if (k < counts[c]) order.emplace_back(static_cast<int>(c), k);
    say("labeled: " + set + " (" + std::to_string(order.size()) + " cut-outs)");
    const fs::path dir = opt.out / "labeled" / set;
    fs::create_directories(dir / "images", ec);
    std::vector<std::string> names(order.size()), variants(order.size());
    std::vector<std::int64_t> widths(order.size()), heights(order.size());
    std::vector<std::string> surveys(order.size());
    detail::parallel_for(static_cast<std::int64_t>(order.size()), opt.threads, [&](std::int64_t i) {
      const auto [cls, k] = order[static_cast<std::size_t>(i)];
      const LabeledCutout c = make_labeled_cutout(set, pr, opt.seed, k, cls);
      char name[96];
      std::snprintf(name, sizeof name, "images/%s_%05lld.fits", classes[static_cast<std::size_t>(cls)].c_str(),
                    static_cast<long long>(k));
      io::FitsWriteOptions w;
      io::WcsSpec wcs = c.params.wcs();
      Rng pos(stream_seed(opt.seed, 50, static_cast<std::uint64_t>(i)));
      wcs.crval_ra_deg = pos.uniform(0.0, 360.0);
      wcs.crval_dec_deg = pos.uniform(-60.0, 60.0);
      w.wcs = wcs;
      w.beam = fits_beam(c.params);
      w.radio_axes = set == "vlass";  // VLASS cut-outs come as [N,N,1,1] cubes
      w.freq_hz = c.params.freq_hz;
      w.extra_cards.emplace_back("OBJECT", classes[static_cast<std::size_t>(cls)]);
      w.history.push_back("radiossl simulate_sky: " + set + "-like cut-out, class " +
                          classes[static_cast<std::size_t>(cls)] + ", variant " + c.variant + ", " +
                          c.params.survey + "-like");
      io::write_fits(dir / name, c.image, w);
      detail::drop_fits_date(dir / name);
      names[static_cast<std::size_t>(i)] = name;
      variants[static_cast<std::size_t>(i)] = c.variant;
      widths[static_cast<std::size_t>(i)] = c.image.width;
      heights[static_cast<std::size_t>(i)] = c.image.height;
      surveys[static_cast<std::size_t>(i)] = c.params.survey;
    });
    std::string csv = "path,label\n";
    nlohmann::ordered_json info = nlohmann::ordered_json::object();
    for (std::size_t i = 0; i < order.size(); ++i) {
      const auto& cname = classes[static_cast<std::size_t>(order[i].first)];
      csv += names[i] + "," + cname + "\n";
      info[std::to_string(i)] = {{"target_path", names[i]}, {"source_type", cname}, {"variant", variants[i]},
                                 {"survey", surveys[i]}, {"width", widths[i]}, {"height", heights[i]}};
    }
    detail::write_text(dir / "manifest.csv", csv);
    detail::write_text(dir / "info.json", info.dump(1) + "\n");
    res.labeled.emplace_back(set, counts);
    nlohmann::ordered_json cj = nlohmann::ordered_json::object();
    for (std::size_t c = 0; c < classes.size(); ++c) cj[classes[c]] = counts[c];
    labeled[set] = {{"dir", "labeled/" + set}, {"manifest", "labeled/" + set + "/manifest.csv"},
                    {"info_json", "labeled/" + set + "/info.json"}, {"classes", cj}};
  }
  labeled["mirabest"]["description"] =
      "MiraBest-like: FIRST-like " + std::to_string(pr.mirabest_size) + "x" + std::to_string(pr.mirabest_size) +
      " cut-outs of FRI (standard 70%, wide-angle tail 18%, head-tail 12%) and FRII (standard 88%, double-double "
      "12%), LAS 30-240 arcsec (capped at 0.8 of the cut-out), peak 15-500 sigma";
  labeled["rgz"]["description"] =
      "RGZ-DR1-like: FIRST-like crops 1.5x the source size (" + std::to_string(pr.rgz_min_size) + "-" +
      std::to_string(pr.rgz_max_size) + " px). Class names as in the paper; the paper's 'pC-cP' is RGZ/ClaRAN's "
      "c components (islands above 3 sigma) and p peaks, so 2C-1P = one island with two peaks, 3C-2P = two islands "
      "with three peaks; checked on the noise-free source";
  labeled["msrs"]["description"] =
      "MSRS-like: multi-survey (SMGPS/EMU/FIRST-like), rectangular cut-outs of the source size plus a margin (" +
      std::to_string(pr.msrs_min_size) + "-" + std::to_string(pr.msrs_max_size) +
      " px): 1C-NP (one island, 1-3 peaks), Diffuse (HII, shells, irregular, 4-15 sigma), Extended (one island), "
      "Extended-MI (two or more islands), background (noise only)";
  labeled["vlass"]["description"] =
      "VLASS-like: Quick-Look-like (2.8x2.3 arcsec beam, 1 arcsec/px, 0.13 mJy/beam) " + std::to_string(pr.vlass_size) +
      "x" + std::to_string(pr.vlass_size) + " cut-outs as NAXIS=4 cubes: single, two close, three close, two "
      "asymmetric (core blended with a lobe), brighter than neighbours";
  doc["labeled"] = std::move(labeled);
  doc["file_formats"] = {
      {"fits", "float32, BUNIT Jy/beam, BMAJ/BMIN/BPA (deg), SIN WCS; maps and VLASS cut-outs NAXIS=4 [N,N,1,1] "
               "with FREQ and STOKES axes; CFITSIO's DATE card replaced by a COMMENT for byte reproducibility"},
      {"catalogue_csv", "id,ra,dec,x,y,bbox_x0,bbox_y0,bbox_w,bbox_h,class,peak_flux,int_flux: position at the "
                        "noise-free flux peak (0-based pixels, degrees), box centred on it covering the pixels above "
                        "bbox_fraction x peak, peak in Jy/beam, integrated flux in Jy; sources above "
                        "catalogue_min_snr only"},
      {"manifest_csv", "path,label (paths relative to the manifest's folder)"},
      {"info_json", "solo-learn-radio form: {\"0\": {\"target_path\": ..., \"source_type\": ...}}"}};
  detail::write_text(opt.out / "dataset.json", doc.dump(2) + "\n");

  std::string readme =
      "# radiossl synthetic radio sky (seed " + std::to_string(opt.seed) + ", preset " + pr.name + ")\n\n"
      "Written by `simulate_sky`; every file and generator parameter is listed in `dataset.json`.\n"
      "Same seed, preset, map counts and labeled scale give byte-identical files.\n\n" + pr.note + "\n\n"
      "- `maps/`: survey maps (FITS, NAXIS=4, SIN, Jy/beam, beam keywords) and their catalogues (CSV).\n"
      "- `pretrain/curated/`, `pretrain/uncurated/`: pretraining cut-outs (FITS) with `info.json` and `manifest.csv`.\n"
      "- `labeled/{mirabest,rgz,msrs,vlass}/`: labeled cut-outs in `images/`, `manifest.csv` (path,label), `info.json`.\n\n"
      "Counts: " + std::to_string(res.maps.size()) + " maps, " + std::to_string(res.curated) + " curated, " +
      std::to_string(res.uncurated) + " uncurated cut-outs";
  for (const auto& [set, counts] : res.labeled) {
    std::int64_t n = 0;
    for (auto c : counts) n += c;
    readme += ", " + set + " " + std::to_string(n);
  }
  readme += ".\n";
  detail::write_text(opt.out / "README.md", readme);
  say("done: " + opt.out.string());
  return res;
}

}  // namespace radiossl::sim

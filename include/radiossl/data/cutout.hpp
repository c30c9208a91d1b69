/// @file
/// The paper's pretraining sets from any FITS map: uncurated sliding windows and curated cut-outs
/// centred on catalogued sources, in memory or written as FITS files with an `info.json`.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "radiossl/error.hpp"
#include "radiossl/image.hpp"
#include "radiossl/io/catalogue.hpp"
#include "radiossl/io/fits.hpp"

namespace radiossl::data {

/// One cut-out and where it came from.
struct Cutout {
  Image image;
  /// 0-based map pixel of the cut-out's pixel (0, 0) (after clipping at the map edge).
  std::int64_t x0 = 0;
  std::int64_t y0 = 0;
  /// Catalogue id and class of the source (curated sets only).
  std::string source_id;
  std::string label;
  /// True when the curated box reached past the map edge and was cut there.
  bool clipped = false;
  /// Share of NaN pixels before they were filled.
  double nan_fraction = 0.0;
};

/// Counts over one build.
struct CutoutStats {
  std::int64_t n_windows = 0;  ///< candidates: windows, or catalogue sources
  std::int64_t n_kept = 0;
  std::int64_t n_skipped = 0;  ///< too much NaN, or (curated) entirely outside the map
  std::int64_t n_clipped = 0;  ///< curated: kept but cut at the map edge
};

/// A set of cut-outs in memory.
struct CutoutSet {
  std::vector<Cutout> cutouts;
  CutoutStats stats;
};

/// Sliding windows over a map (the paper's uncurated set).
struct UncuratedOptions {
  /// Window side in pixels.
  std::int64_t window = 256;
  /// Share of a window shared with the next one; stride = round(window x (1 - overlap)), >= 1.
  double overlap = 0.5;
  /// Windows whose NaN share is above this are skipped and counted; all-NaN windows are always
  /// skipped. The default 0.5 drops windows that are mostly outside a mosaic's coverage.
  double max_nan_fraction = 0.5;
  /// Add a last window flush with the right/bottom edge when the stride does not reach it, so
  /// that every pixel is covered. Off by default: the windows then form a plain regular grid.
  bool cover_edges = false;
};

/// Cut-outs centred on catalogued sources (the paper's curated set).
struct CuratedOptions {
  /// Side = ceil(size_factor x max(bbox_w, bbox_h)), so cut-outs vary in size with the source.
  double size_factor = 2.5;
  /// Smallest side in pixels.
  std::int64_t min_size = 1;
  /// Cut-outs whose NaN share is above this are skipped; the default keeps all but all-NaN ones.
  double max_nan_fraction = 1.0;
};

/// How a set is written to a directory.
struct CutoutWriteOptions {
  /// File names are `<prefix>_<index, 6 digits>.fits`.
  std::string prefix = "cutout";
  /// `info.json` in solo-learn-radio's form (pandas orient=index: {"0": {"target_path": ...}}).
  bool info_json = true;
  /// `manifest.csv` with `path,label,x0,y0,width,height,source_id`.
  bool csv_manifest = true;
};

/// What a build wrote.
struct CutoutBuildResult {
  CutoutStats stats;
  std::vector<std::filesystem::path> files;
  std::filesystem::path info_json;  ///< empty when not written
  std::filesystem::path manifest;   ///< empty when not written
};

/// Replaces NaN pixels with the minimum of the finite ones (over all channels), as the benchmark
/// does. Returns the number replaced; an all-NaN image is left as it is.
inline std::int64_t fill_nan_with_min(Image& image) {
  float lo = std::numeric_limits<float>::infinity();
  std::int64_t n_nan = 0;
  for (float v : image.pixels) {
    if (std::isnan(v))
      ++n_nan;
    else
      lo = std::min(lo, v);
  }
  if (n_nan == 0 || n_nan == static_cast<std::int64_t>(image.size())) return n_nan;
  for (float& v : image.pixels)
    if (std::isnan(v)) v = lo;
  return n_nan;
}

/// The pixels [x0, x0 + w) x [y0, y0 + h) of `map`, all channels; the box must lie inside.
inline Image crop(const Image& map, std::int64_t x0, std::int64_t y0, std::int64_t w,
                  std::int64_t h) {
  if (x0 < 0 || y0 < 0 || w <= 0 || h <= 0 || x0 + w > map.width || y0 + h > map.height)
    throw Error("crop: box (" + std::to_string(x0) + ", " + std::to_string(y0) + ", " +
                std::to_string(w) + " x " + std::to_string(h) + ") is not inside the " +
                std::to_string(map.width) + " x " + std::to_string(map.height) + " map");
  Image out(map.channels, h, w);
  for (std::int64_t c = 0; c < map.channels; ++c)
    for (std::int64_t y = 0; y < h; ++y) {
      const float* src = map.plane(c) + (y0 + y) * map.width + x0;
      std::copy(src, src + w, out.plane(c) + y * w);
    }
  return out;
}

/// Start positions of windows of side `window` with stride `stride` along an axis of `size`.
inline std::vector<std::int64_t> window_starts(std::int64_t size, std::int64_t window,
                                               std::int64_t stride, bool cover_edges) {
  std::vector<std::int64_t> starts;
  if (window <= 0 || stride <= 0 || size < window) return starts;
  for (std::int64_t s = 0; s + window <= size; s += stride) starts.push_back(s);
  if (cover_edges && starts.back() + window < size) starts.push_back(size - window);
  return starts;
}

/// The stride UncuratedOptions implies.
inline std::int64_t uncurated_stride(const UncuratedOptions& opt) {
  if (opt.window <= 0) throw Error("UncuratedOptions: window must be positive");
  if (!(opt.overlap >= 0.0 && opt.overlap < 1.0))
    throw Error("UncuratedOptions: overlap must be in [0, 1), got " + std::to_string(opt.overlap));
  return std::max<std::int64_t>(
      1, static_cast<std::int64_t>(std::lround(static_cast<double>(opt.window) * (1.0 - opt.overlap))));
}

namespace detail {

inline double nan_share(const Image& im) {
  if (im.empty()) return 1.0;
  std::int64_t n = 0;
  for (float v : im.pixels) n += std::isnan(v) ? 1 : 0;
  return static_cast<double>(n) / static_cast<double>(im.size());
}

/// Keeps or skips one candidate; kept cut-outs have their NaN filled.
inline bool accept(Cutout& c, double max_nan_fraction) {
  c.nan_fraction = nan_share(c.image);
  if (c.nan_fraction >= 1.0 || c.nan_fraction > max_nan_fraction) return false;
  fill_nan_with_min(c.image);
  return true;
}

}  // namespace detail

/// Calls `sink(Cutout&&)` for each kept sliding window of `map`, in row-major order of origins;
/// returns the counts. Maps smaller than one window give no windows.
inline CutoutStats for_each_uncurated(const Image& map, const UncuratedOptions& opt,
                                      const std::function<void(Cutout&&)>& sink) {
  const auto stride = uncurated_stride(opt);
  const auto xs = window_starts(map.width, opt.window, stride, opt.cover_edges);
  const auto ys = window_starts(map.height, opt.window, stride, opt.cover_edges);
  CutoutStats stats;
  for (auto y0 : ys)
    for (auto x0 : xs) {
      ++stats.n_windows;
      Cutout c;
      c.image = crop(map, x0, y0, opt.window, opt.window);
      c.x0 = x0;
      c.y0 = y0;
      if (!detail::accept(c, opt.max_nan_fraction)) {
        ++stats.n_skipped;
        continue;
      }
      ++stats.n_kept;
      sink(std::move(c));
    }
  return stats;
}

/// The uncurated set of `map` in memory.
inline CutoutSet uncurated_cutouts(const Image& map, const UncuratedOptions& opt = {}) {
  CutoutSet set;
  set.stats = for_each_uncurated(map, opt, [&](Cutout&& c) { set.cutouts.push_back(std::move(c)); });
  return set;
}

/// Calls `sink(Cutout&&)` for each kept source cut-out. A source's box of side
/// s = max(min_size, ceil(size_factor x max(bbox_w, bbox_h))) starts at ceil(x - s / 2), as
/// astropy's Cutout2D places it (nddata.utils.overlap_slices), so that its centre is within half a
/// pixel of the source's position and a tie goes the same way as in astropy; it is clipped at the
/// map edge (counted in n_clipped) and skipped when nothing of it is inside the map.
inline CutoutStats for_each_curated(const Image& map, const std::vector<io::Source>& sources,
                                    const CuratedOptions& opt,
                                    const std::function<void(Cutout&&)>& sink) {
  if (!(opt.size_factor > 0.0)) throw Error("CuratedOptions: size_factor must be positive");
  CutoutStats stats;
  for (const auto& s : sources) {
    ++stats.n_windows;
    const double extent = opt.size_factor * std::max(s.bbox_w, s.bbox_h);
    const auto side = std::max<std::int64_t>(std::max<std::int64_t>(opt.min_size, 1),
                                             static_cast<std::int64_t>(std::ceil(extent - 1e-9)));
    const double half = static_cast<double>(side) / 2.0;
    const auto bx0 = static_cast<std::int64_t>(std::ceil(s.x - half));
    const auto by0 = static_cast<std::int64_t>(std::ceil(s.y - half));
    const auto x0 = std::max<std::int64_t>(0, bx0), y0 = std::max<std::int64_t>(0, by0);
    const auto x1 = std::min<std::int64_t>(map.width, bx0 + side);
    const auto y1 = std::min<std::int64_t>(map.height, by0 + side);
    if (x1 <= x0 || y1 <= y0) {
      ++stats.n_skipped;
      continue;
    }
    Cutout c;
    c.image = crop(map, x0, y0, x1 - x0, y1 - y0);
    c.x0 = x0;
    c.y0 = y0;
    c.source_id = s.id;
    c.label = s.label;
    c.clipped = (x1 - x0) != side || (y1 - y0) != side;
    if (!detail::accept(c, opt.max_nan_fraction)) {
      ++stats.n_skipped;
      continue;
    }
    ++stats.n_kept;
    if (c.clipped) ++stats.n_clipped;
    sink(std::move(c));
  }
  return stats;
}

/// The curated set of `map` in memory.
inline CutoutSet curated_cutouts(const Image& map, const std::vector<io::Source>& sources,
                                 const CuratedOptions& opt = {}) {
  CutoutSet set;
  set.stats =
      for_each_curated(map, sources, opt, [&](Cutout&& c) { set.cutouts.push_back(std::move(c)); });
  return set;
}

namespace detail {

/// Writes cut-outs one at a time as they come, then the info.json and the manifest.
class CutoutWriter {
 public:
  CutoutWriter(const io::FitsImage& map, std::filesystem::path dir, CutoutWriteOptions opt)
      : map_(map), dir_(std::move(dir)), opt_(std::move(opt)) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) throw Error(dir_.string() + ": cannot create the output directory (" + ec.message() + ")");
  }

  void operator()(Cutout&& c) {
    char name[64];
    std::snprintf(name, sizeof name, "_%06zu.fits", result_.files.size());
    const std::string file = opt_.prefix + name;
    const auto path = dir_ / file;
    io::FitsWriteOptions w;
    if (map_.wcs.valid())
      w.wcs_object = map_.wcs.shifted(static_cast<double>(c.x0), static_cast<double>(c.y0));
    w.beam = map_.beam;
    w.bunit = map_.bunit;
    w.history.push_back("radiossl cut-out of " + map_.path.filename().string() + " HDU " +
                        std::to_string(map_.hdu) + " at x0=" + std::to_string(c.x0) +
                        " y0=" + std::to_string(c.y0));
    if (!c.source_id.empty()) w.extra_cards.emplace_back("OBJECT", c.source_id);
    io::write_fits(path, c.image, w);
    result_.files.push_back(path);

    nlohmann::ordered_json e;
    e["target_path"] = file;
    e["source_map"] = map_.path.string();
    e["x0"] = c.x0;
    e["y0"] = c.y0;
    e["width"] = c.image.width;
    e["height"] = c.image.height;
    e["nan_fraction"] = c.nan_fraction;
    if (!c.source_id.empty()) e["source_id"] = c.source_id;
    if (!c.label.empty()) e["label"] = c.label;
    if (!c.source_id.empty()) e["clipped"] = c.clipped;
    info_[std::to_string(result_.files.size() - 1)] = std::move(e);
    manifest_ += io::detail::csv_field(file) + ',' + io::detail::csv_field(c.label) + ',' +
                 std::to_string(c.x0) + ',' + std::to_string(c.y0) + ',' +
                 std::to_string(c.image.width) + ',' + std::to_string(c.image.height) + ',' +
                 io::detail::csv_field(c.source_id) + '\n';
  }

  CutoutBuildResult finish(const CutoutStats& stats) {
    result_.stats = stats;
    if (opt_.info_json) {
      result_.info_json = dir_ / "info.json";
      write_text(result_.info_json, info_.empty() ? std::string("{}") : info_.dump(1));
    }
    if (opt_.csv_manifest) {
      result_.manifest = dir_ / "manifest.csv";
      write_text(result_.manifest, "path,label,x0,y0,width,height,source_id\n" + manifest_);
    }
    return result_;
  }

 private:
  static void write_text(const std::filesystem::path& path, const std::string& text) {
    auto tmp = path;
    tmp += ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc | std::ios::binary);
      out << text << '\n';
      if (!out) throw Error(path.string() + ": write failed");
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw Error(path.string() + ": cannot move into place (" + ec.message() + ")");
  }

  const io::FitsImage& map_;
  std::filesystem::path dir_;
  CutoutWriteOptions opt_;
  CutoutBuildResult result_;
  nlohmann::ordered_json info_ = nlohmann::ordered_json::object();
  std::string manifest_;
};

}  // namespace detail

/// Reads `map_path`, cuts the uncurated set and writes each window as a FITS file (with the
/// window's WCS, the map's beam and BUNIT) into `out_dir`, plus info.json / manifest.csv.
inline CutoutBuildResult build_uncurated_set(const std::filesystem::path& map_path,
                                             const std::filesystem::path& out_dir,
                                             const UncuratedOptions& opt = {},
                                             const CutoutWriteOptions& write = {},
                                             const io::FitsReadOptions& read = {}) {
  const auto map = io::read_fits(map_path, read);
  detail::CutoutWriter writer(map, out_dir, write);
  const auto stats = for_each_uncurated(map.image, opt, std::ref(writer));
  return writer.finish(stats);
}

/// Reads `map_path` and the catalogue `catalogue_csv` (sky positions go through the map's WCS),
/// cuts the curated set and writes it like build_uncurated_set.
inline CutoutBuildResult build_curated_set(const std::filesystem::path& map_path,
                                           const std::filesystem::path& catalogue_csv,
                                           const std::filesystem::path& out_dir,
                                           const CuratedOptions& opt = {},
                                           const CutoutWriteOptions& write = {},
                                           const io::FitsReadOptions& read = {},
                                           const io::CatalogueReadOptions& cat = {}) {
  const auto map = io::read_fits(map_path, read);
  const auto sources = io::read_catalogue(catalogue_csv, &map.wcs, cat);
  detail::CutoutWriter writer(map, out_dir, write);
  const auto stats = for_each_curated(map.image, sources, opt, std::ref(writer));
  return writer.finish(stats);
}

}  // namespace radiossl::data

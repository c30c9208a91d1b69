/// @file
/// Source catalogues as CSV: positions (sky or pixel), sizes, identifiers and class labels.
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "radiossl/error.hpp"
#include "radiossl/io/wcs.hpp"

namespace radiossl::io {

/// One catalogued source. Pixel coordinates are 0-based pixel centres of the map (see Wcs), so
/// the bounding box spans [x - bbox_w/2, x + bbox_w/2] and its corner is (bbox_x0, bbox_y0).
struct Source {
  std::string id;
  double ra_deg = std::numeric_limits<double>::quiet_NaN();   ///< or GLON for galactic maps
  double dec_deg = std::numeric_limits<double>::quiet_NaN();  ///< or GLAT
  double x = 0.0;
  double y = 0.0;
  double bbox_w = 0.0;  ///< pixels
  double bbox_h = 0.0;  ///< pixels
  std::string label;    ///< class label; empty when unlabelled
  double peak_flux = std::numeric_limits<double>::quiet_NaN();
  double int_flux = std::numeric_limits<double>::quiet_NaN();

  [[nodiscard]] double bbox_x0() const { return x - bbox_w / 2.0; }
  [[nodiscard]] double bbox_y0() const { return y - bbox_h / 2.0; }
};

/// Where a source's position comes from when a catalogue has both kinds of columns.
enum class PositionSource { automatic, sky, pixel };

/// How to read a catalogue.
struct CatalogueReadOptions {
  /// `automatic`: pixel columns when present, else sky columns through the WCS.
  PositionSource positions = PositionSource::automatic;
};

namespace detail {

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

inline std::string strip(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

/// Splits one CSV line; double quotes protect commas, and "" inside quotes is a quote.
inline std::vector<std::string> split_csv(std::string_view line) {
  std::vector<std::string> fields;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(strip(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  fields.push_back(strip(cur));
  return fields;
}

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

/// Shortest text that reads back to the same double; empty for NaN (an unknown value).
inline std::string csv_number(double v) {
  if (std::isnan(v)) return {};
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace detail

/// Reads a CSV catalogue with a header row. Column names are case-insensitive:
/// - position: `x`,`y` (0-based pixels; aliases `x_pix`,`y_pix`), or `ra`,`dec` in degrees
///   (aliases `ra_deg`,`dec_deg`, `glon`,`glat`), converted through `wcs` (required then);
/// - size: `bbox_w`,`bbox_h` in pixels (aliases `width`,`height`), or `size_arcsec` /
///   `major_arcsec` / `maj_arcsec` (a square box of that side, through the WCS's pixel scale);
///   if only `bbox_x0`,`bbox_y0` + size are given, the centre is the middle of the box;
/// - optional: `id` (`name`, `source_id`; default: the row number), `class` or `label`,
///   `peak_flux`, `int_flux`.
/// Blank lines and lines starting with `#` are skipped. A bad row throws `radiossl::Error` naming
/// the file, the line and the problem.
inline std::vector<Source> read_catalogue(const std::filesystem::path& path,
                                          const Wcs* wcs = nullptr,
                                          const CatalogueReadOptions& opt = {}) {
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot open the catalogue");
  std::string line;
  std::size_t lineno = 0;
  std::vector<std::string> header;
  while (std::getline(in, line)) {
    ++lineno;
    const auto s = detail::strip(line);
    if (s.empty() || s[0] == '#') continue;
    header = detail::split_csv(s);
    break;
  }
  if (header.empty()) throw Error(path.string() + ": empty catalogue (no header row)");
  std::map<std::string, std::size_t> col;
  for (std::size_t i = 0; i < header.size(); ++i) col.emplace(detail::lower(header[i]), i);
  auto find = [&](std::initializer_list<const char*> names) -> std::optional<std::size_t> {
    for (const char* n : names)
      if (auto it = col.find(n); it != col.end()) return it->second;
    return std::nullopt;
  };
  const auto cx = find({"x", "x_pix"}), cy = find({"y", "y_pix"});
  const auto cra = find({"ra", "ra_deg", "glon"}), cdec = find({"dec", "dec_deg", "glat"});
  const auto cw = find({"bbox_w", "width"}), ch = find({"bbox_h", "height"});
  const auto cx0 = find({"bbox_x0"}), cy0 = find({"bbox_y0"});
  const auto csize = find({"size_arcsec", "major_arcsec", "maj_arcsec"});
  const auto cid = find({"id", "name", "source_id"});
  const auto clabel = find({"class", "label"});
  const auto cpeak = find({"peak_flux"}), cint = find({"int_flux"});

  const std::string where = path.string() + ":" + std::to_string(lineno);
  const bool has_pixel = cx && cy;
  const bool has_box_corner = cx0 && cy0 && cw && ch;
  const bool has_sky = cra && cdec;
  bool use_pixel = false;
  switch (opt.positions) {
    case PositionSource::pixel:
      if (!has_pixel && !has_box_corner)
        throw Error(where + ": pixel positions asked for but no x,y (or bbox_x0,bbox_y0) columns");
      use_pixel = true;
      break;
    case PositionSource::sky:
      if (!has_sky) throw Error(where + ": sky positions asked for but no ra,dec columns");
      break;
    case PositionSource::automatic:
      if (!has_pixel && !has_box_corner && !has_sky)
        throw Error(where + ": no position columns (need x,y or ra,dec)");
      use_pixel = has_pixel || (!has_sky && has_box_corner);
      break;
  }
  if (!(cw && ch) && !csize)
    throw Error(where + ": no size columns (need bbox_w,bbox_h or size_arcsec)");
  const bool needs_wcs = !use_pixel || !(cw && ch);
  if (needs_wcs && (wcs == nullptr || !wcs->valid()))
    throw Error(where + ": sky positions or sizes in arcsec need the map's WCS, and there is none");

  std::vector<Source> out;
  while (std::getline(in, line)) {
    ++lineno;
    const auto s = detail::strip(line);
    if (s.empty() || s[0] == '#') continue;
    const auto f = detail::split_csv(s);
    const std::string at = path.string() + ":" + std::to_string(lineno);
    if (f.size() != header.size())
      throw Error(at + ": " + std::to_string(f.size()) + " fields, the header has " +
                  std::to_string(header.size()));
    auto num = [&](std::size_t c, bool required) -> double {
      const std::string& t = f[c];
      if (t.empty()) {
        if (required) throw Error(at + ": empty value in column '" + header[c] + "'");
        return std::numeric_limits<double>::quiet_NaN();
      }
      double v = 0.0;
      // from_chars takes no leading '+', which declinations ("+12.5") often carry.
      const char* begin = t.data() + (t.size() > 1 && t[0] == '+' && t[1] != '-' && t[1] != '+' ? 1 : 0);
      const auto r = std::from_chars(begin, t.data() + t.size(), v);
      if (r.ec != std::errc() || r.ptr != t.data() + t.size() || !std::isfinite(v))
        throw Error(at + ": column '" + header[c] + "': '" + t + "' is not a finite number");
      return v;
    };
    Source src;
    src.id = cid ? f[*cid] : std::to_string(out.size());
    if (clabel) src.label = f[*clabel];
    if (cpeak) src.peak_flux = num(*cpeak, false);
    if (cint) src.int_flux = num(*cint, false);
    if (has_sky) {
      src.ra_deg = num(*cra, !use_pixel);
      src.dec_deg = num(*cdec, !use_pixel);
    }
    if (cw && ch) {
      src.bbox_w = num(*cw, true);
      src.bbox_h = num(*ch, true);
    } else {
      const double side = num(*csize, true) / 3600.0 / wcs->pixel_scale_deg();
      src.bbox_w = src.bbox_h = side;
    }
    if (src.bbox_w <= 0.0 || src.bbox_h <= 0.0)
      throw Error(at + ": source size must be positive");
    if (use_pixel) {
      if (has_pixel) {
        src.x = num(*cx, true);
        src.y = num(*cy, true);
      } else {
        src.x = num(*cx0, true) + src.bbox_w / 2.0;
        src.y = num(*cy0, true) + src.bbox_h / 2.0;
      }
    } else {
      const auto [px, py] = wcs->sky_to_pixel(src.ra_deg, src.dec_deg);
      if (!std::isfinite(px) || !std::isfinite(py))
        throw Error(at + ": position (" + f[*cra] + ", " + f[*cdec] +
                    ") is outside the map's projection");
      src.x = px;
      src.y = py;
    }
    out.push_back(std::move(src));
  }
  return out;
}

/// Writes a catalogue readable by read_catalogue, with the columns
/// `id,ra,dec,x,y,bbox_x0,bbox_y0,bbox_w,bbox_h,class,peak_flux,int_flux`
/// (unknown values as empty fields; numbers in their shortest exact form).
inline void write_catalogue(const std::filesystem::path& path, const std::vector<Source>& sources) {
  namespace fs = std::filesystem;
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) throw Error(path.string() + ": cannot write the catalogue");
    out << "id,ra,dec,x,y,bbox_x0,bbox_y0,bbox_w,bbox_h,class,peak_flux,int_flux\n";
    using detail::csv_number;
    for (const auto& s : sources)
      out << detail::csv_field(s.id) << ',' << csv_number(s.ra_deg) << ',' << csv_number(s.dec_deg)
          << ',' << csv_number(s.x) << ',' << csv_number(s.y) << ',' << csv_number(s.bbox_x0())
          << ',' << csv_number(s.bbox_y0()) << ',' << csv_number(s.bbox_w) << ','
          << csv_number(s.bbox_h) << ',' << detail::csv_field(s.label) << ','
          << csv_number(s.peak_flux) << ',' << csv_number(s.int_flux) << '\n';
    if (!out) throw Error(path.string() + ": write failed");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw Error(path.string() + ": cannot move the catalogue into place (" + ec.message() + ")");
}

}  // namespace radiossl::io

/// @file
/// `Wcs`: the celestial world coordinate system of a 2-D map, through WCSLIB.
#pragma once

#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <wcslib/wcs.h>
#include <wcslib/wcsfix.h>
#include <wcslib/wcshdr.h>
#include <wcslib/wcsutil.h>

#include "radiossl/error.hpp"

namespace radiossl::io {

/// A simple celestial WCS, enough to describe a synthetic or resampled map.
///
/// Example: `WcsSpec{.projection = "TAN", .crval_ra_deg = 150, .crval_dec_deg = 2,
///                   .crpix_x = 129, .crpix_y = 129, .cdelt_deg = 1.8 / 3600}`
struct WcsSpec {
  /// Three-letter WCSLIB projection code: SIN (interferometers), TAN, CAR, ARC, ...
  std::string projection = "SIN";
  /// Reference point, degrees (galactic longitude/latitude when `galactic`).
  double crval_ra_deg = 0.0;
  double crval_dec_deg = 0.0;
  /// Reference pixel in the FITS convention: 1-based, so the centre of the first pixel is 1.0.
  double crpix_x = 1.0;
  double crpix_y = 1.0;
  /// Pixel size in degrees (positive); longitude increases to the left (CDELT1 = -cdelt_deg), as
  /// on the sky seen from inside.
  double cdelt_deg = 1.0 / 3600.0;
  /// GLON/GLAT instead of RA/DEC (ICRS).
  bool galactic = false;
};

/// The celestial part of a FITS WCS: a longitude/latitude pair on the first two image axes.
///
/// Built from a FITS header with WCSLIB's `wcspih` (lenient: every WCSLIB relaxation is on, so
/// legacy `EPOCH`, `CROTA2`, AIPS `-NCP` and malformed `DATE-OBS` are accepted and then repaired by
/// `wcsfix`), then reduced to the celestial axes with `wcssub`, so extra axis keywords (`CTYPE3 =
/// 'FREQ'` on a 2-D image, 4-D radio headers) never get in the way. A header without a celestial
/// WCS gives an invalid `Wcs` (`valid() == false`, `problem()` says why), not an error: plenty of
/// usable images have no WCS.
///
/// **Pixel coordinates are 0-based** throughout radiossl: pixel (0, 0) is the centre of the first
/// pixel, i.e. FITS pixel (1, 1), and `x` runs along NAXIS1 (Image columns), `y` along NAXIS2
/// (Image rows). This matches astropy's `wcs.all_world2pix(..., 0)`.
///
/// Note: once built, the WCSLIB struct is fully set (`wcsset`) and never modified, so const methods
/// may be called from several threads at once (the loader's workers).
class Wcs {
 public:
  /// An invalid WCS (no celestial coordinates).
  Wcs() = default;

  /// A WCS from the simple description `spec`; throws `radiossl::Error` if WCSLIB refuses it
  /// (e.g. an unknown projection code).
  explicit Wcs(const WcsSpec& spec) {
    const char* lon = spec.galactic ? "GLON" : "RA";
    const char* lat = spec.galactic ? "GLAT" : "DEC";
    std::string cards;
    cards += card("WCSAXES", "2");
    cards += card("CTYPE1", quoted(axis_type(lon, spec.projection)));
    cards += card("CTYPE2", quoted(axis_type(lat, spec.projection)));
    cards += card("CRVAL1", number(spec.crval_ra_deg));
    cards += card("CRVAL2", number(spec.crval_dec_deg));
    cards += card("CRPIX1", number(spec.crpix_x));
    cards += card("CRPIX2", number(spec.crpix_y));
    cards += card("CDELT1", number(-spec.cdelt_deg));
    cards += card("CDELT2", number(spec.cdelt_deg));
    cards += card("CUNIT1", "'deg'");
    cards += card("CUNIT2", "'deg'");
    if (!spec.galactic) cards += card("RADESYS", "'ICRS'");
    *this = from_header(cards);
    if (!valid())
      throw Error("WcsSpec (projection '" + spec.projection + "'): " + problem_);
  }

  /// Parses a FITS header given as concatenated 80-character cards (what CFITSIO's
  /// `fits_hdr2str` returns). `x_axis` and `y_axis` are the 1-based FITS axes the image's columns
  /// and rows run along (2 and 3 for a [1, W, H] image). Never throws for a missing or broken
  /// WCS: the result is then invalid and `problem()` says why.
  static Wcs from_header(std::string_view cards, int x_axis = 1, int y_axis = 2) {
    Wcs out;
    std::string buffer(cards);  // wcspih takes a non-const char*
    const int nkeys = static_cast<int>(buffer.size() / 80);
    int nreject = 0, nwcs = 0;
    wcsprm* all = nullptr;
    const int st = wcspih(buffer.data(), nkeys, WCSHDR_all, 0, &nreject, &nwcs, &all);
    // Own the array at once so that every return path frees it.
    auto free_all = [&] {
      if (all) wcsvfree(&nwcs, &all);
    };
    if (st != 0 || nwcs == 0 || all == nullptr) {
      out.problem_ = st != 0 ? std::string("WCSLIB could not parse the header: ") + wcshdr_errmsg[st]
                             : "no WCS keywords in the header";
      free_all();
      return out;
    }
    wcsprm* primary = &all[0];
    for (int i = 0; i < nwcs; ++i)
      if (all[i].alt[0] == ' ' || all[i].alt[0] == '\0') {
        primary = &all[i];
        break;
      }
    // Repair legacy forms (dates, units, CD with missing diagonal, AIPS conventions); each fixer
    // reports its own failure in `stat` and a failed fix is not fatal.
    int stat[NWCSFIX];
    wcsfix(1, nullptr, primary, stat);

    // Which axes are celestial? They must be the two image axes for pixel (x, y) to mean anything.
    int nsub = 2;
    int axes[2] = {WCSSUB_LONGITUDE, WCSSUB_LATITUDE};
    Ptr probe = make_empty();
    int sst = wcssub(1, primary, &nsub, axes, probe.get());
    if (sst != 0 || nsub != 2) {
      out.problem_ = "no celestial longitude/latitude axis pair in the WCS";
      free_all();
      return out;
    }
    const bool on_image = (axes[0] == x_axis && axes[1] == y_axis) || (axes[0] == y_axis && axes[1] == x_axis);
    if (!on_image) {
      out.problem_ = "the celestial axes are WCS axes " + std::to_string(axes[0]) + " and " +
                     std::to_string(axes[1]) + ", not the image axes " + std::to_string(x_axis) + " and " +
                     std::to_string(y_axis);
      free_all();
      return out;
    }
    // Keep pixel axis order (x, then y); lng/lat tell which world axis is which.
    nsub = 2;
    int image_axes[2] = {x_axis, y_axis};
    Ptr sub = make_empty();
    sst = wcssub(1, primary, &nsub, image_axes, sub.get());
    free_all();
    if (sst != 0) {
      out.problem_ = std::string("wcssub failed: ") + wcs_errmsg[sst];
      return out;
    }
    const int set = wcsset(sub.get());
    if (set != 0) {
      out.problem_ = std::string("WCSLIB rejected the WCS: ") + wcs_errmsg[set];
      return out;
    }
    out.wcs_ = std::move(sub);
    out.problem_.clear();
    return out;
  }

  Wcs(const Wcs& other) : problem_(other.problem_) {
    if (other.wcs_) wcs_ = copy_of(other.wcs_.get());
  }
  Wcs& operator=(const Wcs& other) {
    if (this != &other) {
      Wcs tmp(other);
      *this = std::move(tmp);
    }
    return *this;
  }
  Wcs(Wcs&&) noexcept = default;
  Wcs& operator=(Wcs&&) noexcept = default;
  ~Wcs() = default;

  /// True when the header held a usable celestial WCS.
  [[nodiscard]] bool valid() const { return wcs_ != nullptr; }
  /// Why the WCS is invalid (empty when valid).
  [[nodiscard]] const std::string& problem() const { return problem_; }
  /// True when the celestial frame is galactic (GLON/GLAT).
  [[nodiscard]] bool galactic() const {
    require_valid("galactic");
    return std::string_view(wcs_->ctype[wcs_->lng]).substr(0, 4) == "GLON";
  }

  /// World (longitude, latitude) in degrees of the 0-based pixel (x, y); NaN where the pixel is
  /// outside the projection (e.g. beyond the limb of a SIN map).
  [[nodiscard]] std::pair<double, double> pixel_to_sky(double x, double y) const {
    require_valid("pixel_to_sky");
    double pix[2] = {x + 1.0, y + 1.0};
    double img[2], phi, theta, world[2];
    int stat = 0;
    if (wcsp2s(wcs_.get(), 1, 2, pix, img, &phi, &theta, world, &stat) != 0) return nan_pair();
    return {world[wcs_->lng], world[wcs_->lat]};
  }

  /// 0-based pixel (x, y) of the world position (longitude, latitude) in degrees; NaN when the
  /// position is not on the projection (e.g. the far side of a SIN map).
  [[nodiscard]] std::pair<double, double> sky_to_pixel(double lon_deg, double lat_deg) const {
    require_valid("sky_to_pixel");
    double world[2];
    world[wcs_->lng] = lon_deg;
    world[wcs_->lat] = lat_deg;
    double img[2], phi, theta, pix[2];
    int stat = 0;
    if (wcss2p(wcs_.get(), 1, 2, world, &phi, &theta, img, pix, &stat) != 0) return nan_pair();
    return {pix[0] - 1.0, pix[1] - 1.0};
  }

  /// Pixel size in degrees at the reference point: sqrt(|det CD|) of the linear transformation
  /// (CDELT x PC, CD or CROTA, whichever the header used).
  [[nodiscard]] double pixel_scale_deg() const {
    require_valid("pixel_scale_deg");
    // After wcsset, CD and CROTA forms have been folded into PC with CDELT, so the pixel-to-
    // intermediate matrix is always diag(CDELT) x PC.
    const double* pc = wcs_->pc;
    const double* d = wcs_->cdelt;
    const double det = (d[0] * pc[0]) * (d[1] * pc[3]) - (d[0] * pc[1]) * (d[1] * pc[2]);
    return std::sqrt(std::fabs(det));
  }

  /// Reference pixel (1-based FITS convention), (CRPIX1, CRPIX2).
  [[nodiscard]] std::pair<double, double> crpix() const {
    require_valid("crpix");
    return {wcs_->crpix[0], wcs_->crpix[1]};
  }

  /// The WCS of a cut-out whose pixel (0, 0) is pixel (x0, y0) of this map: CRPIX shifted.
  [[nodiscard]] Wcs shifted(double x0, double y0) const {
    require_valid("shifted");
    Wcs out;
    out.problem_.clear();
    out.wcs_ = copy_of(wcs_.get());
    out.wcs_->crpix[0] -= x0;
    out.wcs_->crpix[1] -= y0;
    out.wcs_->flag = 0;  // force wcsset to recompute
    if (const int st = wcsset(out.wcs_.get()); st != 0)
      throw Error(std::string("Wcs::shifted: ") + wcs_errmsg[st]);
    return out;
  }

  /// The WCS as 80-character FITS header cards (WCSLIB's `wcshdo`), starting with WCSAXES.
  [[nodiscard]] std::vector<std::string> header_cards() const {
    require_valid("header_cards");
    int nkeys = 0;
    char* text = nullptr;
    const int st = wcshdo(WCSHDO_safe, wcs_.get(), &nkeys, &text);
    std::vector<std::string> cards;
    if (st == 0 && text)
      for (int i = 0; i < nkeys; ++i) cards.emplace_back(text + 80 * i, 80);
    if (text) wcsdealloc(text);
    if (st != 0) throw Error(std::string("Wcs::header_cards: ") + wcshdr_errmsg[st]);
    return cards;
  }

 private:
  struct Deleter {
    void operator()(wcsprm* w) const noexcept {
      wcsfree(w);
      delete w;
    }
  };
  using Ptr = std::unique_ptr<wcsprm, Deleter>;

  static Ptr make_empty() {
    Ptr p(new wcsprm{});
    p->flag = -1;  // tells WCSLIB the struct is uninitialised, so it allocates rather than frees
    return p;
  }
  static Ptr copy_of(const wcsprm* src) {
    Ptr p = make_empty();
    if (const int st = wcssub(1, src, nullptr, nullptr, p.get()); st != 0)
      throw Error(std::string("Wcs copy: ") + wcs_errmsg[st]);
    if (const int st = wcsset(p.get()); st != 0)
      throw Error(std::string("Wcs copy: ") + wcs_errmsg[st]);
    return p;
  }
  void require_valid(const char* what) const {
    if (!wcs_)
      throw Error(std::string("Wcs::") + what + ": no celestial WCS" +
                  (problem_.empty() ? "" : " (" + problem_ + ")"));
  }
  static std::pair<double, double> nan_pair() {
    const double n = std::numeric_limits<double>::quiet_NaN();
    return {n, n};
  }
  static std::string axis_type(std::string name, const std::string& proj) {
    while (name.size() < 5) name += '-';
    return name + proj;
  }
  static std::string quoted(const std::string& s) {
    std::string q(1, '\'');
    q.append(s);
    q.push_back('\'');
    return q;
  }
  static std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17G", v);
    return buf;
  }
  static std::string card(const std::string& key, const std::string& value) {
    char buf[81];
    std::snprintf(buf, sizeof buf, "%-8.8s= %-70.70s", key.c_str(), value.c_str());
    return std::string(buf, 80);
  }

  Ptr wcs_;
  std::string problem_ = "no WCS";
};

}  // namespace radiossl::io

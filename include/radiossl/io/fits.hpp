/// @file
/// Reading and writing FITS images (CFITSIO), with BUNIT, the restoring beam and the WCS.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <unistd.h>

#include <fitsio.h>

#include "radiossl/error.hpp"
#include "radiossl/image.hpp"
#include "radiossl/io/plain_fits.hpp"
#include "radiossl/io/wcs.hpp"

namespace radiossl::io {

/// Restoring beam: FWHM axes in degrees, position angle in degrees east of north.
struct Beam {
  double bmaj_deg = 0.0;
  double bmin_deg = 0.0;
  double bpa_deg = 0.0;
};

/// Which image to read from a FITS file.
struct FitsReadOptions {
  /// HDU index, **0-based** as in astropy (0 = primary). Default: the first HDU holding an image
  /// with NAXIS >= 2 (tile-compressed images count, so a `.fits.fz` is found in HDU 1).
  std::optional<int> hdu;
  /// Or the HDU whose EXTNAME is this (CFITSIO's comparison, case-insensitive).
  std::optional<std::string> extname;
  /// Plane of a cube: counts the 2-D planes in file order over the axes beyond the image's two
  /// (for [W, H, NFREQ, 1] it is the channel). Required when such an axis has a size above 1.
  /// Size-1 axes are squeezed first, wherever they are: [1, W, H] is a W x H image.
  std::optional<std::int64_t> plane;
  /// Treat exact zeros as blank (NaN): some surveys fill the area outside coverage with 0.
  bool zero_is_blank = false;
};

/// An image and the metadata radiossl uses.
struct FitsImage {
  /// Pixels as float32, one channel. Row y / column x is FITS pixel (x + 1, y + 1), no flip:
  /// the same layout as astropy's `fits.getdata(...)[y, x]`.
  Image image;
  /// BUNIT as written (empty when absent); metadata only, never used to scale.
  std::string bunit;
  /// From BMAJ/BMIN/BPA, else the last AIPS `HISTORY ... CLEAN BMAJ= ... BMIN= ... BPA=` card.
  std::optional<Beam> beam;
  /// Celestial WCS; `wcs.valid()` is false when the header has none.
  Wcs wcs;
  std::filesystem::path path;
  /// The HDU read, 0-based.
  int hdu = 0;
};

/// How to write an image.
struct FitsWriteOptions {
  /// WCS from a simple description (synthetic maps).
  std::optional<WcsSpec> wcs;
  /// Beam written as BMAJ/BMIN/BPA.
  std::optional<Beam> beam;
  std::string bunit = "Jy/beam";
  /// Write NAXIS = 4, [W, H, 1, 1], with FREQ and STOKES axes, as CASA/AIPS/WSClean maps are.
  bool radio_axes = false;
  /// CRVAL3 of the FREQ axis when `radio_axes`.
  double freq_hz = 1.4e9;
  /// HISTORY cards.
  std::vector<std::string> history;
  /// Further cards (KEY, VALUE). The value is written as a logical for `T`/`F`, as an integer or
  /// a real number when it parses as one entirely, else as a string.
  std::vector<std::pair<std::string, std::string>> extra_cards;
  /// An existing WCS (e.g. a map's WCS shifted for a cut-out); used when `wcs` is empty.
  std::optional<Wcs> wcs_object;
};

namespace detail {

/// Closes a CFITSIO file handle; the status of a close after an error is of no interest.
struct FitsCloser {
  void operator()(fitsfile* f) const noexcept {
    int status = 0;
    fits_close_file(f, &status);
  }
};
using FitsPtr = std::unique_ptr<fitsfile, FitsCloser>;

/// CFITSIO's text for `status` plus the first message of its error stack, on one line.
inline std::string cfitsio_message(int status) {
  char text[FLEN_STATUS] = {};
  fits_get_errstatus(status, text);
  std::string msg = text;
  char stack[FLEN_ERRMSG] = {};
  std::string first;
  while (fits_read_errmsg(stack) != 0)
    if (first.empty() && stack[0] != '\0') first = stack;
  for (auto& c : first)
    if (c == '\n' || c == '\r') c = ' ';
  while (!first.empty() && first.back() == ' ') first.pop_back();
  if (!first.empty() && first != msg) msg += " (" + first + ")";
  return msg + " [CFITSIO status " + std::to_string(status) + "]";
}

/// Throws `radiossl::Error` naming the file, what was being done and CFITSIO's message.
inline void check(int status, const std::filesystem::path& path, std::string_view doing) {
  if (status == 0) return;
  if (status == END_OF_FILE || status == READ_ERROR)
    throw Error(path.string() + ": truncated: the file ends before the data its header declares (" +
                std::string(doing) + ": " + cfitsio_message(status) + ")");
  throw Error(path.string() + ": " + std::string(doing) + ": " + cfitsio_message(status));
}

inline std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t'");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t'");
  return s.substr(b, e - b + 1);
}

/// Opens for reading after checks that give clear messages for the common bad inputs.
inline FitsPtr open_for_read(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (!fs::exists(st)) throw Error(path.string() + ": no such file");
  if (fs::is_directory(st)) throw Error(path.string() + ": is a directory, not a FITS file");
  if (!fs::is_regular_file(st)) throw Error(path.string() + ": not a regular file");
  const auto size = fs::file_size(path, ec);
  if (ec) throw Error(path.string() + ": cannot read the file size (" + ec.message() + ")");
  if (size == 0) throw Error(path.string() + ": empty file (0 bytes), not FITS");
  std::array<char, 10> head{};
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string() + ": cannot open for reading");
    in.read(head.data(), head.size());
  }
  const bool gzip = static_cast<unsigned char>(head[0]) == 0x1f &&
                    static_cast<unsigned char>(head[1]) == 0x8b;
  if (!gzip) {
    if (std::string_view(head.data(), 6) != "SIMPLE")
      throw Error(path.string() + ": not a FITS file (it does not start with a SIMPLE card)");
    if (size < 2880)
      throw Error(path.string() + ": truncated: " + std::to_string(size) +
                  " bytes, shorter than one 2880-byte FITS header block");
  }
  fitsfile* raw = nullptr;
  int status = 0;
  // The disk-file variant takes the name literally: '[' or '(' in a path are not filters.
  fits_open_diskfile(&raw, path.c_str(), READONLY, &status);
  FitsPtr f(raw);
  check(status, path, "opening");
  return f;
}

enum class HduKind { image, empty, table, groups };

/// What the current HDU holds; for images, also BITPIX and the axis sizes.
inline HduKind classify_hdu(fitsfile* f, const std::filesystem::path& path, int& bitpix,
                            std::vector<long long>& naxes) {
  int status = 0, type = 0;
  fits_get_hdu_type(f, &type, &status);
  check(status, path, "reading the HDU type");
  if (type != IMAGE_HDU) return HduKind::table;
  int hdunum = 0;
  fits_get_hdu_num(f, &hdunum);
  if (hdunum == 1) {
    int groups = 0;
    fits_read_key(f, TLOGICAL, "GROUPS", &groups, nullptr, &status);
    if (status == 0 && groups) return HduKind::groups;
    status = 0;
    fits_clear_errmsg();
  }
  constexpr int max_axes = 9;
  int naxis = 0;
  LONGLONG dims[max_axes] = {};
  fits_get_img_paramll(f, max_axes, &bitpix, &naxis, dims, &status);
  check(status, path, "reading the image size");
  if (naxis > max_axes)
    throw Error(path.string() + ": HDU " + std::to_string(hdunum - 1) + " has " +
                std::to_string(naxis) + " axes; at most " + std::to_string(max_axes) +
                " are supported");
  naxes.assign(dims, dims + naxis);
  if (naxis < 2) return HduKind::empty;
  for (auto d : naxes)
    if (d <= 0) return HduKind::empty;
  return HduKind::image;
}

inline std::string groups_message(const std::filesystem::path& path) {
  return path.string() +
         ": HDU 0 holds random-groups visibility data (GROUPS = T, UV-FITS), not an image";
}

/// Moves to the HDU to read and returns its 0-based index; throws when it holds no image.
inline int select_hdu(fitsfile* f, const std::filesystem::path& path, const FitsReadOptions& opt,
                      int& bitpix, std::vector<long long>& naxes) {
  auto describe_refusal = [&](HduKind kind, int index) -> std::string {
    const std::string where = path.string() + ": HDU " + std::to_string(index);
    switch (kind) {
      case HduKind::groups: return groups_message(path);
      case HduKind::table: return where + " is a table, not an image";
      case HduKind::empty:
        return where + " has no image data (NAXIS = " + std::to_string(naxes.size()) +
               (naxes.size() >= 2 ? ", an axis of size 0" : "") + ")";
      case HduKind::image: break;
    }
    return {};
  };
  int status = 0;
  if (opt.extname) {
    fits_movnam_hdu(f, ANY_HDU, const_cast<char*>(opt.extname->c_str()), 0, &status);
    if (status == BAD_HDU_NUM)
      throw Error(path.string() + ": no HDU with EXTNAME '" + *opt.extname + "'");
    check(status, path, "moving to EXTNAME '" + *opt.extname + "'");
    int hdunum = 0;
    fits_get_hdu_num(f, &hdunum);
    const auto kind = classify_hdu(f, path, bitpix, naxes);
    if (kind != HduKind::image) throw Error(describe_refusal(kind, hdunum - 1));
    return hdunum - 1;
  }
  if (opt.hdu) {
    const int index = *opt.hdu;
    if (index < 0) throw Error(path.string() + ": HDU index " + std::to_string(index) + " < 0");
    fits_movabs_hdu(f, index + 1, nullptr, &status);
    if (status != 0) {
      int count = 0, st2 = 0;
      fits_clear_errmsg();
      fits_get_num_hdus(f, &count, &st2);
      throw Error(path.string() + ": no HDU " + std::to_string(index) + " (the file has " +
                  std::to_string(count) + " HDU" + (count == 1 ? "" : "s") + ", 0-based)");
    }
    const auto kind = classify_hdu(f, path, bitpix, naxes);
    if (kind != HduKind::image) throw Error(describe_refusal(kind, index));
    return index;
  }
  // Default: the first HDU with image data. The scan stops quietly at the first block that is not
  // an HDU (some files carry trailing junk after their last HDU).
  int n_tables = 0, n_empty = 0, n_hdus = 0;
  bool groups = false;
  for (int i = 1;; ++i) {
    status = 0;
    fits_movabs_hdu(f, i, nullptr, &status);
    if (status != 0) {
      if (i == 1) check(status, path, "reading the primary header");
      fits_clear_errmsg();
      break;
    }
    ++n_hdus;
    const auto kind = classify_hdu(f, path, bitpix, naxes);
    if (kind == HduKind::image) return i - 1;
    if (kind == HduKind::groups) groups = true;
    if (kind == HduKind::table) ++n_tables;
    if (kind == HduKind::empty) ++n_empty;
  }
  if (groups) throw Error(groups_message(path));
  throw Error(path.string() + ": no image data in any of its " + std::to_string(n_hdus) + " HDU" +
              (n_hdus == 1 ? "" : "s") + " (" + std::to_string(n_tables) + " table" +
              (n_tables == 1 ? "" : "s") + ", " + std::to_string(n_empty) +
              " without image data)");
}

/// The beam from the last AIPS `HISTORY ... CLEAN BMAJ= x BMIN= y BPA= z` card (degrees).
inline std::optional<Beam> beam_from_history(std::string_view cards) {
  std::optional<Beam> found;
  auto value_after = [](std::string_view card, std::string_view key) -> std::optional<double> {
    const auto at = card.find(key);
    if (at == std::string_view::npos) return std::nullopt;
    std::string rest(card.substr(at + key.size()));
    const char* b = rest.c_str();
    char* e = nullptr;
    const double v = std::strtod(b, &e);
    if (e == b) return std::nullopt;
    return v;
  };
  for (std::size_t i = 0; i + 80 <= cards.size(); i += 80) {
    const auto card = cards.substr(i, 80);
    if (card.substr(0, 7) != "HISTORY") continue;
    if (card.find("CLEAN") == std::string_view::npos) continue;
    const auto bmaj = value_after(card, "BMAJ=");
    const auto bmin = value_after(card, "BMIN=");
    if (!bmaj || !bmin) continue;
    found = Beam{*bmaj, *bmin, value_after(card, "BPA=").value_or(0.0)};
  }
  return found;
}

/// The beam from BMAJ/BMIN/BPA keywords (degrees), if BMAJ is present.
inline std::optional<Beam> beam_from_keywords(fitsfile* f) {
  int status = 0;
  double bmaj = 0.0;
  fits_read_key(f, TDOUBLE, "BMAJ", &bmaj, nullptr, &status);
  if (status != 0) {
    fits_clear_errmsg();
    return std::nullopt;
  }
  double bmin = bmaj, bpa = 0.0;
  fits_read_key(f, TDOUBLE, "BMIN", &bmin, nullptr, &status);
  if (status != 0) bmin = bmaj;
  status = 0;
  fits_read_key(f, TDOUBLE, "BPA", &bpa, nullptr, &status);
  if (status != 0) bpa = 0.0;
  fits_clear_errmsg();
  return Beam{bmaj, bmin, bpa};
}

/// A FITS card value for `fits_write_key`, typed as described in FitsWriteOptions::extra_cards.
inline void write_typed_key(fitsfile* f, const std::string& key, const std::string& value,
                            int& status) {
  char* k = const_cast<char*>(key.c_str());
  if (value == "T" || value == "F") {
    int b = value == "T";
    fits_write_key(f, TLOGICAL, k, &b, nullptr, &status);
    return;
  }
  const char* first = value.data();
  const char* last = value.data() + value.size();
  long long i = 0;
  if (auto r = std::from_chars(first, last, i); r.ec == std::errc() && r.ptr == last) {
    fits_write_key(f, TLONGLONG, k, &i, nullptr, &status);
    return;
  }
  double d = 0.0;
  if (auto r = std::from_chars(first, last, d); r.ec == std::errc() && r.ptr == last) {
    fits_write_key(f, TDOUBLE, k, &d, nullptr, &status);
    return;
  }
  fits_write_key(f, TSTRING, k, const_cast<char*>(value.c_str()), nullptr, &status);
}

/// Whether the current HDU stores its pixels as they are read: BSCALE and BZERO absent, or 1
/// and 0. Anything else, an unreadable value included, is left to CFITSIO.
inline bool unscaled(fitsfile* f) {
  auto key_is = [f](const char* key, double expected) {
    double value = expected;
    int status = 0;
    fits_read_key(f, TDOUBLE, key, &value, nullptr, &status);
    if (status == KEY_NO_EXIST) {
      fits_clear_errmsg();
      return true;
    }
    if (status != 0) fits_clear_errmsg();
    return status == 0 && value == expected;
  };
  return key_is("BSCALE", 1.0) && key_is("BZERO", 0.0);
}

/// `out` with BUNIT, the beam and the WCS of the current HDU of `f`, whose image axes are `shape`'s.
inline FitsImage with_header_metadata(fitsfile* f, const std::filesystem::path& path, const PlaneShape& shape,
                                      FitsImage out) {
  int status = 0;
  char bunit[FLEN_VALUE] = {};
  fits_read_key(f, TSTRING, "BUNIT", bunit, nullptr, &status);
  if (status == 0) out.bunit = detail::trim(bunit);
  status = 0;
  fits_clear_errmsg();

  // The header as the image's own (a compressed image's table keywords translated back).
  char* header = nullptr;
  int nkeys = 0;
  fits_convert_hdr2str(f, 0, nullptr, 0, &header, &nkeys, &status);
  std::unique_ptr<char, void (*)(char*)> header_guard(header, [](char* p) {
    int st = 0;
    if (p) fits_free_memory(p, &st);
  });
  detail::check(status, path, "reading the header of HDU " + std::to_string(out.hdu));
  const std::string_view cards(header, static_cast<std::size_t>(nkeys) * 80);
  out.beam = detail::beam_from_keywords(f);
  if (!out.beam) out.beam = detail::beam_from_history(cards);
  out.wcs = Wcs::from_header(cards, shape.x_axis, shape.y_axis);
  return out;
}

/// read_fits, with the header's metadata (BUNIT, beam, WCS) only when `with_metadata`: the
/// loaders need pixels only, and converting the header and parsing its WCS is per-image work.
inline FitsImage read_fits_hdu(const std::filesystem::path& path, const FitsReadOptions& opt, bool with_metadata) {
  if (!with_metadata && !opt.extname && opt.hdu.value_or(0) == 0) {
    if (auto image = read_plain_primary(path, opt.plane, opt.zero_is_blank)) {
      FitsImage out;
      out.image = std::move(*image);
      out.path = path;
      return out;
    }
  }
  auto f = detail::open_for_read(path);
  int bitpix = 0;
  std::vector<long long> naxes;
  FitsImage out;
  out.path = path;
  out.hdu = detail::select_hdu(f.get(), path, opt, bitpix, naxes);
  const std::string where = path.string() + ": HDU " + std::to_string(out.hdu);

  const auto shape = plane_shape(naxes);
  const long long width = shape.width, height = shape.height, planes = shape.planes;
  std::int64_t plane = 0;
  if (opt.plane) {
    plane = *opt.plane;
    if (plane < 0 || plane >= planes)
      throw Error(where + ": plane " + std::to_string(plane) + " out of range (the image has " +
                  std::to_string(planes) + " plane" + (planes == 1 ? "" : "s") + ")");
  } else if (planes > 1) {
    const int first_big_axis = shape.plane_axes.front();
    char ctype[FLEN_VALUE] = {};
    int st = 0;
    const std::string key = "CTYPE" + std::to_string(first_big_axis);
    fits_read_key(f.get(), TSTRING, key.c_str(), ctype, nullptr, &st);
    fits_clear_errmsg();
    throw Error(where + ": non-degenerate axis " + std::to_string(first_big_axis) +
                (st == 0 ? " (" + detail::trim(ctype) + ")" : std::string()) + " of size " +
                std::to_string(naxes[first_big_axis - 1]) + " (" + std::to_string(planes) +
                " planes in all); choose one with FitsReadOptions::plane (bench_grid: fits_plane; embed: --plane)");
  }

  // An uncompressed HDU must hold all its declared data; say "truncated" before CFITSIO's
  // end-of-file error in the middle of a read. Only in a plain file: the offsets of a gzip'd one
  // are in the unpacked stream, longer than the file.
  int status = 0;
  const bool compressed = fits_is_compressed_image(f.get(), &status) != 0;
  const ReadFd raw(path);  // also the direct pixel read below
  const bool plain = raw.fd >= 0 && starts_plain(raw.fd);
  LONGLONG datastart = -1;
  if (!compressed && plain) {
    LONGLONG headstart = 0, dataend = 0;
    fits_get_hduaddrll(f.get(), &headstart, &datastart, &dataend, &status);
    std::error_code ec;
    const auto size = static_cast<long long>(std::filesystem::file_size(path, ec));
    const long long bytes = width * height * planes * (std::abs(bitpix) / 8);
    if (status == 0 && !ec && datastart + bytes > size)
      throw Error(path.string() + ": truncated: HDU " + std::to_string(out.hdu) + " declares " +
                  std::to_string(bytes) + " bytes of data but the file ends " +
                  std::to_string(datastart + bytes - size) + " bytes short");
    if (status != 0) datastart = -1;  // no address: read through CFITSIO, which says why
  }
  status = 0;

  out.image = Image(height, width);
  const auto plane_pixels = static_cast<std::size_t>(width * height);
  if (datastart >= 0 && detail::unscaled(f.get()) &&
      read_ieee_block(raw.fd, datastart + plane * width * height * (std::abs(bitpix) / 8), bitpix, plane_pixels,
                      out.image.pixels.data())) {
    if (opt.zero_is_blank) blank_zeros(out.image.pixels.data(), plane_pixels);
    if (!with_metadata) return out;
    return with_header_metadata(f.get(), path, shape, std::move(out));
  }
  // Read straight into the float pixels, in row blocks so that a failure names the block's HDU.
  // CFITSIO applies BSCALE/BZERO in double before rounding to float, and maps BLANK (and NaN)
  // to the NaN null value, so this equals reading doubles and converting, without the buffer.
  const long long rows_per_block = std::max<long long>(1, (1 << 20) / width);
  // The first pixel of a block as FITS coordinates over all the HDU's axes, squeezed ones included.
  std::vector<LONGLONG> fpixel(naxes.size(), 1);
  auto set_fpixel = [&](long long linear) {
    for (std::size_t a = 0; a < naxes.size(); ++a) {
      fpixel[a] = 1 + linear % naxes[a];
      linear /= naxes[a];
    }
  };
  float nulval = std::numeric_limits<float>::quiet_NaN();
  // Uncompressed IEEE floats need no null check (a NaN is copied as NaN, and they have no BLANK):
  // without it CFITSIO copies the block straight, which was 28% of a cut-out's read. Integers
  // (BLANK) and tile-compressed images (ZBLANK, quantised NaN) keep it.
  float* const null_value = (bitpix < 0 && !compressed) ? nullptr : &nulval;
  // Doubles are read as doubles and cast here: CFITSIO 4.6 (Debian 13) stops with NUM_OVERFLOW at a
  // double beyond float's range, infinities included, when it converts to float itself; 4.2 and the
  // direct read above give +-inf, and so does the cast.
  std::vector<double> doubles;
  double null_double = std::numeric_limits<double>::quiet_NaN();
  for (long long row = 0; row < height; row += rows_per_block) {
    const long long rows = std::min(rows_per_block, height - row);
    set_fpixel((plane * height + row) * width);
    int anynul = 0;
    float* dst = out.image.pixels.data() + row * width;
    if (bitpix == DOUBLE_IMG) {
      doubles.resize(static_cast<std::size_t>(rows * width));
      fits_read_pixll(f.get(), TDOUBLE, fpixel.data(), rows * width, null_value ? &null_double : nullptr,
                      doubles.data(), &anynul, &status);
      std::transform(doubles.begin(), doubles.end(), dst, [](double v) { return static_cast<float>(v); });
    } else {
      fits_read_pixll(f.get(), TFLOAT, fpixel.data(), rows * width, null_value, dst, &anynul, &status);
    }
    detail::check(status, path, "reading pixels of HDU " + std::to_string(out.hdu));
    if (opt.zero_is_blank) blank_zeros(dst, static_cast<std::size_t>(rows * width));
  }
  if (!with_metadata) return out;
  return with_header_metadata(f.get(), path, shape, std::move(out));
}

}  // namespace detail

/// Reads one image and its metadata.
///
/// Handles BITPIX 8/16/32/64/-32/-64, BSCALE/BZERO (applied in double, then cast to float32),
/// BLANK (raw value, before scaling) and NaN as blank pixels, size-1 axes (squeezed, also among the
/// first two: numpy's (H, W, 1) written as [1, W, H] reads as W x H), cubes through `opt.plane`,
/// images in extensions and tile-compressed `.fits.fz`.
/// Throws `radiossl::Error` with a one-line message naming the file for a missing, empty,
/// truncated or non-FITS file, tables, random-groups visibilities, and cubes without `plane`.
/// Note: fpack'ed floats are quantised by default, so they read back close but not bit-exact.
/// Safe to call from several threads at once: each call has its own CFITSIO handle (Debian's
/// CFITSIO is built reentrant) and WCSLIB's header parser is reentrant.
inline FitsImage read_fits(const std::filesystem::path& path, const FitsReadOptions& opt = {}) {
  return detail::read_fits_hdu(path, opt, /*with_metadata=*/true);
}

/// Pixels only (see read_fits), with the same checks and errors, without parsing the header's
/// BUNIT, beam and WCS: what the loaders need, per image, many times per second.
inline Image read_fits_image(const std::filesystem::path& path, const FitsReadOptions& opt = {}) {
  return detail::read_fits_hdu(path, opt, /*with_metadata=*/false).image;
}

/// Writes `image` as float32 (NAXIS 2, or 3 for several channels, or 4 with `radio_axes`), with
/// WCS, beam, BUNIT and HISTORY. The file appears atomically: it is written under a temporary
/// name in the same directory and renamed, so a reader never sees half a file. The result passes
/// `fitsverify`.
inline void write_fits(const std::filesystem::path& path, const Image& image,
                       const FitsWriteOptions& opt = {}) {
  namespace fs = std::filesystem;
  if (image.empty() || image.width <= 0 || image.height <= 0 || image.channels <= 0)
    throw Error(path.string() + ": cannot write an empty image");
  if (image.size() != static_cast<std::size_t>(image.channels * image.height * image.width))
    throw Error(path.string() + ": image pixel count does not match its shape");
  if (opt.radio_axes && image.channels != 1)
    throw Error(path.string() + ": radio_axes needs a one-channel image (got " +
                std::to_string(image.channels) + " channels)");

  static std::atomic<unsigned> counter{0};
  fs::path tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  std::error_code ec;
  fs::remove(tmp, ec);
  struct TmpGuard {
    fs::path p;
    bool keep = false;
    ~TmpGuard() {
      std::error_code e;
      if (!keep) fs::remove(p, e);
    }
  } guard{tmp};

  fitsfile* raw = nullptr;
  int status = 0;
  fits_create_diskfile(&raw, tmp.c_str(), &status);
  detail::FitsPtr f(raw);
  detail::check(status, path, "creating");

  std::vector<LONGLONG> naxes = {image.width, image.height};
  if (opt.radio_axes) {
    naxes.push_back(1);
    naxes.push_back(1);
  } else if (image.channels > 1) {
    naxes.push_back(image.channels);
  }
  fits_create_imgll(f.get(), FLOAT_IMG, static_cast<int>(naxes.size()), naxes.data(), &status);
  detail::check(status, path, "creating the image HDU");

  std::optional<Wcs> wcs;
  if (opt.wcs)
    wcs.emplace(*opt.wcs);
  else if (opt.wcs_object && opt.wcs_object->valid())
    wcs = opt.wcs_object;
  if (wcs) {
    // WCSLIB writes WCSAXES = 2; a radio header describes four axes, so WCSAXES goes first.
    if (opt.radio_axes) {
      int four = 4;
      fits_write_key(f.get(), TINT, "WCSAXES", &four, "Number of coordinate axes", &status);
    }
    for (const auto& card : wcs->header_cards()) {
      if (card.rfind("WCSAXES", 0) == 0 && opt.radio_axes) continue;
      // wcshdo closes with a blank card and a COMMENT naming WCSLIB: noise in a cut-out header.
      if (card.find_first_not_of(' ') == std::string::npos || card.rfind("COMMENT", 0) == 0)
        continue;
      fits_write_record(f.get(), card.c_str(), &status);
    }
  }
  if (opt.radio_axes) {
    double crpix = 1.0, freq = opt.freq_hz, dfreq = 1.0e6, one = 1.0;
    fits_write_key(f.get(), TSTRING, "CTYPE3", const_cast<char*>("FREQ"), nullptr, &status);
    fits_write_key(f.get(), TDOUBLE, "CRPIX3", &crpix, nullptr, &status);
    fits_write_key(f.get(), TDOUBLE, "CRVAL3", &freq, nullptr, &status);
    fits_write_key(f.get(), TDOUBLE, "CDELT3", &dfreq, nullptr, &status);
    fits_write_key(f.get(), TSTRING, "CUNIT3", const_cast<char*>("Hz"), nullptr, &status);
    fits_write_key(f.get(), TSTRING, "CTYPE4", const_cast<char*>("STOKES"), nullptr, &status);
    fits_write_key(f.get(), TDOUBLE, "CRPIX4", &crpix, nullptr, &status);
    fits_write_key(f.get(), TDOUBLE, "CRVAL4", &one, nullptr, &status);
    fits_write_key(f.get(), TDOUBLE, "CDELT4", &one, nullptr, &status);
  }
  if (!opt.bunit.empty())
    fits_write_key(f.get(), TSTRING, "BUNIT", const_cast<char*>(opt.bunit.c_str()),
                   "Brightness unit", &status);
  if (opt.beam) {
    double bmaj = opt.beam->bmaj_deg, bmin = opt.beam->bmin_deg, bpa = opt.beam->bpa_deg;
    fits_write_key(f.get(), TDOUBLE, "BMAJ", &bmaj, "Beam major axis FWHM [deg]", &status);
    fits_write_key(f.get(), TDOUBLE, "BMIN", &bmin, "Beam minor axis FWHM [deg]", &status);
    fits_write_key(f.get(), TDOUBLE, "BPA", &bpa, "Beam position angle [deg]", &status);
  }
  for (const auto& [key, value] : opt.extra_cards) detail::write_typed_key(f.get(), key, value, status);
  for (const auto& h : opt.history) fits_write_history(f.get(), h.c_str(), &status);
  fits_write_date(f.get(), &status);
  detail::check(status, path, "writing the header");

  fits_write_img(f.get(), TFLOAT, 1, static_cast<LONGLONG>(image.size()),
                 const_cast<float*>(image.pixels.data()), &status);
  detail::check(status, path, "writing pixels");
  fits_close_file(f.release(), &status);
  detail::check(status, path, "closing");

  fs::rename(tmp, path, ec);
  if (ec) throw Error(path.string() + ": cannot move the written file into place (" + ec.message() + ")");
  guard.keep = true;
}

}  // namespace radiossl::io

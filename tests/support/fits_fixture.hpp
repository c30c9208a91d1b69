/// @file
/// Test helpers for FITS: a temporary directory and writers of raw FITS files through CFITSIO,
/// so that tests can build every case (each BITPIX, BLANK, scaling, cubes, extensions, tables,
/// random groups) byte for byte instead of relying on radiossl's own writer.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <stdlib.h>
#include <sys/wait.h>

#include "radiossl/io/fits.hpp"  // brings CFITSIO's fitsio.h

namespace radiossl::test {

/// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "radiossl-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// One HDU to write with raw CFITSIO calls.
struct RawHdu {
  enum class Kind { image, table, groups };
  Kind kind = Kind::image;
  int bitpix = -32;
  /// Axis sizes (NAXIS1 first); empty for a data-less primary.
  std::vector<long long> naxes;
  /// Stored values in file order, written without any scaling (BSCALE/BZERO only as keywords).
  std::vector<double> raw;
  std::optional<double> bscale, bzero;
  std::optional<long long> blank;
  std::string extname;
  std::vector<std::pair<std::string, std::string>> string_cards;
  std::vector<std::pair<std::string, double>> number_cards;
  std::vector<std::string> history;
};

inline void fits_ok(int status, const std::string& what) {
  if (status != 0) {
    char text[FLEN_STATUS];
    fits_get_errstatus(status, text);
    throw std::runtime_error("fixture: " + what + ": " + text);
  }
}

/// Writes `hdus` (the first one is the primary) to `path`, replacing it.
inline void write_raw_fits(const std::filesystem::path& path, const std::vector<RawHdu>& hdus) {
  std::filesystem::remove(path);
  fitsfile* f = nullptr;
  int status = 0;
  fits_create_diskfile(&f, path.c_str(), &status);
  fits_ok(status, "create " + path.string());
  for (std::size_t i = 0; i < hdus.size(); ++i) {
    const auto& h = hdus[i];
    if (h.kind == RawHdu::Kind::table) {
      if (i == 0) fits_create_img(f, 8, 0, nullptr, &status);
      char name[] = "FLUX", form[] = "1E", unit[] = "Jy";
      char* ttype[] = {name};
      char* tform[] = {form};
      char* tunit[] = {unit};
      fits_create_tbl(f, BINARY_TBL, 3, 1, ttype, tform, tunit,
                      h.extname.empty() ? nullptr : h.extname.c_str(), &status);
      float vals[3] = {1.0f, 2.0f, 3.0f};
      fits_write_col(f, TFLOAT, 1, 1, 1, 3, vals, &status);
      fits_ok(status, "table");
      continue;
    }
    std::vector<LONGLONG> ax(h.naxes.begin(), h.naxes.end());
    if (h.kind == RawHdu::Kind::groups) {
      std::vector<long> axl(h.naxes.begin(), h.naxes.end());
      fits_write_grphdr(f, 1, h.bitpix, static_cast<int>(axl.size()), axl.data(), 2, 3, 1, &status);
    } else {
      fits_create_imgll(f, h.bitpix, static_cast<int>(ax.size()), ax.data(), &status);
    }
    fits_ok(status, "create image HDU");
    if (!h.extname.empty())
      fits_write_key(f, TSTRING, "EXTNAME", const_cast<char*>(h.extname.c_str()), nullptr, &status);
    if (h.bscale) {
      double v = *h.bscale;
      fits_write_key(f, TDOUBLE, "BSCALE", &v, nullptr, &status);
    }
    if (h.bzero) {
      double v = *h.bzero;
      fits_write_key(f, TDOUBLE, "BZERO", &v, nullptr, &status);
    }
    if (h.blank) {
      LONGLONG v = *h.blank;
      fits_write_key(f, TLONGLONG, "BLANK", &v, nullptr, &status);
    }
    for (const auto& [k, v] : h.string_cards)
      fits_write_key(f, TSTRING, k.c_str(), const_cast<char*>(v.c_str()), nullptr, &status);
    for (const auto& [k, v] : h.number_cards) {
      double d = v;
      fits_write_key(f, TDOUBLE, k.c_str(), &d, nullptr, &status);
    }
    for (const auto& text : h.history) fits_write_history(f, text.c_str(), &status);
    fits_ok(status, "keywords");
    // Store the raw numbers: no scaling on the way in, and no null substitution.
    if (!h.raw.empty() && h.kind == RawHdu::Kind::image) {
      fits_set_bscale(f, 1.0, 0.0, &status);  // (CFITSIO crashes on it for a data-less HDU)
      std::vector<double> copy = h.raw;
      fits_write_img(f, TDOUBLE, 1, static_cast<LONGLONG>(copy.size()), copy.data(), &status);
    }
    fits_ok(status, "pixels");
  }
  fits_close_file(f, &status);
  fits_ok(status, "close");
}

/// One 2-D image HDU of `w` x `h` raw values.
inline RawHdu raw_image(int bitpix, long long w, long long h, std::vector<double> raw) {
  RawHdu hdu;
  hdu.bitpix = bitpix;
  hdu.naxes = {w, h};
  hdu.raw = std::move(raw);
  return hdu;
}

/// Runs a shell command, capturing stdout and stderr into files; returns the exit status.
struct CommandResult {
  int status = -1;
  std::string out;
  std::string err;
};
inline CommandResult run_command(const std::string& command, const std::filesystem::path& dir) {
  const auto out = dir / "cmd.stdout";
  const auto err = dir / "cmd.stderr";
  const std::string full = command + " >'" + out.string() + "' 2>'" + err.string() + "'";
  const int rc = std::system(full.c_str());
  CommandResult r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : 1000 + rc;
  auto slurp = [](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

/// Shell-quotes a path.
inline std::string quote(const std::filesystem::path& p) {
  // Built by appends: g++ 12 -O3 warns falsely (stringop-overflow) on "'" + string + "'".
  std::string s(1, '\'');
  s.append(p.string());
  s.push_back('\'');
  return s;
}

}  // namespace radiossl::test

// radiossl: no-torch
/// @file
/// `fits_inspect FILE [--hdu N]`: one JSON object with the shape, blank count, statistics, BUNIT
/// and beam of a FITS image; on bad input, one line on stderr and a non-zero exit.
///
/// Output: {"shape":[height,width],"nan_count":n,"min":x,"max":x,"mean":x,"sum":x,
///          "bunit":"...","beam_deg":[bmaj,bmin,bpa] or null}
/// The shape is [NAXIS2, NAXIS1] once size-1 axes are squeezed ([1, W, H] gives [H, W]).
/// Statistics are over the finite pixels, summed in double. `--hdu` is 0-based (0 = primary).
/// Exit codes: 0 success, 1 unreadable or unusable file, 2 bad command line.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "radiossl/io/fits.hpp"

namespace {

/// One line, whatever the message holds.
std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

int usage(const std::string& problem) {
  std::cerr << "fits_inspect: " << problem << " (usage: fits_inspect FILE [--hdu N])\n";
  return 2;
}

int run(int argc, char** argv) {
  std::string file;
  radiossl::io::FitsReadOptions opt;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--hdu") {
      if (i + 1 >= argc) return usage("--hdu needs a number");
      const std::string v = argv[++i];
      std::size_t used = 0;
      int n = 0;
      try {
        n = std::stoi(v, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != v.size() || n < 0) return usage("--hdu: '" + v + "' is not an HDU index >= 0");
      opt.hdu = n;
    } else if (!arg.empty() && arg[0] == '-' && arg != "-") {
      return usage("unknown option '" + arg + "'");
    } else if (file.empty()) {
      file = arg;
    } else {
      return usage("more than one FILE given");
    }
  }
  if (file.empty()) return usage("no FILE given");

  const auto fits = radiossl::io::read_fits(file, opt);
  const auto& im = fits.image;
  std::int64_t nan_count = 0, finite = 0;
  double sum = 0.0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (float v : im.pixels) {
    if (!std::isfinite(v)) {
      ++nan_count;
      continue;
    }
    ++finite;
    sum += v;
    lo = std::min(lo, static_cast<double>(v));
    hi = std::max(hi, static_cast<double>(v));
  }
  if (finite == 0) {
    std::cerr << "fits_inspect: " << file << ": HDU " << fits.hdu
              << ": every pixel is blank (NaN), no statistics\n";
    return 1;
  }
  nlohmann::ordered_json out;
  out["shape"] = {im.height, im.width};
  out["nan_count"] = nan_count;
  out["min"] = lo;
  out["max"] = hi;
  out["mean"] = sum / static_cast<double>(finite);
  out["sum"] = sum;
  out["bunit"] = fits.bunit;
  if (fits.beam)
    out["beam_deg"] = {fits.beam->bmaj_deg, fits.beam->bmin_deg, fits.beam->bpa_deg};
  else
    out["beam_deg"] = nullptr;
  std::cout << out.dump() << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "fits_inspect: " << one_line(e.what()) << '\n';
  } catch (...) {
    std::cerr << "fits_inspect: unexpected error\n";
  }
  return 1;
}

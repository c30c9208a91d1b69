/// @file
/// A small deterministic 2-D FFT and the Fourier-space filters of the simulator (beam-correlated noise,
/// smooth Galactic background, autocorrelation).
///
/// Note: written out rather than taken from LibTorch so that the simulator stays torch-free and
/// bit-reproducible (no thread-count-dependent reductions); radix 2 is enough because the simulator
/// chooses the transform size.
#pragma once

#include <cmath>
#include <complex>
#include <cstdint>
#include <numbers>
#include <utility>
#include <vector>

#include "radiossl/sim/random.hpp"

namespace radiossl::sim {

/// The smallest power of two >= n.
inline std::int64_t next_pow2(std::int64_t n) {
  std::int64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

namespace detail {
/// In-place iterative radix-2 FFT of n (a power of two) points with stride 1; inverse is unnormalised.
inline void fft1d(std::complex<double>* a, std::int64_t n, bool inverse) {
  for (std::int64_t i = 1, j = 0; i < n; ++i) {
    std::int64_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  for (std::int64_t len = 2; len <= n; len <<= 1) {
    const double ang = 2.0 * std::numbers::pi / static_cast<double>(len) * (inverse ? 1.0 : -1.0);
    const std::int64_t half = len / 2;
    // Twiddles computed once per stage from cos/sin (not by repeated products) to keep rounding small.
    std::vector<std::complex<double>> tw(static_cast<std::size_t>(half));
    for (std::int64_t k = 0; k < half; ++k)
      tw[static_cast<std::size_t>(k)] = std::polar(1.0, ang * static_cast<double>(k));
    for (std::int64_t i = 0; i < n; i += len) {
      for (std::int64_t k = 0; k < half; ++k) {
        const std::complex<double> u = a[i + k];
        const std::complex<double> v = a[i + k + half] * tw[static_cast<std::size_t>(k)];
        a[i + k] = u + v;
        a[i + k + half] = u - v;
      }
    }
  }
}
}  // namespace detail

/// A complex field of ny x nx (powers of two), row-major, with forward/inverse 2-D transforms.
struct Field2D {
  std::int64_t ny = 0, nx = 0;
  std::vector<std::complex<double>> v;

  Field2D(std::int64_t rows, std::int64_t cols)
      : ny(rows), nx(cols), v(static_cast<std::size_t>(rows * cols)) {}
  std::complex<double>& at(std::int64_t y, std::int64_t x) { return v[static_cast<std::size_t>(y * nx + x)]; }

  /// Forward (inverse=false) or inverse 2-D FFT; the inverse divides by ny*nx.
  void transform(bool inverse) {
    for (std::int64_t y = 0; y < ny; ++y) detail::fft1d(&v[static_cast<std::size_t>(y * nx)], nx, inverse);
    std::vector<std::complex<double>> col(static_cast<std::size_t>(ny));
    for (std::int64_t x = 0; x < nx; ++x) {
      for (std::int64_t y = 0; y < ny; ++y) col[static_cast<std::size_t>(y)] = at(y, x);
      detail::fft1d(col.data(), ny, inverse);
      for (std::int64_t y = 0; y < ny; ++y) at(y, x) = col[static_cast<std::size_t>(y)];
    }
    if (inverse) {
      const double s = 1.0 / static_cast<double>(ny * nx);
      for (auto& c : v) c *= s;
    }
  }
  /// Signed frequency (cycles per pixel) of index i on an axis of n samples.
  static double freq(std::int64_t i, std::int64_t n) {
    return static_cast<double>(i < n / 2 ? i : i - n) / static_cast<double>(n);
  }
};

/// Covariance [[cxx, cxy], [cxy, cyy]] (pixels^2) of an elliptical Gaussian with the given sigmas
/// (pixels) and position angle (degrees east of north; north = +y, east = -x, the FITS convention with
/// RA increasing to the left).
struct Cov2 {
  double xx = 0, xy = 0, yy = 0;
  static Cov2 from_axes(double sigma_major, double sigma_minor, double pa_deg) {
    const double t = pa_deg * std::numbers::pi / 180.0;
    const double ux = -std::sin(t), uy = std::cos(t);  // major axis direction
    const double vx = std::cos(t), vy = std::sin(t);   // minor axis direction
    const double a = sigma_major * sigma_major, b = sigma_minor * sigma_minor;
    return {a * ux * ux + b * vx * vx, a * ux * uy + b * vx * vy, a * uy * uy + b * vy * vy};
  }
  Cov2 operator+(const Cov2& o) const { return {xx + o.xx, xy + o.xy, yy + o.yy}; }
  [[nodiscard]] double det() const { return xx * yy - xy * xy; }
};

/// A real ny x nx field: white Gaussian noise smoothed by a Gaussian of covariance `cov` (periodic
/// convolution on the next power-of-two grid, then cropped), rescaled to zero mean and unit rms.
/// This is how interferometric noise looks: white noise seen through the synthesised beam.
inline std::vector<double> correlated_noise(std::int64_t ny, std::int64_t nx, const Cov2& cov, Rng& rng) {
  const std::int64_t py = next_pow2(ny), px = next_pow2(nx);
  Field2D f(py, px);
  for (auto& c : f.v) c = {rng.normal(), 0.0};
  f.transform(false);
  const double tp2 = 2.0 * std::numbers::pi * std::numbers::pi;
  for (std::int64_t y = 0; y < py; ++y) {
    const double ky = Field2D::freq(y, py);
    for (std::int64_t x = 0; x < px; ++x) {
      const double kx = Field2D::freq(x, px);
      f.at(y, x) *= std::exp(-tp2 * (cov.xx * kx * kx + 2.0 * cov.xy * kx * ky + cov.yy * ky * ky));
    }
  }
  f.transform(true);
  std::vector<double> out(static_cast<std::size_t>(ny * nx));
  double sum = 0.0, sum2 = 0.0;
  for (std::int64_t y = 0; y < ny; ++y)
    for (std::int64_t x = 0; x < nx; ++x) {
      const double v = f.at(y, x).real();
      out[static_cast<std::size_t>(y * nx + x)] = v;
      sum += v;
    }
  const double mean = sum / static_cast<double>(out.size());
  for (double& v : out) {
    v -= mean;
    sum2 += v * v;
  }
  const double rms = std::sqrt(sum2 / static_cast<double>(out.size()));
  if (rms > 0.0)
    for (double& v : out) v /= rms;
  return out;
}

/// Normalised autocorrelation of a real ny x nx field (zero-padded, so no wrap-around), returned as
/// a (2*max_lag+1)^2 grid centred on lag (0,0); value 1 at zero lag. Used to measure the beam a noise
/// map carries.
inline std::vector<double> autocorrelation(const std::vector<double>& data, std::int64_t ny, std::int64_t nx,
                                           std::int64_t max_lag) {
  const std::int64_t py = next_pow2(ny + max_lag), px = next_pow2(nx + max_lag);
  Field2D f(py, px);
  double mean = 0.0;
  for (double v : data) mean += v;
  mean /= static_cast<double>(data.size());
  for (std::int64_t y = 0; y < ny; ++y)
    for (std::int64_t x = 0; x < nx; ++x) f.at(y, x) = {data[static_cast<std::size_t>(y * nx + x)] - mean, 0.0};
  f.transform(false);
  for (auto& c : f.v) c = {std::norm(c), 0.0};
  f.transform(true);
  const std::int64_t side = 2 * max_lag + 1;
  std::vector<double> out(static_cast<std::size_t>(side * side));
  const double zero = f.at(0, 0).real();
  for (std::int64_t dy = -max_lag; dy <= max_lag; ++dy)
    for (std::int64_t dx = -max_lag; dx <= max_lag; ++dx) {
      // Divide by the number of overlapping pairs so that large lags are not biased low.
      const double pairs = static_cast<double>((ny - std::abs(dy)) * (nx - std::abs(dx)));
      const double v = f.at((dy + py) % py, (dx + px) % px).real() / pairs;
      out[static_cast<std::size_t>((dy + max_lag) * side + dx + max_lag)] = v / (zero / static_cast<double>(ny * nx));
    }
  return out;
}

}  // namespace radiossl::sim

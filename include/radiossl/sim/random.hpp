/// @file
/// `sim::Rng`: the portable, seedable random stream the sky simulator draws from.
///
/// Note: `std::normal_distribution` and friends are implementation-defined, so the same seed could give
/// different skies with another standard library. Every draw here is spelled out (xoshiro256**,
/// Box-Muller, inverse CDFs), so a seed means the same bytes on every platform with IEEE doubles and the
/// same libm. Each object (map, cut-out, source) gets its own stream derived from (seed, ids), so the
/// output does not depend on how work is split over threads.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

namespace radiossl::sim {

/// splitmix64's finaliser: a bijective 64-bit mix, used to derive independent stream seeds.
constexpr std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31U);
}

/// The seed of stream (a, b, c) under a run seed: different ids give unrelated streams.
constexpr std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0,
                                    std::uint64_t c = 0) {
  return mix64(mix64(mix64(mix64(seed) ^ a) ^ (b * 0x632be59bd9b4e019ULL)) ^ (c * 0x85157af5ULL));
}

/// xoshiro256** (Blackman & Vigna 2018) with the distributions the simulator needs.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    std::uint64_t z = seed;
    for (auto& s : s_) {
      z = mix64(z);
      s = z;
    }
  }

  /// 64 random bits.
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17U;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  /// Uniform in [0, 1), 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11U) * 0x1.0p-53; }
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [0, n) (n > 0).
  std::int64_t index(std::int64_t n) { return static_cast<std::int64_t>(uniform() * static_cast<double>(n)); }
  /// True with probability p.
  bool bernoulli(double p) { return uniform() < p; }
  /// Log-uniform in [lo, hi) (lo, hi > 0): sizes and brightnesses spanning decades.
  double log_uniform(double lo, double hi) { return lo * std::exp(uniform() * std::log(hi / lo)); }
  /// Standard normal (Box-Muller; the second value is cached).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * std::numbers::pi * u2);
  }
  double normal(double mean, double sd) { return mean + sd * normal(); }
  /// Poisson(lambda): Knuth's product method below 30, a rounded normal above (counts of sources).
  std::int64_t poisson(double lambda) {
    if (lambda <= 0.0) return 0;
    if (lambda > 30.0) {
      const double v = std::round(normal(lambda, std::sqrt(lambda)));
      return v < 0.0 ? 0 : static_cast<std::int64_t>(v);
    }
    const double limit = std::exp(-lambda);
    std::int64_t k = 0;
    double p = uniform();
    while (p > limit) {
      ++k;
      p *= uniform();
    }
    return k;
  }
  /// A draw from dN/dS proportional to S^-gamma on [lo, hi] (gamma != 1), by the inverse CDF.
  double power_law(double gamma, double lo, double hi) {
    const double a = 1.0 - gamma;
    const double la = std::pow(lo, a);
    const double ha = std::pow(hi, a);
    return std::pow(la + uniform() * (ha - la), 1.0 / a);
  }
  /// Picks an index with probability proportional to weights[i] (weights non-negative, sum > 0).
  template <class Weights>
  std::int64_t choose(const Weights& weights) {
    double total = 0.0;
    for (double w : weights) total += w;
    double u = uniform() * total;
    std::int64_t i = 0;
    std::int64_t last = 0;
    for (double w : weights) {
      if (w > 0.0) last = i;
      if (u < w) return i;
      u -= w;
      ++i;
    }
    return last;
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4]{};
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace radiossl::sim

/// @file
/// Portable random draws and seed mixing shared by the data layer (resampling, folds, augmentation,
/// loader shuffles).
///
/// Note: `std::uniform_int_distribution` and `std::uniform_real_distribution` are implemented
/// differently by each standard library, so a seeded run would give other crops with libc++ than
/// with libstdc++. These helpers take bits straight from the engine, so that the same seed gives
/// the same samples, crops and batches everywhere.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include "radiossl/concepts/augment.hpp"  // radiossl::Rng

namespace radiossl::data {

/// SplitMix64 finaliser: a bijective 64-bit mix, used to derive independent seeds.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// One seed from several parts, e.g. `derive_seed({seed, epoch, index})`: the loader gives every
/// sample of every epoch its own stream, so results do not depend on the number of threads.
[[nodiscard]] constexpr std::uint64_t derive_seed(std::initializer_list<std::uint64_t> parts) noexcept {
  std::uint64_t h = 0x6a09e667f3bcc908ULL;
  for (std::uint64_t p : parts) h = mix64(h ^ mix64(p));
  return h;
}

/// Uniform double in [0, 1) from the top 53 bits of one draw.
[[nodiscard]] inline double uniform01(Rng& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

/// Uniform double in [lo, hi).
[[nodiscard]] inline double uniform(Rng& rng, double lo, double hi) {
  return lo + (hi - lo) * uniform01(rng);
}

/// True with probability `p` (always draws, so that the stream does not depend on `p`).
[[nodiscard]] inline bool bernoulli(Rng& rng, double p) { return uniform01(rng) < p; }

/// Uniform integer in [0, n), n > 0, without modulo bias (rejection on the top range).
[[nodiscard]] inline std::uint64_t uniform_index(Rng& rng, std::uint64_t n) {
  const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
  std::uint64_t r = rng();
  while (r >= limit) r = rng();
  return r % n;
}

/// Fisher-Yates shuffle driven by `uniform_index` (portable, unlike std::shuffle).
template <class T>
void shuffle(std::vector<T>& v, Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(uniform_index(rng, i));
    std::swap(v[i - 1], v[j]);
  }
}

}  // namespace radiossl::data

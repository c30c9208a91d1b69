/// @file
/// The `Augment` policy concept: one cut-out in, its augmented views out.
#pragma once

#include <concepts>
#include <random>
#include <vector>

#include "radiossl/image.hpp"

namespace radiossl {

/// The random engine every stochastic stage draws from. Loader workers own one each, seeded from
/// the run seed, the epoch and the sample index, so a run is reproducible whatever the threads.
using Rng = std::mt19937_64;

/// \concept Augment
/// Turns one preprocessed cut-out into its views.
///
/// Minimal definition: `static constexpr int num_large_crops`, `static constexpr int
/// num_small_crops`, and `std::vector<Image> views(const Image&, Rng&) const`.
///
/// Semantics: returns `num_large_crops` large views, then `num_small_crops` small ones; all views of
/// one kind have the same shape, so that the loader can stack them across the batch. The call
/// is const and thread-safe: all randomness comes from the `Rng` argument.
///
/// Models: `augment::RadioSymmetric` (the paper's pretraining augmentations),
/// `augment::RadioMultiCrop<NL, NS>`, `augment::Downstream`.
template <class A>
concept Augment = std::copy_constructible<A> && requires(const A a, const Image& img, Rng& rng) {
  { A::num_large_crops } -> std::convertible_to<int>;
  { A::num_small_crops } -> std::convertible_to<int>;
  { a.views(img, rng) } -> std::same_as<std::vector<Image>>;
};

/// \concept PerViewAugment
/// An Augment that can also make its views one at a time.
///
/// Minimal definition: an Augment with `Image view(int k, const Image&, Rng&) const`, for k in
/// [0, num_large_crops + num_small_crops).
///
/// Semantics: `views(img, rng)` equals calling `view(0, img, rng)`, `view(1, img, rng)`, ... in
/// turn with the same `rng`. The loader uses it where each view starts from its own input, as
/// solo-learn-radio's "mixed" stretches, drawn afresh for every view (methods.md 5.2).
///
/// Models: `augment::RadioSymmetric`, `augment::RadioMultiCrop<NL, NS>`, `augment::Downstream`,
/// `augment::Eval`.
template <class A>
concept PerViewAugment = Augment<A> && requires(const A a, int k, const Image& img, Rng& rng) {
  { a.view(k, img, rng) } -> std::same_as<Image>;
};

}  // namespace radiossl

/// @file
/// Checks that span policies: does this Method fit this Augment and this Backbone?
#pragma once

#include <concepts>

#include "radiossl/concepts/augment.hpp"
#include "radiossl/concepts/backbone.hpp"
#include "radiossl/concepts/method.hpp"

namespace radiossl {

/// Whether method `M` keeps an EMA teacher copy of the backbone (BYOL, DINO, All4One), declared
/// with `static constexpr bool has_teacher = true` in `M::Impl`. Methods without the member
/// have none.
template <class M>
inline constexpr bool method_has_teacher = [] {
  if constexpr (requires { { M::Impl::has_teacher } -> std::convertible_to<bool>; })
    return static_cast<bool>(M::Impl::has_teacher);
  else
    return false;
}();

/// The number of small crops method `M` needs (`M::Impl::min_small_crops`, 0 when absent).
template <class M>
inline constexpr int method_min_small_crops = [] {
  if constexpr (requires { { M::Impl::min_small_crops } -> std::convertible_to<int>; })
    return static_cast<int>(M::Impl::min_small_crops);
  else
    return 0;
}();

/// \concept CropsFit
/// The augmentation produces at least as many large (and small) crops as the method reads.
///
/// Semantics: a method's `training_step` indexes `views[0 .. min_large_crops)`; with fewer views it
/// would read past the end at run time, so the mismatch is a compile-time error instead.
/// Models: (SimCLR, RadioSymmetric), (DINO, RadioMultiCrop<2, 6>).
template <class M, class A>
concept CropsFit = (A::num_large_crops >= M::Impl::min_large_crops) &&
    (A::num_small_crops >= method_min_small_crops<M>);

/// \concept TeacherFits
/// A method with an EMA teacher needs a backbone it can deep-copy: a `CloneableBackbone` whose Impl
/// derives from `torch::nn::Cloneable<Impl>`.
///
/// Note: every `torch::nn::Module` has a virtual `clone()` (which throws at run time unless the
/// module is a `Cloneable`), so `CloneableBackbone` alone cannot tell; the base class can.
template <class M, class B>
concept TeacherFits = !method_has_teacher<M> ||
    (CloneableBackbone<B> && std::derived_from<typename B::Impl, torch::nn::Cloneable<typename B::Impl>>);

/// \concept Compatible
/// All cross-policy requirements of `Trainer<B, M, A, O>` at once.
template <class B, class M, class A>
concept Compatible = CropsFit<M, A> && TeacherFits<M, B>;

}  // namespace radiossl

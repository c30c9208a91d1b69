/// @file
/// The `Backbone` policy concept: the network whose features self-supervision learns.
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>

#include "radiossl/torch_fwd.hpp"

namespace radiossl {

/// \concept Backbone
/// Maps images [N, C, H, W] to features [N, feature_dim()].
///
/// Minimal definition: a `TORCH_MODULE` holder `B` whose `B::Impl` derives from
/// `torch::nn::Module`, with `Tensor forward(Tensor)` and `int64_t feature_dim() const`.
///
/// Semantics: `forward` returns pooled features with the classification layer removed; the
/// feature width is an instance property so that tests can build narrow variants.
///
/// Models: `backbone::ResNet18`, `backbone::ResNet50`.
template <class B>
concept Backbone = std::derived_from<typename B::Impl, torch::nn::Module> &&
    requires(B b, const B cb, torch::Tensor x) {
      { b->forward(x) } -> std::same_as<torch::Tensor>;
      { cb->feature_dim() } -> std::convertible_to<std::int64_t>;
    };

/// \concept CloneableBackbone
/// A Backbone that can be deep-copied, as the EMA teacher of BYOL, DINO and All4One needs.
/// Models: every backbone whose Impl derives from `torch::nn::Cloneable<Impl>`.
///
/// Note: every torch::nn::Module has a virtual clone() that throws at run time unless the module
/// is Cloneable, so the check is on the base class, not on the presence of clone().
template <class B>
concept CloneableBackbone = Backbone<B> && std::derived_from<typename B::Impl, torch::nn::Cloneable<typename B::Impl>>;

}  // namespace radiossl

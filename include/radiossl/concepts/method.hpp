/// @file
/// The `Method` policy concept: a self-supervised objective with its heads and state.
#pragma once

#include <concepts>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "radiossl/concepts/backbone.hpp"

namespace radiossl {

/// The augmented views of one batch: the large crops first, then the small ones (multi-crop),
/// each [N, C, H, W].
using Views = std::vector<torch::Tensor>;

/// A buffer of which each rank holds its own part, split along `dim` (SwAV's queue: queue_size /
/// world_size rows per process). A method lists them with the optional `rank_shards()` hook: the
/// Trainer keeps them out of the start-of-run broadcast and saves every rank's part in the
/// checkpoint, so that each rank resumes with its own.
struct RankShard {
  std::string name;
  torch::Tensor tensor;
  std::int64_t dim = 0;
};

/// What one training step returns: the loss to minimise and scalars worth logging.
struct StepOutput {
  torch::Tensor loss;
  std::map<std::string, double> logs;
};

/// \concept Method
/// A self-supervised method: owns its projector/predictor/prototype heads, queues and teacher,
/// and computes the loss of one batch of views through a backbone. The loss formula itself is a
/// pure function in `radiossl::loss`.
///
/// Minimal definition: a `TORCH_MODULE` holder `M` with `M::Impl::Options`,
/// `static constexpr std::string_view name`, `static constexpr int min_large_crops`, a
/// constructor `M(int64_t feature_dim, Options)` and
/// `StepOutput training_step(B& backbone, const Views& views)`.
///
/// Semantics: views go through the backbone one at a time (per-view BatchNorm statistics, as
/// solo-learn does). Everything a resumed run needs (queues, teacher, centres) is a registered
/// buffer or submodule, so that saving the module saves it.
///
/// Optional hooks, found with `requires` (C5 in the conventions):
/// `on_train_start(B&)`, `on_after_backward(B&)` (between the gradient averaging and the optimizer
/// step: gradient clipping), `on_step_end(B&, double progress)` (progress in [0, 1] drives the EMA
/// tau schedule) and `on_epoch_start(int64_t epoch, int64_t epochs)` (per-epoch schedules: DINO's
/// teacher temperature, last-layer and prototype freezing, SwAV's queue), and
/// `std::vector<RankShard> rank_shards()` (per-rank buffers, above).
///
/// Models: `method::SimCLR`, `method::BYOL`, `method::DINO`, `method::WMSE`, `method::SwAV`,
/// `method::All4One`.
template <class M, class B>
concept Method = Backbone<B> && std::derived_from<typename M::Impl, torch::nn::Module> &&
    requires(M m, B& backbone, const Views& views) {
      typename M::Impl::Options;
      { M::Impl::name } -> std::convertible_to<std::string_view>;
      { M::Impl::min_large_crops } -> std::convertible_to<int>;
      { m->training_step(backbone, views) } -> std::same_as<StepOutput>;
      { m->parameters() } -> std::same_as<std::vector<torch::Tensor>>;
    };

}  // namespace radiossl

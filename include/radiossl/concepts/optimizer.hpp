/// @file
/// The `Optimizer` policy concept: a LibTorch optimizer the Trainer can drive per step.
#pragma once

#include <concepts>
#include <vector>

#include "radiossl/torch_fwd.hpp"

namespace radiossl {

/// \concept Optimizer
/// Minimal definition: `O::Options`, construction from parameter groups and options,
/// `zero_grad()`, `step()`, `set_lr(double)` (the Trainer owns the schedule) and access to the
/// wrapped `torch::optim::Optimizer` for checkpointing.
///
/// Models: `optim::SGD`, `optim::AdamW`, `optim::LARS`.
template <class O>
concept Optimizer =
    std::constructible_from<O, std::vector<torch::optim::OptimizerParamGroup>, typename O::Options> &&
    requires(O o, const O co, double lr) {
      o.zero_grad();
      o.step();
      o.set_lr(lr);
      { o.optimizer() } -> std::convertible_to<torch::optim::Optimizer&>;
    };

}  // namespace radiossl

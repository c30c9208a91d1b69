/// @file
/// Learning-rate and EMA schedules of solo-learn (`solo/utils/lr_scheduler.py`, `momentum.py`),
/// as closed forms of the optimizer step.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

#include "radiossl/error.hpp"

namespace radiossl::optim {

/// The lr actually used for a configured `lr` at total batch size `batch`: lr * batch / 256
/// (solo-learn `args/pretrain.py`). Only the base lr scales; warm-up start and minimum lr do not.
inline double scale_lr_by_batch(double lr, std::int64_t batch) {
  return lr * static_cast<double>(batch) / 256.0;
}

/// Linear warm-up then cosine annealing, per optimizer step (solo-learn's `warmup_cosine`).
///
/// With W warm-up steps and T total steps, optimizer step t (0-based) uses
/// ```
/// t < W : start + t (base - start) / (W - 1)       // reaches base at t = W - 1, one step early
/// t >= W: min + (base - min) (1 + cos(pi (t - W) / (T - W))) / 2
/// ```
/// which is the closed form of Lightning Bolts' chainable `LinearWarmupCosineAnnealingLR`. The start
/// lr is the same absolute value for every parameter group; `base` is the group's own lr.
/// W = 0 means no warm-up (pure cosine from step 0).
struct WarmupCosine {
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 1;
  double start_lr = 3e-5;  ///< solo-learn's warmup_start_lr default (W-MSE: 0)
  double min_lr = 0.0;     ///< eta_min

  /// The lr of optimizer step `t` for a group whose base lr is `base`.
  [[nodiscard]] double operator()(std::int64_t t, double base) const {
    if (t < warmup_steps) {
      if (t == 0) return start_lr;
      return start_lr + static_cast<double>(t) * (base - start_lr) / static_cast<double>(warmup_steps - 1);
    }
    const double span = static_cast<double>(std::max<std::int64_t>(total_steps - warmup_steps, 1));
    const double x = std::min(static_cast<double>(t - warmup_steps) / span, 1.0);
    return min_lr + 0.5 * (base - min_lr) * (1.0 + std::cos(std::numbers::pi * x));
  }
};

/// Step decay: base * gamma^(number of milestones <= epoch), per epoch (torch MultiStepLR,
/// solo-learn's `step` scheduler with `lr_decay_steps`).
struct MultiStep {
  std::vector<std::int64_t> milestones;  ///< epochs at which the lr is multiplied by gamma
  double gamma = 0.1;

  [[nodiscard]] double operator()(std::int64_t epoch, double base) const {
    double lr = base;
    for (auto m : milestones)
      if (epoch >= m) lr *= gamma;
    return lr;
  }
};

/// The EMA coefficient of momentum teachers after `k` of `total` steps (solo-learn
/// `MomentumUpdater.update_tau`): tau_final - (tau_final - tau_base) (cos(pi k / K) + 1) / 2.
/// K = 60000 gives 0.99, 0.995, 1.0 at k = 0, 30000, 60000 for the defaults.
inline double ema_tau(std::int64_t k, std::int64_t total, double tau_base = 0.99, double tau_final = 1.0) {
  if (total <= 0) throw Error("optim::ema_tau: total steps must be positive, got " + std::to_string(total));
  const double x = std::clamp(static_cast<double>(k) / static_cast<double>(total), 0.0, 1.0);
  return tau_final - (tau_final - tau_base) * (std::cos(std::numbers::pi * x) + 1.0) / 2.0;
}

/// The same schedule driven by progress in [0, 1] (the `on_step_end` hook's argument).
inline double ema_tau_at(double progress, double tau_base = 0.99, double tau_final = 1.0) {
  const double x = std::clamp(progress, 0.0, 1.0);
  return tau_final - (tau_final - tau_base) * (std::cos(std::numbers::pi * x) + 1.0) / 2.0;
}

}  // namespace radiossl::optim

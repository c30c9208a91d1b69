/// @file
/// EMA teachers shared by BYOL, DINO and All4One (solo/utils/momentum.py, BaseMomentumMethod).
#pragma once

#include <cmath>
#include <memory>
#include <numbers>
#include <string>

#include "radiossl/concepts/backbone.hpp"
#include "radiossl/error.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::method {

/// solo-learn's tau schedule: tau_final - (tau_final - tau_base) (cos(pi progress) + 1) / 2,
/// with progress = completed optimizer steps / total steps (0.99 -> 0.995 -> 1.0 by default).
inline double cosine_tau(double tau_base, double tau_final, double progress) {
  return tau_final - (tau_final - tau_base) * (std::cos(std::numbers::pi * progress) + 1.0) / 2.0;
}

/// Copies the parameters of `online` into `momentum` and freezes them (requires_grad false).
/// Buffers (BatchNorm running statistics) are left alone: solo-learn never copies nor averages
/// them.
inline void initialize_momentum(torch::nn::Module& momentum, const torch::nn::Module& online) {
  torch::NoGradGuard no_grad;
  const auto src = online.parameters();
  auto dst = momentum.parameters();
  if (src.size() != dst.size())
    throw Error("method::initialize_momentum: online and momentum networks differ in shape");
  for (std::size_t i = 0; i < src.size(); ++i) {
    dst[i].copy_(src[i]);
    dst[i].set_requires_grad(false);
  }
}

/// theta_m <- tau theta_m + (1 - tau) theta, parameter by parameter (buffers untouched).
inline void ema_update(torch::nn::Module& momentum, const torch::nn::Module& online, double tau) {
  torch::NoGradGuard no_grad;
  const auto src = online.parameters();
  auto dst = momentum.parameters();
  if (src.size() != dst.size())
    throw Error("method::ema_update: online and momentum networks differ in shape");
  for (std::size_t i = 0; i < src.size(); ++i) dst[i].mul_(tau).add_(src[i], 1.0 - tau);
}

/// The momentum copy of a backbone: a clone() of it with frozen parameters.
///
/// Note: the method registers it as its submodule `momentum_backbone`, so that saving the method
/// saves the teacher; it is created by the method's on_train_start(backbone) (or at its first
/// training step), so a resumed run calls on_train_start before loading the checkpoint.
template <CloneableBackbone B>
std::shared_ptr<torch::nn::Module> make_momentum_backbone(const B& backbone) {
  std::shared_ptr<torch::nn::Module> copy = backbone->clone();
  for (auto& p : copy->parameters()) p.set_requires_grad(false);
  return copy;
}

/// Runs the momentum backbone (stored type-erased) on `x` under no_grad.
template <Backbone B>
torch::Tensor momentum_forward(const std::shared_ptr<torch::nn::Module>& teacher,
                               const torch::Tensor& x) {
  auto* impl = dynamic_cast<typename B::Impl*>(teacher.get());
  if (impl == nullptr)
    throw Error("method: the momentum backbone was built from another backbone type");
  torch::NoGradGuard no_grad;
  return impl->forward(x);
}

/// Parameters of `module` except those under its `momentum_*` submodules (the EMA teachers):
/// what a momentum method hands to the optimizer.
inline std::vector<torch::Tensor> learnable_parameters(const torch::nn::Module& module) {
  std::vector<torch::Tensor> out;
  for (const auto& item : module.named_parameters(true))
    if (item.key().rfind("momentum_", 0) != 0) out.push_back(item.value());
  return out;
}

}  // namespace radiossl::method

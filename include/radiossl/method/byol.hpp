/// @file
/// BYOL (Grill et al. 2020, arXiv:2006.07733) as solo-learn implements it (solo/methods/byol.py).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "radiossl/concepts/method.hpp"
#include "radiossl/loss/byol.hpp"
#include "radiossl/method/heads.hpp"
#include "radiossl/method/momentum.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::method {

/// BYOL's options; defaults are the `paper` preset (section 4.1: lr 1.2, projection 512,
/// predictor hidden 1024) with solo-learn's values where the paper is silent (projector hidden
/// 1024, tau 0.99 -> 1.0, weight decay 1e-6).
struct BYOLOptions {
  static BYOLOptions paper() { return {}; }
  TORCH_ARG(std::int64_t, proj_hidden_dim) = 1024;
  TORCH_ARG(std::int64_t, proj_output_dim) = 512;
  TORCH_ARG(std::int64_t, pred_hidden_dim) = 1024;
  TORCH_ARG(double, tau_base) = 0.99;
  TORCH_ARG(double, tau_final) = 1.0;
  TORCH_ARG(double, lr) = 1.2;
  TORCH_ARG(double, weight_decay) = 1e-6;
};

/// BYOL: online projector + predictor (Linear-BN-ReLU-Linear), EMA teacher (backbone and
/// projector). The loss is solo-learn's SUM over both directions (range [0, 8]).
///
/// The teacher is the submodule `momentum_backbone` (created by on_train_start or the first
/// step) plus `momentum_projector`; both are saved with the module. parameters() returns only
/// the learnable heads (not the `momentum_*` teacher), which is what the optimizer gets.
class BYOLImpl : public torch::nn::Cloneable<BYOLImpl> {
 public:
  using Options = BYOLOptions;
  static constexpr std::string_view name = "byol";
  static constexpr int min_large_crops = 2;
  /// Keeps an EMA teacher cloned from the backbone (checked by concepts/compatible.hpp).
  static constexpr bool has_teacher = true;

  BYOLImpl(std::int64_t feature_dim, Options options = {})
      : feature_dim_(feature_dim), options_(options) {
    reset();
  }

  void reset() override {
    const auto& o = options_;
    projector = register_module(
        "projector", mlp_head(feature_dim_, o.proj_hidden_dim(), o.proj_output_dim(), true));
    momentum_projector = register_module(
        "momentum_projector",
        mlp_head(feature_dim_, o.proj_hidden_dim(), o.proj_output_dim(), true));
    initialize_momentum(*momentum_projector, *projector);
    predictor = register_module(
        "predictor", mlp_head(o.proj_output_dim(), o.pred_hidden_dim(), o.proj_output_dim(), true));
    tau = register_buffer("tau", torch::full({}, o.tau_base(), torch::kDouble));
  }

  /// Builds the teacher backbone as a frozen clone of `backbone` (once).
  template <CloneableBackbone B>
  void on_train_start(B& backbone) {
    if (!momentum_backbone)
      momentum_backbone = register_module("momentum_backbone", make_momentum_backbone(backbone));
  }

  template <CloneableBackbone B>
  StepOutput training_step(B& backbone, const Views& views) {
    detail::check_views(views, min_large_crops, name);
    on_train_start(backbone);
    std::vector<torch::Tensor> p, z_momentum;
    for (const auto& v : views) p.push_back(predictor->forward(projector->forward(backbone->forward(v))));
    {
      torch::NoGradGuard no_grad;
      for (int i = 0; i < min_large_crops; ++i)
        z_momentum.push_back(
            momentum_projector->forward(momentum_forward<B>(momentum_backbone, views[i])));
    }
    torch::Tensor total;
    for (std::size_t v1 = 0; v1 < z_momentum.size(); ++v1)
      for (std::size_t v2 = 0; v2 < p.size(); ++v2) {
        if (v1 == v2) continue;
        const torch::Tensor term = loss::byol(p[v2], z_momentum[v1]);
        total = total.defined() ? total + term : term;
      }
    return {total, {}};
  }

  /// After each optimizer step: EMA with the current tau, then tau from the cosine schedule at
  /// `progress` = completed steps / total steps (solo-learn's order: the first EMA uses tau_base).
  template <CloneableBackbone B>
  void on_step_end(B& backbone, double progress) {
    on_train_start(backbone);
    const double t = tau.item<double>();
    ema_update(*momentum_backbone, *backbone, t);
    ema_update(*momentum_projector, *projector, t);
    tau.fill_(cosine_tau(options_.tau_base(), options_.tau_final(), progress));
  }

  /// The learnable parameters (heads), without the frozen `momentum_*` teacher.
  std::vector<torch::Tensor> parameters(bool /*recurse*/ = true) const {
    return learnable_parameters(*this);
  }

  const Options& options() const { return options_; }

  torch::nn::Sequential projector{nullptr}, momentum_projector{nullptr}, predictor{nullptr};
  std::shared_ptr<torch::nn::Module> momentum_backbone;
  torch::Tensor tau;  ///< current EMA coefficient (a buffer, so a resumed run continues it)

 private:
  std::int64_t feature_dim_;
  Options options_;
};
TORCH_MODULE(BYOL);

}  // namespace radiossl::method

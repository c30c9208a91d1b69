/// @file
/// The projector, predictor and prototype heads of solo-learn's methods.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "radiossl/concepts/method.hpp"
#include "radiossl/error.hpp"
#include "radiossl/dist/sync_batch_norm.hpp"
#include "radiossl/method/dense.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::method {

namespace detail {

/// Checks that a step got at least `min_large` views (the large crops come first) of one batch
/// size; throws radiossl::Error naming the method otherwise.
inline void check_views(const Views& views, std::size_t min_large, std::string_view method) {
  if (views.size() < min_large)
    throw Error("method::" + std::string(method) + ": needs at least " +
                std::to_string(min_large) + " views per step, got " +
                std::to_string(views.size()));
  for (const auto& v : views)
    if (!v.defined() || v.dim() != 4 || v.size(0) != views[0].size(0))
      throw Error("method::" + std::string(method) +
                  ": every view must be a [N, C, H, W] tensor with the same N");
}

}  // namespace detail

/// Linear(in -> hidden) [-> BatchNorm1d(hidden)] -> ReLU -> Linear(hidden -> out), PyTorch's
/// default Linear init; the Linears are Dense layers (oneDNN on CPU, see dense.hpp). The SimCLR
/// projector (no BN), and BYOL/W-MSE/SwAV projectors and the BYOL/All4One predictors (with BN).
inline torch::nn::Sequential mlp_head(std::int64_t in, std::int64_t hidden, std::int64_t out,
                                      bool batch_norm) {
  torch::nn::Sequential head;
  head->push_back(Dense(in, hidden));
  if (batch_norm) head->push_back(dist::SyncBatchNorm1d(hidden));
  head->push_back(torch::nn::ReLU());
  head->push_back(Dense(hidden, out));
  return head;
}

/// All4One's three-layer projector ending in BatchNorm:
/// Linear-BN-ReLU-Linear-BN-ReLU-Linear-BN.
inline torch::nn::Sequential all4one_projector(std::int64_t in, std::int64_t hidden,
                                               std::int64_t out) {
  return torch::nn::Sequential(
      Dense(in, hidden), dist::SyncBatchNorm1d(hidden), torch::nn::ReLU(),
      Dense(hidden, hidden), dist::SyncBatchNorm1d(hidden), torch::nn::ReLU(),
      Dense(hidden, out), dist::SyncBatchNorm1d(out));
}

/// A bias-free Linear(in -> out) under weight normalisation, as `nn.utils.weight_norm` with
/// `weight_g` filled with 1: weight = g * v / ||v|| row-wise. With a frozen g (DINO's
/// norm_last_layer, SwAV's prototypes) every row has unit norm, so scores of normalised inputs
/// are cosines. A frozen g is a buffer (saved, never optimised); a learnable g a parameter.
class WeightNormLinearImpl : public torch::nn::Cloneable<WeightNormLinearImpl> {
 public:
  WeightNormLinearImpl(std::int64_t in, std::int64_t out, bool learn_norm = false)
      : in_(in), out_(out), learn_norm_(learn_norm) {
    reset();
  }

  void reset() override {
    // PyTorch's default Linear init for v, as solo-learn creates the layer before weight_norm.
    weight_v = register_parameter("weight_v", torch::empty({out_, in_}));
    torch::nn::init::kaiming_uniform_(weight_v, std::sqrt(5.0));
    if (learn_norm_)
      weight_g = register_parameter("weight_g", torch::ones({out_, 1}));
    else
      weight_g = register_buffer("weight_g", torch::ones({out_, 1}));
  }

  /// The effective weight [out, in].
  torch::Tensor weight() const {
    return weight_g * weight_v / weight_v.norm(2, {1}, /*keepdim=*/true);
  }

  torch::Tensor forward(const torch::Tensor& x) { return dense(x, weight()); }

  /// Freezes or unfreezes the layer (SwAV's freeze_prototypes_epochs, DINO's freeze_last_layer):
  /// frozen, `v` and a learnable `g` get no gradient, so optimizers skip them for that step, as
  /// solo-learn drops the gradients of every parameter of the layer.
  void set_frozen(bool frozen) {
    weight_v.set_requires_grad(!frozen);
    if (learn_norm_) weight_g.set_requires_grad(!frozen);
  }

  torch::Tensor weight_v, weight_g;

 private:
  std::int64_t in_, out_;
  bool learn_norm_;
};
TORCH_MODULE(WeightNormLinear);

/// Options of DINO's head (solo-learn's DINOHead).
struct DINOHeadOptions {
  DINOHeadOptions(std::int64_t in, std::int64_t hidden, std::int64_t bottleneck,
                  std::int64_t prototypes)
      : in_(in), hidden_(hidden), bottleneck_(bottleneck), prototypes_(prototypes) {}
  TORCH_ARG(std::int64_t, in);
  TORCH_ARG(std::int64_t, hidden);
  TORCH_ARG(std::int64_t, bottleneck);
  TORCH_ARG(std::int64_t, prototypes);
  TORCH_ARG(bool, use_bn) = false;
  TORCH_ARG(bool, norm_last_layer) = true;
  TORCH_ARG(std::int64_t, num_layers) = 3;
};

/// DINO's head: MLP (Linear [BN] GELU ... -> bottleneck), L2 normalisation, then a
/// weight-normalised Linear(bottleneck -> K) without bias. MLP Linears use trunc_normal(std
/// 0.02, bounds +-2) and zero bias; the last layer keeps PyTorch's default init.
class DINOHeadImpl : public torch::nn::Cloneable<DINOHeadImpl> {
 public:
  explicit DINOHeadImpl(DINOHeadOptions options) : options_(std::move(options)) { reset(); }

  void reset() override {
    const auto& o = options_;
    mlp = torch::nn::Sequential();
    const std::int64_t layers = std::max<std::int64_t>(o.num_layers(), 1);
    if (layers == 1) {
      mlp->push_back(Dense(o.in(), o.bottleneck()));
    } else {
      mlp->push_back(Dense(o.in(), o.hidden()));
      if (o.use_bn()) mlp->push_back(dist::SyncBatchNorm1d(o.hidden()));
      mlp->push_back(torch::nn::GELU());
      for (std::int64_t i = 0; i < layers - 2; ++i) {
        mlp->push_back(Dense(o.hidden(), o.hidden()));
        if (o.use_bn()) mlp->push_back(dist::SyncBatchNorm1d(o.hidden()));
        mlp->push_back(torch::nn::GELU());
      }
      mlp->push_back(Dense(o.hidden(), o.bottleneck()));
    }
    register_module("mlp", mlp);
    {
      torch::NoGradGuard no_grad;
      for (auto& m : mlp->modules(false))
        if (auto* linear = m->as<Dense>()) {
          // trunc_normal_(std=0.02, a=-2, b=2): the bounds are 100 sigma, so a clamp is exact.
          linear->weight.normal_(0.0, 0.02).clamp_(-2.0, 2.0);
          linear->bias.zero_();
        }
    }
    last_layer = register_module(
        "last_layer", WeightNormLinear(o.bottleneck(), o.prototypes(), !o.norm_last_layer()));
  }

  /// [N, in] -> logits [N, K].
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor h = mlp->forward(x);
    h = h / h.norm(2, {1}, true).clamp_min(1e-12);
    return last_layer->forward(h);
  }

  const DINOHeadOptions& options() const { return options_; }

  torch::nn::Sequential mlp{nullptr};
  WeightNormLinear last_layer{nullptr};

 private:
  DINOHeadOptions options_;
};
TORCH_MODULE(DINOHead);

}  // namespace radiossl::method

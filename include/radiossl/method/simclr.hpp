/// @file
/// SimCLR (Chen et al. 2020, arXiv:2002.05709) as solo-learn implements it (solo/methods/simclr.py).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "radiossl/concepts/method.hpp"
#include "radiossl/detail/collectives.hpp"
#include "radiossl/loss/nt_xent.hpp"
#include "radiossl/method/heads.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::method {

/// SimCLR's options. The defaults are the `paper` preset: the paper's section 4.1 values (lr 1.2,
/// projection 512, temperature 0.2) and solo-learn's banner config where the paper is silent
/// (hidden 4096, weight decay 1e-4; unverified for the paper's runs).
struct SimCLROptions {
  /// The paper's preset (section 4.1); equal to the defaults.
  static SimCLROptions paper() { return {}; }
  TORCH_ARG(std::int64_t, proj_hidden_dim) = 4096;
  TORCH_ARG(std::int64_t, proj_output_dim) = 512;
  TORCH_ARG(double, temperature) = 0.2;
  /// Base learning rate for the optimizer (LARS in the paper); read by the Trainer.
  TORCH_ARG(double, lr) = 1.2;
  TORCH_ARG(double, weight_decay) = 1e-4;
};

/// SimCLR: projector Linear-ReLU-Linear (no BatchNorm) and NT-Xent over all views.
class SimCLRImpl : public torch::nn::Cloneable<SimCLRImpl> {
 public:
  using Options = SimCLROptions;
  static constexpr std::string_view name = "simclr";
  static constexpr int min_large_crops = 2;

  SimCLRImpl(std::int64_t feature_dim, Options options = {})
      : feature_dim_(feature_dim), options_(options) {
    reset();
  }

  void reset() override {
    projector = register_module("projector", mlp_head(feature_dim_, options_.proj_hidden_dim(),
                                                      options_.proj_output_dim(), false));
  }

  /// Each view through the backbone separately (per-view BatchNorm statistics), then NT-Xent on
  /// all projections; rows of the same image are the positives.
  template <Backbone B>
  StepOutput training_step(B& backbone, const Views& views) {
    detail::check_views(views, min_large_crops, name);
    std::vector<torch::Tensor> z;
    z.reserve(views.size());
    for (const auto& v : views) z.push_back(projector->forward(backbone->forward(v)));
    // Sample ids are global (offset by this rank's slice): nt_xent gathers the other ranks'
    // rows, whose ids must not collide with ours, or their samples would count as positives.
    const std::int64_t n = views[0].size(0), first = n * radiossl::detail::rank();
    const auto idx = torch::arange(first, first + n,
                                   torch::TensorOptions().dtype(torch::kLong).device(views[0].device()))
                         .repeat({static_cast<std::int64_t>(views.size())});
    return {loss::nt_xent(torch::cat(z), idx, options_.temperature()), {}};
  }

  const Options& options() const { return options_; }

  torch::nn::Sequential projector{nullptr};

 private:
  std::int64_t feature_dim_;
  Options options_;
};
TORCH_MODULE(SimCLR);

}  // namespace radiossl::method

/// @file
/// W-MSE (Ermolov et al. 2021, arXiv:2007.06346) as solo-learn implements it (solo/methods/wmse.py).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "radiossl/concepts/method.hpp"
#include "radiossl/detail/whitening.hpp"
#include "radiossl/error.hpp"
#include "radiossl/loss/wmse.hpp"
#include "radiossl/method/heads.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::method {

/// W-MSE's options; defaults are the `paper` preset (section 4.1: lr 0.002, projection 128,
/// whitening size 256) with solo-learn's values elsewhere (hidden 1024, 1 iteration, eps 0,
/// weight decay 1e-6, Adam in its banner config).
struct WMSEOptions {
  static WMSEOptions paper() { return {}; }
  TORCH_ARG(std::int64_t, proj_hidden_dim) = 1024;
  TORCH_ARG(std::int64_t, proj_output_dim) = 128;
  /// Samples whitened together; must divide the batch size.
  TORCH_ARG(std::int64_t, whitening_size) = 256;
  TORCH_ARG(std::int64_t, whitening_iters) = 1;
  TORCH_ARG(double, whitening_eps) = 0.0;
  /// true (solo-learn, the paper's code): the second view of each pair is detached. false: the
  /// original W-MSE, gradient through both views.
  TORCH_ARG(bool, stop_gradient) = true;
  TORCH_ARG(double, lr) = 0.002;
  TORCH_ARG(double, weight_decay) = 1e-6;
};

/// W-MSE: projector Linear-BN-ReLU-Linear, each view whitened separately in random groups of
/// `whitening_size`, then 2 - 2 cos between the whitened views of every pair (i < j).
class WMSEImpl : public torch::nn::Cloneable<WMSEImpl> {
 public:
  using Options = WMSEOptions;
  static constexpr std::string_view name = "wmse";
  static constexpr int min_large_crops = 2;

  WMSEImpl(std::int64_t feature_dim, Options options = {})
      : feature_dim_(feature_dim), options_(options) {
    reset();
  }

  void reset() override {
    projector = register_module("projector", mlp_head(feature_dim_, options_.proj_hidden_dim(),
                                                      options_.proj_output_dim(), true));
  }

  template <Backbone B>
  StepOutput training_step(B& backbone, const Views& views) {
    detail::check_views(views, min_large_crops, name);
    const std::int64_t bs = views[0].size(0);
    const std::int64_t w = options_.whitening_size();
    if (w < 2 || w > bs || bs % w != 0)
      throw Error("method::wmse: whitening_size " + std::to_string(w) +
                  " must be >= 2 and divide the batch size " + std::to_string(bs));
    std::vector<torch::Tensor> v;
    for (int i = 0; i < min_large_crops; ++i)
      v.push_back(projector->forward(backbone->forward(views[i])));

    torch::Tensor total;
    std::int64_t terms = 0;
    for (std::int64_t it = 0; it < options_.whitening_iters(); ++it) {
      const torch::Tensor perm =
          torch::randperm(bs, torch::TensorOptions().dtype(torch::kLong).device(v[0].device()));
      const torch::Tensor inverse = perm.argsort();
      const auto groups = perm.split(w);
      std::vector<torch::Tensor> zw;
      for (const auto& vi : v) {
        std::vector<torch::Tensor> chunks;
        for (const auto& idx : groups)
          chunks.push_back(radiossl::detail::whiten(vi.index_select(0, idx),
                                                    options_.whitening_eps()));
        zw.push_back(torch::cat(chunks).index_select(0, inverse).to(vi.scalar_type()));
      }
      for (std::size_t i = 0; i + 1 < zw.size(); ++i)
        for (std::size_t j = i + 1; j < zw.size(); ++j) {
          const torch::Tensor term = loss::wmse(zw[i], zw[j], options_.stop_gradient());
          total = total.defined() ? total + term : term;
          ++terms;
        }
    }
    return {total / static_cast<double>(terms), {}};
  }

  const Options& options() const { return options_; }

  torch::nn::Sequential projector{nullptr};

 private:
  std::int64_t feature_dim_;
  Options options_;
};
TORCH_MODULE(WMSE);

}  // namespace radiossl::method

/// @file
/// SwAV (Caron et al. 2020, arXiv:2006.09882) as solo-learn implements it (solo/methods/swav.py).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "radiossl/concepts/method.hpp"
#include "radiossl/detail/normalize.hpp"
#include "radiossl/detail/sinkhorn.hpp"
#include "radiossl/error.hpp"
#include "radiossl/loss/swav.hpp"
#include "radiossl/method/heads.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::method {

/// SwAV's options; defaults are the `paper` preset (section 4.1: lr 1.2, projection 128, 300
/// prototypes, temperature 0.1) with solo-learn's banner config where the paper is silent
/// (hidden 2048, queue 3840 from epoch 50, prototypes frozen for 2 epochs, Sinkhorn eps 0.05 x 3,
/// weight decay 1e-6).
struct SwAVOptions {
  static SwAVOptions paper() { return {}; }
  TORCH_ARG(std::int64_t, proj_hidden_dim) = 2048;
  TORCH_ARG(std::int64_t, proj_output_dim) = 128;
  TORCH_ARG(std::int64_t, num_prototypes) = 300;
  TORCH_ARG(double, temperature) = 0.1;
  TORCH_ARG(double, sk_epsilon) = 0.05;
  TORCH_ARG(std::int64_t, sk_iters) = 3;
  /// Embeddings kept per large crop (0: no queue). Filled every step from epoch 0.
  TORCH_ARG(std::int64_t, queue_size) = 3840;
  /// The queue joins the Sinkhorn assignments from this epoch on.
  TORCH_ARG(std::int64_t, epoch_queue_starts) = 50;
  /// The prototypes get no gradient during the first epochs.
  TORCH_ARG(std::int64_t, freeze_prototypes_epochs) = 2;
  TORCH_ARG(double, lr) = 1.2;
  TORCH_ARG(double, weight_decay) = 1e-6;
};

/// SwAV: projector Linear-BN-ReLU-Linear then L2 normalisation, unit-norm prototypes (weight
/// norm with g = 1 frozen), Sinkhorn codes of the large crops (with the queue once active) and
/// swapped prediction over all crops.
///
/// State saved with the module: `queue` [2, queue_size / world_size, D] and `epoch`; the Trainer
/// saves every rank's queue (`rank_shards`).
class SwAVImpl : public torch::nn::Cloneable<SwAVImpl> {
 public:
  using Options = SwAVOptions;
  static constexpr std::string_view name = "swav";
  static constexpr int min_large_crops = 2;

  SwAVImpl(std::int64_t feature_dim, Options options = {})
      : feature_dim_(feature_dim), options_(options) {
    reset();
  }

  void reset() override {
    const auto& o = options_;
    projector = register_module(
        "projector", mlp_head(feature_dim_, o.proj_hidden_dim(), o.proj_output_dim(), true));
    prototypes = register_module("prototypes",
                                 WeightNormLinear(o.proj_output_dim(), o.num_prototypes(), false));
    // solo-learn splits the queue over processes: queue_size / world_size rows per process.
    queue = register_buffer(
        "queue", torch::zeros({min_large_crops, o.queue_size() / radiossl::detail::world_size(),
                               o.proj_output_dim()}));
    epoch = register_buffer("epoch", torch::zeros({}, torch::kLong));
  }

  void on_epoch_start(std::int64_t current_epoch, std::int64_t /*epochs*/) {
    epoch.fill_(current_epoch);
  }

  /// Whether the queue takes part in this epoch's assignments.
  bool queue_active() const {
    return queue.size(1) > 0 && epoch.item<std::int64_t>() >= options_.epoch_queue_starts();
  }

  template <Backbone B>
  StepOutput training_step(B& backbone, const Views& views) {
    detail::check_views(views, min_large_crops, name);
    const std::int64_t n = views[0].size(0);
    const std::int64_t per_process = options_.queue_size() / radiossl::detail::world_size();
    if (queue.size(1) != per_process) {
      // A queue split for another number of processes (a checkpoint from another world size, or a
      // method built before the job was joined) starts empty at this job's split, as solo-learn's
      // queue, which it never saves, starts on every resume.
      torch::NoGradGuard no_grad;
      queue.set_(torch::zeros({min_large_crops, per_process, queue.size(2)}, queue.options()));
    }
    if (queue.size(1) > 0 && queue.size(1) < n)
      throw Error("method::swav: queue_size " + std::to_string(queue.size(1)) +
                  " is smaller than the batch size " + std::to_string(n));
    prototypes->set_frozen(epoch.item<std::int64_t>() < options_.freeze_prototypes_epochs());

    std::vector<torch::Tensor> z, p;
    for (const auto& v : views) {
      z.push_back(radiossl::detail::l2_normalize(projector->forward(backbone->forward(v)), 1));
      p.push_back(prototypes->forward(z.back()));
    }
    std::vector<torch::Tensor> assignments;
    {
      torch::NoGradGuard no_grad;
      const bool use_queue = queue_active();
      for (int i = 0; i < min_large_crops; ++i) {
        torch::Tensor scores = p[i].detach();
        if (use_queue)
          scores = torch::cat({scores, prototypes->forward(queue[i]).to(scores.scalar_type())});
        assignments.push_back(radiossl::detail::sinkhorn(scores, options_.sk_epsilon(),
                                                         options_.sk_iters())
                                  .narrow(0, 0, n));
      }
    }
    std::vector<torch::Tensor> preds;
    // Under autocast the loss reads the scores in float32; the codes came from the same
    // (bf16-rounded) scores, cast to float32 inside sinkhorn.
    for (const auto& pi : p) preds.push_back(pi.scalar_type() == torch::kDouble ? pi : pi.to(torch::kFloat));
    const torch::Tensor value = loss::swav(preds, assignments, options_.temperature());

    if (queue.size(1) > 0) {
      torch::NoGradGuard no_grad;
      const std::int64_t q = queue.size(1);
      for (int i = 0; i < min_large_crops; ++i) {
        // Shift right by n, newest first (solo-learn's order).
        queue[i].narrow(0, n, q - n).copy_(queue[i].narrow(0, 0, q - n).clone());
        queue[i].narrow(0, 0, n).copy_(z[i].detach());
      }
    }
    return {value, {}};
  }

  const Options& options() const { return options_; }

  /// The queue is per process (queue_size / world_size rows each, solo-learn's split): each rank
  /// keeps and resumes its own rows.
  std::vector<RankShard> rank_shards() { return {{"queue", queue, 1}}; }

  torch::nn::Sequential projector{nullptr};
  WeightNormLinear prototypes{nullptr};
  torch::Tensor queue, epoch;

 private:
  std::int64_t feature_dim_;
  Options options_;
};
TORCH_MODULE(SwAV);

}  // namespace radiossl::method

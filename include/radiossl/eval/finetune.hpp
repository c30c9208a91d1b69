/// @file
/// Fine-tuning evaluation: backbone and linear head trained together (solo-learn's `linear.py`
/// with `finetune: True`).
#pragma once

#include <cstdint>
#include <memory>

#include "radiossl/augment/presets.hpp"
#include "radiossl/dist/sync_batch_norm.hpp"
#include "radiossl/eval/features.hpp"
#include "radiossl/eval/metrics.hpp"
#include "radiossl/optim/schedule.hpp"

namespace radiossl::eval {

/// Fine-tuning settings; defaults are the paper's and solo-learn's: AdamW lr 5e-4 (same for
/// backbone and head), no weight decay, 10 warm-up epochs from 3e-5 then cosine to 0 per step,
/// 100 epochs, batch 256. BatchNorm trains during training and uses running statistics for
/// validation.
struct FinetuneOptions {
  TORCH_ARG(std::int64_t, epochs) = 100;
  TORCH_ARG(std::int64_t, batch_size) = 256;
  TORCH_ARG(double, lr) = 5e-4;
  TORCH_ARG(double, weight_decay) = 0.0;
  TORCH_ARG(double, warmup_epochs) = 10.0;
  TORCH_ARG(double, warmup_start_lr) = 3e-5;
  TORCH_ARG(double, min_lr) = 0.0;
};

/// Fine-tunes a copy of `backbone` (the caller's stays untouched) with a new linear head on
/// `train`, and scores it on `val` after the last epoch.
template <CloneableBackbone B>
Classification finetune(const B& backbone, const LabeledImages& train, const LabeledImages& val,
                        std::int64_t num_classes, const FinetuneOptions& o, const EvalSettings& s) {
  if (train.size() == 0 || val.size() == 0) throw Error("finetune: empty training or validation fold");
  B model(std::dynamic_pointer_cast<typename B::Impl>(backbone->clone()));
  // Evaluation runs in one process (rank 0 of a job): BatchNorm layers that a Trainer of several
  // processes synchronised would otherwise wait for ranks that are not evaluating.
  dist::set_sync_batch_norm(*model.ptr(), false);
  model->to(s.device);
  torch::manual_seed(s.seed);
  torch::nn::Linear head(model->feature_dim(), num_classes);
  head->to(s.device);
  auto params = model->parameters();
  for (auto& p : head->parameters()) params.push_back(p);
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(o.lr()).weight_decay(o.weight_decay()));

  auto train_loader = make_loader(train, augment::Downstream(augment::DownstreamOptions{.size = s.image_size}),
                                  o.batch_size(), /*train=*/true, s, s.seed);
  const auto steps_per_epoch = std::max<std::int64_t>(train_loader.batches_per_epoch(), 1);
  const optim::WarmupCosine schedule{
      static_cast<std::int64_t>(o.warmup_epochs() * static_cast<double>(steps_per_epoch)),
      o.epochs() * steps_per_epoch, o.warmup_start_lr(), o.min_lr()};
  std::int64_t step = 0;
  model->train();
  head->train();
  for (std::int64_t epoch = 0; epoch < o.epochs(); ++epoch) {
    train_loader.start_epoch(epoch);
    while (auto batch = train_loader.next()) {
      for (auto& g : opt.param_groups())
        static_cast<torch::optim::AdamWOptions&>(g.options()).lr(schedule(step, o.lr()));
      auto x = batch->views.at(0).to(s.device);
      if (s.device.is_cuda()) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      opt.zero_grad();
      const torch::Tensor loss = torch::nn::functional::cross_entropy(head->forward(model->forward(x)),
                                                       batch->labels.to(s.device));
      if (!torch::isfinite(loss).item<bool>())
        throw Error("finetune: non-finite loss at epoch " + std::to_string(epoch) + ", step " +
                    std::to_string(step));
      loss.backward();
      opt.step();
      ++step;
    }
  }
  auto val_loader = make_loader(val, augment::Eval(s.image_size), o.batch_size(), false, s, s.seed);
  torch::NoGradGuard no_grad;
  model->eval();
  head->eval();
  std::vector<torch::Tensor> targets, predictions;
  val_loader.start_epoch(0);
  while (auto batch = val_loader.next()) {
    auto x = batch->views.at(0).to(s.device);
    if (s.device.is_cuda()) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    predictions.push_back(head->forward(model->forward(x)).argmax(1).to(torch::kCPU));
    targets.push_back(batch->labels);
  }
  return classify(torch::cat(targets), torch::cat(predictions), num_classes);
}

}  // namespace radiossl::eval

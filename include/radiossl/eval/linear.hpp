/// @file
/// Linear evaluation: a linear classifier on the frozen backbone's features (solo-learn's
/// `linear.py` with `finetune: False`).
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "radiossl/augment/presets.hpp"
#include "radiossl/eval/features.hpp"
#include "radiossl/eval/metrics.hpp"
#include "radiossl/optim/schedule.hpp"

namespace radiossl::eval {

/// Linear-probe settings; defaults are solo-learn's: SGD lr 0.3, momentum 0.9, no weight decay,
/// x0.1 at epochs 10 and 80, 100 epochs, batch 256.
///
/// Note: the paper's text says the probe uses "the same batch size and initial learning rate" as
/// fine-tuning (5e-4), and solo-learn's generated configs use 0.3. The grid's `paper` preset takes
/// the paper's value, as it does wherever the two disagree; every other preset, solo-learn's.
struct LinearOptions {
  TORCH_ARG(std::int64_t, epochs) = 100;
  TORCH_ARG(std::int64_t, batch_size) = 256;
  TORCH_ARG(double, lr) = 0.3;
  TORCH_ARG(double, momentum) = 0.9;
  TORCH_ARG(double, weight_decay) = 0.0;
  TORCH_ARG(std::vector<std::int64_t>, milestones) = std::vector<std::int64_t>{10, 80};
  TORCH_ARG(double, gamma) = 0.1;
  /// 0: new augmented views every epoch, as solo-learn. K > 0: the features of K augmented
  /// copies of the training set are computed once and epoch e uses copy e mod K, which makes the
  /// probe K/epochs as expensive (the backbone is frozen, so only the augmentation draw differs).
  TORCH_ARG(std::int64_t, cached_views) = 0;
  /// Standardise every feature with the training features' mean and standard deviation before
  /// the head, as MAE's linear probe does with a BatchNorm without affine parameters (He et al.
  /// 2021, "Masked Autoencoders Are Scalable Vision Learners"). Off in the paper's protocol.
  /// SGD on raw features converges at a speed set by their scale and conditioning, which differ
  /// between backbones: on the quick preset's 133-image folds, 30 epochs of batch 64 on raw
  /// features scored 13-37 points (the mean SSL cell) and 5-34 points (random init) below 1000
  /// epochs of batch 16 (docs/science-check.md).
  TORCH_ARG(bool, standardize) = false;
};

/// Per-feature standardisation fitted on training features: (f - mean) / std, with features that
/// are constant in training (std 0, e.g. channels a ReLU never opens) mapped to 0, not NaN.
struct FeatureScaler {
  torch::Tensor mean, inv_std;

  [[nodiscard]] static FeatureScaler fit(const torch::Tensor& train_features) {
    const auto f = train_features.to(torch::kFloat64);
    const auto std = f.std(0, /*unbiased=*/false);
    return {f.mean(0).to(train_features.dtype()),
            torch::where(std > 1e-12, std.reciprocal(), torch::zeros_like(std)).to(train_features.dtype())};
  }
  [[nodiscard]] torch::Tensor operator()(const torch::Tensor& features) const {
    return (features - mean.to(features.device())) * inv_std.to(features.device());
  }
};

/// Trains a linear head on `train` through the frozen `backbone` and scores it on `val` after
/// the last epoch (solo-learn reports the last epoch, not the best).
template <Backbone B>
Classification linear_probe(B& backbone, const LabeledImages& train, const LabeledImages& val,
                            std::int64_t num_classes, const LinearOptions& o, const EvalSettings& s) {
  if (train.size() == 0 || val.size() == 0) throw Error("linear_probe: empty training or validation fold");
  const auto feature_dim = backbone->feature_dim();
  auto train_loader = make_loader(train, augment::Downstream(augment::DownstreamOptions{.size = s.image_size}),
                                  std::max<std::int64_t>(o.batch_size(), 1), /*train=*/false, s, s.seed);
  auto val_loader = make_loader(val, augment::Eval(s.image_size), o.batch_size(), false, s, s.seed);

  // Features per epoch are computed in sample order; the head's batches are shuffled below.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> cache;
  auto epoch_features = [&](std::int64_t epoch) {
    if (o.cached_views() <= 0) return extract_features(backbone, train_loader, epoch, s.device);
    const auto k = static_cast<std::size_t>(epoch % o.cached_views());
    while (cache.size() <= k)
      cache.push_back(extract_features(backbone, train_loader, static_cast<std::int64_t>(cache.size()), s.device));
    return cache[k];
  };

  // Fitted on the first epoch's (first cached view's) features and kept for every epoch and for
  // validation, so the probe stays one fixed linear map of the backbone's features.
  // Without cached views, epoch 0's features are kept for its epoch rather than extracted again.
  std::optional<FeatureScaler> scaler;
  std::optional<std::pair<torch::Tensor, torch::Tensor>> first_epoch;
  if (o.standardize()) {
    first_epoch = epoch_features(0);
    scaler = FeatureScaler::fit(first_epoch->first);
  }

  torch::manual_seed(s.seed);
  torch::nn::Linear head(feature_dim, num_classes);
  head->to(s.device);
  torch::optim::SGD opt(head->parameters(), torch::optim::SGDOptions(o.lr())
                                                .momentum(o.momentum())
                                                .weight_decay(o.weight_decay()));
  const optim::MultiStep schedule{o.milestones(), o.gamma()};
  const auto n = train.size();
  const auto bs = o.batch_size();
  const bool drop = solo_drop_last(n, bs) && n >= bs;
  head->train();
  for (std::int64_t epoch = 0; epoch < o.epochs(); ++epoch) {
    for (auto& g : opt.param_groups())
      static_cast<torch::optim::SGDOptions&>(g.options()).lr(schedule(epoch, o.lr()));
    auto [feats, labels] =
        epoch == 0 && first_epoch ? *std::exchange(first_epoch, std::nullopt) : epoch_features(epoch);
    feats = scaler ? (*scaler)(feats.to(s.device)) : feats.to(s.device);
    labels = labels.to(s.device);
    const auto perm = shuffled_indices(feats.size(0), s.seed, epoch).to(s.device);
    const auto used = drop ? (feats.size(0) / bs) * bs : feats.size(0);
    for (std::int64_t start = 0; start < used; start += bs) {
      const auto idx = perm.narrow(0, start, std::min(bs, used - start));
      opt.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(head->forward(feats.index_select(0, idx)),
                                                       labels.index_select(0, idx));
      loss.backward();
      opt.step();
    }
  }
  auto [vf, vl] = extract_features(backbone, val_loader, 0, s.device);
  torch::NoGradGuard no_grad;
  head->eval();
  vf = vf.to(s.device);
  const torch::Tensor pred = head->forward(scaler ? (*scaler)(vf) : vf).argmax(1);
  return classify(vl, pred, num_classes);
}

}  // namespace radiossl::eval

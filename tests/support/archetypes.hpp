/// @file
/// Minimal models (and deliberate non-models) of the four policy concepts, for concept, trainer
/// and compile-fail tests: tiny enough to train a few steps in milliseconds on one core.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string_view>
#include <vector>

#include "radiossl/concepts/augment.hpp"
#include "radiossl/concepts/backbone.hpp"
#include "radiossl/concepts/method.hpp"
#include "radiossl/concepts/optimizer.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::archetypes {

// ---- backbones -----------------------------------------------------------------------------------

/// conv 3x3 -> BatchNorm -> ReLU -> global average pool: features of width 4.
struct TinyBackboneImpl : torch::nn::Cloneable<TinyBackboneImpl> {
  explicit TinyBackboneImpl(std::int64_t in_channels = 1) : in_channels_(in_channels) { reset(); }
  void reset() override {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels_, 4, 3).padding(1)));
    bn = register_module("bn", torch::nn::BatchNorm2d(4));
  }
  torch::Tensor forward(torch::Tensor x) {
    return torch::relu(bn(conv(x))).mean({2, 3});
  }
  [[nodiscard]] std::int64_t feature_dim() const { return 4; }
  std::int64_t in_channels_;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(TinyBackbone);

/// A backbone that cannot be cloned (not a Cloneable): fine for SimCLR, not for EMA teachers.
struct PlainBackboneImpl : torch::nn::Module {
  PlainBackboneImpl() { lin = register_module("lin", torch::nn::Linear(16, 4)); }
  torch::Tensor forward(torch::Tensor x) { return lin(x.flatten(1).narrow(1, 0, 16)); }
  [[nodiscard]] std::int64_t feature_dim() const { return 4; }
  torch::nn::Linear lin{nullptr};
};
TORCH_MODULE(PlainBackbone);

/// Not a Backbone: no feature_dim().
struct NoFeatureDimImpl : torch::nn::Module {
  torch::Tensor forward(torch::Tensor x) { return x; }
};
TORCH_MODULE(NoFeatureDim);

// ---- methods -------------------------------------------------------------------------------------

/// Options of TinyMethod.
struct TinyMethodOptions {
  /// Weight of the regulariser that pulls the mean feature towards 1 (keeps the task non-trivial).
  TORCH_ARG(double, mean_weight) = 1.0;
  /// Return a NaN loss from this call of training_step on (0-based); -1: never.
  TORCH_ARG(std::int64_t, nan_from_call) = -1;
  /// Add N(0, noise^2) noise to the first view from torch's CPU generator (so resumes must restore the RNG).
  TORCH_ARG(double, noise) = 0.01;
};

/// A toy method: a linear projector, an invariance loss between the first two views plus a
/// target on the mean, a buffer queue that feeds into the loss (state a resume must restore), and
/// every optional hook (recording what it was given).
template <int MinLarge = 2>
struct TinyMethodImplT : torch::nn::Cloneable<TinyMethodImplT<MinLarge>> {
  using Options = TinyMethodOptions;
  static constexpr std::string_view name = "tiny";
  static constexpr int min_large_crops = MinLarge;

  TinyMethodImplT(std::int64_t feature_dim, Options options) : feature_dim_(feature_dim), options_(options) {
    reset();
  }
  void reset() override {
    projector = this->register_module("projector", torch::nn::Linear(feature_dim_, 4));
    queue = this->register_buffer("queue", torch::zeros({4, 4}));
    calls = this->register_buffer("calls", torch::zeros({}, torch::kLong));
  }

  template <class B>
  StepOutput training_step(B& backbone, const Views& views) {
    auto x1 = options_.noise() > 0 ? views[0] + options_.noise() * torch::randn_like(views[0]) : views[0];
    auto z1 = projector(backbone->forward(x1));
    auto z2 = projector(backbone->forward(views[1]));
    auto loss = (z1 - z2).pow(2).mean() + options_.mean_weight() * (z1.mean(0) - 1.0).pow(2).mean() +
                1e-3 * (z1 * queue.mean(0)).mean();
    {
      torch::NoGradGuard ng;
      queue.copy_(torch::cat({queue.narrow(0, 1, 3), z1.detach().mean(0, true)}));
    }
    if (options_.nan_from_call() >= 0 && calls.template item<std::int64_t>() >= options_.nan_from_call())
      loss = loss * std::numeric_limits<double>::quiet_NaN();
    calls.add_(1);
    return {loss, {{"z_std", z1.detach().std().template item<double>()}}};
  }

  template <class B>
  void on_train_start(B&) { ++train_starts; }
  template <class B>
  void on_after_backward(B& backbone) {
    // Records whether the backbone's gradients exist yet, i.e. the hook runs after backward.
    bool all_defined = true;
    for (const auto& p : backbone->parameters()) all_defined = all_defined && p.grad().defined();
    after_backward_with_grads.push_back(all_defined);
  }
  template <class B>
  void on_step_end(B&, double progress) { progresses.push_back(progress); }
  void on_epoch_start(std::int64_t epoch, std::int64_t epochs) { epochs_seen.push_back(epoch), epochs_ = epochs; }

  std::int64_t feature_dim_;
  Options options_;
  torch::nn::Linear projector{nullptr};
  torch::Tensor queue, calls;
  int train_starts = 0;
  std::vector<double> progresses;
  std::vector<bool> after_backward_with_grads;
  std::vector<std::int64_t> epochs_seen;
  std::int64_t epochs_ = 0;
};
using TinyMethodImpl = TinyMethodImplT<2>;
TORCH_MODULE(TinyMethod);

/// Needs three large crops: incompatible with a two-crop augmentation.
struct ThreeCropMethodImpl : TinyMethodImplT<3> {
  using TinyMethodImplT<3>::TinyMethodImplT;
};
TORCH_MODULE(ThreeCropMethod);

/// Declares an EMA teacher: needs a CloneableBackbone (see concepts/compatible.hpp).
struct TeacherMethodImpl : TinyMethodImplT<2> {
  using TinyMethodImplT<2>::TinyMethodImplT;
  static constexpr bool has_teacher = true;
};
TORCH_MODULE(TeacherMethod);

/// Not a Method: no training_step.
struct NoStepMethodImpl : torch::nn::Module {
  using Options = TinyMethodOptions;
  static constexpr std::string_view name = "nostep";
  static constexpr int min_large_crops = 2;
  NoStepMethodImpl(std::int64_t, Options) {}
};
TORCH_MODULE(NoStepMethod);

// ---- augmentations -------------------------------------------------------------------------------

/// Two identical large views, no small ones.
struct IdentityAugment {
  static constexpr int num_large_crops = 2;
  static constexpr int num_small_crops = 0;
  [[nodiscard]] std::vector<Image> views(const Image& img, Rng&) const { return {img, img}; }
};

/// Two large and four small views (a multi-crop shape).
struct MultiCropAugment {
  static constexpr int num_large_crops = 2;
  static constexpr int num_small_crops = 4;
  [[nodiscard]] std::vector<Image> views(const Image& img, Rng&) const { return std::vector<Image>(6, img); }
};

/// Not an Augment: no num_small_crops.
struct NoSmallCropsAugment {
  static constexpr int num_large_crops = 2;
  [[nodiscard]] std::vector<Image> views(const Image& img, Rng&) const { return {img, img}; }
};

// ---- optimizers ----------------------------------------------------------------------------------

/// Not an Optimizer: no set_lr (the Trainer owns the schedule and must be able to drive it).
struct NoSetLrOptimizer {
  struct Options {};
  NoSetLrOptimizer(std::vector<torch::optim::OptimizerParamGroup>, Options) {}
  void zero_grad() {}
  void step() {}
};

}  // namespace radiossl::archetypes

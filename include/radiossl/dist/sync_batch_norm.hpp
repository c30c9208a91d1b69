/// @file
/// Synchronised BatchNorm: batch statistics over the union of every rank's batch, as
/// torch.nn.SyncBatchNorm (LibTorch's C++ API has none).
///
/// Forward: each rank reduces its batch to (count, mean, M2) per channel, one all_gather
/// combines them (Chan et al.'s parallel variance, no E[x^2]-E[x]^2 cancellation). Backward:
/// one all-reduce of the per-channel sums of dy and dy*(x-mean); weight and bias gradients stay
/// local, to be averaged with the others (dist/replicate.hpp). With one process, in eval mode
/// or with synchronisation off, the modules below compute exactly LibTorch's BatchNorm.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <utility>
#include <vector>

#include "radiossl/detail/collectives.hpp"
#include "radiossl/torch_fwd.hpp"

#include <torch/csrc/autograd/custom_function.h>

namespace radiossl::dist {

namespace detail {

/// The reduction dims of a [N, C, *] input and the shape that broadcasts a [C] vector over it.
inline std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> bn_dims(const torch::Tensor& x) {
  std::vector<std::int64_t> dims, shape(static_cast<std::size_t>(x.dim()), 1);
  for (std::int64_t d = 0; d < x.dim(); ++d)
    if (d != 1) dims.push_back(d);
  shape[1] = x.size(1);
  return {dims, shape};
}

/// The autograd function of synchronised batch normalisation (training mode).
struct SyncBatchNormFunction : torch::autograd::Function<SyncBatchNormFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input,
                               const torch::Tensor& weight, const torch::Tensor& bias, torch::Tensor running_mean,
                               torch::Tensor running_var, double eps, double momentum) {
    const auto [dims, shape] = bn_dims(input);
    const std::int64_t c = input.size(1);
    const torch::Tensor x = input.to(torch::kDouble);
    const torch::Tensor mean_l = x.mean(dims);
    const torch::Tensor m2_l = (x - mean_l.view(shape)).square().sum(dims);
    const auto n_l = static_cast<double>(input.numel() / std::max<std::int64_t>(c, 1));
    torch::Tensor stats = torch::cat({torch::full({1}, n_l, x.options()), mean_l, m2_l}).unsqueeze(0);
    stats = radiossl::detail::all_gather(stats);  // [world, 1 + 2C]
    const torch::Tensor counts = stats.narrow(1, 0, 1);
    const torch::Tensor means = stats.narrow(1, 1, c);
    const torch::Tensor m2s = stats.narrow(1, 1 + c, c);
    const double n = counts.sum().item<double>();
    const torch::Tensor mean = (counts * means).sum(0) / n;
    const torch::Tensor m2 = (m2s + counts * (means - mean).square()).sum(0);
    const torch::Tensor invstd = (m2 / n + eps).rsqrt();
    if (running_mean.defined()) {
      torch::NoGradGuard ng;
      running_mean.mul_(1.0 - momentum).add_(mean.to(running_mean.scalar_type()), momentum);
      running_var.mul_(1.0 - momentum).add_((m2 / std::max(n - 1.0, 1.0)).to(running_var.scalar_type()), momentum);
    }
    const torch::Tensor mean_t = mean.to(input.scalar_type()), invstd_t = invstd.to(input.scalar_type());
    torch::Tensor y = (input - mean_t.view(shape)) * invstd_t.view(shape);
    if (weight.defined()) y = y * weight.view(shape);
    if (bias.defined()) y = y + bias.view(shape);
    ctx->save_for_backward({input, weight, mean_t, invstd_t});
    ctx->saved_data["n"] = n;
    ctx->saved_data["has_bias"] = bias.defined();
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& input = saved[0];
    const torch::Tensor& weight = saved[1];
    const torch::Tensor& mean = saved[2];
    const torch::Tensor& invstd = saved[3];
    const double n = ctx->saved_data["n"].to<double>();  // the element count saved by forward
    const auto [dims, shape] = bn_dims(input);
    const std::int64_t c = input.size(1);
    const torch::Tensor g = grads[0];
    const torch::Tensor xmu = input - mean.view(shape);
    const torch::Tensor sum_dy = g.sum(dims);
    const torch::Tensor sum_dy_xmu = (g * xmu).sum(dims);
    torch::Tensor grad_weight, grad_bias;
    if (weight.defined()) grad_weight = sum_dy_xmu * invstd;  // local: averaged with the others later
    if (ctx->saved_data["has_bias"].toBool()) grad_bias = sum_dy;
    torch::Tensor both = torch::cat({sum_dy, sum_dy_xmu});
    radiossl::detail::all_reduce_sum_(both);
    const torch::Tensor mean_dy = both.narrow(0, 0, c) / n;
    const torch::Tensor mean_dy_xmu = both.narrow(0, c, c) / n;
    torch::Tensor scale = weight.defined() ? invstd * weight : invstd;
    const torch::Tensor grad_input =
        (g - mean_dy.view(shape) - xmu * (invstd.square() * mean_dy_xmu).view(shape)) * scale.view(shape);
    return {grad_input, grad_weight, grad_bias, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace detail

/// Batch normalisation of `input` [N, C, *] in training mode with statistics over every rank's
/// batch; updates `running_mean`/`running_var` (when defined) with `momentum`. `weight`/`bias`
/// may be undefined (affine=false).
inline torch::Tensor sync_batch_norm(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias,
                                     const torch::Tensor& running_mean, const torch::Tensor& running_var, double eps,
                                     double momentum) {
  return detail::SyncBatchNormFunction::apply(input, weight, bias, running_mean, running_var, eps, momentum);
}

/// What the Trainer switches on in every synchronisable BatchNorm of a model.
class SyncBatchNormSwitch {
 public:
  virtual ~SyncBatchNormSwitch() = default;
  /// Synchronise the batch statistics across ranks (training mode, more than one process).
  virtual void set_sync(bool on) = 0;
  [[nodiscard]] virtual bool sync() const = 0;
};

/// BatchNorm over D spatial dims (1: [N, C] or [N, C, L]; 2: [N, C, H, W]) that can synchronise
/// its statistics across ranks: LibTorch's BatchNorm{1,2}d with the same options, parameter and
/// buffer names (checkpoints and torchvision weights load unchanged) and the same forward while
/// synchronisation is off (a module's default; the Trainer switches it on under several processes,
/// TrainerOptions::sync_batch_norm).
///
/// Note: a module of its own rather than a subclass of torch::nn::BatchNorm2dImpl, whose base
/// template's virtual functions LibTorch does not export (a subclass does not link).
template <std::size_t D>
class SyncBatchNormImpl : public torch::nn::Cloneable<SyncBatchNormImpl<D>>, public SyncBatchNormSwitch {
 public:
  explicit SyncBatchNormImpl(std::int64_t num_features) : SyncBatchNormImpl(torch::nn::BatchNormOptions(num_features)) {}
  explicit SyncBatchNormImpl(torch::nn::BatchNormOptions options) : options(std::move(options)) { reset(); }

  /// Registers weight (1), bias (0), running_mean (0), running_var (1), num_batches_tracked (0),
  /// as torch::nn::BatchNorm does.
  void reset() override {
    const std::int64_t c = options.num_features();
    if (options.affine()) {
      weight = this->register_parameter("weight", torch::ones({c}));
      bias = this->register_parameter("bias", torch::zeros({c}));
    } else {
      weight = this->register_parameter("weight", torch::Tensor(), /*requires_grad=*/false);
      bias = this->register_parameter("bias", torch::Tensor(), /*requires_grad=*/false);
    }
    if (options.track_running_stats()) {
      running_mean = this->register_buffer("running_mean", torch::zeros({c}));
      running_var = this->register_buffer("running_var", torch::ones({c}));
      num_batches_tracked = this->register_buffer("num_batches_tracked", torch::tensor(0, torch::kLong));
    } else {
      running_mean = this->register_buffer("running_mean", torch::Tensor());
      running_var = this->register_buffer("running_var", torch::Tensor());
      num_batches_tracked = this->register_buffer("num_batches_tracked", torch::Tensor());
    }
  }

  torch::Tensor forward(const torch::Tensor& input) {
    const bool ok_dim = D == 1 ? (input.dim() == 2 || input.dim() == 3) : input.dim() == static_cast<std::int64_t>(D) + 2;
    TORCH_CHECK(ok_dim, "radiossl::dist::SyncBatchNorm", D, "d: expected a ", D == 1 ? "2D or 3D" : "4D",
                " input, got ", input.dim(), "D");
    const bool track = options.track_running_stats();
    double factor = options.momentum().value_or(0.0);
    if (this->is_training() && track && num_batches_tracked.defined()) {
      num_batches_tracked += 1;
      if (!options.momentum()) factor = 1.0 / num_batches_tracked.template item<double>();
    }
    if (!sync_ || !this->is_training() || radiossl::detail::world_size() <= 1)  // LibTorch's BatchNorm exactly
      return torch::batch_norm(input, weight, bias, running_mean, running_var, this->is_training() || !track, factor,
                               options.eps(), at::globalContext().userEnabledCuDNN());
    return sync_batch_norm(input, weight, bias, track ? running_mean : torch::Tensor(),
                           track ? running_var : torch::Tensor(), options.eps(), factor);
  }

  void set_sync(bool on) override { sync_ = on; }
  [[nodiscard]] bool sync() const override { return sync_; }

  void pretty_print(std::ostream& stream) const override {
    stream << "radiossl::dist::SyncBatchNorm" << D << "d(" << options.num_features() << ", eps=" << options.eps()
           << ", affine=" << options.affine() << ", sync=" << sync_ << ")";
  }

  torch::nn::BatchNormOptions options;
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  bool sync_ = false;
};

using SyncBatchNorm1dImpl = SyncBatchNormImpl<1>;
using SyncBatchNorm2dImpl = SyncBatchNormImpl<2>;
/// Drop-in for torch::nn::BatchNorm1d that can synchronise across ranks.
TORCH_MODULE(SyncBatchNorm1d);
/// Drop-in for torch::nn::BatchNorm2d that can synchronise across ranks.
TORCH_MODULE(SyncBatchNorm2d);

/// Switches synchronisation on or off in every SyncBatchNorm of `module`; returns how many it
/// switched and, through `plain`, how many plain LibTorch BatchNorm layers it could not.
inline std::int64_t set_sync_batch_norm(torch::nn::Module& module, bool on, std::int64_t* plain = nullptr) {
  std::int64_t switched = 0, others = 0;
  for (const auto& m : module.modules(/*include_self=*/true)) {
    if (auto* s = dynamic_cast<SyncBatchNormSwitch*>(m.get())) {
      s->set_sync(on);
      ++switched;
    } else if (m->template as<torch::nn::BatchNorm1d>() || m->template as<torch::nn::BatchNorm2d>() ||
               m->template as<torch::nn::BatchNorm3d>()) {
      ++others;
    }
  }
  if (plain != nullptr) *plain = others;
  return switched;
}

}  // namespace radiossl::dist

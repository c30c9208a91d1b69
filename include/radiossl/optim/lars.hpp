/// @file
/// LARS (layer-wise adaptive rate scaling) exactly as solo-learn's `solo/utils/lars.py`, and its policy.
///
/// You, Gitman, Ginsburg 2017, "Large Batch Training of Convolutional Networks", arXiv:1708.03888.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "radiossl/torch_fwd.hpp"

namespace radiossl::optim {

namespace detail {

/// The key LibTorch's optimizer keeps per-parameter state under. LibTorch 1.13 uses the
/// TensorImpl address printed as a string, 2.x the address itself; `Map` decides.
///
/// Note: the string form must equal what `torch::optim::serialize` computes on load
/// (`c10::guts::to_string(impl)`, an ostream of the pointer) so that a loaded state is found.
template <class Map>
auto state_key(const torch::Tensor& p) {
  using Key = typename Map::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream os;
    os << p.unsafeGetTensorImpl();
    return os.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

/// Sets every gradient to "none" (an undefined tensor), the cheapest zeroing: no memset, and the
/// next backward allocates fresh. LibTorch 1.13's `zero_grad()` has no set_to_none flag.
inline void zero_grad_to_none(torch::optim::Optimizer& opt) {
  for (auto& group : opt.param_groups()) {
    for (auto& p : group.params()) {
      if (p.mutable_grad().defined()) p.mutable_grad() = torch::Tensor();
    }
  }
}

/// Sets the learning rate of every parameter group.
inline void set_all_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

}  // namespace detail

/// Options of LARS. Defaults are solo-learn's radio configs: momentum 0.9, eta 0.02,
/// clip_lr and exclude_bias_n_norm on.
///
/// Example:
/// ```
/// optim::LarsOptions opts(0.3); opts.weight_decay(1e-4).eta(0.02);
/// ```
struct LarsOptions : public torch::optim::OptimizerCloneableOptions<LarsOptions> {
  LarsOptions(double lr = 0.1) : lr_(lr) {}  // NOLINT: implicit from a learning rate, as SGDOptions
  /// The learning rate the schedule drives (the group's current lr).
  TORCH_ARG(double, lr);
  /// Heavy-ball momentum, as torch SGD with dampening 0 and no Nesterov.
  TORCH_ARG(double, momentum) = 0.9;
  /// L2 weight decay, applied only to LARS-scaled parameters.
  TORCH_ARG(double, weight_decay) = 0.0;
  /// The trust coefficient.
  TORCH_ARG(double, eta) = 0.02;
  /// Clip the local lr to the global one: effective step min(eta |p| / (|g| + wd |p|), lr).
  TORCH_ARG(bool, clip_lr) = true;
  /// Parameters with one dimension (biases, norm scales/shifts) get neither LARS scaling nor weight decay.
  TORCH_ARG(bool, exclude_bias_n_norm) = true;
  /// Added to the denominator of the trust ratio.
  TORCH_ARG(double, eps) = 1e-8;
  /// Whether each parameter's norms are read on the host to choose its branch, as solo-learn's
  /// Python `if` does: two waits for the device per LARS-scaled parameter. false computes the same
  /// update with the branch as a select on the device, so a GPU never waits for the host during
  /// the step (and the step could be captured in a CUDA graph), for a few more small kernels; the
  /// two agree to rounding. Unset: true (which is faster on a GPU is not measured yet:
  /// bench/step_bench.cpp's RADIOSSL_BENCH_LARS_HOST_NORMS).
  /// Not saved in checkpoints: it changes how, not what.
  TORCH_ARG(std::optional<bool>, host_norms) = std::nullopt;

 public:
  void serialize(torch::serialize::InputArchive& archive) override {
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, momentum);
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, eta);
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, clip_lr);
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, exclude_bias_n_norm);
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, eps);
  }
  void serialize(torch::serialize::OutputArchive& archive) const override {
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(momentum);
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eta);
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(clip_lr);
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exclude_bias_n_norm);
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eps);
  }
  [[nodiscard]] double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
};

/// Per-parameter state of LARS: the momentum buffer, which stores the already LARS-scaled update
/// (the lr is applied after momentum, as in solo-learn).
struct LarsParamState : public torch::optim::OptimizerCloneableParamState<LarsParamState> {
  TORCH_ARG(torch::Tensor, momentum_buffer);

 public:
  void serialize(torch::serialize::InputArchive& archive) override {
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, momentum_buffer);
  }
  void serialize(torch::serialize::OutputArchive& archive) const override {
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(momentum_buffer);
  }
};

/// LARS as a `torch::optim::Optimizer`, with parameter groups. For each parameter p with grad g:
/// ```
/// if (p.dim() != 1 || !exclude_bias_n_norm) && |p| != 0 && |g| != 0:
///     local = eta |p| / (|g| + wd |p| + eps);  if clip_lr: local = min(local / lr, 1)
///     d = (g + wd p) local
/// else:
///     d = g
/// buf = d (first step) or momentum buf + d;   p -= lr buf
/// ```
/// Note: the spec's §4.1 warns that, unlike its docstring, solo-learn LARS-scales wd=0 groups too;
/// this does the same.
class LarsOptimizer : public torch::optim::Optimizer {
 public:
  explicit LarsOptimizer(std::vector<torch::optim::OptimizerParamGroup> param_groups, LarsOptions defaults = {})
      : Optimizer(std::move(param_groups), std::make_unique<LarsOptions>(defaults)) {
    TORCH_CHECK(defaults.lr() >= 0, "Invalid learning rate: ", defaults.lr());
    TORCH_CHECK(defaults.momentum() >= 0, "Invalid momentum value: ", defaults.momentum());
    TORCH_CHECK(defaults.weight_decay() >= 0, "Invalid weight_decay value: ", defaults.weight_decay());
    TORCH_CHECK(defaults.eta() > 0, "Invalid LARS eta: ", defaults.eta());
  }
  explicit LarsOptimizer(std::vector<torch::Tensor> params, LarsOptions defaults = {})
      : LarsOptimizer({torch::optim::OptimizerParamGroup(std::move(params))}, std::move(defaults)) {}

  torch::Tensor step(LossClosure closure = nullptr) override {
    torch::NoGradGuard no_grad;
    torch::Tensor loss;
    if (closure) {
      torch::AutoGradMode enable_grad(true);
      loss = closure();
    }
    for (auto& group : param_groups_) {
      const auto& o = static_cast<const LarsOptions&>(group.options());
      const double lr = o.lr();
      const bool host_norms = o.host_norms().value_or(true);
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        const torch::Tensor& g = p.grad();
        torch::Tensor d = g;
        if (p.dim() != 1 || !o.exclude_bias_n_norm())
          d = host_norms ? scaled_on_host(p, g, o) : scaled_on_device(p, g, o);
        auto key = detail::state_key<std::remove_reference_t<decltype(state_)>>(p);
        auto it = state_.find(key);
        if (o.momentum() != 0.0) {
          if (it == state_.end()) {
            auto st = std::make_unique<LarsParamState>();
            st->momentum_buffer(d.clone().detach());
            d = st->momentum_buffer();
            state_[key] = std::move(st);
          } else {
            auto& buf = static_cast<LarsParamState&>(*it->second).momentum_buffer();
            buf.mul_(o.momentum()).add_(d);
            d = buf;
          }
        }
        p.add_(d, -lr);
      }
    }
    return loss;
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    torch::optim::serialize<LarsParamState, LarsOptions>(archive, *this);
  }

  /// Keeps each group's `host_norms`, which checkpoints do not hold: LibTorch 2.x replaces the
  /// groups' options by the loaded ones (1.13 kept them).
  void load(torch::serialize::InputArchive& archive) override {
    std::vector<std::optional<bool>> host_norms;
    for (auto& group : param_groups()) host_norms.push_back(static_cast<LarsOptions&>(group.options()).host_norms());
    torch::optim::serialize<LarsParamState, LarsOptions>(archive, *this);
    for (std::size_t i = 0; i < host_norms.size() && i < param_groups().size(); ++i)
      static_cast<LarsOptions&>(param_groups()[i].options()).host_norms(host_norms[i]);
  }

 private:
  /// The LARS-scaled direction of one parameter, branching on its norms read on the host (one
  /// host sync per norm, as the Python reference). Returns `g` itself when not scaled.
  static torch::Tensor scaled_on_host(const torch::Tensor& p, const torch::Tensor& g, const LarsOptions& o) {
    const double lr = o.lr(), wd = o.weight_decay();
    const double p_norm = p.norm().item<double>();
    const double g_norm = g.norm().item<double>();
    if (p_norm == 0.0 || g_norm == 0.0) return g;
    double local = o.eta() * p_norm / (g_norm + wd * p_norm + o.eps());
    if (o.clip_lr()) local = std::min(local / lr, 1.0);
    return (wd != 0.0 ? g.add(p, wd) : g.clone()).mul_(local);
  }

  /// The same direction with the branch taken on the device: where a norm is zero, the trust
  /// ratio becomes 1 and the weight decay 0, so that the result is `g`. No host sync.
  static torch::Tensor scaled_on_device(const torch::Tensor& p, const torch::Tensor& g, const LarsOptions& o) {
    const double lr = o.lr(), wd = o.weight_decay();
    const torch::Tensor p_norm = p.norm(), g_norm = g.norm();
    torch::Tensor local = p_norm.mul(o.eta()).div_(g_norm.add(p_norm, wd).add_(o.eps()));
    // lr 0: local / 0 is inf, clamped to 1, as the host path's min(inf, 1).
    if (o.clip_lr()) local = local.div_(lr).clamp_max_(1.0);
    const torch::Tensor scaled = p_norm.ne(0.0).logical_and_(g_norm.ne(0.0));
    const torch::Tensor ratio = torch::where(scaled, local, torch::ones_like(local));
    if (wd == 0.0) return g.mul(ratio);
    const torch::Tensor decay = torch::where(scaled, torch::full_like(local, wd), torch::zeros_like(local));
    return torch::addcmul(g, p, decay).mul_(ratio);
  }
};

/// The `radiossl::Optimizer` policy for LARS (the paper's optimizer for SimCLR, BYOL, DINO, SwAV,
/// All4One). See concepts/optimizer.hpp.
class LARS {
 public:
  using Options = LarsOptions;
  LARS(std::vector<torch::optim::OptimizerParamGroup> groups, Options options)
      : impl_(std::make_unique<LarsOptimizer>(std::move(groups), std::move(options))) {}
  void zero_grad() { detail::zero_grad_to_none(*impl_); }
  void step() { impl_->step(); }
  void set_lr(double lr) { detail::set_all_lr(*impl_, lr); }
  [[nodiscard]] torch::optim::Optimizer& optimizer() { return *impl_; }
  [[nodiscard]] const torch::optim::Optimizer& optimizer() const { return *impl_; }

 private:
  std::unique_ptr<LarsOptimizer> impl_;
};

}  // namespace radiossl::optim

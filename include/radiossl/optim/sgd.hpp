/// @file
/// The `radiossl::Optimizer` policy for LibTorch's SGD (momentum 0.9, as solo-learn's `sgd` default).
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "radiossl/optim/lars.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::optim {

/// Options of `optim::SGD`: LibTorch's SGDOptions with solo-learn's defaults (momentum 0.9).
///
/// Note: LibTorch's `SGDOptions` has no default constructor; this one does, so that
/// `Trainer<..., optim::SGD>` can be built from the Trainer's options alone.
struct SgdOptions : torch::optim::SGDOptions {
  SgdOptions(double lr = 0.1) : torch::optim::SGDOptions(lr) { momentum(0.9); }  // NOLINT: implicit, as SGDOptions
};

/// Stochastic gradient descent with momentum (torch::optim::SGD). Weight decay is coupled (L2 in
/// the gradient) and applies to every parameter of the group, as in solo-learn without
/// `exclude_bias_n_norm_wd`.
class SGD {
 public:
  using Options = SgdOptions;
  SGD(std::vector<torch::optim::OptimizerParamGroup> groups, Options options)
      : impl_(std::make_unique<torch::optim::SGD>(std::move(groups), options)) {}
  void zero_grad() { detail::zero_grad_to_none(*impl_); }
  void step() { impl_->step(); }
  void set_lr(double lr) { detail::set_all_lr(*impl_, lr); }
  [[nodiscard]] torch::optim::Optimizer& optimizer() { return *impl_; }
  [[nodiscard]] const torch::optim::Optimizer& optimizer() const { return *impl_; }

 private:
  std::unique_ptr<torch::optim::SGD> impl_;
};

}  // namespace radiossl::optim

/// @file
/// The `radiossl::Optimizer` policy for LibTorch's AdamW (decoupled weight decay).
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "radiossl/optim/lars.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::optim {

/// Options of `optim::AdamW`: LibTorch's AdamWOptions (betas 0.9/0.999, as solo-learn's default),
/// default-constructible.
struct AdamWOptions : torch::optim::AdamWOptions {
  AdamWOptions(double lr = 1e-3) : torch::optim::AdamWOptions(lr) {}  // NOLINT: implicit, as AdamWOptions
};

/// AdamW (Loshchilov & Hutter 2019, arXiv:1711.05101) through torch::optim::AdamW.
class AdamW {
 public:
  using Options = AdamWOptions;
  AdamW(std::vector<torch::optim::OptimizerParamGroup> groups, Options options)
      : impl_(std::make_unique<torch::optim::AdamW>(std::move(groups), options)) {}
  void zero_grad() { detail::zero_grad_to_none(*impl_); }
  void step() { impl_->step(); }
  void set_lr(double lr) { detail::set_all_lr(*impl_, lr); }
  [[nodiscard]] torch::optim::Optimizer& optimizer() { return *impl_; }
  [[nodiscard]] const torch::optim::Optimizer& optimizer() const { return *impl_; }

 private:
  std::unique_ptr<torch::optim::AdamW> impl_;
};

}  // namespace radiossl::optim

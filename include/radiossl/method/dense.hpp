/// @file
/// A Linear layer whose float32 CPU product runs on oneDNN instead of the system BLAS.
#pragma once

#include <cmath>
#include <cstdint>
#include <tuple>

#include "radiossl/torch_fwd.hpp"

namespace radiossl::method {

/// y = x w^T + b for x [N, in], w [out, in], b [out] or undefined: torch::linear's result.
///
/// Note: LibTorch sends torch::linear on CPU to the system's `libblas.so.3`, which on a stock
/// Debian machine is the netlib reference BLAS (4.7 GFLOP/s here, about 60x below the
/// convolutions). For float32 CPU inputs this computes the same product as a 1x1 convolution,
/// which LibTorch runs on oneDNN whatever BLAS is installed: a SimCLR projector's forward and
/// backward at batch 64 took 26 ms this way, 31 ms through OpenBLAS and 290 ms through netlib
/// (`/usr/bin/python3` timing of the same ops). Other dtypes and devices use torch::linear, and
/// so does a batch of one, which LibTorch would give to its slow non-oneDNN convolution.
inline torch::Tensor dense(const torch::Tensor& x, const torch::Tensor& w,
                           const torch::Tensor& b = {}) {
  const bool onednn = x.dim() == 2 && x.device().is_cpu() && !x.is_mkldnn() &&
                      x.scalar_type() == torch::kFloat && w.scalar_type() == torch::kFloat &&
                      x.size(0) > 1 && at::globalContext().userEnabledMkldnn();
  if (!onednn) return torch::linear(x, w, b);
  const std::int64_t n = x.size(0), in = x.size(1), out = w.size(0);
  return torch::conv2d(x.reshape({n, in, 1, 1}), w.reshape({out, in, 1, 1}), b)
      .reshape({n, out});
}

/// torch::nn::Linear with the same parameters ("weight" [out, in], "bias" [out]), the same
/// initialisation (same draws from the same generator) and the same options, whose forward is
/// dense(): checkpoints and state dicts are interchangeable with torch::nn::Linear's.
class DenseImpl : public torch::nn::Cloneable<DenseImpl> {
 public:
  DenseImpl(std::int64_t in, std::int64_t out) : DenseImpl(torch::nn::LinearOptions(in, out)) {}
  explicit DenseImpl(const torch::nn::LinearOptions& options) : options(options) { reset(); }

  void reset() override {
    weight = register_parameter(
        "weight", torch::empty({options.out_features(), options.in_features()}));
    if (options.bias())
      bias = register_parameter("bias", torch::empty(options.out_features()));
    else
      bias = register_parameter("bias", {}, /*requires_grad=*/false);
    reset_parameters();
  }

  /// PyTorch's nn.Linear initialisation (kaiming_uniform with a = sqrt(5), bias U(+-1/sqrt(in))).
  void reset_parameters() {
    torch::NoGradGuard no_grad;
    torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
    if (bias.defined()) {
      const auto fan_in = std::get<0>(torch::nn::init::_calculate_fan_in_and_fan_out(weight));
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
      torch::nn::init::uniform_(bias, -bound, bound);
    }
  }

  torch::Tensor forward(const torch::Tensor& x) { return dense(x, weight, bias); }

  torch::nn::LinearOptions options;
  torch::Tensor weight, bias;
};
TORCH_MODULE(Dense);

}  // namespace radiossl::method

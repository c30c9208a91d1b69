/// @file
/// A convolution whose weight gradient on tiny feature maps is one GEMM over the whole batch.
///
/// At small image sizes the last ResNet stage works on 2x2 or 1x1 maps (64 and 32 px inputs).
/// There oneDNN's backward-weights kernel for a 3x3 convolution (`x64:gemm:jit`) makes one
/// product per image, each summing over only the 4 (or 1) output pixels, and runs at about
/// 10 GFLOP/s: for ResNet-18's 512-channel 3x3 convolution at 2x2, batch 32, it took 62 ms of the
/// convolution's 80 ms backward against 13 ms forward, and ResNet-18's step at 64 px spent a
/// third of its time there (`/usr/bin/python3` torch.profiler, the same oneDNN kernels).
/// Unfolding the input once (im2col) and computing the gradient as one product over all
/// batch x pixel rows (detail::matmul_nt) takes 8 ms instead.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "radiossl/backbone/winograd_conv.hpp"
#include "radiossl/detail/onednn_matmul.hpp"
#include "radiossl/torch_fwd.hpp"

#include <torch/csrc/autograd/custom_function.h>

namespace radiossl::backbone {

namespace detail {

/// Output maps of at most this many pixels get the batched weight gradient: for ResNet-18's
/// shapes at batch 32 it took 9-15 ms against 14-108 ms at 2x2 and 1x1, but 18 ms against 14 ms
/// at 4x4 (256 channels), where oneDNN's own kernel has enough pixels per image.
inline constexpr std::int64_t small_map_pixels = 4;

/// Convolution (no bias, no groups, no dilation) with LibTorch's forward and input gradient,
/// and the weight gradient as one product over the batch.
struct SmallMapConvFunction : torch::autograd::Function<SmallMapConvFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, std::vector<std::int64_t> stride,
                               std::vector<std::int64_t> padding) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    return torch::conv2d(x, weight, {}, stride, padding);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& weight = saved[1];
    const std::vector<std::int64_t> stride = ctx->saved_data["stride"].toIntVector();
    const std::vector<std::int64_t> padding = ctx->saved_data["padding"].toIntVector();
    const torch::Tensor& dy = grads[0];
    torch::Tensor dx, dweight;
    if (ctx->needs_input_grad(0))
      dx = std::get<0>(at::convolution_backward(dy, x, weight, c10::nullopt, stride, padding,
                                                /*dilation=*/{1, 1}, /*transposed=*/false,
                                                /*output_padding=*/{0, 0}, /*groups=*/1,
                                                std::array<bool, 3>{true, false, false}));
    if (ctx->needs_input_grad(1)) {
      const std::int64_t n = x.size(0), c = x.size(1), o = weight.size(0);
      const std::int64_t kh = weight.size(2), kw = weight.size(3);
      const std::int64_t rows = n * dy.size(2) * dy.size(3);  // batch x output pixels
      // dW [O, C kh kw] = dy [O, N L] times the unfolded input [C kh kw, N L] transposed.
      const torch::Tensor cols = at::im2col(x, {kh, kw}, {1, 1}, padding, stride)  // [N, C kh kw, L]
                                     .permute({1, 0, 2})
                                     .reshape({c * kh * kw, rows});
      const torch::Tensor dy_rows = dy.permute({1, 0, 2, 3}).reshape({o, rows});
      dweight = radiossl::detail::matmul_nt(dy_rows, cols).view({o, c, kh, kw});
    }
    return {dx, dweight, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace detail

/// torch::conv2d(x, weight, {}, stride, padding) for a bias-free, ungrouped, undilated
/// convolution with zero padding, as ResNet's blocks run theirs. Where it is faster (float32 on a
/// CPU with oneDNN, a trainable weight, a kernel larger than 1x1, output maps of at most
/// `small_map_pixels`) the weight gradient is the batched product above; the forward result is
/// LibTorch's and the gradients agree with LibTorch's to float32 rounding. With `winograd`, a 3x3
/// stride-1 convolution runs by winograd_conv3x3 where that applies (backbone/winograd_conv.hpp).
inline torch::Tensor conv2d(const torch::Tensor& x, const torch::Tensor& weight, std::int64_t stride,
                            std::int64_t padding, bool winograd = false) {
  if (winograd && stride == 1 && padding == 1)
    if (auto y = winograd_conv3x3(x, weight)) return *std::move(y);
  const bool eligible = x.dim() == 4 && weight.dim() == 4 && x.device().is_cpu() && !x.is_mkldnn() &&
                        x.scalar_type() == torch::kFloat && weight.scalar_type() == torch::kFloat &&
                        torch::GradMode::is_enabled() && weight.requires_grad() &&
                        weight.size(2) * weight.size(3) > 1 && at::globalContext().userEnabledMkldnn();
  if (eligible) {
    const std::int64_t out_h = (x.size(2) + 2 * padding - weight.size(2)) / stride + 1;
    const std::int64_t out_w = (x.size(3) + 2 * padding - weight.size(3)) / stride + 1;
    if (out_h * out_w <= detail::small_map_pixels)
      return detail::SmallMapConvFunction::apply(x, weight, std::vector<std::int64_t>{stride, stride},
                                                 std::vector<std::int64_t>{padding, padding});
  }
  return torch::conv2d(x, weight, {}, stride, padding);
}

}  // namespace radiossl::backbone

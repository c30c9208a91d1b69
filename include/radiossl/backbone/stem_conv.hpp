/// @file
/// The ResNet stem's first convolution on a one-channel radio image.
///
/// The paper feeds the one radio channel replicated to three planes into the RGB stem. Since
/// conv(W, [x, x, x]) = conv(W summed over its input channels, x), `stem_conv2d` takes the one
/// plane and convolves it with the summed weight; autograd through the sum gives every input
/// channel of W the gradient the three-plane convolution gives it. The features, the gradients and
/// the parameters (names, shapes, torchvision weights) are those of the replicated input, up to
/// float rounding, and the loader copies a third of the pixels.
///
/// Note: measured on the development machine (`radiossl_bench --benchmark_filter=stem_conv`,
/// LibTorch 1.13's oneDNN, 2 threads, the Trainer's malloc settings), the 7x7 stride-2 stem at
/// 224 px, batch 32, took 44 ms forward and 96 ms forward + weight gradient on three planes, and
/// 22 ms and 43 ms on one plane with the summed weight.
#pragma once

#include <cstdint>
#include <string>

#include "radiossl/error.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::backbone {

/// The stem convolution (square kernel, no bias, no dilation) of `weight` [oc, c, k, k] over `x`.
/// `x` has `c` channels, or one channel standing for `c` identical ones (the replicated radio
/// plane): then the weight is summed over its input channels, which gives the same output and,
/// through autograd, the same weight gradient as the replicated input. A one-plane input is both
/// NCHW and channels_last, so the output takes the weight's layout (channels_last is the Trainer's
/// layout for ResNet-50 on a CPU and for every backbone on CUDA).
inline torch::Tensor stem_conv2d(const torch::Tensor& x, const torch::Tensor& weight, std::int64_t stride,
                                 std::int64_t pad) {
  if (x.dim() != 4 || weight.dim() != 4)
    throw Error("backbone::stem_conv2d: needs a [N, C, H, W] input and a [O, C, k, k] weight");
  const std::int64_t c = weight.size(1);
  if (x.size(1) == c && c != 1) return torch::conv2d(x, weight, {}, {stride}, {pad});
  if (x.size(1) != 1)
    throw Error("backbone::stem_conv2d: the input has " + std::to_string(x.size(1)) +
                " channels; the first convolution takes " + std::to_string(c) + " (or 1, replicated)");
  const auto y = torch::conv2d(x, c == 1 ? weight : weight.sum(1, /*keepdim=*/true), {}, {stride}, {pad});
  return y.contiguous(weight.suggest_memory_format());
}

}  // namespace radiossl::backbone

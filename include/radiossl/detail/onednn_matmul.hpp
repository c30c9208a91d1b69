/// @file
/// A float32 matrix product on oneDNN, whatever BLAS the system has.
#pragma once

#include "radiossl/error.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::detail {

/// a [M, K] times b [N, K] transposed: [M, N], for float32 CPU tensors (no autograd needed).
///
/// Note: computed as a 1x1 convolution over a channels_last image of 1 x M pixels with K
/// channels, whose memory is `a` itself and whose output's memory is the product, so nothing is
/// copied, and oneDNN runs it as one GEMM. The same product as a batch of M images of 1x1 pixels
/// (method::dense's layout) makes a GEMV per image: for M 512, K 128, N 4608 (a weight gradient
/// in ResNet-18's last stage at 64 px) it took 8.3 ms this way against 29-52 ms that way and
/// 8.2 ms through OpenBLAS's sgemm (`/usr/bin/python3`, the same oneDNN kernels, 2 threads).
/// LibTorch 1.13 gives a one-image convolution to oneDNN only when the image has more than 20480
/// values (M x K here); below that it takes a BLAS path, which is still correct, and fast unless
/// the system BLAS is netlib's.
inline torch::Tensor matmul_nt(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(1))
    throw Error("detail::matmul_nt: expected a [M, K] and b [N, K]");
  const std::int64_t m = a.size(0), k = a.size(1), n = b.size(0);
  const torch::Tensor image = a.contiguous().view({1, 1, m, k}).permute({0, 3, 1, 2});  // [1, K, 1, M], NHWC
  const torch::Tensor product = torch::conv2d(image, b.contiguous().view({n, k, 1, 1}));  // [1, N, 1, M]
  return product.permute({0, 2, 3, 1}).reshape({m, n});
}

}  // namespace radiossl::detail

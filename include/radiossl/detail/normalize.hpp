/// @file
/// L2 normalisation along one dimension, exactly as torch.nn.functional.normalize (eps 1e-12).
#pragma once

#include <cstdint>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

namespace radiossl::detail {

/// x / max(||x||_2 along `dim`, eps); the same formula and eps as F.normalize, so that gradients
/// match solo-learn's bit for bit in float64.
inline at::Tensor l2_normalize(const at::Tensor& x, std::int64_t dim = 1, double eps = 1e-12) {
  return x / x.norm(2, {dim}, /*keepdim=*/true).clamp_min(eps).expand_as(x);
}

}  // namespace radiossl::detail

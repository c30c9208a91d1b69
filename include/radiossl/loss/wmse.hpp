/// @file
/// W-MSE's loss between whitened views (solo/losses/wmse.py).
#pragma once

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "radiossl/detail/normalize.hpp"

namespace radiossl::loss {

/// 2 - 2 mean cos(z1, z2) between two whitened views [N, D].
///
/// @param simplified true (solo-learn's default, used by the paper's code): `z2` is detached, so
///        only the first view gets gradient. false: the original W-MSE (Ermolov et al. 2021,
///        arXiv:2007.06346), gradient through both views.
inline at::Tensor wmse(const at::Tensor& z1, const at::Tensor& z2, bool simplified = true) {
  const at::Tensor target = simplified ? z2.detach() : z2;
  const at::Tensor cos =
      (detail::l2_normalize(z1, 1) * detail::l2_normalize(target, 1)).sum(1);
  return 2 - 2 * cos.mean();
}

}  // namespace radiossl::loss

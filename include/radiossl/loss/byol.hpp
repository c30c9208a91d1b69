/// @file
/// BYOL's normalised regression loss (solo/losses/byol.py), one direction.
#pragma once

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "radiossl/detail/normalize.hpp"

namespace radiossl::loss {

/// 2 - 2 cos(p, z) averaged over the batch; the target `z` is detached (it comes from the
/// teacher). The method sums this over both directions, as solo-learn does (range [0, 8]).
/// @param p online predictions [N, D].
/// @param z momentum (teacher) projections [N, D].
inline at::Tensor byol(const at::Tensor& p, const at::Tensor& z) {
  const at::Tensor cos =
      (detail::l2_normalize(p, 1) * detail::l2_normalize(z.detach(), 1)).sum(1);
  return 2 - 2 * cos.mean();
}

}  // namespace radiossl::loss

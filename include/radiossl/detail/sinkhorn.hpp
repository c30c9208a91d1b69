/// @file
/// Sinkhorn-Knopp equipartition of SwAV codes (solo/utils/sinkhorn_knopp.py).
#pragma once

#include <cstdint>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <c10/core/GradMode.h>

#include "radiossl/detail/collectives.hpp"

namespace radiossl::detail {

/// Soft assignments of `scores` [B_local, K] to K prototypes with equal prototype mass.
///
/// Q = exp(scores / epsilon)^T; then `iterations` times: rows (prototypes) to 1/K, columns
/// (samples) to 1/B, with the sums reduced over processes as solo-learn does; finally each sample's
/// column is scaled to sum to 1. Note: no log-domain stabilisation, as solo-learn, which runs the
/// exp in float32 even under mixed precision; this computes in float32 unless given float64.
/// @return codes [B_local, K], rows summing to 1, no gradient.
inline at::Tensor sinkhorn(const at::Tensor& scores, double epsilon = 0.05,
                           std::int64_t iterations = 3) {
  c10::NoGradGuard no_grad;
  const at::Tensor in =
      scores.scalar_type() == at::kDouble ? scores : scores.to(at::kFloat);
  at::Tensor q = (in / epsilon).exp().t().contiguous();
  const double b = static_cast<double>(q.size(1) * world_size());
  const double k = static_cast<double>(q.size(0));
  at::Tensor total = q.sum();
  q /= all_reduce_sum_(total);
  for (std::int64_t it = 0; it < iterations; ++it) {
    at::Tensor rows = q.sum(1, /*keepdim=*/true);
    q /= all_reduce_sum_(rows);
    q /= k;
    q /= q.sum(0, /*keepdim=*/true);
    q /= b;
  }
  q *= b;
  return q.t();
}

}  // namespace radiossl::detail

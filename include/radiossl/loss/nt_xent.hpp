/// @file
/// SimCLR's NT-Xent loss as solo-learn computes it (solo/losses/simclr.py).
#pragma once

#include <cstdint>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/eye.h>

#include "radiossl/detail/collectives.hpp"
#include "radiossl/detail/normalize.hpp"

namespace radiossl::loss {

/// NT-Xent over all views of a batch, with solo-learn's positive mask.
///
/// @param z           projections of every view, stacked: [V*N, D] (not yet normalised).
/// @param indexes     [V*N] int64 sample identity of each row (rows with equal index are positives).
/// @param temperature softmax temperature (paper: 0.2).
///
/// loss = -mean_i log( sum_j S_ij pos_ij / (sum_j S_ij pos_ij + sum_j S_ij neg_ij) ) with
/// S_ij = exp(z_i . Z_j / T) over the gathered Z. Note: no max-subtraction, exactly as solo-learn,
/// so that values and gradients match its reference; the self-pair is in neither mask.
inline at::Tensor nt_xent(const at::Tensor& z, const at::Tensor& indexes, double temperature) {
  const at::Tensor zn = detail::l2_normalize(z, 1);
  const at::Tensor gathered = detail::all_gather_with_grad(zn);
  const at::Tensor sim = (zn.mm(gathered.t()) / temperature).exp();

  const at::Tensor all_indexes = detail::all_gather(indexes);
  const std::int64_t n = z.size(0);
  at::Tensor self_pair = at::zeros({n, all_indexes.size(0)}, indexes.options().dtype(at::kBool));
  self_pair.narrow(1, detail::rank() * n, n).copy_(at::eye(n, self_pair.options()));
  const at::Tensor pos_mask =
      indexes.unsqueeze(1).eq(all_indexes.unsqueeze(0)).logical_and(self_pair.logical_not());
  const at::Tensor neg_mask = indexes.unsqueeze(1).ne(all_indexes.unsqueeze(0));

  const at::Tensor pos = (sim * pos_mask.to(sim.scalar_type())).sum(1);
  const at::Tensor neg = (sim * neg_mask.to(sim.scalar_type())).sum(1);
  return -(pos / (pos + neg)).log().mean();
}

}  // namespace radiossl::loss

/// @file
/// SwAV's swapped-prediction loss (solo/losses/swav.py).
#pragma once

#include <cstddef>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

namespace radiossl::loss {

/// Swapped prediction: mean over pairs (v1 with an assignment, v2 != v1 among all views) of
/// -mean_batch sum_k q_v1,k log_softmax(p_v2 / T)_k.
///
/// @param preds       prototype scores of every view, [N, K] each (large crops first).
/// @param assignments Sinkhorn codes of the large crops, [N, K] each (no gradient).
/// @param temperature softmax temperature (paper: 0.1).
inline at::Tensor swav(const std::vector<at::Tensor>& preds,
                       const std::vector<at::Tensor>& assignments, double temperature) {
  at::Tensor total;
  std::size_t terms = 0;
  for (std::size_t v1 = 0; v1 < assignments.size(); ++v1) {
    for (std::size_t v2 = 0; v2 < preds.size(); ++v2) {
      if (v2 == v1) continue;
      const at::Tensor term =
          -(assignments[v1] * (preds[v2] / temperature).log_softmax(1)).sum(1).mean();
      total = total.defined() ? total + term : term;
      ++terms;
    }
  }
  return total / static_cast<double>(terms);
}

}  // namespace radiossl::loss

/// @file
/// Cholesky whitening of a batch of embeddings, W-MSE's Whitening2d (solo/utils/whitening.py).
#pragma once

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/linalg_cholesky.h>
#include <ATen/ops/linalg_solve_triangular.h>
#include <c10/core/DispatchKeySet.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

namespace radiossl::detail {

/// Whitens `x` [n, D] so that the output has identity covariance (unbiased, n - 1):
/// xc = x - mean; C = xc^T xc / (n - 1); C' = (1 - eps) C + eps I; W = cholesky(C')^-1;
/// out = xc W^T. Differentiable (gradients flow through the mean, C and the Cholesky factor,
/// as in solo-learn).
///
/// Note: solo-learn runs this in float32 with autocast off (custom_fwd(cast_inputs=float32)),
/// because a bf16/fp16 Cholesky is unstable; so does this (float64 input stays float64).
inline at::Tensor whiten(const at::Tensor& x, double eps = 0.0) {
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  const at::Tensor in = x.scalar_type() == at::kDouble ? x : x.to(at::kFloat);
  const at::Tensor xc = in - in.mean(0, /*keepdim=*/true);
  const auto n = static_cast<double>(in.size(0));
  const at::Tensor eye = at::eye(in.size(1), in.options().requires_grad(false));
  const at::Tensor cov = xc.t().mm(xc) / (n - 1.0);
  const at::Tensor shrunk = cov * (1.0 - eps) + eye * eps;
  const at::Tensor chol = at::linalg_cholesky(shrunk);
  const at::Tensor w = at::linalg_solve_triangular(chol, eye, /*upper=*/false);
  return xc.mm(w.t());
}

}  // namespace radiossl::detail

/// @file
/// 2-D embeddings of feature sets for the report's figures (PCA).
#pragma once

#include <vector>

#include "radiossl/error.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::eval {

/// Projects features [N, D] on their first two principal components; returns x0,y0,x1,y1,...
/// Components are ordered by explained variance and their signs fixed (largest loading positive)
/// so that the figure does not flip between runs.
inline std::vector<float> pca_2d(const torch::Tensor& features) {
  if (features.dim() != 2 || features.size(0) < 2)
    throw Error("pca_2d: need features [N, D] with N >= 2");
  torch::NoGradGuard no_grad;
  auto x = features.to(torch::kDouble);
  x = x - x.mean(0, /*keepdim=*/true);
  auto [u, s, vh] = torch::linalg_svd(x, /*full_matrices=*/false);
  auto comps = vh.narrow(0, 0, std::min<std::int64_t>(2, vh.size(0)));  // [k, D]
  auto signs = torch::sign(comps.gather(1, comps.abs().argmax(1, true)));
  comps = comps * torch::where(signs == 0, torch::ones_like(signs), signs);
  auto proj = torch::mm(x, comps.t()).to(torch::kFloat).contiguous();  // [N, k]
  if (proj.size(1) == 1) proj = torch::cat({proj, torch::zeros_like(proj)}, 1);
  return {proj.data_ptr<float>(), proj.data_ptr<float>() + proj.numel()};
}

}  // namespace radiossl::eval

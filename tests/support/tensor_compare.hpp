/// @file
/// Test helpers: baseline arrays to tensors, and closeness with a readable failure message.
#pragma once

#include <sstream>
#include <string>

#include "radiossl/torch_fwd.hpp"
#include "support/baselines.hpp"

namespace radiossl::test {

/// A float64 tensor holding a generated baseline array.
inline torch::Tensor to_tensor(const baselines::Array& a, bool requires_grad = false) {
  torch::Tensor t = torch::from_blob(const_cast<double*>(a.values.data()),
                                     {static_cast<std::int64_t>(a.values.size())}, torch::kDouble)
                        .clone()
                        .view(a.shape);
  return t.set_requires_grad(requires_grad);
}

/// "ok" when |actual - expected| <= rtol |expected| + atol everywhere, else a description of the
/// worst element (Catch prints it when the check fails).
inline std::string closeness(const torch::Tensor& actual, const torch::Tensor& expected,
                             double rtol = 1e-6, double atol = 1e-12) {
  if (!actual.defined()) return "actual is undefined";
  if (actual.sizes() != expected.sizes()) {
    std::ostringstream s;
    s << "shape " << actual.sizes() << " != " << expected.sizes();
    return s.str();
  }
  const torch::Tensor a = actual.detach().to(torch::kDouble), e = expected.to(torch::kDouble);
  const torch::Tensor excess = (a - e).abs() - (e.abs() * rtol + atol);
  if (excess.numel() == 0 || excess.max().item<double>() <= 0.0) return "ok";
  const auto worst = excess.flatten().argmax().item<std::int64_t>();
  std::ostringstream s;
  s.precision(17);
  s << "element " << worst << ": " << a.flatten()[worst].item<double>() << " vs expected "
    << e.flatten()[worst].item<double>();
  return s.str();
}

}  // namespace radiossl::test

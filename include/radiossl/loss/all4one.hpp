/// @file
/// All4One's three objectives: NNCLR contrast, attention contrast and feature redundancy
/// (solo/losses/nnclr.py and solo/methods/all4one.py).
#pragma once

#include <cstdint>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>

#include "radiossl/detail/collectives.hpp"
#include "radiossl/detail/normalize.hpp"

namespace radiossl::loss {

/// NNCLR's contrastive loss: cross-entropy of normalize(nn) . normalize(gather(p))^T / T with the
/// matching row as the label.
/// @param nn          anchors [N, D] (queue neighbours, or All4One's rich embeddings).
/// @param p           predictions [N, D], gathered over processes with gradient.
/// @param temperature softmax temperature (solo-learn's default 0.1).
inline at::Tensor nnclr(const at::Tensor& nn, const at::Tensor& p, double temperature = 0.1) {
  const at::Tensor a = detail::l2_normalize(nn, 1);
  const at::Tensor b = detail::all_gather_with_grad(detail::l2_normalize(p, 1));
  const at::Tensor logits = a.mm(b.t()) / temperature;
  const std::int64_t n = nn.size(0);
  const at::Tensor labels =
      at::arange(n * detail::rank(), n * (detail::rank() + 1), nn.options().dtype(at::kLong));
  return -logits.log_softmax(1).gather(1, labels.unsqueeze(1)).mean();
}

/// All4One's feature (redundancy) loss between momentum projections m and online projections z:
/// columns normalised over the batch, C1 = m1^T z2, C2 = m2^T z1 (D x D);
/// 10 * (sqrt(mean of squared diagonal errors) / 2 + sqrt(mean of squared off-diagonals) / 2),
/// each mean averaged over C1 and C2.
inline at::Tensor all4one_feature(const at::Tensor& m1, const at::Tensor& z2, const at::Tensor& m2,
                                  const at::Tensor& z1) {
  const at::Tensor c1 = detail::l2_normalize(m1, 0).t().mm(detail::l2_normalize(z2, 0));
  const at::Tensor c2 = detail::l2_normalize(m2, 0).t().mm(detail::l2_normalize(z1, 0));
  const std::int64_t d = c1.size(0);
  const auto off_mean = [d](const at::Tensor& c) {
    // Sum of all squares minus the diagonal ones, over the d(d-1) off-diagonal entries.
    return ((c * c).sum() - (c.diagonal() * c.diagonal()).sum()) /
           static_cast<double>(d * (d - 1));
  };
  const at::Tensor on = (((c1.diagonal() - 1).pow(2).mean() + (c2.diagonal() - 1).pow(2).mean()) *
                         0.5).sqrt();
  const at::Tensor off = ((off_mean(c1) + off_mean(c2)) * 0.5).sqrt();
  return (0.5 * on + 0.5 * off) * 10;
}

/// The three All4One terms and their total (1/2 each).
struct All4OneLoss {
  at::Tensor total;
  at::Tensor attention;  ///< NNCLR between rich and strange (shifted) transformer embeddings.
  at::Tensor nn;         ///< NNCLR between first neighbours and predictions.
  at::Tensor feature;    ///< redundancy reduction over feature dimensions.
};

/// All4One's objective from the embeddings of one step (views 1 and 2).
/// @param rich1,rich2         transformer(pos_enc(neighbours))[:, 0].
/// @param strange1,strange2   transformer(pos_enc([predictor2(z), NN1..NN4]))[:, 0].
/// @param nn1,nn2             first neighbours from the queue [N, D].
/// @param p1,p2               predictor(z1), predictor(z2).
/// @param m1,m2               normalised momentum projections.
/// @param z1,z2               online projections.
/// @param temperature         the method's temperature (paper: 0.2) for the NN term.
/// @param attention_temperature NNCLR's default 0.1: solo-learn does not pass its temperature
///        to the attention term.
inline All4OneLoss all4one(const at::Tensor& rich1, const at::Tensor& rich2,
                           const at::Tensor& strange1, const at::Tensor& strange2,
                           const at::Tensor& nn1, const at::Tensor& nn2, const at::Tensor& p1,
                           const at::Tensor& p2, const at::Tensor& m1, const at::Tensor& m2,
                           const at::Tensor& z1, const at::Tensor& z2, double temperature,
                           double attention_temperature = 0.1) {
  All4OneLoss out;
  out.attention = nnclr(rich1, strange2, attention_temperature) / 2 +
                  nnclr(rich2, strange1, attention_temperature) / 2;
  out.nn = nnclr(nn1, p2, temperature) / 2 + nnclr(nn2, p1, temperature) / 2;
  out.feature = all4one_feature(m1, z2, m2, z1);
  out.total = 0.5 * out.attention + 0.5 * out.nn + 0.5 * out.feature;
  return out;
}

}  // namespace radiossl::loss

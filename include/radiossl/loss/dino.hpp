/// @file
/// DINO's cross-entropy between the centred, sharpened teacher and the student (solo/losses/dino.py).
#pragma once

#include <cstdint>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "radiossl/detail/collectives.hpp"

namespace radiossl::loss {

/// DINO loss, averaged over the (teacher crop, student crop) pairs of different crops.
///
/// @param student_logits      head outputs of every crop, stacked: [V*N, K] (large crops first).
/// @param teacher_logits      teacher head outputs of the large crops: [num_large_crops*N, K].
/// @param center              running centre [1, K] (subtracted from the teacher logits).
/// @param student_temperature tau_s (solo-learn default 0.1).
/// @param teacher_temperature tau_t of the current epoch (warm-up 0.04 -> 0.07).
/// @param num_large_crops     number of teacher crops (2).
///
/// loss = mean over iq != iv of mean_batch[ -sum_k t_iq,k log_softmax(s_iv / tau_s)_k ], with
/// t = softmax((teacher - center) / tau_t), detached.
inline at::Tensor dino(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                       const at::Tensor& center, double student_temperature,
                       double teacher_temperature, std::int64_t num_large_crops = 2) {
  const std::int64_t n = teacher_logits.size(0) / num_large_crops;
  const std::int64_t num_crops = student_logits.size(0) / n;
  const auto student = (student_logits / student_temperature).log_softmax(-1).split(n);
  const auto teacher =
      ((teacher_logits - center) / teacher_temperature).softmax(-1).detach().split(n);
  at::Tensor total;
  std::int64_t terms = 0;
  for (std::int64_t iq = 0; iq < num_large_crops; ++iq) {
    for (std::int64_t iv = 0; iv < num_crops; ++iv) {
      if (iv == iq) continue;
      const at::Tensor term = (-teacher[iq] * student[iv]).sum(-1).mean();
      total = total.defined() ? total + term : term;
      ++terms;
    }
  }
  return total / static_cast<double>(terms);
}

/// The centre of this batch: column sums of the teacher logits, summed over processes, divided
/// by the world size and by the local row count (solo-learn's DINOLoss.update_center).
inline at::Tensor dino_batch_center(const at::Tensor& teacher_logits) {
  at::Tensor batch_center = teacher_logits.detach().sum(0, /*keepdim=*/true);
  detail::all_reduce_sum_(batch_center);
  return batch_center / static_cast<double>(detail::world_size()) /
         static_cast<double>(teacher_logits.size(0));
}

/// The next centre: momentum * center + (1 - momentum) * batch centre (momentum 0.9).
inline at::Tensor dino_center_update(const at::Tensor& center, const at::Tensor& teacher_logits,
                                     double momentum = 0.9) {
  return center * momentum + dino_batch_center(teacher_logits) * (1.0 - momentum);
}

}  // namespace radiossl::loss

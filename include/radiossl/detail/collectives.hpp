/// @file
/// The one indirection every cross-process reduction of the methods goes through (single process).
///
/// solo-learn gathers SimCLR/NNCLR embeddings with gradient, all-reduces the DINO centre and the
/// Sinkhorn sums. radiossl runs one process today: every call below is the identity for a world of
/// one. Note: losses and methods call only these functions, so that a process-group version
/// (dist/process_group.hpp) can replace this header's bodies without touching them.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace radiossl::detail {

/// Number of processes taking part in training (1: single process).
inline std::int64_t world_size() { return 1; }

/// Index of this process in [0, world_size()).
inline std::int64_t rank() { return 0; }

/// Concatenates `t` over processes along dim 0, keeping the autograd graph for the local slice
/// (solo-learn's GatherLayer: backward all-reduces the gradient and keeps the own slice).
inline at::Tensor all_gather_with_grad(const at::Tensor& t) { return t; }

/// Concatenates `t` over processes along dim 0, without gradient.
inline at::Tensor all_gather(const at::Tensor& t) { return t; }

/// Sums `t` in place over processes; returns `t`.
inline at::Tensor& all_reduce_sum_(at::Tensor& t) { return t; }

}  // namespace radiossl::detail

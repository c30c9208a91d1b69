/// @file
/// The one indirection every cross-process reduction of the methods goes through.
///
/// solo-learn gathers SimCLR/NNCLR embeddings with gradient, all-reduces the DINO centre and the
/// Sinkhorn sums. Losses and methods call only the free functions below; they run on the
/// process group that `dist::init_from_env()` (dist/process_group.hpp) installs, and are the
/// identity for a world of one when none is installed. Note: this header stays ATen-only (the
/// loss headers include it), so the process group hides behind the small virtual interface
/// `Communicator`; one process pays one null-pointer test per call.
#pragma once

#include <cstdint>
#include <memory>

#include <ATen/core/Tensor.h>

namespace radiossl::detail {

/// What a process group offers the collectives: implemented by dist::C10dCommunicator (Gloo or
/// NCCL, dist/process_group.hpp).
/// Every call is collective: all ranks make the same calls in the same order.
class Communicator {
 public:
  virtual ~Communicator() = default;
  /// Number of processes.
  [[nodiscard]] virtual std::int64_t world_size() const = 0;
  /// This process's index in [0, world_size()).
  [[nodiscard]] virtual std::int64_t rank() const = 0;
  /// Concatenation over ranks along dim 0; backward all-reduces the gradient and keeps the own slice.
  virtual at::Tensor all_gather_with_grad(const at::Tensor& t) = 0;
  /// Concatenation over ranks along dim 0 (same shape on every rank), no gradient.
  virtual at::Tensor all_gather(const at::Tensor& t) = 0;
  /// Elementwise sum over ranks, in place.
  virtual void all_reduce_sum_(at::Tensor& t) = 0;
  /// Copies `root`'s `t` into every rank's `t`, in place.
  virtual void broadcast_(at::Tensor& t, std::int64_t root) = 0;
  /// Returns once every rank has reached it.
  virtual void barrier() = 0;
};

/// The installed process group (null: one process). Set by dist::init / dist::shutdown only.
inline std::shared_ptr<Communicator>& communicator() {
  static std::shared_ptr<Communicator> c;
  return c;
}

/// Number of processes taking part in training (1: single process).
inline std::int64_t world_size() {
  const auto& c = communicator();
  return c ? c->world_size() : 1;
}

/// Index of this process in [0, world_size()).
inline std::int64_t rank() {
  const auto& c = communicator();
  return c ? c->rank() : 0;
}

/// Concatenates `t` over processes along dim 0, keeping the autograd graph for the local slice
/// (solo-learn's GatherLayer: backward all-reduces the gradient and keeps the own slice).
/// Every rank must pass the same shape.
inline at::Tensor all_gather_with_grad(const at::Tensor& t) {
  const auto& c = communicator();
  return c ? c->all_gather_with_grad(t) : t;
}

/// Concatenates `t` over processes along dim 0, without gradient. Every rank must pass the same shape.
inline at::Tensor all_gather(const at::Tensor& t) {
  const auto& c = communicator();
  return c ? c->all_gather(t) : t;
}

/// Sums `t` in place over processes; returns `t`.
inline at::Tensor& all_reduce_sum_(at::Tensor& t) {
  if (const auto& c = communicator()) c->all_reduce_sum_(t);
  return t;
}

}  // namespace radiossl::detail

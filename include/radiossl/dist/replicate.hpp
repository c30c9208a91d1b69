/// @file
/// Keeping the model replicas of a data-parallel job identical: one broadcast of the initial
/// state from rank 0, and gradients averaged over ranks after each backward (DDP's job).
///
/// Both flatten many tensors into a few large buckets (one collective each), because per-tensor
/// collectives cost a round trip per tensor (ResNet-50 has 161 parameter tensors). They run on
/// detail/collectives.hpp's process group and do nothing for one process.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "radiossl/detail/collectives.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::dist {

namespace detail {

/// Splits `tensors` into runs of one dtype of at most `bucket_bytes` each (a single larger
/// tensor gets its own bucket), keeping their order.
inline std::vector<std::vector<torch::Tensor>> buckets(const std::vector<torch::Tensor>& tensors,
                                                       std::int64_t bucket_bytes) {
  std::map<c10::ScalarType, std::vector<torch::Tensor>> by_type;
  for (const auto& t : tensors) by_type[t.scalar_type()].push_back(t);
  std::vector<std::vector<torch::Tensor>> out;
  for (auto& [type, ts] : by_type) {
    std::int64_t bytes = 0;
    out.emplace_back();
    for (auto& t : ts) {
      const std::int64_t b = t.numel() * static_cast<std::int64_t>(t.element_size());
      if (!out.back().empty() && bytes + b > bucket_bytes) {
        out.emplace_back();
        bytes = 0;
      }
      out.back().push_back(t);
      bytes += b;
    }
  }
  return out;
}

}  // namespace detail

/// Default bucket size: 32 MiB, large enough that a collective's latency is amortised, small
/// enough that the flat copy stays cheap (PyTorch DDP uses 25 MiB).
inline constexpr std::int64_t default_bucket_bytes = std::int64_t{32} << 20;

/// Copies rank 0's `tensors` into every rank's, flattened into a few buckets.
inline void broadcast_tensors(const std::vector<torch::Tensor>& tensors,
                              std::int64_t bucket_bytes = default_bucket_bytes) {
  const auto& comm = radiossl::detail::communicator();
  if (!comm || comm->world_size() <= 1 || tensors.empty()) return;
  torch::NoGradGuard no_grad;
  for (auto& bucket : detail::buckets(tensors, bucket_bytes)) {
    std::vector<torch::Tensor> flat_parts;
    for (auto& t : bucket) flat_parts.push_back(t.reshape(-1));
    torch::Tensor flat = torch::cat(flat_parts);
    comm->broadcast_(flat, 0);
    std::int64_t off = 0;
    for (auto& t : bucket) {
      t.copy_(flat.narrow(0, off, t.numel()).view(t.sizes()));
      off += t.numel();
    }
  }
}

/// Copies rank 0's parameters and buffers into every rank's `modules` (same architecture on
/// every rank), so that all replicas start identical whatever each rank's initialisation drew.
/// Buffers in `per_rank` (each rank's own part of a split state, SwAV's queue) are left alone.
inline void broadcast_state(const std::vector<torch::nn::Module*>& modules,
                            const std::vector<torch::Tensor>& per_rank = {}) {
  auto own = [&](const torch::Tensor& b) {
    return std::any_of(per_rank.begin(), per_rank.end(), [&](const torch::Tensor& t) { return t.is_same(b); });
  };
  std::vector<torch::Tensor> all;
  for (auto* m : modules) {
    for (auto& p : m->parameters()) all.push_back(p);
    for (auto& b : m->buffers())
      if (!own(b)) all.push_back(b);
  }
  broadcast_tensors(all);
}

/// Copies rank 0's BatchNorm running statistics (buffers named running_mean, running_var,
/// num_batches_tracked) into every rank, as PyTorch DDP's `broadcast_buffers` does each step:
/// each rank computes them from its own batch, and the replicas must stay identical. Other
/// buffers (per-rank queues) are left alone.
inline void broadcast_batch_norm_statistics(const std::vector<torch::nn::Module*>& modules) {
  std::vector<torch::Tensor> stats;
  auto ends_with = [](const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  };
  for (auto* m : modules)
    for (auto& item : m->named_buffers())
      if (ends_with(item.key(), "running_mean") || ends_with(item.key(), "running_var") ||
          ends_with(item.key(), "num_batches_tracked"))
        stats.push_back(item.value());
  broadcast_tensors(stats);
}

/// Averages the gradients of a fixed list of parameters over ranks, in buckets.
///
/// A parameter whose gradient is undefined on a rank counts as zero there; it gets a gradient
/// on every rank when any rank had one and stays undefined when none had (one flag per
/// parameter travels in its bucket), so that all replicas take the same optimizer step.
class GradientAverager {
 public:
  GradientAverager() = default;
  explicit GradientAverager(std::vector<torch::Tensor> params, std::int64_t bucket_bytes = default_bucket_bytes)
      : buckets_(detail::buckets(params, bucket_bytes)) {}

  /// Call after backward, before the optimizer step (collective: every rank calls it).
  void average() {
    const auto& comm = radiossl::detail::communicator();
    if (!comm || comm->world_size() <= 1) return;
    torch::NoGradGuard no_grad;
    const double world = static_cast<double>(comm->world_size());
    for (auto& bucket : buckets_) {
      std::vector<torch::Tensor> parts;
      parts.reserve(bucket.size() + 1);
      std::vector<float> defined;
      for (auto& p : bucket) {
        const bool has = p.grad().defined();
        defined.push_back(has ? 1.0F : 0.0F);
        parts.push_back(has ? p.grad().reshape(-1) : torch::zeros({p.numel()}, p.options()));
      }
      parts.push_back(torch::tensor(defined).to(bucket.front().options()));
      torch::Tensor flat = torch::cat(parts);
      comm->all_reduce_sum_(flat);
      flat.div_(world);
      const torch::Tensor flags = flat.narrow(0, flat.size(0) - static_cast<std::int64_t>(bucket.size()),
                                              static_cast<std::int64_t>(bucket.size()));
      const auto any = (flags > 0).to(torch::kCPU);
      const bool* any_p = any.data_ptr<bool>();
      std::int64_t off = 0;
      for (std::size_t i = 0; i < bucket.size(); ++i) {
        auto& p = bucket[i];
        const torch::Tensor g = flat.narrow(0, off, p.numel()).view(p.sizes());
        off += p.numel();
        if (p.grad().defined())
          p.mutable_grad().copy_(g);
        else if (any_p[i])
          p.mutable_grad() = torch::empty_like(p).copy_(g);
      }
    }
  }

 private:
  std::vector<std::vector<torch::Tensor>> buckets_;
};

}  // namespace radiossl::dist

/// @file
/// Float32 CPU tensors whose memory goes back to a pool when the last tensor using it dies, so that
/// a loader's batches reuse memory that is already mapped.
///
/// Note: glibc serves blocks above 32 MiB (its largest mmap threshold) with a fresh mmap, and
/// unmaps them on free. A batch of 128 views of 3 x 224 x 224 floats is 77 MB, so each batch's
/// memory was page-faulted in again, and unmapped by the consumer's thread. One loader worker
/// measured 1075 images/s at batch 128 against 2396 at batch 32, whose 19 MB batches glibc reuses
/// (`radiossl_bench --benchmark_filter=BM_data_loader`, without the Trainer's CPU malloc settings,
/// which are off on CUDA).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "radiossl/torch_fwd.hpp"

namespace radiossl::data {

class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  /// Keeps at most `keep` free buffers of each size; more are freed when their tensors die.
  [[nodiscard]] static std::shared_ptr<BufferPool> create(std::size_t keep) {
    return std::shared_ptr<BufferPool>(new BufferPool(keep));
  }

  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  ~BufferPool() {
    for (auto& [bytes, buffers] : free_)
      for (void* p : buffers) std::free(p);
  }

  /// An uninitialised float32 CPU tensor of `sizes`, on a pooled buffer when one is free. The
  /// tensor (and its views) keep the pool alive: it may outlive whoever made the pool.
  [[nodiscard]] torch::Tensor empty(at::IntArrayRef sizes) {
    std::int64_t numel = 1;
    for (const auto s : sizes) numel *= s;
    // 64-byte aligned, as LibTorch's own CPU allocator; aligned_alloc wants a multiple of it.
    const std::size_t bytes = (static_cast<std::size_t>(numel) * sizeof(float) + 63) / 64 * 64;
    void* p = nullptr;
    {
      const std::scoped_lock lock(mutex_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
      }
    }
    if (p == nullptr) p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
    if (p == nullptr) throw std::bad_alloc();
    std::shared_ptr<BufferPool> self = shared_from_this();
    return torch::from_blob(p, sizes, [self, bytes](void* q) { self->give_back(q, bytes); },
                            torch::TensorOptions().dtype(torch::kFloat32));
  }

 private:
  explicit BufferPool(std::size_t keep) : keep_(keep) {}

  void give_back(void* p, std::size_t bytes) {
    {
      const std::scoped_lock lock(mutex_);
      auto& buffers = free_[bytes];
      if (buffers.size() < keep_) {
        buffers.push_back(p);
        return;
      }
    }
    std::free(p);
  }

  std::size_t keep_;
  std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_;
};

}  // namespace radiossl::data

/// @file
/// glibc malloc settings that keep freed memory for reuse instead of returning it to the kernel.
#pragma once

#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace radiossl::detail {

/// How much freed memory the process keeps (each level includes the one before).
enum class KeepFreed {
  /// Blocks up to 32 MiB (augmented views, batches) come from the heap, and up to 512 MiB of
  /// freed heap stays mapped.
  views = 1,
  /// Every block comes from the heap, and freed heap is never returned: a training step's
  /// activations (hundreds of MB at 224 px, above glibc's 32 MiB mmap limit) are reused.
  everything = 2,
};

/// Raises glibc's malloc settings to `level` (process-wide; never lowers them; a no-op outside
/// glibc).
/// Note: by default glibc serves each large block with a fresh mmap and unmaps it on free, so
/// the kernel zero-fills it page by page again next time. Measured on the development machine:
/// view buffers refaulted tripled the time of a random resized crop (415 us -> 34 us for the
/// buffers alone), and a ResNet-18 SimCLR step at 224 px spent about 2 s of kernel time per
/// process in page faults (7.4-8.3 s of system time against 3.2-3.5 s with `everything`). The
/// cost is memory that stays mapped: the peak of the step, which the next step needs anyway
/// (2.29 GB -> 2.52-2.58 GB peak RSS for that step).
inline void keep_freed_memory(KeepFreed level) {
#if defined(__GLIBC__)
  static std::mutex mutex;
  static int applied = 0;
  const std::scoped_lock lock(mutex);
  const int want = static_cast<int>(level);
  if (want <= applied) return;
  if (level == KeepFreed::everything) {
    mallopt(M_MMAP_MAX, 0);         // no mmap: every block comes from the heap, and is reused
    mallopt(M_TRIM_THRESHOLD, -1);  // -1: the top of the heap is never trimmed (mallopt(3))
  } else {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
  }
  applied = want;
#else
  (void)level;
#endif
}

}  // namespace radiossl::detail

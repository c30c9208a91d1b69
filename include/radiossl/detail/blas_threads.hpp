/// @file
/// OpenBLAS's own thread pool, sized at run time when OpenBLAS is the BLAS LibTorch calls.
#pragma once

#include <cstdlib>

#if defined(__linux__) || defined(__APPLE__)
#include <dlfcn.h>
#define RADIOSSL_DETAIL_DLSYM 1
#endif

namespace radiossl::detail {

/// The thread count OpenBLAS reports, or 0 when no OpenBLAS is loaded.
[[nodiscard]] inline int openblas_threads() {
#ifdef RADIOSSL_DETAIL_DLSYM
  using Get = int (*)();
  auto* get = reinterpret_cast<Get>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get != nullptr ? get() : 0;
#else
  return 0;
#endif
}

/// Sets OpenBLAS's thread pool to `threads` when OpenBLAS is loaded (Debian's libblas.so.3 is
/// OpenBLAS once libopenblas0 is installed) and OPENBLAS_NUM_THREADS does not already say how
/// many. Returns whether it did.
///
/// Why: LibTorch sends `mm`/`addmm` on a CPU to libblas.so.3. OpenBLAS's pthread build runs those
/// products on its own threads next to LibTorch's OpenMP threads, and each pool spins while the
/// other works: on 2 cores, `perf` put a quarter of an All4One step at 32 px in libgomp and a
/// tenth in the kernel's scheduler. With one OpenBLAS thread the six ResNet-18 steps at 32 px ran
/// 1.15-1.50x faster (medians of 3 rounds; README, performance section).
inline bool set_openblas_threads(int threads) {
#ifdef RADIOSSL_DETAIL_DLSYM
  if (std::getenv("OPENBLAS_NUM_THREADS") != nullptr) return false;  // the user's choice stands
  using Set = void (*)(int);
  auto* set = reinterpret_cast<Set>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set == nullptr) return false;
  set(threads);
  return true;
#else
  (void)threads;
  return false;
#endif
}

}  // namespace radiossl::detail

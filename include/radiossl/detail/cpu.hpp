/// @file
/// What vector instructions this CPU runs, asked once: x86-64 builds target SSE2 unless told
/// otherwise, so the data path's AVX kernels are chosen at run time.
#pragma once

#if defined(__SSE2__) && defined(__x86_64__) && defined(__GNUC__)
/// Set where the data path may call kernels compiled with [[gnu::target("avx2")]] and the like.
#define RADIOSSL_DETAIL_X86_DISPATCH 1
#endif

namespace radiossl::detail {

#ifdef RADIOSSL_DETAIL_X86_DISPATCH
/// Whether this CPU runs AVX and FMA. The explicit init makes the answer right even when the
/// first call comes from a static initialiser, before libgcc's own.
[[nodiscard]] inline bool cpu_has_avx_fma() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") && __builtin_cpu_supports("fma");
  }();
  return has;
}

/// Whether this CPU runs AVX2.
[[nodiscard]] inline bool cpu_has_avx2() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has;
}
#else
[[nodiscard]] constexpr bool cpu_has_avx_fma() { return false; }
[[nodiscard]] constexpr bool cpu_has_avx2() { return false; }
#endif

}  // namespace radiossl::detail

/// @file
/// `Pipeline<Stages...>`: augmentation stages composed at compile time, run in order on one image.
#pragma once

#include <concepts>
#include <cstddef>
#include <tuple>
#include <utility>

#if defined(__SSE__) || defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define RADIOSSL_DETAIL_HAS_MXCSR 1
#endif
#include "radiossl/concepts/augment.hpp"
#include "radiossl/detail/malloc.hpp"
#include "radiossl/image.hpp"

namespace radiossl::augment {

/// \concept Stage
/// One augmentation step: `void operator()(Image&, Rng&) const`, modifying the image in place
/// (it may replace it with one of another size). All randomness comes from the Rng.
/// Optional: `Image make(const Image&, Rng&) const`, which builds the output from a source it
/// does not modify (crops and resizes); a Pipeline's first stage uses it to skip a copy.
template <class S>
concept Stage = std::copy_constructible<S> && requires(const S s, Image& img, Rng& rng) { s(img, rng); };

/// Runs `Stages...` in order. The composition is a std::tuple fixed at compile time, so each
/// call is a straight sequence of inlined stage calls, with no virtual dispatch per pixel stage.
///
/// Example: `Pipeline p{RandomResizedCrop{.size = 96}, RandomHorizontalFlip{}};
///           Image view = p(cutout, rng);`
template <Stage... Stages>
class Pipeline {
 public:
  Pipeline() = default;
  explicit Pipeline(Stages... stages) : stages_(std::move(stages)...) {}

  /// Applies every stage to `img` in place.
  void apply(Image& img, Rng& rng) const {
    std::apply([&](const auto&... s) { (s(img, rng), ...); }, stages_);
  }

  /// One augmented image from `src` (left unchanged).
  [[nodiscard]] Image operator()(const Image& src, Rng& rng) const {
    if constexpr (sizeof...(Stages) == 0) {
      return src;
    } else {
      return run_from_source(src, rng, std::index_sequence_for<Stages...>{});
    }
  }

  /// The I-th stage (to read or change its settings).
  template <std::size_t I>
  [[nodiscard]] const auto& stage() const { return std::get<I>(stages_); }
  template <std::size_t I>
  [[nodiscard]] auto& stage() { return std::get<I>(stages_); }

  /// A new pipeline with `next` appended: `pipeline.then(RandomVerticalFlip{})`.
  template <Stage Next>
  [[nodiscard]] Pipeline<Stages..., Next> then(Next next) const {
    return std::apply([&](const auto&... s) { return Pipeline<Stages..., Next>(s..., std::move(next)); }, stages_);
  }

  static constexpr std::size_t size() { return sizeof...(Stages); }

 private:
  template <std::size_t First, std::size_t... Rest>
  Image run_from_source(const Image& src, Rng& rng, std::index_sequence<First, Rest...>) const {
    const auto& first = std::get<First>(stages_);
    Image img = [&] {
      if constexpr (requires { { first.make(src, rng) } -> std::same_as<Image>; }) {
        return first.make(src, rng);
      } else {
        Image copy = src;
        first(copy, rng);
        return copy;
      }
    }();
    (std::get<Rest>(stages_)(img, rng), ...);
    return img;
  }

  std::tuple<Stages...> stages_;
};

template <class... S>
Pipeline(S...) -> Pipeline<S...>;

/// Makes the calling thread flush denormal floats to zero (FTZ) and treat denormal inputs as
/// zero (DAZ). Note: blurs and resamples of faint radio emission produce denormals, which run
/// 10-100x slower on x86 (perf-notes: 3-6.5x on the whole augmentation stage); the loader calls
/// this in each worker thread. A no-op on other architectures.
inline void flush_denormals_to_zero() {
#ifdef RADIOSSL_DETAIL_HAS_MXCSR
  _mm_setcsr(_mm_getcsr() | 0x8040u);  // bit 15 FTZ, bit 6 DAZ
#endif
}

/// Makes glibc's malloc keep freed view buffers for reuse (process-wide; see
/// detail::keep_freed_memory for the measured reason). The loader calls this unless
/// LoaderOptions::retain_freed_memory is false.
inline void retain_freed_memory() {
  radiossl::detail::keep_freed_memory(radiossl::detail::KeepFreed::views);
}

}  // namespace radiossl::augment

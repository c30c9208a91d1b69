/// @file
/// The ResNet stem's max-pool (3x3, stride 2, padding 1) on CPU NCHW float32 maps, with LibTorch's
/// results, indices and backward.
///
/// Note: LibTorch 1.13's CPU max_pool2d_with_indices walks each output's window with scalar code
/// and took 83-95 ms for ResNet's [32, 64, 112, 112] stem maps at 224 px, against 7-25 ms for a
/// copy of the same tensor (`/usr/bin/python3`, 2 threads): two calls per SimCLR step, about 3.5%
/// of the step (torch.profiler). Here, for stride 2 on a CPU with AVX2, 8 outputs of a row are built
/// at once from whole-row loads; the rest (borders, other strides, other CPUs) is scalar.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "radiossl/detail/cpu.hpp"
#include "radiossl/torch_fwd.hpp"

#ifdef RADIOSSL_DETAIL_X86_DISPATCH
#include <immintrin.h>
#endif

#include <torch/csrc/autograd/custom_function.h>

namespace radiossl::backbone {

namespace detail {

/// One output's window, scanned as LibTorch scans it: rows, then columns; the first maximum wins,
/// and a NaN wins over any number (the last NaN of the window). Indices are flat (ih * w + iw),
/// and an all -inf window points at its first pixel.
inline void max_pool_window(const float* in, std::int64_t h, std::int64_t w, std::int64_t y, std::int64_t x,
                            std::int64_t k, std::int64_t s, std::int64_t p, float& best, std::int64_t& at) {
  const std::int64_t ih0 = std::max<std::int64_t>(y * s - p, 0), ih1 = std::min(y * s - p + k, h);
  const std::int64_t iw0 = std::max<std::int64_t>(x * s - p, 0), iw1 = std::min(x * s - p + k, w);
  best = -std::numeric_limits<float>::infinity();
  at = ih0 * w + iw0;
  for (std::int64_t ih = ih0; ih < ih1; ++ih)
    for (std::int64_t iw = iw0; iw < iw1; ++iw) {
      const float v = in[ih * w + iw];
      if (v > best || v != v) {
        best = v;
        at = ih * w + iw;
      }
    }
}

#ifdef RADIOSSL_DETAIL_X86_DISPATCH
/// Stride 2, outputs x..x+7 of one output row whose windows cover input rows [ih0, ih1): the
/// caller guarantees that every window lies inside the row and that the 16-float loads stay in it.
/// Same order of comparisons per output as max_pool_window, so the same values and indices.
[[gnu::target("avx2")]] inline void max_pool_block_s2_avx2(const float* in, std::int64_t w, std::int64_t ih0,
                                                         std::int64_t ih1, std::int64_t x, std::int64_t k,
                                                         std::int64_t p, float* out, std::int64_t* idx) {
  const __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  __m256 best = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  // Every window starts inside the row here: its first pixel is (ih0, 2x - p).
  __m256i at = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(ih0 * w + 2 * x - p)), lane2);
  for (std::int64_t ih = ih0; ih < ih1; ++ih) {
    for (std::int64_t kw = 0; kw < k; ++kw) {
      const std::int64_t col = 2 * x - p + kw;
      const float* q = in + ih * w + col;
      const __m256 lo = _mm256_loadu_ps(q), hi = _mm256_loadu_ps(q + 8);
      // The even elements of q[0..15], in order: columns col, col + 2, ..., col + 14.
      const __m256 v = _mm256_castpd_ps(_mm256_permute4x64_pd(
          _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
      const __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      best = _mm256_blendv_ps(best, v, take);
      const __m256i cand = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(ih * w + col)), lane2);
      at = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(at), _mm256_castsi256_ps(cand), take));
    }
  }
  _mm256_storeu_ps(out + x, best);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + x), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(at)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + x + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(at, 1)));
}

/// Outputs [x_begin, x_end) of output row y in blocks of 8, for x_end - x_begin >= 8; the tail is
/// one more block ending at x_end, and the outputs it repeats get the same results.
inline void max_pool_row_s2_avx2(const float* in, std::int64_t h, std::int64_t w, std::int64_t y,
                                 std::int64_t x_begin, std::int64_t x_end, std::int64_t k, std::int64_t p,
                                 float* out, std::int64_t* idx) {
  const std::int64_t ih0 = std::max<std::int64_t>(y * 2 - p, 0), ih1 = std::min(y * 2 - p + k, h);
  std::int64_t x = x_begin;
  for (; x + 8 <= x_end; x += 8) max_pool_block_s2_avx2(in, w, ih0, ih1, x, k, p, out, idx);
  if (x < x_end) max_pool_block_s2_avx2(in, w, ih0, ih1, x_end - 8, k, p, out, idx);
}
#endif

/// Max over one plane [h, w] -> [oh, ow] with LibTorch's values and flat input indices.
inline void max_pool_plane(const float* in, std::int64_t h, std::int64_t w, float* out, std::int64_t* idx,
                           std::int64_t oh, std::int64_t ow, std::int64_t k, std::int64_t s, std::int64_t p) {
#ifdef RADIOSSL_DETAIL_X86_DISPATCH
  const bool vector = s == 2 && h * w < (std::int64_t{1} << 31) && radiossl::detail::cpu_has_avx2();
  // Blocks of 8 outputs starting at x need windows inside the row (2x - p >= 0) and 16-float loads
  // inside it: the last one reads up to column 2x - p + (k - 1) + 15 <= w - 1.
  const std::int64_t x_lo = (p + 1) / 2, room = w - k - 15 + p;
  const std::int64_t x_hi = vector && room >= 0 ? std::min(ow, room / 2 + 8) : 0;
#endif
  for (std::int64_t y = 0; y < oh; ++y) {
    float* o = out + y * ow;
    std::int64_t* at = idx + y * ow;
    std::int64_t x = 0;
#ifdef RADIOSSL_DETAIL_X86_DISPATCH
    if (vector && x_hi - x_lo >= 8) {
      for (; x < x_lo; ++x) max_pool_window(in, h, w, y, x, k, s, p, o[x], at[x]);
      max_pool_row_s2_avx2(in, h, w, y, x_lo, x_hi, k, p, o, at);
      x = x_hi;
    }
#endif
    for (; x < ow; ++x) max_pool_window(in, h, w, y, x, k, s, p, o[x], at[x]);
  }
}

/// The pooling as an autograd function; the backward is LibTorch's, from the saved indices.
struct MaxPoolFunction : torch::autograd::Function<MaxPoolFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, std::int64_t k,
                               std::int64_t s, std::int64_t p) {
    const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    const std::int64_t oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
    auto out = torch::empty({n, c, oh, ow}, x.options());
    auto idx = torch::empty({n, c, oh, ow}, x.options().dtype(torch::kLong));
    const float* in = x.data_ptr<float>();
    float* o = out.data_ptr<float>();
    std::int64_t* id = idx.data_ptr<std::int64_t>();
    at::parallel_for(0, n * c, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t plane = begin; plane < end; ++plane)
        max_pool_plane(in + plane * h * w, h, w, o + plane * oh * ow, id + plane * oh * ow, oh, ow, k, s, p);
    });
    ctx->save_for_backward({x, idx});
    ctx->saved_data["k"] = k;
    ctx->saved_data["s"] = s;
    ctx->saved_data["p"] = p;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const std::int64_t k = ctx->saved_data["k"].toInt(), s = ctx->saved_data["s"].toInt(),
                       p = ctx->saved_data["p"].toInt();
    auto dx = at::max_pool2d_with_indices_backward(grads[0].contiguous(), saved[0], {k, k}, {s, s}, {p, p},
                                                   /*dilation=*/{1, 1}, /*ceil_mode=*/false, saved[1]);
    return {dx, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace detail

/// torch::max_pool2d(x, k, s, p) (square window, no dilation, floor mode): the same values, the
/// same gradient. CPU float32 NCHW-contiguous maps take the vectorised kernel above; others
/// (CUDA, channels_last, which LibTorch already vectorises over channels, other dtypes) go to
/// LibTorch.
inline torch::Tensor max_pool2d(const torch::Tensor& x, std::int64_t k, std::int64_t s, std::int64_t p) {
  const bool own = x.dim() == 4 && x.device().is_cpu() && x.scalar_type() == torch::kFloat && !x.is_mkldnn() &&
                   x.is_contiguous() && k >= 1 && s >= 1 && p >= 0 && 2 * p <= k && x.size(2) + 2 * p >= k &&
                   x.size(3) + 2 * p >= k;
  if (!own) return torch::max_pool2d(x, {k}, {s}, {p});
  return detail::MaxPoolFunction::apply(x, k, s, p);
}

}  // namespace radiossl::backbone

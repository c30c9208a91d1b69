/// @file
/// ResNet's 3x3 stride-1 convolutions by Winograd's F(4x4, 3x3) on AVX2 CPUs: radiossl's own tile
/// transforms and products.
///
/// oneDNN 2.x has Winograd kernels for AVX-512 only (backbone/winograd_conv.hpp); on an AVX2 CPU
/// LibTorch's direct convolutions ran ResNet-18's 3x3 stride-1 convolutions at 41-123 GFLOP/s
/// (2-core EPYC, 2 threads, batch 32, `/usr/bin/python3` torch 1.13), against 136 GFLOP/s for
/// OpenBLAS's sgemm on large squares. F(4x4, 3x3) does 4x fewer multiplications: each 4x4 output
/// tile is A^T [(G g G^T) . (B^T d B)] A (Lavin and Gray, 2016), so the channel sums become one
/// product per Winograd coordinate (36 of them) between transformed input tiles [tiles, C] and
/// transformed filters [C, O].
///
/// Gradients use the same pieces: the input gradient is the forward pass of the output gradient
/// with the filters flipped and transposed; the weight gradient sums, per coordinate,
/// (A dY A^T) times the transformed input tiles over all tiles, then takes G^T (.) G back to 3x3.
///
/// The forward pass works in tasks of 48 tiles that stay in cache (transform, 36 products by an
/// AVX2 kernel, transform back) where the filter bank is small; larger banks go in chunks of
/// images through memory with oneDNN's products, which read the filters less often. The
/// transforms work on channels_last maps, 8 channels per AVX2 register, the products on 16
/// columns, so both sides' channels must be multiples of 16 (ResNet's are); other layouts are
/// copied to channels_last and back. Results round differently from direct sums: against float64,
/// 4e-6 of the largest value for 64 channels and 1e-5 for 256 (direct float32 sums: 4e-7), as
/// Winograd kernels on GPUs do too. Which convolutions it takes: winograd_avx2_pays.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "radiossl/detail/cpu.hpp"
#include "radiossl/torch_fwd.hpp"

#ifdef RADIOSSL_DETAIL_X86_DISPATCH
#include <immintrin.h>
#endif

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

namespace radiossl::backbone::detail {

/// How a map of n images of h x w pixels splits into 4x4 output tiles.
struct WinogradTiles {
  std::int64_t n, h, w;
  [[nodiscard]] std::int64_t rows() const { return (h + 3) / 4; }
  [[nodiscard]] std::int64_t cols() const { return (w + 3) / 4; }
  [[nodiscard]] std::int64_t count() const { return n * rows() * cols(); }
};

/// The filter transform G g G^T of F(4x4, 3x3) as one [36, 9] matrix (G (x) G, row-major 3x3 and
/// 6x6 indices), rounded to float from float64; `flipped`: of the filter turned by 180 degrees.
inline torch::Tensor winograd_filter_matrix(bool flipped) {
  const torch::Tensor g = torch::tensor({1.0 / 4, 0.0, 0.0, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6,
                                         1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 24, -1.0 / 12, 1.0 / 6, 0.0, 0.0, 1.0},
                                        torch::kDouble)
                              .view({6, 3});
  const torch::Tensor k = torch::kron(g, g);
  return (flipped ? k.flip(1) : k).to(torch::kFloat).contiguous();
}

/// Filters [O, C, 3, 3] (any strides) to the Winograd domain, [36, O, C]: one product over all
/// O x C filters (per-filter 6x3 products ran 262144 tiny matrix products for 512 channels).
/// `flipped`: the filters turned by 180 degrees, as the input gradient convolves them.
inline torch::Tensor winograd_filters(const torch::Tensor& weight, bool flipped = false) {
  const std::int64_t o = weight.size(0), c = weight.size(1);
  const torch::Tensor w = weight.contiguous().view({o * c, 9});
  return torch::mm(winograd_filter_matrix(flipped), w.t()).view({36, o, c});
}

/// Weight gradient [O, C, 3, 3] from its Winograd-domain sums [36, O, C] (G^T dU G for each filter).
inline torch::Tensor winograd_filters_back(const torch::Tensor& du) {
  const std::int64_t o = du.size(1), c = du.size(2);
  return torch::mm(du.view({36, o * c}).t(), winograd_filter_matrix(false)).view({o, c, 3, 3});
}

#ifdef RADIOSSL_DETAIL_X86_DISPATCH

/// B^T d on six registers (rows or columns of a 6x6 input tile).
[[gnu::target("avx2,fma")]] inline void winograd_bt6(const __m256* d, std::int64_t step, __m256* out,
                                                       std::int64_t out_step) {
  const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f);
  const __m256 d0 = d[0], d1 = d[step], d2 = d[2 * step], d3 = d[3 * step], d4 = d[4 * step], d5 = d[5 * step];
  out[0] = _mm256_fmadd_ps(four, d0, _mm256_fnmadd_ps(five, d2, d4));
  out[out_step] = _mm256_fnmadd_ps(four, _mm256_add_ps(d1, d2), _mm256_add_ps(d3, d4));
  out[2 * out_step] = _mm256_fmadd_ps(four, _mm256_sub_ps(d1, d2), _mm256_sub_ps(d4, d3));
  out[3 * out_step] = _mm256_fmadd_ps(two, _mm256_sub_ps(d3, d1), _mm256_sub_ps(d4, d2));
  out[4 * out_step] = _mm256_fmadd_ps(two, _mm256_sub_ps(d1, d3), _mm256_sub_ps(d4, d2));
  out[5 * out_step] = _mm256_fmadd_ps(four, d1, _mm256_fnmadd_ps(five, d3, d5));
}

/// A^T m on six registers, to four.
[[gnu::target("avx2,fma")]] inline void winograd_at6(const __m256* m, std::int64_t step, __m256* out,
                                                       std::int64_t out_step) {
  const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f), eight = _mm256_set1_ps(8.0f);
  const __m256 a = _mm256_add_ps(m[step], m[2 * step]), b = _mm256_sub_ps(m[step], m[2 * step]);
  const __m256 c = _mm256_add_ps(m[3 * step], m[4 * step]), d = _mm256_sub_ps(m[3 * step], m[4 * step]);
  out[0] = _mm256_add_ps(_mm256_add_ps(m[0], a), c);
  out[out_step] = _mm256_fmadd_ps(two, d, b);
  out[2 * out_step] = _mm256_fmadd_ps(four, c, a);
  out[3 * out_step] = _mm256_add_ps(_mm256_fmadd_ps(eight, d, b), m[5 * step]);
}

/// A y on four registers, to six (the output gradient's tile into the Winograd domain).
[[gnu::target("avx2,fma")]] inline void winograd_a4(const __m256* y, std::int64_t step, __m256* out,
                                                      std::int64_t out_step) {
  const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f), eight = _mm256_set1_ps(8.0f);
  const __m256 y0 = y[0], y1 = y[step], y2 = y[2 * step], y3 = y[3 * step];
  const __m256 e = _mm256_add_ps(y0, y2), f = _mm256_add_ps(y1, y3);
  const __m256 g = _mm256_fmadd_ps(four, y2, y0), h = _mm256_fmadd_ps(eight, y3, _mm256_mul_ps(two, y1));
  out[0] = y0;
  out[out_step] = _mm256_add_ps(e, f);
  out[2 * out_step] = _mm256_sub_ps(e, f);
  out[3 * out_step] = _mm256_add_ps(g, h);
  out[4 * out_step] = _mm256_sub_ps(g, h);
  out[5 * out_step] = y3;
}

/// Input tiles [begin, end) of a channels_last map x [n, h, w, c] to v [36, rows, c], whose row
/// 0 is tile `first`: B^T d B of each 6x6 window (the 4x4 tile plus its 1-pixel border, zero
/// outside the map).
[[gnu::target("avx2,fma")]] inline void winograd_input_tiles(const float* x, std::int64_t c, const WinogradTiles& g,
                                                               std::int64_t first, std::int64_t rows,
                                                               std::int64_t begin, std::int64_t end, float* v) {
  const std::int64_t per_image = g.rows() * g.cols();
  for (std::int64_t t = begin; t < end; ++t) {
    const std::int64_t n = t / per_image, ty = t % per_image / g.cols(), tx = t % g.cols();
    const std::int64_t y0 = ty * 4 - 1, x0 = tx * 4 - 1;
    for (std::int64_t k = 0; k < c; k += 8) {
      __m256 d[36], u[36];
      for (int i = 0; i < 6; ++i) {
        const std::int64_t y = y0 + i;
        for (int j = 0; j < 6; ++j) {
          const std::int64_t xx = x0 + j;
          d[i * 6 + j] = y >= 0 && y < g.h && xx >= 0 && xx < g.w
                             ? _mm256_loadu_ps(x + ((n * g.h + y) * g.w + xx) * c + k)
                             : _mm256_setzero_ps();
        }
      }
      for (int j = 0; j < 6; ++j) winograd_bt6(d + j, 6, u + j, 6);  // columns: B^T d
      for (int i = 0; i < 6; ++i) winograd_bt6(u + i * 6, 1, d + i * 6, 1);  // rows: (B^T d) B
      for (int e = 0; e < 36; ++e) _mm256_storeu_ps(v + (e * rows + t - first) * c + k, d[e]);
    }
  }
}

/// Output-gradient tiles [begin, end) of a channels_last map dy [n, h, w, o] to z [36, rows, o],
/// whose row 0 is tile `first`: A dY A^T of each 4x4 tile (zero past the map's edge).
[[gnu::target("avx2,fma")]] inline void winograd_grad_tiles(const float* dy, std::int64_t o, const WinogradTiles& g,
                                                              std::int64_t first, std::int64_t rows,
                                                              std::int64_t begin, std::int64_t end, float* z) {
  const std::int64_t per_image = g.rows() * g.cols();
  for (std::int64_t t = begin; t < end; ++t) {
    const std::int64_t n = t / per_image, y0 = t % per_image / g.cols() * 4, x0 = t % g.cols() * 4;
    for (std::int64_t k = 0; k < o; k += 8) {
      __m256 d[16], u[24], r[36];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
          d[i * 4 + j] = y0 + i < g.h && x0 + j < g.w ? _mm256_loadu_ps(dy + ((n * g.h + y0 + i) * g.w + x0 + j) * o + k)
                                                      : _mm256_setzero_ps();
      for (int j = 0; j < 4; ++j) winograd_a4(d + j, 4, u + j, 4);  // columns: A dY, [6][4]
      for (int i = 0; i < 6; ++i) winograd_a4(u + i * 4, 1, r + i * 6, 1);  // rows: (A dY) A^T
      for (int e = 0; e < 36; ++e) _mm256_storeu_ps(z + (e * rows + t - first) * o + k, r[e]);
    }
  }
}

/// Products of tiles [begin, end) back to a channels_last map y [n, h, w, o]: A^T m A, keeping the
/// pixels inside the map. m[e] is coordinate e's [chunk, o] product, whose row 0 is tile `first`.
[[gnu::target("avx2,fma")]] inline void winograd_output_tiles(const float* const* m, std::int64_t o,
                                                                const WinogradTiles& g, std::int64_t first,
                                                                std::int64_t begin, std::int64_t end, float* y) {
  const std::int64_t per_image = g.rows() * g.cols();
  for (std::int64_t t = begin; t < end; ++t) {
    const std::int64_t n = t / per_image, y0 = t % per_image / g.cols() * 4, x0 = t % g.cols() * 4;
    for (std::int64_t k = 0; k < o; k += 8) {
      __m256 d[36], u[24], r[16];
      for (int e = 0; e < 36; ++e) d[e] = _mm256_loadu_ps(m[e] + (t - first) * o + k);
      for (int j = 0; j < 6; ++j) winograd_at6(d + j, 6, u + j, 6);  // columns: A^T m, [4][6]
      for (int i = 0; i < 4; ++i) winograd_at6(u + i * 6, 1, r + i * 4, 1);  // rows: (A^T m) A
      for (int i = 0; i < 4 && y0 + i < g.h; ++i)
        for (int j = 0; j < 4 && x0 + j < g.w; ++j)
          _mm256_storeu_ps(y + ((n * g.h + y0 + i) * g.w + x0 + j) * o + k, r[i * 4 + j]);
    }
  }
}

/// m [rows, o] = v [rows, c] times u [c, o]: v and m row-major, u packed as o / 16 panels of
/// [c, 16] (winograd_pack_panels); rows a multiple of 6, o of 16. Six rows by 16 columns at a time
/// in 12 accumulators, each panel read in order (unpacked, the same kernel ran 54-64 GFLOP/s).
[[gnu::target("avx2,fma")]] inline void winograd_product(const float* v, const float* u, float* m, std::int64_t rows,
                                                           std::int64_t c, std::int64_t o) {
  for (std::int64_t j = 0; j < o; j += 16)
    for (std::int64_t r = 0; r < rows; r += 6) {
      __m256 acc[6][2];
      for (auto& a : acc) a[0] = a[1] = _mm256_setzero_ps();
      const float* a = v + r * c;
      const float* b = u + j * c;
      for (std::int64_t k = 0; k < c; ++k) {
        const __m256 b0 = _mm256_loadu_ps(b + k * 16), b1 = _mm256_loadu_ps(b + k * 16 + 8);
        for (int i = 0; i < 6; ++i) {
          const __m256 ai = _mm256_broadcast_ss(a + i * c + k);
          acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
          acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
      }
      for (int i = 0; i < 6; ++i) {
        _mm256_storeu_ps(m + (r + i) * o + j, acc[i][0]);
        _mm256_storeu_ps(m + (r + i) * o + j + 8, acc[i][1]);
      }
    }
}

#endif  // RADIOSSL_DETAIL_X86_DISPATCH

/// Whether this CPU runs the transforms (AVX2 and FMA).
inline bool winograd_avx2_available() { return radiossl::detail::cpu_has_avx2() && radiossl::detail::cpu_has_avx_fma(); }

/// The output's layout: channels_last if the input or the weight is, as torch::conv2d decides.
inline at::MemoryFormat conv_layout(const torch::Tensor& x, const torch::Tensor& weight) {
  return x.suggest_memory_format() == at::MemoryFormat::ChannelsLast ||
                 weight.suggest_memory_format() == at::MemoryFormat::ChannelsLast
             ? at::MemoryFormat::ChannelsLast
             : at::MemoryFormat::Contiguous;
}

/// What the AVX2 entry points do in a build for another CPU (winograd_avx2_available() is false there).
[[noreturn]] inline torch::Tensor winograd_avx2_unsupported() {
  TORCH_CHECK(false, "radiossl: the AVX2 Winograd convolution needs an x86-64 build");
  __builtin_unreachable();
}

/// Tiles per parallel task: enough work (36 loads, 36 stores per 8 channels) to amortise the split.
inline constexpr std::int64_t winograd_tile_grain = 16;

/// Bytes of transformed tiles per chunk of images: the transforms and products of a chunk meet in
/// the CPU's last-level cache rather than in memory (the 64-channel 56x56 map's tiles of a batch
/// of 32 are 58 MB). Every chunk reads all transformed filters, so chunks are at least as large.
inline constexpr std::int64_t winograd_chunk_bytes = std::int64_t{24} << 20;

/// Images per chunk for maps of `g`'s size with c input and o output channels.
inline std::int64_t winograd_chunk_images(const WinogradTiles& g, std::int64_t c, std::int64_t o) {
  const std::int64_t floats = std::int64_t{sizeof(float)};
  const std::int64_t per_image = 36 * g.rows() * g.cols() * std::max(c, o) * floats;
  const std::int64_t bytes = std::max(winograd_chunk_bytes, 36 * c * o * floats);
  return std::clamp<std::int64_t>(bytes / per_image, 1, g.n);
}

/// winograd_avx2_forward for large filter banks (u [36, o, c] here): chunks of images whose
/// transforms go through memory, and one product per coordinate and chunk on oneDNN, which reads
/// the filters once per chunk rather than once per 48 tiles.
inline torch::Tensor winograd_avx2_forward_chunked(const torch::Tensor& x, const torch::Tensor& u) {
#ifdef RADIOSSL_DETAIL_X86_DISPATCH
  const std::int64_t c = x.size(1), o = u.size(1);
  const WinogradTiles g{x.size(0), x.size(2), x.size(3)};
  const std::int64_t per_image = g.rows() * g.cols(), step = winograd_chunk_images(g, c, o);
  torch::Tensor y = torch::empty({g.n, o, g.h, g.w}, x.options(), at::MemoryFormat::ChannelsLast);
  const torch::Tensor v = torch::empty({36, step * per_image, c}, x.options());
  const float* xp = x.data_ptr<float>();
  float* vp = v.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  std::vector<torch::Tensor> m(36);
  std::array<const float*, 36> mp{};
  for (std::int64_t n0 = 0; n0 < g.n; n0 += step) {
    const std::int64_t first = n0 * per_image, chunk = std::min(step, g.n - n0) * per_image;
    at::parallel_for(first, first + chunk, winograd_tile_grain, [&](std::int64_t b, std::int64_t e) {
      winograd_input_tiles(xp, c, g, first, v.size(1), b, e, vp);
    });
    for (std::int64_t e = 0; e < 36; ++e) {
      // Coordinate e's product [chunk, c] x [c, o] as a 1x1 convolution of a channels_last image of
      // chunk pixels, as detail::matmul_nt does: no copy, and oneDNN ran these at 65-97 GFLOP/s for
      // 256 and 512 channels, about as OpenBLAS's sgemm did (66-105; `/usr/bin/python3`, 2 threads).
      const torch::Tensor image = v[e].narrow(0, 0, chunk).view({1, 1, chunk, c}).permute({0, 3, 1, 2});
      m[e] = torch::conv2d(image, u[e].view({o, c, 1, 1})).permute({0, 2, 3, 1}).reshape({chunk, o}).contiguous();
      mp[e] = m[e].data_ptr<float>();
    }
    at::parallel_for(first, first + chunk, winograd_tile_grain, [&](std::int64_t b, std::int64_t e) {
      winograd_output_tiles(mp.data(), o, g, first, b, e, yp);
    });
  }
  return y;
#else
  (void)x;
  (void)u;
  return winograd_avx2_unsupported();
#endif
}

/// Tiles per task of the forward pass: a task transforms them, multiplies and transforms back
/// while its buffers (36 x 48 rows of c and of o floats) stay in cache.
inline constexpr std::int64_t winograd_task_tiles = 48;

/// Filters in the Winograd domain [36, c, o] to the panels winograd_product reads: [36, o / 16, c, 16].
inline torch::Tensor winograd_pack_panels(const torch::Tensor& u) {
  return u.view({36, u.size(1), u.size(2) / 16, 16}).permute({0, 2, 1, 3}).contiguous();
}

/// The 3x3, stride-1, padding-1 convolution of a channels_last x [n, c, h, w] with filters already
/// in the Winograd domain and packed, u [36, o / 16, c, 16] (winograd_pack_panels); returns
/// y [n, o, h, w], channels_last.
inline torch::Tensor winograd_avx2_forward(const torch::Tensor& x, const torch::Tensor& u) {
#ifdef RADIOSSL_DETAIL_X86_DISPATCH
  const std::int64_t c = x.size(1), o = u.size(1) * 16;
  const WinogradTiles g{x.size(0), x.size(2), x.size(3)};
  const std::int64_t tiles = g.count(), rows = winograd_task_tiles;
  torch::Tensor y = torch::empty({g.n, o, g.h, g.w}, x.options(), at::MemoryFormat::ChannelsLast);
  const float* xp = x.data_ptr<float>();
  const float* up = u.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, (tiles + rows - 1) / rows, 1, [&](std::int64_t b, std::int64_t e) {
    std::vector<float> v(static_cast<std::size_t>(36 * rows * c), 0.0f), m(static_cast<std::size_t>(36 * rows * o));
    std::array<const float*, 36> planes{};
    for (int k = 0; k < 36; ++k) planes[k] = m.data() + k * rows * o;
    for (std::int64_t task = b; task < e; ++task) {
      const std::int64_t first = task * rows, last = std::min(first + rows, tiles);
      if (last - first < rows) std::fill(v.begin(), v.end(), 0.0f);  // rows past the last tile
      winograd_input_tiles(xp, c, g, first, rows, first, last, v.data());
      for (std::int64_t k = 0; k < 36; ++k)
        winograd_product(v.data() + k * rows * c, up + k * c * o, m.data() + k * rows * o, rows, c, o);
      winograd_output_tiles(planes.data(), o, g, first, first, last, yp);
    }
  });
  return y;
#else
  (void)x;
  (void)u;
  return winograd_avx2_unsupported();
#endif
}

/// Filter banks up to this size (36 x c x o floats) take the fused forward pass; larger ones, whose
/// filters would be read again for every 48 tiles, take the chunked one. Measured per
/// convolution (forward, 2-core AVX2 EPYC, batch 32, ms), 64 channels at 56x56, 128 at 28x28, 256
/// at 14x14, 512 at 7x7: fused 52-75, 41-48, 68, 91; chunked 89-115, 59-76, 50-63, 53-66.
inline constexpr std::int64_t winograd_fused_max_filter_floats = 36 * 128 * 128;

/// The forward pass for x [n, c, h, w] channels_last and filters w [o, c, 3, 3] (any layout), by
/// whichever of the two ways suits the filter bank; `flipped`: of the filters turned by 180
/// degrees, in and out channels swapped (the input gradient).
inline torch::Tensor winograd_avx2_conv(const torch::Tensor& x, const torch::Tensor& weight, bool flipped) {
  const torch::Tensor w = flipped ? weight.transpose(0, 1) : weight;  // [out, in, 3, 3]
  if (36 * w.size(0) * w.size(1) <= winograd_fused_max_filter_floats)
    return winograd_avx2_forward(x, winograd_pack_panels(winograd_filters(w.transpose(0, 1), flipped)));
  return winograd_avx2_forward_chunked(x, winograd_filters(w, flipped));  // [36, out, in]
}

/// The weight gradient [o, c, 3, 3] of that convolution from channels_last x and dy.
inline torch::Tensor winograd_avx2_weight_grad(const torch::Tensor& x, const torch::Tensor& dy) {
#ifdef RADIOSSL_DETAIL_X86_DISPATCH
  const std::int64_t c = x.size(1), o = dy.size(1);
  const WinogradTiles g{x.size(0), x.size(2), x.size(3)};
  const std::int64_t per_image = g.rows() * g.cols(), step = winograd_chunk_images(g, c, o);
  const torch::Tensor v = torch::empty({36, step * per_image, c}, x.options());
  const torch::Tensor z = torch::empty({36, step * per_image, o}, x.options());
  const torch::Tensor du = torch::zeros({36, o, c}, x.options());
  const float* xp = x.data_ptr<float>();
  const float* dyp = dy.data_ptr<float>();
  float* vp = v.data_ptr<float>();
  float* zp = z.data_ptr<float>();
  for (std::int64_t n0 = 0; n0 < g.n; n0 += step) {
    const std::int64_t first = n0 * per_image, chunk = std::min(step, g.n - n0) * per_image;
    at::parallel_for(first, first + chunk, winograd_tile_grain, [&](std::int64_t b, std::int64_t e) {
      winograd_input_tiles(xp, c, g, first, v.size(1), b, e, vp);
      winograd_grad_tiles(dyp, o, g, first, z.size(1), b, e, zp);
    });
    for (std::int64_t e = 0; e < 36; ++e) {
      torch::Tensor de = du[e];
      de.addmm_(z[e].narrow(0, 0, chunk).t(), v[e].narrow(0, 0, chunk));
    }
  }
  return winograd_filters_back(du);
#else
  (void)x;
  (void)dy;
  return winograd_avx2_unsupported();
#endif
}

/// Autograd of the AVX2 Winograd convolution. Saves the input as given; the backward pass copies
/// it to channels_last again where it is not (as the oneDNN path reorders it again).
struct WinogradAvx2ConvFunction : torch::autograd::Function<WinogradAvx2ConvFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight) {
    ctx->save_for_backward({x, weight});
    return apply_forward(x, weight);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& weight = saved[1];
    const at::MemoryFormat layout = conv_layout(x, weight);
    const torch::Tensor dy = grads[0].contiguous(at::MemoryFormat::ChannelsLast);
    torch::Tensor dx, dweight;
    if (ctx->needs_input_grad(0)) {
      // The input gradient is the forward convolution of dy with each filter flipped, in and out
      // channels swapped.
      dx = winograd_avx2_conv(dy, weight, /*flipped=*/true).contiguous(layout);
    }
    if (ctx->needs_input_grad(1))
      dweight = winograd_avx2_weight_grad(x.contiguous(at::MemoryFormat::ChannelsLast), dy)
                    .contiguous(weight.suggest_memory_format());
    return {dx, dweight};
  }

  static torch::Tensor apply_forward(const torch::Tensor& x, const torch::Tensor& weight) {
    return winograd_avx2_conv(x.contiguous(at::MemoryFormat::ChannelsLast), weight, /*flipped=*/false)
        .contiguous(conv_layout(x, weight));
  }
};

/// Whether the AVX2 path can take this convolution: float32 on a CPU with AVX2, channels in
/// multiples of 16 (the caller has checked the rest: 3x3, dense, large enough maps).
inline bool winograd_avx2_eligible(const torch::Tensor& x, const torch::Tensor& weight) {
  return winograd_avx2_available() && x.size(1) % 16 == 0 && weight.size(0) % 16 == 0;
}

/// Where the AVX2 path is faster than LibTorch's direct convolution. Measured on a 2-core AVX2 EPYC
/// (`radiossl_bench --benchmark_filter='conv3x3<.*, true>'`: forward, input and weight gradient,
/// batch 32, ms, Winograd against direct), ResNet's 224 px stages, 64 channels at 56x56 to 512 at
/// 7x7:
/// - channels_last: 202 / 356, 214 / 377, 218 / 285, 290 / 299;
/// - NCHW, copied to channels_last and back: 277 / 274, 206 / 203, 207 / 179, 241 / 225 in that
///   run, 251 / 213, 160 / 213, 144 / 179, 149 / 199 in another (best of 3 each).
/// At 64 px (maps of 16x16 to 4x4) it took 34-45 ms against 22-26: the transforms and the
/// products' calls outweigh the work saved. So it takes maps of at most 28x28 (any size in
/// channels_last), with c x o x n x h x w (a ninth of the direct sum's multiply-adds) of at least
/// 2^28; each stage of ResNet-18 at 224 px, batch 32, has 2^28.6.
inline constexpr std::int64_t winograd_avx2_max_pixels = 28 * 28;
inline constexpr std::int64_t winograd_avx2_min_work = std::int64_t{1} << 28;

/// Whether the AVX2 path is eligible and worth it for this convolution (see above).
inline bool winograd_avx2_pays(const torch::Tensor& x, const torch::Tensor& weight) {
  const std::int64_t pixels = x.size(2) * x.size(3);
  const bool channels_last = x.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
  return winograd_avx2_eligible(x, weight) && (pixels <= winograd_avx2_max_pixels || channels_last) &&
         x.size(0) * pixels * x.size(1) * weight.size(0) >= winograd_avx2_min_work;
}

}  // namespace radiossl::backbone::detail

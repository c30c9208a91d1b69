/// @file
/// Backbone kernels of radiossl's own against LibTorch's, on the shapes of a ResNet step at
/// 224 px, batch 32, 2 threads, forward alone and forward + backward: the stem's max-pool
/// (backbone/max_pool.hpp) and first convolution (backbone/stem_conv.hpp: one replicated plane,
/// against LibTorch's convolution of the three planes and of the one plane with the summed weight).
/// Also ResNet-18's four 3x3 stride-1 convolution shapes by radiossl's AVX2 Winograd
/// (backbone/winograd_avx2.hpp) against LibTorch's direct convolution, in both layouts.
/// Run: radiossl_bench --benchmark_filter='max_pool|stem_conv|conv3x3'

#include <benchmark/benchmark.h>

#include "radiossl/backbone/max_pool.hpp"
#include "radiossl/backbone/stem_conv.hpp"
#include "radiossl/backbone/winograd_avx2.hpp"
#include "radiossl/detail/malloc.hpp"
#include "radiossl/torch_fwd.hpp"

namespace {

using radiossl::backbone::max_pool2d;

/// ResNet's stem map after conv1, bn1 and ReLU at 224 px, batch 32.
torch::Tensor stem_map() {
  torch::manual_seed(0);
  return torch::randn({32, 64, 112, 112}).relu_();
}

/// Times `op()`: the forward alone, or forward and backward into `leaf`'s gradient (cleared each
/// time, as a training step's zero_grad does).
template <bool Backward, class Op>
void time_op(benchmark::State& state, const torch::Tensor& leaf, Op op) {
  const torch::Tensor dy = torch::ones_like(op());
  for (auto _ : state) {
    torch::Tensor y = op();
    if constexpr (Backward) {
      y.backward(dy);
      leaf.mutable_grad() = torch::Tensor();
    }
    benchmark::DoNotOptimize(y.data_ptr());
  }
}

template <bool Ours, bool Backward>
void BM_stem_max_pool(benchmark::State& state) {
  torch::set_num_threads(2);
  const torch::Tensor x = stem_map().requires_grad_(Backward);
  time_op<Backward>(state, x, [&] { return Ours ? max_pool2d(x, 3, 2, 1) : torch::max_pool2d(x, {3}, {2}, {1}); });
  state.SetLabel(Ours ? "radiossl" : "libtorch");
}

BENCHMARK_TEMPLATE(BM_stem_max_pool, true, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_stem_max_pool, false, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_stem_max_pool, true, true)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_stem_max_pool, false, true)->Unit(benchmark::kMillisecond)->UseRealTime();

template <bool Ours, bool Backward>
void BM_stem_conv(benchmark::State& state) {
  torch::set_num_threads(2);
  // As the Trainer runs: freed activations are reused, not page-faulted in afresh (103 MB outputs).
  radiossl::detail::keep_freed_memory(radiossl::detail::KeepFreed::everything);
  torch::manual_seed(0);
  const torch::Tensor plane = torch::rand({32, 1, 224, 224});
  const torch::Tensor planes = plane.expand({32, 3, 224, 224}).contiguous();
  const torch::Tensor w = (torch::randn({64, 3, 7, 7}) * 0.1).requires_grad_(Backward);
  time_op<Backward>(state, w, [&] {
    return Ours ? radiossl::backbone::stem_conv2d(plane, w, 2, 3) : torch::conv2d(planes, w, {}, 2, 3);
  });
  state.SetLabel(Ours ? "radiossl, one plane" : "libtorch, three planes");
}

BENCHMARK_TEMPLATE(BM_stem_conv, true, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_stem_conv, false, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_stem_conv, true, true)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_stem_conv, false, true)->Unit(benchmark::kMillisecond)->UseRealTime();

/// ResNet-18's 3x3 stride-1 convolutions at 224 px, batch 32: channels = state.range(0), map side
/// 56 * 64 / channels; state.range(1): channels_last.
template <bool Ours, bool Backward>
void BM_conv3x3(benchmark::State& state) {
  torch::set_num_threads(2);
  radiossl::detail::keep_freed_memory(radiossl::detail::KeepFreed::everything);
  namespace bb = radiossl::backbone;
  if (Ours && !bb::detail::winograd_avx2_available()) {
    state.SkipWithError("no AVX2 on this CPU");
    return;
  }
  torch::manual_seed(0);
  const std::int64_t c = state.range(0), side = 56 * 64 / c;
  const auto format = state.range(1) != 0 ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  const torch::Tensor x = torch::randn({32, c, side, side}).contiguous(format).requires_grad_(Backward);
  const torch::Tensor w = (torch::randn({c, c, 3, 3}) * 0.05).contiguous(format).requires_grad_(Backward);
  time_op<Backward>(state, x, [&] {
    w.mutable_grad() = torch::Tensor();
    return Ours ? bb::detail::WinogradAvx2ConvFunction::apply(x, w) : torch::conv2d(x, w, {}, 1, 1);
  });
  state.SetLabel(std::string(Ours ? "radiossl Winograd" : "libtorch direct") +
                 (state.range(1) != 0 ? ", channels_last" : ", nchw"));
}

void conv3x3_shapes(benchmark::internal::Benchmark* b) {
  for (const std::int64_t cl : {0, 1})
    for (const std::int64_t c : {64, 128, 256, 512}) b->Args({c, cl});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK_TEMPLATE(BM_conv3x3, true, false)->Apply(conv3x3_shapes);
BENCHMARK_TEMPLATE(BM_conv3x3, false, false)->Apply(conv3x3_shapes);
BENCHMARK_TEMPLATE(BM_conv3x3, true, true)->Apply(conv3x3_shapes);
BENCHMARK_TEMPLATE(BM_conv3x3, false, true)->Apply(conv3x3_shapes);

}  // namespace

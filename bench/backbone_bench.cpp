/// @file
/// Backbone kernels of radiossl's own against LibTorch's, on the shapes of a ResNet step at
/// 224 px, batch 32, 2 threads: the stem's max-pool (backbone/max_pool.hpp), forward alone and
/// forward + backward. Run: radiossl_bench --benchmark_filter=max_pool
#include <benchmark/benchmark.h>

#include "radiossl/backbone/max_pool.hpp"
#include "radiossl/torch_fwd.hpp"

namespace {

using radiossl::backbone::max_pool2d;

/// ResNet's stem map after conv1, bn1 and ReLU at 224 px, batch 32.
torch::Tensor stem_map() {
  torch::manual_seed(0);
  return torch::randn({32, 64, 112, 112}).relu_();
}

template <bool Ours, bool Backward>
void BM_stem_max_pool(benchmark::State& state) {
  torch::set_num_threads(2);
  const torch::Tensor x = stem_map().requires_grad_(Backward);
  auto pool = [&] { return Ours ? max_pool2d(x, 3, 2, 1) : torch::max_pool2d(x, {3}, {2}, {1}); };
  const torch::Tensor dy = torch::ones_like(pool());
  for (auto _ : state) {
    torch::Tensor y = pool();
    if constexpr (Backward) {
      y.backward(dy);
      x.mutable_grad() = torch::Tensor();
    }
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.SetLabel(Ours ? "radiossl" : "libtorch");
}

BENCHMARK_TEMPLATE(BM_stem_max_pool, true, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_stem_max_pool, false, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_stem_max_pool, true, true)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_stem_max_pool, false, true)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

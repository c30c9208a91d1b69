/// @file
/// Whether CUDA graph capture of the training step helps, measured: the step as Trainer::train_step
/// runs it (its backbone and method, bf16 autocast, channels_last), timed eagerly and replayed from one
/// captured CUDA graph. `graph_bench<B, M>/px/mode`: modes 0 and 1 are the forward, loss and backward,
/// eager and captured; 2 and 3 add the LARS step, eager and captured, with LARS branching on the
/// device (`LarsOptions::host_norms(false)`: its host reads of the norms, solo-learn's way and the
/// Trainer's default, cannot be captured). Each ratio is what capture saves in kernel launches and host
/// work. Left out: the schedule (a captured lr would stay fixed), the loss's finiteness check (a host
/// read) and the methods' hooks after backward and after the step (DINO's clip, the EMA teachers).
///
/// A method whose step talks to the host (a `.item()`, a copy from the CPU) cannot be captured: that
/// bench fails with CUDA's reason, which is the finding. A capture is checked against the eager pass
/// on the same views: their losses must agree (bf16 tolerance), or the bench fails.
///
/// Capture needs a CUDA build (`RADIOSSL_HAVE_CUDA`, set by bench/CMakeLists.txt when the LibTorch has
/// CUDA and the CUDA runtime headers are found) and RADIOSSL_BENCH_DEVICE=cuda; otherwise the
/// captured modes are skipped with the reason and the eager ones still run (bench/gpu/run.sh
/// --cpu-check). The environment is step_bench.cpp's; sizes: RADIOSSL_BENCH_PX or 224.
/// bench/gpu/run.sh runs each method in its own process, so that a failed capture cannot leave the
/// next method a broken CUDA context.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>

#include "radiossl/backbone/resnet.hpp"
#include "radiossl/method/all4one.hpp"
#include "radiossl/method/byol.hpp"
#include "radiossl/method/dino.hpp"
#include "radiossl/method/simclr.hpp"
#include "radiossl/method/swav.hpp"
#include "radiossl/method/wmse.hpp"
#include "step_setup.hpp"

#ifdef RADIOSSL_HAVE_CUDA
#include <ATen/autocast_mode.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace {

using namespace radiossl;
using namespace radiossl::bench;

/// Forward of the views through the backbone and the method's heads, the loss, backward: the part
/// of Trainer::train_step between zero_grad and the optimizer; then its optimizer step if `step`.
/// Returns the loss.
template <class T>
torch::Tensor forward_backward(T& trainer, const Views& views, bool step) {
  torch::Tensor loss;
  {
    radiossl::detail::AutocastBf16 autocast(trainer.bf16_autocast());
    loss = trainer.method()->training_step(trainer.backbone(), views).loss;
  }
  loss.backward();
  if (step) trainer.optimizer().step();
  return loss;
}

void synchronize(torch::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

#ifdef RADIOSSL_HAVE_CUDA
/// Autocast's cache of cast weights off for the scope: PyTorch's recipe for capturing under
/// autocast (a cached cast made during capture would outlive the memory it points into).
class AutocastCacheOff {
 public:
  AutocastCacheOff() : prev_(at::autocast::is_autocast_cache_enabled()) {
    at::autocast::set_autocast_cache_enabled(false);
  }
  ~AutocastCacheOff() { at::autocast::set_autocast_cache_enabled(prev_); }
  AutocastCacheOff(const AutocastCacheOff&) = delete;
  AutocastCacheOff& operator=(const AutocastCacheOff&) = delete;

 private:
  bool prev_;
};

/// Makes `stream` its device's current stream for the scope. Not c10::cuda::CUDAStreamGuard: its
/// inline guard calls the CUDA runtime directly, which a build linked through bench/gpu/torch-shim
/// (the wheel's libcudart not on the link line) cannot resolve; these calls are libc10_cuda's.
class CurrentStream {
 public:
  explicit CurrentStream(c10::cuda::CUDAStream stream)
      : prev_(c10::cuda::getCurrentCUDAStream(stream.device_index())) {
    c10::cuda::setCurrentCUDAStream(stream);
  }
  ~CurrentStream() { c10::cuda::setCurrentCUDAStream(prev_); }
  CurrentStream(const CurrentStream&) = delete;
  CurrentStream& operator=(const CurrentStream&) = delete;

 private:
  c10::cuda::CUDAStream prev_;
};
#endif

template <class B, class M>
void graph_bench(benchmark::State& state) try {
  const std::int64_t px = state.range(0), batch = std::stoll(env_or("RADIOSSL_BENCH_BATCH", "32"));
  const bool graphed = state.range(1) % 2 == 1, step = state.range(1) >= 2;
  auto trainer = make_trainer<B, M>(batch, px);
  for (auto& group : trainer.optimizer().optimizer().param_groups())
    static_cast<optim::LarsOptions&>(group.options()).host_norms(false);
  const auto dev = trainer.device();
  const std::int64_t planes = trainer.loader_options().channels;
  Views views;  // in the layout train_step gives the backbone; a capture's static inputs
  for (int v = 0; v < 2; ++v) {
    auto x = torch::rand({batch, planes, px, px}).to(dev);
    views.push_back(trainer.channels_last() ? x.contiguous(at::MemoryFormat::ChannelsLast) : x);
  }
  if (!graphed) {
    for (int i = 0; i < 2; ++i) {  // warm-up: allocations, lazily built teachers, cuDNN's choices
      trainer.optimizer().zero_grad();  // to none, as train_step
      forward_backward(trainer, views, step);
    }
    synchronize(dev);
    for (auto _ : state) {
      trainer.optimizer().zero_grad();
      forward_backward(trainer, views, step);
      synchronize(dev);
    }
    label<B, M>(state, trainer);
    return;
  }
#ifdef RADIOSSL_HAVE_CUDA
  if (!dev.is_cuda()) {
    state.SkipWithError("CUDA graphs need RADIOSSL_BENCH_DEVICE=cuda");
    return;
  }
  AutocastCacheOff no_cache;
  // PyTorch's recipe: warm up on the side stream that captures, then capture with the gradients
  // unset, so that the captured backward writes (not accumulates) them in the graph's memory.
  const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, dev.index());
  synchronize(dev);
  {
    const CurrentStream on_side(side);
    for (int i = 0; i < 3; ++i) {
      trainer.optimizer().zero_grad();
      forward_backward(trainer, views, step);
    }
  }
  synchronize(dev);
  trainer.optimizer().zero_grad();
  // The loss at the weights the first replay starts from (a capture runs nothing): no step here.
  const double eager_loss = forward_backward(trainer, views, false).template item<double>();
  trainer.optimizer().zero_grad();
  synchronize(dev);
  at::cuda::CUDAGraph graph;
  torch::Tensor graph_loss;  // the capture's output, rewritten by each replay
  {
    const CurrentStream on_side(side);
    graph.capture_begin();
    try {
      graph_loss = forward_backward(trainer, views, step);
    } catch (...) {
      try {  // end the broken capture, so that the error below is the one reported
        graph.capture_end();
      } catch (...) {
      }
      throw;
    }
    graph.capture_end();
  }
  graph.replay();
  synchronize(dev);
  const double replayed = graph_loss.template item<double>();
  if (!std::isfinite(replayed) || std::abs(replayed - eager_loss) > 2e-2 * std::max(1.0, std::abs(eager_loss))) {
    state.SkipWithError(("the replayed loss " + std::to_string(replayed) + " differs from the eager " +
                         std::to_string(eager_loss))
                            .c_str());
    return;
  }
  for (auto _ : state) {
    graph.replay();
    synchronize(dev);
  }
  label<B, M>(state, trainer);
#else
  state.SkipWithError("CUDA graphs need a CUDA build (RADIOSSL_HAVE_CUDA: a CUDA LibTorch and its runtime headers)");
#endif
} catch (const std::exception& e) {
  std::cerr << "graph_bench: " << e.what() << "\n";  // what bench/gpu/run.sh shows
  state.SkipWithError(e.what());
}

/// Each image size (RADIOSSL_BENCH_PX, else 224), the eager modes (0, 2) before the captured ones
/// (1, 3): a capture that fails then cannot touch an eager figure of the same process.
void eager_and_graphed(benchmark::internal::Benchmark* b) {
  for (auto s : image_sizes({224}))
    for (std::int64_t mode : {0, 2, 1, 3}) b->Args({s, mode});
}

#define RADIOSSL_GRAPH_BENCH(M)                                                                          \
  BENCHMARK_TEMPLATE(graph_bench, backbone::ResNet18, method::M)->Apply(eager_and_graphed)             \
      ->Unit(benchmark::kMillisecond)->UseRealTime();                                                   \
  BENCHMARK_TEMPLATE(graph_bench, backbone::ResNet50, method::M)->Apply(eager_and_graphed)             \
      ->Unit(benchmark::kMillisecond)->UseRealTime()

RADIOSSL_GRAPH_BENCH(SimCLR);
RADIOSSL_GRAPH_BENCH(BYOL);
RADIOSSL_GRAPH_BENCH(DINO);
RADIOSSL_GRAPH_BENCH(WMSE);
RADIOSSL_GRAPH_BENCH(SwAV);
RADIOSSL_GRAPH_BENCH(All4One);

}  // namespace

/// @file
/// One Trainer step (zero_grad, forward of both views, loss, backward, LARS step) per method, for
/// ResNet-18 at 64 and 224 px and ResNet-50 at 224 px, batch 32, on CPU. Compare with
/// bench/step_peer.py (the same step in Python PyTorch). Threads: RADIOSSL_BENCH_THREADS (default 2).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "radiossl/augment/presets.hpp"
#include "radiossl/backbone/resnet.hpp"
#include "radiossl/method/all4one.hpp"
#include "radiossl/method/byol.hpp"
#include "radiossl/method/dino.hpp"
#include "radiossl/method/simclr.hpp"
#include "radiossl/method/swav.hpp"
#include "radiossl/method/wmse.hpp"
#include "radiossl/optim/lars.hpp"
#include "radiossl/trainer.hpp"

namespace {

using namespace radiossl;

template <class B, class M>
void step_bench(benchmark::State& state) {
  const char* env = std::getenv("RADIOSSL_BENCH_THREADS");
  const int threads = env ? std::stoi(env) : 2;
  const std::int64_t px = state.range(0), batch = 32;
  // W-MSE's paper whitening size (256) cannot divide a batch of 32, and 32 samples cannot whiten
  // its 128-d projection without a ridge: whiten the whole batch with eps 1e-3, as
  // bench/step_peer.py does with --wmse-whitening-size 32 --wmse-eps 1e-3.
  auto method_options = M::Impl::Options::paper();
  if constexpr (requires { method_options.whitening_size(batch); }) method_options.whitening_size(batch).whitening_eps(1e-3);
  // RADIOSSL_BENCH_CHANNELS_LAST=0/1 overrides the Trainer's layout default (to measure both).
  const char* cl = std::getenv("RADIOSSL_BENCH_CHANNELS_LAST");
  Trainer<B, M, augment::RadioSymmetric, optim::LARS> trainer(TrainerOptions()
                                                                  .channels_last(cl ? std::optional<bool>(cl[0] == '1')
                                                                                    : std::nullopt)
                                                                  .device(torch::Device(torch::kCPU))
                                                                  .num_threads(threads)
                                                                  .batch_size(batch)
                                                                  .progress(false)
                                                                  .csv_log(false),
                                                              method_options);
  const Views views{torch::rand({batch, 3, px, px}), torch::rand({batch, 3, px, px})};
  trainer.train_step(views);  // warm-up: allocations, lazily built teachers
  for (auto _ : state) trainer.train_step(views);
  state.counters["images_per_s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(M::Impl::name) + " threads=" + std::to_string(threads));
}

#define RADIOSSL_STEP_BENCH(M)                                                                             \
  BENCHMARK_TEMPLATE(step_bench, backbone::ResNet18, method::M)->Arg(64)->Arg(224)->Unit(benchmark::kMillisecond) \
      ->UseRealTime();                                                                                     \
  BENCHMARK_TEMPLATE(step_bench, backbone::ResNet50, method::M)->Arg(224)->Unit(benchmark::kMillisecond)->UseRealTime()

RADIOSSL_STEP_BENCH(SimCLR);
RADIOSSL_STEP_BENCH(BYOL);
RADIOSSL_STEP_BENCH(DINO);
RADIOSSL_STEP_BENCH(WMSE);
RADIOSSL_STEP_BENCH(SwAV);
RADIOSSL_STEP_BENCH(All4One);

}  // namespace

/// @file
/// One Trainer step (zero_grad, forward of both views, loss, backward, LARS step) per method, for
/// ResNet-18 at 64 and 224 px and ResNet-50 at 224 px, batch 32, on CPU; and the same step fed
/// end to end from FITS files on disk through the threaded loader (`e2e_bench`). Compare with
/// bench/step_peer.py (the same step in Python PyTorch); bench/gpu/run.sh drives both on a GPU.
///
/// Environment (all optional; the defaults are the CPU bench above):
///   RADIOSSL_BENCH_THREADS        torch threads (2)
///   RADIOSSL_BENCH_DEVICE         cpu or cuda (cpu); on CUDA the Trainer runs bf16 autocast and
///                                 channels_last and the step's views already live on the GPU
///   RADIOSSL_BENCH_BATCH          batch size (32)
///   RADIOSSL_BENCH_PX             comma-separated image sizes replacing 64,224 / 224 (e.g. 32)
///   RADIOSSL_BENCH_CHANNELS_LAST  0/1: override the Trainer's layout default (to measure both)
///   RADIOSSL_BENCH_WINOGRAD       0/1: override the Trainer's Winograd default (CPU; to measure
///                                 against the peer with the same direct convolutions too)
///   RADIOSSL_BENCH_BF16           0/1: override the Trainer's bf16 autocast default (CUDA only)
///   RADIOSSL_BENCH_LARS_HOST_NORMS 0/1: LARS reads its norms on the host (1, solo-learn's way and the
///                                 default) or branches on the device (0: no host sync in the step)
///   RADIOSSL_BENCH_CUDNN_BENCHMARK 1: let cuDNN pick its fastest algorithms (as the peer's flag)
///   RADIOSSL_BENCH_FITS_DIR       e2e_bench's FITS files (the bench is skipped without it)
///   RADIOSSL_BENCH_WORKERS        e2e_bench's loader worker threads (2)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <iostream>
#include <string>

#include "radiossl/augment/presets.hpp"
#include "radiossl/backbone/resnet.hpp"
#include "radiossl/data/loader.hpp"
#include "radiossl/io/manifest.hpp"
#include "radiossl/method/all4one.hpp"
#include "radiossl/method/byol.hpp"
#include "radiossl/method/dino.hpp"
#include "radiossl/method/simclr.hpp"
#include "radiossl/method/swav.hpp"
#include "radiossl/method/wmse.hpp"
#include "step_setup.hpp"

namespace {

using namespace radiossl;
using namespace radiossl::bench;

template <class B, class M>
void step_bench(benchmark::State& state) try {
  const std::int64_t px = state.range(0), batch = std::stoll(env_or("RADIOSSL_BENCH_BATCH", "32"));
  auto trainer = make_trainer<B, M>(batch, px);
  // On a GPU the views stay there (train_step's copy is then a no-op): the step alone is timed.
  // The views have the planes the Trainer's loader sends: one, which ResNet reads as three.
  const auto dev = trainer.device();
  const std::int64_t planes = trainer.loader_options().channels;
  const Views views{torch::rand({batch, planes, px, px}).to(dev), torch::rand({batch, planes, px, px}).to(dev)};
  trainer.train_step(views);  // warm-up: allocations, lazily built teachers, cuDNN's choices
  trainer.train_step(views);
  for (auto _ : state) trainer.train_step(views);  // train_step reads the loss: synchronised
  label<B, M>(state, trainer);
} catch (const std::exception& e) {
  std::cerr << "step_bench: " << e.what() << "\n";  // what bench/run_step_peer.sh shows
  state.SkipWithError(e.what());
}

/// The step fed from FITS files on disk: read, normalise, augment two views (loader threads),
/// copy to the device, train. Times steady state: the loader's first batches are warm-up.
template <class B, class M>
void e2e_bench(benchmark::State& state) try {
  const std::string dir = env_or("RADIOSSL_BENCH_FITS_DIR", "");
  if (dir.empty()) {
    state.SkipWithError("RADIOSSL_BENCH_FITS_DIR is not set (bench/gpu/run.sh sets it)");
    return;
  }
  const std::int64_t px = state.range(0), batch = std::stoll(env_or("RADIOSSL_BENCH_BATCH", "32"));
  auto trainer = make_trainer<B, M>(batch, px);
  data::LoaderOptions lo = trainer.loader_options();  // as Trainer::fit sets it up
  lo.num_workers = std::stoi(env_or("RADIOSSL_BENCH_WORKERS", "2"));
  lo.prefetch = std::max<std::int64_t>(2, lo.num_workers);
  data::Loader<data::FileSource, augment::RadioSymmetric> loader(data::FileSource(io::list_image_files(dir)),
                                                                 trainer.augment(), lo);
  if (loader.batches_per_epoch() < 1)
    throw Error("RADIOSSL_BENCH_FITS_DIR=" + dir + ": fewer images than one batch of " + std::to_string(batch));
  std::int64_t epoch = 0;
  loader.start_epoch(epoch);
  auto next = [&] {
    auto b = loader.next();
    if (!b) {
      loader.start_epoch(++epoch);
      b = loader.next();
    }
    if (!b) throw Error("RADIOSSL_BENCH_FITS_DIR=" + dir + ": no readable batch");
    return std::move(*b);
  };
  for (int i = 0; i < 2; ++i) trainer.train_step(next().views);
  for (auto _ : state) trainer.train_step(next().views);
  label<B, M>(state, trainer);
} catch (const std::exception& e) {
  std::cerr << "step_bench: " << e.what() << "\n";  // what bench/run_step_peer.sh shows
  state.SkipWithError(e.what());
}

#define RADIOSSL_STEP_BENCH(M)                                                                                  \
  BENCHMARK_TEMPLATE(step_bench, backbone::ResNet18, method::M)->Apply(resnet18_sizes)->Unit(benchmark::kMillisecond) \
      ->UseRealTime();                                                                                          \
  BENCHMARK_TEMPLATE(step_bench, backbone::ResNet50, method::M)->Apply(sizes_224)->Unit(benchmark::kMillisecond) \
      ->UseRealTime();                                                                                          \
  BENCHMARK_TEMPLATE(e2e_bench, backbone::ResNet18, method::M)->Apply(sizes_224)->Unit(benchmark::kMillisecond) \
      ->UseRealTime();                                                                                          \
  BENCHMARK_TEMPLATE(e2e_bench, backbone::ResNet50, method::M)->Apply(sizes_224)->Unit(benchmark::kMillisecond) \
      ->UseRealTime()

RADIOSSL_STEP_BENCH(SimCLR);
RADIOSSL_STEP_BENCH(BYOL);
RADIOSSL_STEP_BENCH(DINO);
RADIOSSL_STEP_BENCH(WMSE);
RADIOSSL_STEP_BENCH(SwAV);
RADIOSSL_STEP_BENCH(All4One);

}  // namespace

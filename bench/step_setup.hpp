/// @file
/// The Trainer of the training-step benches (step_bench.cpp, graph_bench.cpp), set up from the
/// RADIOSSL_BENCH_* environment that step_bench.cpp documents, and the image sizes they run at.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "radiossl/augment/presets.hpp"
#include "radiossl/optim/lars.hpp"
#include "radiossl/trainer.hpp"

namespace radiossl::bench {

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

inline std::optional<bool> env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::optional<bool>(v[0] == '1') : std::nullopt;
}

inline torch::Device bench_device() {
  const std::string d = env_or("RADIOSSL_BENCH_DEVICE", "cpu");
  if (d != "cpu" && d != "cuda") throw Error("RADIOSSL_BENCH_DEVICE='" + d + "': expected cpu or cuda");
  if (d == "cuda" && !torch::cuda::is_available())
    throw Error("RADIOSSL_BENCH_DEVICE=cuda but this LibTorch sees no CUDA device");
  return d == "cuda" ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
}

/// The Trainer of one bench: the paper's method options, the env's device, batch and layout.
template <class B, class M>
Trainer<B, M, augment::RadioSymmetric, optim::LARS> make_trainer(std::int64_t batch, std::int64_t px) {
  const int threads = std::stoi(env_or("RADIOSSL_BENCH_THREADS", "2"));
  if (env_or("RADIOSSL_BENCH_CUDNN_BENCHMARK", "0") == "1") at::globalContext().setBenchmarkCuDNN(true);
  // W-MSE's paper whitening size (256) cannot divide a batch of 32, and 32 samples cannot whiten
  // its 128-d projection without a ridge: whiten the whole batch with eps 1e-3, as
  // bench/step_peer.py does with --wmse-whitening-size 32 --wmse-eps 1e-3.
  auto method_options = M::Impl::Options::paper();
  if constexpr (requires { method_options.whitening_size(batch); }) method_options.whitening_size(batch).whitening_eps(1e-3);
  return Trainer<B, M, augment::RadioSymmetric, optim::LARS>(TrainerOptions()
                                                                 .channels_last(env_flag("RADIOSSL_BENCH_CHANNELS_LAST"))
                                                                 .winograd(env_flag("RADIOSSL_BENCH_WINOGRAD"))
                                                                 .bf16_autocast(env_flag("RADIOSSL_BENCH_BF16"))
                                                                 .device(bench_device())
                                                                 .num_threads(threads)
                                                                 .batch_size(batch)
                                                                 .progress(false)
                                                                 .csv_log(false),
                                                             method_options,
                                                             optim::LarsOptions().host_norms(env_flag("RADIOSSL_BENCH_LARS_HOST_NORMS")),
                                                             augment::RadioSymmetric(augment::PretrainOptions{.size = px}));
}

template <class B, class M>
void label(benchmark::State& state, const auto& trainer) {
  state.counters["images_per_s"] = benchmark::Counter(static_cast<double>(trainer.options().batch_size()),
                                                      benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(M::Impl::name) + " " + trainer.device().str() + (trainer.winograd() ? " winograd" : "") +
                 " threads=" + env_or("RADIOSSL_BENCH_THREADS", "2"));
}

/// The image sizes of a bench: RADIOSSL_BENCH_PX if set, else `defaults`.
inline std::vector<std::int64_t> image_sizes(std::vector<std::int64_t> defaults) {
  const std::string px = env_or("RADIOSSL_BENCH_PX", "");
  if (px.empty()) return defaults;
  std::vector<std::int64_t> out;
  std::stringstream in(px);
  for (std::string s; std::getline(in, s, ',');)
    if (!s.empty()) out.push_back(std::stoll(s));
  return out;
}
inline void resnet18_sizes(benchmark::internal::Benchmark* b) {
  for (auto s : image_sizes({64, 224})) b->Arg(s);
}
inline void sizes_224(benchmark::internal::Benchmark* b) {
  for (auto s : image_sizes({224})) b->Arg(s);
}

}  // namespace radiossl::bench

/// @file
/// Speed of the synthetic sky: one quick-preset survey map, one cut-out of each labeled set, and the
/// whole quick preset written to disk (what `simulate_sky --preset quick` does).
#include <filesystem>
#include <string>

#include <benchmark/benchmark.h>

#include "radiossl/sim/sets.hpp"
#include "radiossl/sim/sky.hpp"

namespace {

using namespace radiossl;

/// One SMGPS-like map at the quick preset's size (1024 x 1024, enriched extended population).
void BM_sim_quick_map(benchmark::State& state) {
  const auto pr = sim::DatasetPreset::quick();
  auto p = sim::SkyParams::smgps();
  p.width = p.height = pr.map_size;
  p.extended_density *= pr.extended_enrichment;
  std::uint64_t seed = 0;
  for (auto _ : state) benchmark::DoNotOptimize(sim::render_sky(p, ++seed).map.pixels.data());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_sim_quick_map)->Unit(benchmark::kMillisecond);

/// One labeled cut-out of set `set` (class cycling), at the quick preset's sizes.
void BM_sim_labeled_cutout(benchmark::State& state, const std::string& set) {
  const auto pr = sim::DatasetPreset::quick();
  const auto n = static_cast<std::int64_t>(sim::classes_of(set).size());
  std::int64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(sim::make_labeled_cutout(set, pr, 1, i / n, static_cast<int>(i % n)).image.pixels.data());
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_sim_labeled_cutout, mirabest, std::string("mirabest"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_sim_labeled_cutout, rgz, std::string("rgz"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_sim_labeled_cutout, msrs, std::string("msrs"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_sim_labeled_cutout, vlass, std::string("vlass"))->Unit(benchmark::kMillisecond);

/// The whole quick preset written to a temporary directory with 2 threads (one iteration: ~tens of s).
void BM_sim_generate_quick(benchmark::State& state) {
  const auto dir = std::filesystem::temp_directory_path() / "radiossl-sim-bench";
  for (auto _ : state) {
    std::filesystem::remove_all(dir);
    sim::GenerateOptions opt;
    opt.out = dir;
    opt.seed = 1;
    opt.preset = sim::DatasetPreset::quick();
    opt.threads = static_cast<int>(state.range(0));
    benchmark::DoNotOptimize(sim::generate_dataset(opt).uncurated);
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_sim_generate_quick)->Arg(2)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace

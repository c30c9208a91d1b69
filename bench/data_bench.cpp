// Data pipeline speed: FITS read + preprocess + two augmented 224x224 views, per core, and one
// loader worker. bench/run_data_peer.sh runs the Python peer (astropy + torchvision) on the same
// files and prints the ratio.
//
// The files: RADIOSSL_BENCH_DATA_DIR (default: <tmp>/radiossl_bench_data) holds 64 cut-outs of
// 256x256 float32 written at setup (sources on noise, NaN borders), reused when present.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "radiossl/augment/presets.hpp"
#include "radiossl/data/loader.hpp"
#include "radiossl/data/preprocess.hpp"
#include "radiossl/io/fits.hpp"

namespace {

namespace fs = std::filesystem;
using radiossl::Image;

constexpr int kFiles = 64;
constexpr std::int64_t kSide = 256;

/// A radio-like cut-out: noise, a few Gaussian components, a NaN border on some files.
Image synthetic_cutout(int seed) {
  radiossl::Rng rng(radiossl::data::derive_seed({0xbe4c4ULL, static_cast<std::uint64_t>(seed)}));
  Image img(1, kSide, kSide, 0.0f);
  for (float& p : img.pixels)
    p = static_cast<float>(1e-4 * (radiossl::data::uniform01(rng) + radiossl::data::uniform01(rng) - 1.0));
  for (int s = 0; s < 3; ++s) {
    const double cy = radiossl::data::uniform(rng, 60, 196), cx = radiossl::data::uniform(rng, 60, 196);
    const double sig = radiossl::data::uniform(rng, 2, 15), amp = radiossl::data::uniform(rng, 1e-3, 5e-2);
    for (std::int64_t y = 0; y < kSide; ++y)
      for (std::int64_t x = 0; x < kSide; ++x) {
        const double r2 = ((y - cy) * (y - cy) + (x - cx) * (x - cx)) / (2 * sig * sig);
        if (r2 < 30) img.at(y, x) += static_cast<float>(amp * std::exp(-r2));
      }
  }
  if (seed % 4 == 0)
    for (std::int64_t y = 0; y < kSide; ++y)
      for (std::int64_t x = 0; x < 20; ++x) img.at(y, x) = std::nanf("");
  return img;
}

/// The bench files, written once per directory.
const std::vector<fs::path>& bench_files() {
  static const std::vector<fs::path> files = [] {
    const char* env = std::getenv("RADIOSSL_BENCH_DATA_DIR");
    const fs::path dir = env ? fs::path(env) : fs::temp_directory_path() / "radiossl_bench_data";
    fs::create_directories(dir);
    std::vector<fs::path> out;
    for (int i = 0; i < kFiles; ++i) {
      auto p = dir / ("cutout_" + std::to_string(i) + ".fits");
      if (!fs::exists(p)) radiossl::io::write_fits(p, synthetic_cutout(i));
      out.push_back(p);
    }
    return out;
  }();
  return files;
}

radiossl::data::PreprocessOptions cutout_options() {
  radiossl::data::PreprocessOptions o;
  o.size = 0;      // the random resized crop resamples to 224 once
  o.channels = 1;  // augment one plane, replicate at the end
  return o;
}

/// Replicates the one-channel views into a 3-channel buffer, as the loader does into its tensor.
void write_three_channels(const std::vector<Image>& views, std::vector<float>& out) {
  std::size_t k = 0;
  for (const Image& v : views)
    for (int c = 0; c < 3; ++c) {
      std::copy(v.pixels.begin(), v.pixels.end(), out.begin() + static_cast<std::ptrdiff_t>(k));
      k += v.size();
    }
}

// The whole per-image work on one core: FITS read, NaN fill + min-max, two RadioSymmetric views
// of 224x224, three channels.
void BM_data_fits_two_views(benchmark::State& state) {
  radiossl::augment::flush_denormals_to_zero();
  radiossl::augment::retain_freed_memory();  // as the loader does
  const auto& files = bench_files();
  const radiossl::augment::RadioSymmetric augment;
  const auto opt = cutout_options();
  std::vector<float> out(2 * 3 * 224 * 224);
  std::uint64_t i = 0;
  for (auto _ : state) {
    radiossl::Rng rng(radiossl::data::derive_seed({7, i}));
    Image pre = radiossl::data::preprocess(radiossl::io::read_fits_image(files[i % files.size()]), opt);
    const auto views = augment.views(pre, rng);
    write_three_channels(views, out);
    benchmark::DoNotOptimize(out.data());
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_data_fits_two_views)->Unit(benchmark::kMicrosecond);

// The parts: FITS read alone, and preprocess + augmentation alone (from memory).
void BM_data_fits_read(benchmark::State& state) {
  const auto& files = bench_files();
  std::uint64_t i = 0;
  for (auto _ : state) {
    Image img = radiossl::io::read_fits_image(files[i++ % files.size()]);
    benchmark::DoNotOptimize(img.pixels.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_data_fits_read)->Unit(benchmark::kMicrosecond);

void BM_data_augment_two_views(benchmark::State& state) {
  radiossl::augment::flush_denormals_to_zero();
  radiossl::augment::retain_freed_memory();
  std::vector<Image> raw;
  for (const auto& f : bench_files()) raw.push_back(radiossl::io::read_fits_image(f));
  const radiossl::augment::RadioSymmetric augment;
  const auto opt = cutout_options();
  std::uint64_t i = 0;
  for (auto _ : state) {
    radiossl::Rng rng(radiossl::data::derive_seed({7, i}));
    Image pre = radiossl::data::preprocess(raw[i % raw.size()], opt);
    auto views = augment.views(pre, rng);
    benchmark::DoNotOptimize(views.data());
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_data_augment_two_views)->Unit(benchmark::kMicrosecond);

// Finer stages, from memory: preprocess alone (NaN fill + min-max of a 256x256 cut-out, including
// the copy that BM_data_augment_two_views also makes; the argument is PreprocessOptions::clip_sigma,
// so /3 is what the background floor costs), and one random resized crop to 224x224 (the resample,
// which dominates a view).
void BM_data_preprocess(benchmark::State& state) {
  std::vector<Image> raw;
  for (const auto& f : bench_files()) raw.push_back(radiossl::io::read_fits_image(f));
  auto opt = cutout_options();
  opt.clip_sigma = static_cast<double>(state.range(0));
  radiossl::Rng rng(1);  // unused in replicate mode; passing it keeps g++ 12's -Wnonnull quiet here
  std::uint64_t i = 0;
  for (auto _ : state) {
    Image pre = radiossl::data::preprocess(raw[i++ % raw.size()], opt, &rng);
    benchmark::DoNotOptimize(pre.pixels.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_data_preprocess)->Arg(0)->Arg(3)->Unit(benchmark::kMicrosecond);

void BM_data_random_resized_crop(benchmark::State& state) {
  radiossl::augment::flush_denormals_to_zero();
  radiossl::augment::retain_freed_memory();
  std::vector<Image> pre;
  for (const auto& f : bench_files())
    pre.push_back(radiossl::data::preprocess(radiossl::io::read_fits_image(f), cutout_options()));
  const radiossl::augment::RandomResizedCrop crop{};
  std::uint64_t i = 0;
  for (auto _ : state) {
    radiossl::Rng rng(radiossl::data::derive_seed({7, i}));
    Image view = crop.make(pre[i++ % pre.size()], rng);
    benchmark::DoNotOptimize(view.pixels.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_data_random_resized_crop)->Unit(benchmark::kMicrosecond);

// Loader workers feeding batches of SimCLR pairs at 224 px: one worker at batch 32 (what a
// ResNet-18 step consumes on a CPU), and batch 128 (bench/gpu/run.sh's) with 1 and 2 workers and
// as many batches in flight as workers, as e2e_bench runs it: images/s per worker should hold.
void BM_data_loader(benchmark::State& state) {
  radiossl::data::LoaderOptions opt;
  opt.batch_size = state.range(0);
  opt.num_workers = static_cast<int>(state.range(1));
  opt.prefetch = std::max<std::int64_t>(2, state.range(1));
  std::vector<fs::path> files;  // the bench files 4 times: two batches of 128 per epoch
  for (int r = 0; r < 4; ++r) files.insert(files.end(), bench_files().begin(), bench_files().end());
  radiossl::data::Loader loader(radiossl::data::FileSource(files), radiossl::augment::RadioSymmetric{}, opt);
  std::int64_t epoch = 0, images = 0;
  loader.start_epoch(epoch);
  for (auto _ : state) {
    auto batch = loader.next();
    if (!batch) {
      loader.start_epoch(++epoch);
      batch = loader.next();
    }
    if (!batch) {
      state.SkipWithError("the loader gave no batch");
      return;
    }
    images += static_cast<std::int64_t>(batch->indices.size());
    benchmark::DoNotOptimize(batch->views[0].data_ptr());
  }
  state.SetItemsProcessed(images);
}
BENCHMARK(BM_data_loader)->Args({32, 1})->Args({128, 1})->Args({128, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

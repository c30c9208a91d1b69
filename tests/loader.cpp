// The threaded loader: epochs, shuffling, drop_last, determinism across worker counts, bad files.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "radiossl/augment/presets.hpp"
#include "radiossl/data/loader.hpp"
#include "radiossl/io/npy.hpp"

namespace data = radiossl::data;
namespace aug = radiossl::augment;
using radiossl::Image;

namespace {

std::vector<Image> ramp_images(int n, std::int64_t side = 12) {
  std::vector<Image> v;
  for (int i = 0; i < n; ++i) {
    Image img(1, side, side);
    for (std::size_t k = 0; k < img.size(); ++k) img.pixels[k] = static_cast<float>((k * 7 + static_cast<std::size_t>(i) * 13) % 29);
    v.push_back(std::move(img));
  }
  return v;
}

std::vector<std::int64_t> labels_for(int n) {
  std::vector<std::int64_t> l;
  for (int i = 0; i < n; ++i) l.push_back(i % 3);
  return l;
}

aug::RadioSymmetric small_symmetric() {
  aug::RadioSymmetric::Options o;
  o.size = 8;
  return aug::RadioSymmetric(o);
}

/// A source whose chosen samples fail to load, and which counts loads.
struct FlakySource {
  std::vector<Image> images;
  std::set<std::int64_t> bad;
  std::shared_ptr<std::atomic<int>> loads = std::make_shared<std::atomic<int>>(0);
  std::int64_t size() const { return static_cast<std::int64_t>(images.size()); }
  Image load(std::int64_t i) const {
    ++*loads;
    if (bad.count(i)) throw radiossl::Error("corrupt header");
    return images[static_cast<std::size_t>(i)];
  }
  std::int64_t label(std::int64_t i) const { return i; }
  std::string name(std::int64_t i) const { return "cutout_" + std::to_string(i) + ".fits"; }
};

std::vector<data::Batch> run_epoch(auto& loader, std::int64_t epoch) {
  std::vector<data::Batch> out;
  for (data::Batch& b : loader.epoch(epoch)) out.push_back(std::move(b));
  return out;
}

}  // namespace

TEST_CASE("loader: every index once per epoch, drop_last, labels and shapes", "[loader]") {
  const int n = 23;
  data::LoaderOptions opt;
  opt.batch_size = 5;
  opt.drop_last = false;
  opt.num_workers = 2;
  data::Loader loader(data::MemorySource(ramp_images(n), labels_for(n)), small_symmetric(), opt);
  CHECK(loader.batches_per_epoch() == 5);
  const auto batches = run_epoch(loader, 0);
  REQUIRE(batches.size() == 5);
  std::multiset<std::int64_t> seen;
  for (const auto& b : batches) {
    REQUIRE(b.views.size() == 2);
    const auto n_b = static_cast<std::int64_t>(b.indices.size());
    CHECK(b.views[0].sizes().vec() == std::vector<std::int64_t>{n_b, 3, 8, 8});
    CHECK(b.views[1].dtype() == torch::kFloat32);
    CHECK(b.labels.size(0) == n_b);
    for (std::int64_t k = 0; k < n_b; ++k) {
      CHECK(b.labels[k].item<std::int64_t>() == b.indices[static_cast<std::size_t>(k)] % 3);
      seen.insert(b.indices[static_cast<std::size_t>(k)]);
    }
    // Replicated channels, values in [0, 1].
    CHECK(torch::equal(b.views[0].select(1, 0), b.views[0].select(1, 2)));
    CHECK(b.views[0].min().item<float>() >= 0.0f);
    CHECK(b.views[0].max().item<float>() <= 1.0f);
  }
  CHECK(batches.back().indices.size() == 3);
  CHECK(seen.size() == static_cast<std::size_t>(n));
  CHECK(std::set<std::int64_t>(seen.begin(), seen.end()).size() == static_cast<std::size_t>(n));
  CHECK(loader.stats().samples == n);

  opt.drop_last = true;
  opt.channels = 1;
  data::Loader dropping(data::MemorySource(ramp_images(n), labels_for(n)), small_symmetric(), opt);
  const auto full = run_epoch(dropping, 0);
  CHECK(full.size() == 4);
  std::set<std::int64_t> unique;
  for (const auto& b : full) {
    CHECK(b.indices.size() == 5);
    CHECK(b.views[0].size(1) == 1);
    unique.insert(b.indices.begin(), b.indices.end());
  }
  CHECK(unique.size() == 20);
  CHECK(dropping.epoch_plan(0).size() == 4);
}

TEST_CASE("loader: epochs shuffle differently, the same seed gives the same batches for any worker count", "[loader]") {
  const int n = 30;
  auto make = [&](int workers, std::uint64_t seed, bool shuffle = true) {
    data::LoaderOptions opt;
    opt.batch_size = 4;
    opt.num_workers = workers;
    opt.seed = seed;
    opt.shuffle = shuffle;
    opt.prefetch = 3;
    return std::make_unique<data::Loader<data::MemorySource, aug::RadioSymmetric>>(
        data::MemorySource(ramp_images(n), labels_for(n)), small_symmetric(), opt);
  };
  auto l0 = make(0, 9);
  CHECK(l0->epoch_plan(0) != l0->epoch_plan(1));
  CHECK(l0->epoch_plan(1) == make(3, 9)->epoch_plan(1));
  CHECK(l0->epoch_plan(0) != make(0, 10)->epoch_plan(0));
  const auto ordered = make(0, 9, false)->epoch_plan(0);
  CHECK(ordered.front() == std::vector<std::int64_t>{0, 1, 2, 3});

  const auto ref = run_epoch(*l0, 2);
  for (int workers : {1, 3}) {
    auto l = make(workers, 9);
    const auto got = run_epoch(*l, 2);
    REQUIRE(got.size() == ref.size());
    for (std::size_t b = 0; b < ref.size(); ++b) {
      INFO("workers " << workers << " batch " << b);
      CHECK(got[b].indices == ref[b].indices);
      CHECK(torch::equal(got[b].views[0], ref[b].views[0]));
      CHECK(torch::equal(got[b].views[1], ref[b].views[1]));
    }
  }
  // Another epoch gives other augmentations of the same sample.
  const auto other = run_epoch(*l0, 3);
  CHECK(other.front().indices != ref.front().indices);
}

TEST_CASE("loader: a bad file can be replaced by a stand-in, as it is for several ranks", "[loader]") {
  FlakySource src{ramp_images(12), {3, 7}};
  data::LoaderOptions opt;
  opt.batch_size = 4;
  opt.bad_files = data::BadFilePolicy::replace;
  opt.on_bad_file = [](const std::string&, const std::string&) {};
  auto epoch_of = [&](data::LoaderOptions o) {
    data::Loader loader(src, small_symmetric(), o);
    auto batches = run_epoch(loader, 2);
    return std::make_pair(std::move(batches), loader.stats());
  };
  opt.num_workers = 2;
  const auto [batches, stats] = epoch_of(opt);
  REQUIRE(batches.size() == 3);
  std::map<std::int64_t, std::vector<torch::Tensor>> views_of;  // index -> its first view, each time
  for (const auto& b : batches) {
    CHECK(b.indices.size() == 4);  // full batches: the bad samples' places hold stand-ins
    for (std::size_t k = 0; k < b.indices.size(); ++k) {
      CHECK((b.indices[k] != 3 && b.indices[k] != 7));
      views_of[b.indices[k]].push_back(b.views[0][static_cast<std::int64_t>(k)]);
    }
  }
  CHECK(stats.stand_ins == 2);
  CHECK(stats.bad_files >= 2);
  CHECK_THAT(stats.summary(), Catch::Contains("2 replaced by stand-ins"));
  // A stand-in that also has its own place in the epoch is augmented afresh there.
  for (const auto& [index, views] : views_of)
    if (views.size() == 2) CHECK_FALSE(torch::equal(views[0], views[1]));
  // The stand-ins do not depend on the worker count.
  opt.num_workers = 0;
  const auto [again, stats_again] = epoch_of(opt);
  REQUIRE(again.size() == batches.size());
  for (std::size_t b = 0; b < again.size(); ++b) {
    CHECK(again[b].indices == batches[b].indices);
    CHECK(torch::equal(again[b].views[0], batches[b].views[0]));
  }
  // skip, the default, keeps several ranks' batches equal the same way.
  data::LoaderOptions ranked;
  ranked.batch_size = 2;
  ranked.world_size = 2;
  ranked.on_bad_file = opt.on_bad_file;
  std::int64_t stand_ins = 0;
  for (std::int64_t rank : {0, 1}) {
    ranked.rank = rank;
    const auto [rank_batches, rank_stats] = epoch_of(ranked);
    CHECK(rank_batches.size() == 3);
    for (const auto& b : rank_batches) CHECK(b.indices.size() == 2);
    stand_ins += rank_stats.stand_ins;
  }
  CHECK(stand_ins == 2);
}

TEST_CASE("loader: bad files are reported by name, counted, and skipped or fatal", "[loader]") {
  FlakySource src{ramp_images(12), {3, 7}};
  std::vector<std::string> reported;
  data::LoaderOptions opt;
  opt.batch_size = 4;
  opt.num_workers = 2;
  opt.drop_last = false;
  opt.on_bad_file = [&](const std::string& name, const std::string& err) { reported.push_back(name + " | " + err); };
  {
    data::Loader loader(src, small_symmetric(), opt);
    const auto batches = run_epoch(loader, 0);
    std::int64_t total = 0;
    for (const auto& b : batches) {
      total += static_cast<std::int64_t>(b.indices.size());
      for (auto i : b.indices) CHECK((i != 3 && i != 7));
      CHECK(b.views[0].size(0) == static_cast<std::int64_t>(b.indices.size()));
    }
    CHECK(total == 10);
    const auto stats = loader.stats();
    CHECK(stats.bad_files == 2);
    CHECK(stats.samples == 10);
    CHECK(stats.bad_names.size() == 2);
    CHECK_THAT(stats.summary(), Catch::Contains("cutout_3.fits") && Catch::Contains("cutout_7.fits"));
    REQUIRE(reported.size() == 2);
    CHECK_THAT(reported[0] + reported[1], Catch::Contains("corrupt header"));
  }
  opt.bad_files = data::BadFilePolicy::fail;
  opt.shuffle = false;
  for (int workers : {0, 2}) {
    opt.num_workers = workers;
    data::Loader fatal(src, small_symmetric(), opt);
    fatal.start_epoch(0);  // unshuffled: the first batch {0, 1, 2, 3} holds bad index 3
    CHECK_THROWS_WITH(fatal.next(), Catch::Contains("cutout_3.fits") && Catch::Contains("corrupt header"));
    CHECK_FALSE(fatal.next().has_value());  // the epoch ends after a fatal error
    CHECK(fatal.stats().bad_files >= 1);
  }
}

TEST_CASE("loader: file sources report missing files by path, memory stays bounded", "[loader]") {
  const auto dir = std::filesystem::temp_directory_path() / ("radiossl_loader_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  radiossl::io::LabeledSet set;
  const auto images = ramp_images(6);
  for (int i = 0; i < 6; ++i) {
    set.paths.push_back(dir / ("s" + std::to_string(i) + ".npy"));
    set.labels.push_back(i % 2);
    if (i != 4) radiossl::io::write_npy(set.paths.back(), images[static_cast<std::size_t>(i)]);
  }
  set.class_names = {"a", "b"};
  data::LoaderOptions opt;
  opt.batch_size = 3;
  opt.drop_last = false;
  opt.on_bad_file = [](const std::string&, const std::string&) {};
  data::Loader loader(data::FileSource(set), aug::Downstream(aug::DownstreamOptions{.size = 8}), opt);
  const auto batches = run_epoch(loader, 0);
  std::int64_t total = 0;
  for (const auto& b : batches) total += static_cast<std::int64_t>(b.indices.size());
  CHECK(total == 5);
  REQUIRE(loader.stats().bad_names.size() == 1);
  CHECK_THAT(loader.stats().bad_names[0], Catch::Contains("s4.npy"));
  std::filesystem::remove_all(dir);

  // Prefetch bound: with a consumer that stops after one batch, workers build at most
  // `prefetch` more batches.
  FlakySource src{ramp_images(64), {}};
  data::LoaderOptions bounded;
  bounded.batch_size = 4;
  bounded.num_workers = 3;
  bounded.prefetch = 2;
  data::Loader slow(src, small_symmetric(), bounded);
  slow.start_epoch(0);
  CHECK(slow.next().has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(src.loads->load() <= (1 + 2) * 4);
  CHECK(src.loads->load() >= 4);

  // A bad preprocessing option fails at construction, not as one skipped "bad file" per file.
  data::LoaderOptions bad_clip;
  bad_clip.preprocess.clip_sigma = -2.0;
  CHECK_THROWS_WITH(data::Loader(FlakySource{ramp_images(4), {}}, small_symmetric(), bad_clip),
                    Catch::Contains("clip_sigma must be >= 0"));
}

TEST_CASE("loader: batch memory is reused once dropped, and a kept batch outlives the loader", "[loader]") {
  const int n = 40;
  data::LoaderOptions opt;
  opt.batch_size = 4;
  opt.num_workers = 2;
  std::optional<data::Batch> kept;
  torch::Tensor kept_copy;
  std::set<const void*> first_pointers;
  {
    data::Loader loader(data::MemorySource(ramp_images(n), labels_for(n)), small_symmetric(), opt);
    loader.start_epoch(0);
    kept = loader.next();
    REQUIRE(kept);
    kept_copy = kept->views[0].clone();
    std::vector<data::Batch> seen;
    for (int b = 0; b < 9; ++b) {
      auto batch = loader.next();
      REQUIRE(batch);
      const void* p = batch->views[0].data_ptr();
      // Every batch gets its own memory while it lives: never a buffer another live batch holds.
      CHECK(p != kept->views[0].data_ptr());
      CHECK(p != kept->views[1].data_ptr());
      first_pointers.insert(p);
    }
    // 9 batches, each dropped before the next: with prefetch 2 at most a handful of buffers cycle.
    CHECK(first_pointers.size() <= 6);
    // The same batches as a loader without reuse would give: values depend on (seed, epoch, index) only.
    data::Loader again(data::MemorySource(ramp_images(n), labels_for(n)), small_symmetric(), opt);
    again.start_epoch(0);
    auto fresh = again.next();
    REQUIRE(fresh);
    CHECK(torch::equal(fresh->views[0], kept->views[0]));
  }
  // Both loaders are gone; the batch kept from the first still holds its values.
  CHECK(torch::equal(kept->views[0], kept_copy));
  kept.reset();
}

namespace {

/// Two untouched copies of the preprocessed cut-out, made one view at a time.
struct IdentityPerView {
  static constexpr int num_large_crops = 2;
  static constexpr int num_small_crops = 0;
  std::vector<Image> views(const Image& img, radiossl::Rng& rng) const { return {view(0, img, rng), view(1, img, rng)}; }
  Image view(int, const Image& img, radiossl::Rng&) const { return img; }
};

/// The same, without view(k): the loader can only preprocess once per sample.
struct IdentityWhole {
  static constexpr int num_large_crops = 2;
  static constexpr int num_small_crops = 0;
  std::vector<Image> views(const Image& img, radiossl::Rng&) const { return {img, img}; }
};

}  // namespace

TEST_CASE("loader: mixed stretches are drawn per view, as solo-learn-radio draws them", "[loader]") {
  STATIC_REQUIRE(radiossl::PerViewAugment<IdentityPerView>);
  STATIC_REQUIRE(!radiossl::PerViewAugment<IdentityWhole>);
  const int n = 16;
  data::LoaderOptions opt;
  opt.batch_size = n;
  opt.shuffle = false;
  opt.preprocess.channel_mode = data::ChannelMode::mixed;
  auto first_batch = [&](auto policy) {
    data::Loader loader(data::MemorySource(ramp_images(n), labels_for(n)), policy, opt);
    return run_epoch(loader, 0).front();
  };
  const auto per_view = first_batch(IdentityPerView{});
  REQUIRE(per_view.views[0].size(1) == 3);
  // ch1 is the plain min-max plane in every view; ch0 and ch2 differ between the two views of
  // most samples (each has 8 chances in 9 to differ).
  CHECK(torch::equal(per_view.views[0].select(1, 1), per_view.views[1].select(1, 1)));
  int differing = 0;
  for (int s = 0; s < n; ++s)
    differing += !torch::equal(per_view.views[0][s], per_view.views[1][s]);
  CHECK(differing >= n / 2);
  const auto whole = first_batch(IdentityWhole{});
  CHECK(torch::equal(whole.views[0], whole.views[1]));

  // eight_bit: every view is truncated after its own stretches (np.uint8(y * 255) in
  // AddNormChannels), so ch1 holds the min-max plane's levels and no plane has other values.
  opt.preprocess.eight_bit = true;
  const auto truncated = first_batch(IdentityPerView{});
  for (int k = 0; k < 2; ++k) {
    const torch::Tensor levels = truncated.views[k] * 255.0;
    CHECK(torch::allclose(levels, levels.round(), 0.0, 1e-4));
    CHECK(torch::equal(truncated.views[k].select(1, 1), (per_view.views[k].select(1, 1) * 255.0f).floor() / 255.0f));
  }
}

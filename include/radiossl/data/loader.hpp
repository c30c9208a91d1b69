/// @file
/// The threaded prefetching loader: shuffled index batches -> load -> preprocess -> augment ->
/// stacked view tensors, with bounded memory and thread-count-independent results.
#pragma once

#include <algorithm>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <range/v3/range/conversion.hpp>
#include <range/v3/view/chunk.hpp>
#include <range/v3/view/drop.hpp>
#include <range/v3/view/iota.hpp>
#include <range/v3/view/take.hpp>
#include <range/v3/view/transform.hpp>

#include "radiossl/augment/pipeline.hpp"
#include "radiossl/concepts/augment.hpp"
#include "radiossl/concepts/method.hpp"
#include "radiossl/data/buffer_pool.hpp"
#include "radiossl/data/preprocess.hpp"
#include "radiossl/data/random.hpp"
#include "radiossl/error.hpp"
#include "radiossl/image.hpp"
#include "radiossl/io/manifest.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::data {

/// \concept Source
/// Random access to samples: `size()`, `load(i) -> Image` (may throw for a bad file) and
/// `label(i)` (-1 when unlabeled). Optional: `name(i)`, the string bad-file reports use
/// (a file path); without it the index is used. `load` must be callable from several threads.
/// Models: `FileSource`, `MemorySource`.
template <class S>
concept Source = requires(const S s, std::int64_t i) {
  { s.size() } -> std::convertible_to<std::int64_t>;
  { s.load(i) } -> std::same_as<Image>;
  { s.label(i) } -> std::convertible_to<std::int64_t>;
};

/// Image files read by extension with io::load_image (FITS, .npy, PNG). `fits` applies to every
/// FITS file: the plane of a cube, zeros as blanks.
class FileSource {
 public:
  /// A labeled set (class folders, CSV manifest or info.json).
  explicit FileSource(io::LabeledSet set, io::FitsReadOptions fits = {})
      : set_(std::move(set)), fits_(std::move(fits)) {
    if (set_.labels.size() != set_.paths.size()) set_.labels.assign(set_.paths.size(), -1);
  }
  /// Unlabeled files (pretraining): labels are -1.
  explicit FileSource(std::vector<std::filesystem::path> paths, io::FitsReadOptions fits = {})
      : fits_(std::move(fits)) {
    set_.paths = std::move(paths);
    set_.labels.assign(set_.paths.size(), -1);
  }
  [[nodiscard]] std::int64_t size() const { return static_cast<std::int64_t>(set_.paths.size()); }
  [[nodiscard]] Image load(std::int64_t i) const {
    return io::load_image(set_.paths[static_cast<std::size_t>(i)], fits_);
  }
  [[nodiscard]] std::int64_t label(std::int64_t i) const { return set_.labels[static_cast<std::size_t>(i)]; }
  [[nodiscard]] std::string name(std::int64_t i) const { return set_.paths[static_cast<std::size_t>(i)].string(); }
  [[nodiscard]] const io::LabeledSet& set() const { return set_; }

 private:
  io::LabeledSet set_;
  io::FitsReadOptions fits_;
};

/// Images held in memory (tests, small sets, cut-outs made on the fly).
class MemorySource {
 public:
  /// `labels` empty means unlabeled (-1); otherwise one label per image.
  explicit MemorySource(std::vector<Image> images, std::vector<std::int64_t> labels = {})
      : images_(std::move(images)), labels_(std::move(labels)) {
    if (labels_.empty()) labels_.assign(images_.size(), -1);
    if (labels_.size() != images_.size())
      throw Error("MemorySource: " + std::to_string(images_.size()) + " images but " +
                  std::to_string(labels_.size()) + " labels");
  }
  [[nodiscard]] std::int64_t size() const { return static_cast<std::int64_t>(images_.size()); }
  [[nodiscard]] Image load(std::int64_t i) const { return images_[static_cast<std::size_t>(i)]; }
  [[nodiscard]] std::int64_t label(std::int64_t i) const { return labels_[static_cast<std::size_t>(i)]; }

 private:
  std::vector<Image> images_;
  std::vector<std::int64_t> labels_;
};

/// What happens when a sample cannot be loaded or preprocessed.
enum class BadFilePolicy {
  /// Report it, count it, and leave it out of its batch (the batch is one smaller). With
  /// world_size > 1 it acts as `replace`: the ranks' collectives need equal batches.
  skip,
  fail,  ///< report it, count it, and make `Loader::next()` throw radiossl::Error naming it
  /// Report it, count it, and load a stand-in in its place: a sample drawn from the whole set,
  /// seeded by the epoch and the bad sample (the same on every run and worker count), up to
  /// `kMaxStandIns` draws; the batch keeps its size.
  replace,
};

/// The draws `BadFilePolicy::replace` makes for one bad sample before leaving it out.
inline constexpr int kMaxStandIns = 8;

/// Options of `Loader`.
struct LoaderOptions {
  std::int64_t batch_size = 32;
  int num_workers = 1;            ///< worker threads; 0 loads in the calling thread
  std::int64_t prefetch = 2;      ///< at most this many batches in flight or waiting (memory bound)
  bool shuffle = true;            ///< seeded permutation per epoch from (seed, epoch)
  bool drop_last = true;          ///< drop the last incomplete batch
  std::uint64_t seed = 0;
  std::int64_t channels = 3;      ///< output channels: one-channel views are replicated to 3, or kept (1)
  BadFilePolicy bad_files = BadFilePolicy::skip;
  /// Call augment::retain_freed_memory() (glibc keeps freed view buffers instead of refaulting
  /// them; about 2x faster augmentation here). Process-wide, so it can be turned off.
  bool retain_freed_memory = true;
  /// Normalisation before augmentation; by default the cut-out keeps its size (the random
  /// resized crop resamples it once, to the training size) and one channel (augmenting one
  /// plane is 3x cheaper; the batch is replicated to `channels` at the end).
  PreprocessOptions preprocess{.size = 0, .channels = 1};
  /// Called (serialised) for every bad file with its name and the error; by default a line on
  /// std::cerr. Bad files are also counted in `LoaderStats`.
  std::function<void(const std::string& name, const std::string& error)> on_bad_file;
  /// Data parallelism: the number of processes sharing each epoch (dist::world_size()) ...
  std::int64_t world_size = 1;
  /// ... and this process's rank. Each global batch of `world_size * batch_size` consecutive
  /// samples of the epoch's permutation is cut into `world_size` slices of `batch_size`; rank r
  /// takes slice r, so the ranks' batches are disjoint and together form the batch one process
  /// with `world_size * batch_size` would see. Needs drop_last when world_size > 1.
  std::int64_t rank = 0;
};

/// Running totals over every epoch of a loader: nothing is lost silently.
struct LoaderStats {
  std::int64_t samples = 0;           ///< samples delivered in batches
  std::int64_t batches = 0;           ///< batches delivered
  std::int64_t bad_files = 0;         ///< failed loads (each occurrence, every epoch)
  std::int64_t stand_ins = 0;         ///< samples loaded in place of a bad one (BadFilePolicy::replace)
  std::vector<std::string> bad_names; ///< distinct names of failed files, in order of discovery

  /// One line for a run's summary.
  [[nodiscard]] std::string summary() const {
    std::string s = std::to_string(samples) + " samples in " + std::to_string(batches) + " batches; " +
                    std::to_string(bad_files) + " bad file loads";
    if (stand_ins > 0) s += ", " + std::to_string(stand_ins) + " replaced by stand-ins";
    if (!bad_names.empty()) {
      s += " (";
      for (std::size_t i = 0; i < bad_names.size(); ++i) s += (i ? ", " : "") + bad_names[i];
      s += ")";
    }
    return s;
  }
};

/// One batch: the views (large crops first, each [N, C, H, W] float32), labels [N] int64 and the
/// source indices of the N samples.
struct Batch {
  Views views;
  torch::Tensor labels;
  std::vector<std::int64_t> indices;
};

/// Threaded prefetching loader over a Source, augmenting each sample with an Augment policy.
///
/// Each epoch's order is a seeded permutation of (seed, epoch), chunked into batches (range-v3).
/// Workers build whole batches; at most `prefetch` batches are built or waiting at any time, and
/// batches come out in order. Every sample draws from its own Rng seeded from (seed, epoch,
/// index), so the batches are identical whatever the number of workers. Workers flush denormals
/// to zero.
/// @tparam S a Source (FileSource, MemorySource)
/// @tparam A an Augment policy (augment::RadioSymmetric, ...)
template <Source S, Augment A>
class Loader {
 public:
  Loader(S source, A augment, LoaderOptions options = {})
      : source_(std::move(source)), augment_(std::move(augment)), opt_(std::move(options)) {
    if (opt_.batch_size < 1) throw Error("Loader: batch_size must be >= 1, got " + std::to_string(opt_.batch_size));
    if (opt_.num_workers < 0) throw Error("Loader: num_workers must be >= 0");
    if (opt_.prefetch < 1) throw Error("Loader: prefetch must be >= 1, got " + std::to_string(opt_.prefetch));
    if (opt_.channels != 1 && opt_.channels != 3) throw Error("Loader: channels must be 1 or 3");
    // Checked here, not per file: a bad option must not turn every file into a skipped bad file.
    if (!(opt_.preprocess.clip_sigma >= 0.0))
      throw Error("Loader: preprocess.clip_sigma must be >= 0 (0: off), got " + std::to_string(opt_.preprocess.clip_sigma));
    if (opt_.world_size < 1 || opt_.rank < 0 || opt_.rank >= opt_.world_size)
      throw Error("Loader: rank " + std::to_string(opt_.rank) + " is outside [0, world_size " +
                  std::to_string(opt_.world_size) + ")");
    if (opt_.world_size > 1 && !opt_.drop_last)
      throw Error("Loader: drop_last must be true when world_size > 1 (every rank needs full, equal batches)");
    if (opt_.retain_freed_memory) augment::retain_freed_memory();
  }
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;
  ~Loader() { stop_workers(); }

  /// Number of samples in the source.
  [[nodiscard]] std::int64_t size() const { return static_cast<std::int64_t>(source_.size()); }

  /// Batches per epoch of this rank (before any bad-file skips).
  [[nodiscard]] std::int64_t batches_per_epoch() const {
    const std::int64_t n = size(), b = opt_.batch_size * opt_.world_size;
    return opt_.drop_last ? n / b : (n + b - 1) / b;
  }

  /// This rank's index batches of one epoch: iota -> seeded shuffle (the same on every rank) ->
  /// take (drop_last) -> chunk into global batches -> this rank's slice of each.
  [[nodiscard]] std::vector<std::vector<std::int64_t>> epoch_plan(std::int64_t epoch) const {
    namespace rv = ranges::views;
    const std::int64_t n = size(), b = opt_.batch_size, global = b * opt_.world_size;
    auto order = rv::iota(std::int64_t{0}, n) | ranges::to<std::vector>();
    if (opt_.shuffle) {
      Rng rng(derive_seed({opt_.seed, static_cast<std::uint64_t>(epoch), 0x5348554646ULL, 1}));
      data::shuffle(order, rng);
    }
    const std::int64_t used = opt_.drop_last ? (n / global) * global : n;
    const auto skip = static_cast<std::ptrdiff_t>(opt_.rank * b);
    return order | rv::take(used) | rv::chunk(global) | rv::transform([skip, b](auto&& chunk) {
             return chunk | rv::drop(skip) | rv::take(b) | ranges::to<std::vector<std::int64_t>>();
           }) |
           ranges::to<std::vector>();
  }

  /// Starts producing the batches of `epoch` (stopping any epoch in progress).
  void start_epoch(std::int64_t epoch) {
    stop_workers();
    std::vector<std::vector<std::int64_t>> plan = epoch_plan(epoch);
    {
      std::lock_guard lk(mutex_);
      plan_ = std::move(plan);
      epoch_ = epoch;
      next_task_ = 0;
      next_out_ = 0;
      ready_.clear();
      stop_ = false;
      started_ = true;
    }
    for (int w = 0; w < opt_.num_workers; ++w) workers_.emplace_back([this] { worker_loop(); });
  }

  /// The next batch of the current epoch in order, or nullopt at its end. Throws radiossl::Error
  /// naming the file for a bad file under BadFilePolicy::fail, or when no epoch was started.
  [[nodiscard]] std::optional<Batch> next() {
    std::unique_lock lk(mutex_);
    if (!started_) throw Error("Loader::next: call start_epoch(epoch) first");
    while (next_out_ < plan_.size()) {
      Slot slot;
      const std::size_t b = next_out_;
      if (workers_.empty()) {
        lk.unlock();
        slot = build(b);
        lk.lock();
      } else {
        ready_cv_.wait(lk, [&] { return ready_.count(b) > 0; });
        slot = std::move(ready_.at(b));
        ready_.erase(b);
      }
      ++next_out_;
      work_cv_.notify_all();
      if (slot.error) {  // fatal: this epoch ends here; workers stop claiming batches
        stop_ = true;
        next_out_ = plan_.size();
        work_cv_.notify_all();
        std::rethrow_exception(slot.error);
      }
      if (!slot.batch) continue;  // every sample of this batch was bad and skipped
      stats_.samples += static_cast<std::int64_t>(slot.batch->indices.size());
      stats_.batches += 1;
      return std::move(slot.batch);
    }
    return std::nullopt;
  }

  /// Totals so far (a copy, safe while workers run).
  [[nodiscard]] LoaderStats stats() const {
    std::lock_guard lk(mutex_);
    return stats_;
  }

  [[nodiscard]] const LoaderOptions& options() const { return opt_; }
  [[nodiscard]] const S& source() const { return source_; }

  /// `for (Batch& b : loader.epoch(e))`: starts epoch `e` and iterates its batches.
  class EpochRange {
   public:
    struct Sentinel {};
    class Iterator {
     public:
      using value_type = Batch;
      using difference_type = std::ptrdiff_t;
      explicit Iterator(Loader* l) : loader_(l), current_(l->next()) {}
      Batch& operator*() const { return *current_; }
      Iterator& operator++() {
        current_ = loader_->next();
        return *this;
      }
      void operator++(int) { ++*this; }
      bool operator==(Sentinel) const { return !current_.has_value(); }

     private:
      Loader* loader_;
      mutable std::optional<Batch> current_;
    };
    EpochRange(Loader* l, std::int64_t epoch) : loader_(l) { loader_->start_epoch(epoch); }
    Iterator begin() { return Iterator(loader_); }
    Sentinel end() { return {}; }

   private:
    Loader* loader_;
  };
  [[nodiscard]] EpochRange epoch(std::int64_t e) { return EpochRange(this, e); }

 private:
  struct Slot {
    std::optional<Batch> batch;
    std::exception_ptr error;
  };
  struct Sample {
    std::int64_t index;
    std::int64_t label;
    std::vector<Image> views;
  };

  void stop_workers() {
    {
      std::lock_guard lk(mutex_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  void worker_loop() {
    augment::flush_denormals_to_zero();
    std::unique_lock lk(mutex_);
    for (;;) {
      work_cv_.wait(lk, [&] {
        return stop_ || next_task_ >= plan_.size() || next_task_ < next_out_ + static_cast<std::size_t>(opt_.prefetch);
      });
      if (stop_ || next_task_ >= plan_.size()) return;
      const std::size_t b = next_task_++;
      lk.unlock();
      Slot slot = build(b);
      lk.lock();
      ready_.emplace(b, std::move(slot));
      ready_cv_.notify_all();
    }
  }

  template <class T>
  std::string sample_name(std::int64_t i) const {
    if constexpr (requires(const T& s, std::int64_t j) { { s.name(j) } -> std::convertible_to<std::string>; })
      return source_.name(i);
    else
      return "sample " + std::to_string(i);
  }

  void report_bad(const std::string& name, const std::string& what) {
    std::lock_guard lk(report_mutex_);
    if (opt_.on_bad_file) {
      opt_.on_bad_file(name, what);
    } else {
      std::cerr << "radiossl: " << (opt_.bad_files == BadFilePolicy::skip ? "skipping bad file " : "bad file ")
                << name << ": " << what << '\n';
    }
    std::lock_guard slk(mutex_);
    ++stats_.bad_files;
    if (std::find(stats_.bad_names.begin(), stats_.bad_names.end(), name) == stats_.bad_names.end())
      stats_.bad_names.push_back(name);
  }

  /// The views of one raw cut-out. "Mixed" stretches are drawn afresh for every view, as
  /// solo-learn-radio's AddNormChannels runs inside each view's transform (methods.md 5.2, 5.3):
  /// the stretch-free part of preprocess runs once, then each view gets its own stretches before
  /// its augmentation. An Augment without `view(k)` gets one draw per sample for all its views.
  std::vector<Image> make_views(Image raw, Rng& rng) const {
    if constexpr (PerViewAugment<A>) {
      if (opt_.preprocess.channel_mode == ChannelMode::mixed) {
        PreprocessOptions plain = opt_.preprocess;
        plain.channel_mode = ChannelMode::replicate;
        plain.channels = 1;
        plain.stretch = Stretch::minmax;
        plain.eight_bit = false;  // truncated after each view's stretches, as solo-learn-radio does
        const Image pre = preprocess(std::move(raw), plain);
        std::vector<Image> out;
        const int n = A::num_large_crops + A::num_small_crops;
        out.reserve(static_cast<std::size_t>(n));
        for (int k = 0; k < n; ++k) {
          Image channels = mixed_channels(pre, rng);
          if (opt_.preprocess.eight_bit) truncate_to_8bit(channels);
          out.push_back(augment_.view(k, std::move(channels), rng));
        }
        return out;
      }
    }
    return augment_.views(preprocess(std::move(raw), opt_.preprocess, &rng), rng);
  }

  /// Loads, preprocesses and augments the samples of batch `b` and stacks them into tensors.
  /// Runs without the lock: plan_ and epoch_ do not change while workers run.
  Slot build(std::size_t b) {
    Slot slot;
    const auto& indices = plan_[b];
    std::vector<Sample> samples;
    samples.reserve(indices.size());
    const int expected = A::num_large_crops + A::num_small_crops;
    const bool replace = opt_.bad_files == BadFilePolicy::replace ||
                         (opt_.bad_files == BadFilePolicy::skip && opt_.world_size > 1);
    const auto n = static_cast<std::uint64_t>(source_.size());
    for (const std::int64_t planned : indices) {
      std::int64_t i = planned;
      for (int draw = 0; draw <= (replace ? kMaxStandIns : 0); ++draw) {
        if (draw > 0)  // a stand-in for `planned`, the same whatever the worker or run
          i = static_cast<std::int64_t>(derive_seed({opt_.seed, static_cast<std::uint64_t>(epoch_),
                                                     static_cast<std::uint64_t>(planned), 0x5354414e44ULL,
                                                     static_cast<std::uint64_t>(draw)}) % n);
        // A stand-in is augmented afresh: where it also has its own place in the epoch, its two
        // copies must not be the same views.
        Rng rng(draw == 0 ? derive_seed({opt_.seed, static_cast<std::uint64_t>(epoch_), static_cast<std::uint64_t>(i)})
                          : derive_seed({opt_.seed, static_cast<std::uint64_t>(epoch_), static_cast<std::uint64_t>(i),
                                         static_cast<std::uint64_t>(planned), static_cast<std::uint64_t>(draw)}));
        try {
          std::vector<Image> v = make_views(source_.load(i), rng);
          if (static_cast<int>(v.size()) != expected)
            throw Error("augmentation returned " + std::to_string(v.size()) + " views, expected " + std::to_string(expected));
          samples.push_back({i, static_cast<std::int64_t>(source_.label(i)), std::move(v)});
          if (draw > 0) {
            std::lock_guard lk(mutex_);
            ++stats_.stand_ins;
          }
          break;
        } catch (const std::exception& e) {
          const std::string name = sample_name<S>(i);
          report_bad(name, e.what());
          if (opt_.bad_files == BadFilePolicy::fail) {
            slot.error = std::make_exception_ptr(Error(name + ": " + e.what()));
            return slot;
          }
        }
      }
    }
    if (samples.empty()) return slot;
    try {
      slot.batch = stack(samples);
    } catch (...) {
      slot.error = std::current_exception();
    }
    return slot;
  }

  Batch stack(const std::vector<Sample>& samples) const {
    Batch batch;
    const auto n = static_cast<std::int64_t>(samples.size());
    const std::size_t num_views = samples.front().views.size();
    for (std::size_t k = 0; k < num_views; ++k) {
      const Image& first = samples.front().views[k];
      const std::int64_t c = first.channels, h = first.height, w = first.width;
      if (c != 1 && c != opt_.channels)
        throw Error("Loader: view " + std::to_string(k) + " has " + std::to_string(c) + " channels, the loader outputs " +
                    std::to_string(opt_.channels));
      const std::int64_t oc = opt_.channels;
      torch::Tensor t = pool_->empty({n, oc, h, w});
      float* dst = t.data_ptr<float>();
      const std::int64_t plane = h * w;
      for (std::int64_t s = 0; s < n; ++s) {
        const Image& v = samples[static_cast<std::size_t>(s)].views[k];
        if (v.channels != c || v.height != h || v.width != w)
          throw Error("Loader: view " + std::to_string(k) + " of sample " +
                      std::to_string(samples[static_cast<std::size_t>(s)].index) + " is " + std::to_string(v.height) +
                      "x" + std::to_string(v.width) + ", others are " + std::to_string(h) + "x" + std::to_string(w));
        float* out = dst + s * oc * plane;
        for (std::int64_t ch = 0; ch < oc; ++ch)
          std::memcpy(out + ch * plane, v.plane(c == 1 ? 0 : ch), static_cast<std::size_t>(plane) * sizeof(float));
      }
      batch.views.push_back(std::move(t));
    }
    batch.labels = torch::empty({n}, torch::kInt64);
    auto* lab = batch.labels.data_ptr<std::int64_t>();
    for (std::int64_t s = 0; s < n; ++s) {
      lab[s] = samples[static_cast<std::size_t>(s)].label;
      batch.indices.push_back(samples[static_cast<std::size_t>(s)].index);
    }
    return batch;
  }

  S source_;
  A augment_;
  LoaderOptions opt_;

  /// The batches' memory, reused once the consumer drops a batch: at most prefetch + 2 batches of
  /// each view size are kept free (those in flight, the one in use and the one before).
  std::shared_ptr<BufferPool> pool_ =
      BufferPool::create(static_cast<std::size_t>((opt_.prefetch + 2) * (A::num_large_crops + A::num_small_crops)));
  mutable std::mutex mutex_;
  std::mutex report_mutex_;
  std::condition_variable work_cv_;
  std::condition_variable ready_cv_;
  std::vector<std::thread> workers_;
  std::vector<std::vector<std::int64_t>> plan_;
  std::int64_t epoch_ = 0;
  std::size_t next_task_ = 0;
  std::size_t next_out_ = 0;
  std::map<std::size_t, Slot> ready_;
  bool stop_ = false;
  bool started_ = false;
  LoaderStats stats_;
};

}  // namespace radiossl::data

/// @file
/// The training loop behind `Trainer` (see trainer.hpp for the front door and its checks).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <utility>
#include <vector>

#include "radiossl/backbone/winograd_conv.hpp"
#include "radiossl/callbacks/csv_log.hpp"
#include "radiossl/callbacks/progress.hpp"
#include "radiossl/concepts/method.hpp"
#include "radiossl/data/loader.hpp"
#include "radiossl/detail/blas_threads.hpp"
#include "radiossl/detail/malloc.hpp"
#include "radiossl/dist/process_group.hpp"
#include "radiossl/dist/replicate.hpp"
#include "radiossl/dist/sync_batch_norm.hpp"
#include "radiossl/error.hpp"
#include "radiossl/optim/schedule.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl {

/// Which learning-rate schedule the Trainer applies.
enum class LrSchedule {
  warmup_cosine,  ///< per step: linear warm-up then cosine (solo-learn's default, optim::WarmupCosine)
  multistep,      ///< per epoch: x gamma at `lr_decay_epochs` (optim::MultiStep)
  constant,       ///< the base lr throughout
};

/// Options of `Trainer`. Defaults follow solo-learn's pretraining (seed 5, warm-up 10 epochs from
/// 3e-5, lr scaled by batch/256, drop-last batches) and LibTorch's idioms.
///
/// Example: examples/pretrain.cpp.
struct TrainerOptions {
  /// Passes over the data.
  TORCH_ARG(std::int64_t, epochs) = 100;
  /// Batch size of each process (solo-learn's per-device batch); the global batch is
  /// dist::world_size() x batch_size, and with `scale_lr_by_batch` the base lr is
  /// lr * global batch / 256. One process: the total batch.
  TORCH_ARG(std::int64_t, batch_size) = 256;
  /// The configured learning rate (before batch scaling); unset: the method options' `lr()` (the
  /// paper preset of each method), else 0.3.
  TORCH_ARG(std::optional<double>, lr) = std::nullopt;
  /// Multiply the lr by batch_size / 256 (solo-learn's `parse_cfg`).
  TORCH_ARG(bool, scale_lr_by_batch) = true;
  TORCH_ARG(LrSchedule, schedule) = LrSchedule::warmup_cosine;
  /// Warm-up length in epochs (converted to whole steps).
  TORCH_ARG(double, warmup_epochs) = 10.0;
  /// Absolute lr of warm-up step 0, the same for every group (not batch-scaled).
  TORCH_ARG(double, warmup_start_lr) = 3e-5;
  /// Final lr of the cosine (eta_min).
  TORCH_ARG(double, min_lr) = 0.0;
  /// Epochs at which the multistep schedule multiplies the lr by 0.1.
  TORCH_ARG(std::vector<std::int64_t>, lr_decay_epochs) = {};
  /// Weight decay set on the optimizer's options; unset: the method options' `weight_decay()`, else
  /// the optimizer options' own value.
  TORCH_ARG(std::optional<double>, weight_decay) = std::nullopt;
  /// Seeds torch's generator when the Trainer is built (solo-learn's `seed_everything(5)`).
  TORCH_ARG(std::uint64_t, seed) = 5;
  /// Where to compute; unset: CUDA when available, else CPU.
  TORCH_ARG(std::optional<torch::Device>, device) = std::nullopt;
  /// Intra-op CPU threads (torch::set_num_threads); 0 leaves LibTorch's setting.
  TORCH_ARG(int, num_threads) = 0;
  /// On a CPU, OpenBLAS's own threads when OpenBLAS is the system BLAS and OPENBLAS_NUM_THREADS
  /// is unset (detail::set_openblas_threads: its pool and LibTorch's spin against each other);
  /// 0 leaves OpenBLAS's setting. Process-wide.
  TORCH_ARG(int, blas_threads) = 1;
  /// Checkpoints and logs go here (`last.ckpt`, `train_log.csv`); only rank 0 writes them.
  TORCH_ARG(std::string, out_dir) = "radiossl-run";
  /// Write `last.ckpt` every N optimizer steps (0: off).
  TORCH_ARG(std::int64_t, checkpoint_every_steps) = 0;
  /// Write `last.ckpt` at the end of each epoch.
  TORCH_ARG(bool, checkpoint_each_epoch) = true;
  /// Progress lines every N steps when stderr is not a terminal (0: only at the end).
  TORCH_ARG(std::int64_t, log_every_steps) = 50;
  /// Show progress on stderr at all.
  TORCH_ARG(bool, progress) = true;
  /// Write the per-step CSV log.
  TORCH_ARG(bool, csv_log) = true;
  /// On a CPU, make glibc's malloc keep freed memory for reuse (detail::keep_freed_memory), so
  /// that a step's activations are not page-faulted in again every step. Process-wide.
  TORCH_ARG(bool, retain_freed_memory) = true;
  /// channels_last activations and weights; unset: on for CUDA, and on a CPU where the backbone
  /// says it is faster there (`B::Impl::channels_last_on_cpu`: ResNet-50 yes, ResNet-18 no).
  TORCH_ARG(std::optional<bool>, channels_last) = std::nullopt;
  /// On a CPU, run the backbone's 3x3 stride-1 convolutions by Winograd's algorithm: oneDNN's on
  /// AVX-512 (backbone/winograd_conv.hpp: about twice as fast as LibTorch's direct ones), radiossl's
  /// own on AVX2 for the shapes where it is faster (backbone/winograd_avx2.hpp); outputs within
  /// about 1e-6 of their largest value. Unset: on where available (backbone::winograd_available()).
  /// true where it is not available is an error. Teachers held by the method follow the backbone.
  TORCH_ARG(std::optional<bool>, winograd) = std::nullopt;
  /// bf16 autocast of the forward pass; unset: on for CUDA only.
  TORCH_ARG(std::optional<bool>, bf16_autocast) = std::nullopt;
  /// Continue from this checkpoint (written by a Trainer of the same types and options).
  TORCH_ARG(std::string, resume_from) = "";
  /// Stop (with a checkpoint) once this many optimizer steps are done in total; 0: run all epochs.
  /// Note: the schedule still spans all epochs, so a stopped run resumes where it left off.
  TORCH_ARG(std::int64_t, stop_after_steps) = 0;
  /// Synchronised BatchNorm (torch.nn.SyncBatchNorm): batch statistics over the global batch of
  /// all ranks instead of each rank's own. Switches on every dist::SyncBatchNorm1d/2d layer of the
  /// backbone and method; a plain torch::nn::BatchNorm layer there is an error (it cannot be
  /// synchronised). Unset: on under several processes, as solo-learn's `sync_batchnorm: True`.
  /// No effect on one process.
  TORCH_ARG(std::optional<bool>, sync_batch_norm) = std::nullopt;
};

namespace detail {

/// Turns bf16 autocast on for CUDA within a scope, on LibTorch 1.13 and 2.x.
class AutocastBf16 {
 public:
  explicit AutocastBf16(bool on) : on_(on) {
    if (!on_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    prev_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
    prev_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
#else
    prev_enabled_ = at::autocast::is_enabled();
    prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
#endif
    at::autocast::increment_nesting();
  }
  ~AutocastBf16() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, prev_enabled_);
    at::autocast::set_autocast_dtype(at::kCUDA, prev_dtype_);
#else
    at::autocast::set_enabled(prev_enabled_);
    at::autocast::set_autocast_gpu_dtype(prev_dtype_);
#endif
  }
  AutocastBf16(const AutocastBf16&) = delete;
  AutocastBf16& operator=(const AutocastBf16&) = delete;

 private:
  bool on_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kHalf;
};

/// Batches per epoch of a loader: `batches_per_epoch()`, `num_batches()`, else `std::ranges::size`.
template <class L>
std::int64_t batches_per_epoch(L& loader) {
  if constexpr (requires { loader.batches_per_epoch(); })
    return static_cast<std::int64_t>(loader.batches_per_epoch());
  else if constexpr (requires { loader.num_batches(); })
    return static_cast<std::int64_t>(loader.num_batches());
  else
    return static_cast<std::int64_t>(std::ranges::size(loader));
}

/// The seed a loader shuffles with (checked on resume), or -1 when it does not say.
template <class L>
std::int64_t loader_seed(const L& loader) {
  if constexpr (requires { loader.options().seed; })
    return static_cast<std::int64_t>(loader.options().seed);
  else if constexpr (requires { loader.seed(); })
    return static_cast<std::int64_t>(loader.seed());
  else
    return -1;
}

/// The batches of epoch `e`: `loader.epoch(e)` (data::Loader), or `set_epoch(e)` then the loader
/// itself as a range.
template <class L>
decltype(auto) epoch_batches(L& loader, std::int64_t e) {
  if constexpr (requires { loader.epoch(e); }) {
    return loader.epoch(e);
  } else {
    if constexpr (requires { loader.set_epoch(e); }) loader.set_epoch(e);
    return (loader);
  }
}

/// A c10::Error's message without its backtrace (one line), anything else's what().
inline std::string one_line(const std::exception& e) {
  if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) return ce->what_without_backtrace();
  return e.what();
}

/// A loss value in words for the error message.
inline std::string describe(double v) { return std::isnan(v) ? "NaN" : (v > 0 ? "+inf" : "-inf"); }

}  // namespace detail

/// \concept BatchLoader
/// What `Trainer::fit` iterates, epoch by epoch: either a `data::Loader` (`epoch(e)` gives the
/// batches of epoch e, `batches_per_epoch()`), or any range of batches with `num_batches()` (or a
/// size) and optionally `set_epoch(e)`. Batches have `views` (the method's `Views`). The order of an
/// epoch must depend only on the seed and the epoch, so that a resumed run sees the same batches.
template <class L>
concept BatchLoader =
    requires(L& l, std::int64_t e) {
      { (*l.epoch(e).begin()).views } -> std::convertible_to<Views>;
      l.batches_per_epoch();
    } ||
    (requires(L& l) {
      std::begin(l);
      std::end(l);
      { (*std::begin(l)).views } -> std::convertible_to<Views>;
    } && (requires(L& l) { l.num_batches(); } || std::ranges::sized_range<L>));

namespace detail {

/// The Trainer proper: owns the backbone, the method and the optimizer, runs the loop, writes
/// checkpoints and logs. Reached through `Trainer<B, M, A, O>` (trainer.hpp), which checks the
/// policies first.
template <class B, class M, class A, class O>
class TrainerImpl {
 public:
  using MethodOptions = typename M::Impl::Options;
  using OptimizerOptions = typename O::Options;

  /// Builds the default backbone `B{}` and the method `M(feature_dim, method_options)` after
  /// seeding torch's generator with `options.seed()`.
  explicit TrainerImpl(TrainerOptions options, MethodOptions method_options = {},
                       OptimizerOptions optimizer_options = {}, A augment = A{})
      : options_(seeded(std::move(options))), backbone_(), method_(backbone_->feature_dim(), method_options),
        augment_(std::move(augment)) {
    setup(std::move(optimizer_options));
  }

  /// Builds the backbone from `backbone_options` (e.g. `backbone::ResNetOptions().cifar_stem(true)`),
  /// otherwise as the constructor above: seeded first, then `M(feature_dim, method_options)`.
  template <class BackboneOptions>
    requires std::constructible_from<typename B::Impl, BackboneOptions>
  TrainerImpl(TrainerOptions options, BackboneOptions backbone_options, MethodOptions method_options = {},
              OptimizerOptions optimizer_options = {}, A augment = A{})
      : options_(seeded(std::move(options))), backbone_(std::move(backbone_options)),
        method_(backbone_->feature_dim(), method_options), augment_(std::move(augment)) {
    setup(std::move(optimizer_options));
  }

  /// Takes a backbone and a method built by the caller.
  TrainerImpl(B backbone, M method, TrainerOptions options, OptimizerOptions optimizer_options = {},
              A augment = A{})
      : options_(seeded(std::move(options))), backbone_(std::move(backbone)), method_(std::move(method)),
        augment_(std::move(augment)) {
    setup(std::move(optimizer_options));
  }

  /// Trains for `options().epochs()` epochs over `loader` (resuming first if `resume_from` is set).
  /// Throws radiossl::Error when the loss is NaN or infinite, naming the step; the last good
  /// checkpoint is left as it was.
  template <BatchLoader L>
  void fit(L& loader) {
    const std::int64_t per_epoch = detail::batches_per_epoch(loader);
    if (per_epoch <= 0) throw Error("Trainer::fit: the loader yields no batch per epoch (too few samples for the batch size?)");
    if constexpr (requires { loader.options().world_size; loader.options().rank; }) {
      if (loader.options().world_size != world_ || loader.options().rank != rank_)
        throw Error("Trainer::fit: the loader is sharded for rank " + std::to_string(loader.options().rank) + " of " +
                    std::to_string(loader.options().world_size) + " but this process is rank " +
                    std::to_string(rank_) + " of " + std::to_string(world_) +
                    " (set data::LoaderOptions::world_size/rank from dist::world_size()/rank())");
    }
    steps_per_epoch_ = per_epoch;
    total_steps_ = per_epoch * options_.epochs();
    loader_seed_ = detail::loader_seed(loader);

    if constexpr (requires { method_->on_train_start(backbone_); }) method_->on_train_start(backbone_);
    if (!options_.resume_from().empty()) load_checkpoint(options_.resume_from());
    // Every replica starts from rank 0's state (initialisation or checkpoint), but for the parts
    // each rank holds of its own (SwAV's queue).
    std::vector<torch::Tensor> own;
    for (auto& shard : rank_shards()) own.push_back(shard.tensor);
    dist::broadcast_state({backbone_.ptr().get(), method_.ptr().get()}, own);

    const bool main = rank_ == 0;
    if (main) std::filesystem::create_directories(options_.out_dir());
    std::optional<callbacks::CsvLog> csv;
    if (main && options_.csv_log())
      csv.emplace(std::filesystem::path(options_.out_dir()) / "train_log.csv", resumed_ ? global_step_ : -1);
    std::optional<callbacks::Progress> progress;
    if (main && options_.progress()) {
      progress.emplace(total_steps_, options_.log_every_steps());
      progress->start(global_step_);
    }

    backbone_->train();
    method_->train();
    auto last_time = std::chrono::steady_clock::now();
    for (std::int64_t epoch = global_step_ / per_epoch; epoch < options_.epochs(); ++epoch) {
      epoch_ = epoch;
      if constexpr (requires { method_->on_epoch_start(epoch, options_.epochs()); })
        method_->on_epoch_start(epoch, options_.epochs());
      // A resumed epoch skips the batches it already trained on (the order is the epoch's own).
      std::int64_t skip = global_step_ - epoch * per_epoch;
      std::int64_t in_epoch = 0;
      for (auto&& batch : detail::epoch_batches(loader, epoch)) {
        if (in_epoch >= per_epoch) break;
        ++in_epoch;
        if (skip > 0) {
          --skip;
          continue;
        }
        const double lr = train_step(batch.views);
        const auto now = std::chrono::steady_clock::now();
        const double secs = std::chrono::duration<double>(now - last_time).count();
        last_time = now;
        const double ips =
            secs > 0 ? static_cast<double>(batch.views.front().size(0) * world_) / secs : 0.0;  // all ranks
        if (csv) csv->row(global_step_, epoch, last_loss_, lr, ips, last_logs_);
        if (progress) progress->update(global_step_, epoch, last_loss_, lr, ips);
        if (options_.checkpoint_every_steps() > 0 && global_step_ % options_.checkpoint_every_steps() == 0)
          save_checkpoint();
        if (options_.stop_after_steps() > 0 && global_step_ >= options_.stop_after_steps()) {
          save_checkpoint();
          wait_for_all();
          return;
        }
      }
      // A loader skips unreadable files; an epoch of nothing else would otherwise end the run
      // "successfully", having trained nothing.
      if (in_epoch == 0) throw Error(empty_epoch_message(loader, epoch));
      if (options_.checkpoint_each_epoch() || epoch + 1 == options_.epochs()) save_checkpoint();
    }
    wait_for_all();
  }

  /// Trains on a `data::Source` (e.g. `data::FileSource` of FITS cut-outs) through a threaded
  /// `data::Loader` with this Trainer's augmentation, set up by loader_options(`loader_options`).
  template <data::Source S>
  void fit(S source, data::LoaderOptions loader_options = {}) {
    data::Loader<S, A> loader(std::move(source), augment_, this->loader_options(std::move(loader_options)));
    fit(loader);
  }

  /// `base` with the batch size, seed and rank of this Trainer. When the backbone reads one plane
  /// as the radio channel replicated (`B::Impl::replicates_one_plane`, ResNet) and the views are
  /// one replicated plane, the loader sends that plane alone: the same features, a third of the
  /// stem's work and of the copies (backbone/stem_conv.hpp).
  [[nodiscard]] data::LoaderOptions loader_options(data::LoaderOptions base = {}) const {
    base.batch_size = options_.batch_size();
    base.seed = options_.seed();
    base.world_size = world_;
    base.rank = rank_;
    if constexpr (requires { requires B::Impl::replicates_one_plane; })
      if (base.preprocess.channel_mode == data::ChannelMode::replicate && base.preprocess.channels == 1)
        base.channels = 1;
    return base;
  }

  /// One optimizer step on one batch of views; returns the lr it used. Public for benchmarks.
  double train_step(const Views& cpu_views) {
    const std::int64_t t = global_step_;
    const double lr = apply_schedule(t);
    optimizer_->zero_grad();
    Views views;
    views.reserve(cpu_views.size());
    for (const auto& v : cpu_views) {
      auto x = v.to(device_, /*non_blocking=*/true);
      views.push_back(channels_last_ ? x.contiguous(at::MemoryFormat::ChannelsLast) : x);
    }
    StepOutput out;
    {
      detail::AutocastBf16 autocast(bf16_);
      out = method_->training_step(backbone_, views);
    }
    // The loss every rank logs and checks is the mean over ranks, so that all stop together.
    double loss = 0.0;
    if (world_ > 1) {
      torch::Tensor l = out.loss.detach().to(torch::kFloat64).reshape({1}).clone();
      radiossl::detail::all_reduce_sum_(l);
      loss = l.item<double>() / static_cast<double>(world_);
    } else {
      loss = out.loss.template item<double>();
    }
    if (!std::isfinite(loss)) {
      throw Error("Trainer: the loss is " + detail::describe(loss) + " at step " + std::to_string(t) +
                  " (epoch " + std::to_string(epoch_) + "); stopped without saving; last good checkpoint: " +
                  (last_checkpoint_.empty() ? std::string("none written") : last_checkpoint_.string()));
    }
    out.loss.backward();
    averager_.average();
    // After the averaging, so that a clip (DINO's clip_grad) sees the gradient every rank applies.
    if constexpr (requires { method_->on_after_backward(backbone_); }) method_->on_after_backward(backbone_);
    optimizer_->step();
    if (world_ > 1)  // BatchNorm running statistics: rank 0's everywhere (DDP's broadcast_buffers)
      dist::broadcast_batch_norm_statistics({backbone_.ptr().get(), method_.ptr().get()});
    ++global_step_;
    last_loss_ = loss;
    last_logs_ = std::move(out.logs);
    if constexpr (requires { method_->on_step_end(backbone_, 0.0); }) {
      const double progress = total_steps_ > 0 ? static_cast<double>(global_step_) / static_cast<double>(total_steps_) : 0.0;
      method_->on_step_end(backbone_, progress);
    }
    return lr;
  }

  /// Writes everything a resumed run needs to `path` (default `<out_dir>/last.ckpt`) atomically:
  /// a temporary file in the same directory, then a rename, so a crash or a failed write never
  /// leaves a truncated checkpoint and the previous one stays intact. Only rank 0 writes (the
  /// replicas are identical); other ranks just remember the path.
  void save_checkpoint(std::filesystem::path path = {}) {
    if (path.empty()) path = std::filesystem::path(options_.out_dir()) / "last.ckpt";
    // Every rank's part of the per-rank state, gathered along its split (a collective: every rank
    // saves at the same steps).
    std::vector<std::pair<std::string, torch::Tensor>> shards;
    for (auto& shard : rank_shards()) {
      const torch::Tensor first = shard.tensor.detach().movedim(shard.dim, 0).contiguous();
      shards.emplace_back(shard.name, radiossl::detail::all_gather(first).movedim(0, shard.dim).contiguous());
    }
    if (rank_ != 0) {
      last_checkpoint_ = path;
      return;
    }
    torch::serialize::OutputArchive ar;
    {
      torch::serialize::OutputArchive sub;
      backbone_->save(sub);
      ar.write("backbone", sub);
    }
    {
      torch::serialize::OutputArchive sub;
      method_->save(sub);
      ar.write("method", sub);
    }
    {
      torch::serialize::OutputArchive sub;
      optimizer_->optimizer().save(sub);
      ar.write("optimizer", sub);
    }
    for (const auto& [name, all_ranks] : shards) ar.write("method_ranks/" + name, all_ranks);
    ar.write("trainer/global_step", torch::tensor(global_step_));
    ar.write("trainer/steps_per_epoch", torch::tensor(steps_per_epoch_));
    ar.write("trainer/epochs", torch::tensor(options_.epochs()));
    ar.write("trainer/loader_seed", torch::tensor(loader_seed_));
    ar.write("trainer/base_lrs", torch::tensor(base_lrs_, torch::kDouble));
    ar.write("trainer/global_batch", torch::tensor(options_.batch_size() * world_));
    ar.write("rng/cpu", generator_state(torch::kCPU));
    // Random ops on the device (W-MSE's permutation) draw from the device's own generator.
    if (device_.is_cuda()) ar.write("rng/cuda", generator_state(device_));
    if (!path.parent_path().empty()) std::filesystem::create_directories(path.parent_path());
    auto tmp = path;
    tmp += ".tmp";
    try {
      ar.save_to(tmp.string());
      std::filesystem::rename(tmp, path);
    } catch (const std::exception& e) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw Error("Trainer: writing checkpoint " + path.string() + " failed (previous one kept): " +
                  detail::one_line(e));
    }
    last_checkpoint_ = path;
  }

  /// Restores a checkpoint written by `save_checkpoint` into this Trainer (every rank reads it).
  /// A checkpoint written with another global batch (another world size) resumes at the same
  /// point of the data: finished epochs, plus the samples of the current epoch rounded down to
  /// whole new batches.
  void load_checkpoint(const std::filesystem::path& path) {
    if (!std::filesystem::exists(path)) throw Error("Trainer: resume_from " + path.string() + " does not exist");
    torch::serialize::InputArchive ar;
    try {
      ar.load_from(path.string(), device_);
      {
        torch::serialize::InputArchive sub;
        ar.read("backbone", sub);
        backbone_->load(sub);
      }
      {
        torch::serialize::InputArchive sub;
        ar.read("method", sub);
        method_->load(sub);
      }
      {
        torch::serialize::InputArchive sub;
        ar.read("optimizer", sub);
        optimizer_->optimizer().load(sub);
      }
    } catch (const c10::Error& e) {
      throw Error("Trainer: cannot restore checkpoint " + path.string() + ": " + e.what_without_backtrace());
    }
    // Each rank takes its own part of the per-rank state, split again for this world size; where
    // the rows do not split evenly the method decides (SwAV starts an empty queue). Checkpoints
    // without it (rank 0's part only) leave rank 0's part on every rank.
    for (auto& shard : rank_shards()) {
      torch::Tensor all_ranks;
      if (!ar.try_read("method_ranks/" + shard.name, all_ranks)) continue;
      const std::int64_t rows = all_ranks.size(shard.dim);
      if (rows % world_ != 0) continue;
      torch::NoGradGuard no_grad;
      shard.tensor.set_(all_ranks.narrow(shard.dim, rank_ * (rows / world_), rows / world_)
                            .to(shard.tensor.device())
                            .contiguous());
    }
    torch::Tensor step, per_epoch, epochs, seed, rng;
    ar.read("trainer/global_step", step);
    ar.read("trainer/steps_per_epoch", per_epoch);
    ar.read("trainer/epochs", epochs);
    ar.read("trainer/loader_seed", seed);
    ar.read("rng/cpu", rng);
    std::int64_t step_now = step.item<std::int64_t>();
    torch::Tensor old_global;
    const std::int64_t global_batch = options_.batch_size() * world_;
    if (steps_per_epoch_ > 0 && per_epoch.item<std::int64_t>() != steps_per_epoch_ &&
        ar.try_read("trainer/global_batch", old_global) && old_global.item<std::int64_t>() != global_batch) {
      const std::int64_t old_per_epoch = per_epoch.item<std::int64_t>();
      const std::int64_t samples_in_epoch = (step_now % old_per_epoch) * old_global.item<std::int64_t>();
      step_now = step_now / old_per_epoch * steps_per_epoch_ + samples_in_epoch / global_batch;
    } else if (steps_per_epoch_ > 0 && per_epoch.item<std::int64_t>() != steps_per_epoch_)
      throw Error("Trainer: checkpoint " + path.string() + " was written with " +
                  std::to_string(per_epoch.item<std::int64_t>()) + " batches per epoch, the loader now has " +
                  std::to_string(steps_per_epoch_));
    if (epochs.item<std::int64_t>() != options_.epochs())
      throw Error("Trainer: checkpoint " + path.string() + " was written for " +
                  std::to_string(epochs.item<std::int64_t>()) + " epochs, options say " +
                  std::to_string(options_.epochs()) + " (the schedule would differ)");
    if (loader_seed_ != -1 && seed.item<std::int64_t>() != loader_seed_)
      throw Error("Trainer: checkpoint " + path.string() + " was written with loader seed " +
                  std::to_string(seed.item<std::int64_t>()) + ", the loader has " + std::to_string(loader_seed_));
    set_generator_state(torch::kCPU, rng);
    // A checkpoint written on CPU has no device state: the device's generator keeps its seed.
    if (torch::Tensor cuda_rng; device_.is_cuda() && ar.try_read("rng/cuda", cuda_rng))
      set_generator_state(device_, cuda_rng);
    global_step_ = step_now;
    resumed_ = true;
    last_checkpoint_ = path;
  }

  B& backbone() { return backbone_; }
  M& method() { return method_; }
  A& augment() { return augment_; }
  O& optimizer() { return *optimizer_; }
  [[nodiscard]] const TrainerOptions& options() const { return options_; }
  [[nodiscard]] torch::Device device() const { return device_; }
  /// Whether the backbone's 3x3 convolutions run by Winograd (TrainerOptions::winograd).
  [[nodiscard]] bool winograd() const { return winograd_; }
  /// Whether activations and 4-D weights are channels_last (TrainerOptions::channels_last).
  [[nodiscard]] bool channels_last() const { return channels_last_; }
  /// Whether the forward pass runs under bf16 autocast (TrainerOptions::bf16_autocast).
  [[nodiscard]] bool bf16_autocast() const { return bf16_; }
  [[nodiscard]] std::int64_t global_step() const { return global_step_; }
  [[nodiscard]] const std::filesystem::path& last_checkpoint() const { return last_checkpoint_; }
  /// The base lr of each parameter group (after batch scaling): what the schedule scales.
  [[nodiscard]] const std::vector<double>& base_lrs() const { return base_lrs_; }

 private:
  /// The method's per-rank buffers (`rank_shards`, concepts/method.hpp); none for most methods.
  std::vector<RankShard> rank_shards() {
    if constexpr (requires { method_->rank_shards(); }) return method_->rank_shards();
    else return {};
  }

  /// Returns on every rank once rank 0's last checkpoint is written, so that a program may read
  /// it right after fit() on any rank.
  void wait_for_all() {
    if (world_ > 1) radiossl::detail::communicator()->barrier();
  }

  template <class L>
  [[nodiscard]] std::string empty_epoch_message(const L& loader, std::int64_t epoch) const {
    std::string bad;
    if constexpr (requires { loader.stats().bad_files; })
      bad = " (" + std::to_string(loader.stats().bad_files) + " failed loads so far, each named by the loader)";
    return "Trainer::fit: epoch " + std::to_string(epoch) + " gave no batch of " +
           std::to_string(options_.batch_size()) + ": every sample of it failed to load" + bad +
           "; stopped, nothing trained in this epoch was saved";
  }

  /// The state of torch's default generator on `device` (the CPU's, or a CUDA device's), for checkpoints.
  static torch::Tensor generator_state(torch::Device device) {
    at::Generator gen = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(gen.mutex());
    return gen.get_state();
  }
  static void set_generator_state(torch::Device device, const torch::Tensor& state) {
    at::Generator gen = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state.to(torch::kCPU));
  }

  static TrainerOptions seeded(TrainerOptions o) {
    // Before joining a job: a bad option stops every rank at once with the same message.
    if (o.epochs() < 1) throw Error("Trainer: epochs must be >= 1, got " + std::to_string(o.epochs()));
    if (o.batch_size() < 1) throw Error("Trainer: batch_size must be >= 1, got " + std::to_string(o.batch_size()));
    // Join the job first: methods size per-rank state from dist::world_size() (SwAV's queue).
    // One process: nothing happens. Under torchrun/srun/mpirun: see dist/launch.hpp.
    dist::init_from_env();
    torch::manual_seed(o.seed());
    if (o.num_threads() > 0) torch::set_num_threads(o.num_threads());
    return o;
  }

  void setup(OptimizerOptions oo) {
    world_ = dist::world_size();
    rank_ = dist::rank();
    torch::Device gpu(torch::kCUDA);
    if (world_ > 1 && torch::cuda::is_available())  // one GPU per process of a node
      gpu = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(
                                            dist::launch_from_env().local_rank %
                                            static_cast<std::int64_t>(torch::cuda::device_count())));
    device_ = options_.device().value_or(torch::cuda::is_available() ? gpu : torch::Device(torch::kCPU));
    const bool cuda = device_.is_cuda();
    bool cpu_channels_last = false;
    if constexpr (requires { B::Impl::channels_last_on_cpu; })
      cpu_channels_last = B::Impl::channels_last_on_cpu;
    channels_last_ = options_.channels_last().value_or(cuda || cpu_channels_last);
    bf16_ = cuda && options_.bf16_autocast().value_or(true);
    if (!cuda && options_.retain_freed_memory()) detail::keep_freed_memory(detail::KeepFreed::everything);
    if (!cuda && options_.blas_threads() > 0) detail::set_openblas_threads(options_.blas_threads());
    backbone_->to(device_);
    method_->to(device_);
    if (options_.sync_batch_norm().value_or(world_ > 1)) {
      std::int64_t plain_b = 0, plain_m = 0;
      dist::set_sync_batch_norm(*backbone_.ptr(), true, &plain_b);
      dist::set_sync_batch_norm(*method_.ptr(), true, &plain_m);
      if (plain_b + plain_m > 0)
        throw Error("TrainerOptions::sync_batch_norm" +
                    std::string(options_.sync_batch_norm() ? "" : " (on by default under several processes)") +
                    ": " + std::to_string(plain_b) + " BatchNorm layers of the backbone and " +
                    std::to_string(plain_m) + " of the method are plain torch::nn::BatchNorm, which cannot be "
                    "synchronised; build them as radiossl::dist::SyncBatchNorm1d/2d (same parameters and names), "
                    "or set sync_batch_norm(false)");
    }
    if (options_.winograd().value_or(false) && !cuda && !backbone::winograd_available())
      throw Error("TrainerOptions::winograd: this build or CPU has no Winograd convolutions (they need oneDNN's "
                  "headers when radiossl is built, Debian: libdnnl-dev, and an AVX-512 CPU, or else an AVX2 CPU)");
    const bool winograd = !cuda && options_.winograd().value_or(backbone::winograd_available());
    winograd_ = backbone::set_winograd(*backbone_.ptr(), winograd) > 0 && winograd;
    backbone::set_winograd(*method_.ptr(), winograd);
    if (channels_last_) {
      torch::NoGradGuard ng;
      for (auto* m : {static_cast<torch::nn::Module*>(backbone_.ptr().get()),
                      static_cast<torch::nn::Module*>(method_.ptr().get())})
        for (auto& p : m->parameters())
          if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
    }
    // Two groups, as solo-learn's: the backbone and the method's heads; frozen (teacher)
    // parameters are left out. LARS itself exempts 1-D parameters (biases, norms).
    std::vector<torch::optim::OptimizerParamGroup> groups;
    for (auto* m : {static_cast<torch::nn::Module*>(backbone_.ptr().get()),
                    static_cast<torch::nn::Module*>(method_.ptr().get())}) {
      std::vector<torch::Tensor> ps;
      for (auto& p : m->parameters())
        if (p.requires_grad()) ps.push_back(p);
      if (!ps.empty()) groups.emplace_back(std::move(ps));
    }
    std::optional<double> lr = options_.lr(), wd = options_.weight_decay();
    if constexpr (requires { method_->options().lr(); }) {
      if (!lr) lr = method_->options().lr();
    }
    if constexpr (requires { method_->options().weight_decay(); }) {
      if (!wd) wd = method_->options().weight_decay();
    }
    const double configured = lr.value_or(0.3);
    const double base = options_.scale_lr_by_batch()
                            ? optim::scale_lr_by_batch(configured, options_.batch_size() * world_)
                            : configured;
    if constexpr (requires { oo.lr(base); }) oo.lr(base);
    if constexpr (requires { oo.weight_decay(0.0); })
      if (wd) oo.weight_decay(*wd);
    // A method may give part of its parameters a fixed lr that is not batch-scaled (solo-learn's
    // All4One transformer, lr 0.1): `transformer_parameters()` + `options().transformer_lr()`.
    if constexpr (requires {
                    method_->transformer_parameters();
                    method_->options().transformer_lr();
                  }) {
      std::vector<torch::Tensor> special = method_->transformer_parameters();
      if (!special.empty() && groups.size() == 2) {
        auto is_special = [&](const torch::Tensor& p) {
          return std::any_of(special.begin(), special.end(),
                             [&](const torch::Tensor& q) { return q.unsafeGetTensorImpl() == p.unsafeGetTensorImpl(); });
        };
        std::vector<torch::Tensor> rest;
        for (auto& p : groups[1].params())
          if (!is_special(p)) rest.push_back(p);
        std::vector<torch::Tensor> trainable;
        for (auto& p : special)
          if (p.requires_grad()) trainable.push_back(p);
        auto special_options = static_cast<const torch::optim::OptimizerOptions&>(oo).clone();  // clone() is private in the CRTP base
        special_options->set_lr(method_->options().transformer_lr());
        groups.pop_back();
        if (!rest.empty()) groups.emplace_back(std::move(rest));
        if (!trainable.empty()) groups.emplace_back(std::move(trainable), std::move(special_options));
      }
    }
    std::vector<torch::Tensor> trainable;
    for (auto& g : groups)
      for (auto& p : g.params()) trainable.push_back(p);
    averager_ = dist::GradientAverager(std::move(trainable));
    optimizer_ = std::make_unique<O>(std::move(groups), std::move(oo));
    for (auto& g : optimizer_->optimizer().param_groups()) base_lrs_.push_back(g.options().get_lr());
  }

  /// Sets each group's lr for optimizer step t; returns the first group's.
  double apply_schedule(std::int64_t t) {
    auto& groups = optimizer_->optimizer().param_groups();
    const std::int64_t per_epoch = std::max<std::int64_t>(steps_per_epoch_, 1);
    for (std::size_t i = 0; i < groups.size(); ++i) {
      double lr = base_lrs_[i];
      switch (options_.schedule()) {
        case LrSchedule::warmup_cosine: {
          const optim::WarmupCosine s{
              .warmup_steps = static_cast<std::int64_t>(std::llround(options_.warmup_epochs() * static_cast<double>(per_epoch))),
              .total_steps = total_steps_,
              .start_lr = options_.warmup_start_lr(),
              .min_lr = options_.min_lr()};
          lr = s(t, base_lrs_[i]);
          break;
        }
        case LrSchedule::multistep:
          lr = optim::MultiStep{.milestones = options_.lr_decay_epochs(), .gamma = 0.1}(t / per_epoch, base_lrs_[i]);
          break;
        case LrSchedule::constant:
          break;
      }
      groups[i].options().set_lr(lr);
    }
    return groups.empty() ? 0.0 : groups[0].options().get_lr();
  }

  TrainerOptions options_;
  B backbone_;
  M method_;
  A augment_;
  std::unique_ptr<O> optimizer_;
  torch::Device device_{torch::kCPU};
  bool channels_last_ = false;
  bool winograd_ = false;
  bool bf16_ = false;
  std::int64_t world_ = 1;
  std::int64_t rank_ = 0;
  dist::GradientAverager averager_;
  std::vector<double> base_lrs_;
  std::int64_t global_step_ = 0;
  std::int64_t epoch_ = 0;
  std::int64_t steps_per_epoch_ = 0;
  std::int64_t total_steps_ = 0;
  std::int64_t loader_seed_ = -1;
  bool resumed_ = false;
  double last_loss_ = 0.0;
  std::map<std::string, double> last_logs_;
  std::filesystem::path last_checkpoint_;
};

}  // namespace detail
}  // namespace radiossl

/// @file
/// Runs the benchmark grid: data, random-initialisation and ImageNet baselines, every cell's
/// pretraining and evaluation, resumption, failures, and the report with its figures.
///
/// Under torchrun (or srun, mpirun) every rank pretrains each cell data-parallel, but only rank 0
/// generates the data, evaluates, appends to results.csv and writes summary.json, report.md and
/// the figures; the other ranks wait for it before each cell (dist::sync_with_main, which waits
/// as long as rank 0 evaluates yet fails at once if rank 0 dies), and rank 0 decides which cells
/// are already done so that every rank skips the same ones.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "radiossl/augment/presets.hpp"
#include "radiossl/backbone/checkpoint.hpp"
#include "radiossl/backbone/resnet.hpp"
#include "radiossl/data/loader.hpp"
#include "radiossl/detail/blas_threads.hpp"
#include "radiossl/dist/main_wait.hpp"
#include "radiossl/dist/process_group.hpp"
#include "radiossl/eval/embedding.hpp"
#include "radiossl/eval/plots.hpp"
#include "radiossl/eval/protocol.hpp"
#include "radiossl/eval/report.hpp"
#include "radiossl/eval/results.hpp"
#include "radiossl/grid/config.hpp"
#include "radiossl/grid/grid.hpp"
#include "radiossl/grid/names.hpp"
#include "radiossl/io/manifest.hpp"
#include "radiossl/io/png.hpp"
#include "radiossl/optim/lars.hpp"
#include "radiossl/sim/sets.hpp"
#include "radiossl/trainer.hpp"

namespace radiossl::grid {

/// Keeps every k-th file so that at most `n` remain (0: all); evenly spread, deterministic.
inline std::vector<std::filesystem::path> subsample(std::vector<std::filesystem::path> files, std::int64_t n) {
  if (n <= 0 || static_cast<std::int64_t>(files.size()) <= n) return files;
  std::vector<std::filesystem::path> out;
  const double step = static_cast<double>(files.size()) / static_cast<double>(n);
  for (std::int64_t i = 0; i < n; ++i) out.push_back(files[static_cast<std::size_t>(static_cast<double>(i) * step)]);
  return out;
}

/// Runs a grid described by a GridConfig; see examples/bench_grid.cpp.
class GridRunner {
 public:
  explicit GridRunner(GridConfig config, std::ostream& log = std::cerr) : cfg_(std::move(config)), log_(log) {}

  /// Data, baselines, every selected cell, then the report. Returns the number of failed cells
  /// (on every rank: rank 0's count, which includes its evaluations).
  template <class Cells>
  int run(Cells cells) {
    const auto start = std::chrono::steady_clock::now();
    dist::init_from_env();  // one process: nothing; torchrun & co: join the job before any work
    main_ = dist::is_main_process();
    prepare();
    if (cfg_.random_init_baseline && main_) run_baselines();
    std::size_t total = 0;
    hana::for_each(cells, [&](auto cell) { total += wanted(cell) ? 1 : 0; });
    std::size_t k = 0;
    hana::for_each(cells, [&](auto cell) {
      if (!wanted(cell)) return;
      ++k;
      using C = typename decltype(cell)::type;
      run_cell<C>(k, total);
    });
    if (main_) write_report(cells);
    // Every rank ends with rank 0's verdict, once its report is written.
    const int failed = std::stoi(dist::sync_with_main("the report", std::to_string(failures_.size())));
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    log_ << "bench_grid: done in " << static_cast<long>(secs) << " s; " << failed << " failed cell(s); ";
    if (main_) log_ << "report " << (cfg_.out / "report.md").string() << "\n";
    else log_ << "rank " << dist::rank() << " of " << dist::world_size() << " (rank 0 writes the report)\n";
    return failed;
  }

  [[nodiscard]] const GridConfig& config() const { return cfg_; }
  [[nodiscard]] const std::vector<std::string>& failures() const { return failures_; }

 private:
  // ---- setup -------------------------------------------------------------------------------------
  /// Paths on every rank; on rank 0 only, the output folder, the synthetic data (the other ranks
  /// read it after the first cell's sync_with_main) and the downstream sets (only rank 0 evaluates).
  void prepare() {
    namespace fs = std::filesystem;
    if (main_) fs::create_directories(cfg_.out);
    torch::set_num_threads(std::max(cfg_.threads, 1));
    device_ = torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
    // The baselines' evaluation runs before any Trainer would set it (TrainerOptions::blas_threads).
    if (device_.is_cpu()) radiossl::detail::set_openblas_threads(1);
    if (cfg_.cifar_stem && (cfg_.imagenet_resnet18 || cfg_.imagenet_resnet50))
      throw Error("cifar_stem: torchvision's ImageNet weights have the 7x7 ImageNet stem and do not fit the CIFAR "
                  "stem; drop imagenet_resnet18/imagenet_resnet50 or cifar_stem from the config");
    const bool user_data = !cfg_.curated.empty() || !cfg_.uncurated.empty() || !cfg_.downstream.empty();
    if (!user_data) {
      if (cfg_.data.empty()) cfg_.data = cfg_.out / "data";
      if (main_ && !fs::exists(cfg_.data / "dataset.json")) {
        log_ << "bench_grid: generating the synthetic radio sky (" << cfg_.data_preset << " preset) in "
             << cfg_.data.string() << "\n";
        sim::GenerateOptions g;
        g.out = cfg_.data;
        g.seed = cfg_.data_seed;
        g.preset = sim::DatasetPreset::from_name(cfg_.data_preset);
        if (cfg_.smgps_maps || cfg_.emu_maps)
          g.preset.with_maps(cfg_.smgps_maps.value_or(g.preset.smgps_maps), cfg_.emu_maps.value_or(g.preset.emu_maps));
        if (cfg_.labeled_scale) g.preset.with_labeled_scale(*cfg_.labeled_scale);
        g.threads = std::max(cfg_.threads, 1);
        g.progress = [this](const std::string& s) { log_ << "  " << s << "\n"; };
        sim::generate_dataset(g);
      }
      if (main_ && (cfg_.smgps_maps || cfg_.emu_maps || cfg_.labeled_scale)) check_data_counts();
      cfg_.curated = cfg_.data / "pretrain" / "curated";
      cfg_.uncurated = cfg_.data / "pretrain" / "uncurated";
      const std::map<std::string, std::string> display{
          {"mirabest", "MiraBest"}, {"rgz", "RGZ"}, {"msrs", "MSRS"}, {"vlass", "VLASS"}};
      for (const auto& name : sim::labeled_set_names())
        cfg_.downstream.push_back({display.count(name) ? display.at(name) : name,
                                   cfg_.data / "labeled" / name / "manifest.csv", 0});
    }
    if (!main_) return;
    check_resumed_settings();
    for (const auto& spec : cfg_.downstream) {
      const auto set = io::read_labeled_set(spec.path);
      if (set.class_names.empty())
        throw Error(spec.path.string() + ": downstream set " + spec.name + " has no labels; every image needs one");
      eval::DownstreamSet d;
      d.name = spec.name;
      d.class_names = set.class_names;
      d.per_class = spec.per_class;
      std::int64_t bad = 0;
      for (std::size_t i = 0; i < set.paths.size(); ++i) {
        try {
          d.data.images.push_back(io::load_image(set.paths[i], cfg_.fits_options()));
          d.data.labels.push_back(set.labels[i]);
        } catch (const std::exception& e) {
          ++bad;
          log_ << "bench_grid: skipping unreadable " << set.paths[i].string() << ": " << e.what() << "\n";
        }
      }
      if (d.data.images.empty()) throw Error(spec.path.string() + ": no readable image in downstream set " + spec.name);
      log_ << "bench_grid: downstream " << d.name << ": " << d.data.size() << " images, "
           << d.class_names.size() << " classes" << (bad ? ", " + std::to_string(bad) + " unreadable skipped" : "")
           << "\n";
      bad_files_ += bad;
      sets_.push_back(std::move(d));
    }
    for (const auto& r : eval::read_results_csv(cfg_.out / "results.csv")) done_.insert(row_key(r));
    if (!done_.empty()) log_ << "bench_grid: resuming, " << done_.size() << " result rows already in results.csv\n";
  }

  /// `out/run_settings.json` holds the settings of the run that made the folder's backbones and
  /// rows. A run with other settings stops, naming what differs, instead of mixing the two.
  void check_resumed_settings() {
    namespace fs = std::filesystem;
    const auto path = cfg_.out / "run_settings.json";
    const nlohmann::json now = cfg_.result_settings();
    if (fs::exists(path)) {
      nlohmann::json before;
      try {
        std::ifstream in(path);
        before = nlohmann::json::parse(in);
      } catch (const nlohmann::json::exception& e) {
        throw Error(path.string() + ": invalid JSON (" + e.what() + "); remove it to resume anyway");
      }
      if (before != now) {
        std::string diff;
        const auto a = before.flatten(), b = now.flatten();  // keys are JSON pointers: "/linear/epochs"
        auto name = [](const std::string& pointer) { return pointer.substr(1); };
        for (const auto& [key, value] : a.items())
          if (!b.contains(key) || b.at(key) != value)
            diff += "\n  " + name(key) + ": " + value.dump() + " -> " + (b.contains(key) ? b.at(key).dump() : "(none)");
        for (const auto& [key, value] : b.items())
          if (!a.contains(key)) diff += "\n  " + name(key) + ": (none) -> " + value.dump();
        throw Error(cfg_.out.string() + " holds backbones and results made with other settings; give another --out, "
                    "or remove " + path.string() + " to reuse them as they are. What differs:" + diff);
      }
      return;
    }
    const auto tmp = path.string() + ".tmp";
    std::ofstream(tmp) << now.dump(2) << "\n";
    fs::rename(tmp, path);
  }

  static long seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::lround(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }

  /// Synthetic data generated earlier with other map counts or labeled scale than the config's would
  /// silently give other pretraining or labeled sets: refuse it. Data written before labeled_scale
  /// existed has scale 1.
  void check_data_counts() const {
    std::ifstream in(cfg_.data / "dataset.json");
    auto doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (doc.is_object() && !doc.contains("labeled_scale")) doc["labeled_scale"] = 1;
    for (const auto& [key, want] : {std::pair{"smgps_maps", cfg_.smgps_maps}, std::pair{"emu_maps", cfg_.emu_maps},
                                    std::pair{"labeled_scale", cfg_.labeled_scale}})
      if (want && (!doc.is_object() || !doc.contains(key) || doc[key] != *want))
        throw Error((cfg_.data / "dataset.json").string() + ": " + key + " is " +
                    (doc.is_object() && doc.contains(key) ? doc[key].dump() : "missing") + ", the config asks for " +
                    std::to_string(*want) + " (use another data folder, or remove this one to regenerate it)");
  }

  static std::string row_key(const eval::ResultRow& r) {
    return r.pretrain + "|" + r.backbone + "|" + r.method + "|" + std::to_string(r.seed) + "|" + r.downstream +
           "|" + r.protocol + "|" + std::to_string(r.fold);
  }

  template <class CellT>
  bool wanted(CellT) const {
    using C = typename CellT::type;
    using M = typename C::Method;
    using B = typename C::Backbone;
    if (!cfg_.full && !C::in_paper) return false;
    if (!cfg_.pretrain_sets.empty()) {
      std::string set(C::PretrainSet::name);  // "Curated" -> "curated"
      std::transform(set.begin(), set.end(), set.begin(), [](unsigned char c) { return std::tolower(c); });
      if (std::find(cfg_.pretrain_sets.begin(), cfg_.pretrain_sets.end(), set) == cfg_.pretrain_sets.end())
        return false;
    }
    if (!cfg_.methods.empty() &&
        std::find(cfg_.methods.begin(), cfg_.methods.end(), std::string(M::Impl::name)) == cfg_.methods.end())
      return false;
    return backbone_wanted<B>();
  }

  template <class B>
  bool backbone_wanted() const {
    if (cfg_.backbones.empty()) return true;
    std::string id = backbone_name<B>();  // "ResNet-18" -> "resnet18"
    id.erase(std::remove(id.begin(), id.end(), '-'), id.end());
    std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return std::tolower(c); });
    return std::find(cfg_.backbones.begin(), cfg_.backbones.end(), id) != cfg_.backbones.end();
  }

  eval::EvalSettings eval_settings(std::uint64_t seed) const {
    eval::EvalSettings s;
    s.image_size = cfg_.eval_size;
    s.device = device_;
    s.num_workers = cfg_.workers;
    s.seed = seed;
    s.clip_sigma = cfg_.clip_sigma;
    s.eight_bit = cfg_.eight_bit;
    s.channel_mode = cfg_.eval_norm_channels;
    s.pad_square = cfg_.pad_square;
    return s;
  }

  /// Evaluates one backbone on every downstream set, appending each finished row to results.csv.
  template <class B>
  void evaluate_all(B& backbone, const eval::RunLabel& label, std::uint64_t seed) {
    for (const auto& set : sets_) {
      eval::evaluate(
          backbone, set, label, cfg_.protocol, eval_settings(seed),
          [this](const eval::ResultRow& r) { return done_.count(row_key(r)) > 0; },
          [this](const eval::ResultRow& r) {
            eval::append_results_csv(cfg_.out / "results.csv", {r});
            done_.insert(row_key(r));
            char acc[32];
            std::snprintf(acc, sizeof acc, "%.1f%%", 100.0 * r.result.accuracy);
            log_ << "    " << r.downstream << " " << r.protocol << " fold " << r.fold + 1 << ": " << acc << "\n";
          });
    }
  }

  // ---- baselines ---------------------------------------------------------------------------------
  void run_baselines() {
    hana::for_each(all_backbones, [&](auto bt) {
      using B = typename decltype(bt)::type;
      if (!backbone_wanted<B>()) return;
      for (auto seed : cfg_.seeds) {
        log_ << "bench_grid: baseline " << eval::random_init_name << " " << backbone_name<B>() << " seed " << seed << "\n";
        try {
          torch::manual_seed(seed);
          auto backbone = make_backbone<B>();
          backbone->to(device_);
          evaluate_all(backbone, {eval::random_init_name, backbone_name<B>(), "-", static_cast<std::int64_t>(seed)}, seed);
          if (seed == cfg_.seeds.front()) embed_figures(backbone, std::string(eval::random_init_name) + " " + backbone_name<B>());
        } catch (const std::exception& e) {
          fail(std::string(eval::random_init_name) + " " + backbone_name<B>(), e.what());
        }
      }
      const auto weights = std::is_same_v<B, backbone::ResNet18> ? cfg_.imagenet_resnet18 : cfg_.imagenet_resnet50;
      if (weights) {
        log_ << "bench_grid: baseline " << eval::imagenet_name << " " << backbone_name<B>() << "\n";
        try {
          B backbone;
          backbone::load_backbone(backbone, *weights);
          backbone->to(device_);
          evaluate_all(backbone, {eval::imagenet_name, backbone_name<B>(), "torchvision", 0}, 0);
        } catch (const std::exception& e) {
          fail(std::string(eval::imagenet_name) + " " + backbone_name<B>(), e.what());
        }
      }
    });
  }

  /// Every backbone of the run, pretrained or baseline, is built with these options.
  template <class B>
  [[nodiscard]] typename B::Impl::Options backbone_options() const {
    return typename B::Impl::Options().cifar_stem(cfg_.cifar_stem);
  }
  template <class B>
  [[nodiscard]] B make_backbone() const {
    return B(backbone_options<B>());
  }

  /// The paper's pretraining augmentation at the configured size. Its blur sigma, U(0.1, 2) px,
  /// is meant for 224 px crops: smaller crops get it scaled by size/224 (GridConfig::scale_blur),
  /// else a 2 px blur on a 32 px crop would wipe out the structure that tells the classes apart.
  [[nodiscard]] augment::PretrainOptions pretrain_augment() const {
    augment::PretrainOptions o{.size = cfg_.pretrain_size};
    o.scale_min = cfg_.crop_min_scale;
    if (cfg_.scale_blur) {
      const double f = static_cast<double>(cfg_.pretrain_size) / 224.0;
      o.sigma_min *= f;
      o.sigma_max *= f;
    }
    return o;
  }

  // ---- one cell ----------------------------------------------------------------------------------
  template <class C>
  void run_cell(std::size_t k, std::size_t total) {
    using M = typename C::Method;
    using B = typename C::Backbone;
    using P = typename C::PretrainSet;
    using T = Trainer<B, M, augment::RadioSymmetric, optim::LARS>;
    const std::string method = method_display_name(M::Impl::name);
    const std::string title = method + " " + backbone_name<B>() + " " + std::string(P::name);
    const bool curated = std::is_same_v<P, Curated>;
    for (auto seed : cfg_.seeds) {
      log_ << "bench_grid: [" << k << "/" << total << "] " << title << " seed " << seed << "\n";
      const auto dir = cfg_.out / "cells" / (std::string(P::name) + "_" + backbone_name<B>() + "_" + method + "_seed" +
                                             std::to_string(seed));
      const auto weights = dir / "backbone.pt";
      // Rank 0 decides what is left of this cell, once it has evaluated the previous one; the
      // other ranks wait here (outside the try: a lost rank 0 ends the run) and do the same.
      std::string plan;
      if (main_)
        plan = std::filesystem::exists(weights)               ? "done"
               : std::filesystem::exists(dir / "last.ckpt") ? "resume:" + (dir / "last.ckpt").string()
                                                              : "train";
      plan = dist::sync_with_main(title + " seed " + std::to_string(seed), plan);
      if (!main_ && plan == "done") continue;
      try {
        auto backbone = make_backbone<B>();
        if (plan == "done") {
          backbone::load_backbone(backbone, weights);
          log_ << "  pretraining done earlier: " << weights.string() << "\n";
        } else {
          auto files = subsample(io::list_image_files(curated ? cfg_.curated : cfg_.uncurated), cfg_.max_pretrain_images);
          typename M::Impl::Options method_options;
          // A set smaller than one batch would give no step at all: shrink the batch, say so. The
          // batch is per process (as solo-learn's); every rank needs its own slice of the set.
          const std::int64_t world = dist::world_size();
          const auto batch = std::max<std::int64_t>(
              1, std::min<std::int64_t>(cfg_.batch_size, static_cast<std::int64_t>(files.size()) / world));
          if (batch < cfg_.batch_size)
            log_ << "  only " << files.size() << " cut-outs"
                 << (world > 1 ? " for " + std::to_string(world) + " ranks" : std::string()) << ": batch size "
                 << batch << " instead of " << cfg_.batch_size << "\n";
          // W-MSE whitens groups of whitening_size rows, which must divide the batch and exceed
          // the projection size (else the covariance is singular): small-batch presets shrink both.
          if constexpr (requires { method_options.whitening_size(); method_options.proj_output_dim(); }) {
            if (batch % method_options.whitening_size() != 0 || batch < method_options.whitening_size()) {
              method_options.whitening_size(batch);
              method_options.proj_output_dim(std::min<std::int64_t>(method_options.proj_output_dim(), batch / 2));
              log_ << "  W-MSE at batch " << batch << ": whitening size " << batch << ", projection "
                   << method_options.proj_output_dim() << "\n";
            }
          }
          auto options = TrainerOptions()
                             .epochs(curated ? cfg_.epochs_curated : cfg_.epochs_uncurated)
                             .batch_size(batch)
                             .checkpoint_every_steps(cfg_.checkpoint_every_steps)
                             .lr(method_options.lr() * cfg_.lr_scale)
                             .warmup_epochs(cfg_.warmup_epochs)
                             .seed(seed)
                             .num_threads(std::max(cfg_.threads, 1))
                             .out_dir(dir.string())
                             .log_every_steps(20);
          if (plan.rfind("resume:", 0) == 0) {  // rank 0's checkpoint, read by every rank
            options.resume_from(plan.substr(7));
            log_ << "  resuming from " << plan.substr(7) << "\n";
          }
          log_ << "  pretraining on " << files.size() << " cut-outs, " << options.epochs() << " epochs\n";
          T trainer(options, backbone_options<B>(), method_options, optim::LarsOptions(),
                    augment::RadioSymmetric(pretrain_augment()));
          data::LoaderOptions lo;
          lo.num_workers = cfg_.workers;
          lo.preprocess.clip_sigma = cfg_.clip_sigma;
          lo.preprocess.channel_mode = cfg_.norm_channels;
          lo.preprocess.eight_bit = cfg_.eight_bit;
          lo.on_bad_file = [this](const std::string& name, const std::string& error) {
            log_ << "  bad file " << name << ": " << error << "\n";
          };
          const auto t0 = std::chrono::steady_clock::now();
          trainer.fit(data::FileSource(files, cfg_.fits_options()), lo);
          log_ << "  pretraining took " << seconds_since(t0) << " s\n";
          if (!main_) continue;  // rank 0 keeps the weights and evaluates
          backbone = trainer.backbone();
          backbone->to(torch::kCPU);
          backbone::save_backbone(backbone, weights);
        }
        backbone->to(device_);
        const auto t0 = std::chrono::steady_clock::now();
        evaluate_all(backbone, {std::string(P::name), backbone_name<B>(), method, static_cast<std::int64_t>(seed)}, seed);
        if (seed == cfg_.seeds.front()) embed_figures(backbone, title);
        log_ << "  evaluation took " << seconds_since(t0) << " s\n";
      } catch (const std::exception& e) {
        fail(title + " seed " + std::to_string(seed), e.what());
      }
    }
  }

  void fail(const std::string& what, const std::string& why) {
    failures_.push_back(what + ": " + why);
    log_ << "bench_grid: FAILED " << what << ": " << why << " (continuing with the other cells)\n";
  }

  // ---- figures -----------------------------------------------------------------------------------
  /// PCA of each downstream set's features through `backbone`, coloured by class, kept under
  /// `embeddings/<set>/<label>.png`; the report shows the best configuration's next to random init.
  template <class B>
  void embed_figures(B& backbone, const std::string& label) {
    for (const auto& set : sets_) {
      std::vector<std::int64_t> idx;
      const auto n = set.data.size();
      const auto take = std::min<std::int64_t>(n, cfg_.embedding_points);
      for (std::int64_t i = 0; i < take; ++i) idx.push_back(i * n / take);
      const auto sub = set.data.subset(idx);
      auto settings = eval_settings(0);
      auto loader = eval::make_loader(sub, augment::Eval(cfg_.eval_size), 128, false, settings, 0);
      const backbone::WinogradScope convolutions(*backbone.ptr(), settings.winograd && device_.is_cpu());
      auto [feats, labels] = eval::extract_features(backbone, loader, 0, device_);
      if (feats.size(0) < 3) continue;
      const auto xy = eval::pca_2d(feats);
      const auto img = eval::scatter_2d(set.name + ": " + label, xy, eval::to_int64_vector(labels), set.class_names);
      const auto dir = cfg_.out / "embeddings" / set.name;
      std::filesystem::create_directories(dir);
      io::write_png(dir / (file_safe(label) + ".png"), img);
    }
  }

  static std::string file_safe(std::string s) {
    for (auto& c : s)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
    return s;
  }

  // ---- report ------------------------------------------------------------------------------------
  /// The schedule this run used. The preset's note describes the preset's defaults; a config file or
  /// the command line may have changed them, and a report must say what was run.
  std::string settings_markdown() const {
    const auto& pr = cfg_.protocol;
    const bool finetune = pr.runs(eval::Protocol::finetune);
    auto epochs = [](auto n) {
      std::ostringstream e;
      e << n << (n == 1 ? " epoch" : " epochs");
      return e.str();
    };
    std::ostringstream s;
    s << "Settings of this run: pretraining at " << cfg_.pretrain_size << " px, batch " << cfg_.batch_size << ", "
      << epochs(cfg_.epochs_curated) << " on the curated set and " << cfg_.epochs_uncurated
      << " on the uncurated set, warm-up " << epochs(cfg_.warmup_epochs) << ", learning rate x " << cfg_.lr_scale
      << ", crop scale [" << cfg_.crop_min_scale << ", 1]";
    if (cfg_.max_pretrain_images > 0) s << ", at most " << cfg_.max_pretrain_images << " cut-outs";
    s << "; evaluation at " << cfg_.eval_size << " px, linear probe " << epochs(pr.linear.epochs()) << " of batch "
      << pr.linear.batch_size() << (pr.linear.standardize() ? " on standardised features" : " on raw features");
    if (finetune) s << ", fine-tuning " << epochs(pr.finetune.epochs()) << " of batch " << pr.finetune.batch_size();
    s << ".";
    return s.str();
  }

  template <class Cells>
  void write_report(Cells) {
    namespace fs = std::filesystem;
    const auto rows = eval::read_results_csv(cfg_.out / "results.csv");
    const auto summary = eval::summarize(rows);
    std::vector<std::string> set_names;
    for (const auto& s : sets_) set_names.push_back(s.name);

    const std::string settings = settings_markdown();
    nlohmann::json js;
    js["preset"] = cfg_.preset;
    js["note"] = cfg_.note;
    js["settings"] = settings;
    js["seeds"] = cfg_.seeds;
    js["folds"] = cfg_.protocol.folds;
    js["clip_sigma"] = cfg_.clip_sigma;
    js["pad_square"] = cfg_.pad_square;
    js["eight_bit"] = cfg_.eight_bit;
    js["cells"] = eval::summary_json(summary);
    js["failures"] = failures_;
    js["bad_files_skipped"] = bad_files_;
    std::ofstream(cfg_.out / "summary.json") << js.dump(2) << "\n";

    fs::create_directories(cfg_.out / "figures");
    std::ostringstream md;
    md << "# radiossl benchmark report (" << cfg_.preset << " preset)\n\n";
    if (!cfg_.note.empty()) md << "> " << cfg_.note << "\n\n";
    md << settings << "\n\n";
    if (cfg_.clip_sigma > 0.0)
      md << "Every cut-out's background was floored at its median + " << cfg_.clip_sigma
         << " sigma (sigma-clipped statistics) before min-max, in pretraining and evaluation (`clip_sigma`), a "
            "gentler form of MiraBest's own preprocessing (which zeroes pixels below 3 sigma); the paper normalises "
            "by plain min-max.\n\n";
    if (cfg_.norm_channels == data::ChannelMode::mixed)
      md << "Pretraining views had solo-learn-radio's \"mixed\" channels (`norm_channels`): a random stretch in "
            "{power, squared, sinh}, the min-max plane and a random stretch in {log, sqrt, asinh}, drawn for every "
            "view; the paper's runs use the min-max plane in all three.\n\n";
    if (cfg_.eval_norm_channels == data::ChannelMode::mixed)
      md << "Evaluation used solo-learn-radio's \"mixed\" channels (`eval_norm_channels`): stretches drawn as in "
            "pretraining for the training images' views, and sinh, the min-max plane and asinh for validation and "
            "kNN images (solo-learn-radio's code draws those at random too, a bug not copied).\n\n";
    else if (cfg_.norm_channels == data::ChannelMode::mixed)
      md << "Evaluation used the min-max plane in all three channels.\n\n";
    if (cfg_.eight_bit)
      md << "Normalised pixels were truncated to 8 bits (`eight_bit`), in pretraining and evaluation, as "
            "solo-learn-radio's `np.uint8(y * 255)` does before its PIL transforms: pixels below 1/255 of a "
            "cut-out's range above its minimum became 0.\n\n";
    if (!cfg_.pad_square)
      md << "Non-square labeled cut-outs were centre-cropped for evaluation (`pad_square` false); solo-learn-radio "
            "pads them to a square with zeros.\n\n";
    if (cfg_.cifar_stem)
      md << "Every backbone, random init included, has solo-learn's CIFAR stem (3x3 stride-1 conv1, no max-pool; "
            "`cifar_stem`); the paper's has the ImageNet stem.\n\n";
    md << "Accuracy (%) of the last epoch, mean ± std over " << cfg_.seeds.size() << " pretraining seed(s) x "
       << (cfg_.protocol.only_folds.empty() ? cfg_.protocol.folds : static_cast<int>(cfg_.protocol.only_folds.size()))
       << " fold(s) of " << cfg_.protocol.folds << "-fold stratified cross-validation; best of each block in bold. "
       << "Rows `" << eval::random_init_name << "` are a randomly initialised backbone evaluated the same way"
       << (cfg_.imagenet_resnet18 || cfg_.imagenet_resnet50 ? "; `ImageNet` rows use the given torchvision weights" : "")
       << ".\n\n";
    md << "## Table 1: linear evaluation\n\n" << eval::markdown_table(summary, "linear", set_names) << "\n";
    if (cfg_.protocol.runs(eval::Protocol::finetune))
      md << "## Table 2: fine-tuning\n\n" << eval::markdown_table(summary, "finetune", set_names) << "\n";
    else
      md << "## Table 2: fine-tuning\n\nNot run: this run's protocols are linear"
         << (cfg_.protocol.protocols.size() > 1 ? " and kNN" : "") << " only.\n\n";
    if (cfg_.protocol.runs(eval::Protocol::knn))
      md << "## kNN (k " << cfg_.protocol.knn.k() << ", T " << cfg_.protocol.knn.temperature() << ")\n\n"
         << eval::markdown_table(summary, "knn", set_names) << "\n";
    md << "## Science check: SSL against random initialisation, curated against uncurated (linear)\n\n"
       << eval::science_check_markdown(eval::science_check(summary, "linear")) << "\n";
    for (const std::string protocol : {"linear", "finetune"}) {
      const auto png = "figures/accuracy_" + protocol + ".png";
      if (bar_figure(summary, protocol, set_names, cfg_.out / png))
        md << "![" << protocol << " accuracies](" << png << ")\n\n";
    }
    md << "## Feature embeddings (PCA, coloured by class)\n\n";
    for (const auto& s : sets_) {
      const auto dir = cfg_.out / "embeddings" / s.name;
      if (!fs::exists(dir)) continue;
      const auto best = best_config(summary, s.name);
      for (const auto& label : {std::string(eval::random_init_name) + " ResNet-18", best}) {
        const auto png = dir / (file_safe(label) + ".png");
        if (!label.empty() && fs::exists(png))
          md << "![" << s.name << " " << label << "](" << fs::relative(png, cfg_.out).string() << ")\n";
      }
      md << "\n";
    }
    md << "## Runs\n\nresults.csv has " << rows.size() << " rows (one per pretraining x seed x downstream set x "
       << "protocol x fold, with per-class accuracy and the confusion matrix).\n";
    if (bad_files_) md << "\n" << bad_files_ << " unreadable downstream file(s) were skipped (named in the log).\n";
    if (!failures_.empty()) {
      md << "\n## Failed cells\n\n";
      for (const auto& f : failures_) md << "- " << f << "\n";
    }
    std::ofstream(cfg_.out / "report.md") << md.str();
  }

  /// "<Method> <Pretrain> <Backbone>" of the best linear mean on `set` (empty when none).
  static std::string best_config(const std::map<eval::CellKey, eval::MeanStd>& summary, const std::string& set) {
    std::string best;
    double acc = -1;
    for (const auto& [k, v] : summary)
      if (k.protocol == "linear" && k.downstream == set && k.pretrain != eval::random_init_name &&
          k.pretrain != eval::imagenet_name && v.mean > acc) {
        acc = v.mean;
        best = k.method + " " + k.backbone + " " + k.pretrain;
      }
    return best;
  }

  static bool bar_figure(const std::map<eval::CellKey, eval::MeanStd>& summary, const std::string& protocol,
                         const std::vector<std::string>& sets, const std::filesystem::path& png) {
    std::vector<std::string> series;
    std::vector<eval::CellKey> keys;
    for (const auto& [k, v] : summary)
      if (k.protocol == protocol) {
        const auto name = (k.method == "-" ? std::string() : k.method + " ") + k.pretrain + " " + k.backbone;
        if (std::find(series.begin(), series.end(), name) == series.end()) {
          series.push_back(name);
          keys.push_back(k);
        }
      }
    if (series.empty()) return false;
    std::vector<eval::BarGroup> groups;
    for (const auto& s : sets) {
      eval::BarGroup g{s, {}, {}};
      for (const auto& k : keys) {
        auto it = summary.find({k.pretrain, k.backbone, k.method, s, protocol});
        g.values.push_back(it == summary.end() ? 0.0 : it->second.mean);
        g.errors.push_back(it == summary.end() ? 0.0 : it->second.std);
      }
      groups.push_back(std::move(g));
    }
    io::write_png(png, eval::bar_chart(protocol == "linear" ? "Linear evaluation" : "Fine-tuning", series, groups));
    return true;
  }

  GridConfig cfg_;
  std::ostream& log_;
  bool main_ = true;  ///< rank 0 (or the only process): evaluates and writes
  torch::Device device_ = torch::kCPU;
  std::vector<eval::DownstreamSet> sets_;
  std::set<std::string> done_;
  std::vector<std::string> failures_;
  std::int64_t bad_files_ = 0;
};

}  // namespace radiossl::grid

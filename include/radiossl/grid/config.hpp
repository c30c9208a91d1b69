/// @file
/// Settings of a benchmark-grid run: presets (smoke, quick, paper) and the JSON config file with
/// which users point the grid at their own FITS cut-outs and labeled sets.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "radiossl/data/preprocess.hpp"
#include "radiossl/error.hpp"
#include "radiossl/eval/protocol.hpp"
#include "radiossl/io/fits.hpp"

namespace radiossl::grid {

/// One downstream labeled set: a manifest (class folders, CSV `path,label`, or solo-learn info.json).
struct DownstreamSpec {
  std::string name;
  std::filesystem::path path;
  /// Balanced size per class over the whole set (0: as is, as the paper does for MiraBest).
  std::int64_t per_class = 0;
};

/// Everything a grid run needs. Start from `GridConfig::preset(name)`, then override.
struct GridConfig {
  std::string preset = "quick";
  std::string note;                       ///< what the preset changes from the paper, for the report
  std::filesystem::path out = "radiossl-grid";
  /// The synthetic dataset (simulate_sky's layout), generated into `data` when it is missing and
  /// no user data is configured.
  std::filesystem::path data;
  std::uint64_t data_seed = 0;
  std::string data_preset = "quick";
  /// Replace the data preset's map counts (simulate_sky --smgps-maps / --emu-maps): a larger or
  /// smaller synthetic pretraining set at the preset's other settings, the same labeled sets.
  std::optional<int> smgps_maps, emu_maps;
  /// Multiply the data preset's labeled counts per class (simulate_sky --labeled-scale): larger
  /// labeled sets that contain the preset's own, the same pretraining sets.
  std::optional<int> labeled_scale;
  /// Pretraining cut-outs (a directory searched recursively, an info.json, or a list/manifest).
  std::filesystem::path curated, uncurated;
  std::vector<DownstreamSpec> downstream;

  bool full = false;                       ///< all cells, not only the paper's
  std::vector<std::string> methods;        ///< restrict to these (ids: simclr, byol, ...); empty = all
  std::vector<std::string> backbones;      ///< restrict to these ("resnet18", "resnet50"); empty = all
  std::vector<std::string> pretrain_sets;  ///< restrict to these ("curated", "uncurated"); empty = all
  std::vector<std::uint64_t> seeds{0, 1, 2};

  std::int64_t pretrain_size = 224;        ///< training crop side
  std::int64_t eval_size = 224;
  std::int64_t batch_size = 512;           ///< paper section 4.1
  std::int64_t epochs_curated = 600;       ///< paper: 600 on Curated, 100 on Uncurated
  std::int64_t epochs_uncurated = 100;
  double warmup_epochs = 10.0;
  std::int64_t max_pretrain_images = 0;    ///< subsample the pretraining set (0 = all)
  /// Multiplies the paper's per-method learning rates (small-batch presets use a gentler lr).
  double lr_scale = 1.0;
  /// Scale the pretraining blur sigma (the paper's U(0.1, 2) px at 224 px) by pretrain_size/224.
  bool scale_blur = true;
  /// Smallest area fraction of the pretraining random resized crop (paper: 0.65; 1 keeps the whole
  /// cut-out), for augmentation ablations.
  double crop_min_scale = 0.65;
  /// Floor every cut-out's background at median + clip_sigma x sigma before min-max, in pretraining
  /// and evaluation alike (data::PreprocessOptions::clip_sigma); 0, the paper's plain min-max, is off.
  double clip_sigma = 0.0;
  /// The pretraining views' channels, solo-learn-radio's `norm_channels`: "minmax" (the paper: the
  /// min-max plane in all three) or "mixed" (ch0 in {power, squared, sinh}, ch1 min-max, ch2 in
  /// {log, sqrt, asinh}, drawn afresh for every view). Evaluation follows `eval_norm_channels`.
  data::ChannelMode norm_channels = data::ChannelMode::replicate;
  /// The evaluation's channels (eval::EvalSettings::channel_mode): "minmax" (the paper) or "mixed",
  /// solo-learn-radio's asymmetric_mixed k-fold pipeline: drawn stretches for the training images,
  /// sinh, minmax, asinh for validation and kNN images.
  data::ChannelMode eval_norm_channels = data::ChannelMode::replicate;
  /// Truncate the normalised pixels to 8 bits, in pretraining and evaluation alike, as
  /// solo-learn-radio's `np.uint8(y * 255)` does (data::PreprocessOptions::eight_bit). Off: float32.
  bool eight_bit = false;
  /// Pad non-square labeled cut-outs to a square before evaluation's crops and resize
  /// (eval::EvalSettings::pad_square, solo-learn-radio's Pad2Square); false centre-crops them.
  bool pad_square = true;
  /// How every FITS file is read, in pretraining and evaluation: `fits_plane` picks the plane of
  /// cubes (io::FitsReadOptions::plane; without it a cube is an unreadable file), and
  /// `fits_zero_is_blank` treats exact zeros as blanks, as some surveys fill uncovered sky.
  std::optional<std::int64_t> fits_plane;
  bool fits_zero_is_blank = false;
  /// solo-learn's CIFAR stem (3x3 stride-1 conv1, no max-pool: backbone::ResNetOptions::cifar_stem)
  /// in every backbone of the run, random init included. The ImageNet stem leaves a 32 px cut-out
  /// 8 px wide after the stem and 1 px at layer4; the CIFAR stem keeps 34 and 5. torchvision's
  /// ImageNet weights have the 7x7 stem and cannot be loaded into it.
  bool cifar_stem = false;
  /// Pretraining checkpoints every N steps (0: at the end of each epoch only).
  std::int64_t checkpoint_every_steps = 0;

  eval::ProtocolOptions protocol;
  int threads = 2;                         ///< torch intra-op threads
  int workers = 1;                         ///< loader threads
  std::optional<std::filesystem::path> imagenet_resnet18, imagenet_resnet50;  ///< torchvision weights
  bool random_init_baseline = true;
  std::int64_t embedding_points = 600;     ///< per downstream set, in the 2-D figures

  /// The named presets:
  /// - `paper`: the paper's settings (3 seeds x 3 folds, 224 px, batch 512, 600/100 epochs,
  ///   100-epoch linear and fine-tune) — for a GPU;
  /// - `quick`: the README's main command on 2 CPU cores in under 20 minutes: every method,
  ///   both backbones, both pretraining sets, the four sets, linear and fine-tune, at 32 px with
  ///   few epochs, one seed and one fold of three;
  /// - `smoke`: minutes, for CI: the same pipeline, tiny;
  /// - `science`: issue #5's science check, about 75 minutes on 2 CPU cores: SimCLR and W-MSE
  ///   with ResNet-18 on a curated set ten times the quick one (1664 cut-outs), 10400 steps of
  ///   batch 32 (200 epochs), the background floor (clip_sigma 3), linear probes and kNN on all 3
  ///   folds of the four quick sets made six times larger (labeled_scale 6).
  static GridConfig preset_named(const std::string& name) {
    GridConfig c;
    c.preset = name;
    if (name == "science") {
      c = preset_named("quick");
      c.preset = name;
      c.smgps_maps = 40;  // 1664 curated cut-outs
      c.emu_maps = 0;
      // Folds of 800-960 training images, more than the 512 features: on the quick sets' folds of
      // about 133, a linear probe's accuracy moved by up to 6 points with a 1e-6 change in the
      // features, and the folds spread by 2-10 points (docs/science-check.md).
      c.labeled_scale = 6;
      c.backbones = {"resnet18"};
      c.pretrain_sets = {"curated"};
      c.batch_size = 32;
      // 200 epochs: at 20 (1040 steps) no method was clearly above random init under the linear
      // probe; at 200 SimCLR is above it on every set and fold, and W-MSE on two sets of four
      // (README, science check).
      c.epochs_curated = 200;
      c.warmup_epochs = 10.0;
      // W-MSE, the cheapest method a step, and SimCLR: every method at this schedule would take
      // about 6 hours on 2 cores. `--methods` or the `methods` key adds the others.
      c.methods = {"simclr", "wmse"};
      c.max_pretrain_images = 0;
      c.clip_sigma = 3.0;
      c.protocol.only_folds = {};
      // kNN too: the metric of the features themselves, which similarity search with `embed` uses.
      c.protocol.protocols = {eval::Protocol::linear, eval::Protocol::knn};
      c.note = "science preset: SimCLR and W-MSE, ResNet-18 on 1664 synthetic curated cut-outs of 32 px, 200 "
               "epochs (10400 steps) of batch 32, background floored at 3 sigma before min-max (clip_sigma 3), one "
               "seed, the quick labeled sets six times larger, linear probe of 100 epochs of batch 16 on "
               "standardised features and kNN, all 3 folds: the check that SSL features beat a random backbone "
               "(the paper: 600 epochs at 224 px)";
      return c;
    }
    if (name == "paper") {
      c.data_preset = "paper";
      c.note = "paper settings";
      // "The same batch size and initial learning rate" as fine-tuning: the paper's 5e-4, where
      // solo-learn's configs (LinearOptions' default) have 0.3.
      c.protocol.linear.epochs(100).batch_size(256).lr(5e-4);
      c.protocol.finetune.epochs(100).batch_size(256);
      return c;
    }
    if (name != "quick" && name != "smoke")
      throw Error("--preset '" + name + "': unknown preset (expected smoke, quick, science or paper)");
    const bool smoke = name == "smoke";
    c.data_preset = name;
    c.seeds = {0};
    c.pretrain_size = 32;
    c.eval_size = 32;
    c.batch_size = smoke ? 16 : 64;
    c.epochs_curated = smoke ? 1 : 4;
    c.epochs_uncurated = smoke ? 1 : 2;
    c.warmup_epochs = smoke ? 0.0 : 1.0;
    c.max_pretrain_images = smoke ? 64 : 512;
    c.lr_scale = 1.0;
    c.protocol.folds = smoke ? 2 : 3;
    c.protocol.only_folds = {0};
    // The paper's probe schedule (100 epochs, x0.1 at 10 and 80) with the batch cut to 16, so that a
    // fold of about 133 images takes 8 steps an epoch, in the range of the paper's batch of 256 on
    // its 1100-3000-image folds (4-12); on standardised features, on which it converges
    // (LinearOptions::standardize).
    c.protocol.linear.epochs(smoke ? 3 : 100)
        .batch_size(smoke ? 64 : 16)
        .milestones(smoke ? std::vector<std::int64_t>{2} : std::vector<std::int64_t>{10, 80})
        .cached_views(2)
        .standardize(true);
    c.protocol.finetune.epochs(smoke ? 1 : 10).batch_size(32).warmup_epochs(smoke ? 0.0 : 0.5);
    c.embedding_points = smoke ? 50 : 400;
    c.note = std::string(name) + " preset: " + std::to_string(c.pretrain_size) +
             " px images, pretraining " + std::to_string(c.epochs_curated) + " (curated) / " +
             std::to_string(c.epochs_uncurated) + " (uncurated) epochs on at most " +
             std::to_string(c.max_pretrain_images) + " cut-outs at batch " + std::to_string(c.batch_size) +
             ", one seed, fold 1 of " + std::to_string(c.protocol.folds) + ", linear probe " +
             std::to_string(c.protocol.linear.epochs()) + " epochs of batch " +
             std::to_string(c.protocol.linear.batch_size()) + " on standardised features, fine-tuning " +
             std::to_string(c.protocol.finetune.epochs()) +
             " epochs: standard deviations are 0 by construction and the numbers are a check of the "
             "pipeline, not of the paper's; too few pretraining steps for SSL to beat random init, which the "
             "science preset checks (bench_grid --preset science)";
    return c;
  }

  /// Overrides from a JSON config file (see examples/grid_config.example.json); relative paths are
  /// relative to the file. Unknown keys are an error, so that a typo does not go unnoticed.
  void merge_json(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) throw Error(file.string() + ": cannot read the grid config");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
      throw Error(file.string() + ": not valid JSON (" + e.what() + ")");
    }
    const GridConfig before = *this;
    const auto base = file.parent_path();
    auto path_of = [&](const nlohmann::json& v) {
      std::filesystem::path p = v.get<std::string>();
      return p.is_relative() ? base / p : p;
    };
    try {
      for (auto& [key, v] : j.items()) {
        if (key == "out") out = path_of(v);
        else if (key == "data") data = path_of(v);
        else if (key == "curated") curated = path_of(v);
        else if (key == "uncurated") uncurated = path_of(v);
        else if (key == "downstream") {
          downstream.clear();
          for (const auto& d : v)
            downstream.push_back({d.at("name").get<std::string>(), path_of(d.at("path")),
                                  d.value("per_class", std::int64_t{0})});
        } else if (key == "full") full = v.get<bool>();
        else if (key == "methods") methods = v.get<std::vector<std::string>>();
        else if (key == "backbones") backbones = v.get<std::vector<std::string>>();
        else if (key == "pretrain_sets") {
          pretrain_sets = v.get<std::vector<std::string>>();
          for (const auto& set : pretrain_sets)
            if (set != "curated" && set != "uncurated")
              throw Error(file.string() + ": pretrain_sets: unknown set '" + set + "' (expected curated, uncurated)");
        } else if (key == "smgps_maps") smgps_maps = v.get<int>();
        else if (key == "labeled_scale") {
          labeled_scale = v.get<int>();
          if (*labeled_scale < 1) throw Error(file.string() + ": labeled_scale must be at least 1");
        }
        else if (key == "emu_maps") emu_maps = v.get<int>();
        else if (key == "linear_only") {
          if (v.get<bool>()) protocol.protocols = {eval::Protocol::linear};
        }
        else if (key == "seeds") seeds = v.get<std::vector<std::uint64_t>>();
        else if (key == "pretrain_size") pretrain_size = v.get<std::int64_t>();
        else if (key == "eval_size") eval_size = v.get<std::int64_t>();
        else if (key == "batch_size") batch_size = v.get<std::int64_t>();
        else if (key == "epochs_curated") epochs_curated = v.get<std::int64_t>();
        else if (key == "epochs_uncurated") epochs_uncurated = v.get<std::int64_t>();
        else if (key == "warmup_epochs") warmup_epochs = v.get<double>();
        else if (key == "max_pretrain_images") max_pretrain_images = v.get<std::int64_t>();
        else if (key == "lr_scale") lr_scale = v.get<double>();
        else if (key == "scale_blur") scale_blur = v.get<bool>();
        else if (key == "crop_min_scale") {
          crop_min_scale = v.get<double>();
          if (!(crop_min_scale > 0.0 && crop_min_scale <= 1.0))
            throw Error(file.string() + ": crop_min_scale must be in (0, 1]");
        }
        else if (key == "clip_sigma") {
          clip_sigma = v.get<double>();
          if (!(clip_sigma >= 0.0))
            throw Error(file.string() + ": clip_sigma must be >= 0 (0: off), got " + std::to_string(clip_sigma));
        }
        else if (key == "norm_channels" || key == "eval_norm_channels") {
          const auto name = v.get<std::string>();
          auto& mode = key == "norm_channels" ? norm_channels : eval_norm_channels;
          if (name == "minmax") mode = data::ChannelMode::replicate;
          else if (name == "mixed") mode = data::ChannelMode::mixed;
          else throw Error(file.string() + ": " + key + " must be \"minmax\" or \"mixed\", got '" + name + "'");
        }
        else if (key == "eight_bit") eight_bit = v.get<bool>();
        else if (key == "cifar_stem") cifar_stem = v.get<bool>();
        else if (key == "pad_square") pad_square = v.get<bool>();
        else if (key == "fits_plane") {
          fits_plane = v.get<std::int64_t>();
          if (*fits_plane < 0) throw Error(file.string() + ": fits_plane must be >= 0");
        } else if (key == "fits_zero_is_blank") fits_zero_is_blank = v.get<bool>();
        else if (key == "checkpoint_every_steps") checkpoint_every_steps = v.get<std::int64_t>();
        else if (key == "folds") protocol.folds = v.get<int>();
        else if (key == "only_folds") protocol.only_folds = v.get<std::vector<int>>();
        else if (key == "linear_epochs") protocol.linear.epochs(v.get<std::int64_t>());
        else if (key == "linear_lr") protocol.linear.lr(v.get<double>());
        else if (key == "linear_milestones") protocol.linear.milestones(v.get<std::vector<std::int64_t>>());
        else if (key == "linear_standardize") protocol.linear.standardize(v.get<bool>());
        else if (key == "linear_cached_views") protocol.linear.cached_views(v.get<std::int64_t>());
        else if (key == "finetune_epochs") protocol.finetune.epochs(v.get<std::int64_t>());
        else if (key == "finetune_lr") protocol.finetune.lr(v.get<double>());
        else if (key == "eval_batch_size") {
          protocol.linear.batch_size(v.get<std::int64_t>());
          protocol.finetune.batch_size(v.get<std::int64_t>());
        } else if (key == "knn") {
          if (v.get<bool>()) protocol.add(eval::Protocol::knn);
        } else if (key == "threads") threads = v.get<int>();
        else if (key == "workers") workers = v.get<int>();
        else if (key == "imagenet_resnet18") imagenet_resnet18 = path_of(v);
        else if (key == "imagenet_resnet50") imagenet_resnet50 = path_of(v);
        else if (key == "random_init_baseline") random_init_baseline = v.get<bool>();
        else throw Error(file.string() + ": unknown key '" + key + "'");
      }
    } catch (const nlohmann::json::exception& e) {
      throw Error(file.string() + ": wrong value type (" + e.what() + ")");
    }
    note_changes(file.filename().string(), before);
  }

  /// Appends to the preset's note what `source` (a config file, a command-line flag) changed of the
  /// settings, methods, seeds and protocols the note describes, so that a report never states the
  /// preset's schedule for a run that had another.
  void note_changes(const std::string& source, const GridConfig& before) {
    std::vector<std::string> changes;
    const auto compare = [&](const nlohmann::json& old_obj, const nlohmann::json& new_obj, const std::string& prefix,
                             const auto& self) -> void {
      for (const auto& [key, v] : new_obj.items()) {
        const auto old = old_obj.find(key);
        if (old != old_obj.end() && *old == v) continue;
        if (old != old_obj.end() && old->is_object() && v.is_object()) self(*old, v, prefix + key + ".", self);
        else changes.push_back(prefix + key + " " + (old == old_obj.end() ? std::string("(unset)") : old->dump()) +
                               " -> " + v.dump());
      }
      for (const auto& [key, v] : old_obj.items())
        if (!new_obj.contains(key)) changes.push_back(prefix + key + " " + v.dump() + " -> (unset)");
    };
    compare(before.result_settings(), result_settings(), "", compare);
    const auto list_change = [&](const char* name, const auto& old_list, const auto& new_list) {
      if (old_list != new_list) changes.push_back(name + (" " + nlohmann::json(new_list).dump()));
    };
    list_change("methods", before.methods, methods);
    list_change("backbones", before.backbones, backbones);
    list_change("pretrain_sets", before.pretrain_sets, pretrain_sets);
    list_change("seeds", before.seeds, seeds);
    const auto protocol_names = [](const std::vector<eval::Protocol>& ps) {
      std::vector<std::string> names;
      for (const auto p : ps) names.emplace_back(eval::protocol_name(p));
      return names;
    };
    list_change("protocols", protocol_names(before.protocol.protocols), protocol_names(protocol.protocols));
    if (full != before.full) changes.push_back(std::string("full ") + (full ? "true" : "false"));
    if (changes.empty() || note.empty()) return;
    note += " [changed by " + source + ": ";
    for (std::size_t i = 0; i < changes.size(); ++i) note += (i ? ", " : "") + changes[i];
    note += "]";
  }

  /// How the run reads FITS files (fits_plane, fits_zero_is_blank).
  [[nodiscard]] io::FitsReadOptions fits_options() const {
    io::FitsReadOptions o;
    o.plane = fits_plane;
    o.zero_is_blank = fits_zero_is_blank;
    return o;
  }

  /// The settings that a run's backbones and result rows depend on (not which cells, seeds or
  /// folds run, nor threads), as one JSON object: a run resumed into the same `out` must have the
  /// same, or its old rows would be reported as if made with the new settings.
  [[nodiscard]] nlohmann::json result_settings() const {
    nlohmann::json j;
    j["pretrain_size"] = pretrain_size;
    j["batch_size"] = batch_size;
    j["epochs_curated"] = epochs_curated;
    j["epochs_uncurated"] = epochs_uncurated;
    j["warmup_epochs"] = warmup_epochs;
    j["lr_scale"] = lr_scale;
    j["scale_blur"] = scale_blur;
    j["crop_min_scale"] = crop_min_scale;
    j["clip_sigma"] = clip_sigma;
    // Only when not the default, so that folders made before the key existed still resume.
    if (norm_channels == data::ChannelMode::mixed) j["norm_channels"] = "mixed";
    if (eval_norm_channels == data::ChannelMode::mixed) j["eval_norm_channels"] = "mixed";
    if (eight_bit) j["eight_bit"] = true;
    j["cifar_stem"] = cifar_stem;
    j["max_pretrain_images"] = max_pretrain_images;
    j["eval_size"] = eval_size;
    j["pad_square"] = pad_square;
    j["fits_plane"] = fits_plane ? nlohmann::json(*fits_plane) : nlohmann::json();
    j["fits_zero_is_blank"] = fits_zero_is_blank;
    const auto& p = protocol;
    j["folds"] = p.folds;
    j["shuffle_seed"] = p.shuffle_seed ? nlohmann::json(*p.shuffle_seed) : nlohmann::json();
    j["resample"] = static_cast<int>(p.resample);
    j["linear"] = {{"epochs", p.linear.epochs()},         {"batch_size", p.linear.batch_size()},
                   {"lr", p.linear.lr()},                 {"momentum", p.linear.momentum()},
                   {"weight_decay", p.linear.weight_decay()}, {"milestones", p.linear.milestones()},
                   {"gamma", p.linear.gamma()},           {"cached_views", p.linear.cached_views()},
                   {"standardize", p.linear.standardize()}};
    j["finetune"] = {{"epochs", p.finetune.epochs()},           {"batch_size", p.finetune.batch_size()},
                     {"lr", p.finetune.lr()},                   {"weight_decay", p.finetune.weight_decay()},
                     {"warmup_epochs", p.finetune.warmup_epochs()}, {"warmup_start_lr", p.finetune.warmup_start_lr()},
                     {"min_lr", p.finetune.min_lr()}};
    j["knn"] = {{"k", p.knn.k()}, {"temperature", p.knn.temperature()}, {"cosine", p.knn.cosine()}};
    nlohmann::json sets = nlohmann::json::array();
    for (const auto& d : downstream) sets.push_back({{"name", d.name}, {"per_class", d.per_class}});
    j["downstream"] = sets;
    return j;
  }
};

}  // namespace radiossl::grid

/// @file
/// The paper's evaluation protocol for one pretrained backbone on one labeled set: stratified
/// k-fold cross-validation, balanced resampling of each fold, linear / fine-tune / kNN runs.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "radiossl/data/dataset.hpp"
#include "radiossl/eval/finetune.hpp"
#include "radiossl/eval/knn.hpp"
#include "radiossl/eval/linear.hpp"
#include "radiossl/eval/results.hpp"

namespace radiossl::eval {

/// Which protocols to run.
enum class Protocol { linear, finetune, knn };

inline const char* protocol_name(Protocol p) {
  switch (p) {
    case Protocol::linear: return "linear";
    case Protocol::finetune: return "finetune";
    case Protocol::knn: return "knn";
  }
  return "?";
}

/// A labeled downstream set in memory, with its name and class names.
struct DownstreamSet {
  std::string name;
  std::vector<std::string> class_names;
  LabeledImages data;
  /// Balanced size per class over the whole set (split across folds in proportion, as solo-learn's
  /// `balanced_fixed` does); 0 keeps the set as it is (the paper does not resample MiraBest).
  std::int64_t per_class = 0;
};

/// Cross-validation settings: the paper's 3 folds, solo-learn's unshuffled stratified split.
struct ProtocolOptions {
  int folds = 3;
  std::optional<std::uint64_t> shuffle_seed;  ///< shuffle within classes before splitting
  /// Run only these folds (e.g. {0} for a quick look); empty = all.
  std::vector<int> only_folds;
  data::ResampleMode resample = data::ResampleMode::undersample_or_duplicate;
  std::vector<Protocol> protocols{Protocol::linear, Protocol::finetune};
  LinearOptions linear;
  FinetuneOptions finetune;
  KnnOptions knn;

  /// Whether the run includes protocol `p`.
  [[nodiscard]] bool runs(Protocol p) const {
    return std::find(protocols.begin(), protocols.end(), p) != protocols.end();
  }
  /// Adds protocol `p` unless the run already includes it (the science preset has kNN).
  void add(Protocol p) {
    if (!runs(p)) protocols.push_back(p);
  }
};

/// Identifies the pretrained backbone in each result row.
struct RunLabel {
  std::string pretrain, backbone, method;
  std::int64_t seed = 0;
};

/// The train/val indices of fold `f` after balanced resampling (train and val separately, so
/// that no duplicate of a validation sample is trained on). Sizes follow solo-learn-radio's
/// int(sample_size * perc): train gets per_class * (folds-1) / folds rounded down, so VLASS's 2900
/// gives 1933 + 966, not 1934 + 966.
inline data::Fold balanced_fold(const DownstreamSet& set, const data::Fold& fold, int folds,
                                data::ResampleMode mode, std::uint64_t seed) {
  if (set.per_class <= 0) return fold;
  const auto val_per_class = std::max<std::int64_t>(1, set.per_class / folds);
  const auto train_per_class = std::max<std::int64_t>(1, set.per_class * (folds - 1) / folds);
  return {data::balanced_resample(set.data.labels, fold.train, train_per_class, seed, mode),
          data::balanced_resample(set.data.labels, fold.val, val_per_class, seed + 1, mode)};
}

/// Runs every protocol on every fold of `set` for one pretrained backbone. `skip(row)` says
/// whether a (protocol, fold) is already in the results (resumed runs); `on_row` receives each
/// finished row at once, so that an interrupted run keeps it. The backbone's convolutions are
/// those of `s.winograd` meanwhile, and its switches are put back afterwards.
template <CloneableBackbone B>
void evaluate(B& backbone, const DownstreamSet& set, const RunLabel& label, const ProtocolOptions& o,
              const EvalSettings& s, const std::function<bool(const ResultRow&)>& skip,
              const std::function<void(const ResultRow&)>& on_row) {
  const backbone::WinogradScope convolutions(*backbone.ptr(), s.winograd && s.device.is_cpu());
  const auto num_classes = static_cast<std::int64_t>(set.class_names.size());
  const auto folds = data::stratified_kfold(set.data.labels, o.folds, o.shuffle_seed);
  for (int f = 0; f < o.folds; ++f) {
    if (!o.only_folds.empty() && std::find(o.only_folds.begin(), o.only_folds.end(), f) == o.only_folds.end())
      continue;
    const auto split = balanced_fold(set, folds[static_cast<std::size_t>(f)], o.folds, o.resample,
                                     s.seed + 7919ULL * static_cast<std::uint64_t>(f));
    std::optional<LabeledImages> train, val;
    for (auto p : o.protocols) {
      ResultRow row{label.pretrain, label.backbone, label.method, label.seed, set.name, protocol_name(p), f,
                    static_cast<std::int64_t>(split.train.size()), static_cast<std::int64_t>(split.val.size()), {}};
      if (skip && skip(row)) continue;
      if (!train) {
        train = set.data.subset(split.train);
        val = set.data.subset(split.val);
      }
      EvalSettings fs = s;
      fs.seed = s.seed + 104729ULL * static_cast<std::uint64_t>(f);
      switch (p) {
        case Protocol::linear:
          row.result = linear_probe(backbone, *train, *val, num_classes, o.linear, fs);
          break;
        case Protocol::finetune:
          row.result = finetune(backbone, *train, *val, num_classes, o.finetune, fs);
          break;
        case Protocol::knn: {
          auto tl = make_loader(*train, augment::Eval(s.image_size), 256, false, fs, fs.seed);
          auto vl = make_loader(*val, augment::Eval(s.image_size), 256, false, fs, fs.seed);
          auto [tf, ty] = extract_features(backbone, tl, 0, s.device);
          auto [vf, vy] = extract_features(backbone, vl, 0, s.device);
          row.result = classify(vy, knn_predict(tf, ty, vf, num_classes, o.knn), num_classes);
          break;
        }
      }
      on_row(row);
    }
  }
}

}  // namespace radiossl::eval

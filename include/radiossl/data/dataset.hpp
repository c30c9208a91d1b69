/// @file
/// Index-level dataset tools: class counts, balanced resampling and stratified k-fold splits.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "radiossl/data/random.hpp"
#include "radiossl/error.hpp"

namespace radiossl::data {

/// Number of samples of each class 0..max(label); negative labels (unlabeled) are not counted.
[[nodiscard]] inline std::vector<std::int64_t> class_counts(std::span<const std::int64_t> labels) {
  std::vector<std::int64_t> counts;
  for (auto l : labels) {
    if (l < 0) continue;
    if (static_cast<std::size_t>(l) >= counts.size()) counts.resize(static_cast<std::size_t>(l) + 1, 0);
    ++counts[static_cast<std::size_t>(l)];
  }
  return counts;
}

/// How `balanced_resample` reaches the size per class.
enum class ResampleMode {
  /// The paper's wording: classes larger than the target are undersampled (drawn without
  /// replacement); smaller classes keep every sample once and duplicate random ones to fill up.
  undersample_or_duplicate,
  /// solo-learn-radio's `balanced_fixed`: every class is drawn with replacement.
  with_replacement,
};

/// Balanced resampling: `per_class` samples of every class present in `labels`, as indices into
/// `labels`, grouped by class (class 0 first) and seeded. Classes absent from `labels` stay absent.
/// Throws radiossl::Error when `per_class` is negative.
[[nodiscard]] inline std::vector<std::int64_t> balanced_resample(
    std::span<const std::int64_t> labels, std::int64_t per_class, std::uint64_t seed,
    ResampleMode mode = ResampleMode::undersample_or_duplicate) {
  if (per_class < 0) throw Error("balanced_resample: per_class must be >= 0, got " + std::to_string(per_class));
  const auto counts = class_counts(labels);
  std::vector<std::vector<std::int64_t>> members(counts.size());
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= 0) members[static_cast<std::size_t>(labels[i])].push_back(static_cast<std::int64_t>(i));
  std::vector<std::int64_t> out;
  out.reserve(members.size() * static_cast<std::size_t>(per_class));
  for (std::size_t c = 0; c < members.size(); ++c) {
    auto& m = members[c];
    if (m.empty()) continue;
    Rng rng(derive_seed({seed, 0x5e5a3b1eULL, c}));  // each class its own stream
    const auto n = static_cast<std::int64_t>(m.size());
    if (mode == ResampleMode::with_replacement) {
      for (std::int64_t k = 0; k < per_class; ++k)
        out.push_back(m[uniform_index(rng, static_cast<std::uint64_t>(n))]);
      continue;
    }
    shuffle(m, rng);
    if (n >= per_class) {
      out.insert(out.end(), m.begin(), m.begin() + per_class);
    } else {
      out.insert(out.end(), m.begin(), m.end());
      for (std::int64_t k = n; k < per_class; ++k)
        out.push_back(m[uniform_index(rng, static_cast<std::uint64_t>(n))]);
    }
  }
  return out;
}

/// Balanced resampling of a subset (e.g. one fold): `subset` holds indices into `labels`, and the
/// result holds entries of `subset`.
[[nodiscard]] inline std::vector<std::int64_t> balanced_resample(
    std::span<const std::int64_t> labels, std::span<const std::int64_t> subset, std::int64_t per_class,
    std::uint64_t seed, ResampleMode mode = ResampleMode::undersample_or_duplicate) {
  std::vector<std::int64_t> sub_labels;
  sub_labels.reserve(subset.size());
  for (auto i : subset) sub_labels.push_back(labels[static_cast<std::size_t>(i)]);
  auto picked = balanced_resample(sub_labels, per_class, seed, mode);
  for (auto& p : picked) p = subset[static_cast<std::size_t>(p)];
  return picked;
}

/// One cross-validation fold: ascending indices of training and validation samples.
struct Fold {
  std::vector<std::int64_t> train;
  std::vector<std::int64_t> val;
};

/// Stratified k-fold splits, the assignment of scikit-learn's `StratifiedKFold` (>= 0.22).
///
/// Classes are numbered by first appearance; the sorted class sequence is dealt round-robin to
/// the folds to fix how many samples of each class each fold gets; then, within each class, the
/// samples in data order go to fold 0 first, then fold 1, ... (contiguous blocks). Without
/// `shuffle_seed` this equals `StratifiedKFold(n_splits=k)` (solo-learn's unshuffled split) index
/// for index; with it, each class's block order is shuffled by the seed (as sklearn's
/// shuffle=True does, with radiossl's own generator, so the draw differs from NumPy's).
/// Throws radiossl::Error when k < 2 or k exceeds the size of every class.
[[nodiscard]] inline std::vector<Fold> stratified_kfold(std::span<const std::int64_t> labels, int k,
                                                        std::optional<std::uint64_t> shuffle_seed = std::nullopt) {
  if (k < 2) throw Error("stratified_kfold: k must be >= 2, got " + std::to_string(k));
  // Encode classes by order of first appearance (sklearn's y_encoded).
  std::vector<std::int64_t> seen;
  std::vector<std::int64_t> enc(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto it = std::find(seen.begin(), seen.end(), labels[i]);
    if (it == seen.end()) {
      seen.push_back(labels[i]);
      enc[i] = static_cast<std::int64_t>(seen.size()) - 1;
    } else {
      enc[i] = it - seen.begin();
    }
  }
  const std::size_t n_classes = seen.size();
  std::vector<std::int64_t> counts(n_classes, 0);
  for (auto e : enc) ++counts[static_cast<std::size_t>(e)];
  if (std::all_of(counts.begin(), counts.end(), [k](std::int64_t c) { return c < k; }))
    throw Error("stratified_kfold: k=" + std::to_string(k) + " is larger than the size of every class");
  // allocation[f][c] = count of class c in y_order[f::k], where y_order is the sorted codes.
  std::vector<std::int64_t> y_order(enc);
  std::sort(y_order.begin(), y_order.end());
  std::vector<std::vector<std::int64_t>> allocation(static_cast<std::size_t>(k), std::vector<std::int64_t>(n_classes, 0));
  for (std::size_t i = 0; i < y_order.size(); ++i)
    ++allocation[i % static_cast<std::size_t>(k)][static_cast<std::size_t>(y_order[i])];
  std::vector<int> test_fold(labels.size(), 0);
  std::optional<Rng> rng;
  if (shuffle_seed) rng.emplace(derive_seed({*shuffle_seed, 0xf01dULL}));
  for (std::size_t c = 0; c < n_classes; ++c) {
    std::vector<int> folds_for_class;
    for (int f = 0; f < k; ++f) folds_for_class.insert(folds_for_class.end(), static_cast<std::size_t>(allocation[static_cast<std::size_t>(f)][c]), f);
    if (rng) shuffle(folds_for_class, *rng);
    std::size_t next = 0;
    for (std::size_t i = 0; i < enc.size(); ++i)
      if (static_cast<std::size_t>(enc[i]) == c) test_fold[i] = folds_for_class[next++];
  }
  std::vector<Fold> folds(static_cast<std::size_t>(k));
  for (std::size_t i = 0; i < test_fold.size(); ++i)
    for (int f = 0; f < k; ++f)
      (test_fold[i] == f ? folds[static_cast<std::size_t>(f)].val : folds[static_cast<std::size_t>(f)].train)
          .push_back(static_cast<std::int64_t>(i));
  return folds;
}

}  // namespace radiossl::data

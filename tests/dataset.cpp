// Balanced resampling and stratified k-fold splits.
#include <algorithm>
#include <cmath>
#include <set>

#include "radiossl/data/dataset.hpp"

namespace data = radiossl::data;

namespace {

std::vector<std::int64_t> imbalanced_labels() {
  // 3 classes: 50, 12 and 3 samples, interleaved.
  std::vector<std::int64_t> y;
  for (int i = 0; i < 50; ++i) y.push_back(0);
  for (int i = 0; i < 12; ++i) y.insert(y.begin() + 3 * i + 1, 1);
  for (int i = 0; i < 3; ++i) y.insert(y.begin() + 7 * i + 2, 2);
  return y;
}

}  // namespace

TEST_CASE("balanced resampling gives the size per class, undersampling or duplicating", "[dataset]") {
  const auto y = imbalanced_labels();
  REQUIRE(data::class_counts(y) == std::vector<std::int64_t>{50, 12, 3});
  const auto idx = data::balanced_resample(y, 20, 7);
  REQUIRE(idx.size() == 60);
  std::vector<std::int64_t> picked_labels;
  for (auto i : idx) picked_labels.push_back(y[static_cast<std::size_t>(i)]);
  CHECK(data::class_counts(picked_labels) == std::vector<std::int64_t>{20, 20, 20});
  // The large class is undersampled: no index twice.
  std::multiset<std::int64_t> c0, c1, c2;
  for (auto i : idx) (y[static_cast<std::size_t>(i)] == 0 ? c0 : y[static_cast<std::size_t>(i)] == 1 ? c1 : c2).insert(i);
  CHECK(std::set<std::int64_t>(c0.begin(), c0.end()).size() == 20);
  // The small classes keep every sample, then duplicate.
  CHECK(std::set<std::int64_t>(c1.begin(), c1.end()).size() == 12);
  CHECK(std::set<std::int64_t>(c2.begin(), c2.end()).size() == 3);
  // Seeded: the same seed gives the same indices, another seed others.
  CHECK(data::balanced_resample(y, 20, 7) == idx);
  CHECK(data::balanced_resample(y, 20, 8) != idx);

  const auto rep = data::balanced_resample(y, 30, 1, data::ResampleMode::with_replacement);
  std::vector<std::int64_t> rep_labels;
  for (auto i : rep) rep_labels.push_back(y[static_cast<std::size_t>(i)]);
  CHECK(data::class_counts(rep_labels) == std::vector<std::int64_t>{30, 30, 30});

  // On a subset (one fold), results are entries of the subset.
  const std::vector<std::int64_t> subset{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const auto sub = data::balanced_resample(y, subset, 4, 3);
  CHECK(sub.size() == 4 * data::class_counts(std::vector<std::int64_t>(y.begin(), y.begin() + 10)).size());
  for (auto i : sub) CHECK(i < 10);
  CHECK(data::balanced_resample(y, 0, 1).empty());
  CHECK_THROWS_WITH(data::balanced_resample(y, -1, 1), Catch::Contains("per_class"));
}

TEST_CASE("stratified k-fold equals sklearn's unshuffled StratifiedKFold", "[dataset]") {
  // Hand-worked sklearn assignment (classes numbered by first appearance: 2 -> 0, 0 -> 1, 1 -> 2;
  // sorted codes dealt round-robin to 3 folds give allocation [2,2,0], [2,1,1], [2,1,1]).
  const std::vector<std::int64_t> y{2, 2, 0, 2, 0, 2, 2, 0, 1, 1, 2, 0};
  const auto folds = data::stratified_kfold(y, 3);
  REQUIRE(folds.size() == 3);
  CHECK(folds[0].val == std::vector<std::int64_t>{0, 1, 2, 4});
  CHECK(folds[1].val == std::vector<std::int64_t>{3, 5, 7, 8});
  CHECK(folds[2].val == std::vector<std::int64_t>{6, 9, 10, 11});
  CHECK(folds[0].train == std::vector<std::int64_t>{3, 5, 6, 7, 8, 9, 10, 11});
  CHECK_THROWS_WITH(data::stratified_kfold(y, 1), Catch::Contains("k must be"));
  CHECK_THROWS_WITH(data::stratified_kfold(std::vector<std::int64_t>{0, 1}, 2), Catch::Contains("larger than"));
}

TEST_CASE("stratified k-fold: disjoint, covering, class proportions kept", "[dataset]") {
  const auto y = imbalanced_labels();
  const auto counts = data::class_counts(y);
  for (bool shuffled : {false, true}) {
    const int k = 3;
    const auto folds = shuffled ? data::stratified_kfold(y, k, 123) : data::stratified_kfold(y, k);
    std::vector<int> seen(y.size(), 0);
    for (const auto& f : folds) {
      CHECK(f.train.size() + f.val.size() == y.size());
      std::vector<std::int64_t> all(f.train);
      all.insert(all.end(), f.val.begin(), f.val.end());
      std::sort(all.begin(), all.end());
      CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());  // train and val disjoint
      CHECK(static_cast<std::size_t>(all.size()) == y.size());
      CHECK(std::is_sorted(f.val.begin(), f.val.end()));
      for (auto i : f.val) ++seen[static_cast<std::size_t>(i)];
      std::vector<std::int64_t> val_labels;
      for (auto i : f.val) val_labels.push_back(y[static_cast<std::size_t>(i)]);
      auto vc = data::class_counts(val_labels);
      vc.resize(counts.size(), 0);
      for (std::size_t c = 0; c < counts.size(); ++c)
        CHECK(std::fabs(static_cast<double>(vc[c]) - static_cast<double>(counts[c]) / k) < 1.0);
      CHECK(std::fabs(static_cast<double>(f.val.size()) - static_cast<double>(y.size()) / k) <= 1.0);
    }
    // Every sample is validated exactly once.
    CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
  }
  // The shuffle is seeded and changes the assignment.
  CHECK(data::stratified_kfold(y, 3, 5)[0].val == data::stratified_kfold(y, 3, 5)[0].val);
  CHECK(data::stratified_kfold(y, 3, 5)[0].val != data::stratified_kfold(y, 3)[0].val);
}

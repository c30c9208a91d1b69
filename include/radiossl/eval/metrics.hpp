/// @file
/// Classification metrics of one evaluation run, and the mean +/- std summary over runs.
#pragma once

#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <stdexcept>
#include <vector>

#include "radiossl/error.hpp"

namespace radiossl::eval {

/// Top-1 accuracy, per-class accuracy (recall) and the confusion matrix of one run.
/// `confusion[t][p]` counts samples of true class t predicted as p.
struct Classification {
  double accuracy = 0.0;
  std::vector<double> per_class_accuracy;
  std::vector<std::vector<std::int64_t>> confusion;
};

/// Scores predictions against targets; classes are 0 .. num_classes-1.
inline Classification classify(std::span<const std::int64_t> targets,
                               std::span<const std::int64_t> predictions, std::int64_t num_classes) {
  if (targets.size() != predictions.size())
    throw Error("classify: " + std::to_string(targets.size()) + " targets but " +
                std::to_string(predictions.size()) + " predictions");
  if (num_classes <= 0) throw Error("classify: num_classes must be positive");
  Classification out;
  const auto n = static_cast<std::size_t>(num_classes);
  out.confusion.assign(n, std::vector<std::int64_t>(n, 0));
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto t = targets[i], p = predictions[i];
    if (t < 0 || t >= num_classes || p < 0 || p >= num_classes)
      throw Error("classify: class index out of range [0, " + std::to_string(num_classes) + ")");
    ++out.confusion[static_cast<std::size_t>(t)][static_cast<std::size_t>(p)];
    correct += (t == p);
  }
  out.accuracy = targets.empty() ? 0.0 : static_cast<double>(correct) / static_cast<double>(targets.size());
  out.per_class_accuracy.resize(n);
  for (std::size_t c = 0; c < n; ++c) {
    const auto row = std::accumulate(out.confusion[c].begin(), out.confusion[c].end(), std::int64_t{0});
    out.per_class_accuracy[c] = row == 0 ? 0.0 : static_cast<double>(out.confusion[c][c]) / static_cast<double>(row);
  }
  return out;
}

/// Mean and population standard deviation (numpy's default, as solo-learn reports) of a sample.
struct MeanStd {
  double mean = 0.0;
  double std = 0.0;
  std::size_t n = 0;
};

inline MeanStd mean_std(std::span<const double> values) {
  MeanStd out;
  out.n = values.size();
  if (values.empty()) return out;
  out.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  double ss = 0.0;
  for (double v : values) ss += (v - out.mean) * (v - out.mean);
  out.std = std::sqrt(ss / static_cast<double>(values.size()));
  return out;
}

}  // namespace radiossl::eval

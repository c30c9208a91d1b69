/// @file
/// Weighted k-nearest-neighbour classification of features (solo-learn's kNN monitor).
#pragma once

#include <cstdint>
#include <vector>

#include "radiossl/error.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::eval {

/// kNN settings. solo-learn's defaults are k 20 and T 0.07; its maintainers recommend cosine, which
/// radiossl takes as the default (solo-learn's own default is euclidean).
struct KnnOptions {
  TORCH_ARG(std::int64_t, k) = 20;
  TORCH_ARG(double, temperature) = 0.07;
  TORCH_ARG(bool, cosine) = true;
  /// Test rows per chunk, so that the distance matrix stays bounded in memory.
  TORCH_ARG(std::int64_t, chunk) = 1024;
};

/// Predicts a class for each test row: the sum over the k nearest training rows of a weight,
/// exp(sim / T) for cosine similarity (both sets L2-normalised) or 1 / (distance + 1e-5) for
/// euclidean distance, per class; the class with the largest sum wins.
/// @param train [N, D] features, @param train_labels [N] int64, @param test [M, D] features.
/// @return [M] int64 predicted classes.
inline torch::Tensor knn_predict(torch::Tensor train, const torch::Tensor& train_labels,
                                 torch::Tensor test, std::int64_t num_classes,
                                 const KnnOptions& options = {}) {
  if (train.dim() != 2 || test.dim() != 2 || train.size(1) != test.size(1))
    throw Error("knn_predict: train and test must be [N, D] and [M, D] with the same D");
  if (train.size(0) != train_labels.size(0))
    throw Error("knn_predict: train features and labels differ in length");
  if (train.size(0) == 0) throw Error("knn_predict: empty training set");
  torch::NoGradGuard no_grad;
  train = train.to(torch::kFloat);
  test = test.to(torch::kFloat);
  if (options.cosine()) {
    train = torch::nn::functional::normalize(train, torch::nn::functional::NormalizeFuncOptions().dim(1));
    test = torch::nn::functional::normalize(test, torch::nn::functional::NormalizeFuncOptions().dim(1));
  }
  const auto k = std::min<std::int64_t>(options.k(), train.size(0));
  const auto labels = train_labels.to(torch::kLong);
  std::vector<torch::Tensor> predictions;
  for (std::int64_t start = 0; start < test.size(0); start += options.chunk()) {
    const auto chunk = test.narrow(0, start, std::min(options.chunk(), test.size(0) - start));
    torch::Tensor weights, indices;
    if (options.cosine()) {
      auto [sim, idx] = torch::topk(torch::mm(chunk, train.t()), k, 1);
      weights = torch::exp(sim / options.temperature());
      indices = idx;
    } else {
      auto [dist, idx] = torch::topk(torch::cdist(chunk, train), k, 1, /*largest=*/false);
      weights = 1.0 / (dist + 1e-5);
      indices = idx;
    }
    const auto neighbour_labels = labels.index_select(0, indices.reshape({-1})).view(indices.sizes());
    auto scores = torch::zeros({chunk.size(0), num_classes}, weights.options());
    scores.scatter_add_(1, neighbour_labels, weights);
    predictions.push_back(scores.argmax(1));
  }
  return torch::cat(predictions);
}

}  // namespace radiossl::eval

/// @file
/// Frozen-backbone feature extraction over a loader epoch, and the shared settings of the protocols.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "radiossl/backbone/winograd_conv.hpp"
#include "radiossl/concepts/backbone.hpp"
#include "radiossl/data/loader.hpp"
#include "radiossl/data/random.hpp"
#include "radiossl/error.hpp"
#include "radiossl/eval/metrics.hpp"
#include "radiossl/image.hpp"

namespace radiossl::eval {

/// Images and their labels held in memory: a downstream set, or one fold of it.
struct LabeledImages {
  std::vector<Image> images;
  std::vector<std::int64_t> labels;

  [[nodiscard]] std::int64_t size() const { return static_cast<std::int64_t>(images.size()); }
  /// The samples at `indices` (repeats allowed, as balanced resampling duplicates).
  [[nodiscard]] LabeledImages subset(const std::vector<std::int64_t>& indices) const {
    LabeledImages out;
    out.images.reserve(indices.size());
    out.labels.reserve(indices.size());
    for (auto i : indices) {
      out.images.push_back(images[static_cast<std::size_t>(i)]);
      out.labels.push_back(labels[static_cast<std::size_t>(i)]);
    }
    return out;
  }
};

/// What every protocol shares: image side, device, loader threads, seed, input channels.
struct EvalSettings {
  std::int64_t image_size = 224;
  torch::Device device = torch::kCPU;
  int num_workers = 1;
  std::uint64_t seed = 0;
  std::int64_t channels = 3;
  double clip_sigma = 0.0;  ///< background floor before min-max (data::PreprocessOptions::clip_sigma)
  bool eight_bit = false;   ///< pixels truncated to 8 bits (data::PreprocessOptions::eight_bit)
  /// replicate: the min-max plane in every channel (the paper). mixed: solo-learn-radio's "mixed"
  /// evaluation, random stretches for the training images' views and sinh, minmax, asinh for every
  /// other image (data::ChannelMode::mixed_fixed). Needs `channels` 3.
  data::ChannelMode channel_mode = data::ChannelMode::replicate;
  /// Non-square cut-outs (MSRS-like sets) are padded to a square before the crops and resize, as
  /// solo-learn-radio's k-fold and linear pipelines do (Pad2Square), so that no part is cut off.
  bool pad_square = true;
  /// eval::evaluate runs ResNet's 3x3 convolutions by Winograd on a CPU (backbone/winograd_conv.hpp),
  /// as the Trainer pretrains by default, whatever the backbone's own switches say. A linear probe
  /// on a fold smaller than the feature size turns a 1e-6 difference in the features into a few
  /// points of accuracy, so a backbone must be scored with the same convolutions every time.
  bool winograd = backbone::winograd_available();
};

/// solo-learn's train loader rule: drop the last batch when it is less than half full.
inline bool solo_drop_last(std::int64_t n, std::int64_t batch) { return (n % batch) < batch / 2; }

/// The values of an integer tensor as int64, on the CPU.
inline std::vector<std::int64_t> to_int64_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kCPU, torch::kLong).contiguous();
  return {c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel()};
}

/// `classify` for tensors of targets and predictions.
inline Classification classify(const torch::Tensor& targets, const torch::Tensor& predictions,
                               std::int64_t num_classes) {
  return classify(to_int64_vector(targets), to_int64_vector(predictions), num_classes);
}

/// A seeded permutation of 0..n-1 for epoch `epoch`, as an int64 tensor (independent of torch's
/// global generator, so that evaluation does not disturb it).
inline torch::Tensor shuffled_indices(std::int64_t n, std::uint64_t seed, std::int64_t epoch) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  Rng rng(data::derive_seed({seed, static_cast<std::uint64_t>(epoch), 0xe7a1ULL}));
  data::shuffle(order, rng);
  return torch::tensor(order, torch::kLong);
}

/// A loader over `data` with augmentation `A`, set up the way the protocols use it.
template <Augment A>
data::Loader<data::MemorySource, A> make_loader(const LabeledImages& data, A augment, std::int64_t batch,
                                                bool train, const EvalSettings& s, std::uint64_t seed) {
  data::LoaderOptions o;
  o.batch_size = batch;
  o.num_workers = s.num_workers;
  o.shuffle = train;
  o.drop_last = train && solo_drop_last(data.size(), batch) && data.size() >= batch;
  o.seed = seed;
  o.channels = s.channels;
  o.preprocess.clip_sigma = s.clip_sigma;
  o.preprocess.eight_bit = s.eight_bit;
  if (s.channel_mode != data::ChannelMode::replicate) {
    if (s.channels != 3)
      throw Error("evaluation: mixed channels give 3 planes, but the backbone takes " + std::to_string(s.channels));
    // Only training views draw stretches; validation, test and kNN images get the fixed ones.
    o.preprocess.channel_mode = train ? s.channel_mode : data::ChannelMode::mixed_fixed;
  }
  o.preprocess.pad_square = s.pad_square;
  o.bad_files = data::BadFilePolicy::fail;  // in-memory images: a failure is a bug, never skipped
  return data::Loader<data::MemorySource, A>(data::MemorySource(data.images, data.labels), std::move(augment),
                                             std::move(o));
}

/// Features [N, F] (on CPU) and labels [N] of one epoch of `loader`, through `backbone` in eval
/// mode without gradients. Rows follow the loader's order.
template <Backbone B, class L>
std::pair<torch::Tensor, torch::Tensor> extract_features(B& backbone, L& loader, std::int64_t epoch,
                                                         torch::Device device) {
  torch::NoGradGuard no_grad;
  const bool was_training = backbone->is_training();
  backbone->eval();
  std::vector<torch::Tensor> feats, labels;
  loader.start_epoch(epoch);
  while (auto batch = loader.next()) {
    auto x = batch->views.at(0).to(device);
    if (device.is_cuda()) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    feats.push_back(backbone->forward(x).to(torch::kCPU, torch::kFloat));
    labels.push_back(batch->labels);
  }
  if (was_training) backbone->train();
  if (feats.empty()) return {torch::empty({0, backbone->feature_dim()}), torch::empty({0}, torch::kLong)};
  return {torch::cat(feats), torch::cat(labels)};
}

}  // namespace radiossl::eval

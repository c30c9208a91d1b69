/// @file
/// The paper's augmentation policies, models of `radiossl::Augment`: RadioSymmetric (pretraining),
/// RadioMultiCrop<NL, NS> (DINO/SwAV multi-crop), Downstream (linear/fine-tune training), Eval.
#pragma once

#include <cstdint>
#include <vector>

#include "radiossl/augment/geometric.hpp"
#include "radiossl/augment/photometric.hpp"
#include "radiossl/augment/pipeline.hpp"
#include "radiossl/concepts/augment.hpp"
#include "radiossl/image.hpp"

namespace radiossl::augment {

/// The pretraining stages in solo-learn's order (crop, contrast, blur, flips) with the
/// vertical flip the paper's text adds.
using PretrainPipeline =
    Pipeline<RandomResizedCrop, RandomContrast, RandomGaussianBlur, RandomHorizontalFlip, RandomVerticalFlip>;

/// Settings of the pretraining crops (Cecconello et al., section 4.1).
struct PretrainOptions {
  std::int64_t size = 224;       ///< output side
  double scale_min = 0.65;       ///< random resized crop area fraction, p 1
  double scale_max = 1.0;
  double flip_p = 0.5;           ///< horizontal and vertical flips, each
  double blur_p = 0.25;          ///< Gaussian blur, sigma ~ U(0.1, 2)
  double sigma_min = 0.1;
  double sigma_max = 2.0;
  double contrast_p = 0.5;       ///< contrast factor ~ U(0.2, 1.8)
  double contrast_min = 0.2;
  double contrast_max = 1.8;
  data::Interp interp = data::Interp::bicubic;
};

/// Builds the pretraining pipeline for one crop size and scale range.
[[nodiscard]] inline PretrainPipeline make_pretrain_pipeline(const PretrainOptions& o) {
  return PretrainPipeline(
      RandomResizedCrop{o.size, o.scale_min, o.scale_max, 1.0, 1.0, o.interp},
      RandomContrast{o.contrast_p, o.contrast_min, o.contrast_max},
      RandomGaussianBlur{o.blur_p, o.sigma_min, o.sigma_max}, RandomHorizontalFlip{o.flip_p},
      RandomVerticalFlip{o.flip_p});
}

/// The paper's pretraining augmentation (section 4.1): two large views, each a random resized
/// crop (scale [0.65, 1], square) to `size`, contrast U(0.2, 1.8) with p 0.5, Gaussian blur
/// sigma U(0.1, 2) with p 0.25, horizontal and vertical flips with p 0.5.
/// Input: a normalised cut-out in [0, 1] (data::preprocess with size 0), 1 or 3 channels.
class RadioSymmetric {
 public:
  static constexpr int num_large_crops = 2;
  static constexpr int num_small_crops = 0;
  using Options = PretrainOptions;

  RadioSymmetric() : RadioSymmetric(Options{}) {}
  explicit RadioSymmetric(const Options& options) : options_(options), pipeline_(make_pretrain_pipeline(options)) {}

  /// Two independent views of `img`, drawn from `rng`.
  [[nodiscard]] std::vector<Image> views(const Image& img, Rng& rng) const {
    std::vector<Image> out;
    out.reserve(num_large_crops);
    for (int k = 0; k < num_large_crops; ++k) out.push_back(view(k, img, rng));
    return out;
  }
  /// One view; every view is drawn the same way, so `k` does not matter.
  [[nodiscard]] Image view(int /*k*/, const Image& img, Rng& rng) const { return pipeline_(img, rng); }
  [[nodiscard]] const Options& options() const { return options_; }

 private:
  Options options_;
  PretrainPipeline pipeline_;
};

/// Settings of multi-crop: the large crops are the paper's; small crops use a smaller side and a
/// lower scale range. The default small range [0.25, 0.65] sits just below the large one, as
/// DINO's [0.05, 0.4] sits below its [0.4, 1]; radio cut-outs are centred on their source, and
/// smaller crops would hold mostly background.
struct MultiCropOptions {
  PretrainOptions large{};
  PretrainOptions small{.size = 96, .scale_min = 0.25, .scale_max = 0.65};
};

/// Multi-crop augmentation for DINO and SwAV: `NL` large views (e.g. 2 x 224) then `NS` small
/// ones (e.g. 6 x 96), every view with the paper's photometric and flip augmentations.
/// @tparam NL number of large crops
/// @tparam NS number of small crops
template <int NL, int NS>
class RadioMultiCrop {
  static_assert(NL >= 1 && NS >= 0, "radiossl::augment::RadioMultiCrop<NL, NS>: needs NL >= 1 and NS >= 0");

 public:
  static constexpr int num_large_crops = NL;
  static constexpr int num_small_crops = NS;
  using Options = MultiCropOptions;

  RadioMultiCrop() : RadioMultiCrop(Options{}) {}
  explicit RadioMultiCrop(const Options& options)
      : options_(options), large_(make_pretrain_pipeline(options.large)), small_(make_pretrain_pipeline(options.small)) {}

  /// NL large views, then NS small ones.
  [[nodiscard]] std::vector<Image> views(const Image& img, Rng& rng) const {
    std::vector<Image> out;
    out.reserve(NL + NS);
    for (int k = 0; k < NL + NS; ++k) out.push_back(view(k, img, rng));
    return out;
  }
  /// View `k`: large for k < NL, small after.
  [[nodiscard]] Image view(int k, const Image& img, Rng& rng) const { return k < NL ? large_(img, rng) : small_(img, rng); }
  [[nodiscard]] const Options& options() const { return options_; }

 private:
  Options options_;
  PretrainPipeline large_;
  PretrainPipeline small_;
};

/// Settings of the downstream training augmentation (paper section 4.1).
struct DownstreamOptions {
  std::int64_t size = 224;
  double scale_min = 0.95;
  double scale_max = 1.0;
  double flip_p = 0.5;
  data::Interp interp = data::Interp::bicubic;
};

/// Downstream (linear / fine-tune) training augmentation: one view, random resized crop with
/// scale [0.95, 1], horizontal and vertical flips with p 0.5.
class Downstream {
 public:
  static constexpr int num_large_crops = 1;
  static constexpr int num_small_crops = 0;
  using Options = DownstreamOptions;
  using Stages = Pipeline<RandomResizedCrop, RandomHorizontalFlip, RandomVerticalFlip>;

  Downstream() : Downstream(Options{}) {}
  explicit Downstream(const Options& o)
      : options_(o),
        pipeline_(RandomResizedCrop{o.size, o.scale_min, o.scale_max, 1.0, 1.0, o.interp},
                  RandomHorizontalFlip{o.flip_p}, RandomVerticalFlip{o.flip_p}) {}

  [[nodiscard]] std::vector<Image> views(const Image& img, Rng& rng) const { return {view(0, img, rng)}; }
  [[nodiscard]] Image view(int /*k*/, const Image& img, Rng& rng) const { return pipeline_(img, rng); }
  [[nodiscard]] const Options& options() const { return options_; }

 private:
  Options options_;
  Stages pipeline_;
};

/// Evaluation: one deterministic view, resized to `size` (shorter side, then the centre square).
class Eval {
 public:
  static constexpr int num_large_crops = 1;
  static constexpr int num_small_crops = 0;

  explicit Eval(std::int64_t size = 224, data::Interp interp = data::Interp::bicubic) : resize_{size, interp} {}

  [[nodiscard]] std::vector<Image> views(const Image& img, Rng& rng) const { return {view(0, img, rng)}; }
  [[nodiscard]] Image view(int /*k*/, const Image& img, Rng& rng) const { return resize_.make(img, rng); }
  [[nodiscard]] std::int64_t size() const { return resize_.size; }

 private:
  Resize resize_;
};

static_assert(PerViewAugment<RadioSymmetric> && PerViewAugment<RadioMultiCrop<2, 6>> && PerViewAugment<Downstream> &&
                  PerViewAugment<Eval>,
              "the augmentation presets must model radiossl::PerViewAugment (concepts/augment.hpp)");

}  // namespace radiossl::augment

/// @file
/// ResNet's residual blocks, BasicBlock and Bottleneck, as torchvision builds them (resnet.py).
#pragma once

#include <cstdint>

#include "radiossl/backbone/small_map_conv.hpp"
#include "radiossl/dist/sync_batch_norm.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::backbone {

namespace detail {

inline torch::nn::Conv2d conv3x3(std::int64_t in, std::int64_t out, std::int64_t stride = 1) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

inline torch::nn::Conv2d conv1x1(std::int64_t in, std::int64_t out, std::int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false));
}

/// torchvision's projection shortcut `downsample`: conv1x1 (strided) then BatchNorm, so that
/// its parameters are named `downsample.0.weight`, `downsample.1.*`.
inline torch::nn::Sequential downsample(std::int64_t in, std::int64_t out, std::int64_t stride) {
  return torch::nn::Sequential(conv1x1(in, out, stride), dist::SyncBatchNorm2d(out));
}

}  // namespace detail

/// The two-convolution block of ResNet-18/34 (expansion 1). Submodule names follow torchvision:
/// `conv1`, `bn1`, `conv2`, `bn2`, `downsample` (only when the shape changes).
class BasicBlockImpl : public torch::nn::Cloneable<BasicBlockImpl>, public WinogradSwitch {
 public:
  static constexpr std::int64_t expansion = 1;

  BasicBlockImpl(std::int64_t in_planes, std::int64_t planes, std::int64_t stride)
      : in_planes_(in_planes), planes_(planes), stride_(stride) {
    reset();
  }

  /// Registers the submodules; Cloneable::clone() calls it again on the copy.
  void reset() override {
    conv1 = register_module("conv1", detail::conv3x3(in_planes_, planes_, stride_));
    bn1 = register_module("bn1", dist::SyncBatchNorm2d(planes_));
    conv2 = register_module("conv2", detail::conv3x3(planes_, planes_));
    bn2 = register_module("bn2", dist::SyncBatchNorm2d(planes_));
    downsample = nullptr;
    if (stride_ != 1 || in_planes_ != planes_ * expansion)
      downsample = register_module("downsample",
                                   detail::downsample(in_planes_, planes_ * expansion, stride_));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    // backbone::conv2d: the modules' own convolution, with a faster weight gradient on tiny maps,
    // and by Winograd when switched on.
    torch::Tensor out = bn1(backbone::conv2d(x, conv1->weight, stride_, 1, winograd())).relu_();
    out = bn2(backbone::conv2d(out, conv2->weight, 1, 1, winograd()));
    out += downsample ? downsample->forward(x) : x;
    return out.relu_();
  }

  /// The BatchNorm whose weight zero_init_residual sets to 0.
  dist::SyncBatchNorm2d& last_bn() { return bn2; }

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  dist::SyncBatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};

 private:
  std::int64_t in_planes_, planes_, stride_;
};
TORCH_MODULE(BasicBlock);

/// The 1x1-3x3-1x1 block of ResNet-50/101/152 (expansion 4), stride on the 3x3 convolution
/// (torchvision's "ResNet V1.5"). Names: `conv1..3`, `bn1..3`, `downsample`.
class BottleneckImpl : public torch::nn::Cloneable<BottleneckImpl>, public WinogradSwitch {
 public:
  static constexpr std::int64_t expansion = 4;

  BottleneckImpl(std::int64_t in_planes, std::int64_t planes, std::int64_t stride)
      : in_planes_(in_planes), planes_(planes), stride_(stride) {
    reset();
  }

  void reset() override {
    conv1 = register_module("conv1", detail::conv1x1(in_planes_, planes_));
    bn1 = register_module("bn1", dist::SyncBatchNorm2d(planes_));
    conv2 = register_module("conv2", detail::conv3x3(planes_, planes_, stride_));
    bn2 = register_module("bn2", dist::SyncBatchNorm2d(planes_));
    conv3 = register_module("conv3", detail::conv1x1(planes_, planes_ * expansion));
    bn3 = register_module("bn3", dist::SyncBatchNorm2d(planes_ * expansion));
    downsample = nullptr;
    if (stride_ != 1 || in_planes_ != planes_ * expansion)
      downsample = register_module("downsample",
                                   detail::downsample(in_planes_, planes_ * expansion, stride_));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor out = bn1(conv1(x)).relu_();
    out = bn2(backbone::conv2d(out, conv2->weight, stride_, 1, winograd())).relu_();
    out = bn3(conv3(out));
    out += downsample ? downsample->forward(x) : x;
    return out.relu_();
  }

  dist::SyncBatchNorm2d& last_bn() { return bn3; }

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  dist::SyncBatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};

 private:
  std::int64_t in_planes_, planes_, stride_;
};
TORCH_MODULE(Bottleneck);

}  // namespace radiossl::backbone

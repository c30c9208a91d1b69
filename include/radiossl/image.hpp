/// @file
/// `Image`: the plain, torch-free pixel container the data layer works on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace radiossl {

/// A float32 image of `channels` planes, each `height` x `width`, stored plane-major then row-major
/// (index `(c * height + y) * width + x`), the same order as a contiguous torch tensor [C, H, W].
/// NaN is a valid pixel value (blanked pixels of radio maps).
///
/// Note: the data layer (FITS I/O, cut-outs, augmentation) works on this type rather than on
/// torch::Tensor so that it compiles without LibTorch's headers and runs per-sample in loader
/// threads without the dispatcher's overhead; the loader turns batches into tensors.
struct Image {
  std::int64_t channels = 1;
  std::int64_t height = 0;
  std::int64_t width = 0;
  std::vector<float> pixels;

  Image() = default;
  Image(std::int64_t h, std::int64_t w, float fill = 0.0f) : Image(1, h, w, fill) {}
  Image(std::int64_t c, std::int64_t h, std::int64_t w, float fill = 0.0f)
      : channels(c), height(h), width(w), pixels(static_cast<std::size_t>(c * h * w), fill) {}

  [[nodiscard]] bool empty() const { return pixels.empty(); }
  [[nodiscard]] std::size_t size() const { return pixels.size(); }
  [[nodiscard]] std::int64_t plane_size() const { return height * width; }

  float& at(std::int64_t y, std::int64_t x) { return pixels[static_cast<std::size_t>(y * width + x)]; }
  [[nodiscard]] float at(std::int64_t y, std::int64_t x) const {
    return pixels[static_cast<std::size_t>(y * width + x)];
  }
  float& at(std::int64_t c, std::int64_t y, std::int64_t x) {
    return pixels[static_cast<std::size_t>((c * height + y) * width + x)];
  }
  [[nodiscard]] float at(std::int64_t c, std::int64_t y, std::int64_t x) const {
    return pixels[static_cast<std::size_t>((c * height + y) * width + x)];
  }
  float* plane(std::int64_t c) { return pixels.data() + c * plane_size(); }
  [[nodiscard]] const float* plane(std::int64_t c) const { return pixels.data() + c * plane_size(); }
};

}  // namespace radiossl

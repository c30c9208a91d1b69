/// @file
/// Saving and loading a backbone's weights: radiossl's own files, Trainer checkpoints, torchvision's.
#pragma once

#include <filesystem>
#include <sstream>
#include <string>

#include "radiossl/backbone/resnet.hpp"
#include "radiossl/concepts/backbone.hpp"
#include "radiossl/error.hpp"

namespace radiossl::backbone {

/// Writes the backbone's parameters and buffers to `path` atomically (a temporary file in the same
/// folder, then a rename), so that a reader never sees half a file.
template <Backbone B>
void save_backbone(const B& backbone, const std::filesystem::path& path) {
  if (!path.parent_path().empty()) std::filesystem::create_directories(path.parent_path());
  auto tmp = path;
  tmp += ".tmp";
  try {
    torch::serialize::OutputArchive ar;
    backbone->save(ar);
    ar.save_to(tmp.string());
    std::filesystem::rename(tmp, path);
  } catch (const std::exception& e) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw Error(path.string() + ": cannot write backbone weights (" + std::string(e.what()).substr(0, 200) + ")");
  }
}

namespace detail {
/// Throws naming the first parameter or buffer whose shape in `ar` differs from the module's:
/// LibTorch's Module::load would silently take the file's shape (a CIFAR-stem conv1 would load
/// into an ImageNet-stem backbone and run with the wrong kernel).
inline void check_shapes(const torch::nn::Module& m, torch::serialize::InputArchive& ar, const std::string& prefix,
                         const std::filesystem::path& path) {
  auto check = [&](const std::string& key, const torch::Tensor& have, bool is_buffer) {
    torch::Tensor t;
    if (ar.try_read(key, t, is_buffer) && t.sizes() != have.sizes()) {
      std::ostringstream msg;
      msg << path.string() << ": shape of '" << prefix << key << "' is " << t.sizes() << " in the file but "
          << have.sizes() << " here (wrong depth or width, or the CIFAR stem on one side only?)";
      throw Error(msg.str());
    }
  };
  for (const auto& p : m.named_parameters(/*recurse=*/false)) check(p.key(), p.value(), false);
  for (const auto& b : m.named_buffers(/*recurse=*/false)) check(b.key(), b.value(), true);
  for (const auto& c : m.named_children()) {
    torch::serialize::InputArchive sub;
    if (ar.try_read(c.key(), sub)) check_shapes(*c.value(), sub, prefix + c.key() + ".", path);
  }
}
}  // namespace detail

/// Loads weights into `backbone` from any of: a file written by save_backbone, a Trainer checkpoint
/// (`last.ckpt`: its "backbone" part), or a torchvision state_dict saved from Python with
/// `torch.save(model.state_dict(), path)` (ResNets only; `fc.*` ignored).
/// Throws radiossl::Error naming the file when none of these fits, or naming the first tensor whose
/// shape differs from the backbone's.
template <Backbone B>
void load_backbone(B& backbone, const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) throw Error(path.string() + ": no such file");
  std::string archive_error;
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(path.string());
    torch::serialize::InputArchive sub;
    torch::serialize::InputArchive& weights = ar.try_read("backbone", sub) ? sub : ar;
    detail::check_shapes(*backbone, weights, "", path);
    backbone->load(weights);
    return;
  } catch (const c10::Error& e) {
    archive_error = e.what_without_backtrace();
  }
  if constexpr (requires { load_torchvision_weights(backbone, path); }) {
    try {
      load_torchvision_weights(backbone, path);
      return;
    } catch (const Error& e) {
      throw Error(path.string() + ": neither radiossl weights (" + archive_error.substr(0, 160) +
                  ") nor a torchvision state_dict (" + e.what() + ")");
    }
  }
  throw Error(path.string() + ": not radiossl backbone weights (" + archive_error.substr(0, 160) + ")");
}

}  // namespace radiossl::backbone

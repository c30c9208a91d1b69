/// @file
/// Saving and loading a backbone's weights: radiossl's own files, Trainer checkpoints, torchvision's.
#pragma once

#include <filesystem>
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

/// Loads weights into `backbone` from any of: a file written by save_backbone, a Trainer checkpoint
/// (`last.ckpt`: its "backbone" part), or a torchvision state_dict saved from Python with
/// `torch.save(model.state_dict(), path)` (ResNets only; `fc.*` ignored).
/// Throws radiossl::Error naming the file when none of these fits.
template <Backbone B>
void load_backbone(B& backbone, const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) throw Error(path.string() + ": no such file");
  std::string archive_error;
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(path.string());
    torch::serialize::InputArchive sub;
    if (ar.try_read("backbone", sub)) {
      backbone->load(sub);
    } else {
      backbone->load(ar);
    }
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

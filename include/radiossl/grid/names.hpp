/// @file
/// The names the paper's tables use for backbones and methods.
#pragma once

#include <string>
#include <string_view>

#include "radiossl/backbone/resnet.hpp"

namespace radiossl::grid {

/// "ResNet-18" / "ResNet-50"; other backbones are named by their type's `name` member if any.
template <class B>
std::string backbone_name() {
  if constexpr (std::is_same_v<B, backbone::ResNet18>) return "ResNet-18";
  else if constexpr (std::is_same_v<B, backbone::ResNet50>) return "ResNet-50";
  else if constexpr (requires { B::Impl::name; }) return std::string(B::Impl::name);
  else return "backbone";
}

/// The paper's spelling of a method from its `Impl::name` ("simclr" -> "SimCLR").
inline std::string method_display_name(std::string_view id) {
  if (id == "simclr") return "SimCLR";
  if (id == "byol") return "BYOL";
  if (id == "dino") return "DINO";
  if (id == "wmse") return "WMSE";
  if (id == "swav") return "SwAV";
  if (id == "all4one") return "All4One";
  return std::string(id);
}

}  // namespace radiossl::grid

/// @file
/// ResNet-18/50 backbones with torchvision's architecture, initialisation and parameter names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "radiossl/backbone/blocks.hpp"
#include "radiossl/backbone/max_pool.hpp"
#include "radiossl/backbone/stem_conv.hpp"
#include "radiossl/error.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::backbone {

/// Options of every ResNet. The defaults are torchvision's (and the paper's): three input
/// channels (the one radio channel replicated: the Trainer's loader sends the one plane, which the
/// stem reads as three, see stem_conv2d), base width 64, the ImageNet stem.
///
/// Example: `ResNet18 narrow(ResNetOptions().width(8));` (feature_dim() == 64), for tests.
struct ResNetOptions {
  /// Input channels of the first convolution: 3 (one radio channel replicated, as the paper and
  /// solo-learn-radio), or 1 for a one-channel first convolution.
  TORCH_ARG(std::int64_t, in_channels) = 3;
  /// Channels of the stem and of layer1 (64 in torchvision); stages use 1x, 2x, 4x, 8x.
  TORCH_ARG(std::int64_t, width) = 64;
  /// solo-learn's CIFAR stem (3x3 stride-1 conv1 with padding 2, no max-pool); solo-learn uses it
  /// only for CIFAR, never for the paper's radio sets.
  TORCH_ARG(bool, cifar_stem) = false;
  /// Zero the last BatchNorm of every residual branch (torchvision's option; false in solo-learn).
  TORCH_ARG(bool, zero_init_residual) = false;
};

/// torchvision's ResNet without `fc`: forward returns the global-average-pooled features
/// [N, feature_dim()] (512 for ResNet-18, 2048 for ResNet-50 at width 64).
///
/// Parameters are named as torchvision's (`conv1.weight`, `bn1.*`, `layer1.0.conv1.weight`,
/// `layer2.0.downsample.0.weight`, ...), so that `torch.save(model.state_dict())` files load with
/// load_torchvision_weights(). Submodules are registered in reset(), so clone() (the EMA
/// teachers of BYOL, DINO and All4One) deep-copies it.
///
/// @tparam Block  BasicBlock or Bottleneck (holder types; `Block::Impl::expansion`).
/// @tparam L1..L4 blocks per stage ({2,2,2,2} for ResNet-18, {3,4,6,3} for ResNet-50).
template <class Block, int L1, int L2, int L3, int L4>
class ResNetImpl : public torch::nn::Cloneable<ResNetImpl<Block, L1, L2, L3, L4>> {
 public:
  using Options = ResNetOptions;
  static constexpr std::int64_t expansion = Block::Impl::expansion;
  /// The faster activation layout for training on a CPU (on CUDA, channels_last always is).
  /// Note: measured on the 2-core development machine (oneDNN, AVX2), channels_last made a
  /// ResNet-50 SimCLR step at 224 px 1.12x faster but a ResNet-18 step 0.88x as fast, and left
  /// 64 px unchanged; the Trainer follows this unless TrainerOptions::channels_last is set.
  static constexpr bool channels_last_on_cpu = expansion > 1;
  /// forward() reads a one-plane input as that plane replicated to in_channels: the Trainer's
  /// loader then sends one plane per view.
  static constexpr bool replicates_one_plane = true;

  explicit ResNetImpl(ResNetOptions options = {}) : options_(options) {
    if (options_.in_channels() < 1 || options_.width() < 1)
      throw Error("backbone::ResNet: in_channels and width must be positive (got " +
                  std::to_string(options_.in_channels()) + ", " +
                  std::to_string(options_.width()) + ")");
    reset();
  }

  void reset() override {
    const std::int64_t w = options_.width();
    const StemGeometry g = stem_geometry();
    auto stem = torch::nn::Conv2dOptions(options_.in_channels(), w, g.kernel).stride(g.stride).padding(g.pad);
    conv1 = this->register_module("conv1", torch::nn::Conv2d(stem.bias(false)));
    bn1 = this->register_module("bn1", dist::SyncBatchNorm2d(w));
    in_planes_ = w;
    layer1 = this->register_module("layer1", make_layer(w, L1, 1));
    layer2 = this->register_module("layer2", make_layer(2 * w, L2, 2));
    layer3 = this->register_module("layer3", make_layer(4 * w, L3, 2));
    layer4 = this->register_module("layer4", make_layer(8 * w, L4, 2));
    initialize();
  }

  /// [N, C, H, W] -> [N, feature_dim()], C = in_channels, or 1: one plane standing for C
  /// identical ones (backbone/stem_conv.hpp). Works with channels_last inputs and weights.
  torch::Tensor forward(torch::Tensor x) {
    const StemGeometry g = stem_geometry();
    x = bn1(stem_conv2d(x, conv1->weight, g.stride, g.pad)).relu_();
    if (!options_.cifar_stem())
      x = max_pool2d(x, /*kernel_size=*/3, /*stride=*/2, /*padding=*/1);  // backbone/max_pool.hpp
    x = layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));
    return torch::flatten(torch::adaptive_avg_pool2d(x, {1, 1}), 1);
  }

  /// Width of the features: 8 * width * expansion (512 / 2048 at width 64).
  std::int64_t feature_dim() const { return 8 * options_.width() * expansion; }

  const ResNetOptions& options() const { return options_; }

  torch::nn::Conv2d conv1{nullptr};
  dist::SyncBatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};

 private:
  /// conv1's kernel, stride and padding: the ImageNet stem 7/2/3, solo-learn's CIFAR stem 3/1/2.
  struct StemGeometry {
    std::int64_t kernel, stride, pad;
  };
  StemGeometry stem_geometry() const { return options_.cifar_stem() ? StemGeometry{3, 1, 2} : StemGeometry{7, 2, 3}; }

  torch::nn::Sequential make_layer(std::int64_t planes, int blocks, std::int64_t stride) {
    torch::nn::Sequential layer;
    for (int i = 0; i < blocks; ++i) {
      layer->push_back(Block(in_planes_, planes, i == 0 ? stride : 1));
      in_planes_ = planes * expansion;
    }
    return layer;
  }

  /// torchvision's init: kaiming_normal(fan_out, relu) convolutions, BatchNorm weight 1 bias 0,
  /// optionally the last BatchNorm of each residual branch zeroed.
  void initialize() {
    torch::NoGradGuard no_grad;
    for (auto& module : this->modules(/*include_self=*/false)) {
      if (auto* conv = module->template as<torch::nn::Conv2d>()) {
        torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      } else if (auto* bn = module->template as<dist::SyncBatchNorm2dImpl>()) {
        bn->weight.fill_(1.0);
        bn->bias.zero_();
      }
    }
    if (options_.zero_init_residual()) {
      for (auto* layer : {&layer1, &layer2, &layer3, &layer4})
        for (auto& block : (*layer)->children())
          block->template as<typename Block::Impl>()->last_bn()->weight.zero_();
    }
  }

  ResNetOptions options_;
  std::int64_t in_planes_ = 0;
};

/// ResNet-18 without fc (11,176,512 parameters at width 64).
using ResNet18Impl = ResNetImpl<BasicBlock, 2, 2, 2, 2>;
TORCH_MODULE(ResNet18);

/// ResNet-50 without fc (23,508,032 parameters at width 64).
using ResNet50Impl = ResNetImpl<Bottleneck, 3, 4, 6, 3>;
TORCH_MODULE(ResNet50);

namespace detail {

/// The key under which patch_state_dict_pickle() parks the OrderedDict class in the dict.
inline constexpr const char* ordered_dict_key = "__radiossl_ordered_dict__";

/// Rewrites the pickle of a Python state_dict so that LibTorch's unpickler reads it as a dict.
///
/// Note: `state_dict()` is an OrderedDict with a `_metadata` attribute. LibTorch's unpickler
/// (before PyTorch PR #139750) turns every OrderedDict into None, which it needs for the empty
/// backward-hook OrderedDicts inside each tensor, so the whole state_dict reads as None. This
/// makes the top-level object a plain dict, keeps the OrderedDict global in memo 0 (parked under
/// ordered_dict_key) for the tensors' hooks, and drops the trailing `_metadata` BUILD.
inline std::string patch_state_dict_pickle(std::string pkl) {
  const std::string head("\x80\x02" "ccollections\nOrderedDict\n" "q\x00" ")R" "q\x01", 33);
  if (pkl.compare(0, head.size(), head) != 0) return pkl;  // a plain dict: nothing to do
  const std::string key(ordered_dict_key);
  // LibTorch's unpickler has SETITEMS but not SETITEM: MARK key value SETITEMS.
  std::string out("\x80\x02" "}q\x01" "(X", 7);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((key.size() >> (8 * i)) & 0xff));
  out += key;
  out += std::string("ccollections\nOrderedDict\n" "q\x00" "u", 28);
  std::string rest = pkl.substr(head.size());
  const std::string metadata("X\x09\x00\x00\x00_metadata", 14);
  const auto pos = rest.rfind(metadata);
  if (pos != std::string::npos) {
    std::size_t cut = std::string::npos;
    if (pos >= 3 && rest[pos - 3] == '}' && rest[pos - 2] == 'q') cut = pos - 3;
    else if (pos >= 6 && rest[pos - 6] == '}' && rest[pos - 5] == 'r') cut = pos - 6;
    if (cut != std::string::npos) rest = rest.substr(0, cut) + ".";
  }
  return out + rest;
}

/// The contents of a torch.save() zip file, its pickle patched by patch_state_dict_pickle(),
/// re-zipped in memory for torch::pickle_load.
inline std::vector<char> read_state_dict_zip(const std::filesystem::path& path) {
  caffe2::serialize::PyTorchStreamReader reader(path.string());
  std::vector<char> bytes;
  caffe2::serialize::PyTorchStreamWriter writer([&bytes](const void* data, std::size_t size) {
    const auto* p = static_cast<const char*>(data);
    bytes.insert(bytes.end(), p, p + size);
    return size;
  });
  writer.setMinVersion(reader.version());
  for (const auto& name : reader.getAllRecords()) {
    // The writer adds its own version (and serialization id) records.
    if (name == "version" || name.rfind(".data/", 0) == 0) continue;
    auto [data, size] = reader.getRecord(name);
    if (name == "data.pkl") {
      const std::string pkl =
          patch_state_dict_pickle(std::string(static_cast<const char*>(data.get()), size));
      writer.writeRecord(name, pkl.data(), pkl.size());
    } else {
      writer.writeRecord(name, data.get(), size);
    }
  }
  writer.writeEndOfFile();
  return bytes;
}

}  // namespace detail

/// Loads a torchvision state_dict saved from Python with
/// `torch.save(torchvision.models.resnet18().state_dict(), path)` (the zip format of
/// torch >= 1.6) into `backbone`, by parameter and buffer name. `fc.*` is skipped (our ResNets
/// have no classifier). A 3-channel `conv1.weight` loads into a 1-channel backbone summed over
/// its input channels, which gives the same output as replicating the channel three times.
///
/// @throws radiossl::Error naming the file and the key when the file cannot be read, a key is
///         missing or unexpected, or a shape differs.
template <class B>
void load_torchvision_weights(B& backbone, const std::filesystem::path& path) {
  if (!std::ifstream(path, std::ios::binary))
    throw Error(path.string() + ": cannot open the weights file");
  torch::IValue state;
  try {
    state = torch::pickle_load(detail::read_state_dict_zip(path));
  } catch (const c10::Error& e) {
    throw Error(path.string() +
                ": not a torch.save() state_dict in the zip format (torch >= 1.6): " +
                e.what_without_backtrace());
  }
  if (!state.isGenericDict())
    throw Error(path.string() + ": expected a state_dict (a dict of tensors), found " +
                state.tagKind());

  std::map<std::string, torch::Tensor> ours;
  for (const auto& item : backbone->named_parameters(true)) ours.emplace(item.key(), item.value());
  for (const auto& item : backbone->named_buffers(true)) ours.emplace(item.key(), item.value());

  torch::NoGradGuard no_grad;
  std::map<std::string, bool> seen;
  for (const auto& entry : state.toGenericDict()) {
    if (!entry.key().isString())
      throw Error(path.string() + ": expected string keys in the state_dict");
    const std::string key = entry.key().toStringRef();
    if (key == detail::ordered_dict_key) continue;
    if (!entry.value().isTensor())
      throw Error(path.string() + ": the value of '" + key + "' is not a tensor");
    if (key.rfind("fc.", 0) == 0) continue;
    const auto it = ours.find(key);
    if (it == ours.end())
      throw Error(path.string() + ": unexpected key '" + key +
                  "' (not a parameter or buffer of this ResNet; wrong depth?)");
    torch::Tensor value = entry.value().toTensor();
    if (key == "conv1.weight" && value.dim() == 4 && it->second.dim() == 4 &&
        it->second.size(1) == 1 && value.size(1) == 3)
      value = value.sum(1, /*keepdim=*/true);
    if (value.sizes() != it->second.sizes()) {
      std::ostringstream msg;
      msg << path.string() << ": shape of '" << key << "' is " << value.sizes()
          << " in the file but " << it->second.sizes() << " here (wrong depth or width?)";
      throw Error(msg.str());
    }
    it->second.copy_(value);
    seen[key] = true;
  }
  for (const auto& [key, tensor] : ours)
    if (!seen.count(key))
      throw Error(path.string() + ": missing key '" + key + "' in the state_dict");
}

}  // namespace radiossl::backbone

// ResNet backbones: shapes, parameter counts and names, clone(), and torchvision weights giving
// torchvision's features (cross-checked with /usr/bin/python3 when it has torchvision).
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/catch.hpp"

#include "radiossl/backbone/checkpoint.hpp"
#include "radiossl/backbone/max_pool.hpp"
#include "radiossl/backbone/resnet.hpp"
#include "radiossl/backbone/stem_conv.hpp"
#include "radiossl/backbone/winograd_conv.hpp"
#include "radiossl/concepts/backbone.hpp"
#include "radiossl/error.hpp"
#include "radiossl/torch_fwd.hpp"
#include "support/fits_fixture.hpp"
#include "support/tensor_compare.hpp"

namespace bb = radiossl::backbone;
using radiossl::test::closeness;

static_assert(radiossl::Backbone<bb::ResNet18> && radiossl::CloneableBackbone<bb::ResNet18>);
static_assert(radiossl::Backbone<bb::ResNet50> && radiossl::CloneableBackbone<bb::ResNet50>);

namespace {

template <class B>
std::int64_t count_parameters(B& b) {
  std::int64_t n = 0;
  for (const auto& p : b->parameters()) n += p.numel();
  return n;
}

template <class B>
std::set<std::string> state_names(B& b) {
  std::set<std::string> names;
  for (const auto& p : b->named_parameters()) names.insert(p.key());
  for (const auto& p : b->named_buffers()) names.insert(p.key());
  return names;
}

/// A fresh directory under the system temp dir, removed at scope exit.
torch::IValue load_pickle(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return torch::pickle_load(bytes);
}

torch::Tensor dict_tensor(const torch::IValue& dict, const std::string& key) {
  return dict.toGenericDict().at(key).toTensor();
}

}  // namespace

TEST_CASE("ResNet-18 and ResNet-50 have torchvision's sizes without fc", "[backbone]") {
  bb::ResNet18 r18;
  CHECK(r18->feature_dim() == 512);
  CHECK(count_parameters(r18) == 11176512);
  r18->eval();
  CHECK(r18->forward(torch::randn({2, 3, 64, 64})).sizes() == torch::IntArrayRef({2, 512}));

  bb::ResNet50 r50;
  CHECK(r50->feature_dim() == 2048);
  CHECK(count_parameters(r50) == 23508032);
  CHECK(r50->forward(torch::randn({2, 3, 32, 32})).sizes() == torch::IntArrayRef({2, 2048}));

  const auto names = state_names(r18);
  for (const char* name : {"conv1.weight", "bn1.weight", "bn1.running_mean",
                           "bn1.num_batches_tracked", "layer1.0.conv1.weight",
                           "layer1.1.bn2.bias", "layer2.0.downsample.0.weight",
                           "layer2.0.downsample.1.running_var", "layer4.1.conv2.weight"})
    CHECK(names.count(name) == 1);
  CHECK(names.count("fc.weight") == 0);
  CHECK(names.count("layer1.0.downsample.0.weight") == 0);  // no shortcut where shapes agree
  CHECK(state_names(r50).count("layer1.0.downsample.0.weight") == 1);
  CHECK(state_names(r50).count("layer3.5.conv3.weight") == 1);
}

TEST_CASE("ResNet options: narrow widths, one channel, CIFAR stem, init", "[backbone]") {
  bb::ResNet18 narrow(bb::ResNetOptions().width(8));
  CHECK(narrow->feature_dim() == 64);
  CHECK(narrow->forward(torch::randn({4, 3, 32, 32})).sizes() == torch::IntArrayRef({4, 64}));
  bb::ResNet50 narrow50(bb::ResNetOptions().width(4));
  CHECK(narrow50->feature_dim() == 128);

  bb::ResNet18 one(bb::ResNetOptions().width(8).in_channels(1));
  CHECK(one->conv1->weight.size(1) == 1);
  CHECK(one->forward(torch::randn({2, 1, 32, 32})).size(1) == 64);

  bb::ResNet18 cifar(bb::ResNetOptions().width(8).cifar_stem(true));
  CHECK(cifar->conv1->weight.size(2) == 3);
  CHECK(cifar->forward(torch::randn({2, 3, 32, 32})).size(1) == 64);

  // kaiming_normal(fan_out, relu): std = sqrt(2 / (out_channels * k * k)).
  bb::ResNet18 full;
  const double expected_std = std::sqrt(2.0 / (64.0 * 3 * 3));
  CHECK(full->layer1->named_parameters()["0.conv1.weight"].std().item<double>() ==
        Approx(expected_std).epsilon(0.02));
  CHECK(full->bn1->weight.eq(1).all().item<bool>());
  CHECK(full->bn1->bias.eq(0).all().item<bool>());
  bb::ResNet18 zero(bb::ResNetOptions().width(8).zero_init_residual(true));
  CHECK(zero->named_parameters()["layer1.0.bn2.weight"].eq(0).all().item<bool>());
  CHECK(zero->named_parameters()["layer1.0.bn1.weight"].eq(1).all().item<bool>());

  CHECK_THROWS_AS(bb::ResNet18(bb::ResNetOptions().width(0)), radiossl::Error);
}

TEST_CASE("load_backbone: saved weights load back, and a file of other shapes is refused naming the tensor",
          "[backbone]") {
  const auto path = std::filesystem::temp_directory_path() / "radiossl_backbone_shapes.pt";
  bb::ResNet18 cifar(bb::ResNetOptions().width(4).cifar_stem(true));
  bb::save_backbone(cifar, path);
  bb::ResNet18 same(bb::ResNetOptions().width(4).cifar_stem(true));
  bb::load_backbone(same, path);
  const auto saved = cifar->named_parameters();
  for (const auto& p : same->named_parameters()) CHECK(torch::equal(saved[p.key()], p.value()));
  // LibTorch's own Module::load would take the file's 3x3 kernel into the 7x7 stem without a word.
  bb::ResNet18 imagenet_stem(bb::ResNetOptions().width(4));
  CHECK_THROWS_WITH(bb::load_backbone(imagenet_stem, path),
                    Catch::Contains("shape of 'conv1.weight' is [4, 3, 3, 3] in the file but [4, 3, 7, 7] here"));
  CHECK(imagenet_stem->conv1->weight.size(2) == 7);  // left as it was
  bb::ResNet18 wider(bb::ResNetOptions().width(8).cifar_stem(true));
  CHECK_THROWS_WITH(bb::load_backbone(wider, path), Catch::Contains("shape of 'conv1.weight'"));
  bb::ResNet18 bn_wider(bb::ResNetOptions().width(4).cifar_stem(true));
  {  // a buffer (BatchNorm running statistics) of another shape deep in the tree is found too
    torch::NoGradGuard no_grad;
    auto mean = bn_wider->named_buffers()["layer4.1.bn2.running_mean"];
    mean.set_(torch::zeros({mean.size(0) + 1}));
  }
  CHECK_THROWS_WITH(bb::load_backbone(bn_wider, path), Catch::Contains("'layer4.1.bn2.running_mean'"));
  std::filesystem::remove(path);
}

TEST_CASE("ResNet clone() is a deep copy and channels_last gives the same features",
          "[backbone]") {
  bb::ResNet18 net(bb::ResNetOptions().width(8));
  net->eval();
  const auto x = torch::randn({2, 3, 32, 32});
  const auto y = net->forward(x);
  auto copy = std::dynamic_pointer_cast<bb::ResNet18Impl>(net->clone());
  REQUIRE(copy);
  CHECK(closeness(copy->forward(x), y, 1e-6, 1e-6) == "ok");
  {
    torch::NoGradGuard no_grad;
    copy->conv1->weight.add_(1.0);
  }
  CHECK_FALSE(copy->conv1->weight.equal(net->conv1->weight));

  // Module::to(memory_format) does not exist in LibTorch 1.13: convert the weights in place.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  CHECK(closeness(net->forward(x.contiguous(torch::MemoryFormat::ChannelsLast)), y, 1e-5, 1e-5) ==
        "ok");
}

TEST_CASE("backbone::conv2d: LibTorch's convolution, with the batched weight gradient on tiny maps",
          "[backbone]") {
  struct Shape {
    std::int64_t channels, side, stride;
    bool batched;  // output maps of at most detail::small_map_pixels: the batched weight gradient
  };
  // ResNet-18's last stage at 64 px (2x2) and 32 px (1x1), its strided first convolution, and a
  // 4x4 map that keeps LibTorch's own backward.
  const Shape shapes[] = {{24, 2, 1, true}, {24, 1, 1, true}, {16, 4, 2, true}, {16, 2, 2, true}, {8, 4, 1, false}};
  // ResNet-50 trains channels_last on a CPU: both layouts.
  for (const auto format : {torch::MemoryFormat::Contiguous, torch::MemoryFormat::ChannelsLast})
  for (const auto& s : shapes) {
    CAPTURE(s.channels, s.side, s.stride, format);
    const auto x = torch::randn({5, s.channels, s.side, s.side}).contiguous(format).requires_grad_();
    const auto w = (torch::randn({2 * s.channels, s.channels, 3, 3}) * 0.1).contiguous(format).requires_grad_();
    const auto x_ref = x.detach().clone().requires_grad_();
    const auto w_ref = w.detach().clone().requires_grad_();
    const auto y = bb::conv2d(x, w, s.stride, 1);
    const auto y_ref = torch::conv2d(x_ref, w_ref, {}, s.stride, 1);
    const bool batched = y.grad_fn()->name().find("SmallMapConv") != std::string::npos;
    CHECK(batched == s.batched);
    CHECK(closeness(y, y_ref, 0.0, 0.0) == "ok");
    const auto dy = torch::randn_like(y);
    y.backward(dy);
    y_ref.backward(dy);
    CHECK(closeness(x.grad(), x_ref.grad(), 1e-5, 1e-5) == "ok");
    CHECK(closeness(w.grad(), w_ref.grad(), 1e-5, 1e-5) == "ok");
  }
  // The weight gradient's product on oneDNN, on its own: a [M, K] b [N, K]^T.
  const auto a = torch::randn({7, 5}), b = torch::randn({3, 5});
  CHECK(closeness(radiossl::detail::matmul_nt(a, b), a.matmul(b.t()), 1e-5, 1e-6) == "ok");
  CHECK_THROWS_AS(radiossl::detail::matmul_nt(a, a.t()), radiossl::Error);
  // Without gradient, or in float64, it is torch::conv2d itself.
  const auto w = torch::randn({8, 8, 3, 3}, torch::kDouble).requires_grad_();
  CHECK(bb::conv2d(torch::randn({2, 8, 2, 2}, torch::kDouble), w, 1, 1).grad_fn()->name().find("SmallMapConv") ==
        std::string::npos);
  torch::NoGradGuard no_grad;
  CHECK_FALSE(bb::conv2d(torch::randn({2, 8, 2, 2}), w.to(torch::kFloat), 1, 1).requires_grad());
}

namespace {
/// closeness within `scale` times the largest |expected|: Winograd's error is relative to the
/// magnitudes summed, not to each (possibly tiny) output.
std::string close_to_scale(const torch::Tensor& actual, const torch::Tensor& expected, double scale) {
  return closeness(actual, expected, 0.0, scale * expected.abs().max().item<double>());
}
/// Checks a 3x3 stride-1 convolution `conv(x, w)` against torch::conv2d, forward and both gradients,
/// over square and oblong maps, a map whose side is no multiple of the 4x4 tile, unequal channels,
/// in both layouts, to `scale` times the largest value.
template <class Conv>
void check_winograd_against_conv2d(Conv conv, double scale = 1e-5) {
  struct Shape {
    std::int64_t batch, in, out, h, w;
  };
  const Shape shapes[] = {{3, 16, 32, 12, 12}, {2, 16, 16, 7, 10}, {4, 32, 16, 4, 4}, {2, 48, 16, 5, 9}, {2, 256, 272, 6, 6}};
  for (const auto format : {torch::MemoryFormat::Contiguous, torch::MemoryFormat::ChannelsLast})
  for (const auto& s : shapes) {
    CAPTURE(s.batch, s.in, s.out, s.h, s.w, format);
    const auto x = torch::randn({s.batch, s.in, s.h, s.w}).contiguous(format).requires_grad_();
    const auto w = (torch::randn({s.out, s.in, 3, 3}) * 0.1).contiguous(format).requires_grad_();
    const auto x_ref = x.detach().clone().requires_grad_();
    const auto w_ref = w.detach().clone().requires_grad_();
    const torch::Tensor y = conv(x, w);
    const auto y_ref = torch::conv2d(x_ref, w_ref, {}, 1, 1);
    CHECK(y.suggest_memory_format() == y_ref.suggest_memory_format());
    CHECK(close_to_scale(y, y_ref, scale) == "ok");
    const auto dy = torch::randn_like(y_ref);
    y.backward(dy);
    y_ref.backward(dy);
    CHECK(close_to_scale(x.grad(), x_ref.grad(), scale) == "ok");
    CHECK(close_to_scale(w.grad(), w_ref.grad(), scale) == "ok");
    CHECK(w.grad().suggest_memory_format() == format);
  }
}
}  // namespace

TEST_CASE("backbone::winograd_conv3x3: torch::conv2d's output and gradients to float32 rounding", "[backbone]") {
#if defined(RADIOSSL_HAVE_DNNL)
  // oneDNN's Winograd kernel needs AVX-512: where the CPU has it, this build must run it.
  if (__builtin_cpu_supports("avx512f")) REQUIRE(bb::winograd_available());
#endif
  if (!bb::winograd_onednn_available()) {
    // radiossl's AVX2 transforms (checked in the next test case) take only convolutions with work
    // enough to pay for them: ResNet's 224 px stages at batch 32, not these small maps.
    CHECK_FALSE(bb::winograd_conv3x3(torch::randn({2, 8, 8, 8}), torch::randn({8, 8, 3, 3})).has_value());
    CHECK_FALSE(bb::winograd_conv3x3(torch::randn({32, 64, 56, 56}), torch::randn({64, 64, 3, 3})).has_value());
    const auto heavy = bb::winograd_conv3x3(torch::randn({16, 256, 16, 16}), torch::randn({256, 256, 3, 3}));
    CHECK(heavy.has_value() == bb::detail::winograd_avx2_available());
    if (!bb::winograd_available()) WARN("no Winograd convolutions in this build or on this CPU: only the fallbacks are checked");
    return;
  }
  check_winograd_against_conv2d([](const torch::Tensor& x, const torch::Tensor& w) {
    auto y = bb::winograd_conv3x3(x, w);
    REQUIRE(y.has_value());
    return *y;
  });
  const auto x = torch::randn({2, 8, 8, 8});
  const auto w = (torch::randn({8, 8, 3, 3}) * 0.1).requires_grad_();
  {  // weight gradient only (the first block's input needs none)
    const auto y = bb::winograd_conv3x3(x, w).value();
    y.sum().backward();
    const auto w_ref = w.detach().clone().requires_grad_();
    torch::conv2d(x, w_ref, {}, 1, 1).sum().backward();
    CHECK(close_to_scale(w.grad(), w_ref.grad(), 1e-5) == "ok");
  }
  {  // without a graph (EMA teachers): the same output, nothing to differentiate
    torch::NoGradGuard no_grad;
    const auto y = bb::winograd_conv3x3(x, w).value();
    CHECK_FALSE(y.requires_grad());
    CHECK(close_to_scale(y, torch::conv2d(x, w, {}, 1, 1), 1e-5) == "ok");
  }
  // Where it does not apply, the caller keeps LibTorch's: maps under winograd_min_pixels, float64,
  // other kernels; and bb::conv2d only for stride 1 and padding 1.
  CHECK_FALSE(bb::winograd_conv3x3(torch::randn({2, 8, 3, 3}), w).has_value());
  CHECK_FALSE(bb::winograd_conv3x3(x.to(torch::kDouble), w.to(torch::kDouble)).has_value());
  CHECK_FALSE(bb::winograd_conv3x3(x, torch::randn({8, 8, 5, 5})).has_value());
  CHECK(bb::conv2d(x, w, 1, 1, true).grad_fn()->name().find("Winograd") != std::string::npos);
  CHECK(bb::conv2d(x, w, 2, 1, true).grad_fn()->name().find("Winograd") == std::string::npos);
  CHECK(bb::conv2d(x, w, 1, 1).grad_fn()->name().find("Winograd") == std::string::npos);
}

TEST_CASE("backbone::detail::WinogradAvx2ConvFunction: torch::conv2d's output and gradients on any AVX2 CPU",
          "[backbone]") {
  // On AVX-512 CPUs winograd_conv3x3 takes oneDNN's kernel: this checks radiossl's own AVX2 path there too.
  if (!bb::detail::winograd_avx2_available()) {
    WARN("no AVX2 on this CPU: radiossl's Winograd transforms are not checked");
    return;
  }
  // Its error grows with the channels summed: against float64, 1.0e-5 of the largest value for 256
  // and 272 channels, 4.3e-6 for 64, where float32 direct sums err by 4e-7.
  check_winograd_against_conv2d(
      [](const torch::Tensor& x, const torch::Tensor& w) {
        REQUIRE(bb::detail::winograd_avx2_eligible(x, w));
        return bb::detail::WinogradAvx2ConvFunction::apply(x, w);
      },
      3e-5);
  // A map of one tile's width and a large-magnitude input: the error stays relative to the largest value.
  const auto x = torch::randn({2, 16, 17, 3}) * 1e3;
  const auto w = torch::randn({32, 16, 3, 3});
  CHECK(close_to_scale(bb::detail::WinogradAvx2ConvFunction::apply_forward(x, w), torch::conv2d(x, w, {}, 1, 1),
                       1e-5) == "ok");
  // Channels that are no multiple of 16 stay with LibTorch.
  CHECK_FALSE(bb::detail::winograd_avx2_eligible(torch::randn({2, 24, 8, 8}), torch::randn({16, 24, 3, 3})));
  CHECK_FALSE(bb::detail::winograd_avx2_eligible(torch::randn({2, 16, 8, 8}), torch::randn({24, 16, 3, 3})));
}

TEST_CASE("ResNet set_winograd: the same features and gradients, switched in every block and in clones",
          "[backbone]") {
  bb::ResNet18 net(bb::ResNetOptions().width(8));
  CHECK(bb::set_winograd(*net, true) == 8);  // every BasicBlock
  const bool on = bb::winograd_available();
  auto copy = std::dynamic_pointer_cast<bb::ResNet18Impl>(net->clone());
  REQUIRE(copy);
  std::int64_t copied = 0;  // EMA teachers are clones: the switch is copied with the block
  for (const auto& m : copy->modules())
    if (auto* sw = dynamic_cast<bb::WinogradSwitch*>(m.get())) copied += sw->winograd() ? 1 : 0;
  CHECK(copied == 8);
  bb::ResNet18 direct(bb::ResNetOptions().width(8));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : direct->named_parameters()) p.value().copy_(net->named_parameters()[p.key()]);
  }
  const auto x = torch::randn({4, 3, 64, 64});
  const auto y = net->forward(x), y_ref = direct->forward(x);
  // The graph holds a Winograd node exactly where oneDNN's kernel is available: radiossl's AVX2 one
  // takes no convolution of a net this small (detail::winograd_avx2_pays).
  bool seen = false;
  std::vector<torch::autograd::Node*> stack{y.grad_fn().get()};
  std::set<torch::autograd::Node*> visited;
  while (!stack.empty()) {
    auto* n = stack.back();
    stack.pop_back();
    if (n == nullptr || !visited.insert(n).second) continue;
    seen = seen || n->name().find("Winograd") != std::string::npos;
    for (const auto& e : n->next_edges()) stack.push_back(e.function.get());
  }
  CHECK(seen == (on && bb::winograd_onednn_available()));
  CHECK(close_to_scale(y, y_ref, 1e-4) == "ok");
  y.pow(2).sum().backward();
  y_ref.pow(2).sum().backward();
  const auto grads = direct->named_parameters();
  for (const auto& p : net->named_parameters()) {
    CAPTURE(p.key());
    CHECK(close_to_scale(p.value().grad(), grads[p.key()].grad(), 1e-4) == "ok");
  }
  CHECK(bb::set_winograd(*net, false) == 8);
}

TEST_CASE("backbone::max_pool2d: LibTorch's values, indices and gradient, on CPU NCHW maps", "[backbone]") {
  struct Shape {
    std::int64_t h, w, k, s, p;
  };
  // The ResNet stem (3, 2, 1) on even, odd and tiny maps (a 1-pixel row keeps only padded
  // windows), plus other windows. Rows of 33 pixels and more take the AVX2 blocks of 8 outputs
  // (on CPUs that have it), with a tail block that overlaps the one before.
  const Shape shapes[] = {{16, 16, 3, 2, 1}, {9, 7, 3, 2, 1}, {1, 5, 3, 2, 1}, {2, 2, 3, 2, 1},
                          {8, 11, 2, 2, 0}, {10, 10, 5, 3, 2}, {6, 6, 3, 1, 1}, {5, 112, 3, 2, 1},
                          {6, 40, 3, 2, 1}, {3, 53, 3, 2, 1}, {4, 33, 3, 2, 0}, {3, 70, 5, 2, 2}};
  for (const auto& sh : shapes) {
    for (int data = 0; data < 3; ++data) {
      CAPTURE(sh.h, sh.w, sh.k, sh.s, sh.p, data);
      // Random values; small integers (ties everywhere: the first maximum of the window must win);
      // NaN and -inf sprinkled in (a NaN wins; an all -inf window points at its first pixel).
      torch::Tensor x = data == 1 ? torch::randint(0, 3, {3, 4, sh.h, sh.w}).to(torch::kFloat)
                                  : torch::randn({3, 4, sh.h, sh.w});
      if (data == 2) {
        x.view(-1).index_put_({torch::randint(0, x.numel(), {x.numel() / 7 + 1})}, std::nanf(""));
        x.view(-1).index_put_({torch::randint(0, x.numel(), {x.numel() / 5 + 1})},
                              -std::numeric_limits<float>::infinity());
      }
      x.requires_grad_();
      const auto x_ref = x.detach().clone().requires_grad_();
      const auto y = bb::max_pool2d(x, sh.k, sh.s, sh.p);
      const auto [y_ref, idx_ref] = torch::max_pool2d_with_indices(x_ref, {sh.k}, {sh.s}, {sh.p});
      REQUIRE(y.sizes() == y_ref.sizes());
      CHECK(y.grad_fn()->name().find("MaxPoolFunction") != std::string::npos);
      CHECK(torch::equal(torch::isnan(y), torch::isnan(y_ref)));
      CHECK(torch::equal(torch::nan_to_num(y.detach(), 0.0), torch::nan_to_num(y_ref.detach(), 0.0)));
      const auto dy = torch::randn_like(y);
      y.backward(dy);
      y_ref.backward(dy);
      // Equal gradients mean equal indices: each output's gradient lands on its argmax.
      CHECK(torch::equal(x.grad(), x_ref.grad()));
    }
  }
  // Channels_last, float64 and no-grad inputs: LibTorch's own pooling, or the kernel without a graph.
  const auto cl = torch::randn({2, 3, 8, 8}).contiguous(torch::MemoryFormat::ChannelsLast).requires_grad_();
  CHECK(bb::max_pool2d(cl, 3, 2, 1).grad_fn()->name().find("MaxPoolFunction") == std::string::npos);
  CHECK(torch::equal(bb::max_pool2d(cl, 3, 2, 1), torch::max_pool2d(cl, {3}, {2}, {1})));
  const auto d = torch::randn({2, 3, 8, 8}, torch::kDouble);
  CHECK(torch::equal(bb::max_pool2d(d, 3, 2, 1), torch::max_pool2d(d, {3}, {2}, {1})));
  torch::NoGradGuard no_grad;
  const auto f = torch::randn({2, 3, 8, 8});
  CHECK(torch::equal(bb::max_pool2d(f, 3, 2, 1), torch::max_pool2d(f, {3}, {2}, {1})));
}

TEST_CASE("backbone::stem_conv2d: one replicated plane gives the three-plane convolution and gradient",
          "[backbone]") {
  struct Shape {
    std::int64_t n, h, w, oc, k, s, p;
  };
  // The ResNet stem at 224 and 32 px, odd and non-square maps, the CIFAR stem.
  const Shape shapes[] = {{2, 224, 224, 64, 7, 2, 3}, {4, 32, 32, 64, 7, 2, 3}, {2, 37, 61, 8, 7, 2, 3},
                          {2, 16, 16, 8, 3, 1, 2}};
  for (const auto& sh : shapes)
    for (const std::int64_t channels : {3, 1}) {
      CAPTURE(sh.n, sh.h, sh.w, sh.oc, sh.k, sh.p, channels);
      const auto plane = torch::rand({sh.n, 1, sh.h, sh.w});
      const auto w = (torch::randn({sh.oc, channels, sh.k, sh.k}) * 0.1).requires_grad_();
      const auto w_ref = w.detach().clone().requires_grad_();
      const auto y = bb::stem_conv2d(plane, w, sh.s, sh.p);
      const auto y_ref = torch::conv2d(plane.expand({sh.n, channels, sh.h, sh.w}), w_ref, {}, sh.s, sh.p);
      CHECK(y.is_contiguous());
      CHECK(closeness(y, y_ref, 1e-5, 1e-5) == "ok");
      const auto dy = torch::randn_like(y_ref);
      y.backward(dy);
      y_ref.backward(dy);
      // Every input channel of the weight gets the three-plane convolution's gradient.
      CHECK(closeness(w.grad(), w_ref.grad(), 1e-4, 1e-3) == "ok");
    }
  // As many planes as the weight takes: LibTorch's convolution itself.
  const auto x3 = torch::rand({2, 3, 20, 20});
  const auto w3 = torch::randn({8, 3, 7, 7});
  CHECK(torch::equal(bb::stem_conv2d(x3, w3, 2, 3), torch::conv2d(x3, w3, {}, 2, 3)));
  CHECK_THROWS_WITH(bb::stem_conv2d(torch::rand({2, 2, 20, 20}), w3, 2, 3),
                    Catch::Contains("the input has 2 channels; the first convolution takes 3 (or 1, replicated)"));
  // A channels_last weight (ResNet-50's layout on a CPU) gives a channels_last output.
  const auto y_cl = bb::stem_conv2d(torch::rand({2, 1, 20, 20}), w3.contiguous(torch::MemoryFormat::ChannelsLast), 2, 3);
  CHECK(y_cl.is_contiguous(torch::MemoryFormat::ChannelsLast));
  CHECK_FALSE(y_cl.is_contiguous());
}

/// Runs the Python side once per process: torchvision ResNet-18/50 state_dicts (seeded, with
/// non-trivial BatchNorm statistics), an input and its eval-mode features. Empty path: no
/// torchvision in /usr/bin/python3.
const std::filesystem::path& python_weights() {
  static radiossl::test::TempDir dir;
  static const std::filesystem::path result = [] {
    if (std::system("/usr/bin/python3 -c 'import torchvision' > /dev/null 2>&1") != 0)
      return std::filesystem::path();
    const auto script = dir / "save.py";
    std::ofstream(script) << R"(import sys, torch, torchvision
torch.manual_seed(7)
out = sys.argv[1]
for name, ctor in (("resnet18", torchvision.models.resnet18), ("resnet50", torchvision.models.resnet50)):
    m = ctor()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so that buffers matter in eval mode
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.1); mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5); mod.bias.normal_(0, 0.1)
    m.eval()
    torch.save(m.state_dict(), f"{out}/{name}.pt")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        m.fc = torch.nn.Identity()
        y = m(x)
    torch.save({"x": x, "y": y, "keys": "\n".join(k for k in m.state_dict())}, f"{out}/{name}_io.pt")
)";
    const std::string cmd =
        "OMP_NUM_THREADS=1 /usr/bin/python3 " + script.string() + " " + dir.path().string() + " > /dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("the torchvision script failed");
    return dir.path();
  }();
  return result;
}

TEST_CASE("torchvision ResNet-18 weights load and give torchvision's features",
          "[backbone][python]") {
  const auto& dir = python_weights();
  if (dir.empty()) {
    WARN("skipped: /usr/bin/python3 has no torchvision");
    return;
  }
  bb::ResNet18 net;
  bb::load_torchvision_weights(net, dir / "resnet18.pt");
  net->eval();
  const auto io = load_pickle(dir / "resnet18_io.pt");
  torch::NoGradGuard no_grad;
  CHECK(closeness(net->forward(dict_tensor(io, "x")), dict_tensor(io, "y"), 1e-4, 1e-4) == "ok");

  std::set<std::string> python_names;
  std::istringstream keys(io.toGenericDict().at("keys").toStringRef());
  for (std::string k; std::getline(keys, k);) python_names.insert(k);
  CHECK(python_names.size() == 120);
  CHECK(python_names == state_names(net));

  // A 3-channel conv1 loads into a one-channel backbone summed over channels: the same features
  // as replicating the channel.
  bb::ResNet18 one(bb::ResNetOptions().in_channels(1));
  bb::load_torchvision_weights(one, dir / "resnet18.pt");
  one->eval();
  const auto gray = dict_tensor(io, "x").narrow(1, 0, 1);
  CHECK(closeness(one->forward(gray), net->forward(gray.repeat({1, 3, 1, 1})), 1e-4, 1e-4) ==
        "ok");

  bb::ResNet50 wrong;
  CHECK_THROWS_WITH(bb::load_torchvision_weights(wrong, dir / "resnet18.pt"),
                    Catch::Contains("resnet18.pt"));
  bb::ResNet18 narrow(bb::ResNetOptions().width(8));
  CHECK_THROWS_WITH(bb::load_torchvision_weights(narrow, dir / "resnet18.pt"),
                    Catch::Contains("shape of 'conv1.weight'"));
  CHECK_THROWS_WITH(bb::load_torchvision_weights(net, dir / "missing.pt"),
                    Catch::Contains("missing.pt"));
  CHECK_THROWS_AS(bb::load_torchvision_weights(net, dir / "save.py"), radiossl::Error);
}

TEST_CASE("torchvision ResNet-50 weights load and give torchvision's features",
          "[backbone][python]") {
  const auto& dir = python_weights();
  if (dir.empty()) {
    WARN("skipped: /usr/bin/python3 has no torchvision");
    return;
  }
  bb::ResNet50 net;
  bb::load_torchvision_weights(net, dir / "resnet50.pt");
  net->eval();
  const auto io = load_pickle(dir / "resnet50_io.pt");
  torch::NoGradGuard no_grad;
  CHECK(closeness(net->forward(dict_tensor(io, "x")), dict_tensor(io, "y"), 1e-4, 1e-4) == "ok");
}

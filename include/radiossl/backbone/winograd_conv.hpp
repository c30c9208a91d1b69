/// @file
/// ResNet's 3x3 stride-1 convolutions by Winograd's F(4x4, 3x3) algorithm, on oneDNN.
///
/// LibTorch runs every float32 CPU convolution with oneDNN's direct algorithm. oneDNN also has a
/// Winograd kernel for 3x3 stride-1 convolutions (`jit_wino_4x3`, AVX-512 CPUs), which does 2.25x
/// fewer multiplications, but LibTorch never asks for it. Measured on the development machine
/// (oneDNN 2.6.3, the library LibTorch itself loads, 2 threads, batch 32), ResNet-18's 3x3
/// convolutions at 224 px took, direct against Winograd, in ms:
///
/// | channels, map | forward | input gradient | weight gradient |
/// |---|---|---|---|
/// | 64, 56x56 | 35.6 / 16.2 | 38.0 / 16.0 | 39.1 / 25.6 |
/// | 128, 28x28 | 33.3 / 15.4 | 33.6 / 15.7 | 36.9 / 22.6 |
/// | 256, 14x14 | 31.9 / 18.0 | 38.8 / 17.9 | 40.7 / 18.9 |
/// | 512, 7x7 | 29.6 / 17.6 | 29.5 / 17.6 | 62.4 / 21.0 |
///
/// Its data layout is oneDNN's blocked one, so activations are reordered in and out (6.6 ms for the
/// 64-channel 56x56 map, both ways). On 2x2 maps (64 px inputs) the 4x4 tiles are mostly padding
/// and Winograd was 2.6x slower, on 4x4 maps about equal: `winograd_min_pixels`.
///
/// Winograd's transforms round differently from direct summation, as cuDNN's Winograd kernels do
/// on GPUs: outputs and gradients agree with torch::conv2d to about 1e-6 of their largest value in
/// float32 (tests/backbone.cpp checks 1e-5). A backbone's blocks use it once switched on
/// (`set_winograd`); the Trainer switches it on where available (TrainerOptions::winograd).
///
/// Needs oneDNN 2.x's headers at build time (Debian 12: libdnnl-dev; CMake defines RADIOSSL_HAVE_DNNL
/// and links the same libdnnl.so.2 that Debian's LibTorch loads). oneDNN 3.x has no x64 Winograd
/// kernel (3.7 refuses convolution_winograd on AVX-512), so CMake leaves it out there. Without
/// them, or on a CPU without the kernel, radiossl's own AVX2 Winograd (backbone/winograd_avx2.hpp)
/// takes the large convolutions where it is faster; on a CPU without AVX2 either,
/// `winograd_available()` is false and the convolutions stay LibTorch's.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "radiossl/backbone/winograd_avx2.hpp"
#include "radiossl/torch_fwd.hpp"

#include <torch/csrc/autograd/custom_function.h>

#if defined(RADIOSSL_HAVE_DNNL)
#include <oneapi/dnnl/dnnl.hpp>
#if DNNL_VERSION_MAJOR != 2
#error "radiossl's Winograd convolutions need oneDNN 2.x (3.x has no x64 Winograd kernel): build without RADIOSSL_HAVE_DNNL"
#endif
#endif

namespace radiossl::backbone {

namespace detail {

/// Output maps of fewer pixels keep the direct algorithm (see the file comment).
inline constexpr std::int64_t winograd_min_pixels = 16;

#if defined(RADIOSSL_HAVE_DNNL)

/// The oneDNN primitives for one convolution shape: forward, input gradient, weight gradient.
struct WinogradPlan {
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_backward_data::primitive_desc data_pd;
  dnnl::convolution_backward_weights::primitive_desc weights_pd;
  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_data data;
  dnnl::convolution_backward_weights weights;
};

inline dnnl::engine& winograd_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

/// The plan for an [n, c, h, w] input and [o, c, 3, 3] weight, built once per shape; nullptr
/// where oneDNN has no Winograd kernel for it (a CPU without AVX-512).
inline const WinogradPlan* winograd_plan(std::int64_t n, std::int64_t c, std::int64_t o, std::int64_t h,
                                         std::int64_t w) {
  using dnnl::memory;
  static std::mutex mutex;
  static std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t>,
                  std::unique_ptr<WinogradPlan>>
      plans;
  const std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_tuple(n, c, o, h, w);
  if (auto it = plans.find(key); it != plans.end()) return it->second.get();
  std::unique_ptr<WinogradPlan> plan;
  try {
    const memory::desc src({n, c, h, w}, memory::data_type::f32, memory::format_tag::any);
    const memory::desc wei({o, c, 3, 3}, memory::data_type::f32, memory::format_tag::any);
    const memory::desc dst({n, o, h, w}, memory::data_type::f32, memory::format_tag::any);
    const memory::dims stride{1, 1}, pad{1, 1};
    const auto alg = dnnl::algorithm::convolution_winograd;
    // Scratch memory comes from LibTorch's allocator, per call, so that one plan is safe to run
    // from several threads.
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::engine& e = winograd_engine();
    auto fwd_pd = dnnl::convolution_forward::primitive_desc(
        {dnnl::prop_kind::forward_training, alg, src, wei, dst, stride, pad, pad}, attr, e);
    auto data_pd = dnnl::convolution_backward_data::primitive_desc({alg, src, wei, dst, stride, pad, pad}, attr, e,
                                                                    fwd_pd);
    auto weights_pd = dnnl::convolution_backward_weights::primitive_desc({alg, src, wei, dst, stride, pad, pad},
                                                                          attr, e, fwd_pd);
    plan = std::make_unique<WinogradPlan>(WinogradPlan{fwd_pd, data_pd, weights_pd, dnnl::convolution_forward(fwd_pd),
                                                       dnnl::convolution_backward_data(data_pd),
                                                       dnnl::convolution_backward_weights(weights_pd)});
  } catch (const dnnl::error&) {
    plan = nullptr;  // no Winograd kernel for this CPU or shape: the caller keeps LibTorch's
  }
  return (plans[key] = std::move(plan)).get();
}

/// A LibTorch buffer for `desc` (oneDNN's blocked layouts can be padded past the logical size).
inline torch::Tensor buffer_for(const dnnl::memory::desc& desc) {
  return torch::empty({static_cast<std::int64_t>((desc.get_size() + 3) / 4)}, torch::kFloat);
}

/// Wraps a float32 [a, b, h, w] tensor, NCHW-contiguous or channels_last, as oneDNN memory.
inline dnnl::memory wrap_plain(const torch::Tensor& t, bool is_weight) {
  using tag = dnnl::memory::format_tag;
  const bool nhwc = !t.is_contiguous() && t.is_contiguous(at::MemoryFormat::ChannelsLast);
  const tag layout = is_weight ? (nhwc ? tag::ohwi : tag::oihw) : (nhwc ? tag::nhwc : tag::nchw);
  return dnnl::memory({{t.size(0), t.size(1), t.size(2), t.size(3)}, dnnl::memory::data_type::f32, layout},
                      winograd_engine(), t.data_ptr());
}

/// Copies `from` into a new LibTorch buffer laid out as `desc`; returns the buffer and its memory.
inline std::pair<torch::Tensor, dnnl::memory> reorder_to(dnnl::stream& s, dnnl::memory from,
                                                         const dnnl::memory::desc& desc) {
  torch::Tensor buf = buffer_for(desc);
  dnnl::memory to(desc, winograd_engine(), buf.data_ptr());
  dnnl::reorder(from, to).execute(s, from, to);
  return {std::move(buf), std::move(to)};
}

/// Copies oneDNN memory into `t` (a plain LibTorch tensor of the same logical shape).
inline void reorder_into(dnnl::stream& s, dnnl::memory from, const torch::Tensor& t, bool is_weight) {
  dnnl::memory to = wrap_plain(t, is_weight);
  dnnl::reorder(from, to).execute(s, from, to);
}

/// Runs `p` with a scratchpad from LibTorch's allocator.
template <class Primitive, class PrimitiveDesc>
void execute(dnnl::stream& s, const Primitive& p, const PrimitiveDesc& pd, std::unordered_map<int, dnnl::memory> args) {
  const torch::Tensor scratch = buffer_for(pd.scratchpad_desc());
  args.insert({DNNL_ARG_SCRATCHPAD, dnnl::memory(pd.scratchpad_desc(), winograd_engine(), scratch.data_ptr())});
  p.execute(s, args);
}

/// Forward pass of `x` (laid out as conv_layout(x, weight)) to a new output.
inline torch::Tensor winograd_forward(const WinogradPlan& plan, const torch::Tensor& x, const torch::Tensor& weight) {
  const at::MemoryFormat layout = conv_layout(x, weight);
  const torch::Tensor wc = weight.contiguous(weight.suggest_memory_format());
  dnnl::stream s(winograd_engine());
  auto [src_buf, src] = reorder_to(s, wrap_plain(x.contiguous(layout), false), plan.fwd_pd.src_desc());
  auto [wei_buf, wei] = reorder_to(s, wrap_plain(wc, true), plan.fwd_pd.weights_desc());
  const torch::Tensor dst_buf = buffer_for(plan.fwd_pd.dst_desc());
  const dnnl::memory dst(plan.fwd_pd.dst_desc(), winograd_engine(), dst_buf.data_ptr());
  execute(s, plan.fwd, plan.fwd_pd, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
  torch::Tensor y = torch::empty({x.size(0), weight.size(0), x.size(2), x.size(3)}, x.options(), layout);
  reorder_into(s, dst, y, false);
  s.wait();
  return y;
}

/// Autograd of the Winograd convolution; the plan is found again from the saved shapes.
///
/// Note: the weight gradient reorders the input into the plan's layout again rather than keeping
/// the forward pass's copy: the input is kept anyway (ResNet's ReLU saves it), and the copy is a
/// second set of activations. For the ResNet-18 SimCLR step bench at 224 px, keeping it took peak
/// memory to 2.95 GB, against 2.69-2.75 GB this way and 2.48 GB for LibTorch's direct
/// convolutions, for 1-9% of the step's time (3 interleaved rounds).
struct WinogradConvFunction : torch::autograd::Function<WinogradConvFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight) {
    const WinogradPlan* plan = winograd_plan(x.size(0), x.size(1), weight.size(0), x.size(2), x.size(3));
    const torch::Tensor xc = x.contiguous(conv_layout(x, weight));  // x itself unless its layout differs
    torch::Tensor y = winograd_forward(*plan, xc, weight);
    ctx->save_for_backward({xc, weight});
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& weight = saved[1];
    const at::MemoryFormat layout = conv_layout(x, weight);
    const WinogradPlan& plan = *winograd_plan(x.size(0), x.size(1), weight.size(0), x.size(2), x.size(3));
    dnnl::stream s(winograd_engine());
    const torch::Tensor dy = grads[0].contiguous(layout);
    auto [dd_buf, diff_dst] = reorder_to(s, wrap_plain(dy, false), plan.data_pd.diff_dst_desc());
    torch::Tensor dx, dweight;
    if (ctx->needs_input_grad(0)) {
      const torch::Tensor wc = weight.contiguous(weight.suggest_memory_format());
      auto [wei_buf, wei] = reorder_to(s, wrap_plain(wc, true), plan.data_pd.weights_desc());
      const torch::Tensor ds_buf = buffer_for(plan.data_pd.diff_src_desc());
      const dnnl::memory diff_src(plan.data_pd.diff_src_desc(), winograd_engine(), ds_buf.data_ptr());
      execute(s, plan.data, plan.data_pd,
              {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, diff_src}});
      dx = torch::empty(x.sizes(), dy.options(), layout);
      reorder_into(s, diff_src, dx, false);
    }
    if (ctx->needs_input_grad(1)) {
      auto [src_buf, src] = reorder_to(s, wrap_plain(x, false), plan.weights_pd.src_desc());
      torch::Tensor dd_copy;  // only where the weight-gradient kernel wants another layout
      dnnl::memory dd = diff_dst;
      if (plan.weights_pd.diff_dst_desc() != plan.data_pd.diff_dst_desc())
        std::tie(dd_copy, dd) = reorder_to(s, diff_dst, plan.weights_pd.diff_dst_desc());
      const torch::Tensor dw_buf = buffer_for(plan.weights_pd.diff_weights_desc());
      const dnnl::memory diff_w(plan.weights_pd.diff_weights_desc(), winograd_engine(), dw_buf.data_ptr());
      execute(s, plan.weights, plan.weights_pd,
              {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, dd}, {DNNL_ARG_DIFF_WEIGHTS, diff_w}});
      dweight = torch::empty(weight.sizes(), weight.options(), weight.suggest_memory_format());
      reorder_into(s, diff_w, dweight, true);
    }
    s.wait();
    return {dx, dweight};
  }
};

#endif  // RADIOSSL_HAVE_DNNL

}  // namespace detail

/// Whether oneDNN's Winograd kernel runs here (oneDNN headers found at build time, and a CPU with
/// AVX-512).
inline bool winograd_onednn_available() {
#if defined(RADIOSSL_HAVE_DNNL)
  static const bool available = detail::winograd_plan(2, 16, 16, 8, 8) != nullptr;
  return available;
#else
  return false;
#endif
}

/// Whether this build and CPU run 3x3 convolutions by Winograd: oneDNN's kernel (AVX-512), or
/// else radiossl's own (backbone/winograd_avx2.hpp, AVX2 and FMA), which takes only the shapes
/// where it measured faster (detail::winograd_avx2_pays).
inline bool winograd_available() { return winograd_onednn_available() || detail::winograd_avx2_available(); }

/// The 3x3, stride-1, padding-1 convolution of ResNet's blocks by Winograd, where it is faster
/// and available: float32 dense tensors on a CPU, output maps of at least
/// detail::winograd_min_pixels pixels, LibTorch's oneDNN switch on. Returns std::nullopt where it
/// does not apply, for the caller to run LibTorch's.
inline std::optional<torch::Tensor> winograd_conv3x3(const torch::Tensor& x, const torch::Tensor& weight) {
  const bool eligible = x.dim() == 4 && weight.dim() == 4 && weight.size(2) == 3 && weight.size(3) == 3 &&
                        x.size(1) == weight.size(1) && x.device().is_cpu() && weight.device().is_cpu() &&
                        x.layout() == torch::kStrided && !x.is_mkldnn() && x.scalar_type() == torch::kFloat &&
                        weight.scalar_type() == torch::kFloat && x.size(2) * x.size(3) >= detail::winograd_min_pixels &&
                        at::globalContext().userEnabledMkldnn() && winograd_available();
  if (!eligible) return std::nullopt;
  const bool graph = torch::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad());
#if defined(RADIOSSL_HAVE_DNNL)
  if (winograd_onednn_available()) {
    const detail::WinogradPlan* plan =
        detail::winograd_plan(x.size(0), x.size(1), weight.size(0), x.size(2), x.size(3));
    if (plan == nullptr) return std::nullopt;
    if (graph) return detail::WinogradConvFunction::apply(x, weight);
    return detail::winograd_forward(*plan, x, weight);  // no graph: nothing to keep
  }
#endif
  if (!detail::winograd_avx2_pays(x, weight)) return std::nullopt;
  if (graph) return detail::WinogradAvx2ConvFunction::apply(x, weight);
  return detail::WinogradAvx2ConvFunction::apply_forward(x, weight);
}

/// A module whose 3x3 convolutions can run by Winograd (ResNet's blocks); off when built.
class WinogradSwitch {
 public:
  virtual ~WinogradSwitch() = default;
  void set_winograd(bool on) { winograd_ = on; }
  [[nodiscard]] bool winograd() const { return winograd_; }

 private:
  bool winograd_ = false;
};

/// Calls `f(switch_owner, switch)` for every WinogradSwitch inside `module` (itself included).
template <class F>
void for_each_winograd_switch(torch::nn::Module& module, F&& f) {
  for (const auto& m : module.modules(/*include_self=*/true))
    if (auto* s = dynamic_cast<WinogradSwitch*>(m.get())) f(m, *s);
}

/// Switches Winograd on or off in every WinogradSwitch inside `module` (itself included), e.g. a
/// backbone, or a method holding an EMA copy of one; returns how many were switched.
inline std::int64_t set_winograd(torch::nn::Module& module, bool on) {
  std::int64_t switched = 0;
  for_each_winograd_switch(module, [&](const auto&, WinogradSwitch& s) {
    s.set_winograd(on);
    ++switched;
  });
  return switched;
}

/// How many WinogradSwitch inside `module` (itself included) are on.
inline std::int64_t winograd_switched_on(torch::nn::Module& module) {
  std::int64_t on = 0;
  for_each_winograd_switch(module, [&](const auto&, const WinogradSwitch& s) { on += s.winograd() ? 1 : 0; });
  return on;
}

/// Switches Winograd on or off inside `module` for the scope's lifetime, then puts every switch
/// back as it was: eval::evaluate scores a backbone with the same convolutions whether it was
/// built fresh, reloaded from a file or left by a Trainer, and hands it back unchanged.
class WinogradScope {
 public:
  WinogradScope(torch::nn::Module& module, bool on) {
    for_each_winograd_switch(module, [&](const std::shared_ptr<torch::nn::Module>& owner, WinogradSwitch& s) {
      saved_.emplace_back(std::shared_ptr<WinogradSwitch>(owner, &s), s.winograd());  // keeps the module alive
      s.set_winograd(on);
    });
  }
  ~WinogradScope() {
    for (const auto& [s, was] : saved_) s->set_winograd(was);
  }
  WinogradScope(const WinogradScope&) = delete;
  WinogradScope& operator=(const WinogradScope&) = delete;

 private:
  std::vector<std::pair<std::shared_ptr<WinogradSwitch>, bool>> saved_;
};

}  // namespace radiossl::backbone

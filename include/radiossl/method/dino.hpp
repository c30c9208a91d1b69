/// @file
/// DINO (Caron et al. 2021, arXiv:2104.14294) as solo-learn implements it (solo/methods/dino.py).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "radiossl/concepts/method.hpp"
#include "radiossl/loss/dino.hpp"
#include "radiossl/method/heads.hpp"
#include "radiossl/method/momentum.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::method {

/// DINO's options; defaults are the `paper` preset (section 4.1: lr 0.016, projection
/// (bottleneck) 256) with solo-learn's banner config where the paper is silent (hidden 2048,
/// 4096 prototypes, teacher temperature 0.04 -> 0.07 over 50 epochs, tau 0.9995 -> 1.0, weight
/// decay 1e-6) and solo-learn's defaults otherwise. The optimizer behind lr 0.016 is unverified.
struct DINOOptions {
  static DINOOptions paper() { return {}; }
  TORCH_ARG(std::int64_t, proj_hidden_dim) = 2048;
  TORCH_ARG(std::int64_t, proj_output_dim) = 256;
  TORCH_ARG(std::int64_t, num_prototypes) = 4096;
  TORCH_ARG(bool, use_bn_in_head) = false;
  TORCH_ARG(bool, norm_last_layer) = true;
  TORCH_ARG(double, student_temperature) = 0.1;
  TORCH_ARG(double, teacher_temperature) = 0.07;
  TORCH_ARG(double, warmup_teacher_temperature) = 0.04;
  /// Epochs of the linear teacher-temperature warm-up (0: no warm-up).
  TORCH_ARG(std::int64_t, warmup_teacher_temperature_epochs) = 50;
  /// The last layer gets no gradient during the first `freeze_last_layer` epochs.
  TORCH_ARG(std::int64_t, freeze_last_layer) = 1;
  /// Per-parameter gradient clipping of the backbone (0: off), in on_after_backward.
  TORCH_ARG(double, clip_grad) = 0.0;
  TORCH_ARG(double, center_momentum) = 0.9;
  TORCH_ARG(double, tau_base) = 0.9995;
  TORCH_ARG(double, tau_final) = 1.0;
  TORCH_ARG(double, lr) = 0.016;
  TORCH_ARG(double, weight_decay) = 1e-6;
};

/// solo-learn's per-epoch teacher temperature: linspace(warmup, final, W)[epoch] for epoch < W,
/// then final (linear, not cosine).
inline double dino_teacher_temperature(const DINOOptions& o, std::int64_t epoch) {
  const std::int64_t w = o.warmup_teacher_temperature_epochs();
  if (epoch >= w) return o.teacher_temperature();
  if (w == 1) return o.warmup_teacher_temperature();
  return o.warmup_teacher_temperature() +
         (o.teacher_temperature() - o.warmup_teacher_temperature()) * static_cast<double>(epoch) /
             static_cast<double>(w - 1);
}

/// DINO: student head (DINOHead) on every crop, EMA teacher (backbone and head) on the large
/// crops, centring with momentum 0.9, teacher-temperature warm-up and last-layer freezing.
///
/// State saved with the module: `center`, `tau`, `teacher_temperature`, `epoch`, the teacher
/// (`momentum_backbone`, `momentum_head`). parameters() leaves the teacher out.
class DINOImpl : public torch::nn::Cloneable<DINOImpl> {
 public:
  using Options = DINOOptions;
  static constexpr std::string_view name = "dino";
  static constexpr int min_large_crops = 2;
  /// Keeps an EMA teacher cloned from the backbone (checked by concepts/compatible.hpp).
  static constexpr bool has_teacher = true;

  DINOImpl(std::int64_t feature_dim, Options options = {})
      : feature_dim_(feature_dim), options_(options) {
    reset();
  }

  void reset() override {
    const auto& o = options_;
    const auto head_options =
        DINOHeadOptions(feature_dim_, o.proj_hidden_dim(), o.proj_output_dim(), o.num_prototypes())
            .use_bn(o.use_bn_in_head())
            .norm_last_layer(o.norm_last_layer());
    head = register_module("head", DINOHead(head_options));
    momentum_head = register_module("momentum_head", DINOHead(head_options));
    initialize_momentum(*momentum_head, *head);
    center = register_buffer("center", torch::zeros({1, o.num_prototypes()}));
    tau = register_buffer("tau", torch::full({}, o.tau_base(), torch::kDouble));
    teacher_temperature = register_buffer(
        "teacher_temperature", torch::full({}, dino_teacher_temperature(o, 0), torch::kDouble));
    epoch = register_buffer("epoch", torch::zeros({}, torch::kLong));
  }

  template <CloneableBackbone B>
  void on_train_start(B& backbone) {
    if (!momentum_backbone)
      momentum_backbone = register_module("momentum_backbone", make_momentum_backbone(backbone));
  }

  /// Sets the epoch: teacher temperature of the schedule, and last-layer freezing.
  void on_epoch_start(std::int64_t current_epoch, std::int64_t /*epochs*/) {
    epoch.fill_(current_epoch);
    teacher_temperature.fill_(dino_teacher_temperature(options_, current_epoch));
  }

  template <CloneableBackbone B>
  StepOutput training_step(B& backbone, const Views& views) {
    detail::check_views(views, min_large_crops, name);
    on_train_start(backbone);
    // solo-learn drops the last layer's gradients while epoch < freeze_last_layer; a frozen
    // weight gets none, which the optimizers skip the same way.
    head->last_layer->set_frozen(epoch.item<std::int64_t>() < options_.freeze_last_layer());
    std::vector<torch::Tensor> student, teacher;
    for (const auto& v : views) student.push_back(head->forward(backbone->forward(v)));
    {
      torch::NoGradGuard no_grad;
      for (int i = 0; i < min_large_crops; ++i)
        teacher.push_back(momentum_head->forward(momentum_forward<B>(momentum_backbone, views[i])));
    }
    const torch::Tensor teacher_logits = torch::cat(teacher);
    const torch::Tensor value = loss::dino(torch::cat(student), teacher_logits, center,
                                          options_.student_temperature(),
                                          teacher_temperature.item<double>(), min_large_crops);
    {
      torch::NoGradGuard no_grad;
      center.copy_(loss::dino_center_update(center, teacher_logits, options_.center_momentum()));
    }
    return {value, {}};
  }

  /// solo-learn's clip_gradients: g *= clip / (||g|| + 1e-6) per backbone parameter, when < 1.
  template <Backbone B>
  void on_after_backward(B& backbone) {
    if (options_.clip_grad() <= 0.0) return;
    torch::NoGradGuard no_grad;
    for (auto& p : backbone->parameters()) {
      if (!p.grad().defined()) continue;
      const double coef = options_.clip_grad() / (p.grad().norm().template item<double>() + 1e-6);
      if (coef < 1.0) p.mutable_grad().mul_(coef);
    }
  }

  template <CloneableBackbone B>
  void on_step_end(B& backbone, double progress) {
    on_train_start(backbone);
    const double t = tau.item<double>();
    ema_update(*momentum_backbone, *backbone, t);
    ema_update(*momentum_head, *head, t);
    tau.fill_(cosine_tau(options_.tau_base(), options_.tau_final(), progress));
  }

  std::vector<torch::Tensor> parameters(bool /*recurse*/ = true) const {
    return learnable_parameters(*this);
  }

  const Options& options() const { return options_; }

  DINOHead head{nullptr}, momentum_head{nullptr};
  std::shared_ptr<torch::nn::Module> momentum_backbone;
  torch::Tensor center, tau, teacher_temperature, epoch;

 private:
  std::int64_t feature_dim_;
  Options options_;
};
TORCH_MODULE(DINO);

}  // namespace radiossl::method

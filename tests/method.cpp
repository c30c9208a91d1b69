// The six methods on a narrow ResNet-18 (8 x 3 x 32 x 32 views): a step runs with a finite loss
// and gradients reaching backbone and heads; EMA, queues, centring, Sinkhorn and whitening.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "support/catch.hpp"

#include "radiossl/backbone/resnet.hpp"
#include "radiossl/concepts/method.hpp"
#include "radiossl/detail/sinkhorn.hpp"
#include "radiossl/detail/whitening.hpp"
#include "radiossl/method/all4one.hpp"
#include "radiossl/method/byol.hpp"
#include "radiossl/method/dense.hpp"
#include "radiossl/method/dino.hpp"
#include "radiossl/method/simclr.hpp"
#include "radiossl/method/swav.hpp"
#include "radiossl/method/wmse.hpp"
#include "radiossl/torch_fwd.hpp"
#include "support/tensor_compare.hpp"

namespace bb = radiossl::backbone;
namespace m = radiossl::method;
using radiossl::test::closeness;

static_assert(radiossl::Method<m::SimCLR, bb::ResNet18>);
static_assert(radiossl::Method<m::BYOL, bb::ResNet18>);
static_assert(radiossl::Method<m::DINO, bb::ResNet50>);
static_assert(radiossl::Method<m::WMSE, bb::ResNet18>);
static_assert(radiossl::Method<m::SwAV, bb::ResNet18>);
static_assert(radiossl::Method<m::All4One, bb::ResNet50>);

namespace {

bb::ResNet18 narrow_backbone() { return bb::ResNet18(bb::ResNetOptions().width(8)); }

radiossl::Views make_views(int count = 2, std::int64_t n = 8, std::int64_t size = 32) {
  radiossl::Views views;
  for (int i = 0; i < count; ++i) views.push_back(torch::randn({n, 3, size, size}));
  return views;
}

bool has_nonzero_grad(const torch::Tensor& p) {
  return p.grad().defined() && p.grad().abs().sum().item<double>() > 0.0;
}

/// One step + backward: finite loss, gradient in the backbone's first conv and in the method
/// parameter named `head_param`.
template <class M>
torch::Tensor step_and_check(M& method, bb::ResNet18& backbone, const radiossl::Views& views,
                             const std::string& head_param) {
  auto out = method->training_step(backbone, views);
  REQUIRE(out.loss.defined());
  CHECK(out.loss.dim() == 0);
  CHECK(std::isfinite(out.loss.template item<double>()));
  out.loss.backward();
  CHECK(has_nonzero_grad(backbone->conv1->weight));
  CHECK(has_nonzero_grad(backbone->named_parameters()["layer4.1.bn2.weight"]));
  const auto named = method->named_parameters();
  REQUIRE(named.contains(head_param));
  CHECK(has_nonzero_grad(named[head_param]));
  return out.loss;
}

}  // namespace

TEST_CASE("Dense: torch::nn::Linear's parameters, initialisation, output and gradients",
          "[method][dense]") {
  torch::manual_seed(5);
  torch::nn::Linear linear(48, 20);
  torch::manual_seed(5);
  m::Dense dense(48, 20);
  const auto expected = linear->named_parameters(), actual = dense->named_parameters();
  REQUIRE(actual.keys() == expected.keys());
  for (const auto& key : expected.keys()) CHECK(torch::equal(actual[key], expected[key]));
  CHECK_FALSE(m::Dense(torch::nn::LinearOptions(4, 3).bias(false))->bias.defined());

  // float32 batches (the oneDNN path), a batch of one and float64 (torch::linear), and a
  // non-contiguous input: the result and all three gradients equal torch::linear's.
  for (auto [n, dtype, transposed] :
       {std::tuple{7, torch::kFloat, false}, std::tuple{1, torch::kFloat, false},
        std::tuple{7, torch::kDouble, false}, std::tuple{5, torch::kFloat, true}}) {
    CAPTURE(n, transposed);
    const torch::Tensor x0 = transposed ? torch::randn({48, n}, dtype).t() : torch::randn({n, 48}, dtype);
    const torch::Tensor w0 = torch::randn({20, 48}, dtype), b0 = torch::randn({20}, dtype);
    const torch::Tensor up = torch::randn({n, 20}, dtype);
    auto grads = [&](auto&& f) {
      torch::Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(),
                    b = b0.clone().requires_grad_();
      torch::Tensor y = f(x, w, b);
      (y * up).sum().backward();
      return std::vector<torch::Tensor>{y.detach(), x.grad(), w.grad(), b.grad()};
    };
    const auto ref = grads([](auto& x, auto& w, auto& b) { return torch::linear(x, w, b); });
    const auto got = grads([](auto& x, auto& w, auto& b) { return m::dense(x, w, b); });
    const double rtol = dtype == torch::kDouble ? 1e-12 : 1e-5;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      CAPTURE(i);
      CHECK(closeness(got[i], ref[i], rtol, rtol) == "ok");
    }
  }
  const torch::Tensor x = torch::randn({6, 48});
  CHECK(closeness(dense->forward(x), linear->forward(x), 1e-5, 1e-5) == "ok");
  const torch::Tensor no_bias = m::dense(x, linear->weight);
  CHECK(closeness(no_bias, torch::linear(x, linear->weight), 1e-5, 1e-5) == "ok");
}

TEST_CASE("SimCLR: a step trains backbone and projector", "[method][simclr]") {
  auto backbone = narrow_backbone();
  m::SimCLR method(backbone->feature_dim(),
                   m::SimCLROptions().proj_hidden_dim(32).proj_output_dim(16));
  const auto loss = step_and_check(method, backbone, make_views(3), "projector.0.weight");
  // NT-Xent is a cross-entropy over 2N - 1 = 23 candidates per row at 3 views * 8.
  CHECK(loss.item<double>() > 0.0);
  CHECK(m::SimCLROptions::paper().proj_output_dim() == 512);
  CHECK(m::SimCLROptions::paper().temperature() == 0.2);
  CHECK_THROWS_AS(method->training_step(backbone, make_views(1)), radiossl::Error);
}

TEST_CASE("BYOL: step, EMA by the expected amount, tau schedule, learnable parameters",
          "[method][byol]") {
  auto backbone = narrow_backbone();
  m::BYOL method(backbone->feature_dim(),
                 m::BYOLOptions().proj_hidden_dim(32).proj_output_dim(16).pred_hidden_dim(32));
  method->on_train_start(backbone);
  REQUIRE(method->momentum_backbone);
  const auto loss = step_and_check(method, backbone, make_views(), "predictor.0.weight");
  CHECK(loss.item<double>() >= 0.0);
  CHECK(loss.item<double>() <= 8.0);  // the sum of two directions in [0, 4] each

  // parameters() is what the optimizer gets: no teacher, and the teacher has no gradient.
  const auto learnable = method->parameters();
  std::int64_t all = 0;
  for (const auto& item : method->named_parameters())
    if (item.key().rfind("momentum_", 0) != 0) ++all;
  CHECK(static_cast<std::int64_t>(learnable.size()) == all);
  CHECK(static_cast<std::int64_t>(method->torch::nn::Module::parameters().size()) > all);
  for (const auto& p : method->momentum_backbone->parameters()) {
    CHECK_FALSE(p.requires_grad());
    CHECK_FALSE(p.grad().defined());
  }

  // Pretend an optimizer step moved the online network, then check theta_m' = tau theta_m +
  // (1 - tau) theta with tau = 0.99, and tau(progress 0.5) = 0.995.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : backbone->parameters()) p.add_(0.1);
  }
  const auto teacher_before = method->momentum_backbone->named_parameters()["conv1.weight"].clone();
  const auto online = backbone->conv1->weight.detach().clone();
  const auto proj_before = method->momentum_projector->named_parameters()["0.weight"].clone();
  const auto proj_online = method->projector->named_parameters()["0.weight"].detach().clone();
  method->on_step_end(backbone, 0.5);
  CHECK(closeness(method->momentum_backbone->named_parameters()["conv1.weight"],
                  0.99 * teacher_before + 0.01 * online, 1e-6, 1e-7) == "ok");
  CHECK(closeness(method->momentum_projector->named_parameters()["0.weight"],
                  0.99 * proj_before + 0.01 * proj_online, 1e-6, 1e-7) == "ok");
  CHECK(method->tau.item<double>() == Approx(0.995).epsilon(1e-12));
  CHECK(m::cosine_tau(0.99, 1.0, 0.0) == Approx(0.99));
  CHECK(m::cosine_tau(0.99, 1.0, 1.0) == Approx(1.0));

  // The teacher and tau are saved with the method.
  std::stringstream buffer;
  torch::save(method, buffer);
  m::BYOL restored(backbone->feature_dim(),
                   m::BYOLOptions().proj_hidden_dim(32).proj_output_dim(16).pred_hidden_dim(32));
  restored->on_train_start(backbone);
  torch::load(restored, buffer);
  CHECK(restored->tau.item<double>() == Approx(0.995));
  CHECK(restored->momentum_backbone->named_parameters()["conv1.weight"].equal(
      method->momentum_backbone->named_parameters()["conv1.weight"]));
}

TEST_CASE("DINO: step, centre update, teacher temperature, last-layer freezing",
          "[method][dino]") {
  auto backbone = narrow_backbone();
  const auto options = m::DINOOptions()
                           .proj_hidden_dim(32)
                           .proj_output_dim(16)
                           .num_prototypes(24)
                           .warmup_teacher_temperature_epochs(50);
  m::DINO method(backbone->feature_dim(), options);
  CHECK(method->teacher_temperature.item<double>() == Approx(0.04));
  const auto views = make_views(3);  // two large crops and one more student view
  const auto center_before = method->center.clone();
  const auto loss = step_and_check(method, backbone, views, "head.mlp.0.weight");
  // Epoch 0 < freeze_last_layer: the last layer got no gradient.
  CHECK_FALSE(method->head->last_layer->weight_v.grad().defined());

  // center = 0.9 center + 0.1 mean of the teacher logits (teacher unchanged by the step).
  torch::Tensor teacher;
  {
    torch::NoGradGuard no_grad;
    teacher = torch::cat({method->momentum_head->forward(
                              m::momentum_forward<bb::ResNet18>(method->momentum_backbone, views[0])),
                          method->momentum_head->forward(
                              m::momentum_forward<bb::ResNet18>(method->momentum_backbone, views[1]))});
  }
  CHECK(closeness(method->center, 0.9 * center_before + 0.1 * teacher.mean(0, true), 1e-5, 1e-6) ==
        "ok");

  method->on_epoch_start(1, 100);
  CHECK(method->teacher_temperature.item<double>() == Approx(0.040612).epsilon(1e-5));
  method->on_epoch_start(25, 100);
  CHECK(method->teacher_temperature.item<double>() == Approx(0.055306).epsilon(1e-5));
  method->on_epoch_start(49, 100);
  CHECK(method->teacher_temperature.item<double>() == Approx(0.07));
  method->on_epoch_start(80, 100);
  CHECK(method->teacher_temperature.item<double>() == Approx(0.07));

  // From epoch 1 on the last layer trains; its rows stay unit-norm (frozen weight_g).
  method->zero_grad();
  method->training_step(backbone, views).loss.backward();
  CHECK(has_nonzero_grad(method->head->last_layer->weight_v));
  CHECK(closeness(method->head->last_layer->weight().norm(2, {1}), torch::ones({24}), 1e-5,
                  1e-6) == "ok");
  CHECK(loss.item<double>() > 0.0);

  // With norm_last_layer(false) the row norms g are learnt, and frozen with v during epoch 0.
  m::DINO learnt_norm(backbone->feature_dim(), m::DINOOptions(options).norm_last_layer(false));
  auto& last = learnt_norm->head->last_layer;
  learnt_norm->training_step(backbone, views).loss.backward();
  CHECK_FALSE(last->weight_g.grad().defined());
  CHECK_FALSE(last->weight_v.grad().defined());
  learnt_norm->on_epoch_start(1, 100);
  learnt_norm->training_step(backbone, views).loss.backward();
  CHECK(has_nonzero_grad(last->weight_g));
  CHECK(has_nonzero_grad(last->weight_v));

  // clip_grad: each backbone gradient is scaled to norm <= clip (solo-learn's clip_gradients).
  m::DINO clipped(backbone->feature_dim(), m::DINOOptions(options).clip_grad(1e-3));
  backbone->zero_grad();
  clipped->training_step(backbone, views).loss.backward();
  double largest = 0.0;
  for (const auto& p : backbone->parameters())
    if (p.grad().defined()) largest = std::max(largest, p.grad().norm().item<double>());
  REQUIRE(largest > 1e-3);
  clipped->on_after_backward(backbone);
  for (const auto& p : backbone->parameters())
    if (p.grad().defined()) CHECK(p.grad().norm().item<double>() <= 1e-3 * (1 + 1e-5));
}

TEST_CASE("W-MSE: step with whitening groups, stop-gradient option, whitening identity",
          "[method][wmse]") {
  auto backbone = narrow_backbone();
  m::WMSE method(backbone->feature_dim(),
                 m::WMSEOptions().proj_hidden_dim(32).proj_output_dim(4).whitening_size(8));
  step_and_check(method, backbone, make_views(2, 16), "projector.0.weight");
  m::WMSE original(backbone->feature_dim(), m::WMSEOptions()
                                                .proj_hidden_dim(32)
                                                .proj_output_dim(4)
                                                .whitening_size(8)
                                                .stop_gradient(false));
  step_and_check(original, backbone, make_views(2, 16), "projector.0.weight");
  CHECK_THROWS_WITH(method->training_step(backbone, make_views(2, 12)),
                    Catch::Contains("whitening_size"));

  const auto x = torch::randn({64, 8}, torch::kDouble) * torch::linspace(0.5, 3.0, 8, torch::kDouble) + 2.0;
  const auto w = radiossl::detail::whiten(x);
  const auto wc = w - w.mean(0, true);
  CHECK(closeness(wc.t().mm(wc) / 63.0, torch::eye(8, torch::kDouble), 1e-9, 1e-9) == "ok");
  CHECK(closeness(w.mean(0), torch::zeros({8}, torch::kDouble), 0, 1e-9) == "ok");
  const auto wf = radiossl::detail::whiten(x.to(torch::kFloat));
  CHECK(wf.scalar_type() == torch::kFloat);
}

TEST_CASE("SwAV: step, queue advances, prototype freezing, Sinkhorn marginals",
          "[method][swav]") {
  auto backbone = narrow_backbone();
  const auto options = m::SwAVOptions()
                           .proj_hidden_dim(32)
                           .proj_output_dim(16)
                           .num_prototypes(12)
                           .queue_size(24)
                           .epoch_queue_starts(1);
  m::SwAV method(backbone->feature_dim(), options);
  CHECK(method->queue.sizes() == torch::IntArrayRef({2, 24, 16}));
  const auto views = make_views(3);
  step_and_check(method, backbone, views, "projector.0.weight");
  CHECK_FALSE(method->prototypes->weight_v.grad().defined());  // frozen in epoch 0 < 2
  CHECK_FALSE(method->queue_active());

  torch::Tensor z0;
  {
    torch::NoGradGuard no_grad;
    z0 = method->projector->forward(backbone->forward(views[0]));
    z0 = z0 / z0.norm(2, {1}, true);
  }
  CHECK(closeness(method->queue[0].narrow(0, 0, 8), z0, 1e-5, 1e-6) == "ok");
  CHECK(method->queue[0].narrow(0, 8, 16).abs().sum().item<double>() == 0.0);

  method->on_epoch_start(2, 10);
  CHECK(method->queue_active());
  method->zero_grad();
  method->training_step(backbone, make_views(2)).loss.backward();
  CHECK(has_nonzero_grad(method->prototypes->weight_v));
  // The previous batch moved back by one batch.
  CHECK(closeness(method->queue[0].narrow(0, 8, 8), z0, 1e-5, 1e-6) == "ok");

  // A queue loaded from a checkpoint of another world size (torch::load set_s the saved shape)
  // restarts empty at this job's split, then fills as usual.
  method->queue.set_(torch::ones({2, 48, 16}));
  method->training_step(backbone, make_views(2));
  REQUIRE(method->queue.sizes() == torch::IntArrayRef({2, 24, 16}));
  CHECK(method->queue[0].narrow(0, 8, 16).abs().sum().item<double>() == 0.0);
  CHECK(method->queue[0].narrow(0, 0, 8).abs().sum().item<double>() > 0.0);

  // Sinkhorn: every sample's code sums to 1; every prototype gets B/K of the mass.
  const auto scores = torch::randn({16, 10}, torch::kDouble) * 0.3;
  const auto q = radiossl::detail::sinkhorn(scores, 0.05, 200);
  CHECK(closeness(q.sum(1), torch::ones({16}, torch::kDouble), 1e-9, 1e-9) == "ok");
  CHECK(closeness(q.sum(0), torch::full({10}, 1.6, torch::kDouble), 1e-4, 1e-4) == "ok");
  const auto q3 = radiossl::detail::sinkhorn(scores.to(torch::kFloat), 0.05, 3);
  CHECK(closeness(q3.sum(1), torch::ones({16}), 1e-5, 1e-5) == "ok");
}

TEST_CASE("All4One: step, queue pointer and contents, positional encoding, EMA",
          "[method][all4one]") {
  auto backbone = narrow_backbone();
  const auto options = m::All4OneOptions()
                           .proj_hidden_dim(32)
                           .proj_output_dim(16)
                           .pred_hidden_dim(32)
                           .queue_size(32);
  m::All4One method(backbone->feature_dim(), options);
  method->on_train_start(backbone);
  const auto views = make_views(2);
  auto out = method->training_step(backbone, views);
  CHECK(std::isfinite(out.loss.item<double>()));
  CHECK(out.logs.count("feature_loss") == 1);
  out.loss.backward();
  CHECK(has_nonzero_grad(backbone->conv1->weight));
  for (const char* name : {"projector.0.weight", "predictor.0.weight", "predictor2.0.weight",
                           "transformer.layers.0.linear1.weight"}) {
    INFO(name);
    CHECK(has_nonzero_grad(method->named_parameters()[name]));
  }
  CHECK(method->queue_ptr.item<std::int64_t>() == 8);
  torch::Tensor m1;
  {
    torch::NoGradGuard no_grad;
    m1 = method->momentum_projector->forward(
        m::momentum_forward<bb::ResNet18>(method->momentum_backbone, views[0]));
    m1 = m1 / m1.norm(2, {1}, true);
  }
  CHECK(closeness(method->queue.narrow(0, 0, 8), m1, 1e-5, 1e-6) == "ok");
  for (int i = 0; i < 3; ++i) method->training_step(backbone, make_views(2));
  CHECK(method->queue_ptr.item<std::int64_t>() == 0);  // wrapped around 32
  // A pointer left between slots by a checkpoint of another global batch (here 28 with batch 8)
  // writes its slot, 24..31, instead of running past the end.
  method->queue_ptr.fill_(28);
  method->training_step(backbone, make_views(2));
  CHECK(method->queue_ptr.item<std::int64_t>() == 0);
  CHECK_THROWS_WITH(method->training_step(backbone, make_views(2, 6)),
                    Catch::Contains("queue_size"));
  CHECK(method->transformer_parameters().size() > 0);

  // The spec's check values, d = 0..3 (rows: tokens t0..t4).
  const auto pe = m::all4one_positional_encoding(5, 4, torch::kDouble);
  const auto expected = torch::tensor({0.0, 0.841471, 0.909297, 0.141120,             //
                                       1.0, 0.540302, -0.416147, -0.989992,           //
                                       0.0, 0.046399, 0.092699, 0.138798,             //
                                       1.0, 0.998923, 0.995694, 0.990321,             //
                                       0.0, 0.002154, 0.004309, 0.006463},
                                      torch::kDouble)
                            .view({5, 4});
  CHECK(closeness(pe, expected, 0, 1e-6) == "ok");

  const auto before = method->momentum_projector->named_parameters()["0.weight"].clone();
  const auto online = method->projector->named_parameters()["0.weight"].detach().clone();
  method->on_step_end(backbone, 0.0);
  CHECK(closeness(method->momentum_projector->named_parameters()["0.weight"],
                  0.99 * before + 0.01 * online, 1e-6, 1e-7) == "ok");
}

TEST_CASE("All4One: one transformer pass over the four sequences equals four passes", "[method][all4one]") {
  // Without dropout the batched pass must be the same function (in train mode, as in a step).
  const auto options = m::All4OneOptions().proj_hidden_dim(32).proj_output_dim(16).pred_hidden_dim(32)
                           .queue_size(32).transformer_heads(4).transformer_dropout(0.0);
  m::All4One method(512, options);
  method->train();
  torch::manual_seed(3);
  std::vector<torch::Tensor> batches;
  for (std::int64_t n : {6, 6, 6, 2}) batches.push_back(torch::randn({n, 5, 16}, torch::requires_grad()));
  const auto together = method->encode_first_each(batches);
  REQUIRE(together.size() == 4);
  for (std::size_t i = 0; i < batches.size(); ++i) {
    INFO(i);
    const auto alone = method->encode_first(batches[i]);
    CHECK(together[i].sizes() == alone.sizes());
    CHECK(closeness(together[i], alone, 1e-5, 1e-6) == "ok");
  }
  // Gradients reach the inputs through the split (a random projection: the encoder ends in a
  // LayerNorm, whose plain sum or sum of squares is constant).
  const auto w = torch::randn({16});
  ((together[0] * w).sum() + (together[3] * w).sum()).backward();
  CHECK(has_nonzero_grad(batches[0]));
  CHECK(has_nonzero_grad(batches[3]));
  const bool untouched = !batches[1].grad().defined() || batches[1].grad().abs().sum().item<double>() == 0.0;
  CHECK(untouched);
}

/// @file
/// Tests of optim/: LARS against the spec's formula, SGD/AdamW policies, the schedules.
#include "support/catch.hpp"

#include <cmath>
#include <sstream>

#include "radiossl/optim/adamw.hpp"
#include "radiossl/optim/lars.hpp"
#include "radiossl/optim/schedule.hpp"
#include "radiossl/optim/sgd.hpp"

using namespace radiossl;

namespace {

/// The spec's §4.1 LARS update of one parameter, written out in double on the host.
std::vector<double> lars_reference(const std::vector<double>& p, const std::vector<double>& g, bool one_dim,
                                   double lr, double wd, double eta, bool clip, bool exclude,
                                   std::vector<double>& buf, bool first) {
  auto norm = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x * x;
    return std::sqrt(s);
  };
  const double pn = norm(p), gn = norm(g);
  std::vector<double> d = g;
  if ((!one_dim || !exclude) && pn != 0 && gn != 0) {
    double local = eta * pn / (gn + wd * pn + 1e-8);
    if (clip) local = std::min(local / lr, 1.0);
    for (size_t i = 0; i < d.size(); ++i) d[i] = (g[i] + wd * p[i]) * local;
  }
  if (first) buf = d;
  else
    for (size_t i = 0; i < d.size(); ++i) buf[i] = 0.9 * buf[i] + d[i];
  std::vector<double> out = p;
  for (size_t i = 0; i < out.size(); ++i) out[i] -= lr * buf[i];
  return out;
}

std::vector<double> to_vec(const torch::Tensor& t) {
  auto c = t.to(torch::kDouble).contiguous().flatten();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

}  // namespace

TEST_CASE("LARS update equals the spec's formula, with 1-D params excluded", "[optim][lars]") {
  // host_norms false takes the branch on the device: the same update without a host sync.
  for (bool host_norms : {true, false}) {
  for (bool clip : {true, false}) {
    for (bool exclude : {true, false}) {
      CAPTURE(host_norms, clip, exclude);
      auto w = torch::tensor({{0.5, -1.0, 2.0}, {0.1, 0.3, -0.7}}, torch::kDouble).requires_grad_();
      auto b = torch::tensor({0.2, -0.4}, torch::kDouble).requires_grad_();
      const double lr = 0.3, wd = 1e-2, eta = 0.02;
      optim::LARS opt({torch::optim::OptimizerParamGroup({w, b})},
                      optim::LarsOptions(lr).weight_decay(wd).eta(eta).clip_lr(clip).exclude_bias_n_norm(exclude)
                          .host_norms(host_norms));
      std::vector<double> wref = to_vec(w), bref = to_vec(b), wbuf, bbuf;
      for (int step = 0; step < 3; ++step) {
        auto gw = torch::tensor({{0.3, 0.1, -0.2}, {1.5, -0.5, 0.05}}, torch::kDouble) * (step + 1);
        auto gb = torch::tensor({-0.6, 0.9}, torch::kDouble) / (step + 1);
        w.mutable_grad() = gw.clone();
        b.mutable_grad() = gb.clone();
        opt.step();
        wref = lars_reference(wref, to_vec(gw), false, lr, wd, eta, clip, exclude, wbuf, step == 0);
        bref = lars_reference(bref, to_vec(gb), true, lr, wd, eta, clip, exclude, bbuf, step == 0);
        auto wgot = to_vec(w), bgot = to_vec(b);
        for (size_t i = 0; i < wref.size(); ++i) CHECK(wgot[i] == Approx(wref[i]).epsilon(1e-12));
        for (size_t i = 0; i < bref.size(); ++i) CHECK(bgot[i] == Approx(bref[i]).epsilon(1e-12));
      }
    }
  }
  }
}

TEST_CASE("LARS: excluded 1-D params get plain SGD with momentum and no weight decay", "[optim][lars]") {
  for (bool host_norms : {true, false}) {
    CAPTURE(host_norms);
    auto b = torch::tensor({1.0, 2.0}, torch::kDouble).requires_grad_();
    optim::LARS opt({torch::optim::OptimizerParamGroup({b})},
                    optim::LarsOptions(0.5).weight_decay(0.1).host_norms(host_norms));
    b.mutable_grad() = torch::tensor({0.2, -0.2}, torch::kDouble);
    opt.step();
    CHECK(torch::allclose(b, torch::tensor({0.9, 2.1}, torch::kDouble)));
    b.mutable_grad() = torch::tensor({0.2, -0.2}, torch::kDouble);
    opt.step();  // buf = 0.9*0.2 + 0.2 = 0.38
    CHECK(torch::allclose(b, torch::tensor({0.9 - 0.19, 2.1 + 0.19}, torch::kDouble)));
    // A zero-norm weight is not scaled either (the reference's `‖p‖ != 0` branch), nor is a zero gradient.
    auto z = torch::zeros({2, 2}, torch::kDouble).requires_grad_();
    auto w = torch::ones({2, 2}, torch::kDouble).requires_grad_();
    optim::LARS opt2({torch::optim::OptimizerParamGroup({z, w})},
                     optim::LarsOptions(0.5).weight_decay(0.1).host_norms(host_norms));
    z.mutable_grad() = torch::ones({2, 2}, torch::kDouble);
    w.mutable_grad() = torch::zeros({2, 2}, torch::kDouble);
    opt2.step();
    CHECK(torch::allclose(z, torch::full({2, 2}, -0.5, torch::kDouble)));
    CHECK(torch::equal(w, torch::ones({2, 2}, torch::kDouble)));  // no decay without a gradient
    // lr 0 with the clip: the trust ratio divided by 0 clamps to 1, and nothing moves.
    auto v = torch::ones({2, 2}, torch::kDouble).requires_grad_();
    optim::LARS opt3({torch::optim::OptimizerParamGroup({v})}, optim::LarsOptions(0.0).host_norms(host_norms));
    v.mutable_grad() = torch::ones({2, 2}, torch::kDouble);
    opt3.step();
    CHECK(torch::equal(v, torch::ones({2, 2}, torch::kDouble)));
  }
}

TEST_CASE("LARS: the device branch equals the host branch in float32", "[optim][lars]") {
  torch::manual_seed(7);
  std::vector<torch::Tensor> on_host, on_device;
  for (auto shape : {std::vector<std::int64_t>{64, 32, 3, 3}, {128, 64}, {64}}) {
    auto p = torch::randn(shape);
    on_host.push_back(p.clone().requires_grad_());
    on_device.push_back(p.clone().requires_grad_());
  }
  auto options = optim::LarsOptions(0.4).weight_decay(1e-4);
  optim::LARS host({torch::optim::OptimizerParamGroup(on_host)}, optim::LarsOptions(options).host_norms(true));
  optim::LARS device({torch::optim::OptimizerParamGroup(on_device)}, optim::LarsOptions(options).host_norms(false));
  for (int step = 0; step < 4; ++step) {
    for (std::size_t i = 0; i < on_host.size(); ++i) {
      auto g = torch::randn(on_host[i].sizes()) * 1e-2;
      on_host[i].mutable_grad() = g.clone();
      on_device[i].mutable_grad() = g.clone();
    }
    host.step();
    device.step();
  }
  for (std::size_t i = 0; i < on_host.size(); ++i) CHECK(torch::allclose(on_host[i], on_device[i], 1e-6, 1e-7));
}

TEST_CASE("LARS state survives save and load", "[optim][lars]") {
  auto make = [] { return torch::tensor({{0.5, -1.0}, {2.0, 0.1}}, torch::kDouble).requires_grad_(); };
  auto grad = torch::tensor({{0.3, 0.1}, {-0.2, 1.5}}, torch::kDouble);
  auto a = make();
  optim::LARS oa({torch::optim::OptimizerParamGroup({a})}, optim::LarsOptions(0.3));
  for (int i = 0; i < 3; ++i) {
    a.mutable_grad() = grad.clone();
    oa.step();
  }
  std::stringstream ss;
  {
    torch::serialize::OutputArchive ar;
    oa.optimizer().save(ar);
    ar.save_to(ss);
  }
  auto b = a.detach().clone().requires_grad_();
  optim::LARS ob({torch::optim::OptimizerParamGroup({b})}, optim::LarsOptions(0.3).host_norms(true));
  torch::serialize::InputArchive in;
  in.load_from(ss);
  ob.optimizer().load(in);
  // How the branch is taken is the loading optimizer's choice: not in the checkpoint, kept on load.
  CHECK(static_cast<const optim::LarsOptions&>(ob.optimizer().param_groups()[0].options()).host_norms() ==
        std::optional<bool>(true));
  a.mutable_grad() = grad.clone();
  b.mutable_grad() = grad.clone();
  oa.step();
  ob.step();
  CHECK(torch::equal(a, b));
}

TEST_CASE("SGD and AdamW policies step, set the lr and zero grads to none", "[optim]") {
  auto w = torch::ones({3}).requires_grad_();
  optim::SGD sgd({torch::optim::OptimizerParamGroup({w})}, optim::SgdOptions(0.1));
  w.mutable_grad() = torch::ones({3});
  sgd.step();
  CHECK(torch::allclose(w, torch::full({3}, 0.9)));
  sgd.zero_grad();
  CHECK_FALSE(w.grad().defined());
  sgd.set_lr(0.25);
  CHECK(sgd.optimizer().param_groups()[0].options().get_lr() == 0.25);

  auto v = torch::ones({3}).requires_grad_();
  optim::AdamW adamw({torch::optim::OptimizerParamGroup({v})}, optim::AdamWOptions(0.1));
  v.mutable_grad() = torch::ones({3});
  adamw.step();  // first Adam step moves by lr (sign of g), plus decoupled decay lr*wd*p
  CHECK(torch::allclose(v, torch::full({3}, 1.0 - 0.1 * 0.01 - 0.1), 1e-5));
}

TEST_CASE("warm-up cosine reproduces the spec's worked example", "[optim][schedule]") {
  optim::WarmupCosine s{.warmup_steps = 1000, .total_steps = 60000, .start_lr = 3e-5, .min_lr = 0.0};
  const double base = 2.4;
  CHECK(s(0, base) == Approx(3e-5).epsilon(1e-12));
  CHECK(s(1, base) == Approx(0.0024324).margin(5e-8));  // the spec rounds to 5 significant digits
  CHECK(s(999, base) == Approx(2.4).epsilon(1e-12));  // base reached one step early (W - 1)
  CHECK(s(1000, base) == Approx(2.4).epsilon(1e-12));
  CHECK(s(998, base) < 2.4);
  CHECK(s(30000, base) == Approx(1.23194).margin(5e-6));
  CHECK(s(59999, base) == Approx(1.7e-9).epsilon(0.02));
  CHECK(s(59999, base) > 0.0);
  // Monotone decay after warm-up.
  CHECK(s(40000, base) < s(30000, base));
  // Each group uses its own base, the same absolute start.
  CHECK(s(0, 0.1) == Approx(3e-5));
  CHECK(s(999, 0.1) == Approx(0.1));
  // Without warm-up: cosine from the base at step 0.
  optim::WarmupCosine nw{.warmup_steps = 0, .total_steps = 100};
  CHECK(nw(0, 1.0) == Approx(1.0));
  CHECK(nw(50, 1.0) == Approx(0.5));
}

TEST_CASE("multi-step schedule, batch scaling and the EMA tau schedule", "[optim][schedule]") {
  optim::MultiStep ms{.milestones = {60, 80}, .gamma = 0.1};
  CHECK(ms(0, 0.1) == Approx(0.1));
  CHECK(ms(59, 0.1) == Approx(0.1));
  CHECK(ms(60, 0.1) == Approx(0.01));
  CHECK(ms(80, 0.1) == Approx(0.001));
  CHECK(optim::scale_lr_by_batch(1.2, 512) == Approx(2.4));
  CHECK(optim::scale_lr_by_batch(0.3, 256) == Approx(0.3));
  CHECK(optim::ema_tau(0, 60000) == Approx(0.99));
  CHECK(optim::ema_tau(30000, 60000) == Approx(0.995));
  CHECK(optim::ema_tau(60000, 60000) == Approx(1.0));
  CHECK(optim::ema_tau(0, 100, 0.996, 1.0) == Approx(0.996));
  CHECK(optim::ema_tau_at(0.5, 0.99, 1.0) == Approx(0.995));
  CHECK_THROWS_AS(optim::ema_tau(1, 0), Error);
}

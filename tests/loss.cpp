// Each loss and its gradient against tools/gen_baselines.py's float64 reference (1e-6 relative).
#include <vector>

#include "support/catch.hpp"

#include "radiossl/detail/sinkhorn.hpp"
#include "radiossl/detail/whitening.hpp"
#include "radiossl/loss/all4one.hpp"
#include "radiossl/loss/byol.hpp"
#include "radiossl/loss/dino.hpp"
#include "radiossl/loss/nt_xent.hpp"
#include "radiossl/loss/swav.hpp"
#include "radiossl/loss/wmse.hpp"
#include "radiossl/torch_fwd.hpp"
#include "support/baselines.hpp"
#include "support/tensor_compare.hpp"

using radiossl::test::closeness;
using radiossl::test::to_tensor;
namespace b = radiossl::test::baselines;
namespace loss = radiossl::loss;

TEST_CASE("nt_xent equals the reference, value and gradient", "[loss][simclr]") {
  auto z = to_tensor(b::nt_xent_z, true);
  const auto idx = torch::arange(6, torch::kLong).repeat({2});
  auto l = loss::nt_xent(z, idx, 0.2);
  l.backward();
  CHECK(closeness(l, to_tensor(b::nt_xent_loss)) == "ok");
  CHECK(closeness(z.grad(), to_tensor(b::nt_xent_grad_z)) == "ok");
}

TEST_CASE("byol equals the reference and stops the target's gradient", "[loss][byol]") {
  auto p = to_tensor(b::byol_p, true);
  auto z = to_tensor(b::byol_z, true);
  auto l = loss::byol(p, z);
  l.backward();
  CHECK(closeness(l, to_tensor(b::byol_loss)) == "ok");
  CHECK(closeness(p.grad(), to_tensor(b::byol_grad_p)) == "ok");
  CHECK_FALSE(z.grad().defined());
}

TEST_CASE("dino equals the reference, with a small crop, and the centre update", "[loss][dino]") {
  auto s = to_tensor(b::dino_student, true);
  const auto t = to_tensor(b::dino_teacher);
  const auto c = to_tensor(b::dino_center);
  auto l = loss::dino(s, t, c, 0.1, 0.04, 2);
  l.backward();
  CHECK(closeness(l, to_tensor(b::dino_loss)) == "ok");
  CHECK(closeness(s.grad(), to_tensor(b::dino_grad_student)) == "ok");
  CHECK(closeness(loss::dino_center_update(c, t, 0.9), to_tensor(b::dino_next_center)) == "ok");
}

TEST_CASE("whitening and wmse equal the reference, both variants", "[loss][wmse]") {
  auto z1 = to_tensor(b::wmse_z1, true);
  auto z2 = to_tensor(b::wmse_z2, true);
  CHECK(closeness(radiossl::detail::whiten(z1), to_tensor(b::whiten_z1)) == "ok");

  auto l = loss::wmse(radiossl::detail::whiten(z1), radiossl::detail::whiten(z2), true);
  l.backward();
  CHECK(closeness(l, to_tensor(b::wmse_loss)) == "ok");
  CHECK(closeness(z1.grad(), to_tensor(b::wmse_grad_z1)) == "ok");
  CHECK_FALSE(z2.grad().defined());  // solo-learn's stop-gradient on the second view

  z1.mutable_grad().reset();
  auto lo = loss::wmse(radiossl::detail::whiten(z1), radiossl::detail::whiten(z2), false);
  lo.backward();
  CHECK(closeness(lo, to_tensor(b::wmse_original_loss)) == "ok");
  CHECK(closeness(z1.grad(), to_tensor(b::wmse_original_grad_z1)) == "ok");
  CHECK(closeness(z2.grad(), to_tensor(b::wmse_original_grad_z2)) == "ok");
}

TEST_CASE("sinkhorn codes and the swav loss equal the reference", "[loss][swav]") {
  std::vector<torch::Tensor> preds = {to_tensor(b::swav_p0, true), to_tensor(b::swav_p1, true),
                                      to_tensor(b::swav_p2, true)};
  const auto q0 = radiossl::detail::sinkhorn(preds[0].detach(), 0.05, 3);
  const auto q1 = radiossl::detail::sinkhorn(preds[1].detach(), 0.05, 3);
  CHECK(closeness(q0, to_tensor(b::sinkhorn_q0)) == "ok");
  CHECK(closeness(q1, to_tensor(b::sinkhorn_q1)) == "ok");
  auto l = loss::swav(preds, {q0, q1}, 0.1);
  l.backward();
  CHECK(closeness(l, to_tensor(b::swav_loss)) == "ok");
  CHECK(closeness(preds[0].grad(), to_tensor(b::swav_grad_p0)) == "ok");
  CHECK(closeness(preds[1].grad(), to_tensor(b::swav_grad_p1)) == "ok");
  CHECK(closeness(preds[2].grad(), to_tensor(b::swav_grad_p2)) == "ok");
}

TEST_CASE("nnclr and the all4one terms equal the reference", "[loss][all4one]") {
  SECTION("nnclr") {
    auto nn = to_tensor(b::nnclr_nn, true);
    auto p = to_tensor(b::nnclr_p, true);
    auto l = loss::nnclr(nn, p, 0.2);
    l.backward();
    CHECK(closeness(l, to_tensor(b::nnclr_loss)) == "ok");
    CHECK(closeness(nn.grad(), to_tensor(b::nnclr_grad_nn)) == "ok");
    CHECK(closeness(p.grad(), to_tensor(b::nnclr_grad_p)) == "ok");
  }
  const std::vector<const b::Array*> arrays = {
      &b::all4one_rich1, &b::all4one_rich2, &b::all4one_strange1, &b::all4one_strange2,
      &b::all4one_nn1,   &b::all4one_nn2,   &b::all4one_p1,       &b::all4one_p2,
      &b::all4one_m1,    &b::all4one_m2,    &b::all4one_z1,       &b::all4one_z2};
  std::vector<torch::Tensor> x;
  for (const auto* a : arrays) x.push_back(to_tensor(*a, true));
  SECTION("feature loss") {
    auto l = loss::all4one_feature(x[8], x[11], x[9], x[10]);
    l.backward();
    CHECK(closeness(l, to_tensor(b::all4one_feature_loss)) == "ok");
    CHECK(closeness(x[10].grad(), to_tensor(b::all4one_feature_grad_z1)) == "ok");
    CHECK(closeness(x[11].grad(), to_tensor(b::all4one_feature_grad_z2)) == "ok");
  }
  SECTION("total") {
    auto out = loss::all4one(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10],
                             x[11], 0.2);
    out.total.backward();
    CHECK(closeness(out.total, to_tensor(b::all4one_loss)) == "ok");
    CHECK(closeness(x[2].grad(), to_tensor(b::all4one_grad_strange1)) == "ok");
    CHECK(closeness(x[6].grad(), to_tensor(b::all4one_grad_p1)) == "ok");
    CHECK(closeness(x[10].grad(), to_tensor(b::all4one_grad_z1)) == "ok");
    CHECK(closeness(x[0].grad(), to_tensor(b::all4one_grad_rich1)) == "ok");
  }
}

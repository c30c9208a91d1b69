// The downstream protocol: folds, balancing, linear probe, fine-tuning and kNN on a tiny backbone.
#include <cmath>

#include "radiossl/backbone/resnet.hpp"
#include "radiossl/eval/protocol.hpp"

using namespace radiossl;

namespace {
// Two easy classes: a centred bright disc (0) and a ring (1), with noise, 24 x 24.
eval::DownstreamSet disc_or_ring(std::int64_t per_class_in_file, std::int64_t balanced_per_class) {
  eval::DownstreamSet set;
  set.name = "Toy";
  set.class_names = {"disc", "ring"};
  set.per_class = balanced_per_class;
  Rng rng(5);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  for (std::int64_t i = 0; i < 2 * per_class_in_file; ++i) {
    const std::int64_t label = i % 2;
    Image img(24, 24);
    for (std::int64_t y = 0; y < 24; ++y)
      for (std::int64_t x = 0; x < 24; ++x) {
        const double r = std::hypot(y - 11.5, x - 11.5);
        const bool on = label == 0 ? r < 5 : (r > 7 && r < 10);
        img.at(y, x) = (on ? 1.0f : 0.0f) + noise(rng);
      }
    set.data.images.push_back(std::move(img));
    set.data.labels.push_back(label);
  }
  return set;
}

backbone::ResNet18 tiny_backbone() { return backbone::ResNet18(backbone::ResNetOptions().width(8)); }

eval::EvalSettings tiny_settings() {
  eval::EvalSettings s;
  s.image_size = 24;
  s.num_workers = 0;
  s.seed = 11;
  return s;
}
}  // namespace

TEST_CASE("balanced folds give the per-class sizes of the protocol and keep val out of train", "[protocol]") {
  auto set = disc_or_ring(20, 30);
  const auto folds = data::stratified_kfold(set.data.labels, 3);
  const auto f = eval::balanced_fold(set, folds[0], 3, data::ResampleMode::undersample_or_duplicate, 1);
  CHECK(f.train.size() == 2 * 20);  // 30 - 30/3 per class
  CHECK(f.val.size() == 2 * 10);
  for (auto v : f.val) CHECK(std::find(folds[0].val.begin(), folds[0].val.end(), v) != folds[0].val.end());
  for (auto t : f.train)
    CHECK(std::find(folds[0].train.begin(), folds[0].train.end(), t) != folds[0].train.end());
  const auto counts = data::class_counts(
      [&] { std::vector<std::int64_t> l; for (auto i : f.train) l.push_back(set.data.labels[i]); return l; }());
  CHECK(counts == std::vector<std::int64_t>{20, 20});
  // 29 per class: int(29 * 2/3) = 19 and int(29 / 3) = 9, as solo-learn-radio rounds (not 29 - 9 = 20).
  set.per_class = 29;
  const auto odd = eval::balanced_fold(set, folds[0], 3, data::ResampleMode::undersample_or_duplicate, 1);
  CHECK(odd.train.size() == 2 * 19);
  CHECK(odd.val.size() == 2 * 9);
  set.per_class = 0;
  CHECK(eval::balanced_fold(set, folds[1], 3, data::ResampleMode::undersample_or_duplicate, 1).val == folds[1].val);
}

TEST_CASE("evaluation pads non-square cut-outs to a square by default, and centre-crops without pad_square",
          "[protocol]") {
  // 8 x 16: a bright strip in the 4 leftmost columns, which the centre 8 x 8 square leaves out.
  Image wide(8, 16, 0.0f);
  for (std::int64_t y = 0; y < 8; ++y)
    for (std::int64_t x = 0; x < 4; ++x) wide.at(y, x) = 1.0f;
  eval::LabeledImages one;
  one.images.push_back(wide);
  one.labels.push_back(0);
  auto view = [&](bool pad) {
    auto s = tiny_settings();
    s.image_size = 16;
    s.pad_square = pad;
    auto loader = eval::make_loader(one, augment::Eval(16), 1, false, s, 0);
    loader.start_epoch(0);
    return loader.next()->views[0][0][0];  // [16, 16], first channel
  };
  const torch::Tensor padded = view(true);
  CHECK(padded.slice(0, 0, 4).abs().max().item<float>() <= 1e-6f);    // the 4 zero rows above
  CHECK(padded.slice(0, 12, 16).abs().max().item<float>() <= 1e-6f);  // and below
  CHECK(padded.slice(0, 4, 12).slice(1, 0, 4).min().item<float>() == Approx(1.0f));
  CHECK(view(false).abs().max().item<float>() <= 1e-6f);
}

TEST_CASE("mixed evaluation draws stretches for training views and gives every other image sinh, minmax, asinh",
          "[protocol]") {
  // A 16 x 16 ramp: at the evaluation's size, so the planes are stretches of it pixel by pixel.
  Image ramp(16, 16);
  for (std::int64_t i = 0; i < 256; ++i) ramp.pixels[static_cast<std::size_t>(i)] = static_cast<float>(i);
  eval::LabeledImages twelve;
  for (int i = 0; i < 12; ++i) {
    twelve.images.push_back(ramp);
    twelve.labels.push_back(i % 2);
  }
  auto s = tiny_settings();
  s.image_size = 16;
  s.channel_mode = data::ChannelMode::mixed;
  auto planes = [&](bool train) {
    auto loader = eval::make_loader(twelve, augment::Eval(16), 12, train, s, 0);
    loader.start_epoch(0);
    return loader.next()->views[0];  // [12, 3, 16, 16]
  };
  const auto stretched = [](const torch::Tensor& plane, data::Stretch st) {
    torch::Tensor out = plane.contiguous().clone();
    float* p = out.data_ptr<float>();
    for (std::int64_t i = 0; i < out.numel(); ++i) p[i] = data::stretch_value(st, p[i]);
    return out;
  };
  const torch::Tensor val = planes(false);
  REQUIRE(val.size(1) == 3);
  const torch::Tensor minmax = val[0][1];
  CHECK(minmax.max().item<float>() == Approx(1.0f));
  for (std::int64_t i = 0; i < 12; ++i) {
    CHECK(torch::allclose(val[i][0], stretched(minmax, data::Stretch::sinh), 1e-5, 1e-6));
    CHECK(torch::allclose(val[i][1], minmax));
    CHECK(torch::allclose(val[i][2], stretched(minmax, data::Stretch::asinh), 1e-5, 1e-6));
  }
  // Training views: the min-max plane in ch1, and more than one of power, squared, sinh in ch0
  // over 12 draws (all the same with probability 3 x 3^-12).
  const torch::Tensor train = planes(true);
  int differ = 0;
  for (std::int64_t i = 0; i < 12; ++i) {
    CHECK(torch::allclose(train[i][1], minmax));
    differ += !torch::allclose(train[i][0], train[0][0]);
  }
  CHECK(differ > 0);
  s.channels = 1;
  CHECK_THROWS_WITH(planes(false), Catch::Contains("mixed channels give 3 planes"));
}

TEST_CASE("evaluate runs every protocol on every fold, resumes by skipping, leaves the backbone intact",
          "[protocol]") {
  const auto set = disc_or_ring(12, 0);
  auto bb = tiny_backbone();
  const auto before = bb->parameters()[0].clone();
  eval::ProtocolOptions o;
  o.folds = 2;
  o.protocols = {eval::Protocol::linear, eval::Protocol::finetune, eval::Protocol::knn};
  o.linear.epochs(15).batch_size(8).lr(0.1).cached_views(2);
  o.finetune.epochs(2).batch_size(8).warmup_epochs(0.5);
  o.knn.k(5);
  std::vector<eval::ResultRow> rows;
  eval::evaluate(bb, set, {"Toy", "ResNet-18", "none", 0}, o, tiny_settings(), nullptr,
                 [&](const eval::ResultRow& r) { rows.push_back(r); });
  REQUIRE(rows.size() == 6);
  for (const auto& r : rows) {
    CHECK(r.val_size == 12);
    CHECK(r.train_size == 12);
    CHECK(r.result.confusion.size() == 2);
  }
  // A random backbone's features separate a disc from a ring: the probe and kNN must do well.
  CHECK(rows[0].protocol == "linear");
  CHECK(rows[0].result.accuracy >= 0.75);
  CHECK(rows[2].protocol == "knn");
  CHECK(rows[2].result.accuracy >= 0.75);
  CHECK(torch::equal(bb->parameters()[0], before));  // fine-tuning trained a copy

  std::vector<eval::ResultRow> second;
  eval::evaluate(bb, set, {"Toy", "ResNet-18", "none", 0}, o, tiny_settings(),
                 [](const eval::ResultRow& r) { return r.protocol != "knn"; },
                 [&](const eval::ResultRow& r) { second.push_back(r); });
  REQUIRE(second.size() == 2);
  CHECK(second[0].result.accuracy == rows[2].result.accuracy);  // deterministic
}

TEST_CASE("evaluate scores with EvalSettings::winograd's convolutions and puts the backbone's switches back",
          "[protocol]") {
  const auto set = disc_or_ring(12, 0);
  auto bb = tiny_backbone();
  const auto blocks = backbone::set_winograd(*bb.ptr(), false);
  REQUIRE(blocks > 0);
  eval::ProtocolOptions o;
  o.folds = 2;
  o.only_folds = {0};
  o.protocols = {eval::Protocol::knn};
  o.knn.k(5);
  for (const bool before : {false, true})
    for (const bool wanted : {false, true}) {
      backbone::set_winograd(*bb.ptr(), before);
      auto s = tiny_settings();
      s.winograd = wanted;
      std::vector<std::int64_t> during;
      eval::evaluate(bb, set, {"Toy", "ResNet-18", "none", 0}, o, s, nullptr,
                     [&](const eval::ResultRow&) { during.push_back(backbone::winograd_switched_on(*bb.ptr())); });
      INFO("switches on before: " << before << ", EvalSettings::winograd: " << wanted);
      REQUIRE(during.size() == 1);
      CHECK(during[0] == (wanted ? blocks : 0));
      CHECK(backbone::winograd_switched_on(*bb.ptr()) == (before ? blocks : 0));
    }
  // By default, the Trainer's default on a CPU.
  CHECK(eval::EvalSettings{}.winograd == backbone::winograd_available());
}

TEST_CASE("FeatureScaler standardises with training statistics and maps constant features to 0",
          "[protocol]") {
  const auto train = torch::tensor({1.0f, 5.0f, 2.0f, 3.0f, 5.0f, 4.0f}).view({2, 3});
  const auto scaler = eval::FeatureScaler::fit(train);
  CHECK(torch::allclose(scaler(train), torch::tensor({-1.0f, 0.0f, -1.0f, 1.0f, 0.0f, 1.0f}).view({2, 3})));
  // Other features (validation) take the training statistics, not their own.
  CHECK(torch::allclose(scaler(torch::tensor({4.0f, 7.0f, 0.0f}).view({1, 3})),
                        torch::tensor({2.0f, 0.0f, -3.0f}).view({1, 3})));
  CHECK(scaler(train).dtype() == torch::kFloat32);
}

TEST_CASE("a probe on standardised features learns the toy classes", "[protocol]") {
  const auto set = disc_or_ring(12, 0);
  auto bb = tiny_backbone();
  eval::ProtocolOptions o;
  o.folds = 2;
  o.only_folds = {0};
  o.protocols = {eval::Protocol::linear};
  o.linear.epochs(15).batch_size(8).lr(0.1).cached_views(2).standardize(true);
  std::vector<eval::ResultRow> rows;
  eval::evaluate(bb, set, {"Toy", "ResNet-18", "none", 0}, o, tiny_settings(), nullptr,
                 [&](const eval::ResultRow& r) { rows.push_back(r); });
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].result.accuracy >= 0.75);
}

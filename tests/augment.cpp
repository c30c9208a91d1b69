// Preprocessing (stretches, normalisation, resampling) and augmentation stages and presets.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>
#include <utility>
#include <vector>

#include "radiossl/augment/geometric.hpp"
#include "radiossl/augment/photometric.hpp"
#include "radiossl/augment/pipeline.hpp"
#include "radiossl/augment/presets.hpp"
#include "radiossl/data/preprocess.hpp"
#include "radiossl/torch_fwd.hpp"

using radiossl::Image;
using radiossl::Rng;
namespace aug = radiossl::augment;
namespace data = radiossl::data;

namespace {

Image random_image(std::int64_t c, std::int64_t h, std::int64_t w, std::uint64_t seed) {
  Image img(c, h, w);
  Rng rng(seed);
  for (float& p : img.pixels) p = static_cast<float>(data::uniform01(rng));
  return img;
}

double mean_of(const Image& img) {
  return std::accumulate(img.pixels.begin(), img.pixels.end(), 0.0) / static_cast<double>(img.size());
}

double variance_of(const Image& img) {
  const double m = mean_of(img);
  double s = 0.0;
  for (float p : img.pixels) s += (p - m) * (p - m);
  return s / static_cast<double>(img.size());
}

torch::Tensor to_tensor(const Image& img) {
  return torch::from_blob(const_cast<float*>(img.pixels.data()), {1, img.channels, img.height, img.width},
                          torch::kFloat32)
      .clone();
}

}  // namespace

TEST_CASE("stretches match astropy at the spec's check values", "[augment][preprocess]") {
  using data::Stretch;
  CHECK(data::stretch_value(Stretch::sinh, 0.5f) == Approx(0.212548).margin(1e-6));
  CHECK(data::stretch_value(Stretch::log, 0.5f) == Approx(0.899816).margin(1e-6));
  CHECK(data::stretch_value(Stretch::asinh, 0.5f) == Approx(0.771270).margin(1e-6));
  CHECK(data::stretch_value(Stretch::sqrt, 0.5f) == Approx(0.707107).margin(1e-6));
  CHECK(data::stretch_value(Stretch::sinh, 0.25f) == Approx(0.082085).margin(1e-6));
  CHECK(data::stretch_value(Stretch::log, 0.25f) == Approx(0.799776).margin(1e-6));
  CHECK(data::stretch_value(Stretch::asinh, 0.25f) == Approx(0.549402).margin(1e-6));
  CHECK(data::stretch_value(Stretch::power, 0.5f) == Approx(0.25));
  CHECK(data::stretch_value(Stretch::squared, 0.5f) == Approx(0.25));
  CHECK(data::stretch_value(Stretch::minmax, 0.3f) == Approx(0.3));
  // Every stretch maps 0 -> 0 and 1 -> 1 and clips its input to [0, 1].
  for (int i = 0; i < 7; ++i) {
    const auto s = static_cast<Stretch>(i);
    CHECK(data::stretch_value(s, 0.0f) == Approx(0.0).margin(1e-7));
    CHECK(data::stretch_value(s, 1.0f) == Approx(1.0));
    CHECK(data::stretch_value(s, -3.0f) == Approx(0.0).margin(1e-7));
    CHECK(data::stretch_value(s, 7.0f) == Approx(1.0));
    CHECK(data::parse_stretch(data::to_string(s)) == s);
  }
  CHECK_THROWS_WITH(data::parse_stretch("zscale"), Catch::Contains("zscale"));
}

TEST_CASE("normalisation: NaN to the minimum, min-max, constant and all-NaN cut-outs", "[augment][preprocess]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Image img(1, 2, 3, 0.0f);
  img.pixels = {nan, 2.0f, 4.0f, 6.0f, nan, 10.0f};
  Image filled = img;
  CHECK(data::fill_nan(filled) == 2);
  CHECK(filled.pixels[0] == 2.0f);
  CHECK(filled.pixels[4] == 2.0f);
  data::PreprocessOptions opt;
  opt.size = 0;
  opt.channels = 1;
  const Image out = data::preprocess(img, opt);
  REQUIRE(out.channels == 1);
  const std::vector<float> expected{0.0f, 0.0f, 0.25f, 0.5f, 0.0f, 1.0f};
  for (std::size_t i = 0; i < expected.size(); ++i) CHECK(out.pixels[i] == Approx(expected[i]));

  Image constant(1, 8, 8, 3.5f);
  constant.at(0, 0) = nan;
  const Image c = data::preprocess(constant, {});  // defaults: 224 px, 3 channels
  CHECK(c.channels == 3);
  CHECK(c.height == 224);
  CHECK(std::all_of(c.pixels.begin(), c.pixels.end(), [](float p) { return p == 0.0f; }));

  Image all_nan(1, 5, 5, nan);
  const Image z = data::preprocess(all_nan, opt);
  CHECK(std::all_of(z.pixels.begin(), z.pixels.end(), [](float p) { return p == 0.0f; }));

  Image inf_img(1, 1, 3, 0.0f);
  inf_img.pixels = {1.0f, std::numeric_limits<float>::infinity(), 3.0f};
  const Image fin = data::preprocess(inf_img, opt);
  CHECK(fin.pixels == std::vector<float>{0.0f, 0.0f, 1.0f});

  // A stretch after min-max, and mixed channels (ch1 is always the plain min-max plane).
  opt.stretch = data::Stretch::sqrt;
  CHECK(data::preprocess(img, opt).pixels[2] == Approx(0.5));
  opt.channel_mode = data::ChannelMode::mixed;
  CHECK_THROWS_WITH(data::preprocess(img, opt), Catch::Contains("needs an Rng"));
  Rng rng(3);
  const Image mixed = data::preprocess(img, opt, &rng);
  REQUIRE(mixed.channels == 3);
  for (std::size_t i = 0; i < expected.size(); ++i) CHECK(mixed.plane(1)[i] == Approx(expected[i]));
  // The validation images' "mixed" channels need no Rng: sinh, minmax, asinh, with the spec's check
  // values at 0.25 and 0.5 (methods.md 5.2).
  opt.channel_mode = data::ChannelMode::mixed_fixed;
  const Image fixed = data::preprocess(img, opt);
  REQUIRE(fixed.channels == 3);
  CHECK(fixed.plane(0)[2] == Approx(0.082085).epsilon(1e-5));
  CHECK(fixed.plane(0)[3] == Approx(0.212548).epsilon(1e-5));
  CHECK(fixed.plane(2)[2] == Approx(0.549402).epsilon(1e-5));
  CHECK(fixed.plane(2)[3] == Approx(0.771270).epsilon(1e-5));
  for (std::size_t i = 0; i < expected.size(); ++i) CHECK(fixed.plane(1)[i] == Approx(expected[i]));
  CHECK(fixed.plane(0)[5] == Approx(1.0));
  CHECK(fixed.plane(2)[0] == Approx(0.0).margin(1e-7));
}

TEST_CASE("eight bit: the stretched pixels truncated as solo-learn-radio's np.uint8(y * 255)", "[augment][preprocess]") {
  // Expected levels from astropy 5.2 on the same float32 cut-out: for s in (LinearStretch(),
  // SqrtStretch()): np.uint8((s + MinMaxInterval())(raw) * 255).
  Image raw(1, 2, 5, 0.0f);
  raw.pixels = {-1.0f, -0.99f, -0.98f, 0.0f, 1.0f, 9.0f, 99.0f, 250.0f, 998.0f, 999.0f};
  data::PreprocessOptions opt;
  opt.size = 0;
  opt.channels = 1;
  opt.eight_bit = true;
  auto levels = [](const Image& img) {
    std::vector<float> out;
    for (float p : img.pixels) {
      CHECK(p * 255.0f == Approx(std::round(p * 255.0f)).margin(1e-4));  // a multiple of 1/255
      out.push_back(std::round(p * 255.0f));
    }
    return out;
  };
  // Pixels within 1/255 of the range above the minimum (here up to 1.0 of 1000) become 0.
  CHECK(levels(data::preprocess(raw, opt)) == std::vector<float>{0, 0, 0, 0, 0, 2, 25, 64, 254, 255});
  opt.stretch = data::Stretch::sqrt;  // truncated after the stretch, not before
  CHECK(levels(data::preprocess(raw, opt)) == std::vector<float>{0, 0, 1, 8, 11, 25, 80, 127, 254, 255});
  // Mixed channels: each plane truncated after its own stretch; ch1 is the min-max plane's levels.
  opt.channel_mode = data::ChannelMode::mixed;
  Rng rng(5);
  const Image mixed = data::preprocess(raw, opt, &rng);
  const auto all = levels(mixed);
  CHECK(std::vector<float>(all.begin() + 10, all.begin() + 20) ==
        std::vector<float>{0, 0, 0, 0, 0, 2, 25, 64, 254, 255});
  // And the padding after it stays 0; without the option the pixels stay float32.
  opt.channel_mode = data::ChannelMode::replicate;
  opt.stretch = data::Stretch::minmax;
  opt.pad_square = true;
  const Image padded = data::preprocess(raw, opt);
  CHECK(padded.height == 5);
  std::vector<float> expected(25, 0.0f);
  const std::vector<float> second_row{2, 25, 64, 254, 255};
  std::copy(second_row.begin(), second_row.end(), expected.begin() + 10);
  CHECK(levels(padded) == expected);
  opt.eight_bit = false;
  CHECK(data::preprocess(raw, opt).pixels[5 + 4] == Approx(0.002f));  // 1.0 of 1000, padded
  Image nan_img(1, 1, 2, std::numeric_limits<float>::quiet_NaN());
  data::truncate_to_8bit(nan_img);
  CHECK(nan_img.pixels == std::vector<float>{0.0f, 0.0f});
}

TEST_CASE("pad to square: centred zeros, the odd pixel bottom or right, after min-max", "[augment][preprocess]") {
  // A 2 x 5 cut-out pads to 5 x 5 with one row above and two below (torchvision's Pad2Square).
  Image wide(1, 2, 5, 0.0f);
  std::iota(wide.pixels.begin(), wide.pixels.end(), 1.0f);
  const Image sq = data::pad_to_square(wide);
  REQUIRE(sq.height == 5);
  REQUIRE(sq.width == 5);
  for (std::int64_t y = 0; y < 5; ++y)
    for (std::int64_t x = 0; x < 5; ++x)
      CHECK(sq.at(y, x) == (y == 1 || y == 2 ? wide.at(y - 1, x) : 0.0f));
  // A 4 x 1 cut-out: one column left, two right.
  Image tall(2, 4, 1, 7.0f);
  const Image t = data::pad_to_square(tall);
  REQUIRE(t.width == 4);
  for (std::int64_t c = 0; c < 2; ++c)
    for (std::int64_t y = 0; y < 4; ++y)
      for (std::int64_t x = 0; x < 4; ++x) CHECK(t.plane(c)[y * 4 + x] == (x == 1 ? 7.0f : 0.0f));
  CHECK(data::pad_to_square(sq).pixels == sq.pixels);

  // In preprocess the padding is the normalised minimum, and the whole cut-out survives the resize.
  data::PreprocessOptions opt;
  opt.size = 0;
  opt.channels = 1;
  opt.pad_square = true;
  Image raw(1, 2, 4, 0.0f);
  raw.pixels = {-3.0f, -1.0f, 1.0f, 5.0f, 5.0f, 5.0f, 5.0f, 5.0f};
  const Image out = data::preprocess(raw, opt);
  REQUIRE(out.height == 4);
  REQUIRE(out.width == 4);
  CHECK(out.pixels == std::vector<float>{0, 0, 0, 0, 0, 0.25f, 0.5f, 1, 1, 1, 1, 1, 0, 0, 0, 0});
}

TEST_CASE("resampling matches torch's antialiased bicubic and bilinear", "[augment][preprocess]") {
  namespace F = torch::nn::functional;
  const Image src = random_image(1, 100, 80, 11);
  for (auto [oh, ow] : {std::pair<std::int64_t, std::int64_t>{64, 48}, {150, 120}, {100, 80}, {65, 48}, {98, 35}}) {
    for (auto interp : {data::Interp::bicubic, data::Interp::bilinear}) {
      const Image ours = data::resize(src, oh, ow, interp);
      auto opt = F::InterpolateFuncOptions().size(std::vector<int64_t>{oh, ow}).align_corners(false).antialias(true);
      if (interp == data::Interp::bicubic) opt.mode(torch::kBicubic);
      else opt.mode(torch::kBilinear);
      const torch::Tensor ref = F::interpolate(to_tensor(src), opt);
      const double diff = (ref - to_tensor(ours)).abs().max().item<double>();
      INFO("size " << oh << "x" << ow << " bicubic " << (interp == data::Interp::bicubic));
      CHECK(diff < 1e-4);
    }
  }
  // (65 and 98 rows: resamples run in bands of 32 output rows; these end with bands of 1 and 2.)
  // A crop box resampled equals the crop resized.
  Image crop(1, 30, 40, 0.0f);
  for (std::int64_t y = 0; y < 30; ++y)
    for (std::int64_t x = 0; x < 40; ++x) crop.at(y, x) = src.at(y + 10, x + 20);
  const Image a = data::resample(src, 10, 20, 30, 40, 24, 24);
  const Image b = data::resize(crop, 24, 24);
  CHECK(a.pixels == b.pixels);
  CHECK_THROWS_WITH(data::resample(src, 90, 0, 20, 10, 8, 8), Catch::Contains("does not fit"));
}

TEST_CASE("flips happen at their rate and mirror the image", "[augment]") {
  Image img(1, 2, 3, 0.0f);
  img.pixels = {1, 2, 3, 4, 5, 6};
  Rng rng(7);
  const aug::RandomHorizontalFlip h{1.0};
  const aug::RandomVerticalFlip v{1.0};
  Image a = img;
  h(a, rng);
  CHECK(a.pixels == std::vector<float>{3, 2, 1, 6, 5, 4});
  Image b = img;
  v(b, rng);
  CHECK(b.pixels == std::vector<float>{4, 5, 6, 1, 2, 3});
  const aug::RandomHorizontalFlip half{};
  int flipped = 0;
  const int draws = 4000;
  for (int i = 0; i < draws; ++i) {
    Image c = img;
    half(c, rng);
    flipped += c.pixels[0] == 3.0f;
  }
  // Binomial(4000, 0.5): sd 32; 0.46..0.54 is more than 5 sd either side.
  CHECK(flipped > draws * 0.46);
  CHECK(flipped < draws * 0.54);
  const aug::RandomVerticalFlip never{0.0};
  Image d = img;
  never(d, rng);
  CHECK(d.pixels == img.pixels);
}

TEST_CASE("random resized crop: square boxes, scale within range, centre fallback", "[augment]") {
  const aug::RandomResizedCrop rrc{};  // scale [0.65, 1], ratio 1
  Rng rng(99);
  double lo = 1.0, hi = 0.0, sum = 0.0;
  const int draws = 3000;
  for (int i = 0; i < draws; ++i) {
    const auto box = rrc.draw_box(150, 150, rng);
    REQUIRE(box.height == box.width);
    REQUIRE(box.top >= 0);
    REQUIRE(box.left >= 0);
    REQUIRE(box.top + box.height <= 150);
    REQUIRE(box.left + box.width <= 150);
    const double s = static_cast<double>(box.height * box.width) / (150.0 * 150.0);
    lo = std::min(lo, s);
    hi = std::max(hi, s);
    sum += s;
  }
  // side = round(sqrt(s * area)): rounding moves s by at most about 2/150.
  CHECK(lo >= 0.65 - 0.015);
  CHECK(hi <= 1.0);
  CHECK(lo < 0.67);
  CHECK(hi > 0.98);
  CHECK(sum / draws == Approx(0.825).margin(0.01));
  // Impossible scales fall back to the centre crop of the largest square.
  const aug::RandomResizedCrop big{64, 1.5, 2.0};
  const auto box = big.draw_box(100, 60, rng);
  CHECK(box.height == 60);  // aspect 0.6 < ratio 1: the full width, a square of it, centred
  CHECK(box.width == 60);
  CHECK(box.top == 20);
  CHECK(box.left == 0);
  const auto box2 = aug::RandomResizedCrop{64, 1.5, 2.0, 1.0, 1.0}.draw_box(60, 100, rng);
  CHECK(box2.height == 60);
  CHECK(box2.width == 60);
  CHECK(box2.left == 20);
  const Image out = rrc.make(random_image(1, 150, 150, 1), rng);
  CHECK(out.height == 224);
  CHECK(out.width == 224);
  CHECK(*std::min_element(out.pixels.begin(), out.pixels.end()) >= 0.0f);
  CHECK(*std::max_element(out.pixels.begin(), out.pixels.end()) <= 1.0f);
}

TEST_CASE("gaussian blur preserves the mean and reduces the variance", "[augment]") {
  const Image src = random_image(2, 64, 64, 5);
  for (double sigma : {0.5, 0.7, 2.0}) {
    Image b = src;
    aug::gaussian_blur(b, sigma);
    INFO("sigma " << sigma);
    CHECK(mean_of(b) == Approx(mean_of(src)).margin(2e-3));
    CHECK(variance_of(b) < variance_of(src));
  }
  Image sharp = src;  // sigma 0.1: neighbour weights exp(-50), the image is unchanged
  aug::gaussian_blur(sharp, 0.1);
  for (std::size_t i = 0; i < src.size(); ++i) REQUIRE(sharp.pixels[i] == Approx(src.pixels[i]).margin(1e-6));
  Image wide = src;
  aug::gaussian_blur(wide, 2.0);
  CHECK(variance_of(wide) < 0.1 * variance_of(src));  // white noise: var / (4 pi sigma^2)
  Image constant(1, 10, 7, 0.3f);
  aug::gaussian_blur(constant, 1.9);
  for (float p : constant.pixels) CHECK(p == Approx(0.3f).margin(1e-6));
  Image tiny(1, 1, 2, 0.5f);  // kernel wider than the image: reflection must still work
  aug::gaussian_blur(tiny, 2.0);
  CHECK(tiny.pixels[0] == Approx(0.5f));
  // The stage applies with probability p.
  const aug::RandomGaussianBlur stage{};
  Rng rng(4);
  int changed = 0;
  for (int i = 0; i < 400; ++i) {
    Image c = random_image(1, 8, 8, 2);
    stage(c, rng);
    changed += c.pixels != random_image(1, 8, 8, 2).pixels;
  }
  CHECK(changed > 60);
  CHECK(changed < 140);  // p 0.25: 100 +- 8.7
}

TEST_CASE("contrast keeps the [0, 1] range and scales around the mean", "[augment]") {
  const Image src = random_image(1, 32, 32, 8);
  Image low = src;
  aug::adjust_contrast(low, 0.2);
  CHECK(mean_of(low) == Approx(mean_of(src)).margin(1e-5));
  CHECK(variance_of(low) == Approx(0.04 * variance_of(src)).epsilon(1e-3));
  Image high = src;
  aug::adjust_contrast(high, 1.8);
  CHECK(*std::min_element(high.pixels.begin(), high.pixels.end()) >= 0.0f);
  CHECK(*std::max_element(high.pixels.begin(), high.pixels.end()) <= 1.0f);
  CHECK(variance_of(high) > variance_of(src));
  const aug::RandomContrast stage{};
  Rng rng(12);
  for (int i = 0; i < 200; ++i) {
    Image c = src;
    stage(c, rng);
    REQUIRE(*std::min_element(c.pixels.begin(), c.pixels.end()) >= 0.0f);
    REQUIRE(*std::max_element(c.pixels.begin(), c.pixels.end()) <= 1.0f);
  }
  // Three channels pivot on PIL's luminance.
  Image rgb(3, 1, 1, 0.0f);
  rgb.pixels = {1.0f, 0.0f, 0.0f};
  CHECK(aug::contrast_pivot(rgb) == Approx(0.299));
}

TEST_CASE("pipelines compose at compile time and presets model Augment and reproduce from the seed", "[augment]") {
  aug::Pipeline p{aug::RandomResizedCrop{32, 0.65, 1.0}, aug::RandomHorizontalFlip{}};
  auto q = p.then(aug::RandomVerticalFlip{1.0});
  STATIC_REQUIRE(decltype(q)::size() == 3);
  STATIC_REQUIRE(radiossl::Augment<aug::RadioSymmetric>);
  STATIC_REQUIRE(radiossl::Augment<aug::RadioMultiCrop<2, 6>>);
  STATIC_REQUIRE(radiossl::Augment<aug::Downstream>);
  STATIC_REQUIRE(radiossl::Augment<aug::Eval>);
  STATIC_REQUIRE(aug::RadioSymmetric::num_large_crops == 2);
  const Image src = random_image(1, 80, 80, 21);
  Rng r1(5), r2(5);
  CHECK(q(src, r1).pixels == q(src, r2).pixels);

  aug::RadioSymmetric::Options o;
  o.size = 48;
  const aug::RadioSymmetric sym(o);
  Rng a(42), b(42), c(43);
  const auto va = sym.views(src, a);
  const auto vb = sym.views(src, b);
  const auto vc = sym.views(src, c);
  REQUIRE(va.size() == 2);
  CHECK(va[0].height == 48);
  CHECK(va[0].pixels == vb[0].pixels);
  CHECK(va[1].pixels == vb[1].pixels);
  CHECK(va[0].pixels != va[1].pixels);
  CHECK(va[0].pixels != vc[0].pixels);

  aug::MultiCropOptions mo;
  mo.large.size = 40;
  mo.small.size = 16;
  const aug::RadioMultiCrop<2, 3> multi(mo);
  const auto vm = multi.views(src, a);
  REQUIRE(vm.size() == 5);
  CHECK(vm[1].height == 40);
  CHECK(vm[2].height == 16);
  CHECK(vm[4].width == 16);

  // views() is view(0), view(1), ... on the same engine (PerViewAugment's contract).
  STATIC_REQUIRE(radiossl::PerViewAugment<aug::RadioMultiCrop<2, 3>>);
  Rng m1(77), m2(77);
  const auto whole = multi.views(src, m1);
  for (int k = 0; k < 5; ++k) CHECK(multi.view(k, src, m2).pixels == whole[static_cast<std::size_t>(k)].pixels);
  Rng s1(78), s2(78);
  const auto pair = sym.views(src, s1);
  CHECK(sym.view(0, src, s2).pixels == pair[0].pixels);
  CHECK(sym.view(1, src, s2).pixels == pair[1].pixels);

  const aug::Downstream down(aug::DownstreamOptions{.size = 32});
  const auto vd = down.views(src, a);
  REQUIRE(vd.size() == 1);
  CHECK(vd[0].height == 32);
  // Eval is deterministic: the shorter side to size, then the centre square.
  const aug::Eval eval(24);
  const Image wide = random_image(1, 30, 50, 3);
  const auto e1 = eval.views(wide, a);
  const auto e2 = eval.views(wide, c);
  CHECK(e1[0].pixels == e2[0].pixels);
  CHECK(e1[0].height == 24);
  CHECK(e1[0].width == 24);
}

namespace {

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  float d = 0.0f;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

}  // namespace

TEST_CASE("vector kernels of the resample and the blur equal their scalar reference", "[augment][preprocess]") {
  namespace dd = data::detail;
  // Row multiply-add: every width around the vector blocks (4, 8, 16, 32) and the overlapping tail.
  const Image src = random_image(1, 16, 260, 31);
  const std::vector<float> w{0.1f, -0.05f, 0.4f, 0.3f, 0.2f, 0.05f, -0.02f, 0.02f, 0.0f, 0.01f, 0.04f, -0.03f, 0.05f};
  for (std::int64_t taps : {1, 2, 5, 13}) {
    std::vector<const float*> rows;
    for (std::int64_t t = 0; t < taps; ++t) rows.push_back(src.plane(0) + t * src.width + t);
    for (std::int64_t n : {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 224, 230}) {
      INFO("taps " << taps << " n " << n);
      std::vector<float> ref(static_cast<std::size_t>(n)), out(ref.size(), -1.0f);
      dd::weighted_rows_scalar(rows.data(), w.data(), taps, ref.data(), n);
      dd::weighted_rows(rows.data(), w.data(), taps, out.data(), n);
      CHECK(max_abs_diff(ref, out) < 1e-6f);
#ifdef RADIOSSL_DETAIL_SSE2
      std::fill(out.begin(), out.end(), -1.0f);
      dd::weighted_rows_sse2(rows.data(), w.data(), taps, out.data(), n);
      CHECK(max_abs_diff(ref, out) < 1e-6f);
#endif
#ifdef RADIOSSL_DETAIL_AVX_DISPATCH
      if (dd::cpu_has_avx_fma()) {
        std::fill(out.begin(), out.end(), -1.0f);
        dd::weighted_rows_avx(rows.data(), w.data(), taps, out.data(), n);
        CHECK(max_abs_diff(ref, out) < 1e-6f);
      }
#endif
    }
  }
  // The transposed pass: output counts below and around the 4-row groups, widths around the
  // 8- and 16-column blocks, clipped and not.
  const Image big = random_image(1, 120, 70, 32);
  for (auto [len, out_n] : {std::pair<std::int64_t, std::int64_t>{120, 3}, {120, 4}, {120, 9}, {40, 57}, {120, 96}}) {
    const dd::Taps t = dd::make_taps(len, out_n, data::Interp::bicubic);
    for (std::int64_t n : {1, 7, 8, 15, 16, 17, 70}) {
      for (bool clip : {false, true}) {
        INFO("len " << len << " out " << out_n << " n " << n << " clip " << clip);
        const dd::Clip c{clip, 0.2f, 0.7f};
        std::vector<float> ref(static_cast<std::size_t>(n * out_n)), got(ref.size(), -1.0f);
        dd::filter_rows_transposed_scalar(big.plane(0), big.width, t, n, ref.data(), out_n, c);
        dd::filter_rows_transposed(big.plane(0), big.width, t, n, got.data(), out_n, c);
        CHECK(max_abs_diff(ref, got) < 1e-5f);
#ifdef RADIOSSL_DETAIL_SSE2
        std::fill(got.begin(), got.end(), -1.0f);
        dd::filter_rows_transposed_sse2(big.plane(0), big.width, t, n, got.data(), out_n, c);
        CHECK(max_abs_diff(ref, got) < 1e-5f);
#endif
#ifdef RADIOSSL_DETAIL_AVX_DISPATCH
        if (dd::cpu_has_avx_fma()) {
          std::fill(got.begin(), got.end(), -1.0f);
          dd::filter_rows_transposed_avx(big.plane(0), big.width, t, n, got.data(), out_n, c);
          CHECK(max_abs_diff(ref, got) < 1e-5f);
        }
#endif
        if (clip) CHECK(*std::min_element(got.begin(), got.end()) >= 0.2f);
      }
    }
  }
  // The transpose itself, around its 4x4 tiles.
  for (auto [r, c] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {3, 9}, {4, 4}, {9, 6}, {17, 13}}) {
    std::vector<float> t(static_cast<std::size_t>(r * c));
    dd::transpose(big.plane(0), r, c, big.width, t.data(), r);
    for (std::int64_t y = 0; y < r; ++y)
      for (std::int64_t x = 0; x < c; ++x) REQUIRE(t[static_cast<std::size_t>(x * r + y)] == big.at(y, x));
  }
}

TEST_CASE("resampling random boxes matches torch on the cropped box, and clipped resampling clips", "[augment][preprocess]") {
  namespace F = torch::nn::functional;
  const Image src = random_image(3, 70, 90, 41);
  Rng rng(17);
  for (int i = 0; i < 24; ++i) {
    const auto h = 1 + static_cast<std::int64_t>(data::uniform_index(rng, 70));
    const auto w = 1 + static_cast<std::int64_t>(data::uniform_index(rng, 90));
    const auto y0 = static_cast<std::int64_t>(data::uniform_index(rng, static_cast<std::uint64_t>(70 - h + 1)));
    const auto x0 = static_cast<std::int64_t>(data::uniform_index(rng, static_cast<std::uint64_t>(90 - w + 1)));
    // Output sizes below the vector blocks, equal to the box (one pass), and larger than it.
    const std::int64_t oh = i % 5 == 0 ? h : 1 + static_cast<std::int64_t>(data::uniform_index(rng, 80));
    const std::int64_t ow = i % 7 == 0 ? w : 1 + static_cast<std::int64_t>(data::uniform_index(rng, 80));
    const auto interp = i % 2 ? data::Interp::bicubic : data::Interp::bilinear;
    INFO("box " << h << "x" << w << "+" << y0 << "+" << x0 << " -> " << oh << "x" << ow);
    const Image ours = data::resample(src, y0, x0, h, w, oh, ow, interp);
    const torch::Tensor box = to_tensor(src).slice(2, y0, y0 + h).slice(3, x0, x0 + w);
    // torch's antialiased filters are separable: the width, then the height through a transpose. In one
    // call, LibTorch 2.6 (Debian 13) gives every row of an output one pixel wide the first row's value
    // when the height changes (1.13 does not); resampling only the last axis avoids that case.
    auto resize_width = [interp](const torch::Tensor& t, std::int64_t width) {
      if (t.size(3) == width) return t;
      auto opt = F::InterpolateFuncOptions().size(std::vector<int64_t>{t.size(2), width}).align_corners(false)
                     .antialias(true);
      if (interp == data::Interp::bicubic) opt.mode(torch::kBicubic);
      else opt.mode(torch::kBilinear);
      return F::interpolate(t.contiguous(), opt);
    };
    const torch::Tensor ref = resize_width(resize_width(box, ow).transpose(2, 3), oh).transpose(2, 3);
    CHECK((ref - to_tensor(ours)).abs().max().item<double>() < 1e-4);
    Image clipped = ours;
    data::clamp_pixels(clipped, 0.25f, 0.75f);
    CHECK(data::resample_clipped(src, y0, x0, h, w, oh, ow, interp, 0.25f, 0.75f).pixels == clipped.pixels);
  }
}

TEST_CASE("span kernels: finite range, clips, flips match their scalar forms", "[augment][preprocess]") {
  namespace dd = data::detail;
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  // Lengths around the 8-lane blocks, with NaN and infinities in the vector part and the tail.
  // (AVX2 takes 16 per step for the range and 8 for the clip, SSE2 the rest of the tail.)
  for (std::size_t n : {1u, 7u, 8u, 9u, 23u, 64u, 67u, 131u, 1000u}) {
    Image img = random_image(1, 1, static_cast<std::int64_t>(n), n);
    for (int pattern = 0; pattern < 4; ++pattern) {
      std::vector<float> p = img.pixels;
      if (pattern >= 1) p[n / 2] = nan;
      if (pattern >= 2) p[n - 1] = -inf;
      if (pattern == 3) p[0] = inf;
      INFO("n " << n << " pattern " << pattern);
      const auto a = dd::finite_range(p.data(), n), b = dd::finite_range_scalar(p.data(), n);
      CHECK(a.lo == b.lo);
      CHECK(a.hi == b.hi);
      CHECK(a.bad == b.bad);
      std::vector<float> q = p, r = p;
      dd::affine_clip_span(q.data(), n, 0.1f, 2.0f, 0.0f, 1.0f);
      for (float& v : r) {
        const float y = 0.1f + 2.0f * v;
        v = std::isnan(y) ? y : std::min(1.0f, std::max(0.0f, y));
      }
      for (std::size_t i = 0; i < n; ++i) CHECK((q[i] == r[i] || (std::isnan(q[i]) && std::isnan(r[i]))));
    }
  }
  // A whole cut-out: min-max over the vector loop with NaN and an infinity, as the scalar rule.
  Image raw = random_image(1, 9, 13, 5);
  raw.at(2, 3) = nan;
  raw.at(7, 1) = inf;
  data::minmax_normalize(raw);
  CHECK(raw.at(2, 3) == 0.0f);
  CHECK(raw.at(7, 1) == 0.0f);
  CHECK(*std::max_element(raw.pixels.begin(), raw.pixels.end()) == 1.0f);
  // Every pixel as the scalar rule computes it, over lengths around the vector blocks.
  for (std::int64_t n : {3, 12, 37, 250}) {
    Image img = random_image(1, 1, n, static_cast<std::uint64_t>(n));
    img.pixels[static_cast<std::size_t>(n / 3)] = nan;
    const auto r = dd::finite_range_scalar(img.pixels.data(), img.size());
    const auto inv = static_cast<float>(1.0 / (static_cast<double>(r.hi) - r.lo));
    std::vector<float> expected(img.pixels);
    for (float& v : expected) v = std::isnan(v) ? 0.0f : std::min(1.0f, std::max(0.0f, (v - r.lo) * inv));
    data::minmax_normalize(img);
    CHECK(img.pixels == expected);
  }
  for (std::int64_t n = 0; n < 41; ++n) {  // AVX2 reverses 8 from each end while 16 are left
    std::vector<float> a(static_cast<std::size_t>(n)), b;
    std::iota(a.begin(), a.end(), 0.0f);
    b = a;
    aug::detail::reverse_span(a.data(), n);
    std::reverse(b.begin(), b.end());
    CHECK(a == b);
    std::vector<float> c(a.size(), -1.0f), d = a;
    aug::detail::swap_spans(a.data(), c.data(), n);
    CHECK(c == d);
  }
}

TEST_CASE("gaussian blur equals a direct reflect-padded convolution", "[augment]") {
  for (auto [h, w, sigma] : {std::tuple<std::int64_t, std::int64_t, double>{9, 40, 1.3}, {30, 3, 2.0}, {5, 5, 0.6}}) {
    const Image src = random_image(2, h, w, 7);
    Image ours = src;
    aug::gaussian_blur(ours, sigma);
    const auto r = static_cast<std::int64_t>(std::ceil(3.0 * sigma));
    std::vector<double> k;
    double sum = 0.0;
    for (std::int64_t i = -r; i <= r; ++i) sum += k.emplace_back(std::exp(-0.5 * static_cast<double>(i * i) / (sigma * sigma)));
    for (double& v : k) v /= sum;
    double worst = 0.0;
    for (std::int64_t c = 0; c < 2; ++c)
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
          double acc = 0.0;
          for (std::int64_t i = -r; i <= r; ++i)
            for (std::int64_t j = -r; j <= r; ++j)
              acc += k[static_cast<std::size_t>(i + r)] * k[static_cast<std::size_t>(j + r)] *
                     src.at(c, aug::detail::reflect_index(y + i, h), aug::detail::reflect_index(x + j, w));
          worst = std::max(worst, std::fabs(acc - ours.at(c, y, x)));
        }
    INFO(h << "x" << w << " sigma " << sigma);
    CHECK(worst < 1e-5);
  }
}

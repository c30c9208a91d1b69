// Sigma-clipped statistics and the background floor before min-max (data/sigma_clip.hpp).
#include <cmath>
#include <cstdint>
#include <limits>

#include "radiossl/data/preprocess.hpp"
#include "radiossl/data/sigma_clip.hpp"
#include "radiossl/error.hpp"

using radiossl::Image;
namespace data = radiossl::data;

namespace {

/// The image tools/gen_sigma_clip_reference.py describes: integer-hash noise in [-0.5, 0.5), +50 on
/// every 97th pixel, NaN at 5 and 1234.
Image hashed_image() {
  Image img(40, 50);
  for (std::size_t i = 0; i < img.size(); ++i) {
    const auto x = static_cast<std::uint32_t>(static_cast<std::uint64_t>(i) * 2654435761ULL);
    img.pixels[i] = static_cast<float>(static_cast<double>(x >> 8) / 16777216.0 - 0.5);
    if (i % 97 == 0) img.pixels[i] += 50.0f;
  }
  img.pixels[5] = img.pixels[1234] = std::numeric_limits<float>::quiet_NaN();
  return img;
}

}  // namespace

TEST_CASE("sigma_clipped_stats equals astropy's on a fixed image", "[sigma_clip]") {
  // /usr/bin/python3 tools/gen_sigma_clip_reference.py (astropy 5.2, float64 input)
  const auto s = data::sigma_clipped_stats(hashed_image(), 3.0, 5);
  CHECK(s.mean == Approx(0.00017353426523744066).margin(1e-12));
  CHECK(s.median == Approx(0.00036591291427612305).margin(1e-12));
  CHECK(s.std == Approx(0.2885011630221176).epsilon(1e-12));
  CHECK(s.kept == 2000 - 2 - 21);  // the 21 bright pixels are clipped, the NaN never counted
}

TEST_CASE("sigma_clipped_stats: one pass keeps the outliers' pull, bad options are refused", "[sigma_clip]") {
  const Image img = hashed_image();
  // maxiters 1 computes the bounds once, from all finite pixels, whose std the +50 pixels inflate
  // to about 5: nothing within 15 of the median goes, the bright pixels do.
  const auto one = data::sigma_clipped_stats(img, 3.0, 1);
  CHECK(one.kept == 2000 - 2 - 21);
  // A tight sigma drops noise as well, so it keeps fewer pixels.
  CHECK(data::sigma_clipped_stats(img, 1.0, 5).kept < one.kept);
  CHECK_THROWS_WITH(data::sigma_clipped_stats(img, 0.0, 5), Catch::Contains("sigma must be > 0"));
  CHECK_THROWS_WITH(data::sigma_clipped_stats(img, 3.0, 0), Catch::Contains("maxiters must be >= 1"));
  Image blank(4, 4, std::numeric_limits<float>::quiet_NaN());
  CHECK_THROWS_WITH(data::sigma_clipped_stats(blank), Catch::Contains("no finite pixel"));
}

TEST_CASE("floor_background raises the background and NaN to median + k sigma, keeps sources", "[sigma_clip]") {
  Image img = hashed_image();
  const Image before = img;
  const auto s = data::sigma_clipped_stats(img);
  const double level = data::floor_background(img, 3.0);
  CHECK(level == Approx(s.median + 3.0 * s.std).epsilon(1e-12));
  // 3 sigma of uniform noise (sigma = 1/sqrt(12)) is beyond its range: only the bright pixels stay.
  std::int64_t above = 0;
  for (std::size_t i = 0; i < img.size(); ++i) {
    REQUIRE(std::isfinite(img.pixels[i]));
    if (img.pixels[i] > static_cast<float>(level)) {
      ++above;
      CHECK(img.pixels[i] == before.pixels[i]);
    } else {
      CHECK(img.pixels[i] == static_cast<float>(level));
    }
  }
  CHECK(above == 21);
  CHECK_THROWS_WITH(data::floor_background(img, 0.0), Catch::Contains("k must be > 0"));
  Image blank(3, 3, std::numeric_limits<float>::quiet_NaN());
  CHECK(std::isnan(data::floor_background(blank, 3.0)));
}

TEST_CASE("preprocess with clip_sigma maps the background to exactly 0, without it to the noise", "[sigma_clip]") {
  const Image raw = hashed_image();
  data::PreprocessOptions opt{.size = 0, .channels = 1};
  const Image plain = data::preprocess(raw, opt);
  opt.clip_sigma = 3.0;
  const Image clipped = data::preprocess(raw, opt);
  std::int64_t zeros_plain = 0, zeros_clipped = 0, ones = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    zeros_plain += plain.pixels[i] == 0.0f;
    zeros_clipped += clipped.pixels[i] == 0.0f;
    ones += clipped.pixels[i] == 1.0f;
  }
  CHECK(zeros_plain == 3);  // the minimum and the two NaN
  CHECK(zeros_clipped == 2000 - 21);
  CHECK(ones == 1);
  // A bright pixel stays above the floor.
  CHECK(clipped.pixels[97] > 0.0f);
  opt.clip_sigma = -1.0;
  CHECK_THROWS_WITH(data::preprocess(raw, opt), Catch::Contains("clip_sigma must be >= 0"));
  // An all-NaN cut-out still normalises to zeros.
  opt.clip_sigma = 3.0;
  const Image blank = data::preprocess(Image(4, 4, std::numeric_limits<float>::quiet_NaN()), opt);
  for (float p : blank.pixels) CHECK(p == 0.0f);
}

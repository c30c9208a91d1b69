/// @file
/// Tests of FITS reading and writing, WCS and fits_inspect: every BITPIX, BLANK with scaling,
/// NAXIS 3/4, extensions, tile compression made by fpack/imcopy, astropy-written files, bad input.
#include "support/catch.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "radiossl/data/loader.hpp"
#include "radiossl/io/fits.hpp"
#include "radiossl/io/manifest.hpp"
#include "radiossl/io/wcs.hpp"
#include "support/fits_fixture.hpp"

namespace fs = std::filesystem;
using radiossl::Error;
using radiossl::Image;
using namespace radiossl::io;
using radiossl::test::RawHdu;
using radiossl::test::TempDir;
using radiossl::test::raw_image;
using radiossl::test::write_raw_fits;

namespace {

std::vector<double> ramp(std::size_t n, double start, double step) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = start + step * static_cast<double>(i);
  return v;
}

/// Expects `fn` to throw radiossl::Error whose one-line message contains every fragment.
template <class Fn>
void require_error(Fn&& fn, std::initializer_list<std::string> fragments) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(msg.find('\n') == std::string::npos);
    for (const auto& f : fragments) CHECK(msg.find(f) != std::string::npos);
    return;
  }
  FAIL("no radiossl::Error thrown");
}

bool have(const char* program) { return fs::exists(program); }

Image test_image(std::int64_t h, std::int64_t w) {
  Image im(h, w);
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x) im.at(y, x) = static_cast<float>(0.25 * x - 0.5 * y + 0.125);
  return im;
}

}  // namespace

TEST_CASE("every BITPIX round-trips exactly, in FITS order without flips", "[fits]") {
  TempDir dir;
  const long long w = 7, h = 5;
  struct Case {
    int bitpix;
    double start, step;
  };
  for (const Case c : {Case{8, 0, 7}, Case{16, -30000, 1700}, Case{32, -2000000000, 1.1e8},
                       Case{64, -4.0e15, 3.0e14}, Case{-32, -1.5, 0.25}, Case{-64, 1e-300, 1e-301}}) {
    CAPTURE(c.bitpix);
    const auto path = dir / ("bitpix" + std::to_string(c.bitpix) + ".fits");
    const auto raw = ramp(static_cast<std::size_t>(w * h), c.start, c.step);
    write_raw_fits(path, {raw_image(c.bitpix, w, h, raw)});
    const auto r = read_fits(path);
    REQUIRE(r.image.width == w);
    REQUIRE(r.image.height == h);
    REQUIRE(r.image.channels == 1);
    CHECK(r.hdu == 0);
    for (long long y = 0; y < h; ++y)
      for (long long x = 0; x < w; ++x)
        CHECK(r.image.at(y, x) == static_cast<float>(raw[static_cast<std::size_t>(y * w + x)]));
  }
}

TEST_CASE("BLANK is compared with the raw value, then BSCALE/BZERO apply in double", "[fits]") {
  TempDir dir;
  SECTION("int16 with scaling") {
    auto hdu = raw_image(16, 4, 3, {-1, 0, 1, 2, 3, -1, 32767, -32768, 10, 11, 12, -1});
    hdu.bscale = 0.5;
    hdu.bzero = 100.0;
    hdu.blank = -1;  // a raw value that maps to 99.5: scaling first would miss it
    write_raw_fits(dir / "a.fits", {hdu});
    const auto im = read_fits_image(dir / "a.fits");
    for (std::size_t i = 0; i < hdu.raw.size(); ++i) {
      CAPTURE(i);
      if (hdu.raw[i] == -1)
        CHECK(std::isnan(im.pixels[i]));
      else
        CHECK(im.pixels[i] == static_cast<float>(hdu.raw[i] * 0.5 + 100.0));
    }
  }
  SECTION("uint8 and int32 with BLANK, unsigned-16 convention") {
    auto u8 = raw_image(8, 3, 1, {255, 0, 17});
    u8.blank = 255;
    u8.bscale = 2.0;
    write_raw_fits(dir / "b.fits", {u8});
    const auto a = read_fits_image(dir / "b.fits");
    CHECK(std::isnan(a.pixels[0]));
    CHECK(a.pixels[1] == 0.0f);
    CHECK(a.pixels[2] == 34.0f);

    auto i32 = raw_image(32, 2, 1, {-2147483647.0 - 1.0, 123456789});
    i32.blank = -2147483647LL - 1;
    i32.bscale = 1e-6;
    write_raw_fits(dir / "c.fits", {i32});
    const auto b = read_fits_image(dir / "c.fits");
    CHECK(std::isnan(b.pixels[0]));
    CHECK(b.pixels[1] == static_cast<float>(123456789 * 1e-6));

    auto u16 = raw_image(16, 2, 1, {-32768, 32767});
    u16.bzero = 32768;
    write_raw_fits(dir / "d.fits", {u16});
    const auto c = read_fits_image(dir / "d.fits");
    CHECK(c.pixels[0] == 0.0f);
    CHECK(c.pixels[1] == 65535.0f);
  }
}

TEST_CASE("NaN borders are kept, zero_is_blank blanks zeros", "[fits]") {
  TempDir dir;
  std::vector<double> raw(8 * 6, 1.0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int x = 0; x < 8; ++x) raw[static_cast<std::size_t>(x)] = nan;             // bottom row
  for (int y = 0; y < 6; ++y) raw[static_cast<std::size_t>(y * 8 + 7)] = nan;     // right column
  raw[20] = 0.0;
  write_raw_fits(dir / "n.fits", {raw_image(-32, 8, 6, raw)});
  auto im = read_fits_image(dir / "n.fits");
  int n = 0;
  for (float v : im.pixels) n += std::isnan(v) ? 1 : 0;
  CHECK(n == 8 + 6 - 1);
  CHECK(im.pixels[20] == 0.0f);
  FitsReadOptions opt;
  opt.zero_is_blank = true;
  im = read_fits_image(dir / "n.fits", opt);
  CHECK(std::isnan(im.pixels[20]));
}

TEST_CASE("degenerate axes are squeezed, cubes need a plane", "[fits]") {
  TempDir dir;
  const long long w = 5, h = 4;
  SECTION("NAXIS 4 [W, H, 1, 1]") {
    RawHdu hdu = raw_image(-32, w, h, ramp(20, 0, 1));
    hdu.naxes = {w, h, 1, 1};
    hdu.string_cards = {{"CTYPE3", "FREQ"}, {"CTYPE4", "STOKES"}};
    write_raw_fits(dir / "r.fits", {hdu});
    const auto im = read_fits_image(dir / "r.fits");
    CHECK(im.width == w);
    CHECK(im.height == h);
    CHECK(im.at(3, 4) == 19.0f);
  }
  SECTION("NAXIS 3 with three planes, and NAXIS 4 [W, H, 2, 1]") {
    RawHdu hdu = raw_image(-64, w, h, ramp(60, 0, 1));
    hdu.naxes = {w, h, 3};
    hdu.string_cards = {{"CTYPE3", "FREQ"}};
    write_raw_fits(dir / "c.fits", {hdu});
    require_error([&] { (void)read_fits(dir / "c.fits"); },
                  {"c.fits", "non-degenerate axis 3", "FREQ", "plane"});
    FitsReadOptions opt;
    opt.plane = 2;
    auto im = read_fits_image(dir / "c.fits", opt);
    CHECK(im.at(0, 0) == 40.0f);
    CHECK(im.at(3, 4) == 59.0f);
    opt.plane = 3;
    require_error([&] { (void)read_fits(dir / "c.fits", opt); }, {"plane 3 out of range", "3 planes"});
    // The loaders' read takes the same options; without them a cube names the grid's key.
    require_error([&] { (void)radiossl::io::load_image(dir / "c.fits"); }, {"c.fits", "fits_plane", "--plane"});
    opt.plane = 1;
    const radiossl::data::FileSource cubes({dir / "c.fits"}, opt);
    CHECK(cubes.load(0).at(0, 0) == 20.0f);

    hdu.naxes = {w, h, 2, 1};
    hdu.raw = ramp(40, 0, 1);
    write_raw_fits(dir / "d.fits", {hdu});
    opt.plane = 1;
    im = read_fits_image(dir / "d.fits", opt);
    CHECK(im.at(0, 0) == 20.0f);
  }
  SECTION("size-1 axes among the first two: numpy's (H, W, 1) is [1, W, H]") {
    // Float (the direct read) and int16 (CFITSIO's read) give the same W x H image.
    for (const int bitpix : {-32, 16}) {
      CAPTURE(bitpix);
      RawHdu hdu = raw_image(bitpix, w, h, ramp(20, 0, 1));
      hdu.naxes = {1, w, h};
      write_raw_fits(dir / "l.fits", {hdu});
      auto im = read_fits(dir / "l.fits").image;
      CHECK(im.width == w);
      CHECK(im.height == h);
      CHECK(im.at(0, 1) == 1.0f);
      CHECK(im.at(1, 0) == static_cast<float>(w));
      CHECK(im.at(3, 4) == 19.0f);

      hdu.naxes = {w, 1, 1, h};
      write_raw_fits(dir / "m.fits", {hdu});
      im = read_fits_image(dir / "m.fits");
      CHECK(im.width == w);
      CHECK(im.height == h);
      CHECK(im.at(3, 4) == 19.0f);

      // With a cube axis after the image: its planes, and the error names that axis (4).
      hdu.naxes = {1, w, h, 2};
      hdu.raw = ramp(40, 0, 1);
      hdu.string_cards = {{"CTYPE4", "FREQ"}};
      write_raw_fits(dir / "n.fits", {hdu});
      require_error([&] { (void)read_fits_image(dir / "n.fits"); }, {"non-degenerate axis 4", "FREQ", "2 planes"});
      FitsReadOptions opt;
      opt.plane = 1;
      im = read_fits_image(dir / "n.fits", opt);
      CHECK(im.width == w);
      CHECK(im.at(0, 0) == 20.0f);
      CHECK(im.at(3, 4) == 39.0f);
    }
    // A one-row image keeps its row: fewer than two axes above size 1.
    RawHdu row = raw_image(-32, w, 1, ramp(5, 0, 1));
    row.naxes = {w, 1, 1};
    write_raw_fits(dir / "row.fits", {row});
    const auto im = read_fits_image(dir / "row.fits");
    CHECK(im.width == w);
    CHECK(im.height == 1);
  }
}

namespace {

/// The pixels of HDU `hdu` (0-based), plane `plane`, read by CFITSIO alone: the reference of the
/// plain-file fast path. `plane_pixels` 0 means NAXIS1 x NAXIS2.
std::vector<float> cfitsio_pixels(const fs::path& path, int hdu, long long plane, long long plane_pixels = 0) {
  fitsfile* f = nullptr;
  int status = 0, bitpix = 0, naxis = 0;
  fits_open_diskfile(&f, path.c_str(), READONLY, &status);
  fits_movabs_hdu(f, hdu + 1, nullptr, &status);
  LONGLONG dims[9] = {};
  fits_get_img_paramll(f, 9, &bitpix, &naxis, dims, &status);
  const LONGLONG n = plane_pixels > 0 ? plane_pixels : dims[0] * dims[1];
  std::vector<float> out(static_cast<std::size_t>(n));
  int anynul = 0;
  // No null value: CFITSIO then copies IEEE values as they are (with one, it turns infinities
  // into NaN and denormals into 0), as astropy does and as radiossl reads floats. Doubles are read
  // as doubles and cast: CFITSIO 4.6 refuses infinities when it casts them itself (4.2 does not).
  if (bitpix == DOUBLE_IMG) {
    std::vector<double> doubles(out.size());
    fits_read_img(f, TDOUBLE, 1 + plane * n, n, nullptr, doubles.data(), &anynul, &status);
    std::transform(doubles.begin(), doubles.end(), out.begin(), [](double v) { return static_cast<float>(v); });
  } else {
    fits_read_img(f, TFLOAT, 1 + plane * n, n, nullptr, out.data(), &anynul, &status);
  }
  fits_close_file(f, &status);
  REQUIRE(status == 0);
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

/// Whether the plain-file parser takes `path` (true: CFITSIO is never opened for its pixels).
bool parsed_as_plain(const fs::path& path) {
  const radiossl::io::detail::ReadFd file(path);
  REQUIRE(file.fd >= 0);
  return radiossl::io::detail::parse_plain_primary(file.fd).has_value();
}

}  // namespace

TEST_CASE("plain float files skip CFITSIO and read exactly what CFITSIO reads", "[fits]") {
  TempDir dir;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const long long w = 37, h = 29;  // odd sizes: the vector byte swap has a scalar tail
  std::vector<double> raw = ramp(static_cast<std::size_t>(w * h * 3), -3.25, 0.0625);
  for (std::size_t i = 0; i < raw.size(); i += 7) raw[i] = nan;
  raw[5] = 1e-40;  // a float denormal, copied bit for bit
  raw[6] = std::numeric_limits<double>::infinity();
  auto hdu_of = [&](int bitpix, std::vector<long long> naxes) {
    RawHdu hdu = raw_image(bitpix, w, h, raw);
    hdu.naxes = std::move(naxes);
    long long n = 1;
    for (auto a : hdu.naxes) n *= a;
    hdu.raw.resize(static_cast<std::size_t>(n));
    return hdu;
  };
  SECTION("plain: -32 and -64, radio axes, cube planes, explicit BSCALE 1 / BZERO 0, long headers") {
    struct Case {
      std::string name;
      RawHdu hdu;
      std::optional<std::int64_t> plane;
    };
    std::vector<Case> cases = {{"f32.fits", hdu_of(-32, {w, h}), {}},
                               {"f64.fits", hdu_of(-64, {w, h}), {}},
                               {"radio.fits", hdu_of(-32, {w, h, 1, 1}), {}},
                               {"cube.fits", hdu_of(-32, {w, h, 3}), 2},
                               {"cube64.fits", hdu_of(-64, {w, h, 1, 3}), 1},
                               {"unit_scale.fits", hdu_of(-32, {w, h}), {}},
                               {"long_header.fits", hdu_of(-32, {w, h}), {}}};
    cases[5].hdu.bscale = 1.0;
    cases[5].hdu.bzero = 0.0;
    for (int i = 0; i < 120; ++i) cases[6].hdu.history.push_back("line " + std::to_string(i) + " BSCALE = 2");
    for (auto& c : cases) {
      CAPTURE(c.name);
      write_raw_fits(dir / c.name, {c.hdu});
      CHECK(parsed_as_plain(dir / c.name));
      FitsReadOptions opt;
      opt.plane = c.plane;
      const auto im = read_fits_image(dir / c.name, opt);
      CHECK(im.width == w);
      CHECK(im.height == h);
      CHECK(same_bits(im.pixels, cfitsio_pixels(dir / c.name, 0, c.plane.value_or(0))));
      CHECK(same_bits(read_fits(dir / c.name, opt).image.pixels, im.pixels));  // the metadata path
      opt.hdu = 0;
      CHECK(same_bits(read_fits_image(dir / c.name, opt).pixels, im.pixels));
    }
  }
  SECTION("files astropy wrote read as CFITSIO reads them") {
    const fs::path data = RADIOSSL_TEST_DATA_DIR "/foreign";
    CHECK(parsed_as_plain(data / "radio_naxis4.fits"));  // NAXIS 4, BITPIX -32, written by astropy
    CHECK(parsed_as_plain(data / "channels_last.fits"));  // NAXIS 3 [1, W, H]
    CHECK(same_bits(read_fits_image(data / "channels_last.fits").pixels,
                    cfitsio_pixels(data / "channels_last.fits", 0, 0, 32 * 24)));
    CHECK(same_bits(read_fits_image(data / "radio_naxis4.fits").pixels,
                    cfitsio_pixels(data / "radio_naxis4.fits", 0, 0)));
    CHECK_FALSE(parsed_as_plain(data / "image_in_extension.fits"));
    FitsReadOptions sci;
    sci.extname = "SCI";
    CHECK(same_bits(read_fits_image(data / "image_in_extension.fits", sci).pixels,
                    cfitsio_pixels(data / "image_in_extension.fits", 2, 0)));
  }
  SECTION("anything else goes through CFITSIO, with its values and its errors") {
    RawHdu scaled = hdu_of(-32, {w, h});
    scaled.bscale = 2.0;
    scaled.bzero = 0.5;
    write_raw_fits(dir / "scaled.fits", {scaled});
    CHECK_FALSE(parsed_as_plain(dir / "scaled.fits"));
    const auto s = read_fits_image(dir / "scaled.fits");
    CHECK(s.pixels[1] == static_cast<float>(raw[1] * 2.0 + 0.5));
    CHECK(same_bits(s.pixels, cfitsio_pixels(dir / "scaled.fits", 0, 0)));

    RawHdu ints = raw_image(16, w, h, std::vector<double>(static_cast<std::size_t>(w * h), 7.0));
    write_raw_fits(dir / "int16.fits", {ints});
    CHECK_FALSE(parsed_as_plain(dir / "int16.fits"));
    CHECK(read_fits_image(dir / "int16.fits").pixels[3] == 7.0f);

    // The image in an extension: the pixels are still read directly, at CFITSIO's offset.
    RawHdu empty;
    empty.bitpix = 8;
    write_raw_fits(dir / "ext.fits", {empty, hdu_of(-32, {w, h})});
    CHECK_FALSE(parsed_as_plain(dir / "ext.fits"));
    CHECK(same_bits(read_fits_image(dir / "ext.fits").pixels, cfitsio_pixels(dir / "ext.fits", 1, 0)));

    // gzip'd: CFITSIO unpacks it; offsets in the packed file would be wrong.
    write_raw_fits(dir / "z.fits", {hdu_of(-32, {w, h})});
    REQUIRE(std::system(("gzip -c " + radiossl::test::quote(dir / "z.fits") + " > " +
                         radiossl::test::quote(dir / "z.fits.gz")).c_str()) == 0);
    CHECK_FALSE(parsed_as_plain(dir / "z.fits.gz"));
    CHECK(same_bits(read_fits_image(dir / "z.fits.gz").pixels, cfitsio_pixels(dir / "z.fits", 0, 0)));

    // Doubles through CFITSIO: infinities and values beyond float's range read as +-inf, as the
    // direct read gives them, with any CFITSIO (4.6 stops with NUM_OVERFLOW if asked for floats).
    RawHdu big = hdu_of(-64, {w, h});
    big.raw[2] = -std::numeric_limits<double>::infinity();
    big.raw[3] = 1e39;
    write_raw_fits(dir / "z64.fits", {big});
    REQUIRE(std::system(("gzip -c " + radiossl::test::quote(dir / "z64.fits") + " > " +
                         radiossl::test::quote(dir / "z64.fits.gz")).c_str()) == 0);
    CHECK_FALSE(parsed_as_plain(dir / "z64.fits.gz"));
    const auto z64 = read_fits_image(dir / "z64.fits.gz");
    CHECK(same_bits(z64.pixels, read_fits_image(dir / "z64.fits").pixels));
    CHECK(z64.pixels[2] == -std::numeric_limits<float>::infinity());
    CHECK(z64.pixels[3] == std::numeric_limits<float>::infinity());
    CHECK(z64.pixels[6] == std::numeric_limits<float>::infinity());

    // Cubes without a plane, planes out of range and short files keep CFITSIO's messages.
    write_raw_fits(dir / "cube.fits", {hdu_of(-32, {w, h, 2})});
    require_error([&] { (void)read_fits_image(dir / "cube.fits"); }, {"cube.fits", "non-degenerate axis 3"});
    FitsReadOptions opt;
    opt.plane = 2;
    require_error([&] { (void)read_fits_image(dir / "cube.fits", opt); }, {"plane 2 out of range"});
    fs::resize_file(dir / "z.fits", fs::file_size(dir / "z.fits") - 2880);
    CHECK(parsed_as_plain(dir / "z.fits"));  // the header is fine; the data are short
    require_error([&] { (void)read_fits_image(dir / "z.fits"); }, {"z.fits", "truncated"});
  }
}

TEST_CASE("the image is found in any HDU, by default, index or EXTNAME", "[fits]") {
  TempDir dir;
  RawHdu primary;  // no data
  primary.bitpix = 8;
  RawHdu table;
  table.kind = RawHdu::Kind::table;
  table.extname = "CAT";
  RawHdu sci = raw_image(-32, 3, 2, {1, 2, 3, 4, 5, 6});
  sci.extname = "SCI";
  RawHdu other = raw_image(16, 3, 2, {9, 9, 9, 9, 9, 9});
  other.extname = "OTHER";
  write_raw_fits(dir / "e.fits", {primary, table, sci, other});

  auto r = read_fits(dir / "e.fits");
  CHECK(r.hdu == 2);
  CHECK(r.image.at(1, 2) == 6.0f);
  FitsReadOptions by_index;
  by_index.hdu = 3;
  CHECK(read_fits(dir / "e.fits", by_index).image.at(0, 0) == 9.0f);
  FitsReadOptions by_name;
  by_name.extname = "other";
  r = read_fits(dir / "e.fits", by_name);
  CHECK(r.hdu == 3);
  by_index.hdu = 1;
  require_error([&] { (void)read_fits(dir / "e.fits", by_index); }, {"e.fits", "HDU 1", "table"});
  by_index.hdu = 0;
  require_error([&] { (void)read_fits(dir / "e.fits", by_index); }, {"HDU 0", "no image data"});
  by_index.hdu = 9;
  require_error([&] { (void)read_fits(dir / "e.fits", by_index); }, {"no HDU 9", "4 HDUs"});
  by_name.extname = "NOPE";
  require_error([&] { (void)read_fits(dir / "e.fits", by_name); }, {"EXTNAME 'NOPE'"});
}

TEST_CASE("tables, random groups and bad files are refused with one clear line", "[fits]") {
  TempDir dir;
  RawHdu primary;
  primary.bitpix = 8;
  RawHdu table;
  table.kind = RawHdu::Kind::table;
  write_raw_fits(dir / "table.fits", {primary, table});
  require_error([&] { (void)read_fits(dir / "table.fits"); },
                {"table.fits", "no image data", "1 table"});

  RawHdu groups;
  groups.kind = RawHdu::Kind::groups;
  groups.naxes = {0, 3, 1, 1};
  write_raw_fits(dir / "uv.fits", {groups});
  require_error([&] { (void)read_fits(dir / "uv.fits"); }, {"uv.fits", "random-groups", "not an image"});
  require_error([&] { (void)read_fits(RADIOSSL_TEST_DATA_DIR "/foreign/random_groups.fits"); },
                {"random_groups.fits", "visibility"});

  require_error([&] { (void)read_fits(dir / "missing.fits"); }, {"missing.fits", "no such file"});
  { std::ofstream(dir / "empty.fits"); }
  require_error([&] { (void)read_fits(dir / "empty.fits"); }, {"empty.fits", "empty file"});
  { std::ofstream(dir / "text.fits") << "this is not FITS\n"; }
  require_error([&] { (void)read_fits(dir / "text.fits"); }, {"text.fits", "not a FITS file"});
  require_error([&] { (void)read_fits(dir.path()); }, {"directory"});

  write_raw_fits(dir / "full.fits", {raw_image(-32, 100, 100, ramp(10000, 0, 1))});
  fs::copy_file(dir / "full.fits", dir / "cut.fits");
  fs::resize_file(dir / "cut.fits", 2880 + 1000);
  require_error([&] { (void)read_fits(dir / "cut.fits"); }, {"cut.fits", "truncated"});
  fs::resize_file(dir / "cut.fits", 1000);
  require_error([&] { (void)read_fits(dir / "cut.fits"); }, {"cut.fits", "truncated"});
}

TEST_CASE("beam from BMAJ/BMIN/BPA, else the last AIPS HISTORY card, BUNIT kept", "[fits]") {
  TempDir dir;
  RawHdu hdu = raw_image(-32, 2, 2, {1, 2, 3, 4});
  hdu.history = {"AIPS   CLEAN BMAJ=  1.0000E-03 BMIN=  5.0000E-04 BPA=  10.00",
                 "AIPS   CLEAN NITER=  1000 PRODUCT=1   / NORMAL",
                 "AIPS   CLEAN BMAJ=  2.5000E-03 BMIN=  1.2500E-03 BPA= -33.50"};
  hdu.string_cards = {{"BUNIT", "JY/BEAM"}};
  write_raw_fits(dir / "aips.fits", {hdu});
  auto r = read_fits(dir / "aips.fits");
  REQUIRE(r.beam);
  CHECK(r.beam->bmaj_deg == Approx(2.5e-3));
  CHECK(r.beam->bmin_deg == Approx(1.25e-3));
  CHECK(r.beam->bpa_deg == Approx(-33.5));
  CHECK(r.bunit == "JY/BEAM");

  hdu.number_cards = {{"BMAJ", 4e-3}, {"BMIN", 3e-3}, {"BPA", 12.0}};
  write_raw_fits(dir / "keys.fits", {hdu});
  r = read_fits(dir / "keys.fits");
  REQUIRE(r.beam);
  CHECK(r.beam->bmaj_deg == Approx(4e-3));
  CHECK(r.beam->bpa_deg == Approx(12.0));

  write_raw_fits(dir / "none.fits", {raw_image(-32, 2, 2, {1, 2, 3, 4})});
  r = read_fits(dir / "none.fits");
  CHECK_FALSE(r.beam);
  CHECK(r.bunit.empty());
  CHECK_FALSE(r.wcs.valid());
}

TEST_CASE("write_fits round-trips pixels, WCS, beam and BUNIT, and fitsverify accepts it",
          "[fits]") {
  TempDir dir;
  Image im = test_image(24, 32);
  im.at(0, 0) = std::numeric_limits<float>::quiet_NaN();
  FitsWriteOptions opt;
  opt.wcs = WcsSpec{"SIN", 150.0, 2.0, 16.5, 12.5, 1.5 / 3600, false};
  opt.beam = Beam{1.5e-3, 1e-3, 30.0};
  opt.history = {"made by the radiossl tests"};
  opt.extra_cards = {{"OBJECT", "test field"}, {"NITER", "1000"}, {"GAIN", "0.1"}, {"PBCOR", "F"}};
  for (bool radio : {false, true}) {
    CAPTURE(radio);
    opt.radio_axes = radio;
    const auto path = dir / (radio ? "radio.fits" : "plain.fits");
    write_fits(path, im, opt);
    for (const auto& e : fs::directory_iterator(dir.path()))
      CHECK(e.path().string().find(".tmp") == std::string::npos);  // the rename happened
    const auto r = read_fits(path);
    REQUIRE(r.image.pixels.size() == im.pixels.size());
    CHECK(std::isnan(r.image.at(0, 0)));
    for (std::size_t i = 1; i < im.pixels.size(); ++i) CHECK(r.image.pixels[i] == im.pixels[i]);
    CHECK(r.bunit == "Jy/beam");
    REQUIRE(r.beam);
    CHECK(r.beam->bmaj_deg == Approx(1.5e-3));
    CHECK(r.beam->bmin_deg == Approx(1e-3));
    CHECK(r.beam->bpa_deg == Approx(30.0));
    REQUIRE(r.wcs.valid());
    const auto [ra, dec] = r.wcs.pixel_to_sky(15.5, 11.5);
    CHECK(ra == Approx(150.0).margin(1e-12));
    CHECK(dec == Approx(2.0).margin(1e-12));
    CHECK(r.wcs.pixel_scale_deg() == Approx(1.5 / 3600).epsilon(1e-12));

    if (!have("/usr/bin/fitsverify")) {
      WARN("fitsverify not installed (Debian package libcfitsio-bin): check skipped");
      continue;
    }
    const auto v = radiossl::test::run_command("/usr/bin/fitsverify " + radiossl::test::quote(path),
                                               dir.path());
    INFO(v.out);
    CHECK(v.out.find("0 warning(s) and 0 error(s)") != std::string::npos);
  }
  require_error([&] { write_fits(dir / "x.fits", Image{}); }, {"x.fits", "empty image"});
  require_error([&] { write_fits(dir / "no_dir/x.fits", im); }, {"x.fits", "creating"});
}

TEST_CASE("tile-compressed images made by fpack and imcopy read like the originals", "[fits]") {
  if (!have("/usr/bin/fpack") || !have("/usr/bin/imcopy")) {
    WARN("fpack/imcopy not installed (Debian package libcfitsio-bin): test skipped");
    return;
  }
  TempDir dir;
  using radiossl::test::quote;
  using radiossl::test::run_command;
  // Integers: Rice compression is lossless, and BLANK/BSCALE survive as ZBLANK/BSCALE.
  RawHdu ints = raw_image(16, 64, 48, ramp(64 * 48, -1500, 1));
  ints.raw[100] = -32768;
  ints.blank = -32768;
  ints.bscale = 0.01;
  ints.string_cards = {{"BUNIT", "mJy/beam"}};
  write_raw_fits(dir / "ints.fits", {ints});
  // Floats: fpack quantises them (lossy, q = 4 by default), NaN are kept.
  Image noise(48, 64);
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& v : noise.pixels) v = normal(gen);
  noise.at(5, 5) = std::numeric_limits<float>::quiet_NaN();
  write_fits(dir / "floats.fits", noise);

  auto r = run_command("/usr/bin/fpack -O " + quote(dir / "ints.fits.fz") + " " +
                           quote(dir / "ints.fits"), dir.path());
  REQUIRE(r.status == 0);
  r = run_command("/usr/bin/fpack -O " + quote(dir / "floats.fits.fz") + " " +
                      quote(dir / "floats.fits"), dir.path());
  REQUIRE(r.status == 0);
  r = run_command("/usr/bin/imcopy " + quote(dir / "ints.fits") + " '" +
                      (dir / "ints_gzip.fits").string() + "[compress GZIP]'", dir.path());
  REQUIRE(r.status == 0);

  const auto original = read_fits(dir / "ints.fits").image;
  for (const char* name : {"ints.fits.fz", "ints_gzip.fits"}) {
    CAPTURE(name);
    const auto c = read_fits(dir / name);
    CHECK(c.hdu == 1);  // the compressed image lives in a BINTABLE after an empty primary
    CHECK(c.bunit == "mJy/beam");
    REQUIRE(c.image.pixels.size() == original.pixels.size());
    CHECK(std::isnan(c.image.pixels[100]));
    for (std::size_t i = 0; i < original.pixels.size(); ++i)
      if (i != 100) CHECK(c.image.pixels[i] == original.pixels[i]);
  }
  const auto f = read_fits(dir / "floats.fits.fz").image;
  REQUIRE(f.pixels.size() == noise.pixels.size());
  CHECK(std::isnan(f.at(5, 5)));
  double max_err = 0.0;
  for (std::size_t i = 0; i < f.pixels.size(); ++i)
    if (!std::isnan(noise.pixels[i]))
      max_err = std::max(max_err, static_cast<double>(std::fabs(f.pixels[i] - noise.pixels[i])));
  CHECK(max_err > 0.0);   // quantised: not bit-exact
  CHECK(max_err < 0.2);   // q = 4: steps of about sigma / 4

  // And back: imcopy decompresses to a plain file that reads the same.
  r = run_command("/usr/bin/imcopy " + quote(dir / "ints.fits.fz") + " " +
                      quote(dir / "back.fits"), dir.path());
  REQUIRE(r.status == 0);
  const auto back = read_fits(dir / "back.fits").image;
  CHECK(std::isnan(back.pixels[100]));
  CHECK(back.pixels[5] == original.pixels[5]);
}

TEST_CASE("files written by astropy match astropy's own values", "[fits]") {
  const fs::path data = RADIOSSL_TEST_DATA_DIR "/foreign";
  std::ifstream in(data / "expected.json");
  REQUIRE(in);
  const auto expected = nlohmann::json::parse(in);
  REQUIRE(expected.size() == 4);
  for (const auto& [name, e] : expected.items()) {
    CAPTURE(name);
    FitsReadOptions opt;
    if (e.contains("extname")) opt.extname = e["extname"].get<std::string>();
    const auto r = read_fits(data / name, opt);
    CHECK(r.hdu == e["hdu"].get<int>());
    CHECK(r.image.height == e["shape"][0].get<std::int64_t>());
    CHECK(r.image.width == e["shape"][1].get<std::int64_t>());
    std::int64_t nan = 0;
    double sum = 0.0;
    for (float v : r.image.pixels) {
      if (std::isnan(v))
        ++nan;
      else
        sum += v;
    }
    CHECK(nan == e["nan_count"].get<std::int64_t>());
    CHECK(sum == Approx(e["sum"].get<double>()).epsilon(1e-9));
    for (const auto& p : e["pixels"]) {
      const float v = r.image.at(p[1].get<std::int64_t>(), p[0].get<std::int64_t>());
      if (p[2].is_null())
        CHECK(std::isnan(v));
      else
        CHECK(v == static_cast<float>(p[2].get<double>()));
    }
    CHECK(r.bunit == e["bunit"].get<std::string>());
    if (e["beam_deg"].is_null()) {
      CHECK_FALSE(r.beam);
    } else {
      REQUIRE(r.beam);
      CHECK(r.beam->bmaj_deg == Approx(e["beam_deg"][0].get<double>()));
      CHECK(r.beam->bmin_deg == Approx(e["beam_deg"][1].get<double>()));
      CHECK(r.beam->bpa_deg == Approx(e["beam_deg"][2].get<double>()));
    }
    REQUIRE(r.wcs.valid());
    for (const auto& s : e["sky"]) {
      const double x = s["x"], y = s["y"], lon = s["lon"], lat = s["lat"];
      const auto [l, b] = r.wcs.pixel_to_sky(x, y);
      CHECK(l == Approx(lon).margin(1e-9));
      CHECK(b == Approx(lat).margin(1e-9));
      const auto [px, py] = r.wcs.sky_to_pixel(lon, lat);
      CHECK(px == Approx(x).margin(1e-6));
      CHECK(py == Approx(y).margin(1e-6));
    }
  }
}

TEST_CASE("Wcs: projections round-trip, legacy headers parse, copies are independent", "[fits]") {
  for (const char* proj : {"SIN", "TAN", "CAR", "ARC", "ZEA"})
    for (bool galactic : {false, true}) {
      CAPTURE(proj, galactic);
      const Wcs w(WcsSpec{proj, 210.5, -45.25, 100.5, 80.0, 2.0 / 3600, galactic});
      REQUIRE(w.valid());
      CHECK(w.galactic() == galactic);
      CHECK(w.pixel_scale_deg() == Approx(2.0 / 3600).epsilon(1e-12));
      const auto [lon0, lat0] = w.pixel_to_sky(99.5, 79.0);  // CRPIX is 1-based
      CHECK(lon0 == Approx(210.5).margin(1e-10));
      CHECK(lat0 == Approx(-45.25).margin(1e-10));
      for (double x : {0.0, 37.25, 199.0})
        for (double y : {0.0, 150.5}) {
          const auto [lon, lat] = w.pixel_to_sky(x, y);
          const auto [px, py] = w.sky_to_pixel(lon, lat);
          CHECK(px == Approx(x).margin(1e-7));
          CHECK(py == Approx(y).margin(1e-7));
        }
      // East is to the left: one pixel right lowers the longitude (away from the pole).
      CHECK(w.pixel_to_sky(100.5, 79.0).first < lon0);
    }

  // FIRST-style header: NAXIS = 2 with axis-3/4 keywords, CROTA2, EPOCH, odd DATE-OBS, CRPIX far
  // outside the image.
  auto card = [](std::string key, std::string value) {
    key.resize(8, ' ');
    std::string c = key + "= " + value;
    c.resize(80, ' ');
    return c;
  };
  std::string hdr = card("NAXIS", "2") + card("NAXIS1", "100") + card("NAXIS2", "100") +
                    card("CTYPE1", "'RA---SIN'") + card("CTYPE2", "'DEC--SIN'") +
                    card("CTYPE3", "'FREQ    '") + card("CTYPE4", "'STOKES  '") +
                    card("CRVAL1", "180.0") + card("CRVAL2", "30.0") + card("CRVAL3", "1.4E9") +
                    card("CRPIX1", "-361.7") + card("CRPIX2", "50.0") + card("CRPIX3", "1.0") +
                    card("CDELT1", "-5.0E-4") + card("CDELT2", "5.0E-4") + card("CDELT3", "1E6") +
                    card("CROTA1", "0.0") + card("CROTA2", "0.0") + card("EPOCH", "2000.0") +
                    card("DATE-OBS", "'19930417'");
  const auto legacy = Wcs::from_header(hdr);
  INFO(legacy.problem());
  REQUIRE(legacy.valid());
  CHECK(legacy.crpix().first == Approx(-361.7));
  const auto [lon, lat] = legacy.pixel_to_sky(-362.7, 49.0);
  CHECK(lon == Approx(180.0).margin(1e-10));
  CHECK(lat == Approx(30.0).margin(1e-10));
  CHECK(legacy.pixel_scale_deg() == Approx(5e-4));

  // A CD matrix with a rotation: the scale is sqrt|det CD|.
  const std::string cd = card("CTYPE1", "'RA---TAN'") + card("CTYPE2", "'DEC--TAN'") +
                         card("CRVAL1", "10.0") + card("CRVAL2", "20.0") + card("CRPIX1", "5") +
                         card("CRPIX2", "5") + card("CD1_1", "-3.0E-4") + card("CD1_2", "4.0E-4") +
                         card("CD2_1", "4.0E-4") + card("CD2_2", "3.0E-4");
  CHECK(Wcs::from_header(cd).pixel_scale_deg() == Approx(5e-4));

  // Swapped celestial axes (CTYPE1 = DEC, some reprojected maps): longitude and latitude still come
  // out in that order. Reference: astropy 5.2 (Debian), WCS(header).all_pix2world(..., 0), whose
  // world order is the header's (DEC, RA).
  const std::string swapped = card("CTYPE1", "'DEC--TAN'") + card("CTYPE2", "'RA---TAN'") +
                              card("CRVAL1", "-30.0") + card("CRVAL2", "150.0") + card("CRPIX1", "20.0") +
                              card("CRPIX2", "25.0") + card("CDELT1", "1.0E-3") + card("CDELT2", "-1.0E-3");
  const auto sw = Wcs::from_header(swapped);
  INFO(sw.problem());
  REQUIRE(sw.valid());
  const auto [sra, sdec] = sw.pixel_to_sky(5.5, 3.25);
  CHECK(sra == Approx(150.023963294620).margin(1e-9));
  CHECK(sdec == Approx(-30.013497829253).margin(1e-9));
  const auto [sx, sy] = sw.sky_to_pixel(150.02, -29.99);
  CHECK(sx == Approx(28.9984889067).margin(1e-7));
  CHECK(sy == Approx(6.6777461552).margin(1e-7));

  // No WCS at all, or only linear axes: invalid, and the methods say why.
  const auto none = Wcs::from_header(card("NAXIS", "2"));
  CHECK_FALSE(none.valid());
  require_error([&] { (void)none.pixel_to_sky(0, 0); }, {"no celestial WCS"});
  CHECK_FALSE(Wcs::from_header(card("CTYPE1", "'LINEAR'") + card("CTYPE2", "'LINEAR'")).valid());
  require_error([&] { (void)Wcs(WcsSpec{"XYZ"}); }, {"XYZ"});

  // Copies and shifts are independent deep copies.
  Wcs a(WcsSpec{"SIN", 30.0, 60.0, 10.0, 10.0, 1e-3, false});
  Wcs b = a;
  Wcs c = a.shifted(4.0, 3.0);
  a = Wcs(WcsSpec{"TAN", 0.0, 0.0, 1.0, 1.0, 1e-3, false});
  const auto [lb, bb] = b.pixel_to_sky(13.0, 12.0);
  const auto [lc, bc] = c.pixel_to_sky(9.0, 9.0);
  CHECK(lb == Approx(lc).margin(1e-12));
  CHECK(bb == Approx(bc).margin(1e-12));
  Wcs moved = std::move(b);
  CHECK(moved.valid());
}

TEST_CASE("read_fits and Wcs can be used from several threads at once", "[fits]") {
  // The loader reads files in worker threads: CFITSIO (built reentrant) and WCSLIB's parser must
  // not share state between calls.
  TempDir dir;
  Image im = test_image(40, 50);
  FitsWriteOptions opt;
  opt.wcs = WcsSpec{"TAN", 20.0, -10.0, 25.5, 20.5, 1e-3, false};
  opt.radio_axes = true;
  write_fits(dir / "shared.fits", im, opt);
  const auto reference = read_fits(dir / "shared.fits");
  const auto [lon_ref, lat_ref] = reference.wcs.pixel_to_sky(3.0, 4.0);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        const auto r = read_fits(dir / "shared.fits");
        const auto [lon, lat] = r.wcs.pixel_to_sky(3.0, 4.0);
        if (r.image.pixels != reference.image.pixels || lon != lon_ref || lat != lat_ref) ++mismatches;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(mismatches == 0);
}

namespace {

const std::string inspect_exe = RADIOSSL_BINARY_DIR "/examples/fits_inspect";

/// Runs fits_inspect on each file and checks the failure contract: a non-zero exit (not a
/// signal), nothing on stdout, one line on stderr naming the file and the problem.
void check_inspect_refuses(const TempDir& dir, const std::vector<std::pair<fs::path, std::string>>& cases) {
  for (const auto& [file, fragment] : cases) {
    CAPTURE(file, fragment);
    const auto r = radiossl::test::run_command(inspect_exe + " " + radiossl::test::quote(file),
                                               dir.path());
    INFO("stderr: " << r.err);
    CHECK(r.status == 1);  // an exit code, not a signal
    CHECK(r.out.empty());
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find(file.filename().string()) != std::string::npos);
    CHECK(r.err.find(fragment) != std::string::npos);
  }
}

}  // namespace

// fits_inspect links LibTorch (every program does), so each run costs about a second of dynamic
// loading: the runs are spread over three test cases to keep each one short.
TEST_CASE("fits_inspect prints one JSON object of statistics over finite pixels",
          "[fits][fits_inspect]") {
  REQUIRE(fs::exists(inspect_exe));
  TempDir dir;
  using radiossl::test::quote;
  using radiossl::test::run_command;

  auto r = run_command(inspect_exe + " " + quote(RADIOSSL_TEST_DATA_DIR "/foreign/radio_naxis4.fits"),
                       dir.path());
  REQUIRE(r.status == 0);
  CHECK(r.err.empty());
  const auto j = nlohmann::json::parse(r.out);
  const auto expected = nlohmann::json::parse(
      std::ifstream(RADIOSSL_TEST_DATA_DIR "/foreign/expected.json"))["radio_naxis4.fits"];
  CHECK(j["shape"] == expected["shape"]);
  CHECK(j["nan_count"] == expected["nan_count"]);
  CHECK(j["sum"].get<double>() == Approx(expected["sum"].get<double>()).epsilon(1e-9));
  CHECK(j["min"].get<double>() == Approx(expected["min"].get<double>()));
  CHECK(j["max"].get<double>() == Approx(expected["max"].get<double>()));
  const double n_finite = 24.0 * 32.0 - expected["nan_count"].get<double>();
  CHECK(j["mean"].get<double>() == Approx(expected["sum"].get<double>() / n_finite));
  CHECK(j["bunit"] == "JY/BEAM");
  CHECK(j["beam_deg"][2].get<double>() == Approx(35.0));
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);

  r = run_command(inspect_exe + " --hdu 2 " +
                      quote(RADIOSSL_TEST_DATA_DIR "/foreign/image_in_extension.fits"),
                  dir.path());
  REQUIRE(r.status == 0);
  const auto k = nlohmann::json::parse(r.out);
  CHECK(k["beam_deg"].is_null());
  CHECK(k["bunit"] == "K");
}

TEST_CASE("fits_inspect: missing, empty, not-FITS and truncated files fail cleanly",
          "[fits][fits_inspect]") {
  REQUIRE(fs::exists(inspect_exe));
  TempDir dir;
  { std::ofstream(dir / "empty.fits"); }
  { std::ofstream(dir / "text.fits") << "hello\n"; }
  write_raw_fits(dir / "full.fits", {raw_image(-32, 64, 64, ramp(64 * 64, 0, 1))});
  fs::copy_file(dir / "full.fits", dir / "cut.fits");
  fs::resize_file(dir / "cut.fits", 2880 + 500);
  check_inspect_refuses(dir, {{dir / "missing.fits", "no such file"},
                              {dir / "empty.fits", "empty"},
                              {dir / "text.fits", "not a FITS file"},
                              {dir / "cut.fits", "truncated"}});
}

TEST_CASE("fits_inspect: no image, all NaN, visibilities and bad options fail cleanly",
          "[fits][fits_inspect]") {
  REQUIRE(fs::exists(inspect_exe));
  TempDir dir;
  RawHdu primary;
  primary.bitpix = 8;
  RawHdu table;
  table.kind = RawHdu::Kind::table;
  write_raw_fits(dir / "table.fits", {primary, table});
  write_raw_fits(dir / "allnan.fits",
                 {raw_image(-32, 2, 2, std::vector<double>(4, std::numeric_limits<double>::quiet_NaN()))});
  check_inspect_refuses(dir, {{dir / "table.fits", "no image"},
                              {dir / "allnan.fits", "blank"},
                              {RADIOSSL_TEST_DATA_DIR "/foreign/random_groups.fits", "random-groups"}});
  const auto r = radiossl::test::run_command(
      inspect_exe + " --hdu x " + radiossl::test::quote(dir / "allnan.fits"), dir.path());
  CHECK(r.status == 2);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

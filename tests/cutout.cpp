/// @file
/// Tests of the pretraining-set builders: sliding-window geometry, NaN fill and skipping, curated
/// centring and edge clipping, catalogues (sky and pixel positions), and the written sets.
#include "support/catch.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "radiossl/data/cutout.hpp"
#include "radiossl/io/catalogue.hpp"
#include "radiossl/io/fits.hpp"
#include "radiossl/io/manifest.hpp"
#include "support/fits_fixture.hpp"

namespace fs = std::filesystem;
using radiossl::Error;
using radiossl::Image;
using namespace radiossl::data;
using radiossl::io::Source;
using radiossl::test::TempDir;

namespace {

constexpr float nanf_ = std::numeric_limits<float>::quiet_NaN();

/// A map whose pixel value encodes its position, so that crops can be checked exactly.
Image coded_map(std::int64_t h, std::int64_t w) {
  Image im(h, w);
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x) im.at(y, x) = static_cast<float>(y * 10000 + x);
  return im;
}

Source source(std::string id, double x, double y, double bw, double bh, std::string label = "") {
  Source s;
  s.id = std::move(id);
  s.x = x;
  s.y = y;
  s.bbox_w = bw;
  s.bbox_h = bh;
  s.label = std::move(label);
  return s;
}

template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("sliding windows: counts and origins for known map sizes", "[cutout]") {
  CHECK(window_starts(1024, 256, 128, false).size() == 7);
  CHECK(window_starts(256, 256, 128, false) == std::vector<std::int64_t>{0});
  CHECK(window_starts(255, 256, 128, false).empty());
  CHECK(window_starts(300, 256, 128, false) == std::vector<std::int64_t>{0});
  CHECK(window_starts(300, 256, 128, true) == std::vector<std::int64_t>{0, 44});
  CHECK(window_starts(600, 256, 128, false) == std::vector<std::int64_t>{0, 128, 256});
  CHECK(uncurated_stride({}) == 128);
  CHECK(uncurated_stride({.window = 100, .overlap = 0.0}) == 100);
  CHECK(uncurated_stride({.window = 10, .overlap = 0.95}) == 1);  // never 0
  CHECK_THROWS_AS(uncurated_stride({.window = 256, .overlap = 1.0}), Error);

  const Image map = coded_map(520, 600);
  const auto set = uncurated_cutouts(map);
  CHECK(set.stats.n_windows == 9);  // x: 0,128,256  y: 0,128,256
  CHECK(set.stats.n_kept == 9);
  CHECK(set.stats.n_skipped == 0);
  REQUIRE(set.cutouts.size() == 9);
  const auto& c = set.cutouts[5];  // row-major: y0 = 128, x0 = 256
  CHECK(c.x0 == 256);
  CHECK(c.y0 == 128);
  CHECK(c.image.width == 256);
  CHECK(c.image.height == 256);
  CHECK(c.image.at(0, 0) == map.at(128, 256));
  CHECK(c.image.at(255, 255) == map.at(383, 511));

  const auto small = uncurated_cutouts(coded_map(100, 100));
  CHECK(small.stats.n_windows == 0);
  CHECK(small.cutouts.empty());
  const auto covered = uncurated_cutouts(map, {.cover_edges = true});
  CHECK(covered.stats.n_windows == 16);  // x: 0,128,256,344  y: 0,128,256,264
}

TEST_CASE("sliding windows: NaN filled with the window minimum, mostly-NaN windows skipped",
          "[cutout]") {
  // 4 x 4 windows of side 4 (no overlap) over a 16 x 16 map.
  Image map(16, 16, 5.0f);
  for (std::int64_t y = 0; y < 4; ++y)
    for (std::int64_t x = 0; x < 16; ++x) map.at(y, x) = nanf_;  // first window row: all NaN
  for (std::int64_t y = 4; y < 8; ++y)
    for (std::int64_t x = 0; x < 3; ++x) map.at(y, x) = nanf_;   // 12 of 16 NaN: 75 %
  map.at(4, 3) = -2.0f;                                           // window minimum there
  map.at(8, 0) = nanf_;                                           // one NaN: kept
  map.at(9, 1) = -7.0f;
  map.at(15, 15) = -100.0f;  // the global minimum, in another window

  UncuratedOptions opt{.window = 4, .overlap = 0.0};
  auto set = uncurated_cutouts(map, opt);
  CHECK(set.stats.n_windows == 16);
  CHECK(set.stats.n_skipped == 5);  // 4 all-NaN + the 75 % one
  CHECK(set.stats.n_kept == 11);
  for (const auto& c : set.cutouts)
    for (float v : c.image.pixels) CHECK_FALSE(std::isnan(v));
  const auto it = std::find_if(set.cutouts.begin(), set.cutouts.end(),
                               [](const Cutout& c) { return c.x0 == 0 && c.y0 == 8; });
  REQUIRE(it != set.cutouts.end());
  CHECK(it->image.at(0, 0) == -7.0f);  // the window's minimum, not the map's
  CHECK(it->nan_fraction == Approx(1.0 / 16));

  opt.max_nan_fraction = 0.8;
  set = uncurated_cutouts(map, opt);
  CHECK(set.stats.n_skipped == 4);  // all-NaN windows are always skipped
  const auto partial = std::find_if(set.cutouts.begin(), set.cutouts.end(),
                                    [](const Cutout& c) { return c.x0 == 0 && c.y0 == 4; });
  REQUIRE(partial != set.cutouts.end());
  CHECK(partial->image.at(0, 0) == -2.0f);
  CHECK(partial->nan_fraction == Approx(0.75));

  Image constant(3, 3, nanf_);
  CHECK(fill_nan_with_min(constant) == 9);  // all NaN: left alone
  CHECK(std::isnan(constant.pixels[0]));
}

TEST_CASE("curated cut-outs: centred, sized by the factor, clipped at the edge", "[cutout]") {
  const Image map = coded_map(100, 120);
  const std::vector<Source> sources = {
      source("centre", 50, 60, 10, 6, "FRI"),   // side ceil(2.5 * 10) = 25, fully inside
      source("edge", 2, 97, 8, 8, "FRII"),      // side 20, clipped left and top
      source("outside", -40, 50, 4, 4),         // side 10, entirely left of the map
      source("even", 70.0, 30.0, 4, 2),         // side 10: centre within half a pixel
  };
  const auto set = curated_cutouts(map, sources);
  CHECK(set.stats.n_windows == 4);
  CHECK(set.stats.n_kept == 3);
  CHECK(set.stats.n_skipped == 1);
  CHECK(set.stats.n_clipped == 1);
  REQUIRE(set.cutouts.size() == 3);

  const auto& c = set.cutouts[0];
  CHECK(c.source_id == "centre");
  CHECK(c.label == "FRI");
  CHECK_FALSE(c.clipped);
  CHECK(c.image.width == 25);
  CHECK(c.image.height == 25);
  CHECK(c.x0 == 38);
  CHECK(c.y0 == 48);
  CHECK(c.image.at(12, 12) == map.at(60, 50));  // the centre pixel is the source

  const auto& e = set.cutouts[1];
  CHECK(e.clipped);
  CHECK(e.x0 == 0);
  CHECK(e.image.width == 12);           // side 20 from ceil(2 - 10) = -8: [-8, 12) cut to [0, 12)
  CHECK(e.y0 == 87);
  CHECK(e.image.height == 13);          // ceil(97 - 10) = 87: [87, 107) cut to [87, 100)
  CHECK(e.image.at(0, 0) == map.at(e.y0, 0));

  const auto& v = set.cutouts[2];
  CHECK(v.image.width == 10);
  CHECK(std::fabs(v.x0 + 4.5 - 70.0) <= 0.5);
  CHECK(std::fabs(v.y0 + 4.5 - 30.0) <= 0.5);

  // Where the centre falls on a pixel edge, the box starts where astropy's Cutout2D starts it:
  // nddata.utils.overlap_slices((100,), (s,), (x,)) gives 8 for (10.5, 5), 8 for (10, 4), 9 for
  // (10.5, 4), 8 for (10.25, 5) and 9 for (10.75, 4) (astropy 5.2, Debian).
  for (const auto& [x, side, start] : std::vector<std::tuple<double, double, std::int64_t>>{
           {10.5, 5, 8}, {10.0, 4, 8}, {10.5, 4, 9}, {10.25, 5, 8}, {10.75, 4, 9}}) {
    INFO("x " << x << ", side " << side);
    const auto one = curated_cutouts(map, {source("tie", x, 50, side, side)}, {.size_factor = 1.0});
    REQUIRE(one.cutouts.size() == 1);
    CHECK(one.cutouts[0].x0 == start);
    CHECK(one.cutouts[0].y0 == 50 - static_cast<std::int64_t>(side) / 2);  // ceil(50 - s/2)
  }

  const auto bigger = curated_cutouts(map, {sources[0]}, {.size_factor = 4.0});
  CHECK(bigger.cutouts.at(0).image.width == 40);
  const auto floor = curated_cutouts(map, {source("tiny", 50, 50, 1, 1)}, {.min_size = 16});
  CHECK(floor.cutouts.at(0).image.width == 16);

  Image holes = map;
  for (auto& p : holes.pixels) p = nanf_;
  holes.at(60, 50) = 3.0f;
  const auto filled = curated_cutouts(holes, {sources[0]});
  REQUIRE(filled.cutouts.size() == 1);
  CHECK(filled.cutouts[0].image.at(0, 0) == 3.0f);  // NaN filled with the cut-out's minimum
  CHECK(curated_cutouts(holes, {sources[3]}).stats.n_skipped == 1);  // all NaN
}

TEST_CASE("catalogues: pixel or sky positions, sizes in pixels or arcsec, clear errors",
          "[cutout][catalogue]") {
  TempDir dir;
  const radiossl::io::Wcs wcs(radiossl::io::WcsSpec{"SIN", 150.0, 2.0, 64.5, 64.5, 2.0 / 3600});
  std::vector<Source> written = {source("a", 10.25, 20.5, 6, 4, "FRI"),
                                 source("b,2", 100, 3.125, 12, 12, "")};
  for (auto& s : written) std::tie(s.ra_deg, s.dec_deg) = wcs.pixel_to_sky(s.x, s.y);
  written[0].peak_flux = 0.0125;
  radiossl::io::write_catalogue(dir / "cat.csv", written);

  auto back = radiossl::io::read_catalogue(dir / "cat.csv");  // pixel columns: no WCS needed
  REQUIRE(back.size() == 2);
  CHECK(back[1].id == "b,2");
  CHECK(back[0].x == 10.25);
  CHECK(back[0].bbox_w == 6);
  CHECK(back[0].label == "FRI");
  CHECK(back[0].peak_flux == 0.0125);
  CHECK(std::isnan(back[1].peak_flux));
  CHECK(back[0].ra_deg == written[0].ra_deg);

  radiossl::io::CatalogueReadOptions sky{radiossl::io::PositionSource::sky};
  back = radiossl::io::read_catalogue(dir / "cat.csv", &wcs, sky);
  CHECK(back[0].x == Approx(10.25).margin(1e-6));
  CHECK(back[1].y == Approx(3.125).margin(1e-6));

  {
    std::ofstream out(dir / "arcsec.csv");
    out.precision(17);
    out << "# a comment\nName,RA,DEC,Size_Arcsec,Class\n"
        << "s1," << written[0].ra_deg << "," << written[0].dec_deg << ",20,FRII\n\n";
  }
  back = radiossl::io::read_catalogue(dir / "arcsec.csv", &wcs);
  REQUIRE(back.size() == 1);
  CHECK(back[0].id == "s1");
  CHECK(back[0].bbox_w == Approx(10.0));  // 20 arcsec / 2 arcsec per pixel
  CHECK(back[0].x == Approx(10.25).margin(1e-6));
  CHECK(back[0].label == "FRII");

  CHECK(error_of([&] { (void)radiossl::io::read_catalogue(dir / "arcsec.csv"); })
            .find("WCS") != std::string::npos);
  { std::ofstream(dir / "bad.csv") << "x,y,bbox_w,bbox_h\n1,2,3,4\n5,six,7,8\n"; }
  const auto bad = error_of([&] { (void)radiossl::io::read_catalogue(dir / "bad.csv"); });
  CHECK(bad.find("bad.csv:3") != std::string::npos);
  CHECK(bad.find("'six'") != std::string::npos);
  // A leading '+' (declinations) reads; a doubled sign does not.
  { std::ofstream(dir / "signed.csv") << "x,y,bbox_w,bbox_h\n+1.5,-2,+3,4\n"; }
  back = radiossl::io::read_catalogue(dir / "signed.csv");
  REQUIRE(back.size() == 1);
  CHECK(back[0].x == 1.5);
  CHECK(back[0].y == -2.0);
  CHECK(back[0].bbox_w == 3.0);
  { std::ofstream(dir / "twosigns.csv") << "x,y,bbox_w,bbox_h\n+-1,2,3,4\n"; }
  CHECK(error_of([&] { (void)radiossl::io::read_catalogue(dir / "twosigns.csv"); })
            .find("'+-1'") != std::string::npos);
  { std::ofstream(dir / "short.csv") << "x,y,bbox_w,bbox_h\n1,2,3\n"; }
  CHECK(error_of([&] { (void)radiossl::io::read_catalogue(dir / "short.csv"); })
            .find("short.csv:2: 3 fields") != std::string::npos);
  { std::ofstream(dir / "nosize.csv") << "x,y\n1,2\n"; }
  CHECK(error_of([&] { (void)radiossl::io::read_catalogue(dir / "nosize.csv"); })
            .find("no size columns") != std::string::npos);
  CHECK(error_of([&] { (void)radiossl::io::read_catalogue(dir / "nope.csv"); })
            .find("nope.csv") != std::string::npos);
}

TEST_CASE("build_*_set write FITS cut-outs with shifted WCS, info.json and a manifest",
          "[cutout]") {
  TempDir dir;
  Image map(200, 300);
  for (std::int64_t y = 0; y < 200; ++y)
    for (std::int64_t x = 0; x < 300; ++x) map.at(y, x) = static_cast<float>(std::sin(0.1 * x) + y);
  for (std::int64_t y = 0; y < 200; ++y) map.at(y, 0) = nanf_;
  radiossl::io::FitsWriteOptions wopt;
  wopt.wcs = radiossl::io::WcsSpec{"SIN", 150.0, 2.0, 150.5, 100.5, 1.8 / 3600};
  wopt.beam = radiossl::io::Beam{1.5e-3, 1.5e-3, 0.0};
  wopt.radio_axes = true;
  write_fits(dir / "map.fits", map, wopt);
  const auto map_wcs = radiossl::io::read_fits(dir / "map.fits").wcs;

  const auto un = build_uncurated_set(dir / "map.fits", dir / "uncurated",
                                      {.window = 64, .overlap = 0.5});
  CHECK(un.stats.n_windows == 8 * 5);  // x: 0..224 step 32 (8), y: 0..128 step 32 (5)
  CHECK(un.stats.n_kept == 40);
  REQUIRE(un.files.size() == 40);
  std::ifstream info_in(un.info_json);
  const auto info = nlohmann::json::parse(info_in);
  REQUIRE(info.size() == 40);
  CHECK(info["0"]["target_path"] == "cutout_000000.fits");
  CHECK(info["9"]["x0"] == 32);
  CHECK(info["9"]["y0"] == 32);
  const auto c9 = radiossl::io::read_fits(dir / "uncurated" / info["9"]["target_path"].get<std::string>());
  CHECK(c9.image.width == 64);
  CHECK(c9.image.at(10, 20) == map.at(42, 52));
  REQUIRE(c9.beam);
  CHECK(c9.beam->bmaj_deg == Approx(1.5e-3));
  REQUIRE(c9.wcs.valid());
  const auto [l1, b1] = c9.wcs.pixel_to_sky(0.0, 0.0);
  const auto [l2, b2] = map_wcs.pixel_to_sky(32.0, 32.0);
  CHECK(l1 == Approx(l2).margin(1e-10));
  CHECK(b1 == Approx(b2).margin(1e-10));
  const auto c0 = radiossl::io::read_fits_image(un.files.front());
  float window_min = std::numeric_limits<float>::infinity();
  for (std::int64_t y = 0; y < 64; ++y)
    for (std::int64_t x = 1; x < 64; ++x) window_min = std::min(window_min, map.at(y, x));
  CHECK(c0.at(5, 0) == window_min);  // NaN filled with the window's minimum
  for (float v : c0.pixels) CHECK_FALSE(std::isnan(v));

  std::ifstream manifest(un.manifest);
  std::string header;
  std::getline(manifest, header);
  CHECK(header == "path,label,x0,y0,width,height,source_id");
  // The manifest reads back as an unlabeled list of the same files (pretraining, embed).
  const auto listed = radiossl::io::read_csv_manifest(un.manifest);
  CHECK(listed.paths == un.files);
  CHECK(std::all_of(listed.labels.begin(), listed.labels.end(), [](auto l) { return l == -1; }));

  // Curated, from a catalogue of sky positions (the map's own WCS converts them).
  std::vector<Source> cat = {source("s1", 100.0, 50.0, 10, 10, "FRI"),
                             source("s2", 295.0, 195.0, 8, 8, "FRII")};
  for (auto& s : cat) std::tie(s.ra_deg, s.dec_deg) = map_wcs.pixel_to_sky(s.x, s.y);
  {
    std::ofstream out(dir / "sky.csv");
    out.precision(17);
    out << "id,ra,dec,bbox_w,bbox_h,class\n";
    for (const auto& s : cat)
      out << s.id << ',' << s.ra_deg << ',' << s.dec_deg << ',' << s.bbox_w << ',' << s.bbox_h
          << ',' << s.label << '\n';
  }
  const auto cu = build_curated_set(dir / "map.fits", dir / "sky.csv", dir / "curated", {},
                                    {.prefix = "src"});
  CHECK(cu.stats.n_kept == 2);
  CHECK(cu.stats.n_clipped == 1);
  REQUIRE(cu.files.size() == 2);
  CHECK(cu.files[0].filename() == "src_000000.fits");
  const auto cinfo = nlohmann::json::parse(std::ifstream(cu.info_json));
  CHECK(cinfo["0"]["source_id"] == "s1");
  CHECK(cinfo["0"]["label"] == "FRI");
  CHECK(cinfo["0"]["width"] == 25);
  CHECK(cinfo["1"]["clipped"] == true);
  const auto s1 = radiossl::io::read_fits(cu.files[0]);
  const auto [cx, cy] = s1.wcs.sky_to_pixel(cat[0].ra_deg, cat[0].dec_deg);
  CHECK(cx == Approx(12.0).margin(1e-6));  // the source sits at the cut-out's centre pixel
  CHECK(cy == Approx(12.0).margin(1e-6));

  if (fs::exists("/usr/bin/fitsverify")) {
    const auto v = radiossl::test::run_command(
        "/usr/bin/fitsverify " + radiossl::test::quote(cu.files[0]), dir.path());
    INFO(v.out);
    CHECK(v.out.find("0 warning(s) and 0 error(s)") != std::string::npos);
  } else {
    WARN("fitsverify not installed: check skipped");
  }
  const auto missing = error_of([&] {
    (void)build_curated_set(dir / "map.fits", dir / "none.csv", dir / "x");
  });
  CHECK(missing.find("none.csv") != std::string::npos);
}

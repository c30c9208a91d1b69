// Synthetic radio sky: catalogue at flux peaks, noise level and beam, labeled-set classes and balance,
// files readable by radiossl, fitsverify and astropy, byte-for-byte determinism.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <numbers>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "radiossl/io/catalogue.hpp"
#include "radiossl/io/fits.hpp"
#include "radiossl/io/manifest.hpp"
#include "radiossl/sim/fft.hpp"
#include "radiossl/sim/gallery.hpp"
#include "radiossl/sim/sets.hpp"
#include "radiossl/sim/sky.hpp"
#include "support/fits_fixture.hpp"

namespace fs = std::filesystem;
using namespace radiossl;

namespace {

/// SMGPS-like parameters without the artefacts that move flux around (for the measurement tests).
sim::SkyParams clean_params(std::int64_t size) {
  sim::SkyParams p = sim::SkyParams::smgps();
  p.width = p.height = size;
  p.background_amplitude = 0.0;
  p.sidelobe_strength = 0.0;
  p.bowl_depth = 0.0;
  p.seam_probability = 0.0;
  p.nan_border_probability = 0.0;
  return p;
}

/// Robust sigma (1.4826 x MAD) of the values.
double mad_sigma(std::vector<float> v) {
  auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  const float med = *mid;
  for (auto& x : v) x = std::fabs(x - med);
  std::nth_element(v.begin(), mid, v.end());
  return 1.4826 * *mid;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// simulate_sky on the smoke preset (seed 4) into `dir`/`name`, with `extra` arguments.
test::CommandResult simulate_smoke(const test::TempDir& dir, const std::string& name, const std::string& extra) {
  const fs::path exe = fs::path(RADIOSSL_BINARY_DIR) / "examples" / "simulate_sky";
  REQUIRE(fs::exists(exe));
  return test::run_command(test::quote(exe) + " --out " + test::quote(dir / name) + " --seed 4 --preset smoke " + extra,
                           dir.path());
}

std::vector<fs::path> files_under(const fs::path& root, const std::string& ext = "") {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file() && (ext.empty() || e.path().extension() == ext)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

/// The smoke dataset of seed 1, generated once per test run.
const fs::path& smoke_dataset() {
  static test::TempDir dir;
  static bool done = false;
  if (!done) {
    sim::GenerateOptions opt;
    opt.out = dir.path() / "smoke";
    opt.seed = 1;
    opt.preset = sim::DatasetPreset::smoke();
    opt.threads = 2;
    sim::generate_dataset(opt);
    done = true;
  }
  static const fs::path root = dir.path() / "smoke";
  return root;
}

/// Half-maximum radius of a centred normalised autocorrelation grid along direction (ux, uy).
double half_max_radius(const std::vector<double>& acf, std::int64_t max_lag, double ux, double uy) {
  const std::int64_t side = 2 * max_lag + 1;
  auto at = [&](double x, double y) {  // bilinear, lag coordinates
    const double gx = x + static_cast<double>(max_lag), gy = y + static_cast<double>(max_lag);
    const auto x0 = static_cast<std::int64_t>(std::floor(gx)), y0 = static_cast<std::int64_t>(std::floor(gy));
    const double fx = gx - static_cast<double>(x0), fy = gy - static_cast<double>(y0);
    auto v = [&](std::int64_t yy, std::int64_t xx) { return acf[static_cast<std::size_t>(yy * side + xx)]; };
    return (1 - fy) * ((1 - fx) * v(y0, x0) + fx * v(y0, x0 + 1)) + fy * ((1 - fx) * v(y0 + 1, x0) + fx * v(y0 + 1, x0 + 1));
  };
  double prev = 1.0;
  for (double r = 0.05; r < static_cast<double>(max_lag) - 1.0; r += 0.05) {
    const double cur = at(r * ux, r * uy);
    if (cur <= 0.5) return r - 0.05 * (0.5 - cur) / (prev - cur);
    prev = cur;
  }
  return static_cast<double>(max_lag);
}

}  // namespace

TEST_CASE("sim: catalogue positions sit on flux peaks above 5 sigma", "[sim]") {
  const auto p = clean_params(384);
  const auto sky = sim::render_sky(p, 11);
  REQUIRE(sky.catalogue.size() >= 10);
  const io::Wcs wcs(sky.wcs);
  const double rms = p.noise_rms, r = 0.5 * p.beam_px().fwhm();
  int bright = 0;
  for (const auto& o : sky.catalogue) {
    const auto& f = o.footprint;
    CHECK(f.peak_flux >= 5.0 * rms);
    const auto x = std::llround(f.peak_x), y = std::llround(f.peak_y);
    REQUIRE(x >= 0);
    REQUIRE(y >= 0);
    REQUIRE(x < p.width);
    REQUIRE(y < p.height);
    // The map there holds the catalogued peak (plus noise and any neighbour, which only adds).
    CHECK(sky.map.at(y, x) >= f.peak_flux - 4.5 * rms);
    // Bright sources: the brightest map pixel within half a beam is at most 1.5 px away.
    if (f.peak_flux >= 30.0 * rms && o.kind == "point") {
      ++bright;
      double best = -1e30, bx = 0, by = 0;
      for (auto yy = std::max<std::int64_t>(0, y - static_cast<std::int64_t>(r)); yy <= std::min<std::int64_t>(p.height - 1, y + static_cast<std::int64_t>(r)); ++yy)
        for (auto xx = std::max<std::int64_t>(0, x - static_cast<std::int64_t>(r)); xx <= std::min<std::int64_t>(p.width - 1, x + static_cast<std::int64_t>(r)); ++xx)
          if (sky.map.at(yy, xx) > best) {
            best = sky.map.at(yy, xx);
            bx = static_cast<double>(xx);
            by = static_cast<double>(yy);
          }
      CHECK(std::hypot(bx - f.peak_x, by - f.peak_y) <= 1.5);
    }
    // RA/Dec are the WCS position of the peak.
    const auto [px, py] = wcs.sky_to_pixel(o.ra_deg, o.dec_deg);
    CHECK(std::fabs(px - f.peak_x) < 1e-6);
    CHECK(std::fabs(py - f.peak_y) < 1e-6);
  }
  CHECK(bright >= 3);
}

TEST_CASE("sim: noise rms of empty regions matches the requested rms within 10%", "[sim]") {
  for (const auto& base : {sim::SkyParams::smgps(), sim::SkyParams::first()}) {
    auto p = base;
    p.width = p.height = 384;
    p.background_amplitude = 0.0;
    p.sidelobe_strength = 0.0;
    p.seam_probability = 0.0;
    p.nan_border_probability = 0.0;
    const auto sky = sim::render_sky(p, 5);
    // Mask every catalogued box grown by two beams; the rest is "empty sky".
    std::vector<unsigned char> mask(sky.map.size(), 0);
    const auto grow = static_cast<std::int64_t>(2.0 * p.beam_px().fwhm());
    for (const auto& o : sky.catalogue) {
      const auto& f = o.footprint;
      for (auto y = std::max<std::int64_t>(0, f.bbox_y0 - grow); y < std::min(p.height, f.bbox_y0 + f.bbox_h + grow); ++y)
        for (auto x = std::max<std::int64_t>(0, f.bbox_x0 - grow); x < std::min(p.width, f.bbox_x0 + f.bbox_w + grow); ++x)
          mask[static_cast<std::size_t>(y * p.width + x)] = 1;
    }
    std::vector<float> empty;
    for (std::size_t i = 0; i < mask.size(); ++i)
      if (!mask[i]) empty.push_back(sky.map.pixels[i]);
    INFO(p.survey << ": " << empty.size() << " empty pixels");
    REQUIRE(empty.size() > 20000);
    CHECK(mad_sigma(empty) == Approx(p.noise_rms).epsilon(0.10));
  }
}

TEST_CASE("sim: the header beam is the beam the noise and the sources carry", "[sim]") {
  test::TempDir dir;
  auto p = clean_params(256);
  p.beam_major_arcsec = 9.0;
  p.beam_minor_arcsec = 6.0;
  p.beam_pa_deg = 30.0;
  p.compact_density = 0.0;
  p.extended_density = 0.0;
  const auto sky = sim::render_sky(p, 3);
  io::FitsWriteOptions w;
  w.wcs = sky.wcs;
  w.beam = sim::fits_beam(p);
  w.radio_axes = true;
  io::write_fits(dir / "noise.fits", sky.map, w);
  const auto back = io::read_fits(dir / "noise.fits");
  REQUIRE(back.beam.has_value());
  const double px_deg = back.wcs.pixel_scale_deg();
  const double bmaj = back.beam->bmaj_deg / px_deg, bmin = back.beam->bmin_deg / px_deg;
  const double pa = back.beam->bpa_deg * std::numbers::pi / 180.0;
  // Noise = white noise through the beam, so its autocorrelation is the beam convolved with itself:
  // a Gaussian sqrt(2) times wider along the same axes.
  std::vector<double> data(back.image.pixels.begin(), back.image.pixels.end());
  const std::int64_t lag = 20;
  const auto acf = sim::autocorrelation(data, back.image.height, back.image.width, lag);
  const double fwhm_major = std::sqrt(2.0) * half_max_radius(acf, lag, -std::sin(pa), std::cos(pa));
  const double fwhm_minor = std::sqrt(2.0) * half_max_radius(acf, lag, std::cos(pa), std::sin(pa));
  CHECK(fwhm_major == Approx(bmaj).epsilon(0.10));
  CHECK(fwhm_minor == Approx(bmin).epsilon(0.10));
  // A point source is the beam itself: its second moments give the same axes.
  const auto patch = sim::rasterize(sim::make_point(50.3, 60.7), p.beam_px());
  double s = 0, mx = 0, my = 0;
  for (std::int64_t y = 0; y < patch.h; ++y)
    for (std::int64_t x = 0; x < patch.w; ++x) {
      const double v = patch.at(y, x);
      s += v;
      mx += v * static_cast<double>(x + patch.x0);
      my += v * static_cast<double>(y + patch.y0);
    }
  mx /= s;
  my /= s;
  CHECK(mx == Approx(50.3).margin(1e-3));
  CHECK(my == Approx(60.7).margin(1e-3));
  double cxx = 0, cxy = 0, cyy = 0;
  for (std::int64_t y = 0; y < patch.h; ++y)
    for (std::int64_t x = 0; x < patch.w; ++x) {
      const double v = patch.at(y, x) / s, dx = static_cast<double>(x + patch.x0) - mx, dy = static_cast<double>(y + patch.y0) - my;
      cxx += v * dx * dx;
      cxy += v * dx * dy;
      cyy += v * dy * dy;
    }
  const double tr = cxx + cyy, det = cxx * cyy - cxy * cxy;
  const double l1 = tr / 2 + std::sqrt(tr * tr / 4 - det), l2 = tr / 2 - std::sqrt(tr * tr / 4 - det);
  CHECK(std::sqrt(l1) * sim::fwhm_per_sigma == Approx(bmaj).epsilon(0.10));
  CHECK(std::sqrt(l2) * sim::fwhm_per_sigma == Approx(bmin).epsilon(0.10));
  CHECK(patch.v.size() > 0);
  CHECK(*std::max_element(patch.v.begin(), patch.v.end()) == Approx(1.0).epsilon(0.02));  // S Jy -> S Jy/beam
}

TEST_CASE("sim: RGZ, MSRS and VLASS cut-outs show the islands and peaks their class names", "[sim]") {
  const auto pr = sim::DatasetPreset::smoke();
  for (int cls = 0; cls < 6; ++cls)
    for (int k = 0; k < 3; ++k) {
      const auto c = sim::make_rgz_cutout(9, k, cls, pr.rgz_min_size, pr.rgz_max_size);
      const auto [islands, peaks] = sim::rgz_islands_peaks(cls);
      INFO("RGZ " << sim::rgz_classes()[static_cast<std::size_t>(cls)] << " #" << k);
      CHECK(c.target.islands == islands);
      CHECK(c.target.peaks == peaks);
      CHECK(c.label == cls);
    }
  for (int k = 0; k < 4; ++k) {
    const auto one = sim::make_msrs_cutout(9, k, 0, pr.msrs_min_size, pr.msrs_max_size);
    CHECK(one.target.islands == 1);
    const auto ext = sim::make_msrs_cutout(9, k, 2, pr.msrs_min_size, pr.msrs_max_size);
    CHECK(ext.target.islands == 1);
    const auto mi = sim::make_msrs_cutout(9, k, 3, pr.msrs_min_size, pr.msrs_max_size);
    CHECK(mi.target.islands >= 2);
    const auto bg = sim::make_msrs_cutout(9, k, 4, pr.msrs_min_size, pr.msrs_max_size);
    CHECK(mad_sigma(bg.image.pixels) == Approx(bg.params.noise_rms).epsilon(0.35));  // noise only
    CHECK(sim::make_vlass_cutout(9, k, 1, 64).target.peaks == 2);
    CHECK(sim::make_vlass_cutout(9, k, 2, 64).target.peaks == 3);
  }
}

TEST_CASE("sim: labeled sets have the asked class balance and read back through the loaders", "[sim]") {
  const auto& root = smoke_dataset();
  const auto pr = sim::DatasetPreset::smoke();
  for (const auto& set : sim::labeled_set_names()) {
    INFO(set);
    const auto& classes = sim::classes_of(set);
    const auto csv = io::read_csv_manifest(root / "labeled" / set / "manifest.csv");
    const auto info = io::read_info_json(root / "labeled" / set / "info.json");
    REQUIRE(csv.class_names == classes);
    REQUIRE(info.class_names == classes);
    REQUIRE(csv.paths == info.paths);
    std::vector<std::int64_t> counts(classes.size(), 0);
    for (auto l : csv.labels) ++counts[static_cast<std::size_t>(l)];
    std::vector<std::int64_t> want(classes.size(), set == "rgz" ? pr.rgz_per_class : set == "msrs" ? pr.msrs_per_class : pr.vlass_per_class);
    if (set == "mirabest") want = pr.mirabest_counts;
    CHECK(counts == want);
    for (const auto& path : csv.paths) {
      const auto img = io::read_fits(path);
      CHECK(img.bunit == "Jy/beam");
      CHECK(img.beam.has_value());
      CHECK(img.wcs.valid());
      if (set == "mirabest") CHECK(img.image.width == pr.mirabest_size);
      if (set == "vlass") CHECK(img.image.height == pr.vlass_size);
    }
  }
  // Maps and catalogues: NAXIS 4 read back squeezed, catalogue rows with classes and fluxes.
  const auto json = nlohmann::json::parse(slurp(root / "dataset.json"));
  REQUIRE(json["maps"].size() == 2);
  for (const auto& m : json["maps"]) {
    const auto map = io::read_fits(root / m["fits"].get<std::string>());
    CHECK(map.image.width == pr.map_size);
    REQUIRE(map.beam.has_value());
    CHECK(map.beam->bmaj_deg * 3600.0 == Approx(m["params"]["beam_major_arcsec"].get<double>()));
    const auto cat = io::read_catalogue(root / m["catalogue"].get<std::string>(), &map.wcs);
    REQUIRE(cat.size() > 5);
    for (const auto& s : cat) {
      CHECK(!s.label.empty());
      CHECK(s.peak_flux >= 5.0 * m["params"]["noise_rms_jy_per_beam"].get<double>());
    }
  }
  CHECK(json["pretraining"]["curated"]["count"].get<std::int64_t>() > 0);
  CHECK(json["pretraining"]["uncurated"]["count"].get<std::int64_t>() > 0);
  const auto unc = io::read_info_json(root / "pretrain" / "uncurated" / "info.json");
  CHECK(static_cast<std::int64_t>(unc.size()) == json["pretraining"]["uncurated"]["count"].get<std::int64_t>());
  for (const auto& path : unc.paths) CHECK(io::read_fits(path).image.width == pr.window);
}

TEST_CASE("sim: every written FITS file passes fitsverify and reads through astropy", "[sim]") {
  const auto& root = smoke_dataset();
  const auto fits = files_under(root, ".fits");
  REQUIRE(fits.size() > 50);
  test::TempDir tmp;
  if (fs::exists("/usr/bin/fitsverify")) {
    std::string cmd = "/usr/bin/fitsverify -q -e";
    for (const auto& f : fits) cmd += " " + test::quote(f);
    const auto r = test::run_command(cmd, tmp.path());
    INFO(r.out << r.err);
    CHECK(r.status == 0);
    std::size_t ok = 0;
    for (std::size_t pos = 0; (pos = r.out.find("verification OK", pos)) != std::string::npos; ++pos) ++ok;
    CHECK(ok == fits.size());
  } else {
    WARN("fitsverify not installed (/usr/bin/fitsverify): skipped");
  }
  if (test::run_command("/usr/bin/python3 -c 'import astropy, numpy'", tmp.path()).status == 0) {
    std::ofstream list(tmp / "files.txt");
    for (const auto& f : fits) list << f.string() << "\n";
    list.close();
    std::ofstream py(tmp / "check.py");
    py << "import sys, numpy as np\nfrom astropy.io import fits\nfrom astropy.wcs import WCS\nbad = 0\n"
          "for p in open(sys.argv[1]).read().split():\n"
          "    with fits.open(p) as h:\n"
          "        d = h[0].data; hd = h[0].header\n"
          "        w = WCS(hd).celestial\n"
          "        ok = d is not None and d.dtype.kind == 'f' and hd['BUNIT'] == 'Jy/beam' and hd['BMAJ'] > 0 \\\n"
          "             and w.has_celestial and 'SIN' in hd['CTYPE1'] and np.isfinite(d).any()\n"
          "        if '/maps/' in p: ok = ok and d.ndim == 4 and d.shape[:2] == (1, 1)\n"
          "        if not ok: bad += 1; print('BAD', p)\n"
          "print('checked', len(open(sys.argv[1]).read().split()), 'bad', bad)\nsys.exit(1 if bad else 0)\n";
    py.close();
    const auto r = test::run_command("/usr/bin/python3 " + test::quote(tmp / "check.py") + " " + test::quote(tmp / "files.txt"),
                                     tmp.path());
    INFO(r.out << r.err);
    CHECK(r.status == 0);
  } else {
    WARN("astropy not importable by /usr/bin/python3: skipped");
  }
}

TEST_CASE("sim: same seed gives identical bytes, a different seed a different sky", "[sim]") {
  const auto& a = smoke_dataset();  // seed 1, 2 threads
  test::TempDir dir;
  sim::GenerateOptions opt;
  opt.out = dir.path() / "again";
  opt.seed = 1;
  opt.preset = sim::DatasetPreset::smoke();
  opt.threads = 1;  // another schedule: the bytes must not depend on it
  sim::generate_dataset(opt);
  const auto fa = files_under(a), fb = files_under(opt.out);
  REQUIRE(fa.size() == fb.size());
  for (std::size_t i = 0; i < fa.size(); ++i) {
    INFO(fa[i]);
    REQUIRE(fs::relative(fa[i], a) == fs::relative(fb[i], opt.out));
    CHECK(slurp(fa[i]) == slurp(fb[i]));
  }
  auto p = sim::SkyParams::smgps();
  p.width = p.height = 256;
  const auto m1 = sim::render_sky(p, 1), m2 = sim::render_sky(p, 2), m1b = sim::render_sky(p, 1);
  // Bytes, not floats: blanked borders are NaN, and NaN != NaN.
  auto same_bytes = [](const Image& a, const Image& b) {
    return a.size() == b.size() && std::memcmp(a.pixels.data(), b.pixels.data(), a.size() * sizeof(float)) == 0;
  };
  CHECK(same_bytes(m1.map, m1b.map));
  CHECK(!same_bytes(m1.map, m2.map));
  CHECK(m1.catalogue.size() != m2.catalogue.size());
  const auto c1 = sim::make_labeled_cutout("mirabest", sim::DatasetPreset::smoke(), 1, 0, 0);
  const auto c2 = sim::make_labeled_cutout("mirabest", sim::DatasetPreset::smoke(), 2, 0, 0);
  CHECK(!same_bytes(c1.image, c2.image));
}

TEST_CASE("sim: simulate_sky writes a dataset and a gallery, and rejects bad arguments", "[sim]") {
  const fs::path exe = fs::path(RADIOSSL_BINARY_DIR) / "examples" / "simulate_sky";
  REQUIRE(fs::exists(exe));
  test::TempDir dir;
  const auto ok = test::run_command(test::quote(exe) + " --out " + test::quote(dir / "d") + " --seed 4 --preset smoke --threads 2 --gallery " +
                                        test::quote(dir / "g.png"),
                                    dir.path());
  INFO(ok.err);
  CHECK(ok.status == 0);
  CHECK(ok.err.find("labeled: vlass") != std::string::npos);  // progress lines
  CHECK(fs::exists(dir / "d" / "dataset.json"));
  CHECK(fs::exists(dir / "d" / "README.md"));
  const auto g = io::read_png(dir / "g.png");
  CHECK(g.height > 17 * 96);
  const auto bad_preset = test::run_command(test::quote(exe) + " --out " + test::quote(dir / "x") + " --seed 1 --preset huge", dir.path());
  CHECK(bad_preset.status != 0);
  CHECK(bad_preset.err.find("--preset 'huge'") != std::string::npos);
}

TEST_CASE("sim: simulate_sky --smgps-maps/--emu-maps replace the preset's map counts", "[sim]") {
  test::TempDir dir;
  const auto run = [&](const std::string& name, const std::string& maps) { return simulate_smoke(dir, name, maps); };
  const auto two = run("two", "--smgps-maps 2 --emu-maps 0");
  INFO(two.err);
  REQUIRE(two.status == 0);
  CHECK(two.out.find("\"maps\":2,") != std::string::npos);
  CHECK(fs::exists(dir / "two" / "maps" / "smgps_001.fits"));
  CHECK(!fs::exists(dir / "two" / "maps" / "emu_000.fits"));
  std::ifstream in(dir / "two" / "dataset.json");
  const auto doc = nlohmann::json::parse(in);
  CHECK(doc.at("smgps_maps") == 2);
  CHECK(doc.at("emu_maps") == 0);
  CHECK(doc.at("preset_note").get<std::string>().find("2 SMGPS-like, 0 EMU-like") != std::string::npos);
  const auto none = run("none", "--smgps-maps 0");
  CHECK(none.status != 0);
  CHECK(none.err.find("at least one SMGPS-like map") != std::string::npos);
}

TEST_CASE("sim: simulate_sky --labeled-scale multiplies the labeled counts and keeps the preset's images", "[sim]") {
  test::TempDir dir;
  const auto run = [&](const std::string& name, const std::string& extra) { return simulate_smoke(dir, name, extra); };
  const auto one = run("one", "");
  const auto three = run("three", "--labeled-scale 3");
  INFO(three.err);
  REQUIRE(one.status == 0);
  REQUIRE(three.status == 0);
  const auto preset = sim::DatasetPreset::smoke();
  for (const auto& set : sim::labeled_set_names()) {
    const auto small = io::read_labeled_set(dir / "one" / "labeled" / set / "manifest.csv");
    const auto large = io::read_labeled_set(dir / "three" / "labeled" / set / "manifest.csv");
    INFO(set);
    CHECK(large.paths.size() == 3 * small.paths.size());
    std::vector<std::int64_t> per_class(large.class_names.size(), 0);
    for (auto l : large.labels) ++per_class[static_cast<std::size_t>(l)];
    for (std::size_t c = 0; c < per_class.size(); ++c) {
      const auto want = set == "mirabest" ? preset.mirabest_counts[c]
                        : set == "rgz"    ? preset.rgz_per_class
                        : set == "msrs"   ? preset.msrs_per_class
                                          : preset.vlass_per_class;
      CHECK(per_class[c] == 3 * want);
    }
    // Every image of the preset's own set is in the larger one, byte for byte.
    for (const auto& p : small.paths) {
      const auto twin = dir / "three" / p.lexically_relative(dir / "one");
      REQUIRE(fs::exists(twin));
      CHECK(slurp(p) == slurp(twin));
    }
  }
  // The maps and pretraining sets do not change.
  CHECK(slurp(dir / "one" / "maps" / "smgps_000.fits") == slurp(dir / "three" / "maps" / "smgps_000.fits"));
  std::ifstream in(dir / "three" / "dataset.json");
  const auto doc = nlohmann::json::parse(in);
  CHECK(doc.at("labeled_scale") == 3);
  CHECK(doc.at("preset_note").get<std::string>().find("labeled sets 3x") != std::string::npos);
  const auto zero = run("zero", "--labeled-scale 0");
  CHECK(zero.status != 0);
  CHECK(zero.err.find("must be at least 1") != std::string::npos);
}

/// @file
/// examples/embed end to end: features of FITS cut-outs from a CSV manifest or a directory, as CSV
/// and .npy, equal to those the evaluation computes in-process; bad files and bad options.

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "radiossl/augment/presets.hpp"
#include "radiossl/backbone/checkpoint.hpp"
#include "radiossl/backbone/winograd_conv.hpp"
#include "radiossl/eval/features.hpp"
#include "radiossl/io/fits.hpp"
#include "radiossl/io/manifest.hpp"
#include "radiossl/io/npy.hpp"
#include "support/fits_fixture.hpp"

namespace fs = std::filesystem;
using namespace radiossl;

namespace {

const std::string embed_exe = RADIOSSL_BINARY_DIR "/examples/embed";

/// A fresh directory under the system temp dir, removed at scope exit.
/// Runs `args` through embed with stderr to `err`; the exit code.
int run_embed(const std::string& args, const fs::path& err) {
  const int rc = std::system((embed_exe + " " + args + " > /dev/null 2> " + err.string()).c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::vector<std::string>> read_csv(const fs::path& p) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) rows.push_back(io::detail::split_csv_line(line));
  return rows;
}

/// A cut-out with a Gaussian blob over noise, a different one for each seed, with a NaN pixel.
Image cutout(unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  Image img(40, 40);
  const float cx = 15.0f + static_cast<float>(seed % 7), cy = 20.0f - static_cast<float>(seed % 5);
  for (std::int64_t y = 0; y < 40; ++y)
    for (std::int64_t x = 0; x < 40; ++x) {
      const float r2 = (static_cast<float>(x) - cx) * (static_cast<float>(x) - cx) +
                       (static_cast<float>(y) - cy) * (static_cast<float>(y) - cy);
      img.at(y, x) = std::exp(-r2 / (8.0f + static_cast<float>(seed))) + noise(gen);
    }
  img.at(0, 0) = std::numeric_limits<float>::quiet_NaN();
  return img;
}

}  // namespace

TEST_CASE("embed: manifest -> CSV and .npy features equal to the evaluation's", "[embed]") {
  test::TempDir dir;
  const auto data = dir / "data";  // the cut-outs only: outputs (.npy) elsewhere
  fs::create_directories(data);
  const std::vector<std::string> good{"a.fits", "b.fits", "c.fits", "d.fits"};
  const std::vector<std::string> classes{"FRI", "FRII", "FRI", "FRII"};
  eval::LabeledImages images;
  for (std::size_t i = 0; i < good.size(); ++i) {
    images.images.push_back(cutout(static_cast<unsigned>(i + 1)));
    images.labels.push_back(static_cast<std::int64_t>(i % 2));
    io::write_fits(data / good[i], images.images.back());
  }
  std::ofstream(data / "broken.fits") << "this is not a FITS file";
  // The bad entries sit inside batches of 2 next to good ones: rows must still match their files.
  std::ofstream(data / "manifest.csv") << "path,label\na.fits,FRI\nmissing.fits,FRII\nb.fits,FRII\n"
                                              "c.fits,FRI\nbroken.fits,FRI\nd.fits,FRII\n";
  torch::manual_seed(7);
  backbone::ResNet18 net;
  backbone::save_backbone(net, dir / "r18.pt");

  const auto err = dir / "err.txt";
  const auto out = dir / "out" / "feat";
  REQUIRE(run_embed("--data " + (data / "manifest.csv").string() + " --weights " + (dir / "r18.pt").string() +
                        " --size 32 --batch 2 --threads 1 --out " + out.string(),
                    err) == 0);
  const auto log = read_text(err);
  INFO(log);
  CHECK(log.find("missing.fits") != std::string::npos);
  CHECK(log.find("broken.fits") != std::string::npos);
  CHECK(log.find("2 unreadable skipped") != std::string::npos);
  CHECK(log.find("random") == std::string::npos);

  const auto rows = read_csv(out.string() + ".csv");
  REQUIRE(rows.size() == 1 + good.size());
  REQUIRE(rows[0].size() == 2 + 512);
  CHECK(rows[0][0] == "file");
  CHECK(rows[0][1] == "label");
  CHECK(rows[0][2] == "f0");
  CHECK(rows[0][513] == "f511");
  const Image npy = io::read_npy(out.string() + ".npy");
  REQUIRE(npy.channels == 1);
  REQUIRE(npy.height == static_cast<std::int64_t>(good.size()));
  REQUIRE(npy.width == 512);

  // The same backbone through the evaluation's loader and feature extraction, in this process.
  eval::EvalSettings settings;
  settings.image_size = 32;
  auto loader = eval::make_loader(images, augment::Eval(32), 3, false, settings, 0);
  const auto expected = eval::extract_features(net, loader, 0, torch::kCPU).first.contiguous();
  REQUIRE(expected.size(0) == static_cast<std::int64_t>(good.size()));

  double max_diff = 0.0;
  std::size_t csv_vs_npy = 0;
  for (std::size_t i = 0; i < good.size(); ++i) {
    const auto& row = rows[i + 1];
    REQUIRE(row.size() == 2 + 512);
    CHECK(row[0] == (data / good[i]).string());
    CHECK(row[1] == classes[i]);
    for (std::int64_t j = 0; j < 512; ++j) {
      const float v = std::stof(row[static_cast<std::size_t>(2 + j)]);
      csv_vs_npy += v != npy.at(static_cast<std::int64_t>(i), j);
      max_diff = std::max(max_diff, std::abs(static_cast<double>(v) - expected[static_cast<std::int64_t>(i)][j].item<double>()));
    }
  }
  CHECK(csv_vs_npy == 0);
  CHECK(max_diff < 1e-4);
  CHECK(expected.abs().sum().item<double>() > 0.0);  // not a trivially equal all-zero output

  SECTION("--no-winograd: LibTorch's direct convolutions, as the in-process features; the default differs by rounding only") {
    const auto direct_out = dir / "direct";
    REQUIRE(run_embed("--data " + (data / "manifest.csv").string() + " --weights " + (dir / "r18.pt").string() +
                          " --size 32 --batch 2 --threads 1 --no-winograd --out " + direct_out.string(),
                      err) == 0);
    const Image direct = io::read_npy(direct_out.string() + ".npy");
    REQUIRE(direct.height == npy.height);
    REQUIRE(direct.width == npy.width);
    double largest = 0.0, to_expected = 0.0, to_default = 0.0;
    for (std::int64_t i = 0; i < direct.height; ++i)
      for (std::int64_t j = 0; j < direct.width; ++j) {
        const double v = direct.at(i, j);
        largest = std::max(largest, std::abs(v));
        to_expected = std::max(to_expected, std::abs(v - expected[i][j].item<double>()));
        to_default = std::max(to_default, std::abs(v - static_cast<double>(npy.at(i, j))));
      }
    REQUIRE(largest > 0.0);
    // Direct convolutions at batch 2 (embed) and 3 (here) may take different oneDNN kernels: 1.06e-6
    // of the largest feature on a 2-core AVX2 EPYC (no Winograd there), 1e-6 passed on AVX-512.
    CHECK(to_expected <= 3e-6 * largest);
    CHECK(to_default <= 1e-5 * largest);
    // At 32 px layer1's maps are 8 x 8, where the default runs oneDNN's Winograd transforms, which
    // round differently: identical outputs would mean the default did not use them. (radiossl's
    // AVX2 transforms take only larger work: backbone::detail::winograd_avx2_pays.)
    if (backbone::winograd_onednn_available()) CHECK(to_default > 0.0);
    else CHECK(to_default == 0.0);
  }

  // A flag's features against those of the in-process evaluation with `want_settings` (largest
  // relative difference) and against the default's.
  const auto flag_differences = [&](const std::string& flag, const eval::EvalSettings& want_settings) {
    const auto flag_out = dir / "flag";
    REQUIRE(run_embed("--data " + (data / "manifest.csv").string() + " --weights " + (dir / "r18.pt").string() +
                          " --size 32 --batch 2 --threads 1 " + flag + " --out " + flag_out.string(),
                      err) == 0);
    const Image got = io::read_npy(flag_out.string() + ".npy");
    REQUIRE(got.height == npy.height);
    auto want_loader = eval::make_loader(images, augment::Eval(32), 3, false, want_settings, 0);
    const auto want = eval::extract_features(net, want_loader, 0, torch::kCPU).first.contiguous();
    double largest = 0.0, to_want = 0.0, to_default = 0.0;
    for (std::int64_t i = 0; i < got.height; ++i)
      for (std::int64_t j = 0; j < got.width; ++j) {
        largest = std::max(largest, std::abs(static_cast<double>(npy.at(i, j))));
        to_want = std::max(to_want, std::abs(got.at(i, j) - want[i][j].item<double>()));
        to_default = std::max(to_default, std::abs(static_cast<double>(got.at(i, j)) - npy.at(i, j)));
      }
    return std::pair{to_want / largest, to_default / largest};
  };

  SECTION("--eight-bit: the features of an evaluation with eight_bit, not the default's") {
    eval::EvalSettings truncated = settings;
    truncated.eight_bit = true;
    const auto [to_want, to_default] = flag_differences("--eight-bit", truncated);
    CHECK(to_want <= 1e-5);
    // The truncation moves pixels by up to 1/255: far more than the convolutions' rounding (1e-6).
    CHECK(to_default > 1e-3);
  }

  SECTION("--mixed-channels: the features a mixed evaluation gives images it does not train on") {
    eval::EvalSettings mixed = settings;
    mixed.channel_mode = data::ChannelMode::mixed;
    const auto [to_want, to_default] = flag_differences("--mixed-channels", mixed);
    CHECK(to_want <= 1e-5);
    CHECK(to_default > 1e-3);
  }

  SECTION("a directory, searched recursively, with L2-normalised rows") {
    fs::create_directories(data / "FRI");
    fs::copy_file(data / "a.fits", data / "FRI" / "e.fits");
    REQUIRE(run_embed("--data " + data.string() + " --weights " + (dir / "r18.pt").string() +
                          " --size 32 --batch 4 --threads 1 --l2-normalize --out " + (dir / "dir").string(),
                      err) == 0);
    const auto drows = read_csv(dir / "dir.csv");
    REQUIRE(drows.size() == 1 + 5);  // FRI/e, a, b, c, d (broken.fits skipped)
    CHECK(drows[1][0] == (data / "FRI" / "e.fits").string());
    CHECK(drows[1][1] == "FRI");
    CHECK(drows[2][1] == "");
    for (std::size_t i = 1; i < drows.size(); ++i) {
      double norm2 = 0.0;
      for (std::size_t j = 2; j < drows[i].size(); ++j) norm2 += std::pow(std::stod(drows[i][j]), 2);
      CHECK(norm2 == Approx(1.0).epsilon(1e-5));
    }
    // e.fits is a copy of a.fits: the same features.
    for (std::size_t j = 2; j < 514; j += 51) CHECK(drows[1][j] == drows[2][j]);
  }
}

TEST_CASE("embed: missing weights, unknown options and a missing input", "[embed]") {
  test::TempDir dir;
  io::write_fits(dir / "a.fits", cutout(1));
  const auto err = dir / "err.txt";
  const auto data = " --data " + dir.path().string() + " --size 32 --out " + (dir / "f").string();

  CHECK(run_embed(data + " --weights " + (dir / "nope.pt").string(), err) == 1);
  CHECK(read_text(err).find("nope.pt") != std::string::npos);
  CHECK(!fs::exists(dir / "f.csv"));

  // Each run loads LibTorch (~1-2 s): only the distinct exit paths, not every bad value.
  CHECK(run_embed(data + " --frobnicate 3", err) == 2);
  CHECK(read_text(err).find("unknown argument '--frobnicate'") != std::string::npos);
  CHECK(run_embed(data + " --clip-sigma -1", err) == 2);
  CHECK(read_text(err).find("--clip-sigma: expected a number >= 0, got '-1'") != std::string::npos);
  CHECK(run_embed("--data " + (dir / "none").string(), err) == 2);
  CHECK(read_text(err).find("none: no such file or directory") != std::string::npos);

  // Weights of a CIFAR-stem backbone (a grid run with cifar_stem) need --cifar-stem.
  backbone::ResNet18 cifar(backbone::ResNetOptions().cifar_stem(true));
  backbone::save_backbone(cifar, dir / "cifar.pt");
  const auto cifar_weights = data + " --weights " + (dir / "cifar.pt").string();
  CHECK(run_embed(cifar_weights, err) == 1);
  CHECK(read_text(err).find("shape of 'conv1.weight' is [64, 3, 3, 3] in the file but [64, 3, 7, 7] here") !=
        std::string::npos);
  CHECK(run_embed(cifar_weights + " --cifar-stem", err) == 0);
  CHECK(read_csv(dir / "f.csv").at(0).size() == 2 + 512);
}

/// @file
/// bench/gpu/run.sh --cpu-check: the GPU benchmark script's every non-CUDA path (FITS files, matmul
/// rate, radiossl's step and end-to-end benches, the Python peer's, the graph bench's eager pass, the
/// tables) on CPU, tiny sizes, ResNet-18 with SimCLR and BYOL (the script's --cpu-check default).
#include "support/catch.hpp"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "support/fits_fixture.hpp"

using namespace radiossl;
namespace fs = std::filesystem;

namespace {

/// The cells of a markdown table row, trimmed ("| a | b |" -> {"a", "b"}).
std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in(line.substr(1));
  for (std::string c; std::getline(in, c, '|');) {
    const auto b = c.find_first_not_of(' '), e = c.find_last_not_of(' ');
    out.push_back(b == std::string::npos ? std::string() : c.substr(b, e - b + 1));
  }
  return out;
}

bool positive_number(const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size() && v > 0;
}

}  // namespace

TEST_CASE("bench/gpu/run.sh --cpu-check prints a measured row per method and backbone", "[gpu_script]") {
  if (std::system("/usr/bin/python3 -c 'import torch, torchvision' > /dev/null 2>&1") != 0) {
    WARN("skipped: /usr/bin/python3 cannot import torch and torchvision (the script's peer)");
    return;
  }
  const fs::path build = RADIOSSL_BINARY_DIR;
  if (!fs::exists(build / "bench" / "radiossl_bench")) {
    WARN("skipped: no bench/radiossl_bench in " << build.string() << " (cmake --build <dir> --target radiossl_bench)");
    return;
  }
  test::TempDir dir;
  // The script's own selections unset: a run.sh with TARGETS=all runs this suite with its KINDS,
  // METHODS and sizes in the environment, which would otherwise reach this run.sh too.
  const std::string own = "env -u KINDS -u METHODS -u ARCHS -u BATCH -u PX -u MIN_TIME -u THREADS -u WORKERS -u FILES ";
  const auto r = test::run_command(own + "BUILD_DIR=" + test::quote(build) + " PYTHON=/usr/bin/python3 TMPDIR=" +
                                       test::quote(dir.path()) + " bash " +
                                       test::quote(fs::path(RADIOSSL_SOURCE_DIR) / "bench" / "gpu" / "run.sh") +
                                       " --cpu-check",
                                   dir.path());
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("fp32 (--cpu-check) matmul rate"));

  std::map<std::string, std::vector<std::string>> rows;        // "ResNet-18 SimCLR" -> cells
  std::map<std::string, std::vector<std::string>> graph_rows;  // the CUDA graph table's
  std::stringstream out(r.out);
  for (std::string line; std::getline(out, line);)
    if (line.rfind("| ResNet-", 0) == 0) {
      const auto c = cells(line);
      REQUIRE((c.size() == 9 || c.size() == 8));
      (c.size() == 9 ? rows : graph_rows)[c[0] + " " + c[1]] = c;
    }
  // --cpu-check's default subset (bench/gpu/run.sh): all 6 methods x 2 backbones take minutes.
  CHECK(rows.size() == 2);
  for (const char* arch : {"ResNet-18"})
    for (const char* m : {"SimCLR", "BYOL"}) {
      const std::string key = std::string(arch) + " " + m;
      INFO(key);
      REQUIRE(rows.count(key) == 1);
      const auto& c = rows[key];
      CHECK(positive_number(c[2]));  // step: radiossl, peer, ratio
      CHECK(positive_number(c[3]));
      CHECK(positive_number(c[4]));
      CHECK(positive_number(c[5]));  // end to end from FITS: radiossl, peer, ratio
      CHECK(positive_number(c[6]));
      CHECK(positive_number(c[7]));
      CHECK_THAT(c[8], Catch::Matches(R"([0-9.]+% / [0-9.]+%)"));  // fraction of the matmul rate
    }
  // On a CPU the graph table has the eager pass measured and says why nothing was captured.
  CHECK_THAT(r.out, Catch::Contains("CUDA graph capture of the training step"));
  CHECK(graph_rows.size() == 2);
  for (const char* m : {"SimCLR", "BYOL"}) {
    const std::string key = std::string("ResNet-18 ") + m;
    INFO(key);
    REQUIRE(graph_rows.count(key) == 1);
    const auto& c = graph_rows[key];
    for (int eager : {2, 5}) {  // forward and backward; with the LARS step
      CHECK(positive_number(c[eager]));
      CHECK_THAT(c[eager + 1], Catch::StartsWith("- (CUDA graphs need a CUDA build"));
      CHECK(c[eager + 2] == "-");
    }
  }
}

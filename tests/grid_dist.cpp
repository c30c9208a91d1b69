/// @file
/// bench_grid under several processes: rank 0 alone evaluates and writes, the other ranks wait for
/// it (dist::sync_with_main) however long it takes, and stop with an error if it dies.
#include "support/catch.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "radiossl/detail/collectives.hpp"
#include "radiossl/dist/main_wait.hpp"
#include "radiossl/dist/process_group.hpp"
#include "radiossl/eval/results.hpp"
#include "radiossl/sim/sets.hpp"
#include "support/fits_fixture.hpp"
#include "support/loopback.hpp"
#include "support/smoke_data.hpp"

using namespace radiossl;
namespace fs = std::filesystem;

namespace {

using radiossl::test::free_port;

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

/// Runs `commands[r]` as rank r of a torchrun-style job on loopback, all at once, each under
/// `timeout` (never a hang) with its output in `<dir>/rank<r>.log`; returns each rank's exit code.
std::vector<int> run_ranks(const fs::path& dir, const std::vector<std::string>& commands, double dist_timeout_s,
                           const std::string& extra_env = "") {
  const std::string port = std::to_string(free_port());
  std::string script = "unset SLURM_PROCID SLURM_NTASKS OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE; ";
  for (std::size_t r = 0; r < commands.size(); ++r) {
    const auto rs = std::to_string(r);
    script += "( RANK=" + rs + " LOCAL_RANK=" + rs + " WORLD_SIZE=" + std::to_string(commands.size()) +
              " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " RADIOSSL_DIST_BACKEND=gloo RADIOSSL_DIST_TIMEOUT=" +
              std::to_string(dist_timeout_s) + " " + extra_env + " timeout -s KILL 240 " + commands[r] + " > " +
              test::quote(dir / ("rank" + rs + ".log")) + " 2>&1; echo $? > " + test::quote(dir / ("rank" + rs + ".rc")) +
              " ) & ";
  }
  script += "wait";
  test::run_command("bash -c " + test::quote(script), dir);
  std::vector<int> rc;
  for (std::size_t r = 0; r < commands.size(); ++r) {
    const std::string s = slurp(dir / ("rank" + std::to_string(r) + ".rc"));
    rc.push_back(s.empty() ? -1 : std::stoi(s));
  }
  return rc;
}

/// The identity of each result row (not its accuracy), sorted, duplicates kept.
std::vector<std::string> row_keys(const fs::path& csv) {
  std::vector<std::string> keys;
  for (const auto& r : eval::read_results_csv(csv))
    keys.push_back(r.pretrain + "|" + r.backbone + "|" + r.method + "|" + std::to_string(r.seed) + "|" +
                   r.downstream + "|" + r.protocol + "|" + std::to_string(r.fold));
  std::sort(keys.begin(), keys.end());
  return keys;
}

// This file's own smoke dataset (tests/grid.cpp's may be generated concurrently by another ctest job).
fs::path smoke_data() {
  static const fs::path dir = radiossl::test::smoke_dataset("radiossl_grid_dist_test_data");
  return dir;
}

}  // namespace

// The body of each rank of the sync_with_main jobs below (hidden: runs only when launched).
TEST_CASE("grid_dist: worker rank (launched by the [grid_dist] tests)", "[.grid_dist_worker]") {
  const char* mode_c = std::getenv("RADIOSSL_TEST_GRID_DIST_MODE");
  const char* out_c = std::getenv("RADIOSSL_TEST_GRID_DIST_OUT");
  if (mode_c == nullptr || out_c == nullptr) return;
  const std::string mode = mode_c;
  const std::int64_t rank = dist::launch_from_env().rank;
  const auto t0 = std::chrono::steady_clock::now();
  std::string status;
  try {
    dist::init_from_env();
    if (rank == 0) {
      // "Evaluates" longer than RADIOSSL_DIST_TIMEOUT, then publishes; or dies, or never comes.
      std::this_thread::sleep_for(std::chrono::milliseconds(mode == "outlast" ? 5000 : 1500));
      if (mode == "dies") std::raise(SIGKILL);
      if (mode == "stuck") std::this_thread::sleep_for(std::chrono::seconds(2));
      status = "ok " + dist::sync_with_main("the evaluation", "42");
    } else {
      status = "ok " + dist::sync_with_main("the evaluation");
    }
    at::Tensor t = at::ones({3}, at::kFloat);  // the group still works after the long wait
    radiossl::detail::all_reduce_sum_(t);
    if (t[0].item<float>() != 2.0F) status = "all_reduce wrong after the wait";
  } catch (const std::exception& e) {
    status = std::string("error: ") + e.what();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::ofstream(fs::path(out_c) / ("rank" + std::to_string(rank) + ".status")) << status << "\n" << secs << "\n";
  dist::shutdown();
}

TEST_CASE("grid_dist: ranks wait for rank 0 past RADIOSSL_DIST_TIMEOUT, and stop if it dies or is stuck",
          "[grid_dist]") {
  if (!test::gloo_or_warn(dist::gloo_built)) return;
  const std::string exe = test::quote(fs::read_symlink("/proc/self/exe")) + " '[grid_dist_worker]'";
  auto job = [&](const std::string& mode, const std::string& extra_env, double dist_timeout) {
    test::TempDir dir;
    const std::string env = "RADIOSSL_TEST_GRID_DIST_MODE=" + mode + " RADIOSSL_TEST_GRID_DIST_OUT=" +
                            test::quote(dir.path()) + " " + extra_env;
    const auto rc = run_ranks(dir.path(), {exe, exe}, dist_timeout, env);
    std::istringstream s1(slurp(dir.path() / "rank1.status"));
    std::string status;
    double secs = -1;
    std::getline(s1, status);
    s1 >> secs;
    INFO("rank 0 log:\n" << slurp(dir.path() / "rank0.log") << "\nrank 1 log:\n" << slurp(dir.path() / "rank1.log"));
    CHECK(rc[1] == 0);
    return std::make_tuple(rc[0], slurp(dir.path() / "rank0.status"), status, secs);
  };
  SECTION("rank 0 works 5 s, the dist timeout is 3 s: the others get its value") {
    const auto [rc0, s0, s1, secs] = job("outlast", "", 3.0);
    CHECK(rc0 == 0);
    CHECK_THAT(s0, Catch::StartsWith("ok 42"));
    CHECK(s1 == "ok 42");
    CHECK(secs > 3.0);
  }
  SECTION("rank 0 dies: the others stop at once with an error, not at a timeout") {
    const auto [rc0, s0, s1, secs] = job("dies", "", 60.0);
    CHECK(rc0 == 128 + SIGKILL);
    CHECK_THAT(s1, Catch::StartsWith("error: radiossl::dist: rank 1 of 2 lost rank 0 while waiting for it to finish "
                                     "'the evaluation'"));
    CHECK(secs < 20.0);
  }
  SECTION("rank 0 is stuck: the others stop after RADIOSSL_DIST_WAIT_TIMEOUT") {
    const auto [rc0, s0, s1, secs] = job("stuck", "RADIOSSL_DIST_WAIT_TIMEOUT=1", 60.0);
    (void)rc0;
    (void)s0;
    CHECK_THAT(s1, Catch::StartsWith("error: radiossl::dist: rank 1 of 2 waited") &&
                       Catch::Contains("RADIOSSL_DIST_WAIT_TIMEOUT"));
    CHECK(secs < 20.0);
  }
}

TEST_CASE("bench_grid on 2 ranks: rank 0 alone evaluates and writes, with the rows of a 1-process run",
          "[grid_dist]") {
  if (!test::gloo_or_warn(dist::gloo_built)) return;
  const std::string bench_grid = test::quote(fs::path(RADIOSSL_BINARY_DIR) / "examples" / "bench_grid");
  test::TempDir dir;
  const fs::path data = smoke_data();
  // One method, one backbone, one downstream set: both pretraining sets and the random-init baseline.
  std::ofstream(dir.path() / "c.json")
      << R"({"methods": ["simclr"], "backbones": ["resnet18"], "curated": ")" << (data / "pretrain/curated").string()
      << R"(", "uncurated": ")" << (data / "pretrain/uncurated").string()
      << R"(", "downstream": [{"name": "MiraBest", "path": ")" << (data / "labeled/mirabest/manifest.csv").string()
      << R"("}]})";
  auto args = [&](const std::string& out) {
    return bench_grid + " --preset smoke --threads 1 --config " + test::quote(dir.path() / "c.json") + " --out " +
           test::quote(dir.path() / out);
  };
  const auto one = test::run_command(args("one"), dir.path());
  INFO("1-process run:\n" << one.err);
  REQUIRE(one.status == 0);
  const auto expected = row_keys(dir.path() / "one" / "results.csv");
  REQUIRE(expected.size() == 3 * 2);  // (random init + 2 cells) x (linear, finetune) x 1 fold
  REQUIRE(std::set<std::string>(expected.begin(), expected.end()).size() == expected.size());

  // Each rank gets its own --out, so that whatever rank 1 wrote would show.
  const auto rc = run_ranks(dir.path(), {args("rank0"), args("rank1")}, 60.0);
  const std::string log0 = slurp(dir.path() / "rank0.log"), log1 = slurp(dir.path() / "rank1.log");
  INFO("rank 0 log:\n" << log0 << "\nrank 1 log:\n" << log1);
  REQUIRE(rc == std::vector<int>{0, 0});
  CHECK(row_keys(dir.path() / "rank0" / "results.csv") == expected);  // no duplicate row
  CHECK(fs::exists(dir.path() / "rank0" / "report.md"));
  CHECK(fs::exists(dir.path() / "rank0" / "summary.json"));
  CHECK(fs::exists(dir.path() / "rank0" / "cells" / "Curated_ResNet-18_SimCLR_seed0" / "backbone.pt"));
  CHECK_FALSE(fs::exists(dir.path() / "rank1"));  // rank 1 wrote nothing at all
  CHECK(log1.find("linear fold") == std::string::npos);
  CHECK_THAT(log1, Catch::Contains("rank 1 of 2 (rank 0 writes the report)"));

  // Rerun: rank 0 finds every cell done and says so; rank 1, whose own --out is empty, follows
  // rank 0's decision instead of pretraining alone (which would leave rank 0 without a peer).
  const auto again = run_ranks(dir.path(), {args("rank0"), args("rank1")}, 60.0);
  const std::string again0 = slurp(dir.path() / "rank0.log"), again1 = slurp(dir.path() / "rank1.log");
  INFO("rerun rank 0 log:\n" << again0 << "\nrerun rank 1 log:\n" << again1);
  REQUIRE(again == std::vector<int>{0, 0});
  CHECK(again0.find("pretraining on") == std::string::npos);
  CHECK(again1.find("pretraining on") == std::string::npos);
  CHECK(row_keys(dir.path() / "rank0" / "results.csv") == expected);
  CHECK_FALSE(fs::exists(dir.path() / "rank1"));
}

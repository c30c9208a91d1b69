/// @file
/// `bench_grid`: the whole benchmark of Cecconello et al. as one compile-time grid. Every
/// (method, backbone, pretraining set) cell is a `Trainer<Backbone, Method, RadioSymmetric, LARS>`
/// of its own, instantiated with Boost.Hana (radiossl/grid/grid.hpp); each pretrained backbone is
/// evaluated by linear probe and fine-tuning on every downstream set; results.csv, summary.json,
/// report.md (Tables 1 and 2) and figures land in --out. Rerunning skips what is done.
/// Several processes (`torchrun --no-python --nproc-per-node N bench_grid ...`, srun, mpirun)
/// pretrain each cell data-parallel; rank 0 alone evaluates and writes (grid/runner.hpp).
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "radiossl/grid/runner.hpp"

using namespace radiossl;

namespace {
const char* usage =
    "usage: bench_grid [--preset smoke|quick|science|paper] [--out DIR] [--config FILE.json] [--full]\n"
    "                  [--methods simclr,byol,dino,wmse,swav,all4one] [--backbones resnet18,resnet50]\n"
    "                  [--seeds 0,1,2] [--threads N] [--workers N] [--data DIR] [--knn]\n"
    "                  [--imagenet-resnet18 FILE.pth] [--imagenet-resnet50 FILE.pth]\n"
    "Runs on the embedded synthetic radio sky unless --config names your own data\n"
    "(examples/grid_config.example.json). Data-parallel: torchrun --no-python --nproc-per-node N\n"
    "bench_grid ... (rank 0 evaluates and writes; the others wait for it up to\n"
    "RADIOSSL_DIST_WAIT_TIMEOUT seconds, default 86400, and stop with an error if it dies).\n";

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}
}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string preset = "quick";
  for (std::size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--preset") preset = args[i + 1];
  auto cfg = grid::GridConfig::preset_named(preset);
  cfg.out = "radiossl-grid-" + preset;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    const auto before = cfg;
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw Error(a + ": missing value");
      return args[++i];
    };
    if (a == "--preset") value();
    else if (a == "--out") cfg.out = value();
    else if (a == "--config") cfg.merge_json(value());
    else if (a == "--full") cfg.full = true;
    else if (a == "--knn") cfg.protocol.add(eval::Protocol::knn);
    else if (a == "--methods") cfg.methods = split_list(value());
    else if (a == "--backbones") cfg.backbones = split_list(value());
    else if (a == "--seeds") {
      cfg.seeds.clear();
      for (const auto& s : split_list(value())) cfg.seeds.push_back(std::stoull(s));
    } else if (a == "--threads") cfg.threads = std::stoi(value());
    else if (a == "--workers") cfg.workers = std::stoi(value());
    else if (a == "--data") cfg.data = value();
    else if (a == "--imagenet-resnet18") cfg.imagenet_resnet18 = value();
    else if (a == "--imagenet-resnet50") cfg.imagenet_resnet50 = value();
    else if (a == "--help" || a == "-h") {
      std::cout << usage;
      return 0;
    } else {
      std::cerr << "bench_grid: unknown argument '" << a << "'\n" << usage;
      return 2;
    }
    // A config file notes its own changes; a flag's are noted here, under its name.
    if (a != "--config") cfg.note_changes(a, before);
  }
  for (const auto& m : cfg.methods)
    if (m != "simclr" && m != "byol" && m != "dino" && m != "wmse" && m != "swav" && m != "all4one")
      throw Error("--methods: unknown method '" + m + "'");
  for (const auto& b : cfg.backbones)
    if (b != "resnet18" && b != "resnet50") throw Error("--backbones: unknown backbone '" + b + "'");
  grid::GridRunner runner(cfg);
  const int failed = runner.run(grid::all_cells);
  return failed == 0 ? 0 : 3;
} catch (const std::exception& e) {
  std::cerr << "bench_grid: " << e.what() << "\n";
  return 1;
}

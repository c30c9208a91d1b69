// The benchmark grid: compile-time cells, presets and config files, and bench_grid end to end
// (smoke preset), including resuming a run that was killed.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "radiossl/backbone/checkpoint.hpp"
#include "radiossl/backbone/resnet.hpp"
#include "radiossl/eval/results.hpp"
#include "radiossl/grid/config.hpp"
#include "radiossl/grid/grid.hpp"
#include "radiossl/sim/sets.hpp"
#include "support/smoke_data.hpp"

using namespace radiossl;
namespace fs = std::filesystem;
namespace hana = boost::hana;

namespace {
const std::string bench_grid = std::string(RADIOSSL_BINARY_DIR) + "/examples/bench_grid";

// One smoke dataset shared by the end-to-end tests of this file (generated once, seconds).
fs::path smoke_data() {
  static const fs::path dir = radiossl::test::smoke_dataset("radiossl_grid_test_data");
  return dir;
}

int run(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::vector<std::string> sorted_rows(const fs::path& csv) {
  std::vector<std::string> rows;
  for (const auto& r : eval::read_results_csv(csv)) rows.push_back(eval::to_csv(r));
  std::sort(rows.begin(), rows.end());
  return rows;
}

fs::path fresh_dir(const std::string& name) {
  const auto d = fs::temp_directory_path() / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
}  // namespace

TEST_CASE("the grid is the cartesian product of method, backbone and pretraining-set types", "[grid]") {
  static_assert(decltype(hana::length(grid::all_cells))::value == 24);
  std::size_t paper = 0, simclr_r50 = 0;
  hana::for_each(grid::all_cells, [&](auto cell) {
    using C = typename decltype(cell)::type;
    paper += C::in_paper;
    simclr_r50 += std::is_same_v<typename C::Method, method::SimCLR> &&
                  std::is_same_v<typename C::Backbone, backbone::ResNet50>;
  });
  CHECK(paper == 18);  // ResNet-50 only on the curated set, as the paper
  CHECK(simclr_r50 == 2);
  const auto two = grid::make_cells(hana::tuple_t<method::BYOL>, grid::all_backbones, hana::tuple_t<grid::Curated>);
  static_assert(decltype(hana::length(two))::value == 2);
}

TEST_CASE("grid presets and config files", "[grid]") {
  const auto paper = grid::GridConfig::preset_named("paper");
  CHECK(paper.seeds.size() == 3);
  CHECK(paper.protocol.folds == 3);
  CHECK(paper.batch_size == 512);
  CHECK(paper.epochs_curated == 600);
  CHECK(paper.epochs_uncurated == 100);
  CHECK(paper.protocol.linear.lr() == 5e-4);  // the paper's text; solo-learn's 0.3 elsewhere
  CHECK(grid::GridConfig::preset_named("quick").protocol.linear.lr() == 0.3);
  CHECK(paper.protocol.linear.milestones() == std::vector<std::int64_t>{10, 80});
  CHECK(paper.protocol.finetune.lr() == 5e-4);
  const auto quick = grid::GridConfig::preset_named("quick");
  CHECK_THAT(quick.note, Catch::Contains("one seed"));
  CHECK_THAT(quick.note, Catch::Contains("standardised features"));
  CHECK_THAT(quick.note, Catch::Contains("--preset science"));  // where the science check is
  // Small folds: the paper's probe schedule at a batch that gives it a comparable number of steps.
  CHECK(quick.protocol.linear.standardize());
  CHECK(quick.protocol.linear.batch_size() == 16);
  CHECK(quick.protocol.linear.epochs() == 100);
  CHECK(quick.protocol.linear.milestones() == std::vector<std::int64_t>{10, 80});
  CHECK_FALSE(paper.protocol.linear.standardize());
  CHECK_THROWS_WITH(grid::GridConfig::preset_named("huge"), Catch::Contains("unknown preset"));
  const auto science = grid::GridConfig::preset_named("science");
  CHECK(science.preset == "science");
  CHECK(science.smgps_maps == 40);
  CHECK(science.emu_maps == 0);
  CHECK(science.backbones == std::vector<std::string>{"resnet18"});
  CHECK(science.pretrain_sets == std::vector<std::string>{"curated"});
  CHECK(science.batch_size * science.epochs_curated == 6400);  // x 1664 / 32 cut-outs = 10400 steps
  CHECK(science.methods == std::vector<std::string>{"simclr", "wmse"});
  CHECK(science.clip_sigma == 3.0);
  CHECK(science.labeled_scale == 6);  // folds of 800-960 training images, more than the 512 features
  CHECK(science.protocol.only_folds.empty());
  CHECK((science.protocol.protocols == std::vector<eval::Protocol>{eval::Protocol::linear, eval::Protocol::knn}));
  CHECK(science.pretrain_size == quick.pretrain_size);
  CHECK(science.protocol.linear.standardize());

  const auto dir = fresh_dir("radiossl_grid_config");
  std::ofstream(dir / "c.json") << R"({"seeds": [4, 5], "downstream": [{"name": "Mine", "path": "sets/m.csv",
    "per_class": 50}], "curated": "/abs/cur", "linear_epochs": 7, "knn": true, "linear_standardize": false})";
  auto c = grid::GridConfig::preset_named("smoke");
  c.merge_json(dir / "c.json");
  CHECK(c.seeds == std::vector<std::uint64_t>{4, 5});
  REQUIRE(c.downstream.size() == 1);
  CHECK(c.downstream[0].path == dir / "sets/m.csv");
  CHECK(c.downstream[0].per_class == 50);
  CHECK(c.curated == fs::path("/abs/cur"));
  CHECK(c.protocol.linear.epochs() == 7);
  CHECK_FALSE(c.protocol.linear.standardize());
  CHECK(c.protocol.protocols.back() == eval::Protocol::knn);
  std::ofstream(dir / "bad.json") << R"({"seeds": [1], "epoch": 3})";
  CHECK_THROWS_WITH(c.merge_json(dir / "bad.json"), Catch::Contains("unknown key 'epoch'"));
  std::ofstream(dir / "broken.json") << "{";
  CHECK_THROWS_WITH(c.merge_json(dir / "broken.json"), Catch::Contains("not valid JSON"));
  CHECK_THROWS_WITH(c.merge_json(dir / "none.json"), Catch::Contains("cannot read"));
  CHECK(c.clip_sigma == 0.0);  // the paper's plain min-max unless asked
  CHECK_FALSE(c.cifar_stem);   // and the paper's ImageNet stem
  std::ofstream(dir / "clip.json") << R"({"clip_sigma": 3, "cifar_stem": true})";
  c.merge_json(dir / "clip.json");
  CHECK(c.clip_sigma == 3.0);
  CHECK(c.cifar_stem);
  std::ofstream(dir / "negclip.json") << R"({"clip_sigma": -1})";
  CHECK_THROWS_WITH(c.merge_json(dir / "negclip.json"), Catch::Contains("clip_sigma must be >= 0"));
  // solo-learn-radio's norm_channels: minmax by default; mixed enters the settings a resume checks.
  CHECK(c.norm_channels == radiossl::data::ChannelMode::replicate);
  CHECK_FALSE(c.result_settings().contains("norm_channels"));
  std::ofstream(dir / "mixed.json") << R"({"norm_channels": "mixed"})";
  c.merge_json(dir / "mixed.json");
  CHECK(c.norm_channels == radiossl::data::ChannelMode::mixed);
  CHECK(c.result_settings().at("norm_channels") == "mixed");
  std::ofstream(dir / "badmix.json") << R"({"norm_channels": "asinh"})";
  CHECK_THROWS_WITH(c.merge_json(dir / "badmix.json"), Catch::Contains("norm_channels must be"));
  std::ofstream(dir / "minmax.json") << R"({"norm_channels": "minmax"})";
  c.merge_json(dir / "minmax.json");
  CHECK(c.norm_channels == radiossl::data::ChannelMode::replicate);
  // eval_norm_channels: the same names, its own key in the settings.
  CHECK_FALSE(c.result_settings().contains("eval_norm_channels"));
  std::ofstream(dir / "evalmix.json") << R"({"eval_norm_channels": "mixed"})";
  c.merge_json(dir / "evalmix.json");
  CHECK(c.eval_norm_channels == radiossl::data::ChannelMode::mixed);
  CHECK(c.result_settings().at("eval_norm_channels") == "mixed");
  CHECK_FALSE(c.result_settings().contains("norm_channels"));
  std::ofstream(dir / "badevalmix.json") << R"({"eval_norm_channels": "sinh"})";
  CHECK_THROWS_WITH(c.merge_json(dir / "badevalmix.json"), Catch::Contains("eval_norm_channels must be"));
  c.eval_norm_channels = radiossl::data::ChannelMode::replicate;
  // eight_bit: off by default and then absent from the settings, so older run folders resume.
  CHECK_FALSE(c.eight_bit);
  CHECK_FALSE(c.result_settings().contains("eight_bit"));
  std::ofstream(dir / "eight.json") << R"({"eight_bit": true})";
  c.merge_json(dir / "eight.json");
  CHECK(c.eight_bit);
  CHECK(c.result_settings().at("eight_bit") == true);
  std::ofstream(dir / "badeight.json") << R"({"eight_bit": "yes"})";
  CHECK_THROWS_WITH(c.merge_json(dir / "badeight.json"), Catch::Contains("wrong value type"));
  c.eight_bit = false;
  {
    // A config that changes a preset's settings says so in the note the report quotes.
    auto sci = radiossl::grid::GridConfig::preset_named("science");
    std::ofstream(dir / "short.json") << R"({"methods": ["simclr"], "epochs_curated": 20, "clip_sigma": 0,
      "eight_bit": true, "linear_lr": 0.1, "threads": 1})";
    sci.merge_json(dir / "short.json");
    CHECK_THAT(sci.note, Catch::StartsWith("science preset: ") &&
                             Catch::Contains("[changed by short.json: clip_sigma 3.0 -> 0.0, eight_bit (unset) -> true, "
                                             "epochs_curated 200 -> 20, linear.lr 0.3 -> 0.1, methods [\"simclr\"]]"));
    auto same = radiossl::grid::GridConfig::preset_named("science");
    std::ofstream(dir / "threads.json") << R"({"threads": 1, "epochs_curated": 200})";
    same.merge_json(dir / "threads.json");
    CHECK(same.note == radiossl::grid::GridConfig::preset_named("science").note);
    // bench_grid notes each command-line flag's changes under the flag's name, as a file's.
    auto flags = radiossl::grid::GridConfig::preset_named("science");
    auto before = flags;
    flags.seeds = {0, 1, 2};
    flags.note_changes("--seeds", before);
    before = flags;
    flags.protocol.add(eval::Protocol::knn);  // already there: no second kNN row, nothing to note
    CHECK(flags.protocol.protocols.size() == 2);
    flags.backbones = {"resnet18", "resnet50"};
    flags.protocol.protocols = {eval::Protocol::linear};
    flags.note_changes("--backbones", before);
    CHECK_THAT(flags.note, Catch::EndsWith("[changed by --seeds: seeds [0,1,2]] [changed by --backbones: backbones "
                                           "[\"resnet18\",\"resnet50\"], protocols [\"linear\"]]"));
  }
  std::ofstream(dir / "sets.json") << R"({"pretrain_sets": ["curated"], "smgps_maps": 3, "emu_maps": 0,
    "linear_only": true})";
  c.merge_json(dir / "sets.json");
  CHECK(c.pretrain_sets == std::vector<std::string>{"curated"});
  CHECK(c.smgps_maps == 3);
  CHECK(c.emu_maps == 0);
  CHECK_FALSE(c.labeled_scale);
  std::ofstream(dir / "scale.json") << R"({"labeled_scale": 2})";
  c.merge_json(dir / "scale.json");
  CHECK(c.labeled_scale == 2);
  CHECK(c.crop_min_scale == 0.65);  // the paper's crop
  std::ofstream(dir / "crop.json") << R"({"crop_min_scale": 1})";
  c.merge_json(dir / "crop.json");
  CHECK(c.crop_min_scale == 1.0);
  std::ofstream(dir / "badcrop.json") << R"({"crop_min_scale": 0})";
  CHECK_THROWS_WITH(c.merge_json(dir / "badcrop.json"), Catch::Contains("crop_min_scale must be in (0, 1]"));
  std::ofstream(dir / "noscale.json") << R"({"labeled_scale": 0})";
  CHECK_THROWS_WITH(c.merge_json(dir / "noscale.json"), Catch::Contains("labeled_scale must be at least 1"));
  CHECK((c.protocol.protocols == std::vector<eval::Protocol>{eval::Protocol::linear}));
  std::ofstream(dir / "badset.json") << R"({"pretrain_sets": ["curated", "random"]})";
  CHECK_THROWS_WITH(c.merge_json(dir / "badset.json"), Catch::Contains("unknown set 'random'"));
  std::ofstream(dir / "fits.json") << R"({"fits_plane": 0, "fits_zero_is_blank": true})";
  c.merge_json(dir / "fits.json");
  CHECK(c.fits_options().plane == std::optional<std::int64_t>(0));
  CHECK(c.fits_options().zero_is_blank);
  std::ofstream(dir / "badplane.json") << R"({"fits_plane": -1})";
  CHECK_THROWS_WITH(c.merge_json(dir / "badplane.json"), Catch::Contains("fits_plane must be >= 0"));
  // The example config shipped with the project parses.
  auto ex = grid::GridConfig::preset_named("paper");
  ex.merge_json(fs::path(RADIOSSL_SOURCE_DIR) / "examples/grid_config.example.json");
  CHECK(ex.downstream.size() == 4);
}

TEST_CASE("bench_grid smoke: every method pretrains and is evaluated and the report has both tables",
          "[grid][e2e]") {
  const auto out = fresh_dir("radiossl_grid_smoke");
  const auto cmd = bench_grid + " --preset smoke --backbones resnet18 --threads 1 --data " + smoke_data().string() +
                   " --out " + out.string() + " > " + (out / "log.txt").string() + " 2>&1";
  REQUIRE(run(cmd) == 0);
  const auto rows = eval::read_results_csv(out / "results.csv");
  // 12 cells (6 methods x 2 sets) + random init, 4 sets, 2 protocols, 1 fold.
  CHECK(rows.size() == 13 * 4 * 2);
  std::ifstream in(out / "report.md");
  const std::string report((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_THAT(report, Catch::Contains("## Table 1: linear evaluation"));
  CHECK_THAT(report, Catch::Contains("## Table 2: fine-tuning"));
  for (const auto* m : {"All4One", "BYOL", "DINO", "SimCLR", "SwAV", "WMSE"}) {
    CHECK_THAT(report, Catch::Contains(std::string("| ") + m + " |"));
  }
  CHECK_THAT(report, Catch::Contains("| Uncurated | ResNet-18 |"));
  CHECK_THAT(report, Catch::Contains("| Random init | ResNet-18 | - |"));
  CHECK_THAT(report, Catch::Contains("[changed by --backbones: backbones [\"resnet18\"]]"));
  CHECK(fs::exists(out / "summary.json"));
  CHECK(fs::exists(out / "figures/accuracy_linear.png"));
  CHECK(fs::exists(out / "embeddings/MiraBest/Random_init_ResNet-18.png"));

  // A rerun finds everything done: no new rows, no pretraining.
  REQUIRE(run(cmd) == 0);
  CHECK(eval::read_results_csv(out / "results.csv").size() == rows.size());
  std::ifstream log(out / "log.txt");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK(text.find("pretraining on") == std::string::npos);
}

TEST_CASE("bench_grid runs only the configured pretraining sets, and refuses data of other map counts",
          "[grid][e2e]") {
  const auto out = fresh_dir("radiossl_grid_sets");
  // The smoke data has 1 SMGPS-like map and 1 EMU-like map.
  std::ofstream(out / "curated.json") << R"({"pretrain_sets": ["curated"], "methods": ["simclr"], "smgps_maps": 1})";
  const auto base = bench_grid + " --preset smoke --backbones resnet18 --threads 1 --data " + smoke_data().string() +
                    " --out " + (out / "run").string();
  REQUIRE(run(base + " --config " + (out / "curated.json").string() + " > " + (out / "log.txt").string() + " 2>&1") ==
          0);
  const auto rows = eval::read_results_csv(out / "run" / "results.csv");
  CHECK(rows.size() == 2 * 4 * 2);  // SimCLR on Curated + random init, 4 sets, 2 protocols
  for (const auto& r : rows) CHECK(r.pretrain != "Uncurated");
  // linear_only: no fine-tuning rows, and Table 2 says why it is empty. The same run has the CIFAR
  // stem in every backbone: the pretrained weights have it, and a rerun loads them into one.
  std::ofstream(out / "linear.json")
      << R"({"pretrain_sets": ["curated"], "methods": ["simclr"], "linear_only": true, "cifar_stem": true,
            "lr_scale": 0.5})";
  const auto linear = base + "-linear --config " + (out / "linear.json").string();
  REQUIRE(run(linear + " > " + (out / "log1.txt").string() + " 2>&1") == 0);
  const auto linear_rows = eval::read_results_csv(out / "run-linear" / "results.csv");
  CHECK(linear_rows.size() == 2 * 4);
  std::ifstream report_in(out / "run-linear" / "report.md");
  const std::string report((std::istreambuf_iterator<char>(report_in)), std::istreambuf_iterator<char>());
  CHECK_THAT(report, Catch::Contains("Not run: this run's protocols are linear only."));
  // The schedule actually run: the preset's, with what the config file changed.
  const auto smoke = grid::GridConfig::preset_named("smoke");
  REQUIRE(smoke.epochs_curated == 1);
  CHECK_THAT(report, Catch::Contains("Settings of this run: pretraining at " + std::to_string(smoke.pretrain_size) +
                                     " px, batch " + std::to_string(smoke.batch_size) +
                                     ", 1 epoch on the curated set and 1 on the uncurated set, warm-up 0 epochs"));
  CHECK_THAT(report, Catch::Contains("learning rate x 0.5, crop scale [0.65, 1]"));
  CHECK_THAT(report, Catch::Contains("CIFAR stem"));
  const auto weights = out / "run-linear" / "cells" / "Curated_ResNet-18_SimCLR_seed0" / "backbone.pt";
  backbone::ResNet18 cifar(backbone::ResNetOptions().cifar_stem(true));
  backbone::load_backbone(cifar, weights);
  CHECK(cifar->conv1->weight.size(2) == 3);
  backbone::ResNet18 imagenet_stem;
  CHECK_THROWS(backbone::load_backbone(imagenet_stem, weights));
  fs::remove(out / "run-linear" / "results.csv");  // evaluate again, from the saved weights
  REQUIRE(run(linear + " > " + (out / "log1b.txt").string() + " 2>&1") == 0);
  CHECK(sorted_rows(out / "run-linear" / "results.csv").size() == linear_rows.size());
  std::ofstream(out / "cifar_imagenet.json") << R"({"cifar_stem": true, "imagenet_resnet18": "r18.pt"})";
  CHECK(run(base + "-imagenet --config " + (out / "cifar_imagenet.json").string() + " > " +
            (out / "log3.txt").string() + " 2>&1") != 0);
  std::ifstream log3(out / "log3.txt");
  CHECK_THAT(std::string((std::istreambuf_iterator<char>(log3)), std::istreambuf_iterator<char>()),
             Catch::Contains("do not fit the CIFAR stem"));
  std::ofstream(out / "other.json") << R"({"smgps_maps": 2})";
  CHECK(run(base + " --config " + (out / "other.json").string() + " > " + (out / "log2.txt").string() + " 2>&1") != 0);
  std::ifstream log(out / "log2.txt");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK_THAT(text, Catch::Contains("smgps_maps is 1, the config asks for 2"));
  std::ofstream(out / "scaled.json") << R"({"labeled_scale": 2})";
  CHECK(run(base + " --config " + (out / "scaled.json").string() + " > " + (out / "log4.txt").string() + " 2>&1") != 0);
  std::ifstream log4(out / "log4.txt");
  CHECK_THAT(std::string((std::istreambuf_iterator<char>(log4)), std::istreambuf_iterator<char>()),
             Catch::Contains("labeled_scale is 1, the config asks for 2"));
}

TEST_CASE("bench_grid resumed after being killed or rerun from saved weights ends with the results of an uninterrupted run", "[grid][e2e]") {
  const auto dir = fresh_dir("radiossl_grid_resume");
  std::ofstream(dir / "c.json") << R"({"methods": ["byol"], "backbones": ["resnet18"], "epochs_curated": 4,
    "epochs_uncurated": 1, "batch_size": 8, "checkpoint_every_steps": 1, "random_init_baseline": false})";
  const auto base = bench_grid + " --preset smoke --threads 1 --config " + (dir / "c.json").string() + " --data " +
                    smoke_data().string() + " --out ";
  REQUIRE(run(base + (dir / "straight").string() + " > " + (dir / "straight.log").string() + " 2>&1") == 0);

  // Start, wait for the first pretraining checkpoint, kill -9, run again.
  const auto killed = dir / "killed";
  run(base + killed.string() + " > " + (dir / "killed.log").string() + " 2>&1 & echo $! > " + (dir / "pid").string());
  const auto ckpt = killed / "cells" / "Curated_ResNet-18_BYOL_seed0" / "last.ckpt";
  for (int i = 0; i < 1200 && !fs::exists(ckpt); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(fs::exists(ckpt));
  std::ifstream pid_file(dir / "pid");
  int pid = 0;
  pid_file >> pid;
  REQUIRE(pid > 0);
  ::kill(pid, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(run(base + killed.string() + " > " + (dir / "resumed.log").string() + " 2>&1") == 0);
  std::ifstream log(dir / "resumed.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  const bool resumed = text.find("resuming from") != std::string::npos || text.find("done earlier") != std::string::npos;
  CHECK(resumed);
  const auto a = sorted_rows(dir / "straight" / "results.csv");
  const auto b = sorted_rows(killed / "results.csv");
  CHECK(a.size() == 2 * 4 * 2);  // curated + uncurated cells, 4 sets, 2 protocols
  CHECK(a == b);

  // A rerun that finds every cell done reloads its backbone.pt and scores it again: the numbers of
  // the backbone the Trainer left, so its convolutions (Winograd's on CPU) must be the Trainer's.
  fs::rename(dir / "straight" / "results.csv", dir / "straight_results.csv");
  REQUIRE(run(base + (dir / "straight").string() + " > " + (dir / "rescored.log").string() + " 2>&1") == 0);
  CHECK(sorted_rows(dir / "straight" / "results.csv") == a);

  // Rerun into the same folder with other settings: refused, naming what differs, nothing lost.
  std::ofstream(dir / "other.json") << R"({"methods": ["byol"], "backbones": ["resnet18"], "epochs_curated": 3,
    "epochs_uncurated": 1, "batch_size": 8, "random_init_baseline": false, "pad_square": false})";
  const auto other = bench_grid + " --preset smoke --threads 1 --config " + (dir / "other.json").string() +
                     " --data " + smoke_data().string() + " --out " + (dir / "straight").string();
  CHECK(run(other + " > " + (dir / "other.log").string() + " 2>&1") != 0);
  std::ifstream other_log(dir / "other.log");
  const std::string refused((std::istreambuf_iterator<char>(other_log)), std::istreambuf_iterator<char>());
  CHECK_THAT(refused, Catch::Contains("made with other settings"));
  CHECK_THAT(refused, Catch::Contains("epochs_curated: 4 -> 3"));
  CHECK_THAT(refused, Catch::Contains("pad_square: true -> false"));
  CHECK(sorted_rows(dir / "straight" / "results.csv") == a);
}

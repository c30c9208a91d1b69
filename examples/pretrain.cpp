/// @file
/// `pretrain --data DIR|LIST [--out DIR] [--epochs N] [--batch N] [--size PX] [--threads N]`: the
/// paper's SimCLR pretraining of a ResNet-18 on FITS cut-outs (a folder, searched recursively, or a
/// file listing one path per line); writes OUT/last.ckpt and OUT/train_log.csv. Run it again with
/// `--resume 1` to continue from OUT/last.ckpt.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "radiossl/augment/presets.hpp"
#include "radiossl/backbone/resnet.hpp"
#include "radiossl/data/loader.hpp"
#include "radiossl/io/manifest.hpp"
#include "radiossl/method/simclr.hpp"
#include "radiossl/optim/lars.hpp"
#include "radiossl/trainer.hpp"

namespace fs = std::filesystem;
using namespace radiossl;

int main(int argc, char** argv) try {
  std::map<std::string, std::string> arg{{"--out", "pretrain-out"}, {"--epochs", "100"}, {"--batch", "256"},
                                         {"--size", "224"}, {"--threads", "2"}, {"--resume", "0"}};
  for (int i = 1; i + 1 < argc; i += 2) arg[argv[i]] = argv[i + 1];
  if (!arg.count("--data")) {
    std::cerr << "usage: pretrain --data DIR|LIST [--out DIR] [--epochs N] [--batch N] [--size PX] [--threads N]\n";
    return 2;
  }
  const fs::path data_path = arg["--data"];
  std::vector<fs::path> files;
  if (fs::is_directory(data_path)) {
    for (const auto& e : fs::recursive_directory_iterator(data_path))
      if (e.is_regular_file() && io::is_image_file(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());  // a stable order: the run is reproducible
  } else {
    std::ifstream list(data_path);
    if (!list) throw Error("--data " + data_path.string() + ": neither a folder nor a readable file list");
    for (std::string line; std::getline(list, line);) {
      fs::path p(line);
      if (!line.empty()) files.push_back(p.is_relative() ? data_path.parent_path() / p : p);  // relative to the list
    }
  }
  const int threads = std::stoi(arg["--threads"]);
  const fs::path out = arg["--out"];
  auto options = TrainerOptions()
                     .epochs(std::stoll(arg["--epochs"]))
                     .batch_size(std::stoll(arg["--batch"]))
                     .num_threads(threads)
                     .out_dir(out.string());
  if (arg["--resume"] == "1") options.resume_from((out / "last.ckpt").string());

  // The paper's choices: ResNet-18, SimCLR's paper preset (lr 1.2, projection 512, temperature 0.2),
  // its symmetric radio augmentations, LARS with solo-learn's settings.
  Trainer<backbone::ResNet18, method::SimCLR, augment::RadioSymmetric, optim::LARS> trainer(
      options, method::SimCLROptions::paper(), optim::LarsOptions(),
      augment::RadioSymmetric(augment::PretrainOptions{.size = std::stoll(arg["--size"])}));
  data::LoaderOptions loader;
  loader.num_workers = threads;
  trainer.fit(data::FileSource(files), loader);
  std::cout << "pretrain: " << files.size() << " images, " << trainer.global_step() << " steps, checkpoint "
            << trainer.last_checkpoint().string() << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "pretrain: " << e.what() << "\n";
  return 1;
}

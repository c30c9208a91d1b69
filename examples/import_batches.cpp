// radiossl: no-torch
/// CIFAR-style pickled batches (MiraBest, RGZ108k, FR-DEEP) to a labeled set that every radiossl
/// reader takes: one .npy per image in a folder per class, and a manifest.csv
/// (`path,label,batch,filename`). Point bench_grid's `downstream` or embed at either.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "radiossl/io/cifar_batches.hpp"
#include "radiossl/io/labeled_set_writer.hpp"
#include "radiossl/io/mirabest.hpp"

namespace fs = std::filesystem;
using namespace radiossl;

namespace {
const char* usage =
    "usage: import_batches --in DIR|FILE --out DIR [--channels N] [--mirabest confident|full|all]\n"
    "  --in:       a folder of data_batch_1..N, test_batch and batches.meta, or one batch file\n"
    "  --channels: planes per image (MiraBest 1, the default; CIFAR 3)\n"
    "  --mirabest: MiraBest's FR subsets as its MiraBest_F.py defines them (confident: 100-104 FRI,\n"
    "              200-201 FRII; full: 100-112 FRI, 200-210 FRII; hybrids dropped), or all ten codes\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// data_batch_1..N in numeric order, then test_batch.
std::vector<fs::path> batch_files(const fs::path& in) {
  if (!fs::is_directory(in)) return {in};
  std::vector<std::pair<long, fs::path>> found;
  for (const auto& e : fs::directory_iterator(in)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("data_batch_", 0) == 0) found.emplace_back(std::atol(name.c_str() + 11), e.path());
    else if (name == "test_batch") found.emplace_back(1L << 30, e.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> files;
  for (auto& [order, p] : found) files.push_back(p);
  if (files.empty()) throw Error(in.string() + ": no data_batch_* or test_batch files");
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path in, out;
  std::int64_t channels = 1;
  std::optional<io::MiraBestSubset> subset;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw UsageError(a + ": missing value");
        return argv[++i];
      };
      if (a == "--in") in = value();
      else if (a == "--out") out = value();
      else if (a == "--channels") {
        const std::string v = value();
        channels = std::atoll(v.c_str());
        if (channels < 1 || std::to_string(channels) != v) throw UsageError(a + ": expected a positive integer");
      } else if (a == "--mirabest") {
        const std::string v = value();
        if (v == "confident") subset = io::MiraBestSubset::fr_confident;
        else if (v == "full") subset = io::MiraBestSubset::fr_full;
        else if (v == "all") subset = io::MiraBestSubset::all;
        else throw UsageError(a + ": expected confident, full or all, got '" + v + "'");
      } else if (a == "--help" || a == "-h") {
        std::cout << usage;
        return 0;
      } else throw UsageError("unknown argument '" + a + "'");
    }
    if (in.empty() || out.empty()) throw UsageError("--in and --out are required");
  } catch (const UsageError& e) {
    std::cerr << "import_batches: " << e.what() << "\n" << usage;
    return 2;
  }

  try {
    const auto files = batch_files(in);
    std::vector<std::string> names;
    if (subset) names = io::mirabest_class_names(*subset);
    else if (const auto meta = (fs::is_directory(in) ? in : in.parent_path()) / "batches.meta"; fs::exists(meta))
      names = io::read_cifar_label_names(meta);
    io::LabeledSetWriter writer(out, {"batch", "filename"});
    std::int64_t dropped = 0;
    for (const auto& file : files) {
      const auto batch = io::read_cifar_batch(file, channels);
      for (std::size_t i = 0; i < batch.images.size(); ++i) {
        std::int64_t label = batch.labels[i];
        if (subset) label = io::mirabest_class(label, *subset);
        if (label < 0) {
          ++dropped;
          continue;
        }
        const auto index = static_cast<std::size_t>(label);
        const std::string cls = index < names.size() ? names[index] : std::to_string(label);
        writer.add(cls, file.filename().string() + "_" + std::to_string(i), batch.images[i],
                   {file.filename().string(), batch.filenames[i]});
      }
    }
    writer.finish();
    for (const auto& [cls, n] : writer.per_class()) std::cout << "  " << cls << ": " << n << "\n";
    std::cout << "import_batches: " << writer.total() << " images from " << files.size() << " batch file(s) to "
              << writer.manifest_path().string();
    if (dropped > 0) std::cout << "; " << dropped << " outside the subset dropped";
    std::cout << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "import_batches: " << e.what() << "\n";
    return 1;
  }
}

/// @file
/// `embed --data DIR|manifest.csv|info.json|LIST [--weights FILE] [--out PREFIX] ...`: one feature
/// vector per cut-out from a (pretrained) backbone, for similarity search or anomaly ranking;
/// writes PREFIX.csv (`file,label,f0..f{D-1}`) and PREFIX.npy (float32 [N, D]). Images are
/// prepared exactly as the evaluation prepares them (eval::extract_features, augment::Eval).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "radiossl/augment/presets.hpp"
#include "radiossl/backbone/checkpoint.hpp"
#include "radiossl/backbone/winograd_conv.hpp"
#include "radiossl/eval/features.hpp"
#include "radiossl/io/manifest.hpp"

namespace fs = std::filesystem;
using namespace radiossl;

namespace {
const char* usage =
    "usage: embed --data DIR|manifest.csv|info.json|LIST [--weights FILE] [--backbone resnet18|resnet50]\n"
    "             [--size PX] [--batch N] [--threads N] [--out PREFIX] [--l2-normalize] [--clip-sigma K]\n"
    "             [--cifar-stem] [--no-winograd] [--no-pad-square] [--eight-bit] [--mixed-channels] [--plane K]\n"
    "             [--zero-is-blank]\n"
    "  --clip-sigma K: floor the background at median + K sigma before min-max, as a grid run with\n"
    "                  clip_sigma K evaluates (default 0: plain min-max)\n"
    "  --cifar-stem:   the backbone has solo-learn's CIFAR stem, as a grid run with cifar_stem true\n"
    "  --no-winograd:  LibTorch's direct 3x3 convolutions on CPU instead of Winograd's (features then\n"
    "                  differ by about 1e-6 of their largest value)\n"
    "  --no-pad-square: centre-crop non-square cut-outs instead of padding them to a square with\n"
    "                  zeros (the evaluation's default, solo-learn-radio's Pad2Square)\n"
    "  --eight-bit:    truncate the normalised pixels to 8 bits, as a grid run with eight_bit true\n"
    "  --mixed-channels: sinh, min-max and asinh planes, as a grid run with eval_norm_channels \"mixed\"\n"
    "                  gives its validation and kNN images\n"
    "  --plane K:      plane K of FITS cubes (as a grid run with fits_plane K)\n"
    "  --zero-is-blank: exact zeros in FITS files are blanks (as fits_zero_is_blank)\n";

/// A bad command line: one line and the usage, exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The cut-outs and their labels: a CSV manifest or info.json keeps its labels; a directory
/// labels each file by the sub-folder holding it (class folders give class names); a text list
/// has no labels.
std::pair<std::vector<fs::path>, std::vector<std::string>> list_input(const fs::path& p) {
  std::vector<std::string> labels;
  if (p.extension() == ".csv" || p.extension() == ".json") {
    const auto set = io::read_labeled_set(p);
    for (auto l : set.labels) labels.push_back(l >= 0 ? set.class_names[static_cast<std::size_t>(l)] : "");
    return {set.paths, labels};
  }
  auto files = io::list_image_files(p);
  for (const auto& f : files) {
    const auto rel = fs::is_directory(p) ? f.parent_path().lexically_relative(p).string() : std::string(".");
    labels.push_back(rel == "." ? "" : rel);
  }
  return {files, labels};
}

/// A CSV field, quoted when it holds a comma or a quote.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

/// Hands a loader's batches to eval::extract_features, noting which file each feature row is
/// and reporting progress every 10 batches.
template <class L>
struct Tracked {
  explicit Tracked(L& l) : loader(l) {}
  L& loader;
  std::vector<std::int64_t> rows;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  void start_epoch(std::int64_t e) { loader.start_epoch(e); }
  std::optional<data::Batch> next() {
    auto batch = loader.next();
    if (!batch) return batch;
    rows.insert(rows.end(), batch->indices.begin(), batch->indices.end());
    if (loader.stats().batches % 10 == 0)
      std::cerr << "embed: " << rows.size() << "/" << loader.size() << " images, " << static_cast<long>(rate())
                << " images/s\n";
    return batch;
  }
  double rate() const {
    const std::chrono::duration<double> s = std::chrono::steady_clock::now() - start;
    return static_cast<double>(rows.size()) / std::max(s.count(), 1e-9);
  }
};

/// The command line's settings.
struct EmbedOptions {
  fs::path data, out = "embeddings";
  std::string weights, backbone = "resnet18";
  std::int64_t size = 224, batch = 64;
  int threads = 2;
  bool l2 = false, cifar_stem = false;
  bool winograd = true;  ///< on CPU where available, as a grid run evaluates (backbone/winograd_conv.hpp)
  double clip_sigma = 0.0;
  bool pad_square = true;  ///< as eval::EvalSettings::pad_square
  bool eight_bit = false;  ///< as eval::EvalSettings::eight_bit
  /// ChannelMode::mixed_fixed: the channels eval::EvalSettings::channel_mode mixed gives images it does
  /// not train on.
  data::ChannelMode channel_mode = data::ChannelMode::replicate;
  io::FitsReadOptions fits;
};

template <class B>
int embed(const EmbedOptions& opt) {
  torch::set_num_threads(opt.threads);
  const auto device = torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  torch::manual_seed(0);
  B net(typename B::Impl::Options().cifar_stem(opt.cifar_stem));
  if (opt.weights.empty()) std::cerr << "embed: no --weights given: features of a randomly initialised backbone\n";
  else backbone::load_backbone(net, opt.weights);
  net->to(device);
  backbone::set_winograd(*net.ptr(), opt.winograd && device.is_cpu() && backbone::winograd_available());

  auto [files, labels] = list_input(opt.data);
  data::LoaderOptions o;  // as eval::make_loader sets it up, but skipping unreadable files
  o.batch_size = opt.batch;
  o.num_workers = opt.threads;
  o.shuffle = false;
  o.drop_last = false;
  o.preprocess.clip_sigma = opt.clip_sigma;
  o.preprocess.pad_square = opt.pad_square;
  o.preprocess.eight_bit = opt.eight_bit;
  o.preprocess.channel_mode = opt.channel_mode;
  o.on_bad_file = [](const std::string& name, const std::string& error) {
    std::cerr << "embed: skipping unreadable " << name << ": " << error << "\n";
  };
  data::Loader loader(data::FileSource(files, opt.fits), augment::Eval(opt.size), o);
  Tracked tracked(loader);
  torch::Tensor feats = eval::extract_features(net, tracked, 0, device).first;
  if (tracked.rows.empty()) throw Error(opt.data.string() + ": no readable image");
  if (opt.l2) feats = torch::nn::functional::normalize(feats, torch::nn::functional::NormalizeFuncOptions().dim(1));
  feats = feats.contiguous();

  const std::int64_t n = feats.size(0), d = feats.size(1);
  if (!opt.out.parent_path().empty()) fs::create_directories(opt.out.parent_path());
  const fs::path csv_path = opt.out.string() + ".csv", npy_path = opt.out.string() + ".npy";
  std::ofstream csv(csv_path);
  csv << "file,label";
  for (std::int64_t j = 0; j < d; ++j) csv << ",f" << j;
  csv << "\n";
  csv.precision(std::numeric_limits<float>::max_digits10);  // the CSV holds the .npy's exact values
  const float* f = feats.data_ptr<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<std::size_t>(tracked.rows[static_cast<std::size_t>(i)]);
    csv << csv_field(files[k].string()) << "," << csv_field(labels[k]);
    for (std::int64_t j = 0; j < d; ++j) csv << "," << f[i * d + j];
    csv << "\n";
  }
  if (!csv.flush()) throw Error(csv_path.string() + ": cannot write");
  io::write_npy_matrix(npy_path, f, n, d);
  std::cerr << "embed: " << n << " images -> " << csv_path.string() << ", " << npy_path.string() << " [" << n
            << ", " << d << "]; " << loader.stats().bad_names.size() << " unreadable skipped; "
            << static_cast<long>(tracked.rate()) << " images/s\n";
  return 0;
}
}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::string> args(argv + 1, argv + argc);
  EmbedOptions opt;
  try {
    for (std::size_t i = 0; i < args.size(); ++i) {
      const auto& a = args[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= args.size()) throw UsageError(a + ": missing value");
        return args[++i];
      };
      auto number = [&](std::int64_t least = 1) -> std::int64_t {
        const auto v = value();
        std::size_t used = 0;
        std::int64_t x = 0;
        try {
          x = std::stoll(v, &used);
        } catch (const std::logic_error&) {  // not a number, or out of range
        }
        if (used != v.size() || x < least)
          throw UsageError(a + ": expected " + (least == 1 ? "a positive integer" : "an integer >= 0") + ", got '" + v +
                           "'");
        return x;
      };
      if (a == "--data") opt.data = value();
      else if (a == "--weights") opt.weights = value();
      else if (a == "--backbone") opt.backbone = value();
      else if (a == "--size") opt.size = number();
      else if (a == "--batch") opt.batch = number();
      else if (a == "--threads") opt.threads = static_cast<int>(number());
      else if (a == "--out") opt.out = value();
      else if (a == "--l2-normalize") opt.l2 = true;
      else if (a == "--cifar-stem") opt.cifar_stem = true;
      else if (a == "--no-winograd") opt.winograd = false;
      else if (a == "--no-pad-square") opt.pad_square = false;
      else if (a == "--eight-bit") opt.eight_bit = true;
      else if (a == "--mixed-channels") opt.channel_mode = data::ChannelMode::mixed_fixed;
      else if (a == "--plane") opt.fits.plane = number(0);
      else if (a == "--zero-is-blank") opt.fits.zero_is_blank = true;
      else if (a == "--clip-sigma") {
        const auto v = value();
        std::size_t used = 0;
        try {
          opt.clip_sigma = std::stod(v, &used);
        } catch (const std::logic_error&) {
        }
        if (used == 0 || used != v.size() || !(opt.clip_sigma >= 0.0))
          throw UsageError(a + ": expected a number >= 0, got '" + v + "'");
      }
      else if (a == "--help" || a == "-h") {
        std::cout << usage;
        return 0;
      } else throw UsageError("unknown argument '" + a + "'");
    }
    if (opt.data.empty()) throw UsageError("--data is required");
    if (!fs::exists(opt.data)) throw UsageError("--data " + opt.data.string() + ": no such file or directory");
    if (opt.backbone != "resnet18" && opt.backbone != "resnet50")
      throw UsageError("--backbone: expected resnet18 or resnet50, got '" + opt.backbone + "'");
  } catch (const UsageError& e) {
    std::cerr << "embed: " << e.what() << " (embed --help shows the usage)\n";
    return 2;
  }
  return opt.backbone == "resnet18" ? embed<backbone::ResNet18>(opt) : embed<backbone::ResNet50>(opt);
} catch (const std::exception& e) {
  std::cerr << "embed: " << e.what() << "\n";
  return 1;
}

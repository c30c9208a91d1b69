// radiossl: no-torch
/// @file
/// simulate_sky: writes radiossl's synthetic radio-sky dataset (survey maps, catalogues, pretraining
/// and labeled sets) so the whole benchmark runs without survey data.
///
/// Usage: simulate_sky --out DIR --seed N --preset {smoke,quick,paper} [--smgps-maps N] [--emu-maps N]
///                     [--gallery FILE.png] [--threads N]
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "radiossl/error.hpp"
#include "radiossl/sim/gallery.hpp"
#include "radiossl/sim/sets.hpp"

namespace {

constexpr const char* usage =
    "usage: simulate_sky --out DIR --seed N --preset {smoke,quick,paper} [--smgps-maps N] [--emu-maps N]\n"
    "                    [--labeled-scale K] [--gallery FILE.png] [--threads N]\n"
    "  writes survey maps + catalogues (maps/), curated and uncurated pretraining cut-outs (pretrain/),\n"
    "  MiraBest-, RGZ-, MSRS- and VLASS-like labeled sets (labeled/), dataset.json and README.md into DIR.\n"
    "  Same seed, preset, map counts and labeled scale give byte-identical files whatever --threads is.\n"
    "  --smgps-maps N / --emu-maps N replace the preset's map counts: the curated set grows with the\n"
    "  SMGPS-like maps (about 40 cut-outs per quick map), the uncurated set with both.\n"
    "  --labeled-scale K multiplies every labeled set's count per class by K (the larger sets contain\n"
    "  the preset's own: sample j of a class is the same image whatever the count).\n"
    "  --gallery FILE.png also draws example cut-outs of every class (rows = classes).\n";

template <class T>
T parse_number(const std::string& flag, const std::string& text) {
  T v{};
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size())
    throw radiossl::Error(flag + " '" + text + "': not a valid non-negative integer");
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string out, preset, gallery;
    std::uint64_t seed = 0;
    bool have_seed = false;
    std::optional<int> smgps_maps, emu_maps, labeled_scale;
    int threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "-h" || a == "--help") {
        std::cout << usage;
        return 0;
      }
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw radiossl::Error(a + ": missing value");
        return argv[++i];
      };
      if (a == "--out") out = value();
      else if (a == "--seed") {
        seed = parse_number<std::uint64_t>(a, value());
        have_seed = true;
      } else if (a == "--preset") preset = value();
      else if (a == "--smgps-maps") smgps_maps = parse_number<int>(a, value());
      else if (a == "--emu-maps") emu_maps = parse_number<int>(a, value());
      else if (a == "--labeled-scale") labeled_scale = parse_number<int>(a, value());
      else if (a == "--gallery") gallery = value();
      else if (a == "--threads") {
        threads = parse_number<int>(a, value());
        if (threads < 1) throw radiossl::Error("--threads must be at least 1");
      } else throw radiossl::Error("unknown argument '" + a + "' (see --help)");
    }
    if (out.empty()) throw radiossl::Error("--out DIR is required (see --help)");
    if (!have_seed) throw radiossl::Error("--seed N is required (see --help)");
    if (preset.empty()) throw radiossl::Error("--preset is required: smoke, quick or paper (see --help)");

    radiossl::sim::GenerateOptions opt;
    opt.out = out;
    opt.seed = seed;
    opt.preset = radiossl::sim::DatasetPreset::from_name(preset);
    if (smgps_maps || emu_maps)
      opt.preset.with_maps(smgps_maps.value_or(opt.preset.smgps_maps), emu_maps.value_or(opt.preset.emu_maps));
    if (labeled_scale) opt.preset.with_labeled_scale(*labeled_scale);
    opt.threads = threads;
    const auto t0 = std::chrono::steady_clock::now();
    opt.progress = [&](const std::string& line) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "[simulate_sky %6.1fs] %s\n", s, line.c_str());
    };
    const auto res = radiossl::sim::generate_dataset(opt);
    if (!gallery.empty()) {
      opt.progress("gallery: " + gallery);
      radiossl::sim::write_gallery(gallery, seed, opt.preset);
    }
    std::int64_t labeled = 0;
    for (const auto& [set, counts] : res.labeled)
      for (auto c : counts) labeled += c;
    std::cout << "{\"maps\":" << res.maps.size() << ",\"curated\":" << res.curated << ",\"uncurated\":" << res.uncurated
              << ",\"labeled\":" << labeled << "}\n";
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "simulate_sky: %s\n", e.what());
    return 1;
  }
}

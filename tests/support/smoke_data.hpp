/// @file
/// The synthetic smoke dataset that the grid tests run on, generated once per folder.
#pragma once

#include <filesystem>
#include <string>

#include "radiossl/sim/sets.hpp"

namespace radiossl::test {

/// `<temp>/<folder>` holding simulate_sky's smoke preset (seed 0), generated if missing (seconds).
/// Each test file names its own folder: another ctest job may be generating a shared one.
inline std::filesystem::path smoke_dataset(const std::string& folder) {
  const auto d = std::filesystem::temp_directory_path() / folder;
  if (!std::filesystem::exists(d / "dataset.json")) {
    sim::GenerateOptions g;
    g.out = d;
    g.seed = 0;
    g.preset = sim::DatasetPreset::smoke();
    sim::generate_dataset(g);
  }
  return d;
}

}  // namespace radiossl::test

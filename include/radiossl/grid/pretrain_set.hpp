/// @file
/// The pretraining-set types of the grid: the paper's Curated and Uncurated sets.
#pragma once

#include <string_view>

namespace radiossl::grid {

/// Cut-outs centred on catalogued extended sources, 2.5x their bounding box (paper section 3.2).
struct Curated {
  static constexpr std::string_view name = "Curated";
};

/// 256 x 256 sliding windows with 50% overlap over the survey maps (paper section 3.2).
struct Uncurated {
  static constexpr std::string_view name = "Uncurated";
};

}  // namespace radiossl::grid

/// @file
/// MiraBest's labels (Porter & Scaife; data.md section 2): ten three-digit codes, and the FR
/// subsets its own loader (MiraBest_F.py) trains on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "radiossl/error.hpp"

namespace radiossl::io {

/// Which MiraBest images to keep, and as which classes.
enum class MiraBestSubset {
  all,           ///< the ten codes as they are
  fr_confident,  ///< MBFRConfident: 100, 102, 104 -> FRI; 200, 201 -> FRII; the rest dropped
  fr_full,       ///< MBFRFull: 100-112 -> FRI; 200-210 -> FRII; hybrids (300, 310) dropped
};

/// MiraBest's label indices 0-9, in order: its `batches.meta` label_names.
inline const std::vector<std::string>& mirabest_codes() {
  static const std::vector<std::string> codes{"100", "102", "104", "110", "112", "200", "201", "210", "300", "310"};
  return codes;
}

/// The class of label index `label` (0-9) in `subset`: the index itself for `all`, 0 (FRI) or
/// 1 (FRII) for the FR subsets, -1 for an image the subset drops.
inline std::int64_t mirabest_class(std::int64_t label, MiraBestSubset subset) {
  if (label < 0 || label > 9) throw Error("MiraBest: label index " + std::to_string(label) + " is not in 0-9");
  switch (subset) {
    case MiraBestSubset::all: return label;
    case MiraBestSubset::fr_confident: return label <= 2 ? 0 : (label == 5 || label == 6) ? 1 : -1;
    case MiraBestSubset::fr_full: return label <= 4 ? 0 : label <= 7 ? 1 : -1;
  }
  return -1;
}

/// The class names of `subset`.
inline std::vector<std::string> mirabest_class_names(MiraBestSubset subset) {
  if (subset == MiraBestSubset::all) return mirabest_codes();
  return {"FRI", "FRII"};
}

}  // namespace radiossl::io

/// @file
/// Writes a labeled set that every radiossl reader takes: one float32 `.npy` per image in a folder
/// per class, and `manifest.csv` (`path,label` then any further columns). The importers of
/// other formats (pickled batches, VOC boxes) write through it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "radiossl/error.hpp"
#include "radiossl/image.hpp"
#include "radiossl/io/catalogue.hpp"
#include "radiossl/io/npy.hpp"

namespace radiossl::io {

class LabeledSetWriter {
 public:
  /// Creates `out_dir` and starts its manifest with `path,label` and `extra_columns`.
  LabeledSetWriter(std::filesystem::path out_dir, std::vector<std::string> extra_columns)
      : out_(std::move(out_dir)), extra_(std::move(extra_columns)) {
    std::filesystem::create_directories(out_);
    manifest_.open(out_ / "manifest.csv");
    if (!manifest_) throw Error((out_ / "manifest.csv").string() + ": cannot open for writing");
    manifest_ << "path,label";
    for (const auto& c : extra_) manifest_ << ',' << detail::csv_field(c);
    manifest_ << '\n';
  }

  /// A class name as a folder name: path separators and commas become '_'.
  [[nodiscard]] static std::string folder_name(std::string s) {
    std::replace_if(s.begin(), s.end(), [](char c) { return c == '/' || c == '\\' || c == ','; }, '_');
    return s.empty() || s == "." || s == ".." ? "unnamed" : s;
  }

  /// Writes `image` as `<class folder>/<stem>.npy` and its manifest row; `extra` holds one value
  /// per extra column. Returns the path relative to the set's folder.
  std::filesystem::path add(const std::string& label, const std::string& stem, const Image& image,
                            const std::vector<std::string>& extra = {}) {
    if (extra.size() != extra_.size())
      throw Error("LabeledSetWriter: " + std::to_string(extra.size()) + " extra values for " +
                  std::to_string(extra_.size()) + " extra columns");
    const std::filesystem::path rel = std::filesystem::path(folder_name(label)) / (stem + ".npy");
    std::filesystem::create_directories(out_ / rel.parent_path());
    write_npy(out_ / rel, image);
    manifest_ << detail::csv_field(rel.generic_string()) << ',' << detail::csv_field(label);
    for (const auto& v : extra) manifest_ << ',' << detail::csv_field(v);
    manifest_ << '\n';
    ++per_class_[label];
    return rel;
  }

  /// Flushes and closes the manifest; throws if any write failed.
  void finish() {
    manifest_.close();
    if (!manifest_) throw Error(manifest_path().string() + ": write failed");
  }

  [[nodiscard]] std::filesystem::path manifest_path() const { return out_ / "manifest.csv"; }
  /// Images written per class name.
  [[nodiscard]] const std::map<std::string, std::int64_t>& per_class() const { return per_class_; }
  [[nodiscard]] std::int64_t total() const {
    std::int64_t n = 0;
    for (const auto& [label, count] : per_class_) n += count;
    return n;
  }

 private:
  std::filesystem::path out_;
  std::vector<std::string> extra_;
  std::ofstream manifest_;
  std::map<std::string, std::int64_t> per_class_;
};

}  // namespace radiossl::io

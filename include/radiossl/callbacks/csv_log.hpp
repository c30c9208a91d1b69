/// @file
/// A CSV log of training: one row per optimizer step (step, epoch, loss, lr, images/s, method logs).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "radiossl/error.hpp"

namespace radiossl::callbacks {

/// Writes `step,epoch,loss,lr,images_per_s,<method logs...>` rows. The method's log keys are fixed
/// by the first row (missing values are left empty, new keys are ignored) so every row has the
/// same columns.
class CsvLog {
 public:
  /// Opens `path`. With `resume_after_step` >= 0, the rows of an earlier run up to that step are
  /// kept (those after it were done again by the resumed run) and new rows are appended.
  explicit CsvLog(std::filesystem::path path, std::int64_t resume_after_step = -1) : path_(std::move(path)) {
    std::vector<std::string> kept;
    if (resume_after_step >= 0 && std::filesystem::exists(path_)) {
      std::ifstream in(path_);
      std::string header, row;
      if (std::getline(in, header)) {
        kept.push_back(header);
        parse_columns(header);
        while (std::getline(in, row))
          if (std::stoll(row.substr(0, row.find(','))) <= resume_after_step) kept.push_back(row);
      }
    }
    out_.open(path_, std::ios::trunc);
    if (!out_) throw Error("CsvLog: cannot open " + path_.string() + " for writing");
    for (const auto& r : kept) out_ << r << '\n';
    out_ << std::setprecision(std::numeric_limits<double>::max_digits10);
    header_written_ = !kept.empty();
  }

  /// Appends one row (flushed, so a killed run keeps its log).
  void row(std::int64_t step, std::int64_t epoch, double loss, double lr, double images_per_s,
           const std::map<std::string, double>& logs) {
    if (!header_written_) {
      out_ << "step,epoch,loss,lr,images_per_s";
      for (const auto& [k, v] : logs) {
        out_ << ',' << k;
        keys_.push_back(k);
      }
      out_ << '\n';
      header_written_ = true;
    }
    out_ << step << ',' << epoch << ',' << loss << ',' << lr << ',' << images_per_s;
    for (const auto& k : keys_) {
      out_ << ',';
      if (auto it = logs.find(k); it != logs.end()) out_ << it->second;
    }
    out_ << '\n' << std::flush;
  }

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  void parse_columns(const std::string& header) {
    std::stringstream ss(header);
    std::string col;
    for (int i = 0; std::getline(ss, col, ','); ++i)
      if (i >= 5) keys_.push_back(col);
  }

  std::filesystem::path path_;
  std::ofstream out_;
  std::vector<std::string> keys_;
  bool header_written_ = false;
};

}  // namespace radiossl::callbacks

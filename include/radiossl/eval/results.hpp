/// @file
/// One evaluation result row (pretraining x seed x downstream set x protocol x fold) and its CSV form.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "radiossl/error.hpp"
#include "radiossl/eval/metrics.hpp"

namespace radiossl::eval {

/// The pretraining-set name of the random-initialisation baseline rows.
inline constexpr const char* random_init_name = "Random init";
/// The pretraining-set name of the torchvision-weights baseline rows.
inline constexpr const char* imagenet_name = "ImageNet";

/// One evaluation run: which pretrained backbone, which downstream set and protocol, which fold.
struct ResultRow {
  std::string pretrain;    ///< "Curated", "Uncurated", random_init_name or imagenet_name
  std::string backbone;    ///< "ResNet-18", "ResNet-50"
  std::string method;      ///< "SimCLR", ..., or "-" for baselines
  std::int64_t seed = 0;   ///< pretraining seed
  std::string downstream;  ///< "MiraBest", "RGZ", "MSRS", "VLASS" or a user's set
  std::string protocol;    ///< "linear", "finetune" or "knn"
  std::int64_t fold = 0;
  std::int64_t train_size = 0;
  std::int64_t val_size = 0;
  Classification result;
};

inline const std::vector<std::string>& results_csv_header() {
  static const std::vector<std::string> header{
      "pretrain", "backbone", "method", "seed", "downstream", "protocol", "fold",
      "train_size", "val_size", "accuracy", "per_class_accuracy", "confusion"};
  return header;
}

namespace detail {
inline std::string join_doubles(const std::vector<double>& v) {
  std::ostringstream s;
  s << std::setprecision(6);
  for (std::size_t i = 0; i < v.size(); ++i) s << (i ? ";" : "") << v[i];
  return s.str();
}
inline std::string join_confusion(const std::vector<std::vector<std::int64_t>>& m) {
  std::ostringstream s;
  for (std::size_t i = 0; i < m.size(); ++i) {
    s << (i ? "|" : "");
    for (std::size_t j = 0; j < m[i].size(); ++j) s << (j ? ";" : "") << m[i][j];
  }
  return s.str();
}
inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}
}  // namespace detail

/// One CSV line (no newline). Per-class accuracies are ';'-separated; confusion rows '|'-separated.
inline std::string to_csv(const ResultRow& r) {
  std::ostringstream s;
  s << r.pretrain << ',' << r.backbone << ',' << r.method << ',' << r.seed << ',' << r.downstream
    << ',' << r.protocol << ',' << r.fold << ',' << r.train_size << ',' << r.val_size << ','
    << std::setprecision(8) << r.result.accuracy << ',' << detail::join_doubles(r.result.per_class_accuracy)
    << ',' << detail::join_confusion(r.result.confusion);
  return s.str();
}

/// Parses a line written by to_csv; throws Error naming `where` on malformed input.
inline ResultRow from_csv(const std::string& line, const std::string& where) {
  const auto f = detail::split(line, ',');
  if (f.size() != results_csv_header().size())
    throw Error(where + ": expected " + std::to_string(results_csv_header().size()) + " fields, got " +
                std::to_string(f.size()));
  try {
    ResultRow r;
    r.pretrain = f[0];
    r.backbone = f[1];
    r.method = f[2];
    r.seed = std::stoll(f[3]);
    r.downstream = f[4];
    r.protocol = f[5];
    r.fold = std::stoll(f[6]);
    r.train_size = std::stoll(f[7]);
    r.val_size = std::stoll(f[8]);
    r.result.accuracy = std::stod(f[9]);
    if (!f[10].empty())
      for (const auto& v : detail::split(f[10], ';')) r.result.per_class_accuracy.push_back(std::stod(v));
    if (!f[11].empty())
      for (const auto& row : detail::split(f[11], '|')) {
        auto& out = r.result.confusion.emplace_back();
        for (const auto& v : detail::split(row, ';')) out.push_back(std::stoll(v));
      }
    return r;
  } catch (const std::logic_error& e) {
    throw Error(where + ": malformed number (" + e.what() + ")");
  }
}

/// Reads a results.csv; a missing file gives an empty list (a run that has not started). A last
/// line without its newline is the trace of a run killed while writing it: it is dropped (that
/// run is redone); any other malformed line is an error.
inline std::vector<ResultRow> read_results_csv(const std::filesystem::path& path) {
  std::vector<ResultRow> rows;
  std::ifstream in(path, std::ios::binary);
  if (!in) return rows;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t start = 0, n = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    if (end == std::string::npos) break;  // unterminated last line: interrupted write
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (++n == 1 || line.empty()) continue;  // header
    rows.push_back(from_csv(line, path.string() + ":" + std::to_string(n)));
  }
  return rows;
}

/// Appends rows to a results.csv, writing the header when the file is new; flushed at once so
/// that an interrupted run keeps every finished row.
inline void append_results_csv(const std::filesystem::path& path, const std::vector<ResultRow>& rows) {
  if (std::filesystem::exists(path) && std::filesystem::file_size(path) > 0) {
    // A line cut short by a killed run is removed first, so that appending cannot glue onto it.
    std::ifstream in(path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    if (text.back() != '\n') {
      const auto keep = text.rfind('\n');
      std::filesystem::resize_file(path, keep == std::string::npos ? 0 : keep + 1);
    }
  }
  const bool fresh = !std::filesystem::exists(path) || std::filesystem::file_size(path) == 0;
  std::ofstream out(path, std::ios::app);
  if (!out) throw Error(path.string() + ": cannot open for appending");
  if (fresh) {
    const auto& h = results_csv_header();
    for (std::size_t i = 0; i < h.size(); ++i) out << (i ? "," : "") << h[i];
    out << '\n';
  }
  for (const auto& r : rows) out << to_csv(r) << '\n';
  out.flush();
  if (!out) throw Error(path.string() + ": write failed");
}

}  // namespace radiossl::eval

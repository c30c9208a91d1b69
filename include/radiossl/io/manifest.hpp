/// @file
/// Labeled image sets: class folders, CSV manifests and solo-learn-radio's `info.json`, plus
/// `load_image`, which reads FITS, .npy or PNG by file extension.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "radiossl/error.hpp"
#include "radiossl/image.hpp"
#include "radiossl/io/fits.hpp"
#include "radiossl/io/npy.hpp"
#include "radiossl/io/png.hpp"

namespace radiossl::io {

/// A labeled set: image files and their class indices, with the class names by index.
/// An unlabeled set (pretraining lists) has labels of -1 and no class names.
struct LabeledSet {
  std::vector<std::filesystem::path> paths;
  std::vector<std::int64_t> labels;
  std::vector<std::string> class_names;

  [[nodiscard]] std::size_t size() const { return paths.size(); }
  [[nodiscard]] std::int64_t num_classes() const { return static_cast<std::int64_t>(class_names.size()); }
};

/// The image formats `load_image` knows, from the file name.
enum class ImageFormat { fits, npy, png, unknown };

/// Format from the (case-insensitive) extension: .fits .fit .fts .fits.fz .fz (also gzip-ed
/// .fits.gz) are FITS; .npy is NumPy; .png is PNG.
[[nodiscard]] inline ImageFormat image_format(const std::filesystem::path& path) {
  std::string name = path.filename().string();
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  auto ends = [&](std::string_view s) { return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
  if (ends(".fits") || ends(".fit") || ends(".fts") || ends(".fits.fz") || ends(".fz") || ends(".fits.gz"))
    return ImageFormat::fits;
  if (ends(".npy")) return ImageFormat::npy;
  if (ends(".png")) return ImageFormat::png;
  return ImageFormat::unknown;
}

/// True when `load_image` can read the file (by its extension).
[[nodiscard]] inline bool is_image_file(const std::filesystem::path& path) {
  return image_format(path) != ImageFormat::unknown;
}

/// Reads one image by extension: FITS (io::read_fits_image with `fits`: the plane of a cube,
/// zeros as blanks; NaN kept), .npy (io::read_npy) or PNG (io::read_png). Throws radiossl::Error
/// naming the file on an unknown extension or a bad file.
[[nodiscard]] inline Image load_image(const std::filesystem::path& path, const FitsReadOptions& fits = {}) {
  switch (image_format(path)) {
    case ImageFormat::fits: return read_fits_image(path, fits);
    case ImageFormat::npy: return read_npy(path);
    case ImageFormat::png: return read_png(path);
    default:
      throw Error(path.string() + ": unknown image type (expected .fits/.fit/.fts/.fits.fz, .npy or .png)");
  }
}

namespace detail {

/// Class names -> indices in order of first appearance (pandas `unique()`, as solo-learn does),
/// unless every name is a non-negative integer, in which case the integers are the indices.
inline void assign_labels(LabeledSet& set, const std::vector<std::string>& names) {
  const bool numeric = !names.empty() && std::all_of(names.begin(), names.end(), [](const std::string& s) {
    return !s.empty() && s.size() < 10 &&
           std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
  });
  if (numeric) {
    std::int64_t max_label = 0;
    for (const auto& s : names) {
      set.labels.push_back(std::stoll(s));
      max_label = std::max(max_label, set.labels.back());
    }
    for (std::int64_t i = 0; i <= max_label; ++i) set.class_names.push_back(std::to_string(i));
    return;
  }
  std::map<std::string, std::int64_t> index;
  for (const auto& s : names) {
    auto [it, fresh] = index.emplace(s, static_cast<std::int64_t>(set.class_names.size()));
    if (fresh) set.class_names.push_back(s);
    set.labels.push_back(it->second);
  }
}

/// Splits one CSV line (RFC 4180 quoting with "", no embedded newlines).
inline std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else if (c != '\r') {
      out.back() += c;
    }
  }
  for (auto& s : out) {
    const auto b = s.find_first_not_of(" \t");
    const auto e = s.find_last_not_of(" \t");
    s = b == std::string::npos ? std::string{} : s.substr(b, e - b + 1);
  }
  return out;
}

inline std::filesystem::path resolve(const std::filesystem::path& base, const std::string& p) {
  std::filesystem::path path(p);
  return path.is_absolute() ? path : base / path;
}

}  // namespace detail

/// One sub-folder per class: `root/<class>/<image>`. Classes are the sub-folder names sorted
/// (torchvision ImageFolder's order); images are the readable files (by extension) in each, sorted.
/// Throws radiossl::Error naming the folder when it is missing or holds no class with images.
[[nodiscard]] inline LabeledSet read_class_folders(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error(root.string() + ": not a directory");
  std::vector<fs::path> classes;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) classes.push_back(e.path());
  std::sort(classes.begin(), classes.end());
  LabeledSet set;
  for (const auto& dir : classes) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && is_image_file(e.path())) files.push_back(e.path());
    if (files.empty()) continue;  // folders without images are not classes (e.g. a "logs" folder)
    std::sort(files.begin(), files.end());
    const auto label = static_cast<std::int64_t>(set.class_names.size());
    set.class_names.push_back(dir.filename().string());
    for (auto& f : files) {
      set.paths.push_back(std::move(f));
      set.labels.push_back(label);
    }
  }
  if (set.paths.empty()) throw Error(root.string() + ": no class folder with images (.fits/.npy/.png) found");
  return set;
}

/// Options of `read_csv_manifest`: the column names (used when the first row is a header).
struct CsvManifestOptions {
  std::string path_column = "path";
  std::string label_column = "label";
};

/// A CSV manifest: `path,label` rows, paths relative to the CSV's folder (or absolute).
///
/// A first row that names `path_column` (or file, filename, filepath, target_path, image) is a
/// header, and then the columns are found by name: `label_column`, else class, source_type or
/// target (extra columns such as ra/dec are ignored). Without a header, column 0 is the path and
/// column 1 the label. Labels are class names, indexed in order of first appearance; labels that
/// are all non-negative integers are used as indices directly. A manifest without any label (no
/// label column, or every label empty, as the cut-out builders write for unlabeled sets) has
/// labels -1 and no class names. Throws radiossl::Error naming the file and line on a missing
/// file, a row without a path, a row without a label where others have one, or an empty manifest.
[[nodiscard]] inline LabeledSet read_csv_manifest(const std::filesystem::path& csv,
                                                  const CsvManifestOptions& options = {}) {
  std::ifstream in(csv);
  if (!in) throw Error(csv.string() + ": cannot open CSV manifest");
  const auto base = csv.parent_path();
  LabeledSet set;
  std::vector<std::string> names;
  std::vector<std::size_t> unlabeled_lines;
  std::string line;
  std::size_t path_col = 0, label_col = 1, line_no = 0;
  bool first = true;
  auto find_column = [](const std::vector<std::string>& header, std::initializer_list<std::string_view> candidates) {
    for (const auto name : candidates) {
      const auto it = std::find(header.begin(), header.end(), name);
      if (it != header.end()) return static_cast<std::size_t>(it - header.begin());
    }
    return header.size();
  };
  while (std::getline(in, line)) {
    ++line_no;
    auto fields = detail::split_csv_line(line);
    if (fields.size() == 1 && fields[0].empty()) continue;
    if (first) {
      first = false;
      const auto p =
          find_column(fields, {options.path_column, "path", "file", "filename", "filepath", "target_path", "image"});
      if (p < fields.size()) {
        path_col = p;
        label_col = find_column(fields, {options.label_column, "label", "class", "source_type", "target"});
        continue;
      }
    }
    if (fields.size() <= path_col || fields[path_col].empty())
      throw Error(csv.string() + ":" + std::to_string(line_no) + ": expected 'path,label', found no path");
    set.paths.push_back(detail::resolve(base, fields[path_col]));
    if (label_col < fields.size() && !fields[label_col].empty()) names.push_back(fields[label_col]);
    else unlabeled_lines.push_back(line_no);
  }
  if (set.paths.empty()) throw Error(csv.string() + ": empty manifest");
  if (names.empty()) {
    set.labels.assign(set.paths.size(), -1);
    return set;
  }
  if (!unlabeled_lines.empty())
    throw Error(csv.string() + ":" + std::to_string(unlabeled_lines.front()) + ": no label, while " +
                std::to_string(names.size()) + " rows have one (" + std::to_string(unlabeled_lines.size()) +
                " rows lack it)");
  detail::assign_labels(set, names);
  return set;
}

/// Options of `read_info_json`: solo-learn-radio's column names.
struct InfoJsonOptions {
  std::string path_column = "target_path";
  std::string label_column = "source_type";
  /// Folder that relative paths start from; empty means the JSON file's own folder.
  std::filesystem::path base_dir{};
};

/// solo-learn-radio's `info.json`: a pandas `orient="index"` table,
/// `{"0": {"target_path": "...", "source_type": "FRI", ...}, ...}` (a list of such records is
/// accepted too). Rows are taken in file order; classes are indexed in order of first appearance,
/// as solo-learn's `info["source_type"].unique()` does. When no row has the label column (the
/// unlabeled pretraining lists), labels are -1 and there are no class names.
/// Throws radiossl::Error naming the file on bad JSON, a row without a path, or a row without
/// a label when others have one.
[[nodiscard]] inline LabeledSet read_info_json(const std::filesystem::path& json_path,
                                               const InfoJsonOptions& options = {}) {
  std::ifstream in(json_path);
  if (!in) throw Error(json_path.string() + ": cannot open info.json");
  nlohmann::ordered_json doc;  // ordered: keeps the file's row order, as pandas does
  try {
    doc = nlohmann::ordered_json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(json_path.string() + ": invalid JSON (" + e.what() + ")");
  }
  const auto base = options.base_dir.empty() ? json_path.parent_path() : options.base_dir;
  std::vector<const nlohmann::ordered_json*> rows;
  if (doc.is_object()) {
    for (const auto& [key, row] : doc.items()) rows.push_back(&row);
  } else if (doc.is_array()) {
    for (const auto& row : doc) rows.push_back(&row);
  } else {
    throw Error(json_path.string() + ": expected an object of rows (pandas orient=index) or a list");
  }
  LabeledSet set;
  std::vector<std::string> names;
  std::size_t with_label = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = *rows[i];
    if (!row.is_object() || !row.contains(options.path_column) || !row[options.path_column].is_string())
      throw Error(json_path.string() + ": row " + std::to_string(i) + " has no string '" + options.path_column + "'");
    set.paths.push_back(detail::resolve(base, row[options.path_column].get<std::string>()));
    if (row.contains(options.label_column) && !row[options.label_column].is_null()) {
      const auto& l = row[options.label_column];
      names.push_back(l.is_string() ? l.get<std::string>() : l.dump());
      ++with_label;
    }
  }
  if (set.paths.empty()) throw Error(json_path.string() + ": no rows");
  if (with_label == 0) {
    set.labels.assign(set.paths.size(), -1);
    return set;
  }
  if (with_label != set.paths.size())
    throw Error(json_path.string() + ": " + std::to_string(set.paths.size() - with_label) + " rows lack '" +
                options.label_column + "'");
  // Solo-learn maps names in order of first appearance even when they look numeric.
  std::map<std::string, std::int64_t> index;
  for (const auto& s : names) {
    auto [it, fresh] = index.emplace(s, static_cast<std::int64_t>(set.class_names.size()));
    if (fresh) set.class_names.push_back(s);
    set.labels.push_back(it->second);
  }
  return set;
}

/// Any of the three layouts: a directory is read as class folders, a `.json` file as info.json,
/// anything else as a CSV manifest.
[[nodiscard]] inline LabeledSet read_labeled_set(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return read_class_folders(path);
  if (path.extension() == ".json") return read_info_json(path);
  return read_csv_manifest(path);
}

/// The image files of a set whose labels do not matter (pretraining, embedding): a directory
/// (searched recursively and sorted, so that runs are reproducible), an info.json / CSV manifest,
/// or a text file with one path per line (relative paths relative to that file).
inline std::vector<std::filesystem::path> list_image_files(const std::filesystem::path& p) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  if (fs::is_directory(p)) {
    for (const auto& e : fs::recursive_directory_iterator(p))
      if (e.is_regular_file() && is_image_file(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
  } else if (p.extension() == ".json" || p.extension() == ".csv") {
    files = read_labeled_set(p).paths;
  } else {
    std::ifstream in(p);
    if (!in) throw Error(p.string() + ": cannot read the file list");
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) files.push_back(fs::path(line).is_relative() ? p.parent_path() / line : fs::path(line));
  }
  if (files.empty()) throw Error(p.string() + ": no images (.fits, .npy, .png) found");
  return files;
}

}  // namespace radiossl::io

/// @file
/// PASCAL-VOC annotations, the format of Radio Galaxy Zoo DR1's devkit (ClaRAN's
/// `RGZdevkit2017/RGZ2017/`): `Annotations/<id>.xml` with one `<object>` per source (class name
/// and `<bndbox>`), and `ImageSets/Main/<set>.txt` listing the ids of a split.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "radiossl/error.hpp"
#include "radiossl/io/catalogue.hpp"
#include "radiossl/io/xml.hpp"

namespace radiossl::io {

/// One annotated object. Coordinates are as written: VOC's pixel indices, 1-based and inclusive,
/// in the picture's frame (x to the right, y down from the top row).
struct VocObject {
  std::string name;
  double xmin = 0.0;
  double ymin = 0.0;
  double xmax = 0.0;
  double ymax = 0.0;
  bool difficult = false;
  bool truncated = false;
};

/// One annotation file.
struct VocAnnotation {
  std::string filename;  ///< `<filename>`, empty when absent
  /// `<size>`: the picture the boxes refer to; 0 when absent.
  std::int64_t width = 0;
  std::int64_t height = 0;
  std::vector<VocObject> objects;
  std::filesystem::path path;
};

namespace detail {

inline double voc_number(const XmlElement& parent, const char* tag, const std::filesystem::path& path) {
  const auto* e = parent.child(tag);
  if (!e) throw Error(path.string() + ":" + std::to_string(parent.line) + ": <" + parent.name + "> has no <" + tag + ">");
  const auto text = e->trimmed_text();
  double v = 0.0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || !std::isfinite(v))
    throw Error(path.string() + ":" + std::to_string(e->line) + ": <" + tag + "> is not a number: '" + text + "'");
  return v;
}

/// `<difficult>` and `<truncated>` hold 0 or 1; absent means 0.
inline bool voc_flag(const XmlElement& object, const char* tag, const std::filesystem::path& path) {
  const auto* e = object.child(tag);
  if (!e) return false;
  const auto text = e->trimmed_text();
  if (text == "0" || text.empty()) return false;
  if (text == "1") return true;
  throw Error(path.string() + ":" + std::to_string(e->line) + ": <" + tag + "> must be 0 or 1, not '" + text + "'");
}

}  // namespace detail

/// Reads one annotation. Throws `radiossl::Error` naming the file and line for malformed XML, a
/// root other than `<annotation>`, an object without `<name>` or `<bndbox>`, a coordinate that is
/// not a number, or a box with xmax < xmin or ymax < ymin.
[[nodiscard]] inline VocAnnotation read_voc_annotation(const std::filesystem::path& path) {
  const auto root = read_xml(path);
  if (root.name != "annotation")
    throw Error(path.string() + ": not a PASCAL-VOC annotation (the root element is <" + root.name +
                ">, not <annotation>)");
  VocAnnotation out;
  out.path = path;
  if (const auto* f = root.child("filename")) out.filename = f->trimmed_text();
  if (const auto* size = root.child("size")) {
    out.width = static_cast<std::int64_t>(detail::voc_number(*size, "width", path));
    out.height = static_cast<std::int64_t>(detail::voc_number(*size, "height", path));
  }
  for (const auto* o : root.all("object")) {
    VocObject obj;
    const auto* name = o->child("name");
    if (!name || name->trimmed_text().empty())
      throw Error(path.string() + ":" + std::to_string(o->line) + ": <object> without a <name>");
    obj.name = name->trimmed_text();
    const auto* box = o->child("bndbox");
    if (!box) throw Error(path.string() + ":" + std::to_string(o->line) + ": <object> '" + obj.name + "' without a <bndbox>");
    obj.xmin = detail::voc_number(*box, "xmin", path);
    obj.ymin = detail::voc_number(*box, "ymin", path);
    obj.xmax = detail::voc_number(*box, "xmax", path);
    obj.ymax = detail::voc_number(*box, "ymax", path);
    if (obj.xmax < obj.xmin || obj.ymax < obj.ymin)
      throw Error(path.string() + ":" + std::to_string(box->line) + ": <bndbox> of '" + obj.name +
                  "' is empty (xmin..xmax " + std::to_string(obj.xmin) + ".." + std::to_string(obj.xmax) +
                  ", ymin..ymax " + std::to_string(obj.ymin) + ".." + std::to_string(obj.ymax) + ")");
    obj.difficult = detail::voc_flag(*o, "difficult", path);
    obj.truncated = detail::voc_flag(*o, "truncated", path);
    out.objects.push_back(std::move(obj));
  }
  return out;
}

/// The ids of an image-set file (`ImageSets/Main/<set>.txt`): one id per line. Per-class files
/// add a flag after the id (1 present, -1 absent, 0 difficult); as VOC's own tools read them, a
/// line is kept when its flag is absent or 1. Blank lines are skipped.
[[nodiscard]] inline std::vector<std::string> read_voc_image_set(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot open the image set");
  std::vector<std::string> ids;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto b = line.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    const auto e = line.find_first_of(" \t", b);
    std::string id = line.substr(b, e == std::string::npos ? std::string::npos : e - b);
    std::string flag;
    if (e != std::string::npos) {
      const auto fb = line.find_first_not_of(" \t", e);
      if (fb != std::string::npos) flag = line.substr(fb, line.find_last_not_of(" \t") - fb + 1);
    }
    if (!flag.empty() && flag != "1" && flag != "-1" && flag != "0")
      throw Error(path.string() + ":" + std::to_string(n) + ": expected an id and an optional flag 1, 0 or -1, got '" +
                  line + "'");
    if (flag.empty() || flag == "1") ids.push_back(std::move(id));
  }
  return ids;
}

/// Where an annotation's boxes land in the image they are cut from.
struct VocFrame {
  /// The image's size. Boxes are scaled from the annotation's `<size>` to it when the two differ
  /// (ClaRAN's pictures are resampled FIRST cut-outs); without a `<size>` they are taken as is.
  std::int64_t width = 0;
  std::int64_t height = 0;
  /// Count rows from the bottom: a FITS image as radiossl reads it (row 0 is FITS row 1, the
  /// bottom one when shown north up) against a picture whose row 0 is its top row.
  bool flip_rows = false;
  /// Keep objects marked `<difficult>1`; VOC's tools and ClaRAN (`use_diff` off) drop them.
  bool keep_difficult = false;
};

/// The objects of `a` as sources in `frame`'s pixels (0-based centres, sizes in pixels), labeled
/// with their class name and numbered `<annotation stem>_<k>` in file order; what the curated
/// cut-out builder (`data::for_each_curated`) takes, with the benchmark's size factor 1.5.
[[nodiscard]] inline std::vector<Source> voc_sources(const VocAnnotation& a, const VocFrame& frame) {
  if (frame.width <= 0 || frame.height <= 0)
    throw Error(a.path.string() + ": voc_sources needs the image size (got " + std::to_string(frame.width) + " x " +
                std::to_string(frame.height) + ")");
  const double sx = a.width > 0 ? static_cast<double>(frame.width) / static_cast<double>(a.width) : 1.0;
  const double sy = a.height > 0 ? static_cast<double>(frame.height) / static_cast<double>(a.height) : 1.0;
  std::vector<Source> out;
  const std::string stem = a.path.stem().string();
  for (std::size_t k = 0; k < a.objects.size(); ++k) {
    const auto& o = a.objects[k];
    if (o.difficult && !frame.keep_difficult) continue;
    // Pixel i covers [i - 1, i) in 0-based edge coordinates, so a box spans [min - 1, max).
    const double left = (o.xmin - 1.0) * sx, right = o.xmax * sx;
    const double top = (o.ymin - 1.0) * sy, bottom = o.ymax * sy;
    Source s;
    s.id = stem + "_" + std::to_string(k);
    s.label = o.name;
    s.x = (left + right) / 2.0 - 0.5;
    s.y = (top + bottom) / 2.0 - 0.5;
    if (frame.flip_rows) s.y = static_cast<double>(frame.height - 1) - s.y;
    s.bbox_w = right - left;
    s.bbox_h = bottom - top;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace radiossl::io

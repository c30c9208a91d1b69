// radiossl: no-torch
/// A PASCAL-VOC devkit (Radio Galaxy Zoo DR1 as ClaRAN ships it) to a labeled set of cut-outs:
/// each annotated box is cut at 1.5x its size (the benchmark's crop), centred on the box, from
/// the picture or from FITS images, and written as one .npy per cut-out in a folder per class,
/// with a manifest.csv. Point bench_grid's `downstream` or embed at either.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "radiossl/data/cutout.hpp"
#include "radiossl/io/labeled_set_writer.hpp"
#include "radiossl/io/manifest.hpp"
#include "radiossl/io/voc.hpp"

namespace fs = std::filesystem;
using namespace radiossl;

namespace {
const char* usage =
    "usage: import_voc --devkit DIR --out DIR [--set NAME] [--images DIR] [--suffix S]\n"
    "                  [--size-factor F] [--flip-rows auto|yes|no] [--keep-difficult] [--skip-missing]\n"
    "  --devkit:      the folder holding Annotations/ (and ImageSets/Main/, PNGImages/), e.g.\n"
    "                 RGZdevkit2017/RGZ2017\n"
    "  --set:         the ids listed in ImageSets/Main/NAME.txt (default: every Annotations/*.xml)\n"
    "  --images:      where the images are (default: DEVKIT/PNGImages); FITS, .npy or PNG\n"
    "  --suffix:      image file name = id + suffix (default: _radio.png, RGZ's radio pictures;\n"
    "                 .fits to cut FITS images named by id)\n"
    "  --size-factor: cut-out side over the box's larger side (default 1.5, the benchmark's)\n"
    "  --flip-rows:   count box rows from the bottom; auto (the default) does for FITS, whose\n"
    "                 row 0 is the bottom row, and not for pictures\n"
    "  --keep-difficult: keep boxes marked <difficult>1 (dropped by default, as VOC's tools do)\n"
    "  --skip-missing:   count and skip ids whose image is missing instead of stopping\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::vector<std::string> annotation_ids(const fs::path& devkit, const std::string& set) {
  if (!set.empty()) return io::read_voc_image_set(devkit / "ImageSets" / "Main" / (set + ".txt"));
  const fs::path dir = devkit / "Annotations";
  if (!fs::is_directory(dir)) throw Error(dir.string() + ": no such folder (is --devkit the folder holding Annotations/?)");
  std::vector<std::string> ids;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".xml") ids.push_back(e.path().stem().string());
  std::sort(ids.begin(), ids.end());
  if (ids.empty()) throw Error(dir.string() + ": no .xml annotations");
  return ids;
}
}  // namespace

int main(int argc, char** argv) {
  fs::path devkit, out, images;
  std::string set, suffix = "_radio.png", flip = "auto";
  data::CuratedOptions crop;
  crop.size_factor = 1.5;
  bool keep_difficult = false, skip_missing = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw UsageError(a + ": missing value");
        return argv[++i];
      };
      if (a == "--devkit") devkit = value();
      else if (a == "--out") out = value();
      else if (a == "--set") set = value();
      else if (a == "--images") images = value();
      else if (a == "--suffix") suffix = value();
      else if (a == "--size-factor") {
        const std::string v = value();
        char* end = nullptr;
        crop.size_factor = std::strtod(v.c_str(), &end);
        if (end == v.c_str() || *end != '\0' || !(crop.size_factor > 0.0))
          throw UsageError(a + ": expected a positive number, got '" + v + "'");
      } else if (a == "--flip-rows") {
        flip = value();
        if (flip != "auto" && flip != "yes" && flip != "no")
          throw UsageError(a + ": expected auto, yes or no, got '" + flip + "'");
      } else if (a == "--keep-difficult") keep_difficult = true;
      else if (a == "--skip-missing") skip_missing = true;
      else if (a == "--help" || a == "-h") {
        std::cout << usage;
        return 0;
      } else throw UsageError("unknown argument '" + a + "'");
    }
    if (devkit.empty() || out.empty()) throw UsageError("--devkit and --out are required");
  } catch (const UsageError& e) {
    std::cerr << "import_voc: " << e.what() << "\n" << usage;
    return 2;
  }

  try {
    if (images.empty()) images = devkit / "PNGImages";
    const auto ids = annotation_ids(devkit, set);
    io::LabeledSetWriter writer(out, {"image", "object", "x", "y", "bbox_w", "bbox_h", "clipped"});
    std::int64_t missing = 0, boxes = 0, skipped = 0, clipped = 0, difficult = 0;
    std::string first_missing;
    for (std::size_t n = 0; n < ids.size(); ++n) {
      const auto& id = ids[n];
      const fs::path image_path = images / (id + suffix);
      if (!fs::exists(image_path)) {
        if (!skip_missing) throw Error(image_path.string() + ": no such image for annotation '" + id + "' (--skip-missing skips such ids)");
        if (missing++ == 0) first_missing = image_path.string();
        continue;
      }
      const auto annotation = io::read_voc_annotation(devkit / "Annotations" / (id + ".xml"));
      const Image image = io::load_image(image_path);
      io::VocFrame frame;
      frame.width = image.width;
      frame.height = image.height;
      frame.flip_rows = flip == "yes" || (flip == "auto" && io::image_format(image_path) == io::ImageFormat::fits);
      frame.keep_difficult = keep_difficult;
      if (!keep_difficult)
        difficult += std::count_if(annotation.objects.begin(), annotation.objects.end(),
                                   [](const io::VocObject& o) { return o.difficult; });
      const auto sources = io::voc_sources(annotation, frame);
      const auto stats = data::for_each_curated(image, sources, crop, [&](data::Cutout&& c) {
        const auto& s = *std::find_if(sources.begin(), sources.end(), [&](const io::Source& x) { return x.id == c.source_id; });
        using io::detail::csv_number;
        writer.add(c.label, c.source_id, c.image,
                   {image_path.filename().string(), c.source_id.substr(id.size() + 1), csv_number(s.x),
                    csv_number(s.y), csv_number(s.bbox_w), csv_number(s.bbox_h), c.clipped ? "1" : "0"});
      });
      boxes += stats.n_windows;
      skipped += stats.n_skipped;
      clipped += stats.n_clipped;
      if ((n + 1) % 1000 == 0) std::cerr << "import_voc: " << (n + 1) << "/" << ids.size() << " annotations\n";
    }
    writer.finish();
    for (const auto& [cls, count] : writer.per_class()) std::cout << "  " << cls << ": " << count << "\n";
    std::cout << "import_voc: " << writer.total() << " cut-outs of " << boxes << " boxes from " << (ids.size() - missing)
              << " images to " << writer.manifest_path().string() << " (" << clipped << " clipped at the image edge";
    if (skipped > 0) std::cout << ", " << skipped << " outside their image or all blank, skipped";
    if (difficult > 0) std::cout << ", " << difficult << " marked difficult, dropped";
    std::cout << ")\n";
    if (missing > 0)
      std::cout << "import_voc: " << missing << " id(s) without an image skipped, the first " << first_missing << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "import_voc: " << e.what() << "\n";
    return 1;
  }
}

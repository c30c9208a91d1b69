// PASCAL-VOC boxes (RGZ DR1's devkit): the XML reader, annotations, image sets, boxes to cut-outs
// and the import_voc tool. The annotations in tests/data/voc were written by Python's ElementTree
// (tools/gen_voc_fixtures.py); the images are written here.
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "radiossl/data/cutout.hpp"
#include "radiossl/io/fits.hpp"
#include "radiossl/io/manifest.hpp"
#include "radiossl/io/png.hpp"
#include "radiossl/io/voc.hpp"
#include "radiossl/io/xml.hpp"
#include "support/fits_fixture.hpp"

namespace fs = std::filesystem;
namespace io = radiossl::io;
using radiossl::Image;

using radiossl::test::TempDir;

namespace {

const fs::path voc_dir = fs::path(RADIOSSL_TEST_DATA_DIR) / "voc";

/// A 40 x 30 picture whose pixel (x, y) holds y * 40 + x, so a cut-out says where it came from.
Image ramp_picture() {
  Image im(30, 40);
  for (std::int64_t y = 0; y < 30; ++y)
    for (std::int64_t x = 0; x < 40; ++x) im.at(y, x) = static_cast<float>(y * 40 + x);
  return im;
}

/// The same sky as a FITS image: FITS rows run from the bottom, so row y is picture row 29 - y.
Image ramp_fits() {
  const Image picture = ramp_picture();
  Image im(30, 40);
  for (std::int64_t y = 0; y < 30; ++y)
    for (std::int64_t x = 0; x < 40; ++x) im.at(y, x) = picture.at(29 - y, x);
  return im;
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

}  // namespace

TEST_CASE("xml: elements, text, entities, CDATA, comments, and errors with lines", "[voc][xml]") {
  const auto root = io::parse_xml(
      "\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!DOCTYPE annotation>\n<!-- a comment -->\n"
      "<a k='1 &amp; 2' j=\"x\">\n"
      "  <b>one &lt;two&gt; &#65;&#x42; &#8211;</b>\n"
      "  <c/><b><![CDATA[<raw> & ]]>tail</b>\n"
      "</a>\n");
  CHECK(root.name == "a");
  REQUIRE(root.attributes.size() == 2);
  CHECK(root.attributes[0] == std::pair<std::string, std::string>{"k", "1 & 2"});
  CHECK(root.children.size() == 3);
  CHECK(root.child("b")->text == "one <two> AB \xE2\x80\x93");
  CHECK(root.child("b")->line == 5);
  CHECK(root.all("b").size() == 2);
  CHECK(root.all("b")[1]->text == "<raw> & tail");
  CHECK(root.child("c")->children.empty());
  CHECK(root.child("missing") == nullptr);

  auto fails = [](const std::string& text, const std::string& what) {
    CHECK_THROWS_WITH(io::parse_xml(text, "f.xml"), Catch::Contains(what));
  };
  fails("<a>\n<b>\n</c>\n</a>", "f.xml:3: malformed XML: </c> closes <b> opened on line 2");
  fails("<a><b></b>", "f.xml:1: malformed XML: <a> is never closed");
  fails("<a>&nbsp;</a>", "unknown entity &nbsp;");
  fails("<a>x</a><b/>", "content after the root element");
  fails("<a k=1/>", "not quoted");
  fails("  ", "expected the root element");
  fails("<a><!-- open </a>", "unterminated comment");
  fails("<a>&#0;</a>", "out of range");
  fails(std::string(300, '<'), "malformed XML");
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "<e>";
  fails(deep, "nested deeper than 256");
}

TEST_CASE("voc: annotations and image sets as ElementTree wrote them", "[voc]") {
  const auto a = io::read_voc_annotation(voc_dir / "Annotations" / "FIRSTJ000001.0+000001.xml");
  CHECK(a.filename == "FIRSTJ000001.0+000001_radio.png");
  CHECK(a.width == 40);
  CHECK(a.height == 30);
  REQUIRE(a.objects.size() == 2);
  CHECK(a.objects[0].name == "1_1");
  CHECK(a.objects[0].xmin == 11.0);
  CHECK(a.objects[0].ymin == 6.0);
  CHECK(a.objects[0].xmax == 20.0);
  CHECK(a.objects[0].ymax == 12.0);
  CHECK_FALSE(a.objects[0].difficult);
  CHECK(a.objects[1].difficult);

  const auto b = io::read_voc_annotation(voc_dir / "Annotations" / "FIRSTJ000002.0+000002.xml");
  REQUIRE(b.objects.size() == 2);
  CHECK(b.objects[1].name == "1_3");  // a comment inside <name>, as ElementTree wrote it

  const auto ids = io::read_voc_image_set(voc_dir / "ImageSets" / "Main" / "trainD1.txt");
  CHECK(ids == std::vector<std::string>{"FIRSTJ000001.0+000001", "FIRSTJ000002.0+000002"});

  TempDir dir;
  auto fails = [&](const std::string& xml, const std::string& what) {
    write_text(dir / "bad.xml", xml);
    CHECK_THROWS_WITH(io::read_voc_annotation(dir / "bad.xml"), Catch::Contains("bad.xml") && Catch::Contains(what));
  };
  fails("<annotations/>", "the root element is <annotations>, not <annotation>");
  fails("<annotation>\n<object><bndbox/></object></annotation>", ":2: <object> without a <name>");
  fails("<annotation><object><name>x</name></object></annotation>", "'x' without a <bndbox>");
  fails("<annotation><object><name>x</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax></bndbox>"
        "</object></annotation>",
        "<bndbox> has no <ymax>");
  fails("<annotation><object><name>x</name><bndbox><xmin>1</xmin><ymin>a</ymin><xmax>2</xmax><ymax>2</ymax>"
        "</bndbox></object></annotation>",
        "<ymin> is not a number: 'a'");
  fails("<annotation><object><name>x</name><bndbox><xmin>5</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax>"
        "</bndbox></object></annotation>",
        "<bndbox> of 'x' is empty");
  fails("<annotation><object><name>x</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax>"
        "</bndbox><difficult>yes</difficult></object></annotation>",
        "<difficult> must be 0 or 1");
  CHECK_THROWS_WITH(io::read_voc_annotation(dir / "none.xml"), Catch::Contains("none.xml: cannot open"));
  write_text(dir / "set.txt", "a 1\nb 2\n");
  CHECK_THROWS_WITH(io::read_voc_image_set(dir / "set.txt"), Catch::Contains("set.txt:2: expected an id"));
}

TEST_CASE("voc: boxes to 1.5x cut-outs, scaled to the image, rows flipped for FITS", "[voc]") {
  const auto a = io::read_voc_annotation(voc_dir / "Annotations" / "FIRSTJ000001.0+000001.xml");
  const auto b = io::read_voc_annotation(voc_dir / "Annotations" / "FIRSTJ000002.0+000002.xml");
  io::VocFrame frame{40, 30, false, false};
  const auto sa = io::voc_sources(a, frame);
  REQUIRE(sa.size() == 1);  // the difficult box dropped
  CHECK(sa[0].id == "FIRSTJ000001.0+000001_0");
  CHECK(sa[0].label == "1_1");
  CHECK(sa[0].x == 14.5);  // 1-based 11..20 is 0-based 10..19
  CHECK(sa[0].y == 8.0);   // 6..12 is 5..11
  CHECK(sa[0].bbox_w == 10.0);
  CHECK(sa[0].bbox_h == 7.0);
  frame.keep_difficult = true;
  CHECK(io::voc_sources(a, frame).size() == 2);
  frame.keep_difficult = false;
  // The second file's <size> is 80 x 60: its first box, halved, is the box above.
  const auto sb = io::voc_sources(b, frame);
  REQUIRE(sb.size() == 2);
  CHECK(sb[0].x == sa[0].x);
  CHECK(sb[0].y == sa[0].y);
  CHECK(sb[0].bbox_w == sa[0].bbox_w);
  CHECK(sb[0].bbox_h == sa[0].bbox_h);
  CHECK(sb[1].x == 34.5);
  CHECK(sb[1].y == 14.5);

  radiossl::data::CuratedOptions crop;
  crop.size_factor = 1.5;
  const Image picture = ramp_picture();
  const auto from_picture = radiossl::data::curated_cutouts(picture, sa, crop);
  REQUIRE(from_picture.cutouts.size() == 1);
  const auto& c = from_picture.cutouts[0].image;
  CHECK(c.width == 15);  // ceil(1.5 x 10)
  CHECK(c.height == 15);
  CHECK(c.at(0, 0) == picture.at(1, 7));  // starts at ceil(14.5 - 7.5), ceil(8 - 7.5), as astropy's Cutout2D
  CHECK(c.at(7, 7) == picture.at(8, 14));

  // The same sky as FITS (rows from the bottom): the same pixels, rows in FITS order.
  frame.flip_rows = true;
  const Image fits = ramp_fits();
  const auto from_fits = radiossl::data::curated_cutouts(fits, io::voc_sources(a, frame), crop);
  REQUIRE(from_fits.cutouts.size() == 1);
  const auto& f = from_fits.cutouts[0].image;
  REQUIRE(f.height == 15);
  for (std::int64_t y = 0; y < 15; ++y)
    for (std::int64_t x = 0; x < 15; ++x) REQUIRE(f.at(y, x) == c.at(14 - y, x));

  // The box past the right edge is clipped there.
  const auto clipped = radiossl::data::curated_cutouts(picture, {sb[1]}, crop);
  REQUIRE(clipped.cutouts.size() == 1);
  CHECK(clipped.cutouts[0].clipped);
  CHECK(clipped.cutouts[0].image.width == 13);  // columns ceil(34.5 - 7.5) = 27..39
  CHECK_THROWS_WITH(io::voc_sources(a, io::VocFrame{}), Catch::Contains("needs the image size"));
}

TEST_CASE("import_voc: a devkit to labeled cut-outs the readers take", "[voc]") {
  TempDir dir;
  const std::string exe = RADIOSSL_BINARY_DIR "/examples/import_voc";
  // The devkit: the committed annotations and image set, pictures and FITS images written here.
  const fs::path devkit = dir / "RGZ2017";
  fs::create_directories(devkit / "PNGImages");
  fs::create_directories(devkit / "FITS");
  fs::copy(voc_dir, devkit, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  Image picture = ramp_picture();
  for (auto& v : picture.pixels) v = std::fmod(v, 256.0f);  // 8-bit: the PNG holds it exactly
  Image fits = picture;
  for (std::int64_t y = 0; y < 30; ++y)
    for (std::int64_t x = 0; x < 40; ++x) fits.at(y, x) = picture.at(29 - y, x);
  for (const char* id : {"FIRSTJ000001.0+000001", "FIRSTJ000002.0+000002"}) {
    io::write_png(devkit / "PNGImages" / (std::string(id) + "_radio.png"), picture, 0.0f, 255.0f);
    io::write_fits(devkit / "FITS" / (std::string(id) + ".fits"), fits);
  }
  using radiossl::test::quote;
  auto run = [&](const std::string& args) {
    return radiossl::test::run_command(exe + " --devkit " + quote(devkit) + " " + args, dir.path());
  };

  const auto r = run("--set trainD1 --out " + quote(dir / "png"));
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("3 cut-outs of 3 boxes from 2 images") && Catch::Contains("1 clipped") &&
                        Catch::Contains("1 marked difficult, dropped"));
  const auto set = io::read_labeled_set(dir / "png" / "manifest.csv");
  CHECK(set.class_names == std::vector<std::string>{"1_1", "2_2", "1_3"});  // first appearance
  CHECK(set.labels == std::vector<std::int64_t>{0, 1, 2});
  const Image cut = io::load_image(set.paths[0]);
  CHECK(cut.width == 15);
  CHECK(cut.at(0, 0) == picture.at(1, 7));
  CHECK(io::load_image(set.paths[1]).pixels == cut.pixels);  // the 80 x 60 annotation's box, halved

  // From FITS: rows flipped (auto), so the cut-out is the picture's, upside down.
  const auto rf = run("--set trainD1 --images " + quote(devkit / "FITS") + " --suffix .fits --out " + quote(dir / "fits"));
  INFO(rf.out << rf.err);
  REQUIRE(rf.status == 0);
  const auto fits_set = io::read_labeled_set(dir / "fits" / "manifest.csv");
  REQUIRE(fits_set.size() == 3);
  const Image fcut = io::load_image(fits_set.paths[0]);
  REQUIRE(fcut.height == 15);
  CHECK(fcut.at(14, 3) == cut.at(0, 3));

  // Every annotation without --set: the third has no image, which stops the run unless skipped.
  const auto missing = run("--out " + quote(dir / "all"));
  CHECK(missing.status == 1);
  CHECK_THAT(missing.err, Catch::Contains("FIRSTJ000003.0+000003_radio.png: no such image") &&
                              Catch::Contains("--skip-missing"));
  const auto skipped = run("--skip-missing --out " + quote(dir / "all"));
  INFO(skipped.out << skipped.err);
  CHECK(skipped.status == 0);
  CHECK_THAT(skipped.out, Catch::Contains("1 id(s) without an image skipped"));
  const auto bad = run("--out x --flip-rows maybe");
  CHECK(bad.status == 2);
  CHECK_THAT(bad.err, Catch::Contains("expected auto, yes or no"));
}

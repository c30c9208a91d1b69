// Labeled sets: .npy and PNG I/O, the three manifest layouts, load_image dispatch, bad files.
#include <unistd.h>

#include <bit>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "radiossl/io/cifar_batches.hpp"
#include "radiossl/io/fits.hpp"
#include "radiossl/io/manifest.hpp"
#include "radiossl/io/mirabest.hpp"
#include "radiossl/io/npy.hpp"
#include "radiossl/io/png.hpp"
#include "support/fits_fixture.hpp"

namespace fs = std::filesystem;
namespace io = radiossl::io;
using radiossl::Image;

using radiossl::test::TempDir;

namespace {

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

/// A .npy file written byte by byte: header dict, format version, raw data.
void write_npy_bytes(const fs::path& p, const std::string& dict, const std::string& data, int version = 1) {
  std::string header = dict;
  const std::size_t prefix = version == 1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(version);
  out += '\0';
  const auto len = header.size();
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>((len >> 8) & 0xff);
  if (version != 1) {
    out += '\0';
    out += '\0';
  }
  std::ofstream(p, std::ios::binary) << out << header << data;
}

template <class T>
std::string raw_bytes(std::initializer_list<T> values, bool big_endian) {
  std::string s;
  for (T v : values) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    if (big_endian == (std::endian::native == std::endian::little)) std::reverse(b, b + sizeof(T));
    s.append(b, sizeof(T));
  }
  return s;
}

bool have_python_module(const std::string& module) {
  const std::string cmd = "/usr/bin/python3 -c 'import " + module + "' > /dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace

TEST_CASE("npy: every dtype, byte order, memory order and header version", "[labeled][npy]") {
  TempDir dir;
  const std::vector<float> expected{1, 2, 3, 4, 5, 6};  // shape (2, 3)
  auto check_2x3 = [&](const fs::path& p) {
    const Image img = io::read_npy(p);
    REQUIRE(img.channels == 1);
    REQUIRE(img.height == 2);
    REQUIRE(img.width == 3);
    CHECK(img.pixels == expected);
  };
  const std::string shape = "'shape': (2, 3), }";
  write_npy_bytes(dir / "f4.npy", "{'descr': '<f4', 'fortran_order': False, " + shape, raw_bytes<float>({1, 2, 3, 4, 5, 6}, false));
  write_npy_bytes(dir / "f8be.npy", "{'descr': '>f8', 'fortran_order': False, " + shape, raw_bytes<double>({1, 2, 3, 4, 5, 6}, true));
  write_npy_bytes(dir / "u1.npy", "{'descr': '|u1', 'fortran_order': False, " + shape, raw_bytes<std::uint8_t>({1, 2, 3, 4, 5, 6}, false));
  write_npy_bytes(dir / "i2.npy", "{'descr': '<i2', 'fortran_order': False, " + shape, raw_bytes<std::int16_t>({1, 2, 3, 4, 5, 6}, false));
  write_npy_bytes(dir / "i4be.npy", "{'descr': '>i4', 'fortran_order': False, " + shape, raw_bytes<std::int32_t>({1, 2, 3, 4, 5, 6}, true));
  write_npy_bytes(dir / "i8.npy", "{'descr': '<i8', 'fortran_order': False, " + shape, raw_bytes<std::int64_t>({1, 2, 3, 4, 5, 6}, false));
  // Fortran order: column-major bytes of the same 2x3 array.
  write_npy_bytes(dir / "fortran.npy", "{'descr': '<f4', 'fortran_order': True, " + shape, raw_bytes<float>({1, 4, 2, 5, 3, 6}, false));
  write_npy_bytes(dir / "v2.npy", "{'descr': '<f4', 'fortran_order': False, " + shape, raw_bytes<float>({1, 2, 3, 4, 5, 6}, false), 2);
  write_npy_bytes(dir / "v3.npy", "{'descr': '<f4', 'fortran_order': False, " + shape, raw_bytes<float>({1, 2, 3, 4, 5, 6}, false), 3);
  write_npy_bytes(dir / "squeeze.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 1, 3), }", raw_bytes<float>({1, 2, 3, 4, 5, 6}, false));
  for (const char* name : {"f4", "f8be", "u1", "i2", "i4be", "i8", "fortran", "v2", "v3", "squeeze"}) {
    INFO(name);
    check_2x3(dir / (std::string(name) + ".npy"));
  }
  CHECK(io::read_npy(dir / "i2.npy").pixels[0] == 1.0f);

  // [H, W, 3] pictures are transposed to planes; [C, H, W] is kept.
  write_npy_bytes(dir / "hwc.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 3), }",
                  raw_bytes<float>({0, 10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23}, false));
  const Image hwc = io::read_npy(dir / "hwc.npy");
  REQUIRE(hwc.channels == 3);
  CHECK(hwc.at(0, 1, 1) == 3.0f);
  CHECK(hwc.at(2, 0, 1) == 21.0f);

  // Bad files: named in one-line errors.
  write_npy_bytes(dir / "vec.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", raw_bytes<float>({1, 2, 3, 4, 5, 6}, false));
  CHECK_THROWS_WITH(io::read_npy(dir / "vec.npy"), Catch::Contains("vec.npy") && Catch::Contains("1-D"));
  write_npy_bytes(dir / "short.npy", "{'descr': '<f4', 'fortran_order': False, " + shape, raw_bytes<float>({1, 2}, false));
  CHECK_THROWS_WITH(io::read_npy(dir / "short.npy"), Catch::Contains("short.npy") && Catch::Contains("truncated"));
  write_npy_bytes(dir / "c16.npy", "{'descr': '<c16', 'fortran_order': False, " + shape, std::string(96, '\0'));
  CHECK_THROWS_WITH(io::read_npy(dir / "c16.npy"), Catch::Contains("unsupported .npy dtype"));
  write_text(dir / "text.npy", "hello, not numpy");
  CHECK_THROWS_WITH(io::read_npy(dir / "text.npy"), Catch::Contains("text.npy") && Catch::Contains("magic"));
  CHECK_THROWS_WITH(io::read_npy(dir / "missing.npy"), Catch::Contains("missing.npy"));

  // Writer round trip, and a feature matrix.
  Image img(3, 4, 5, 0.0f);
  for (std::size_t i = 0; i < img.size(); ++i) img.pixels[i] = static_cast<float>(i) * 0.5f;
  io::write_npy(dir / "rt.npy", img);
  const Image back = io::read_npy(dir / "rt.npy");
  CHECK(back.channels == 3);
  CHECK(back.pixels == img.pixels);
  io::write_npy_matrix(dir / "feat.npy", std::vector<float>{1, 2, 3, 4, 5, 6}, 2, 3);
  check_2x3(dir / "feat.npy");
  CHECK_THROWS_WITH(io::write_npy_matrix(dir / "bad.npy", std::vector<float>{1, 2}, 2, 3), Catch::Contains("bad.npy"));
}

TEST_CASE("npy: files written by numpy itself", "[labeled][npy]") {
  if (!have_python_module("numpy")) {
    WARN("/usr/bin/python3 with numpy not available: skipping the cross-check with numpy");
    return;
  }
  TempDir dir;
  const std::string script =
      "import numpy as np, sys\n"
      "d = sys.argv[1]\n"
      "a = np.arange(12, dtype=np.float64).reshape(3, 4)\n"
      "for t in ['<f4', '>f4', '<f8', '>f8', 'u1', '<i2', '>i2', '<i4', '<i8']:\n"
      "    np.save(f'{d}/a_{t.strip(\"<>|\")}_{\"be\" if t[0] == \">\" else \"le\"}.npy', a.astype(t))\n"
      "np.save(f'{d}/fortran.npy', np.asfortranarray(a.astype(np.float32)))\n"
      "np.save(f'{d}/mirabest.npy', a.astype(np.float32)[None, :, :])\n"
      "np.save(f'{d}/wmatrix.npy', np.load(f'{d}/feat.npy') * 2)\n";
  write_text(dir / "make.py", script);
  io::write_npy_matrix(dir / "feat.npy", std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 3, 4);
  const std::string cmd = "/usr/bin/python3 " + (dir / "make.py").string() + " " + dir.path().string();
  REQUIRE(std::system(cmd.c_str()) == 0);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    if (e.path().extension() != ".npy" || e.path().filename() == "feat.npy") continue;
    ++files;
    INFO(e.path().filename().string());
    const Image img = io::read_npy(e.path());
    REQUIRE(img.height == 3);
    REQUIRE(img.width == 4);
    const float scale = e.path().filename() == "wmatrix.npy" ? 2.0f : 1.0f;  // numpy read our file
    for (std::size_t i = 0; i < 12; ++i) CHECK(img.pixels[i] == static_cast<float>(i) * scale);
  }
  CHECK(files == 12);
}

TEST_CASE("png: 8-bit gray and RGB round trips, 16-bit, bad files", "[labeled][png]") {
  TempDir dir;
  Image gray(1, 3, 4, 0.0f);
  for (std::size_t i = 0; i < gray.size(); ++i) gray.pixels[i] = static_cast<float>(i) / 11.0f;
  io::write_png(dir / "gray.png", gray);
  const Image g = io::read_png(dir / "gray.png");
  REQUIRE(g.channels == 1);
  REQUIRE(g.height == 3);
  REQUIRE(g.width == 4);
  for (std::size_t i = 0; i < gray.size(); ++i) CHECK(g.pixels[i] == std::round(gray.pixels[i] * 255.0f));

  Image rgb(3, 2, 2, 0.0f);
  rgb.pixels = {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23};
  io::write_png(dir / "rgb.png", rgb, 0.0f, 255.0f);  // a given range: values map as they are
  const Image c = io::read_png(dir / "rgb.png");
  REQUIRE(c.channels == 3);
  CHECK(c.pixels == rgb.pixels);

  CHECK_THROWS_WITH(io::write_png(dir / "two.png", Image(2, 2, 2, 0.0f)), Catch::Contains("two.png") && Catch::Contains("1 or 3"));
  write_text(dir / "fake.png", "not a png at all");
  CHECK_THROWS_WITH(io::read_png(dir / "fake.png"), Catch::Contains("fake.png") && Catch::Contains("not a PNG"));
  // A truncated PNG: the first 40 bytes of a real one.
  {
    std::ifstream in(dir / "gray.png", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    write_text(dir / "cut.png", bytes.substr(0, 40));
  }
  CHECK_THROWS_WITH(io::read_png(dir / "cut.png"), Catch::Contains("cut.png"));
  CHECK_THROWS_WITH(io::read_png(dir / "none.png"), Catch::Contains("none.png"));

  if (have_python_module("PIL")) {
    const std::string script =
        "import sys, numpy as np; from PIL import Image\n"
        "a = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000)\n"
        "Image.fromarray(a.astype(np.uint16)).save(sys.argv[1] + '/g16.png')\n"
        "Image.fromarray(np.zeros((2, 2, 4), np.uint8) + 7, 'RGBA').save(sys.argv[1] + '/rgba.png')\n";
    write_text(dir / "make.py", script);
    REQUIRE(std::system(("/usr/bin/python3 " + (dir / "make.py").string() + " " + dir.path().string()).c_str()) == 0);
    const Image g16 = io::read_png(dir / "g16.png");
    REQUIRE(g16.channels == 1);
    for (std::size_t i = 0; i < 12; ++i) CHECK(g16.pixels[i] == static_cast<float>(i * 5000));
    const Image rgba = io::read_png(dir / "rgba.png");
    CHECK(rgba.channels == 3);
    CHECK(rgba.pixels[0] == 7.0f);
  } else {
    WARN("/usr/bin/python3 with PIL not available: skipping 16-bit and RGBA PNG reads");
  }
}

TEST_CASE("labeled sets: class folders, CSV manifest, info.json", "[labeled][manifest]") {
  TempDir dir;
  Image tiny(1, 2, 2, 1.0f);
  // Class folders (sorted names), one FITS, npy and PNG each; other files ignored.
  fs::create_directories(dir / "folders/FRII");
  io::write_npy(dir / "folders/FRII/b.npy", tiny);
  io::write_png(dir / "folders/FRII/a.png", tiny);
  fs::create_directories(dir / "folders/FRI");
  io::write_fits(dir / "folders/FRI/c.fits", tiny);
  write_text(dir / "folders/FRI/notes.txt", "ignored");
  fs::create_directories(dir / "folders/empty");
  const auto folders = io::read_labeled_set(dir / "folders");
  REQUIRE(folders.size() == 3);
  CHECK(folders.class_names == std::vector<std::string>{"FRI", "FRII"});
  CHECK(folders.labels == std::vector<std::int64_t>{0, 1, 1});
  CHECK(folders.paths[1].filename() == "a.png");
  for (const auto& p : folders.paths) {
    const float stored = p.extension() == ".png" ? 255.0f : 1.0f;  // PNG keeps its 8-bit scale
    CHECK(io::load_image(p).pixels == std::vector<float>(4, stored));
  }
  CHECK_THROWS_WITH(io::read_class_folders(dir / "nowhere"), Catch::Contains("nowhere"));

  // CSV: header with extra columns, relative paths, labels by first appearance.
  write_text(dir / "sets/list.csv",
             "ra,path,label\n1.0,../folders/FRII/b.npy,compact\n2.0,\"../folders/FRI/c.fits\",extended\n"
             "3.0,../folders/FRII/a.png,compact\n");
  const auto csv = io::read_labeled_set(dir / "sets/list.csv");
  CHECK(csv.class_names == std::vector<std::string>{"compact", "extended"});
  CHECK(csv.labels == std::vector<std::int64_t>{0, 1, 0});
  CHECK(io::load_image(csv.paths[1]).pixels == tiny.pixels);
  // Without a header; integer labels are indices.
  write_text(dir / "sets/plain.csv", "../folders/FRII/b.npy,2\n../folders/FRI/c.fits,0\n");
  const auto plain = io::read_csv_manifest(dir / "sets/plain.csv");
  CHECK(plain.labels == std::vector<std::int64_t>{2, 0});
  CHECK(plain.num_classes() == 3);
  // Common header names; a row without a label among labeled rows is an error naming its line.
  write_text(dir / "sets/named.csv", "filename,class\n../folders/FRI/c.fits,FRI\n../folders/FRII/a.png,FRII\n");
  const auto named = io::read_csv_manifest(dir / "sets/named.csv");
  CHECK(named.class_names == std::vector<std::string>{"FRI", "FRII"});
  CHECK(named.paths[1] == dir / "sets/../folders/FRII/a.png");
  write_text(dir / "sets/broken.csv", "path,label\na.npy,FRI\nonly_a_path.npy\n");
  CHECK_THROWS_WITH(io::read_csv_manifest(dir / "sets/broken.csv"), Catch::Contains("broken.csv:3"));
  write_text(dir / "sets/nopath.csv", "path,label\n,FRI\n");
  CHECK_THROWS_WITH(io::read_csv_manifest(dir / "sets/nopath.csv"), Catch::Contains("nopath.csv:2"));
  // Unlabeled manifests (the cut-out builders' with an empty label column, or no label column).
  write_text(dir / "sets/unlabeled.csv", "path,label,ra\nx.fits,,1.0\ny.fits,,2.0\n");
  write_text(dir / "sets/paths_only.csv", "path\nx.fits\ny.fits\n");
  for (const auto* name : {"unlabeled.csv", "paths_only.csv"}) {
    const auto unlabeled = io::read_csv_manifest(dir / "sets" / name);
    CHECK(unlabeled.labels == std::vector<std::int64_t>{-1, -1});
    CHECK(unlabeled.class_names.empty());
    CHECK(io::list_image_files(dir / "sets" / name) ==
          std::vector<fs::path>{dir / "sets/x.fits", dir / "sets/y.fits"});
  }

  // info.json (pandas orient=index): file order kept ("10" after "9"), first-appearance classes.
  std::string json = "{";
  for (int i = 0; i < 11; ++i) {
    const std::string cls = i % 3 == 0 ? "FRII" : (i % 3 == 1 ? "FRI" : "COMPACT");
    json += (i ? "," : "") + std::string("\"") + std::to_string(i) + "\": {\"target_path\": \"img/" +
            std::to_string(i) + ".npy\", \"source_type\": \"" + cls + "\", \"ra\": 1.5}";
  }
  json += "}";
  write_text(dir / "slr/info.json", json);
  const auto info = io::read_labeled_set(dir / "slr/info.json");
  REQUIRE(info.size() == 11);
  CHECK(info.class_names == std::vector<std::string>{"FRII", "FRI", "COMPACT"});
  CHECK(info.labels[9] == 0);
  CHECK(info.labels[10] == 1);
  CHECK(info.paths[10] == dir / "slr/img/10.npy");
  // Configurable columns; unlabeled lists.
  write_text(dir / "slr/custom.json", R"({"a": {"file": "x.fits", "cls": 3}, "b": {"file": "y.fits", "cls": 1}})");
  const auto custom = io::read_info_json(dir / "slr/custom.json", {.path_column = "file", .label_column = "cls"});
  CHECK(custom.class_names == std::vector<std::string>{"3", "1"});
  CHECK(custom.labels == std::vector<std::int64_t>{0, 1});
  write_text(dir / "slr/unlabeled.json", R"({"0": {"target_path": "x.fits"}, "1": {"target_path": "y.fits"}})");
  const auto unl = io::read_info_json(dir / "slr/unlabeled.json");
  CHECK(unl.labels == std::vector<std::int64_t>{-1, -1});
  CHECK(unl.class_names.empty());
  write_text(dir / "slr/bad.json", "{\"0\": {\"target_path\": ");
  CHECK_THROWS_WITH(io::read_info_json(dir / "slr/bad.json"), Catch::Contains("bad.json") && Catch::Contains("invalid JSON"));
  write_text(dir / "slr/nopath.json", R"({"0": {"source_type": "FRI"}})");
  CHECK_THROWS_WITH(io::read_info_json(dir / "slr/nopath.json"), Catch::Contains("target_path"));

  // load_image dispatch by extension.
  CHECK(io::image_format("x.FITS") == io::ImageFormat::fits);
  CHECK(io::image_format("x.fits.fz") == io::ImageFormat::fits);
  CHECK(io::image_format("x.fts") == io::ImageFormat::fits);
  CHECK(io::image_format("x.fit") == io::ImageFormat::fits);
  CHECK(io::image_format("x.Npy") == io::ImageFormat::npy);
  CHECK(io::image_format("x.jpg") == io::ImageFormat::unknown);
  CHECK_THROWS_WITH(io::load_image(dir / "x.jpg"), Catch::Contains("x.jpg") && Catch::Contains("unknown image type"));
  write_text(dir / "broken.fits", "SIMPLE  =                    T");
  CHECK_THROWS_WITH(io::load_image(dir / "broken.fits"), Catch::Contains("broken.fits"));
}

namespace {
/// Python's values of the CIFAR fixtures (tools/gen_cifar_fixtures.py).
nlohmann::json cifar_expected() {
  std::ifstream in(fs::path(RADIOSSL_TEST_DATA_DIR) / "cifar" / "expected.json");
  return nlohmann::json::parse(in);
}

void check_batch_equals_python(const std::string& rel, std::int64_t side) {
  INFO(rel);
  const auto want = cifar_expected().at(rel);
  const auto batch = io::read_cifar_batch(fs::path(RADIOSSL_TEST_DATA_DIR) / "cifar" / rel);
  REQUIRE(batch.images.size() == want.at("data").size());
  CHECK(batch.labels == want.at("labels").get<std::vector<std::int64_t>>());
  CHECK(batch.filenames == want.at("filenames").get<std::vector<std::string>>());
  for (std::size_t i = 0; i < batch.images.size(); ++i) {
    const auto& img = batch.images[i];
    REQUIRE((img.channels == 1 && img.height == side && img.width == side));
    const auto row = want.at("data")[i].get<std::vector<double>>();
    for (std::size_t j = 0; j < row.size(); ++j) CHECK(img.pixels[j] == static_cast<float>(row[j]));
  }
}
}  // namespace

TEST_CASE("CIFAR-style batches pickled by Python read as Python holds them", "[labeled][cifar]") {
  // Protocol 2 (bytes through _codecs.encode, as Python 3 writes it), 4 (raw bytes, an int64
  // label array) and 5 (_frombuffer, a Fortran-ordered float32 'data').
  for (const char* rel : {"mirabest/data_batch_1", "mirabest/data_batch_2", "mirabest/test_batch", "p4.pkl", "p5.pkl"})
    check_batch_equals_python(rel, 4);
  CHECK(io::read_cifar_label_names(fs::path(RADIOSSL_TEST_DATA_DIR) / "cifar/mirabest/batches.meta") ==
        io::mirabest_codes());

  TempDir dir;
  // A Python 2 pickle (str keys and data as SHORT_BINSTRING, GLOBAL opcodes), written by hand:
  // {'data': array([[1, 2, 3, 255]], dtype=uint8), 'labels': [1]}.
  using namespace std::string_literals;
  const std::string py2 =
      "\x80\x02" "}" "q\x00" "("                                                 // PROTO 2, {, memo, MARK
      "U\x04" "data" "q\x01"                                                      // 'data'
      "cnumpy.core.multiarray\n_reconstruct\n" "q\x02" "cnumpy\nndarray\n" "q\x03"  // _reconstruct(ndarray,
      "K\x00" "\x85" "U\x01" "b" "\x87" "R" "q\x04"                                //   (0,), 'b')
      "(" "K\x01" "K\x01" "K\x04" "\x86"                                          // state: 1, (1, 4),
      "cnumpy\ndtype\n" "q\x05" "U\x02" "u1" "K\x00" "K\x01" "\x87" "R"            //   dtype('u1', 0, 1)
      "(" "K\x03" "U\x01" "|" "NNN" "J\xff\xff\xff\xff" "J\xff\xff\xff\xff" "K\x00" "t" "b"  //   .__setstate__
      "\x89" "U\x04" "\x01\x02\x03\xff" "t" "b"                                   //   False, bytes
      "U\x06" "labels" "]" "q\x06" "(" "K\x01" "e"                                 // 'labels': [1]
      "u" "."s;
  write_text(dir / "py2_batch", py2);
  const auto b = io::read_cifar_batch(dir / "py2_batch");
  REQUIRE(b.images.size() == 1);
  CHECK(b.images[0].pixels == std::vector<float>{1, 2, 3, 255});
  CHECK(b.labels == std::vector<std::int64_t>{1});

  // Anything but data is refused, never run; damaged files name the file and the byte.
  write_text(dir / "evil", "\x80\x02" "cos\nsystem\n" "U\x02" "id" "\x85" "R" "."s);
  CHECK_THROWS_WITH(io::read_cifar_batch(dir / "evil"), Catch::Contains("evil") && Catch::Contains("refusing") &&
                                                             Catch::Contains("os.system"));
  write_text(dir / "cut", py2.substr(0, 40));
  CHECK_THROWS_WITH(io::read_cifar_batch(dir / "cut"), Catch::Contains("cut: byte") && Catch::Contains("truncated"));
  write_text(dir / "nodata", "\x80\x02" "}" "q\x00" "."s);
  CHECK_THROWS_WITH(io::read_cifar_batch(dir / "nodata"), Catch::Contains("no 'data'"));
  CHECK_THROWS_WITH(io::read_cifar_batch(fs::path(RADIOSSL_TEST_DATA_DIR) / "cifar/p4.pkl", 3),
                    Catch::Contains("not 3 square plane(s)"));
}

TEST_CASE("import_batches: MiraBest's FR subsets to class folders and a manifest the readers take",
          "[labeled][cifar]") {
  CHECK(io::mirabest_class(2, io::MiraBestSubset::fr_confident) == 0);
  CHECK(io::mirabest_class(3, io::MiraBestSubset::fr_confident) == -1);
  CHECK(io::mirabest_class(4, io::MiraBestSubset::fr_full) == 0);
  CHECK(io::mirabest_class(7, io::MiraBestSubset::fr_full) == 1);
  CHECK(io::mirabest_class(8, io::MiraBestSubset::fr_full) == -1);
  CHECK(io::mirabest_class(9, io::MiraBestSubset::all) == 9);
  CHECK_THROWS_WITH(io::mirabest_class(10, io::MiraBestSubset::all), Catch::Contains("not in 0-9"));

  TempDir dir;
  const std::string exe = RADIOSSL_BINARY_DIR "/examples/import_batches";
  const auto in = fs::path(RADIOSSL_TEST_DATA_DIR) / "cifar" / "mirabest";
  const auto r = radiossl::test::run_command(exe + " --in " + radiossl::test::quote(in) + " --out " +
                                                 radiossl::test::quote(dir / "mb") + " --mirabest confident",
                                             dir.path());
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out,
             Catch::Contains("5 images from 3 batch file(s)") && Catch::Contains("5 outside the subset dropped"));
  // Labels 0 5 9 3 6 | 1 7 8 | 2 4: FRI, FRII, -, -, FRII | FRI, -, - | FRI, -.
  const auto set = io::read_labeled_set(dir / "mb" / "manifest.csv");
  CHECK(set.class_names == std::vector<std::string>{"FRI", "FRII"});
  CHECK(set.labels == std::vector<std::int64_t>{0, 1, 1, 0, 0});
  const auto batch = io::read_cifar_batch(in / "data_batch_1");
  CHECK(io::load_image(set.paths[2]).pixels == batch.images[4].pixels);
  CHECK(io::read_labeled_set(dir / "mb").size() == 5);  // the class folders read the same
  const auto bad = radiossl::test::run_command(exe + " --in " + radiossl::test::quote(in) + " --out x --mirabest some",
                                               dir.path());
  CHECK(bad.status == 2);
  CHECK_THAT(bad.err, Catch::Contains("expected confident, full or all"));
}

/// @file
/// NumPy `.npy` files: read any numeric image array into an Image, write float32 images and
/// feature matrices.
///
/// Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html (versions 1.0,
/// 2.0 and 3.0; 3.0 only changes the header's text encoding to UTF-8).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "radiossl/error.hpp"
#include "radiossl/image.hpp"

namespace radiossl::io {

namespace detail {

/// The parsed `.npy` header: element type, byte order, memory order and shape.
struct NpyHeader {
  char kind = 'f';          ///< 'f' float, 'i' signed, 'u' unsigned, 'b' bool
  int item_size = 4;        ///< bytes per element
  bool big_endian = false;  ///< '>' in the descr
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
  std::size_t data_offset = 0;  ///< bytes from the start of the file to the data
};

[[noreturn]] inline void npy_fail(const std::filesystem::path& path, const std::string& what) {
  throw Error(path.string() + ": " + what);
}

/// Value of `'key':` in the header dict, as raw text up to the next top-level ',' or '}'.
inline std::string npy_field(const std::filesystem::path& path, std::string_view dict,
                             std::string_view key) {
  const std::string quoted1 = "'" + std::string(key) + "'";
  const std::string quoted2 = "\"" + std::string(key) + "\"";
  auto pos = dict.find(quoted1);
  std::size_t klen = quoted1.size();
  if (pos == std::string_view::npos) pos = dict.find(quoted2);
  if (pos == std::string_view::npos) npy_fail(path, "not a valid .npy header (no '" + std::string(key) + "' key)");
  pos = dict.find(':', pos + klen);
  if (pos == std::string_view::npos) npy_fail(path, "not a valid .npy header (bad '" + std::string(key) + "')");
  ++pos;
  int depth = 0;
  std::size_t end = pos;
  for (; end < dict.size(); ++end) {
    const char c = dict[end];
    if (c == '(' || c == '[') ++depth;
    if (c == ')' || c == ']') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  std::string v(dict.substr(pos, end - pos));
  const auto b = v.find_first_not_of(" \t");
  const auto e = v.find_last_not_of(" \t");
  return b == std::string::npos ? std::string{} : v.substr(b, e - b + 1);
}

inline NpyHeader parse_npy_header(const std::filesystem::path& path, std::istream& in) {
  std::array<char, 8> magic{};
  in.read(magic.data(), 8);
  if (!in || std::memcmp(magic.data(), "\x93NUMPY", 6) != 0)
    npy_fail(path, "not a .npy file (missing the \\x93NUMPY magic)");
  const int major = static_cast<unsigned char>(magic[6]);
  std::size_t header_len = 0;
  std::size_t prefix = 0;
  if (major == 1) {
    unsigned char l[2];
    in.read(reinterpret_cast<char*>(l), 2);
    header_len = l[0] | (static_cast<std::size_t>(l[1]) << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    unsigned char l[4];
    in.read(reinterpret_cast<char*>(l), 4);
    header_len = l[0] | (static_cast<std::size_t>(l[1]) << 8) | (static_cast<std::size_t>(l[2]) << 16) |
                 (static_cast<std::size_t>(l[3]) << 24);
    prefix = 12;
  } else {
    npy_fail(path, "unsupported .npy format version " + std::to_string(major));
  }
  if (!in || header_len > (1u << 24)) npy_fail(path, "truncated .npy header");
  std::string dict(header_len, '\0');
  in.read(dict.data(), static_cast<std::streamsize>(header_len));
  if (!in) npy_fail(path, "truncated .npy header");

  NpyHeader h;
  h.data_offset = prefix + header_len;
  std::string descr = npy_field(path, dict, "descr");
  if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"'))
    npy_fail(path, "unsupported .npy dtype " + descr + " (structured arrays are not images)");
  descr = descr.substr(1, descr.size() - 2);
  if (descr.size() < 3) npy_fail(path, "unsupported .npy dtype '" + descr + "'");
  const char order = descr[0];
  h.kind = descr[1];
  h.item_size = std::atoi(descr.c_str() + 2);
  h.big_endian = order == '>' || (order == '!');
  const bool supported =
      (h.kind == 'f' && (h.item_size == 4 || h.item_size == 8)) ||
      ((h.kind == 'i' || h.kind == 'u') &&
       (h.item_size == 1 || h.item_size == 2 || h.item_size == 4 || h.item_size == 8)) ||
      (h.kind == 'b' && h.item_size == 1);
  if (!supported)
    npy_fail(path, "unsupported .npy dtype '" + descr +
                       "' (expected float32/64, int8/16/32/64, uint8/16/32/64 or bool)");
  if (order == '=' && std::endian::native == std::endian::big) h.big_endian = true;

  const std::string fo = npy_field(path, dict, "fortran_order");
  if (fo != "True" && fo != "False") npy_fail(path, "not a valid .npy header (fortran_order " + fo + ")");
  h.fortran_order = fo == "True";

  const std::string shape = npy_field(path, dict, "shape");
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')')
    npy_fail(path, "not a valid .npy header (shape " + shape + ")");
  std::size_t i = 1;
  while (i + 1 < shape.size()) {
    while (i + 1 < shape.size() && !std::isdigit(static_cast<unsigned char>(shape[i]))) ++i;
    if (i + 1 >= shape.size()) break;
    std::int64_t v = 0;
    while (i < shape.size() && std::isdigit(static_cast<unsigned char>(shape[i])))
      v = v * 10 + (shape[i++] - '0');
    h.shape.push_back(v);
  }
  return h;
}

template <class T>
T npy_load_scalar(const unsigned char* p, bool swap) {
  unsigned char b[sizeof(T)];
  if (swap) {
    for (std::size_t k = 0; k < sizeof(T); ++k) b[k] = p[sizeof(T) - 1 - k];
  } else {
    std::memcpy(b, p, sizeof(T));
  }
  T v;
  std::memcpy(&v, b, sizeof(T));
  return v;
}

/// Converts element `i` (in file order) of the raw buffer to float.
inline float npy_element(const NpyHeader& h, const unsigned char* base, std::size_t i) {
  const unsigned char* p = base + i * static_cast<std::size_t>(h.item_size);
  const bool swap = h.big_endian != (std::endian::native == std::endian::big);
  switch (h.kind) {
    case 'f':
      return h.item_size == 4 ? npy_load_scalar<float>(p, swap)
                              : static_cast<float>(npy_load_scalar<double>(p, swap));
    case 'b':
      return *p ? 1.0f : 0.0f;
    case 'i':
      switch (h.item_size) {
        case 1: return static_cast<float>(static_cast<std::int8_t>(*p));
        case 2: return static_cast<float>(npy_load_scalar<std::int16_t>(p, swap));
        case 4: return static_cast<float>(npy_load_scalar<std::int32_t>(p, swap));
        default: return static_cast<float>(npy_load_scalar<std::int64_t>(p, swap));
      }
    default:
      switch (h.item_size) {
        case 1: return static_cast<float>(*p);
        case 2: return static_cast<float>(npy_load_scalar<std::uint16_t>(p, swap));
        case 4: return static_cast<float>(npy_load_scalar<std::uint32_t>(p, swap));
        default: return static_cast<float>(npy_load_scalar<std::uint64_t>(p, swap));
      }
  }
}

inline void write_npy_raw(const std::filesystem::path& path, const std::vector<std::int64_t>& shape,
                          const float* data, std::size_t count) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) dict += ",";
    if (i + 1 < shape.size()) dict += " ";
  }
  dict += "), }";
  // Pad with spaces so that the data starts on a 64-byte boundary, newline-terminated (v1.0).
  const std::size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(path.string() + ": cannot open for writing");
  const auto len = static_cast<std::uint16_t>(dict.size());
  const char prefix[10] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<char>(len & 0xff),
                           static_cast<char>(len >> 8)};
  out.write(prefix, 10);
  out.write(dict.data(), static_cast<std::streamsize>(dict.size()));
  if constexpr (std::endian::native == std::endian::little) {
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(count * sizeof(float)));
  } else {
    for (std::size_t i = 0; i < count; ++i) {
      unsigned char b[4];
      std::memcpy(b, data + i, 4);
      std::swap(b[0], b[3]);
      std::swap(b[1], b[2]);
      out.write(reinterpret_cast<const char*>(b), 4);
    }
  }
  if (!out) throw Error(path.string() + ": write failed");
}

}  // namespace detail

/// Reads a `.npy` array as a float32 Image.
///
/// Accepts format versions 1-3, dtypes float32/64, (u)int8/16/32/64 and bool, either byte order,
/// C or Fortran order. Size-1 axes are squeezed first (MiraBest's `(1, 150, 150)`, solo-learn's
/// `np.squeeze(np.load(p))`); then a 2-D array [H, W] becomes one channel, and a 3-D array is taken as
/// [C, H, W], unless its last axis has 3 or 4 entries and its first does not, in which case it is
/// an interleaved [H, W, C] picture and is transposed. Throws radiossl::Error naming the file on
/// anything else (1-D or 4-D arrays, truncated data, unknown dtype).
[[nodiscard]] inline Image read_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open .npy file");
  const detail::NpyHeader h = detail::parse_npy_header(path, in);
  std::int64_t count = 1;
  for (auto d : h.shape) count *= d;
  std::vector<unsigned char> raw(static_cast<std::size_t>(count) * static_cast<std::size_t>(h.item_size));
  in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size()));
  if (static_cast<std::size_t>(in.gcount()) != raw.size())
    detail::npy_fail(path, "truncated .npy data (expected " + std::to_string(raw.size()) + " bytes, got " +
                               std::to_string(in.gcount()) + ")");

  // Strides (in elements) of every file axis, then keep the axes longer than one.
  const std::size_t nd = h.shape.size();
  std::vector<std::int64_t> stride(nd, 1);
  if (h.fortran_order) {
    for (std::size_t i = 1; i < nd; ++i) stride[i] = stride[i - 1] * h.shape[i - 1];
  } else {
    for (std::size_t i = nd; i-- > 1;) stride[i - 1] = stride[i] * h.shape[i];
  }
  std::vector<std::int64_t> dims, strides;
  for (std::size_t i = 0; i < nd; ++i)
    if (h.shape[i] != 1) {
      dims.push_back(h.shape[i]);
      strides.push_back(stride[i]);
    }
  if (count == 0) detail::npy_fail(path, "empty .npy array");
  if (dims.empty()) {  // a single value: a 1x1 image
    dims = {1, 1};
    strides = {0, 0};
  }
  if (dims.size() == 1) detail::npy_fail(path, "a 1-D .npy array is not an image");
  if (dims.size() > 3)
    detail::npy_fail(path, "a " + std::to_string(dims.size()) + "-D .npy array is not an image (max 3-D after squeezing)");
  std::int64_t c = 1, hh = dims[0], ww = dims[1], sc = 0, sh = strides[0], sw = strides[1];
  if (dims.size() == 3) {
    const bool hwc = (dims[2] == 3 || dims[2] == 4) && !(dims[0] == 3 || dims[0] == 4);
    if (hwc) {
      c = dims[2]; hh = dims[0]; ww = dims[1];
      sc = strides[2]; sh = strides[0]; sw = strides[1];
    } else {
      c = dims[0]; hh = dims[1]; ww = dims[2];
      sc = strides[0]; sh = strides[1]; sw = strides[2];
    }
  }
  Image img(c, hh, ww);
  float* out = img.pixels.data();
  for (std::int64_t ci = 0; ci < c; ++ci)
    for (std::int64_t y = 0; y < hh; ++y)
      for (std::int64_t x = 0; x < ww; ++x)
        *out++ = detail::npy_element(h, raw.data(), static_cast<std::size_t>(ci * sc + y * sh + x * sw));
  return img;
}

/// Writes an Image as a little-endian float32 `.npy`: shape (H, W) for one channel, (C, H, W)
/// otherwise, so that `np.load` gives back what `read_npy` reads.
inline void write_npy(const std::filesystem::path& path, const Image& img) {
  if (img.channels == 1)
    detail::write_npy_raw(path, {img.height, img.width}, img.pixels.data(), img.size());
  else
    detail::write_npy_raw(path, {img.channels, img.height, img.width}, img.pixels.data(), img.size());
}

/// Writes a row-major float32 matrix [rows, cols] as `.npy` (e.g. exported features, one row per
/// image). `data` must hold rows * cols values.
inline void write_npy_matrix(const std::filesystem::path& path, const float* data, std::int64_t rows,
                             std::int64_t cols) {
  if (rows < 0 || cols < 0) throw Error(path.string() + ": negative matrix shape");
  detail::write_npy_raw(path, {rows, cols}, data, static_cast<std::size_t>(rows * cols));
}

/// Overload for a matrix held in a std::vector (size must equal rows * cols).
inline void write_npy_matrix(const std::filesystem::path& path, const std::vector<float>& data,
                             std::int64_t rows, std::int64_t cols) {
  if (static_cast<std::int64_t>(data.size()) != rows * cols)
    throw Error(path.string() + ": matrix has " + std::to_string(data.size()) + " values, shape says " +
                std::to_string(rows * cols));
  write_npy_matrix(path, data.data(), rows, cols);
}

}  // namespace radiossl::io

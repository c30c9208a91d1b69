/// @file
/// The fast path of `io::read_fits_image` for the form of nearly every radio cut-out: a plain
/// (not gzip'd, not tile-compressed) file whose pixels are unscaled big-endian IEEE floats
/// (BITPIX -32 or -64). The pixels are read with one `pread` and byte-swapped in vector
/// registers; when the primary HDU is such an image, its header is parsed here too, so CFITSIO
/// is not opened at all. Anything else, and every error, goes through CFITSIO (io/fits.hpp).
///
/// Note: CFITSIO reads a data block through its 2880-byte buffers, copies and swaps it, and
/// opening a file costs it about 55 us (it allocates and clears its buffers); for a 256x256 float
/// cut-out a pixels-only read took about 200 us on the dev machine (`BM_data_fits_read`).
#pragma once

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "radiossl/detail/cpu.hpp"
#include "radiossl/image.hpp"

namespace radiossl::io::detail {

#ifdef RADIOSSL_DETAIL_X86_DISPATCH
/// `byteswap32` over the whole 8-word blocks of data[0, 4 n) with AVX2's byte shuffle; returns
/// the words done.
[[gnu::target("avx2")]] inline std::size_t byteswap32_avx2(unsigned char* b, std::size_t n) {
  const __m256i order = _mm256_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4,
                                         11, 10, 9, 8, 15, 14, 13, 12);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    auto* p = reinterpret_cast<__m256i*>(b + 4 * i);
    _mm256_storeu_si256(p, _mm256_shuffle_epi8(_mm256_loadu_si256(p), order));
  }
  return i;
}
#endif

/// Reverses the bytes of each 4-byte word of data[0, 4 n) in place (big-endian float32 to native
/// on a little-endian host). Compilers leave the scalar loop scalar: AVX2 where the CPU has it
/// (about 19 us for a 256x256 cut-out in L2 on the dev machine), else SSE2 (39 us).
inline void byteswap32(void* data, std::size_t n) {
  auto* b = static_cast<unsigned char*>(data);
  std::size_t i = 0;
#ifdef RADIOSSL_DETAIL_X86_DISPATCH
  if (radiossl::detail::cpu_has_avx2()) i = byteswap32_avx2(b, n);
#endif
#if defined(__SSE2__)
  for (; i + 4 <= n; i += 4) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 4 * i));
    x = _mm_or_si128(_mm_slli_epi16(x, 8), _mm_srli_epi16(x, 8));    // bytes within 16-bit halves
    x = _mm_or_si128(_mm_slli_epi32(x, 16), _mm_srli_epi32(x, 16));  // then the two halves
    _mm_storeu_si128(reinterpret_cast<__m128i*>(b + 4 * i), x);
  }
#endif
  for (; i < n; ++i) {
    std::uint32_t u = 0;
    std::memcpy(&u, b + 4 * i, 4);
    u = __builtin_bswap32(u);
    std::memcpy(b + 4 * i, &u, 4);
  }
}

/// dst[i] = float(the big-endian double at src + 8 i), i < n: the plain cast CFITSIO applies.
inline void big_endian_doubles_to_floats(const unsigned char* src, float* dst, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t u = 0;
    std::memcpy(&u, src + 8 * i, 8);
    if constexpr (std::endian::native == std::endian::little) u = __builtin_bswap64(u);
    dst[i] = static_cast<float>(std::bit_cast<double>(u));
  }
}

/// Reads exactly `bytes` bytes at `offset` of `fd` into `dst`; false on a short file or an error.
inline bool pread_all(int fd, void* dst, std::size_t bytes, std::int64_t offset) {
  auto* out = static_cast<unsigned char*>(dst);
  while (bytes > 0) {
    const ssize_t got = ::pread(fd, out, bytes, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    out += got;
    bytes -= static_cast<std::size_t>(got);
    offset += got;
  }
  return true;
}

/// A file descriptor opened for reading, closed on scope exit; `fd` < 0 when it could not be.
struct ReadFd {
  int fd;
  explicit ReadFd(const std::filesystem::path& path) : fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ReadFd(const ReadFd&) = delete;
  ReadFd& operator=(const ReadFd&) = delete;
  ~ReadFd() {
    if (fd >= 0) ::close(fd);
  }
};

/// Reads `count` pixels of BITPIX -32 or -64 stored big-endian from byte `offset` of `fd` into
/// dst as float32; false (dst possibly half written) when they cannot all be read.
inline bool read_ieee_block(int fd, std::int64_t offset, int bitpix, std::size_t count, float* dst) {
  if (bitpix == -32) {
    if (!pread_all(fd, dst, count * 4, offset)) return false;
    if constexpr (std::endian::native == std::endian::little) byteswap32(dst, count);
    return true;
  }
  if (bitpix != -64) return false;
  // Doubles through a bounded buffer, never a second image.
  constexpr std::size_t chunk = 8192;
  thread_local std::vector<unsigned char> buffer;
  buffer.resize(chunk * 8);
  for (std::size_t done = 0; done < count; done += chunk) {
    const std::size_t n = std::min(chunk, count - done);
    if (!pread_all(fd, buffer.data(), n * 8, offset + static_cast<std::int64_t>(done * 8))) return false;
    big_endian_doubles_to_floats(buffer.data(), dst + done, n);
  }
  return true;
}

/// Whether `fd` holds a plain FITS file: it starts with SIMPLE (a gzip'd or otherwise wrapped
/// file does not, and there the offsets CFITSIO reports are in the unpacked stream).
inline bool starts_plain(int fd) {
  char magic[6] = {};
  return pread_all(fd, magic, sizeof magic, 0) && std::memcmp(magic, "SIMPLE", sizeof magic) == 0;
}

/// Exact zeros to NaN (FitsReadOptions::zero_is_blank).
inline void blank_zeros(float* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] == 0.0f) p[i] = std::numeric_limits<float>::quiet_NaN();
}

/// How an image HDU's axes map to a stack of 2-D planes: every size-1 axis is squeezed, so that a
/// `[1, W, H]` file (numpy's `(H, W, 1)`, as astropy writes it) is a W x H image, not a 1 x W image
/// with H planes. Squeezing never moves data: size-1 axes add nothing to an offset, so plane k
/// starts at pixel `k * width * height` in file order. When fewer than two axes have a size
/// above 1, the first two axes are the image (a one-row image stays one row).
struct PlaneShape {
  std::int64_t width = 0;
  std::int64_t height = 0;
  std::int64_t planes = 1;
  /// 1-based FITS axes of the image's columns and rows.
  int x_axis = 1;
  int y_axis = 2;
  /// 1-based FITS axis number of each axis beyond the image's two (the plane axes), in file order.
  std::vector<int> plane_axes;
};

template <class Int>
inline PlaneShape plane_shape(const std::vector<Int>& naxes) {
  std::vector<int> kept;  // 0-based
  for (std::size_t a = 0; a < naxes.size(); ++a)
    if (naxes[a] > 1) kept.push_back(static_cast<int>(a));
  if (kept.size() < 2) {
    kept.clear();
    for (std::size_t a = 0; a < naxes.size(); ++a) kept.push_back(static_cast<int>(a));
  }
  PlaneShape shape;
  shape.width = static_cast<std::int64_t>(naxes[static_cast<std::size_t>(kept[0])]);
  shape.height = static_cast<std::int64_t>(naxes[static_cast<std::size_t>(kept[1])]);
  shape.x_axis = kept[0] + 1;
  shape.y_axis = kept[1] + 1;
  for (std::size_t k = 2; k < kept.size(); ++k) {
    shape.planes *= static_cast<std::int64_t>(naxes[static_cast<std::size_t>(kept[k])]);
    shape.plane_axes.push_back(kept[k] + 1);
  }
  return shape;
}

/// What the primary header of a plain file says about its image.
struct PlainPrimary {
  int bitpix = 0;
  std::vector<std::int64_t> naxes;  ///< NAXIS1 first
  std::int64_t data_offset = 0;     ///< bytes from the start of the file
};

/// Parses the primary header of `fd` when it is the plain case: SIMPLE = T, BITPIX -32 or -64,
/// NAXIS >= 2 with positive sizes, BSCALE/BZERO absent or 1/0, no BLANK, no GROUPS, an END card
/// within the first 64 blocks. Anything else gives nullopt: CFITSIO reads such files (and says
/// what is wrong with broken ones).
inline std::optional<PlainPrimary> parse_plain_primary(int fd) {
  constexpr std::size_t block = 2880, card = 80, max_blocks = 64;
  auto trimmed = [](std::string_view s) {
    const auto b = s.find_first_not_of(' ');
    if (b == std::string_view::npos) return std::string_view{};
    return s.substr(b, s.find_last_not_of(' ') - b + 1);
  };
  auto integer = [](std::string_view s) -> std::optional<std::int64_t> {
    std::int64_t v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return v;
  };
  auto real = [](std::string_view s) -> std::optional<double> {
    double v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return v;
  };
  PlainPrimary out;
  std::int64_t naxis = -1;
  std::size_t index = 0;  // card number, 0-based
  char buf[block];
  for (std::size_t b = 0; b < max_blocks; ++b) {
    if (!pread_all(fd, buf, block, static_cast<std::int64_t>(b * block))) return std::nullopt;
    for (std::size_t c = 0; c < block / card; ++c, ++index) {
      const std::string_view text(buf + c * card, card);
      const std::string_view key = trimmed(text.substr(0, 8));
      if (key == "END") {
        if (out.bitpix == 0 || naxis < 2 || out.naxes.size() != static_cast<std::size_t>(naxis)) return std::nullopt;
        out.data_offset = static_cast<std::int64_t>((b + 1) * block);
        return out;
      }
      const bool has_value = text.substr(8, 2) == "= ";
      std::string_view value = has_value ? text.substr(10) : std::string_view{};
      if (const auto slash = value.find('/'); slash != std::string_view::npos) value = value.substr(0, slash);
      value = trimmed(value);
      // The mandatory cards, in the order the standard fixes.
      if (index == 0) {
        if (key != "SIMPLE" || value != "T") return std::nullopt;
      } else if (index == 1) {
        const auto v = key == "BITPIX" ? integer(value) : std::nullopt;
        if (!v || (*v != -32 && *v != -64)) return std::nullopt;
        out.bitpix = static_cast<int>(*v);
      } else if (index == 2) {
        const auto v = key == "NAXIS" ? integer(value) : std::nullopt;
        if (!v || *v < 2 || *v > 9) return std::nullopt;
        naxis = *v;
      } else if (index < 3 + static_cast<std::size_t>(naxis)) {
        const auto v = key == "NAXIS" + std::to_string(index - 2) ? integer(value) : std::nullopt;
        if (!v || *v <= 0) return std::nullopt;
        out.naxes.push_back(*v);
      } else if (key == "BSCALE" || key == "BZERO") {
        const auto v = real(value);
        if (!v || *v != (key == "BSCALE" ? 1.0 : 0.0)) return std::nullopt;
      } else if (key == "BLANK" || key == "GROUPS" || key == "SIMPLE" || key == "BITPIX" ||
                 key.substr(0, 5) == "NAXIS") {
        return std::nullopt;  // blanks, visibilities or a repeated structural card: CFITSIO's business
      }
    }
  }
  return std::nullopt;
}

/// The primary image of the plain FITS file `path` (plane `plane` of a cube; nullopt for "the
/// only one"), when `parse_plain_primary` accepts its header and the file holds all the data it
/// declares; nullopt otherwise, for CFITSIO to read or refuse. `zero_is_blank` as in
/// FitsReadOptions.
inline std::optional<Image> read_plain_primary(const std::filesystem::path& path, std::optional<std::int64_t> plane,
                                               bool zero_is_blank) {
  const ReadFd file(path);
  if (file.fd < 0) return std::nullopt;
  struct stat st {};
  if (::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  const auto header = parse_plain_primary(file.fd);
  if (!header) return std::nullopt;
  // The pixel count must fit in 64 bits; then no product plane_shape forms can overflow.
  std::int64_t total = 1;
  for (const auto n : header->naxes) {
    if (n > std::numeric_limits<std::int64_t>::max() / total) return std::nullopt;
    total *= n;
  }
  const auto shape = plane_shape(header->naxes);
  const std::int64_t width = shape.width, height = shape.height, planes = shape.planes;
  const std::int64_t chosen = plane.value_or(0);
  if (chosen < 0 || chosen >= planes || (planes > 1 && !plane)) return std::nullopt;
  const std::int64_t bytes = std::abs(header->bitpix) / 8;
  if (width > std::numeric_limits<std::int64_t>::max() / height / bytes / planes) return std::nullopt;
  const std::int64_t plane_bytes = width * height * bytes;
  if (header->data_offset + planes * plane_bytes > static_cast<std::int64_t>(st.st_size)) return std::nullopt;
  Image img(height, width);
  if (!read_ieee_block(file.fd, header->data_offset + chosen * plane_bytes, header->bitpix, img.size(),
                       img.pixels.data()))
    return std::nullopt;
  if (zero_is_blank) blank_zeros(img.pixels.data(), img.size());
  return img;
}

}  // namespace radiossl::io::detail

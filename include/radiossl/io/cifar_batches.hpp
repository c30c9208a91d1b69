/// @file
/// CIFAR-10-style pickled batches, the form MiraBest (and RGZ108k, FR-DEEP) is distributed in:
/// `data_batch_1..N`, `test_batch` and `batches.meta`, each a Python pickle of a dict with `data`
/// (a uint8 numpy array, one image per row), `labels` and `filenames` (data.md section 2).
///
/// The reader is a small pickle machine for exactly that content: dicts, lists, tuples, strings,
/// numbers and numpy arrays, pickled by Python 2 or 3 with protocols 2 to 5. It never imports or
/// calls anything: the only globals it accepts are numpy's array and dtype reconstructors and
/// `_codecs.encode`, so a pickle holding any other object is refused, not run.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "radiossl/error.hpp"
#include "radiossl/image.hpp"

namespace radiossl::io {

namespace detail {

struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;

/// A numpy array: element kind ('u', 'i', 'f', 'b'), size, byte order and the raw bytes.
struct PickleArray {
  char kind = 'u';
  int item_size = 1;
  bool big_endian = false;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
  std::string bytes;
};

/// One unpickled object. Strings and bytes are both raw byte strings (Python 2 pickles use
/// `str` for both). `global` names a whitelisted callable ("numpy dtype", ...); `dtype` is a
/// numpy dtype, kept as an array without data.
struct PickleValue {
  enum class Kind { none, boolean, integer, real, string, list, tuple, dict, global, dtype, array };
  Kind kind = Kind::none;
  std::int64_t integer = 0;
  double real = 0.0;
  std::string text;  ///< string content, or the global's "module name"
  std::vector<PickleRef> items;                     ///< list, tuple
  std::vector<std::pair<PickleRef, PickleRef>> dict;  ///< in insertion order
  PickleArray array;                                ///< dtype (no shape) and array
};

/// The unpickler. Throws radiossl::Error naming the file and byte offset on anything else.
class Unpickler {
 public:
  Unpickler(std::string data, std::string name) : data_(std::move(data)), name_(std::move(name)) {}

  PickleRef load() {
    while (pos_ < data_.size()) {
      const std::size_t at = pos_;
      const auto op = static_cast<unsigned char>(data_[pos_++]);
      switch (op) {
        case 0x80: take(1); break;  // PROTO
        case 0x95: take(8); break;  // FRAME: a length we do not need
        case '(': marks_.push_back(stack_.size()); break;
        case '.':  // STOP
          if (stack_.size() != 1) fail(at, "STOP with " + std::to_string(stack_.size()) + " objects on the stack");
          return stack_.back();
        case 'N': push(make(PickleValue::Kind::none)); break;
        case 0x88: push(boolean(true)); break;
        case 0x89: push(boolean(false)); break;
        case 'K': push(integer(static_cast<unsigned char>(take(1)[0]))); break;
        case 'M': push(integer(static_cast<std::int64_t>(little(take(2))))); break;
        case 'J': push(integer(static_cast<std::int32_t>(little(take(4))))); break;
        case 0x8a: push(integer(long_int(at, static_cast<unsigned char>(take(1)[0])))); break;
        case 'G': {
          std::uint64_t bits = 0;
          for (unsigned char c : take(8)) bits = bits << 8 | c;  // big-endian double
          auto v = make(PickleValue::Kind::real);
          v->real = std::bit_cast<double>(bits);
          push(v);
          break;
        }
        case 'X': push(string(take(little(take(4))))); break;   // BINUNICODE (UTF-8)
        case 0x8c: push(string(take(static_cast<unsigned char>(take(1)[0])))); break;  // SHORT_BINUNICODE
        case 0x8d: push(string(take(little(take(8))))); break;  // BINUNICODE8
        case 'T': push(string(take(little(take(4))))); break;   // BINSTRING (Python 2 str)
        case 'U': push(string(take(static_cast<unsigned char>(take(1)[0])))); break;  // SHORT_BINSTRING
        case 'B': push(string(take(little(take(4))))); break;   // BINBYTES
        case 'C': push(string(take(static_cast<unsigned char>(take(1)[0])))); break;  // SHORT_BINBYTES
        case 0x8e: case 0x96: push(string(take(little(take(8))))); break;  // BINBYTES8, BYTEARRAY8
        case '}': push(make(PickleValue::Kind::dict)); break;
        case ']': push(make(PickleValue::Kind::list)); break;
        case ')': push(make(PickleValue::Kind::tuple)); break;
        case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
          const std::size_t n = op - 0x84u;
          if (stack_.size() < n) fail(at, "TUPLE with too few objects");
          auto t = make(PickleValue::Kind::tuple);
          t->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
          stack_.resize(stack_.size() - n);
          push(t);
          break;
        }
        case 't': {
          auto t = make(PickleValue::Kind::tuple);
          t->items = pop_mark(at);
          push(t);
          break;
        }
        case 'a': {  // APPEND
          auto v = pop(at);
          list_of(at)->items.push_back(v);
          break;
        }
        case 'e': {  // APPENDS
          auto items = pop_mark(at);
          auto& l = list_of(at)->items;
          l.insert(l.end(), items.begin(), items.end());
          break;
        }
        case 's': {  // SETITEM
          auto v = pop(at);
          auto k = pop(at);
          dict_of(at)->dict.emplace_back(k, v);
          break;
        }
        case 'u': {  // SETITEMS
          auto items = pop_mark(at);
          if (items.size() % 2 != 0) fail(at, "SETITEMS with an odd number of objects");
          auto d = dict_of(at);
          for (std::size_t i = 0; i < items.size(); i += 2) d->dict.emplace_back(items[i], items[i + 1]);
          break;
        }
        case 'q': memo_put(static_cast<unsigned char>(take(1)[0])); break;  // BINPUT
        case 'r': memo_put(little(take(4))); break;                          // LONG_BINPUT
        case 0x94: memo_put(memo_.size()); break;                            // MEMOIZE
        case 'h': push(memo_get(at, static_cast<unsigned char>(take(1)[0]))); break;  // BINGET
        case 'j': push(memo_get(at, little(take(4)))); break;                          // LONG_BINGET
        case 'c': {  // GLOBAL "module\nname\n"
          const std::string module = line(), qualname = line();
          push(global(at, module, qualname));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          auto qualname = pop(at), module = pop(at);
          push(global(at, module->text, qualname->text));
          break;
        }
        case 'R': {  // REDUCE: callable(*args)
          auto args = pop(at);
          auto callable = pop(at);
          push(reduce(at, callable, args));
          break;
        }
        case 0x81: {  // NEWOBJ: cls.__new__(cls, *args), only for numpy's dtype
          auto args = pop(at);
          auto cls = pop(at);
          push(reduce(at, cls, args));
          break;
        }
        case 'b': {  // BUILD: obj.__setstate__(state)
          auto state = pop(at);
          build(at, stack_.empty() ? nullptr : stack_.back(), state);
          break;
        }
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          fail(at, std::string("unsupported pickle opcode ") + hex +
                       " (only dicts, lists, strings, numbers and numpy arrays are read)");
        }
      }
    }
    fail(pos_, "ended without STOP (truncated?)");
  }

 private:
  [[noreturn]] void fail(std::size_t at, const std::string& what) const {
    throw Error(name_ + ": byte " + std::to_string(at) + ": " + what);
  }
  std::string take(std::uint64_t n) {
    if (n > data_.size() - pos_) fail(pos_, "truncated pickle");
    std::string s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string line() {
    const auto end = data_.find('\n', pos_);
    if (end == std::string::npos) fail(pos_, "truncated GLOBAL");
    std::string s = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }
  static std::uint64_t little(const std::string& b) {
    std::uint64_t v = 0;
    for (std::size_t i = b.size(); i-- > 0;) v = v << 8 | static_cast<unsigned char>(b[i]);
    return v;
  }
  std::int64_t long_int(std::size_t at, std::size_t n) {
    if (n > 8) fail(at, "integer wider than 64 bits");
    const std::string b = take(n);
    std::uint64_t v = little(b);
    if (n > 0 && n < 8 && (static_cast<unsigned char>(b.back()) & 0x80)) v |= ~std::uint64_t{0} << (8 * n);  // sign
    return static_cast<std::int64_t>(v);
  }
  static PickleRef make(PickleValue::Kind k) {
    auto v = std::make_shared<PickleValue>();
    v->kind = k;
    return v;
  }
  static PickleRef boolean(bool b) {
    auto v = make(PickleValue::Kind::boolean);
    v->integer = b;
    return v;
  }
  static PickleRef integer(std::int64_t i) {
    auto v = make(PickleValue::Kind::integer);
    v->integer = i;
    return v;
  }
  static PickleRef string(std::string s) {
    auto v = make(PickleValue::Kind::string);
    v->text = std::move(s);
    return v;
  }
  void push(PickleRef v) { stack_.push_back(std::move(v)); }
  PickleRef pop(std::size_t at) {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail(at, "stack underflow");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  std::vector<PickleRef> pop_mark(std::size_t at) {
    if (marks_.empty()) fail(at, "no MARK");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PickleRef> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  PickleRef list_of(std::size_t at) {
    if (stack_.empty() || stack_.back()->kind != PickleValue::Kind::list) fail(at, "APPEND to a non-list");
    return stack_.back();
  }
  PickleRef dict_of(std::size_t at) {
    if (stack_.empty() || stack_.back()->kind != PickleValue::Kind::dict) fail(at, "SETITEM on a non-dict");
    return stack_.back();
  }
  void memo_put(std::uint64_t i) {
    if (stack_.empty()) fail(pos_, "memo of an empty stack");
    memo_[i] = stack_.back();
  }
  PickleRef memo_get(std::size_t at, std::uint64_t i) {
    const auto it = memo_.find(i);
    if (it == memo_.end()) fail(at, "unknown memo entry " + std::to_string(i));
    return it->second;
  }

  PickleRef global(std::size_t at, const std::string& module, const std::string& name) {
    static const char* const allowed[] = {
        "numpy.core.multiarray _reconstruct", "numpy._core.multiarray _reconstruct", "numpy ndarray",
        "numpy dtype", "numpy.core.numeric _frombuffer", "numpy._core.numeric _frombuffer", "_codecs encode"};
    const std::string full = module + " " + name;
    for (const char* a : allowed)
      if (full == a) {
        auto v = make(PickleValue::Kind::global);
        v->text = full;
        return v;
      }
    fail(at, "refusing to load the object " + module + "." + name + " (not a numpy array, dtype or string)");
  }

  /// Parses a numpy dtype string ("u1", "<f4", "|u1") into `a`.
  void parse_dtype(std::size_t at, const std::string& s, PickleArray& a) {
    std::string d = s;
    if (!d.empty() && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')) {
      a.big_endian = d[0] == '>';
      d = d.substr(1);
    }
    if (d.size() < 2 || std::string("uifb").find(d[0]) == std::string::npos) fail(at, "unsupported dtype '" + s + "'");
    a.kind = d[0];
    a.item_size = std::atoi(d.c_str() + 1);
    if (a.item_size != 1 && a.item_size != 2 && a.item_size != 4 && a.item_size != 8)
      fail(at, "unsupported dtype '" + s + "'");
  }

  std::vector<std::int64_t> shape_of(std::size_t at, const PickleRef& t) {
    if (t->kind != PickleValue::Kind::tuple) fail(at, "array shape is not a tuple");
    std::vector<std::int64_t> shape;
    for (const auto& d : t->items) {
      // Bounded so that the byte count of any shape fits in 64 bits.
      if (d->kind != PickleValue::Kind::integer || d->integer < 0 || d->integer > (std::int64_t{1} << 31))
        fail(at, "bad array shape");
      shape.push_back(d->integer);
    }
    return shape;
  }

  PickleRef reduce(std::size_t at, const PickleRef& callable, const PickleRef& args) {
    if (callable->kind != PickleValue::Kind::global || args->kind != PickleValue::Kind::tuple)
      fail(at, "REDUCE of something other than a numpy or codecs call");
    const auto& f = callable->text;
    const auto& a = args->items;
    if (f == "_codecs encode") {  // Python 3's protocol-2 bytes: encode(str, "latin1")
      if (a.size() != 2 || a[0]->kind != PickleValue::Kind::string) fail(at, "bad _codecs.encode call");
      std::string out;  // UTF-8 code points below 256, back to one byte each
      const std::string& s = a[0]->text;
      for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) out += static_cast<char>(c);
        else if ((c & 0xE0) == 0xC0 && i + 1 < s.size() && c <= 0xC3)
          out += static_cast<char>(((c & 0x1F) << 6) | (static_cast<unsigned char>(s[++i]) & 0x3F));
        else fail(at, "_codecs.encode of a character outside latin-1");
      }
      return string(std::move(out));
    }
    if (f == "numpy dtype") {
      if (a.empty() || a[0]->kind != PickleValue::Kind::string) fail(at, "bad numpy.dtype call");
      auto v = make(PickleValue::Kind::dtype);
      parse_dtype(at, a[0]->text, v->array);
      return v;
    }
    if (f.ends_with("_reconstruct")) return make(PickleValue::Kind::array);  // filled by BUILD
    if (f.ends_with("_frombuffer")) {  // protocol 5: _frombuffer(buffer, dtype, shape, order)
      if (a.size() != 4 || a[0]->kind != PickleValue::Kind::string || a[1]->kind != PickleValue::Kind::dtype)
        fail(at, "bad numpy _frombuffer call");
      auto v = make(PickleValue::Kind::array);
      v->array = a[1]->array;
      v->array.shape = shape_of(at, a[2]);
      v->array.fortran_order = a[3]->kind == PickleValue::Kind::string && a[3]->text == "F";
      v->array.bytes = a[0]->text;
      return v;
    }
    fail(at, "unsupported call " + f);
  }

  void build(std::size_t at, const PickleRef& obj, const PickleRef& state) {
    if (!obj || state->kind != PickleValue::Kind::tuple) fail(at, "BUILD without an object or state");
    const auto& s = state->items;
    if (obj->kind == PickleValue::Kind::dtype) {  // (version, byteorder, ...)
      if (s.size() >= 2 && s[1]->kind == PickleValue::Kind::string) obj->array.big_endian = s[1]->text == ">";
      return;
    }
    if (obj->kind != PickleValue::Kind::array || s.size() != 5 || s[2]->kind != PickleValue::Kind::dtype ||
        s[4]->kind != PickleValue::Kind::string)
      fail(at, "BUILD of an unsupported object (numpy arrays of numbers only)");
    // (version, shape, dtype, is_fortran, raw bytes)
    obj->array = s[2]->array;
    obj->array.shape = shape_of(at, s[1]);
    obj->array.fortran_order = s[3]->kind == PickleValue::Kind::boolean && s[3]->integer != 0;
    obj->array.bytes = s[4]->text;
  }

  std::string data_;
  std::string name_;
  std::size_t pos_ = 0;
  std::vector<PickleRef> stack_;
  std::vector<std::size_t> marks_;
  std::map<std::uint64_t, PickleRef> memo_;
};

inline std::string slurp_binary(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The value under `key` (a str or bytes key) of an unpickled dict, or null.
inline PickleRef dict_get(const PickleRef& d, const std::string& key) {
  for (const auto& [k, v] : d->dict)
    if (k->kind == PickleValue::Kind::string && k->text == key) return v;
  return nullptr;
}

/// Element `i` of a numpy array as double.
inline double array_element(const PickleArray& a, std::size_t i) {
  unsigned char b[8];
  std::memcpy(b, a.bytes.data() + i * static_cast<std::size_t>(a.item_size), static_cast<std::size_t>(a.item_size));
  if (a.big_endian != (std::endian::native == std::endian::big)) std::reverse(b, b + a.item_size);
  switch (a.kind) {
    case 'f':
      if (a.item_size == 4) {
        float f = 0.0f;
        std::memcpy(&f, b, 4);
        return f;
      }
      if (a.item_size == 8) {
        double d = 0.0;
        std::memcpy(&d, b, 8);
        return d;
      }
      break;
    case 'u': case 'b': {
      std::uint64_t v = 0;
      std::memcpy(&v, b, static_cast<std::size_t>(a.item_size));
      return static_cast<double>(v);
    }
    case 'i': {
      std::int64_t v = 0;
      std::memcpy(&v, b, static_cast<std::size_t>(a.item_size));
      const int shift = 64 - 8 * a.item_size;
      return static_cast<double>(shift > 0 ? (v << shift) >> shift : v);
    }
  }
  throw Error("unsupported array element type");
}

}  // namespace detail

/// One batch: images [C, side, side] as float (the stored 0-255 values), labels and file names
/// (empty strings when the batch has none).
struct CifarBatch {
  std::vector<Image> images;
  std::vector<std::int64_t> labels;
  std::vector<std::string> filenames;
};

/// Reads one batch file. `channels` planes per image (MiraBest 1, CIFAR 3); each row of `data`
/// must then hold a square image of `channels` planes (MiraBest: 22500 values, 150 x 150).
/// Throws radiossl::Error naming the file on anything else.
[[nodiscard]] inline CifarBatch read_cifar_batch(const std::filesystem::path& path, std::int64_t channels = 1) {
  using detail::PickleValue;
  const auto root = detail::Unpickler(detail::slurp_binary(path), path.string()).load();
  if (root->kind != PickleValue::Kind::dict) throw Error(path.string() + ": not a pickled dict (a CIFAR-style batch)");
  const auto data = detail::dict_get(root, "data");
  const auto labels = detail::dict_get(root, "labels");
  if (!data || data->kind != PickleValue::Kind::array || data->array.shape.size() != 2)
    throw Error(path.string() + ": no 'data' array of one image per row");
  if (!labels) throw Error(path.string() + ": no 'labels'");
  const auto& a = data->array;
  const std::int64_t n = a.shape[0], row = a.shape[1];
  if (a.bytes.size() != static_cast<std::size_t>(n * row * a.item_size))
    throw Error(path.string() + ": 'data' holds " + std::to_string(a.bytes.size()) + " bytes, its shape needs " +
                std::to_string(n * row * a.item_size));
  if (channels < 1) throw Error("read_cifar_batch: channels must be >= 1, got " + std::to_string(channels));
  const auto side = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(row / channels))));
  if (side * side * channels != row)
    throw Error(path.string() + ": rows of " + std::to_string(row) + " values are not " + std::to_string(channels) +
                " square plane(s)");
  CifarBatch out;
  for (std::int64_t i = 0; i < n; ++i) {
    Image img(channels, side, side);
    for (std::int64_t j = 0; j < row; ++j) {
      // C order: element (i, j) at i * row + j; Fortran order: at j * n + i.
      const auto k = static_cast<std::size_t>(a.fortran_order ? j * n + i : i * row + j);
      img.pixels[static_cast<std::size_t>(j)] = static_cast<float>(detail::array_element(a, k));
    }
    out.images.push_back(std::move(img));
  }
  if (labels->kind == PickleValue::Kind::list || labels->kind == PickleValue::Kind::tuple) {
    for (const auto& l : labels->items) {
      if (l->kind != PickleValue::Kind::integer) throw Error(path.string() + ": a label is not an integer");
      out.labels.push_back(l->integer);
    }
  } else if (labels->kind == PickleValue::Kind::array) {
    for (std::size_t i = 0; i < labels->array.bytes.size() / static_cast<std::size_t>(labels->array.item_size); ++i)
      out.labels.push_back(static_cast<std::int64_t>(detail::array_element(labels->array, i)));
  } else {
    throw Error(path.string() + ": 'labels' is neither a list nor an array");
  }
  if (static_cast<std::int64_t>(out.labels.size()) != n)
    throw Error(path.string() + ": " + std::to_string(n) + " images but " + std::to_string(out.labels.size()) +
                " labels");
  out.filenames.assign(static_cast<std::size_t>(n), "");
  if (const auto names = detail::dict_get(root, "filenames");
      names && names->kind == PickleValue::Kind::list && names->items.size() == static_cast<std::size_t>(n))
    for (std::size_t i = 0; i < names->items.size(); ++i) out.filenames[i] = names->items[i]->text;
  return out;
}

/// `label_names` of a `batches.meta` file.
[[nodiscard]] inline std::vector<std::string> read_cifar_label_names(const std::filesystem::path& path) {
  using detail::PickleValue;
  const auto root = detail::Unpickler(detail::slurp_binary(path), path.string()).load();
  const auto names = root->kind == PickleValue::Kind::dict ? detail::dict_get(root, "label_names") : nullptr;
  if (!names || names->kind != PickleValue::Kind::list) throw Error(path.string() + ": no 'label_names' list");
  std::vector<std::string> out;
  for (const auto& v : names->items) out.push_back(v->text);
  return out;
}

}  // namespace radiossl::io

/// @file
/// A small XML reader for annotation files (PASCAL-VOC boxes): elements, attributes, text,
/// comments, CDATA, processing instructions and a DOCTYPE without an internal subset. It builds
/// the whole tree; it does not validate, resolve external entities or read namespaces as such.
/// Malformed input is an error that names the file and line.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "radiossl/error.hpp"

namespace radiossl::io {

/// One element: its name, attributes, the concatenated text directly inside it (entities decoded,
/// surrounding whitespace kept) and its child elements in document order.
struct XmlElement {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::string text;
  std::vector<XmlElement> children;
  int line = 0;  ///< where the start tag is, 1-based

  /// The first child named `child_name`, or nullptr.
  [[nodiscard]] const XmlElement* child(std::string_view child_name) const {
    for (const auto& c : children)
      if (c.name == child_name) return &c;
    return nullptr;
  }
  /// Every child named `child_name`, in document order.
  [[nodiscard]] std::vector<const XmlElement*> all(std::string_view child_name) const {
    std::vector<const XmlElement*> out;
    for (const auto& c : children)
      if (c.name == child_name) out.push_back(&c);
    return out;
  }
  /// The text with leading and trailing whitespace removed.
  [[nodiscard]] std::string trimmed_text() const {
    const auto b = text.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {};
    return text.substr(b, text.find_last_not_of(" \t\r\n") - b + 1);
  }
};

namespace detail {

class XmlParser {
 public:
  XmlParser(std::string_view text, std::string source) : s_(text), source_(std::move(source)) {}

  XmlElement parse_document() {
    if (s_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // UTF-8 byte-order mark
    skip_misc();
    if (at_end() || s_[pos_] != '<') fail("expected the root element");
    XmlElement root = parse_element();
    skip_misc();
    if (!at_end()) fail("content after the root element </" + root.name + ">");
    return root;
  }

 private:
  std::string_view s_;
  std::string source_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  /// Nesting beyond this is refused rather than risking the stack; annotations nest 3 or 4 deep.
  static constexpr int max_depth = 256;

  [[nodiscard]] bool at_end() const { return pos_ >= s_.size(); }
  [[nodiscard]] bool starts(std::string_view t) const { return s_.substr(pos_, t.size()) == t; }

  /// Line of offset `p`, counting on from the last offset asked for: the parse moves forward, so
  /// a document is scanned once.
  [[nodiscard]] int line_at(std::size_t p) const {
    p = std::min(p, s_.size());
    if (p < counted_to_) counted_to_ = 0, counted_line_ = 1;
    for (; counted_to_ < p; ++counted_to_) counted_line_ += s_[counted_to_] == '\n' ? 1 : 0;
    return counted_line_;
  }
  mutable std::size_t counted_to_ = 0;
  mutable int counted_line_ = 1;
  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(std::size_t p, const std::string& what) const {
    throw Error(source_ + ":" + std::to_string(line_at(p)) + ": malformed XML: " + what);
  }

  static bool space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
  static bool name_char(char c) {
    return !space(c) && c != '<' && c != '>' && c != '/' && c != '=' && c != '"' && c != '\'' && c != '\0';
  }
  void skip_space() {
    while (!at_end() && space(s_[pos_])) ++pos_;
  }
  void skip_past(std::string_view end, const char* what) {
    const auto at = s_.find(end, pos_);
    if (at == std::string_view::npos) fail(std::string("unterminated ") + what);
    pos_ = at + end.size();
  }
  /// Whitespace, comments, processing instructions and a DOCTYPE, outside the root element.
  void skip_misc() {
    for (;;) {
      skip_space();
      if (starts("<!--")) skip_past("-->", "comment");
      else if (starts("<?")) skip_past("?>", "processing instruction");
      else if (starts("<!DOCTYPE")) {
        if (s_.find('[', pos_) < s_.find('>', pos_)) fail("a DOCTYPE with an internal subset is not supported");
        skip_past(">", "DOCTYPE");
      } else return;
    }
  }
  std::string parse_name() {
    const auto b = pos_;
    while (!at_end() && name_char(s_[pos_])) ++pos_;
    if (pos_ == b) fail("expected a name");
    return std::string(s_.substr(b, pos_ - b));
  }
  /// Appends `raw` to `out` with the five predefined entities and character references decoded.
  void decode(std::string_view raw, std::size_t at, std::string& out) const {
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '&') {
        out += raw[i];
        continue;
      }
      const auto semi = raw.find(';', i);
      if (semi == std::string_view::npos) fail_at(at + i, "'&' without ';'");
      const auto ent = raw.substr(i + 1, semi - i - 1);
      if (ent == "lt") out += '<';
      else if (ent == "gt") out += '>';
      else if (ent == "amp") out += '&';
      else if (ent == "quot") out += '"';
      else if (ent == "apos") out += '\'';
      else if (ent.size() > 1 && ent[0] == '#') append_code_point(ent, at + i, out);
      else fail_at(at + i, "unknown entity &" + std::string(ent) + ";");
      i = semi;
    }
  }
  void append_code_point(std::string_view ent, std::size_t at, std::string& out) const {
    const bool hex = ent[1] == 'x' || ent[1] == 'X';
    std::uint32_t cp = 0;
    const auto digits = ent.substr(hex ? 2 : 1);
    if (digits.empty() || digits.size() > 8) fail_at(at, "bad character reference &" + std::string(ent) + ";");
    for (char c : digits) {
      int d = -1;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (hex && c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (hex && c >= 'A' && c <= 'F') d = c - 'A' + 10;
      if (d < 0) fail_at(at, "bad character reference &" + std::string(ent) + ";");
      cp = cp * (hex ? 16u : 10u) + static_cast<std::uint32_t>(d);
    }
    if (cp == 0 || cp > 0x10FFFF) fail_at(at, "character reference out of range &" + std::string(ent) + ";");
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  XmlElement parse_element() {
    XmlElement e;
    const auto start = pos_;
    e.line = line_at(start);
    if (++depth_ > max_depth) fail("elements nested deeper than " + std::to_string(max_depth));
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    ++pos_;  // '<'
    e.name = parse_name();
    for (;;) {
      skip_space();
      if (at_end()) fail_at(start, "unterminated start tag <" + e.name);
      if (starts("/>")) {
        pos_ += 2;
        return e;
      }
      if (s_[pos_] == '>') {
        ++pos_;
        break;
      }
      auto attr = parse_name();
      skip_space();
      if (at_end() || s_[pos_] != '=') fail("attribute '" + attr + "' of <" + e.name + "> without a value");
      ++pos_;
      skip_space();
      if (at_end() || (s_[pos_] != '"' && s_[pos_] != '\'')) fail("attribute '" + attr + "' value not quoted");
      const char quote = s_[pos_++];
      const auto end = s_.find(quote, pos_);
      if (end == std::string_view::npos) fail("unterminated attribute value");
      std::string value;
      decode(s_.substr(pos_, end - pos_), pos_, value);
      e.attributes.emplace_back(std::move(attr), std::move(value));
      pos_ = end + 1;
    }
    // Content: text, child elements, comments, CDATA, processing instructions, then the end tag.
    for (;;) {
      if (at_end()) fail_at(start, "<" + e.name + "> is never closed");
      if (starts("</")) {
        pos_ += 2;
        const auto close_at = pos_;
        const auto closing = parse_name();
        skip_space();
        if (at_end() || s_[pos_] != '>') fail("unterminated end tag </" + closing);
        if (closing != e.name)
          fail_at(close_at, "</" + closing + "> closes <" + e.name + "> opened on line " + std::to_string(e.line));
        ++pos_;
        return e;
      }
      if (starts("<!--")) {
        skip_past("-->", "comment");
      } else if (starts("<![CDATA[")) {
        pos_ += 9;
        const auto end = s_.find("]]>", pos_);
        if (end == std::string_view::npos) fail("unterminated CDATA section");
        e.text.append(s_.substr(pos_, end - pos_));
        pos_ = end + 3;
      } else if (starts("<?")) {
        skip_past("?>", "processing instruction");
      } else if (s_[pos_] == '<') {
        e.children.push_back(parse_element());
      } else {
        const auto end = std::min(s_.find('<', pos_), s_.size());
        decode(s_.substr(pos_, end - pos_), pos_, e.text);
        pos_ = end;
      }
    }
  }
};

}  // namespace detail

/// Parses `text` (named `source` in errors) and returns the root element.
[[nodiscard]] inline XmlElement parse_xml(std::string_view text, const std::string& source = "<xml>") {
  return detail::XmlParser(text, source).parse_document();
}

/// Reads and parses the XML file `path`.
[[nodiscard]] inline XmlElement read_xml(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open for reading");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path.string() + ": read failed");
  return parse_xml(text, path.string());
}

}  // namespace radiossl::io

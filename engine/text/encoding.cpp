// Encoding detection and decoding to UTF-8. Hand-written: iconv would decode, but detection is the
// part no library on these machines offers (uchardet is not a dependency), and the decoders needed
// here (UTF-16, Latin-1, Windows-1252) are a table and a loop each.

#include "text/encoding.h"

#include <algorithm>

namespace loom::text {

namespace {

// Windows-1252's printable characters where Latin-1 has C1 controls (0x80-0x9F). The five bytes it
// leaves undefined keep their Latin-1 meaning, as Windows' own decoder does.
constexpr char32_t kCp1252High[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

std::string utf16Guess(std::string_view s) {
  const size_t n = std::min<size_t>(s.size(), 4096) & ~size_t{1};
  if (n < 8) return {};
  size_t evenZero = 0, oddZero = 0;
  for (size_t i = 0; i < n; i += 2) {
    evenZero += s[i] == '\0';
    oddZero += s[i + 1] == '\0';
  }
  const size_t units = n / 2;
  // Latin-script text in UTF-16 has a zero in every other byte; few zeros on the other side.
  if (oddZero * 10 >= units * 4 && evenZero * 20 < units) return "utf-16le";
  if (evenZero * 10 >= units * 4 && oddZero * 20 < units) return "utf-16be";
  return {};
}

// "ascii", "utf-8", or "" when `s` is not UTF-8.
std::string utf8Kind(std::string_view s, bool cut) {
  bool high = false;
  for (size_t i = 0; i < s.size();) {
    int n = utf8Sequence(s, i);
    if (n == -1 && cut) break;
    if (n <= 0) return {};
    high = high || n > 1;
    i += static_cast<size_t>(n);
  }
  return high ? "utf-8" : "ascii";
}

}  // namespace

int utf8Sequence(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  int n = 0;
  unsigned min = 0;
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) n = 2, min = 0x80;
  else if (b >= 0xE0 && b <= 0xEF) n = 3, min = 0x800;
  else if (b >= 0xF0 && b <= 0xF4) n = 4, min = 0x10000;
  else return 0;
  if (i + static_cast<size_t>(n) > s.size()) {
    // Cut off only if the bytes that are there could still begin a valid sequence.
    for (size_t k = i + 1; k < s.size(); ++k)
      if ((static_cast<unsigned char>(s[k]) & 0xC0) != 0x80) return 0;
    return -1;
  }
  unsigned cp = b & (0x7F >> n);
  for (int k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

bool looksLikeUtf16(std::string_view bytes) { return !utf16Guess(bytes).empty(); }

std::string detectEncoding(std::string_view bytes, bool cut) {
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF") return "utf-8-bom";
  if (bytes.substr(0, 2) == "\xFF\xFE") return "utf-16le";
  if (bytes.substr(0, 2) == "\xFE\xFF") return "utf-16be";
  if (auto u16 = utf16Guess(bytes); !u16.empty()) return u16;
  if (auto u8 = utf8Kind(bytes, cut); !u8.empty()) return u8;
  return "iso-8859-1";  // every byte sequence is valid Latin-1: the fallback that never fails
}

size_t bomLength(std::string_view bytes, std::string_view encoding) {
  if (encoding == "utf-8-bom") return bytes.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
  if (encoding == "utf-16le") return bytes.substr(0, 2) == "\xFF\xFE" ? 2 : 0;
  if (encoding == "utf-16be") return bytes.substr(0, 2) == "\xFE\xFF" ? 2 : 0;
  return 0;
}

void appendUtf8(std::string& out, char32_t cp) {
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

Decoded decodeToUtf8(std::string_view bytes, bool cut) {
  Decoded d;
  d.encoding = detectEncoding(bytes, cut);
  std::string_view body = bytes.substr(bomLength(bytes, d.encoding));
  std::string& out = d.utf8;
  if (d.encoding == "ascii" || d.encoding == "utf-8" || d.encoding == "utf-8-bom") {
    // Valid already (detection checked it); only a sequence cut at the end of a prefix is dropped.
    size_t end = body.size();
    for (size_t back = 1; back <= 3 && back <= body.size(); ++back) {
      const size_t i = body.size() - back;
      if ((static_cast<unsigned char>(body[i]) & 0xC0) == 0x80) continue;
      if (utf8Sequence(body, i) == -1) end = i;
      break;
    }
    out.assign(body.substr(0, end));
    return d;
  }
  if (d.encoding == "utf-16le" || d.encoding == "utf-16be") {
    const bool le = d.encoding == "utf-16le";
    const size_t units = body.size() / 2;
    out.reserve(body.size());
    auto unit = [&](size_t k) -> char32_t {
      const auto a = static_cast<unsigned char>(body[2 * k]), b = static_cast<unsigned char>(body[2 * k + 1]);
      return le ? char32_t(a | (b << 8)) : char32_t((a << 8) | b);
    };
    for (size_t k = 0; k < units; ++k) {
      char32_t u = unit(k);
      if (u >= 0xD800 && u <= 0xDBFF) {
        if (k + 1 < units) {
          const char32_t lo = unit(k + 1);
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            appendUtf8(out, 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
            ++k;
            continue;
          }
        } else if (cut) {
          break;  // the pair's second half is past the prefix
        }
        u = 0xFFFD;
        ++d.replaced;
      } else if (u >= 0xDC00 && u <= 0xDFFF) {
        u = 0xFFFD;
        ++d.replaced;
      }
      appendUtf8(out, u);
    }
    if (body.size() % 2 && !cut) {
      appendUtf8(out, 0xFFFD);  // a lone last byte in a complete file
      ++d.replaced;
    }
    return d;
  }
  // Latin-1, or Windows-1252 when bytes 0x80-0x9F (C1 controls in Latin-1, never meant in text) occur:
  // that is where Windows-1252 has its curly quotes, dashes and the euro sign.
  const bool cp1252 = std::any_of(body.begin(), body.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b >= 0x80 && b <= 0x9F;
  });
  if (cp1252) d.encoding = "windows-1252";
  out.reserve(body.size() + body.size() / 4);
  for (char c : body) {
    const auto b = static_cast<unsigned char>(c);
    appendUtf8(out, cp1252 && b >= 0x80 && b <= 0x9F ? kCp1252High[b - 0x80] : char32_t(b));
  }
  return d;
}

std::u32string utf8ToCodePoints(std::string_view s, std::vector<size_t>* offsets) {
  std::u32string out;
  out.reserve(s.size());
  if (offsets) {
    offsets->clear();
    offsets->reserve(s.size() + 1);
  }
  for (size_t i = 0; i < s.size();) {
    if (offsets) offsets->push_back(i);
    const int n = utf8Sequence(s, i);
    if (n <= 0) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    const auto b = static_cast<unsigned char>(s[i]);
    char32_t cp = n == 1 ? b : char32_t(b & (0x7F >> n));
    for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0x3F);
    out.push_back(cp);
    i += static_cast<size_t>(n);
  }
  if (offsets) offsets->push_back(s.size());
  return out;
}

size_t codePointsBefore(std::string_view s, size_t byteOffset) {
  // Counted as utf8ToCodePoints() decodes, so offsets agree on invalid input too.
  size_t n = 0;
  for (size_t i = 0; i < byteOffset && i < s.size(); ++n) {
    const int len = utf8Sequence(s, i);
    i += len > 0 ? static_cast<size_t>(len) : 1;
  }
  return n;
}

}  // namespace loom::text

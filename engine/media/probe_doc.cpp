// PDF and text probing.

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "media/probe_detail.h"

namespace loom::media::detail {

namespace {

// Text is read up to this much for its line count; longer files get an estimate from this prefix.
constexpr int64_t kTextReadBytes = 4 * 1024 * 1024;

// Length of the valid UTF-8 sequence starting at s[i], 0 if invalid, -1 if cut off by the end.
int utf8Sequence(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  int n = 0;
  unsigned min = 0;
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) n = 2, min = 0x80;
  else if (b >= 0xE0 && b <= 0xEF) n = 3, min = 0x800;
  else if (b >= 0xF0 && b <= 0xF4) n = 4, min = 0x10000;
  else return 0;
  if (i + static_cast<size_t>(n) > s.size()) return -1;
  unsigned cp = b & (0x7F >> n);
  for (int k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// "ascii", "utf-8", or "" when `s` is not UTF-8. `cut`: s is a prefix, so a sequence cut at the end is fine.
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

// UTF-16 without a byte-order mark: text in Latin scripts has a zero in every other byte.
std::string utf16Guess(std::string_view s) {
  const size_t n = std::min<size_t>(s.size(), 4096) & ~size_t{1};
  if (n < 8) return {};
  size_t evenZero = 0, oddZero = 0;
  for (size_t i = 0; i < n; i += 2) {
    evenZero += s[i] == '\0';
    oddZero += s[i + 1] == '\0';
  }
  const size_t units = n / 2;
  if (oddZero * 10 >= units * 4 && evenZero * 20 < units) return "utf-16le";
  if (evenZero * 10 >= units * 4 && oddZero * 20 < units) return "utf-16be";
  return {};
}

}  // namespace

bool looksLikeUtf16(std::string_view head) { return !utf16Guess(head).empty(); }

void probeText(ObjectReader& reader, std::string_view head, ProbeResult& out) {
  out.format = "text";
  auto size = reader.size();
  if (!size.ok()) {
    out.error = size.error().message;
    return;
  }
  std::string more;
  std::string_view data = head;
  const int64_t want = std::min<int64_t>(*size, kTextReadBytes);
  if (want > static_cast<int64_t>(head.size())) {
    auto r = reader.read(0, want);
    if (!r.ok()) {
      out.error = r.error().message;
      return;
    }
    more = std::move(r).value();
    data = more;
  }
  const bool cut = static_cast<int64_t>(data.size()) < *size;

  std::string_view body = data;
  if (body.substr(0, 3) == "\xEF\xBB\xBF") {
    out.encoding = "utf-8-bom";
    body.remove_prefix(3);
  } else if (body.substr(0, 2) == "\xFF\xFE") {
    out.encoding = "utf-16le";
    body.remove_prefix(2);
  } else if (body.substr(0, 2) == "\xFE\xFF") {
    out.encoding = "utf-16be";
    body.remove_prefix(2);
  } else if (auto u16 = utf16Guess(body); !u16.empty()) {
    out.encoding = u16;
  } else if (auto u8 = utf8Kind(body, cut); !u8.empty()) {
    out.encoding = u8;
  } else {
    out.encoding = "iso-8859-1";  // every byte sequence is valid Latin-1: the fallback that never fails
  }

  const bool wide = out.encoding.rfind("utf-16", 0) == 0;
  const size_t step = wide ? 2 : 1;
  const size_t lowByte = out.encoding == "utf-16be" ? 1 : 0;
  int64_t newlines = 0, returns = 0;
  bool endsWithNewline = false;
  for (size_t i = 0; i + step <= body.size(); i += step) {
    const char c = body[i + lowByte];
    const bool unit = !wide || body[i + 1 - lowByte] == '\0';
    if (!unit) {
      endsWithNewline = false;
      continue;
    }
    newlines += c == '\n';
    returns += c == '\r';
    endsWithNewline = c == '\n' || (c == '\r');
  }
  // Classic Mac text ends lines with CR alone.
  int64_t lines = newlines > 0 ? newlines : returns;
  if (!body.empty() && !endsWithNewline) ++lines;
  if (cut && !data.empty()) {
    const double perByte = static_cast<double>(lines) / static_cast<double>(data.size());
    out.lines = std::llround(perByte * static_cast<double>(*size));
    out.linesEstimated = 1;
  } else {
    out.lines = lines;
    out.linesEstimated = 0;
  }
}

}  // namespace loom::media::detail

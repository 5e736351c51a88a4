#include "storage/uri.h"

#include <array>
#include <cstdint>

namespace loom::storage {

namespace {

// RFC 3986 unreserved characters plus '/', which separates path segments and stays readable.
constexpr std::array<bool, 256> makeKeepTable() {
  std::array<bool, 256> keep{};
  for (int c = 'A'; c <= 'Z'; ++c) keep[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) keep[c] = true;
  for (int c = '0'; c <= '9'; ++c) keep[c] = true;
  keep['-'] = keep['.'] = keep['_'] = keep['~'] = keep['/'] = true;
  return keep;
}
constexpr std::array<bool, 256> kKeep = makeKeepTable();
constexpr char kHex[] = "0123456789ABCDEF";

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid (overlong forms,
// surrogates and code points above U+10FFFF included, per RFC 3629).
size_t validSequenceLength(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  const auto b1 = static_cast<unsigned char>(s[i + 1]);
  if (b1 < lo || b1 > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < 0x80 || b > 0xBF) return 0;
  }
  return len;
}

}  // namespace

std::string percentEncode(std::string_view s, bool keepSlash) {
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (kKeep[c] && (keepSlash || ch != '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string percentEncodePath(std::string_view path) { return percentEncode(path, true); }

std::optional<std::string> percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;  // fewer than two characters follow the '%'
    const int hi = hexValue(s[i + 1]);
    const int lo = hexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string fileUriFromPath(std::string_view absolutePath) { return "file://" + percentEncodePath(absolutePath); }

std::optional<std::string> pathFromFileUri(std::string_view uri) {
  if (!startsWithNoCase(uri, "file:")) return std::nullopt;
  std::string_view rest = uri.substr(5);
  if (rest.starts_with("//")) {
    rest.remove_prefix(2);
    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    const std::string_view host = rest.substr(0, slash);
    // Only the local machine: a remote host in a file URI would silently read a local path instead.
    if (!host.empty() && !(host.size() == 9 && startsWithNoCase(host, "localhost"))) return std::nullopt;
    rest.remove_prefix(slash);
  } else if (!rest.starts_with("/")) {
    return std::nullopt;  // "file:relative" has no meaning without a base
  }
  // '?' and '#' are kept as part of the path: our own URIs always encode them, so a raw one was
  // typed by a person and almost certainly belongs to a file name.
  auto decoded = percentDecode(rest);
  if (!decoded || decoded->find('\0') != std::string::npos) return std::nullopt;
  return decoded;
}

std::string sanitizeUtf8(std::string_view bytes) {
  size_t i = 0;
  // Fast path: most names are valid, so copy without rebuilding.
  while (i < bytes.size()) {
    const size_t len = validSequenceLength(bytes, i);
    if (len == 0) break;
    i += len;
  }
  if (i == bytes.size()) return std::string(bytes);

  std::string out(bytes.substr(0, i));
  out.reserve(bytes.size() + 8);
  while (i < bytes.size()) {
    const size_t len = validSequenceLength(bytes, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD, one per invalid byte
      ++i;
    } else {
      out.append(bytes.substr(i, len));
      i += len;
    }
  }
  return out;
}

}  // namespace loom::storage

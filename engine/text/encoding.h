#pragma once
// Text encodings: detecting how a file's bytes encode text (byte-order marks, UTF-8 validity, UTF-16
// without a mark, a Latin-1 / Windows-1252 fallback) and decoding them to UTF-8. Shared by probing
// (media/probe_doc.cpp) and text.read. Pure functions, thread-safe.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace loom::text {

// Length of the valid UTF-8 sequence starting at s[i]: 1-4, 0 when invalid, -1 when cut off by the end.
int utf8Sequence(std::string_view s, size_t i);

// What `bytes` are, as probing names it: "utf-8-bom", "utf-16le", "utf-16be" (with or without a
// byte-order mark), "ascii", "utf-8", or "iso-8859-1" (the fallback every byte sequence satisfies).
// `cut`: the bytes are a prefix of the file, so a sequence cut at the end is not held against UTF-8.
std::string detectEncoding(std::string_view bytes, bool cut);

// Size of the byte-order mark `encoding` starts with in `bytes` (0 when there is none).
size_t bomLength(std::string_view bytes, std::string_view encoding);

// True when `bytes` look like UTF-16 text without a byte-order mark (a zero in every other byte).
bool looksLikeUtf16(std::string_view bytes);

struct Decoded {
  std::string utf8;
  std::string encoding;    // as detectEncoding(), except that Latin-1 with bytes 0x80-0x9F is "windows-1252"
  size_t replaced = 0;     // invalid sequences replaced by U+FFFD (unpaired UTF-16 surrogates)
};

// Decodes `bytes` (as detected) to UTF-8 without the byte-order mark. `cut`: the bytes are a prefix
// of the file, so a character cut at the end is dropped rather than replaced.
Decoded decodeToUtf8(std::string_view bytes, bool cut);

// Appends code point `cp` to `out` as UTF-8.
void appendUtf8(std::string& out, char32_t cp);

// Decodes UTF-8 to code points; invalid bytes become U+FFFD. `offsets` (optional) receives the byte
// offset of each code point, plus one final entry with the input's size.
std::u32string utf8ToCodePoints(std::string_view s, std::vector<size_t>* offsets = nullptr);

// Number of code points in the UTF-8 text s[0, byteOffset).
size_t codePointsBefore(std::string_view s, size_t byteOffset);

}  // namespace loom::text

// text.chunk's splitter (see chunker.h for the rules).

#include "text/chunker.h"

#include <algorithm>

#include "text/encoding.h"

namespace loom::text {

namespace {

constexpr size_t kMaxTokenChars = 16;

bool isSpace(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

bool isCjk(char32_t c) {
  return (c >= 0x3040 && c <= 0x30FF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FFFF);
}

bool isWordChar(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  if (c < 0xC0) return c == 0xAA || c == 0xB5 || c == 0xBA;
  if (c == 0xD7 || c == 0xF7 || isSpace(c) || isCjk(c)) return false;
  if (c >= 0x2000 && c <= 0x2BFF) return false;  // punctuation, symbols, arrows, math
  if (c >= 0x3000 && c <= 0x303F) return false;  // CJK punctuation
  if (c >= 0xFF00 && c <= 0xFF0F) return false;
  return true;
}

bool endsSentence(char32_t c) { return c == '.' || c == '!' || c == '?' || c == 0x2026 || c == 0x3002 || c == 0xFF01 || c == 0xFF1F; }
bool closesQuote(char32_t c) { return c == '"' || c == '\'' || c == ')' || c == ']' || c == 0x201D || c == 0x2019 || c == 0xBB; }

struct Span {
  size_t start, end;  // code points
};

// Atoms are what sizes count: every code point, or every token.
std::vector<Span> atomsOf(const std::u32string& cps, ChunkUnit unit) {
  std::vector<Span> atoms;
  const size_t n = cps.size();
  if (unit == ChunkUnit::Chars) {
    atoms.reserve(n);
    for (size_t i = 0; i < n; ++i) atoms.push_back({i, i + 1});
    return atoms;
  }
  for (size_t i = 0; i < n;) {
    if (isSpace(cps[i])) {
      ++i;
    } else if (isWordChar(cps[i])) {
      size_t j = i;
      while (j < n && isWordChar(cps[j]) && j - i < kMaxTokenChars) ++j;
      atoms.push_back({i, j});
      i = j;
    } else {
      atoms.push_back({i, i + 1});
      ++i;
    }
  }
  return atoms;
}

// How good a place position b (a cut before cps[b]) is to end a chunk: 4 paragraph, 3 sentence,
// 2 line, 1 word, 0 none.
int breakRank(const std::u32string& cps, size_t b) {
  size_t q = b, newlines = 0;
  while (q > 0 && isSpace(cps[q - 1])) {
    newlines += cps[q - 1] == '\n';
    --q;
  }
  const bool space = q < b;
  if (newlines >= 2) return 4;
  size_t s = q;
  while (s > 0 && closesQuote(cps[s - 1])) --s;
  if (s > 0 && endsSentence(cps[s - 1]) && (space || cps[s - 1] >= 0x3000)) return 3;
  if (q > 0 && cps[q - 1] >= 0x3000 && endsSentence(cps[q - 1])) return 3;
  if (newlines == 1) return 2;
  if (space) return 1;
  if (b > 0 && b < cps.size() && (isCjk(cps[b - 1]) || isCjk(cps[b]))) return 1;  // CJK has no spaces
  return 0;
}

}  // namespace

size_t countTokens(std::string_view utf8) { return atomsOf(utf8ToCodePoints(utf8), ChunkUnit::Tokens).size(); }

core::Result<std::vector<Chunk>> chunkText(std::string_view utf8, const ChunkOptions& o) {
  std::vector<size_t> offsets;
  const std::u32string cps = utf8ToCodePoints(utf8, &offsets);
  const std::vector<Span> atoms = atomsOf(cps, o.unit);
  const size_t count = atoms.size(), size = std::max<size_t>(o.size, 1);
  const size_t overlap = std::min(o.overlap, size - 1);
  std::vector<Chunk> chunks;
  auto emit = [&](size_t first, size_t last) {  // atoms [first, last)
    size_t a = atoms[first].start, b = atoms[last - 1].end;
    while (a < b && isSpace(cps[a])) ++a;
    while (b > a && isSpace(cps[b - 1])) --b;
    if (a == b) return;
    // offsets has one entry per code point plus the end, so the chunk never splits a code point.
    chunks.push_back({a, b, std::string(utf8.substr(offsets[a], offsets[b] - offsets[a]))});
  };
  for (size_t i = 0; i < count;) {
    if (chunks.size() >= o.maxChunks)
      return core::makeError(core::ErrorKind::InvalidInput,
                             "the text would make more than " + std::to_string(o.maxChunks) +
                                 " chunks; raise size or split the text first");
    if (count - i <= size) {
      emit(i, count);
      break;
    }
    // The best break for a chunk of atoms [i, j), j in [i + size/2, i + size]; the latest of equals.
    size_t best = i + size;
    int bestRank = -1;
    for (size_t j = i + size; j >= i + std::max<size_t>(1, size / 2); --j) {
      const int r = breakRank(cps, atoms[j].start);
      if (r > bestRank) {
        bestRank = r;
        best = j;
        if (r == 4) break;
      }
    }
    emit(i, best);
    size_t next = best > i + overlap ? best - overlap : i + 1;
    next = std::max(next, i + 1);
    if (o.unit == ChunkUnit::Chars && next < best) {
      // Start at a word: back to the start of a word the overlap cut (a little more overlap than asked
      // for), else forward past it; text without spaces within a word's length (CJK) starts where it is.
      constexpr size_t kWordReach = 32;
      size_t k = next;
      if (!isSpace(cps[k - 1]) && !isSpace(cps[k])) {
        size_t back = k;
        while (back > i + 1 && k - back < kWordReach && !isSpace(cps[back - 1])) --back;
        size_t fwd = k;
        while (fwd < best && fwd - k < kWordReach && !isSpace(cps[fwd])) ++fwd;
        if (isSpace(cps[back - 1])) k = back;
        else if (fwd < best && isSpace(cps[fwd])) k = fwd;
      }
      while (k < best && isSpace(cps[k])) ++k;
      next = k;
    }
    i = next;
  }
  return chunks;
}

}  // namespace loom::text

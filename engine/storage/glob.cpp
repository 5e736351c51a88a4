#include "storage/glob.h"

namespace loom::storage {

namespace {

constexpr size_t kNpos = std::string_view::npos;
// Braces multiply (`{a,b}{c,d}{e,f}` is 8 patterns); a cap keeps a hostile pattern from eating memory.
constexpr size_t kMaxAlternatives = 4096;

// End of a bracket expression starting at p[open] == '[' (the index of its ']'), or npos when it is
// not closed, in which case the '[' is an ordinary character as in fnmatch(3).
size_t classEnd(std::string_view p, size_t open) {
  size_t i = open + 1;
  if (i < p.size() && (p[i] == '!' || p[i] == '^')) ++i;
  if (i < p.size() && p[i] == ']') ++i;  // a leading ']' is a member, not the end
  for (; i < p.size(); ++i) {
    if (p[i] == '\\') {
      ++i;
    } else if (p[i] == ']') {
      return i;
    }
  }
  return kNpos;
}

size_t braceClose(std::string_view p, size_t open) {
  int depth = 0;
  for (size_t i = open; i < p.size(); ++i) {
    if (p[i] == '\\') {
      ++i;
    } else if (p[i] == '[') {
      const size_t end = classEnd(p, i);
      if (end != kNpos) i = end;
    } else if (p[i] == '{') {
      ++depth;
    } else if (p[i] == '}') {
      if (--depth == 0) return i;
    }
  }
  return kNpos;
}

// Expands the first brace group that has a top-level comma and recurses; braces without a comma
// ("{a}") or without a partner stay literal, as in bash.
void expandBraces(std::string_view p, size_t from, std::vector<std::string>& out) {
  if (out.size() >= kMaxAlternatives) return;
  for (size_t i = from; i < p.size(); ++i) {
    if (p[i] == '\\') {
      ++i;
      continue;
    }
    if (p[i] == '[') {
      const size_t end = classEnd(p, i);
      if (end != kNpos) i = end;
      continue;
    }
    if (p[i] != '{') continue;
    const size_t close = braceClose(p, i);
    if (close == kNpos) continue;
    std::vector<std::string_view> parts;
    int depth = 0;
    size_t start = i + 1;
    for (size_t k = i + 1; k < close; ++k) {
      if (p[k] == '\\') {
        ++k;
      } else if (p[k] == '[') {
        const size_t end = classEnd(p, k);
        if (end != kNpos && end < close) k = end;
      } else if (p[k] == '{') {
        ++depth;
      } else if (p[k] == '}') {
        --depth;
      } else if (p[k] == ',' && depth == 0) {
        parts.push_back(p.substr(start, k - start));
        start = k + 1;
      }
    }
    if (parts.empty()) continue;  // no comma: literal braces, look further (nested groups inside)
    parts.push_back(p.substr(start, close - start));
    for (std::string_view part : parts) {
      std::string expanded;
      expanded.reserve(p.size());
      expanded.append(p.substr(0, i)).append(part).append(p.substr(close + 1));
      // Everything before `i` is already free of expandable groups, so resume scanning there.
      expandBraces(expanded, i, out);
    }
    return;
  }
  if (out.size() < kMaxAlternatives) out.emplace_back(p);
}

// Whether the pattern element at pat[pos] (not '*') matches byte `c`; sets `len` to its length.
bool elementMatches(std::string_view pat, size_t pos, char c, size_t& len) {
  const char pc = pat[pos];
  if (pc == '?') {
    len = 1;
    return true;
  }
  if (pc == '\\' && pos + 1 < pat.size()) {
    len = 2;
    return pat[pos + 1] == c;
  }
  if (pc == '[') {
    const size_t end = classEnd(pat, pos);
    if (end != kNpos) {
      len = end - pos + 1;
      size_t i = pos + 1;
      bool negate = false;
      if (pat[i] == '!' || pat[i] == '^') {
        negate = true;
        ++i;
      }
      bool found = false;
      const auto uc = static_cast<unsigned char>(c);
      bool first = true;
      while (i < end && (first || pat[i] != ']')) {
        first = false;
        char lowCh = pat[i];
        if (lowCh == '\\' && i + 1 < end) lowCh = pat[++i];
        ++i;
        char highCh = lowCh;
        if (i + 1 < end && pat[i] == '-') {
          highCh = pat[i + 1];
          if (highCh == '\\' && i + 2 < end) highCh = pat[++i + 1];
          i += 2;
        }
        if (uc >= static_cast<unsigned char>(lowCh) && uc <= static_cast<unsigned char>(highCh)) found = true;
      }
      return found != negate;
    }
  }
  len = 1;
  return pc == c;
}

// One path segment (no '/'): the classic two-pointer wildcard match. Every element other than '*'
// matches exactly one byte, so remembering only the last '*' is enough and the cost is O(n*m).
bool matchSegment(std::string_view pat, std::string_view s) {
  size_t p = 0, t = 0;
  size_t starP = kNpos, starT = 0;
  while (t < s.size()) {
    if (p < pat.size() && pat[p] == '*') {
      while (p < pat.size() && pat[p] == '*') ++p;
      starP = p;
      starT = t;
      continue;
    }
    size_t len = 1;
    if (p < pat.size() && elementMatches(pat, p, s[t], len)) {
      p += len;
      ++t;
      continue;
    }
    if (starP == kNpos) return false;
    p = starP;
    t = ++starT;
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

struct Segment {
  std::string_view text;
  size_t next;  // offset of the following segment; size() + 1 past the last
};

Segment segmentAt(std::string_view s, size_t pos) {
  const size_t slash = s.find('/', pos);
  if (slash == kNpos) return {s.substr(pos), s.size() + 1};
  return {s.substr(pos, slash - pos), slash + 1};
}

// The same two-pointer scheme one level up: '**' is the star over whole segments, every other
// pattern segment matches exactly one path segment.
bool matchPath(std::string_view pat, std::string_view path) {
  const size_t patEnd = pat.size() + 1, pathEnd = path.size() + 1;
  size_t p = 0, t = 0;
  size_t starP = kNpos, starT = 0;
  while (t < pathEnd) {
    if (p < patEnd) {
      const Segment ps = segmentAt(pat, p);
      if (ps.text == "**") {
        p = starP = ps.next;
        starT = t;
        continue;
      }
      const Segment ts = segmentAt(path, t);
      if (matchSegment(ps.text, ts.text)) {
        p = ps.next;
        t = ts.next;
        continue;
      }
    }
    if (starP == kNpos) return false;
    p = starP;
    t = starT = segmentAt(path, starT).next;
  }
  while (p < patEnd && segmentAt(pat, p).text == "**") p = segmentAt(pat, p).next;
  return p >= patEnd;
}

}  // namespace

Glob::Glob(std::string_view pattern) {
  // The pattern is relative to the listed prefix, so a leading "./" or "/" means nothing more.
  while (pattern.starts_with("./")) pattern.remove_prefix(2);
  while (pattern.starts_with("/")) pattern.remove_prefix(1);
  if (pattern.empty()) return;
  std::string normalized(pattern);
  if (normalized.ends_with('/')) normalized += "**";  // "raw/" means everything under raw
  m_basenameOnly = normalized.find('/') == std::string::npos;
  expandBraces(normalized, 0, m_alternatives);
}

bool Glob::matches(std::string_view relativePath) const {
  if (m_alternatives.empty()) return true;
  std::string_view target = relativePath;
  if (m_basenameOnly) {
    const size_t slash = target.rfind('/');
    if (slash != kNpos) target.remove_prefix(slash + 1);
  }
  for (const std::string& alternative : m_alternatives) {
    if (matchPath(alternative, target)) return true;
  }
  return false;
}

}  // namespace loom::storage

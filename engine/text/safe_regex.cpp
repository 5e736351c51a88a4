// SafeRegex: parser, compiler to a Pike VM program, and the VM (see safe_regex.h for why).

#include "text/safe_regex.h"

#include <algorithm>

#include "text/encoding.h"

namespace loom::text {

using core::ErrorKind;
using core::makeError;
using Op = SafeRegex::Op;
using Range = SafeRegex::Range;

namespace {

constexpr size_t kMaxPatternChars = 8192;
constexpr int kMaxRepeat = 1000;
constexpr size_t kMaxProgram = 50000;
constexpr int kMaxDepth = 100;

bool isWordChar(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  // Letters outside ASCII, approximately: everything but Latin-1's symbols, the punctuation blocks
  // and the CJK punctuation block.
  if (c < 0xC0) return c == 0xAA || c == 0xB5 || c == 0xBA;
  if (c == 0xD7 || c == 0xF7) return false;
  if (c >= 0x2000 && c <= 0x2BFF) return false;
  if (c >= 0x3000 && c <= 0x303F) return false;
  if (c >= 0xFE30 && c <= 0xFE6F) return false;
  if (c >= 0xFF00 && c <= 0xFF0F) return false;
  return true;
}

const std::vector<Range>& digitRanges() {
  static const std::vector<Range> r{{'0', '9'}};
  return r;
}
const std::vector<Range>& wordRanges() {
  static const std::vector<Range> r{{'0', '9'},       {'A', 'Z'},       {'_', '_'},       {'a', 'z'},
                                    {0xAA, 0xAA},     {0xB5, 0xB5},     {0xBA, 0xBA},     {0xC0, 0xD6},
                                    {0xD8, 0xF6},     {0xF8, 0x1FFF},   {0x2C00, 0x2FFF}, {0x3040, 0xFE2F},
                                    {0xFE70, 0xFEFF}, {0xFF10, 0x10FFFF}};
  return r;
}
const std::vector<Range>& spaceRanges() {
  static const std::vector<Range> r{{'\t', '\r'},     {' ', ' '},       {0x85, 0x85},     {0xA0, 0xA0},
                                    {0x1680, 0x1680}, {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F},
                                    {0x205F, 0x205F}, {0x3000, 0x3000}};
  return r;
}

std::vector<Range> complement(std::vector<Range> r) {
  std::sort(r.begin(), r.end(), [](const Range& a, const Range& b) { return a.lo < b.lo; });
  std::vector<Range> out;
  char32_t next = 0;
  for (const auto& x : r) {
    if (x.lo > next) out.push_back({next, x.lo - 1});
    if (x.hi + 1 > next) next = x.hi + 1;
  }
  if (next <= 0x10FFFF) out.push_back({next, 0x10FFFF});
  return out;
}

char32_t foldCase(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}
char32_t upperCase(char32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}

bool inRanges(const std::vector<Range>& r, char32_t c) {
  for (const auto& x : r)
    if (c >= x.lo && c <= x.hi) return true;
  return false;
}

struct ParseError {
  size_t at;
  std::string message;
};

struct Node {
  enum Kind { Empty, Lit, Any, Class, Group, Cat, Alt, Rep, Assert } kind = Empty;
  char32_t c = 0;
  int cls = -1;
  bool negated = false;
  int group = -1;  // Group: capture index, or -1 for (?: )
  std::vector<int> kids;
  int min = 0, max = 0;  // Rep; max -1: unbounded
  bool greedy = true;
  Op assertOp = Op::Bol;
};

}  // namespace

class RegexCompiler {
 public:
  RegexCompiler(std::u32string pattern, SafeRegex& re) : m_p(std::move(pattern)), m_re(re) {}

  void run() {
    while (parseFlags()) {
    }
    int root = parseAlt();
    if (m_i < m_p.size()) fail("unmatched ')'");
    // Group 0 around the whole pattern.
    emit({Op::Save, 0, 0, 0});
    compile(root);
    emit({Op::Save, 0, 1, 0});
    emit({Op::Match, 0, 0, 0});
  }

 private:
  [[noreturn]] void fail(const std::string& msg) { throw ParseError{m_i, msg}; }
  bool more() const { return m_i < m_p.size(); }
  char32_t peek() const { return m_p[m_i]; }
  bool eat(char32_t c) {
    if (more() && peek() == c) {
      ++m_i;
      return true;
    }
    return false;
  }
  bool ahead(std::u32string_view s) const { return m_p.compare(m_i, s.size(), s) == 0; }

  int add(Node n) {
    m_nodes.push_back(std::move(n));
    return static_cast<int>(m_nodes.size() - 1);
  }
  int addClass(std::vector<Range> r) {
    m_re.m_classes.push_back(std::move(r));
    return static_cast<int>(m_re.m_classes.size() - 1);
  }

  // (?i) (?m) (?s) and combinations, only at the start of the pattern: they apply to all of it.
  bool parseFlags() {
    if (!ahead(U"(?")) return false;
    size_t j = m_i + 2;
    bool any = false;
    while (j < m_p.size() && (m_p[j] == 'i' || m_p[j] == 'm' || m_p[j] == 's')) {
      any = true;
      ++j;
    }
    if (!any || j >= m_p.size() || m_p[j] != ')') return false;
    for (size_t k = m_i + 2; k < j; ++k) {
      if (m_p[k] == 'i') m_re.m_ignoreCase = true;
      if (m_p[k] == 'm') m_multiline = true;
      if (m_p[k] == 's') m_dotAll = true;
    }
    m_i = j + 1;
    return true;
  }

  int parseAlt() {
    std::vector<int> alts{parseCat()};
    while (eat('|')) alts.push_back(parseCat());
    if (alts.size() == 1) return alts[0];
    Node n;
    n.kind = Node::Alt;
    n.kids = std::move(alts);
    return add(std::move(n));
  }

  int parseCat() {
    Node n;
    n.kind = Node::Cat;
    while (more() && peek() != '|' && peek() != ')') n.kids.push_back(parseRepeat());
    if (n.kids.empty()) return add(Node{});
    if (n.kids.size() == 1) return n.kids[0];
    return add(std::move(n));
  }

  // {n}, {n,}, {n,m} at m_i; false (m_i unchanged) when the brace is not a quantifier.
  bool parseBraces(int& lo, int& hi) {
    size_t j = m_i + 1;
    auto number = [&](int& out) {
      size_t start = j;
      long v = 0;
      while (j < m_p.size() && m_p[j] >= '0' && m_p[j] <= '9') {
        v = std::min<long>(v * 10 + (m_p[j] - '0'), 1000000);
        ++j;
      }
      out = static_cast<int>(v);
      return j > start;
    };
    if (!number(lo)) return false;
    hi = lo;
    if (j < m_p.size() && m_p[j] == ',') {
      ++j;
      if (!number(hi)) hi = -1;
    }
    if (j >= m_p.size() || m_p[j] != '}') return false;
    if (lo > kMaxRepeat || hi > kMaxRepeat) fail("repeat count over " + std::to_string(kMaxRepeat));
    if (hi >= 0 && hi < lo) fail("repeat {n,m} with m < n");
    m_i = j + 1;
    return true;
  }

  int parseRepeat() {
    if (more() && (peek() == '*' || peek() == '+' || peek() == '?')) fail("nothing to repeat before this quantifier");
    int atom = parseAtom();
    bool quantified = false;
    while (more()) {
      int lo = 0, hi = 0;
      const char32_t c = peek();
      if (c == '*') lo = 0, hi = -1, ++m_i;
      else if (c == '+') lo = 1, hi = -1, ++m_i;
      else if (c == '?') lo = 0, hi = 1, ++m_i;
      else if (c == '{') {
        if (!parseBraces(lo, hi)) break;
      } else break;
      if (quantified) fail("a quantifier follows a quantifier; put the inner one in a group (?:...)");
      quantified = true;
      Node n;
      n.kind = Node::Rep;
      n.kids = {atom};
      n.min = lo;
      n.max = hi;
      if (eat('?')) n.greedy = false;
      else if (more() && peek() == '+') fail("possessive quantifiers (*+ ++ ?+) are not supported");
      atom = add(std::move(n));
    }
    return atom;
  }

  char32_t hexDigits(size_t count, bool braced) {
    char32_t v = 0;
    size_t n = 0;
    while (more() && (braced ? peek() != '}' : n < count)) {
      const char32_t c = peek();
      int d = (c >= '0' && c <= '9') ? int(c - '0') : (c >= 'a' && c <= 'f') ? int(c - 'a' + 10)
                                                      : (c >= 'A' && c <= 'F') ? int(c - 'A' + 10) : -1;
      if (d < 0) fail("bad hexadecimal escape");
      v = v * 16 + static_cast<char32_t>(d);
      if (v > 0x10FFFF) fail("code point over U+10FFFF");
      ++m_i;
      ++n;
    }
    if (braced && !eat('}')) fail("unclosed \\x{");
    if (n == 0 || (!braced && n < count)) fail("bad hexadecimal escape");
    return v;
  }

  // After a backslash: a single character, or a class (set through `cls`).
  // Returns true for a character in `out`, false when `cls` was filled.
  bool parseEscape(char32_t& out, std::vector<Range>& cls, bool inClass) {
    if (!more()) fail("pattern ends with a backslash");
    const char32_t c = peek();
    ++m_i;
    switch (c) {
      case 'n': out = '\n'; return true;
      case 't': out = '\t'; return true;
      case 'r': out = '\r'; return true;
      case 'f': out = '\f'; return true;
      case 'v': out = '\v'; return true;
      case '0': out = 0; return true;
      case 'x':
        out = eat('{') ? hexDigits(0, true) : hexDigits(2, false);
        return true;
      case 'u': out = hexDigits(4, false); return true;
      case 'd': cls = digitRanges(); return false;
      case 'D': cls = complement(digitRanges()); return false;
      case 'w': cls = wordRanges(); return false;
      case 'W': cls = complement(wordRanges()); return false;
      case 's': cls = spaceRanges(); return false;
      case 'S': cls = complement(spaceRanges()); return false;
      default: break;
    }
    if (c >= '1' && c <= '9') fail("backreferences (\\1...) are not supported: they need backtracking");
    if (c == 'k' || c == 'g') fail("backreferences (\\k, \\g) are not supported: they need backtracking");
    if (inClass && c == 'b') {
      out = '\b';
      return true;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
      fail(std::string("unknown escape \\") + static_cast<char>(c));
    out = c;  // escaped punctuation stands for itself
    return true;
  }

  int parseClass() {  // after '['
    bool negated = eat('^');
    std::vector<Range> ranges;
    bool first = true;
    for (;;) {
      if (!more()) fail("unclosed character class [");
      if (peek() == ']' && !first) {
        ++m_i;
        break;
      }
      first = false;
      if (ahead(U"[:")) fail("POSIX classes like [:alpha:] are not supported; use \\w, \\d, \\s or ranges");
      char32_t lo;
      std::vector<Range> sub;
      if (eat('\\')) {
        if (!parseEscape(lo, sub, true)) {
          ranges.insert(ranges.end(), sub.begin(), sub.end());
          continue;
        }
      } else {
        lo = peek();
        ++m_i;
      }
      char32_t hi = lo;
      if (more() && peek() == '-' && m_i + 1 < m_p.size() && m_p[m_i + 1] != ']') {
        ++m_i;
        if (eat('\\')) {
          if (!parseEscape(hi, sub, true)) fail("a class like \\d cannot end a range");
        } else {
          hi = peek();
          ++m_i;
        }
        if (hi < lo) fail("range out of order in character class");
      }
      ranges.push_back({lo, hi});
    }
    Node n;
    n.kind = Node::Class;
    n.cls = addClass(std::move(ranges));
    n.negated = negated;
    return add(std::move(n));
  }

  int parseAtom() {
    const char32_t c = peek();
    Node n;
    if (c == '(') {
      ++m_i;
      n.kind = Node::Group;
      if (eat('?')) {
        if (eat(':')) {
          n.group = -1;
        } else if (ahead(U"=") || ahead(U"!") || ahead(U"<=") || ahead(U"<!")) {
          fail("lookaround ((?=, (?!, (?<=, (?<!) is not supported: it needs backtracking");
        } else if (eat('<') || (eat('P') && eat('<'))) {
          std::string name;
          while (more() && peek() != '>') {
            const char32_t k = peek();
            const bool ok = (k >= 'a' && k <= 'z') || (k >= 'A' && k <= 'Z') || k == '_' ||
                            (k >= '0' && k <= '9' && !name.empty());
            if (!ok) fail("group names use letters, digits and _ and do not start with a digit");
            name += static_cast<char>(k);
            ++m_i;
          }
          if (!eat('>') || name.empty()) fail("unclosed or empty group name (?<name>...)");
          for (const auto& existing : m_re.m_names)
            if (existing == name) fail("group name '" + name + "' is used twice");
          n.group = ++m_re.m_groups;
          m_re.m_names.push_back(name);
        } else if (more() && (peek() == 'i' || peek() == 'm' || peek() == 's')) {
          fail("flags like (?i) are allowed only at the start of the pattern");
        } else {
          fail("unknown group syntax after (?");
        }
      } else {
        n.group = ++m_re.m_groups;
        m_re.m_names.emplace_back();
      }
      if (++m_depth > kMaxDepth) fail("groups nested deeper than " + std::to_string(kMaxDepth));
      n.kids = {parseAlt()};
      --m_depth;
      if (!eat(')')) fail("unclosed group (");
      return add(std::move(n));
    }
    ++m_i;
    switch (c) {
      case '[': return parseClass();
      case '.':
        n.kind = Node::Any;
        return add(std::move(n));
      case '^':
        n.kind = Node::Assert;
        n.assertOp = m_multiline ? Op::Lbol : Op::Bol;
        return add(std::move(n));
      case '$':
        n.kind = Node::Assert;
        n.assertOp = m_multiline ? Op::Leol : Op::Eol;
        return add(std::move(n));
      case '\\': {
        if (more()) {
          const char32_t e = peek();
          Op op = Op::Match;
          if (e == 'b') op = Op::Word;
          if (e == 'B') op = Op::NotWord;
          if (e == 'A') op = Op::Bol;
          if (e == 'z' || e == 'Z') op = Op::Eol;
          if (op != Op::Match) {
            ++m_i;
            n.kind = Node::Assert;
            n.assertOp = op;
            return add(std::move(n));
          }
        }
        char32_t ch;
        std::vector<Range> cls;
        if (parseEscape(ch, cls, false)) {
          n.kind = Node::Lit;
          n.c = ch;
        } else {
          n.kind = Node::Class;
          n.cls = addClass(std::move(cls));
        }
        return add(std::move(n));
      }
      default:
        n.kind = Node::Lit;
        n.c = c;
        return add(std::move(n));
    }
  }

  int emit(SafeRegex::Inst inst) {
    if (m_re.m_prog.size() >= kMaxProgram)
      throw ParseError{m_p.size(), "pattern too large once repeats are expanded (over " +
                                       std::to_string(kMaxProgram) + " steps); use smaller repeat counts"};
    m_re.m_prog.push_back(inst);
    return static_cast<int>(m_re.m_prog.size() - 1);
  }
  int pc() const { return static_cast<int>(m_re.m_prog.size()); }

  void compile(int id) {
    const Node n = m_nodes[static_cast<size_t>(id)];  // a copy: m_nodes does not grow, but keep it simple
    switch (n.kind) {
      case Node::Empty: return;
      case Node::Lit: emit({Op::Char, n.c, 0, 0}); return;
      case Node::Any: emit({m_dotAll ? Op::AnyNl : Op::Any, 0, 0, 0}); return;
      case Node::Class: emit({n.negated ? Op::NClass : Op::Class, 0, n.cls, 0}); return;
      case Node::Assert: emit({n.assertOp, 0, 0, 0}); return;
      case Node::Group:
        if (n.group >= 0) emit({Op::Save, 0, 2 * n.group, 0});
        compile(n.kids[0]);
        if (n.group >= 0) emit({Op::Save, 0, 2 * n.group + 1, 0});
        return;
      case Node::Cat:
        for (int k : n.kids) compile(k);
        return;
      case Node::Alt: {
        std::vector<int> jumps;
        for (size_t k = 0; k < n.kids.size(); ++k) {
          if (k + 1 < n.kids.size()) {
            const int split = emit({Op::Split, 0, 0, 0});
            m_re.m_prog[static_cast<size_t>(split)].x = pc();
            compile(n.kids[k]);
            jumps.push_back(emit({Op::Jmp, 0, 0, 0}));
            m_re.m_prog[static_cast<size_t>(split)].y = pc();
          } else {
            compile(n.kids[k]);
          }
        }
        for (int j : jumps) m_re.m_prog[static_cast<size_t>(j)].x = pc();
        return;
      }
      case Node::Rep: {
        for (int k = 0; k < n.min; ++k) compile(n.kids[0]);
        if (n.max < 0) {
          const int loop = emit({Op::Split, 0, 0, 0});
          const int body = pc();
          compile(n.kids[0]);
          emit({Op::Jmp, 0, loop, 0});
          const int out = pc();
          auto& s = m_re.m_prog[static_cast<size_t>(loop)];
          s.x = n.greedy ? body : out;
          s.y = n.greedy ? out : body;
          return;
        }
        std::vector<int> splits;
        for (int k = n.min; k < n.max; ++k) {
          splits.push_back(emit({Op::Split, 0, 0, 0}));
          m_re.m_prog[static_cast<size_t>(splits.back())].x = pc();  // the body, for now
          compile(n.kids[0]);
        }
        const int out = pc();
        for (int s : splits) {
          auto& inst = m_re.m_prog[static_cast<size_t>(s)];
          const int body = inst.x;
          inst.x = n.greedy ? body : out;
          inst.y = n.greedy ? out : body;
        }
        return;
      }
    }
  }

  std::u32string m_p;
  size_t m_i = 0;
  int m_depth = 0;
  bool m_multiline = false, m_dotAll = false;
  SafeRegex& m_re;
  std::vector<Node> m_nodes;
};

core::Result<SafeRegex> SafeRegex::compile(std::string_view pattern, Options options) {
  std::vector<size_t> offsets;
  std::u32string p = utf8ToCodePoints(pattern, &offsets);
  if (p.size() > kMaxPatternChars)
    return makeError(ErrorKind::InvalidInput,
                     "the pattern has " + std::to_string(p.size()) + " characters; at most " +
                         std::to_string(kMaxPatternChars) + " are allowed");
  SafeRegex re;
  re.m_ignoreCase = options.ignoreCase;
  RegexCompiler c(p, re);
  try {
    c.run();
  } catch (const ParseError& e) {
    std::string near;
    const size_t at = std::min(e.at, p.size());
    for (size_t k = at; k < p.size() && k < at + 12; ++k) appendUtf8(near, p[k]);
    return makeError(ErrorKind::InvalidInput, e.message + " (at character " + std::to_string(at) +
                                                  (near.empty() ? ", the end" : ": '" + near + "'") + ")");
  }
  return re;
}

namespace {

// A list of threads at one text position, in priority order, with their capture slots side by side.
struct ThreadList {
  std::vector<int> pcs;
  std::vector<int64_t> caps;  // pcs.size() * ncap
  std::vector<uint32_t> mark;  // mark[pc] == gen: pc was reached at this position
  uint32_t gen = 1;
  void clear() {
    pcs.clear();
    caps.clear();
    if (++gen == 0) {
      std::fill(mark.begin(), mark.end(), 0);
      gen = 1;
    }
  }
};

struct StackEntry {
  int pc;
  int slot;  // >= 0: restore caps[slot] = old instead of visiting pc
  int64_t old;
};

}  // namespace

core::Result<std::optional<SafeRegex::Match>> SafeRegex::search(const std::u32string& text, size_t from,
                                                                int64_t& budget) const {
  const size_t ncap = 2 * static_cast<size_t>(m_groups + 1);
  const size_t n = text.size();
  ThreadList clist, nlist;
  clist.mark.assign(m_prog.size(), 0);
  nlist.mark.assign(m_prog.size(), 0);
  std::vector<StackEntry> stack;
  std::vector<int64_t> caps(ncap, -1), best;
  bool matched = false;
  bool overBudget = false;

  auto eq = [&](char32_t a, char32_t b) { return a == b || (m_ignoreCase && foldCase(a) == foldCase(b)); };
  auto classMatch = [&](int cls, char32_t c) {
    const auto& r = m_classes[static_cast<size_t>(cls)];
    if (inRanges(r, c)) return true;
    return m_ignoreCase && (inRanges(r, foldCase(c)) || inRanges(r, upperCase(c)));
  };
  auto wordAt = [&](size_t pos) { return pos < n && isWordChar(text[pos]); };

  // Follows every empty transition from pc at `pos` and adds the threads that consume a character.
  auto addThread = [&](ThreadList& list, int pc0, size_t pos) {
    stack.push_back({pc0, -1, 0});
    while (!stack.empty()) {
      const StackEntry e = stack.back();
      stack.pop_back();
      if (e.slot >= 0) {
        caps[static_cast<size_t>(e.slot)] = e.old;
        continue;
      }
      if (list.mark[static_cast<size_t>(e.pc)] == list.gen) continue;
      list.mark[static_cast<size_t>(e.pc)] = list.gen;
      if (--budget < 0) {
        overBudget = true;
        stack.clear();
        return;
      }
      const Inst& in = m_prog[static_cast<size_t>(e.pc)];
      const int next = e.pc + 1;
      switch (in.op) {
        case Op::Jmp: stack.push_back({in.x, -1, 0}); break;
        case Op::Split:
          stack.push_back({in.y, -1, 0});
          stack.push_back({in.x, -1, 0});
          break;
        case Op::Save:
          stack.push_back({0, in.x, caps[static_cast<size_t>(in.x)]});
          caps[static_cast<size_t>(in.x)] = static_cast<int64_t>(pos);
          stack.push_back({next, -1, 0});
          break;
        case Op::Bol:
          if (pos == 0) stack.push_back({next, -1, 0});
          break;
        case Op::Eol:
          if (pos == n) stack.push_back({next, -1, 0});
          break;
        case Op::Lbol:
          if (pos == 0 || text[pos - 1] == '\n') stack.push_back({next, -1, 0});
          break;
        case Op::Leol:
          if (pos == n || text[pos] == '\n') stack.push_back({next, -1, 0});
          break;
        case Op::Word:
        case Op::NotWord: {
          const bool boundary = (pos > 0 && wordAt(pos - 1)) != wordAt(pos);
          if (boundary == (in.op == Op::Word)) stack.push_back({next, -1, 0});
          break;
        }
        default:
          list.pcs.push_back(e.pc);
          list.caps.insert(list.caps.end(), caps.begin(), caps.end());
      }
    }
  };

  for (size_t pos = from; pos <= n; ++pos) {
    if (!matched) {
      std::fill(caps.begin(), caps.end(), -1);
      addThread(clist, 0, pos);
    }
    if (overBudget) break;
    if (clist.pcs.empty()) {
      if (matched) break;
      clist.clear();
      continue;
    }
    nlist.clear();
    for (size_t t = 0; t < clist.pcs.size() && !overBudget; ++t) {
      const Inst& in = m_prog[static_cast<size_t>(clist.pcs[t])];
      const int64_t* tcaps = clist.caps.data() + t * ncap;
      bool step = false;
      switch (in.op) {
        case Op::Match:
          matched = true;
          best.assign(tcaps, tcaps + ncap);
          t = clist.pcs.size();  // threads of lower priority lose to this match
          continue;
        case Op::Char: step = pos < n && eq(text[pos], in.c); break;
        case Op::Any: step = pos < n && text[pos] != '\n'; break;
        case Op::AnyNl: step = pos < n; break;
        case Op::Class: step = pos < n && classMatch(in.x, text[pos]); break;
        case Op::NClass: step = pos < n && !classMatch(in.x, text[pos]); break;
        default: break;
      }
      if (step) {
        caps.assign(tcaps, tcaps + ncap);
        addThread(nlist, clist.pcs[t] + 1, pos + 1);
      }
    }
    std::swap(clist, nlist);
  }
  if (overBudget)
    return makeError(ErrorKind::Unsupported,
                     "the pattern needs too many steps on this text (" + std::to_string(n) +
                         " characters); simplify the pattern or split the text (text.chunk)");
  if (!matched) return std::optional<Match>();
  return std::optional<Match>(Match{std::move(best)});
}

}  // namespace loom::text

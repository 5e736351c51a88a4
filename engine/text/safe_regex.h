#pragma once
// A regular-expression engine whose cost is linear in the text: patterns compile to a program run by
// a Pike VM (every alternative advanced in lockstep, one thread per program position), so no pattern
// can backtrack exponentially and nothing recurses per character of the text. Used by text.regex,
// where patterns come from flows (data anyone may write) and texts can be megabytes.
// Hand-written: std::regex recurses once per character (it overflowed the stack here before, see
// inference/providers.cpp) and backtracks exponentially; RE2 and PCRE2 are not dependencies.
//
// Syntax (Perl-like, on Unicode code points): literals and \ escapes (\. \\ \n \t \r \f \v \xHH
// \x{HHHH} \uHHHH), . (any but \n), [abc] [^a-z] classes, \d \D \w \W \s \S (ASCII digits; word =
// letters, digits, _ including non-ASCII letters), ^ $ (start/end of the text; of a line after (?m)),
// \b \B \A \z, groups ( ) (?: ) (?<name> ) (?P<name> ), | alternation, * + ? {n} {n,} {n,m} and their
// lazy forms *? +? ?? {n,m}?, leading flags (?i) (?m) (?s). Not supported, and refused when compiling
// with a message saying so: backreferences and lookaround (they need backtracking).
// Immutable after compile(); search() is const and thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace loom::text {

class SafeRegex {
 public:
  struct Options {
    bool ignoreCase = false;  // ASCII, Latin-1, Greek and Cyrillic letters
  };
  // Errors are InvalidInput with what is wrong and where (character offset in the pattern).
  static core::Result<SafeRegex> compile(std::string_view pattern, Options options);
  static core::Result<SafeRegex> compile(std::string_view pattern) { return compile(pattern, Options{}); }

  // Capturing groups, not counting group 0 (the whole match).
  int groupCount() const { return m_groups; }
  // Name of group i (1..groupCount()); empty for unnamed groups.
  const std::string& groupName(int i) const { return m_names[static_cast<size_t>(i)]; }

  // Group g spans [spans[2g], spans[2g+1]) in code points of the searched text; -1 when it took no part.
  struct Match {
    std::vector<int64_t> spans;
    int64_t start() const { return spans[0]; }
    int64_t end() const { return spans[1]; }
  };
  // The leftmost match starting at or after `from` (Perl's leftmost-first choice among alternatives),
  // or nullopt. `budget` counts VM steps and is decreased; at zero the search fails with an error
  // (Unsupported) — a bound on time that depends only on the text and the pattern, so results are
  // deterministic.
  core::Result<std::optional<Match>> search(const std::u32string& text, size_t from, int64_t& budget) const;

  enum class Op : uint8_t { Char, Any, AnyNl, Class, NClass, Split, Jmp, Save, Bol, Eol, Lbol, Leol, Word, NotWord, Match };
  struct Inst {
    Op op;
    char32_t c = 0;  // Char
    int x = 0, y = 0;  // Split targets (x preferred), Jmp target, Save slot, Class index
  };
  struct Range {
    char32_t lo, hi;
  };

 private:
  std::vector<Inst> m_prog;
  std::vector<std::vector<Range>> m_classes;
  std::vector<std::string> m_names{""};
  int m_groups = 0;
  bool m_ignoreCase = false;
  friend class RegexCompiler;
};

}  // namespace loom::text

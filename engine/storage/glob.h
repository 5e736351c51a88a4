#pragma once
// Glob matching for ListOptions::glob. Hand-written: fnmatch(3) has no '**' or '{a,b}'.

#include <string>
#include <string_view>
#include <vector>

namespace loom::storage {

class Glob {
 public:
  explicit Glob(std::string_view pattern);  // empty pattern matches everything
  // `relativePath` uses '/' separators and no leading '/'.
  bool matches(std::string_view relativePath) const;
  bool empty() const { return m_alternatives.empty(); }

 private:
  std::vector<std::string> m_alternatives;  // braces expanded
  bool m_basenameOnly = false;
};

}  // namespace loom::storage

#pragma once
// Prompt templates: text with {{column}} placeholders (spaces inside the braces allowed), filled
// from a row's values. Parsing checks the syntax; the node checks the names against its input.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/value.h"

namespace loom::inference {

class PromptTemplate {
 public:
  // Errors name the problem and its position: an unclosed "{{", an empty or invalid column name.
  static core::Result<PromptTemplate> parse(std::string_view text);
  // Column names used, in order of first use, without duplicates.
  std::vector<std::string> columns() const;
  // Fills the placeholders; `value` returns the text of a column for this row.
  std::string render(const std::function<std::string(const std::string&)>& value) const;
  bool empty() const { return m_pieces.empty(); }

 private:
  struct Piece {
    bool column = false;
    std::string text;  // literal text, or the column name
  };
  std::vector<Piece> m_pieces;
};

// A value as prompt text: integers and reals as numbers, text as is, null as "", blobs as "<N bytes>".
std::string valueText(const core::Value& v);

}  // namespace loom::inference

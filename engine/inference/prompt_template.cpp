#include "inference/prompt_template.h"

#include <algorithm>
#include <cstdio>

namespace loom::inference {

core::Result<PromptTemplate> PromptTemplate::parse(std::string_view text) {
  PromptTemplate t;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) {
      t.m_pieces.push_back({false, std::string(text.substr(pos))});
      break;
    }
    if (open > pos) t.m_pieces.push_back({false, std::string(text.substr(pos, open - pos))});
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos)
      return core::makeError(core::ErrorKind::InvalidInput,
                             "\"{{\" at character " + std::to_string(open + 1) + " is never closed with \"}}\"");
    std::string_view name = text.substr(open + 2, close - open - 2);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (name.empty() || !(core::isValidColumnName(name) || name == "_row"))
      return core::makeError(core::ErrorKind::InvalidInput,
                             "\"{{" + std::string(name) + "}}\" at character " + std::to_string(open + 1) +
                                 " is not a column name (letters, digits and '_')");
    t.m_pieces.push_back({true, std::string(name)});
    pos = close + 2;
  }
  return t;
}

std::vector<std::string> PromptTemplate::columns() const {
  std::vector<std::string> out;
  for (const auto& p : m_pieces)
    if (p.column && std::find(out.begin(), out.end(), p.text) == out.end()) out.push_back(p.text);
  return out;
}

std::string PromptTemplate::render(const std::function<std::string(const std::string&)>& value) const {
  std::string out;
  for (const auto& p : m_pieces) out += p.column ? value(p.text) : p.text;
  return out;
}

std::string valueText(const core::Value& v) {
  if (std::holds_alternative<int64_t>(v)) return std::to_string(std::get<int64_t>(v));
  if (std::holds_alternative<double>(v)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.15g", std::get<double>(v));
    return buf;
  }
  if (std::holds_alternative<std::string>(v)) return std::get<std::string>(v);
  if (std::holds_alternative<core::BlobValue>(v))
    return "<" + std::to_string(std::get<core::BlobValue>(v).bytes.size()) + " bytes>";
  return {};
}

}  // namespace loom::inference

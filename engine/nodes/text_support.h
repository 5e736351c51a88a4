#pragma once
// Helpers shared by the text and personal-data nodes (text_nodes.cpp, pii_nodes.cpp): checking that a
// parameter names a text column, reading a cell as text.

#include <cstdio>
#include <optional>
#include <string>

#include "core/result.h"
#include "core/value.h"

namespace loom::nodes::textsupport {

// Ok when `column` is in `schema` and may hold text; otherwise an InvalidFlow error naming `param`
// and listing the columns there are.
inline core::Result<void> checkTextColumn(const std::string& param, const std::string& column,
                                          const core::Schema& schema) {
  const int i = schema.indexOf(column);
  if (i < 0) {
    std::string cols;
    for (const auto& c : schema.columns()) cols += (cols.empty() ? "" : ", ") + c.name;
    return core::makeError(core::ErrorKind::InvalidFlow, "parameter '" + param + "': the input has no column '" +
                                                             column + "'; it has: " + cols);
  }
  const auto t = schema[static_cast<size_t>(i)].type;
  if (t == core::ColumnType::Integer || t == core::ColumnType::Real || t == core::ColumnType::Blob)
    return core::makeError(core::ErrorKind::InvalidFlow, "parameter '" + param + "': column '" + column + "' holds " +
                                                             core::columnTypeName(t) + " values, not text");
  return {};
}

enum class Cell { Text, Null, Binary };

// A cell as text: strings as they are, numbers written out; NULL and BLOBs say so.
inline Cell cellText(const core::Value& v, std::string& out) {
  if (std::holds_alternative<std::string>(v)) {
    out = std::get<std::string>(v);
    return Cell::Text;
  }
  if (std::holds_alternative<int64_t>(v)) {
    out = std::to_string(std::get<int64_t>(v));
    return Cell::Text;
  }
  if (std::holds_alternative<double>(v)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.15g", std::get<double>(v));
    out = buf;
    return Cell::Text;
  }
  out.clear();
  return std::holds_alternative<core::BlobValue>(v) ? Cell::Binary : Cell::Null;
}

}  // namespace loom::nodes::textsupport

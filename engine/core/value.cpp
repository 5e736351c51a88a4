#include "core/value.h"

namespace loom::core {

const char* columnTypeName(ColumnType t) {
  switch (t) {
    case ColumnType::Integer: return "integer";
    case ColumnType::Real: return "real";
    case ColumnType::Text: return "text";
    case ColumnType::Blob: return "blob";
    case ColumnType::Any: return "any";
  }
  return "any";
}

std::optional<ColumnType> columnTypeFromName(std::string_view n) {
  if (n == "integer" || n == "int") return ColumnType::Integer;
  if (n == "real" || n == "float") return ColumnType::Real;
  if (n == "text" || n == "string") return ColumnType::Text;
  if (n == "blob") return ColumnType::Blob;
  if (n == "any") return ColumnType::Any;
  return std::nullopt;
}

const char* sqlTypeName(ColumnType t) {
  switch (t) {
    case ColumnType::Integer: return "INTEGER";
    case ColumnType::Real: return "REAL";
    case ColumnType::Text: return "TEXT";
    case ColumnType::Blob: return "BLOB";
    case ColumnType::Any: return "";
  }
  return "";
}

int Schema::indexOf(std::string_view name) const {
  for (size_t i = 0; i < m_columns.size(); ++i)
    if (m_columns[i].name == name) return static_cast<int>(i);
  return -1;
}

void Schema::set(Column c) {
  int i = indexOf(c.name);
  if (i >= 0)
    m_columns[static_cast<size_t>(i)] = std::move(c);
  else
    m_columns.push_back(std::move(c));
}

std::string quoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string quoteLiteral(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

bool isValidColumnName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  if (name[0] == '_' || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace loom::core

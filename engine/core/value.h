#pragma once
// Typed cell values and table schemas. Rows live in the SQLite catalog; these types carry them
// through C++ code (per-row nodes, exports, the CLI) without losing the type.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace loom::core {

enum class ColumnType { Integer, Real, Text, Blob, Any };

const char* columnTypeName(ColumnType t);              // "integer", "real", "text", "blob", "any"
std::optional<ColumnType> columnTypeFromName(std::string_view name);
const char* sqlTypeName(ColumnType t);                 // declared type in SQLite DDL

struct BlobValue {
  std::string bytes;
  bool operator==(const BlobValue&) const = default;
};

// null, integer, real, text, blob: the five SQLite storage classes.
using Value = std::variant<std::monostate, int64_t, double, std::string, BlobValue>;

inline bool isNull(const Value& v) { return std::holds_alternative<std::monostate>(v); }
// The value when it is text; "" for null, numbers and blobs.
inline std::string textOf(const Value& v) {
  return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : std::string();
}

struct Column {
  std::string name;
  ColumnType type = ColumnType::Any;
  std::string doc;
  bool operator==(const Column& o) const { return name == o.name && type == o.type; }
};

class Schema {
 public:
  Schema() = default;
  explicit Schema(std::vector<Column> cols) : m_columns(std::move(cols)) {}
  const std::vector<Column>& columns() const { return m_columns; }
  size_t size() const { return m_columns.size(); }
  const Column& operator[](size_t i) const { return m_columns[i]; }
  // Index of the column, or -1.
  int indexOf(std::string_view name) const;
  bool has(std::string_view name) const { return indexOf(name) >= 0; }
  // Adds the column, or replaces the type of an existing column of that name.
  void set(Column c);
  bool operator==(const Schema& o) const { return m_columns == o.m_columns; }

 private:
  std::vector<Column> m_columns;
};

// Quotes an SQL identifier: name -> "name" with embedded quotes doubled.
std::string quoteIdent(std::string_view name);
// Quotes an SQL string literal: it's -> 'it''s'.
std::string quoteLiteral(std::string_view text);

// Column names users may give: letters, digits, underscore, not starting with a digit, and not
// starting with '_' (reserved for Loom's own columns such as _row and _src).
bool isValidColumnName(std::string_view name);

}  // namespace loom::core

#pragma once
// Values as text for people and files: JSON (blobs as {"base64": …}, non-finite reals as null), plain
// text for tables and CSV cells, and CSV quoting. Shared by `loom-cli show/export` and export.table.

#include <nlohmann/json.hpp>

#include <string>

#include "core/value.h"

namespace loom::core {

nlohmann::json valueToJson(const Value& v);
// Integers and reals as written by printf's %.10g; blobs as "<N bytes>"; null as "".
std::string valueToText(const Value& v);
// JSON text that never throws on invalid UTF-8 (replaced by U+FFFD).
std::string dumpJson(const nlohmann::json& j, int indent = -1);
// A CSV cell (RFC 4180): quoted when it holds a comma, quote or line break.
std::string csvField(const std::string& s);

}  // namespace loom::core

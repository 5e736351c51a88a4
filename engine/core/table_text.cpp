#include "core/table_text.h"

#include <cmath>
#include <cstdio>

namespace loom::core {

nlohmann::json valueToJson(const Value& v) {
  if (std::holds_alternative<int64_t>(v)) return std::get<int64_t>(v);
  if (std::holds_alternative<double>(v)) {
    double d = std::get<double>(v);
    return std::isfinite(d) ? nlohmann::json(d) : nlohmann::json(nullptr);
  }
  if (std::holds_alternative<std::string>(v)) return std::get<std::string>(v);
  if (std::holds_alternative<BlobValue>(v)) {
    // Blobs as base64 so JSON stays text.
    static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const std::string& b = std::get<BlobValue>(v).bytes;
    std::string out;
    for (size_t i = 0; i < b.size(); i += 3) {
      uint32_t n = static_cast<uint8_t>(b[i]) << 16;
      if (i + 1 < b.size()) n |= static_cast<uint8_t>(b[i + 1]) << 8;
      if (i + 2 < b.size()) n |= static_cast<uint8_t>(b[i + 2]);
      out += tbl[(n >> 18) & 63];
      out += tbl[(n >> 12) & 63];
      out += i + 1 < b.size() ? tbl[(n >> 6) & 63] : '=';
      out += i + 2 < b.size() ? tbl[n & 63] : '=';
    }
    return nlohmann::json{{"base64", out}};
  }
  return nullptr;
}

std::string valueToText(const Value& v) {
  if (std::holds_alternative<int64_t>(v)) return std::to_string(std::get<int64_t>(v));
  if (std::holds_alternative<double>(v)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.10g", std::get<double>(v));
    return buf;
  }
  if (std::holds_alternative<std::string>(v)) return std::get<std::string>(v);
  if (std::holds_alternative<BlobValue>(v))
    return "<" + std::to_string(std::get<BlobValue>(v).bytes.size()) + " bytes>";
  return "";
}

std::string dumpJson(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string csvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace loom::core

#include "inference/pricing.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/hash.h"

namespace loom::inference {

namespace detail {
extern const char* const kBuiltinPricingJson;
}

using core::ErrorKind;
using core::makeError;
using nlohmann::json;

bool globMatch(std::string_view p, std::string_view t) {
  size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

core::Result<PriceTable> PriceTable::parse(std::string_view text, const std::string& origin) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return makeError(ErrorKind::InvalidInput, "price table " + origin + " is not a JSON object");
  if (!j.contains("format") || j["format"] != "loom.pricing/1")
    return makeError(ErrorKind::InvalidInput,
                     "price table " + origin + ": \"format\" must be \"loom.pricing/1\"");
  PriceTable t;
  t.m_version = j.contains("version") && j["version"].is_string() ? j["version"].get<std::string>() : "unversioned";
  if (!j.contains("models") || !j["models"].is_array())
    return makeError(ErrorKind::InvalidInput, "price table " + origin + ": \"models\" must be a list");
  int i = 0;
  for (const auto& m : j["models"]) {
    ++i;
    auto where = "price table " + origin + ", model entry " + std::to_string(i);
    if (!m.is_object() || !m.contains("provider") || !m.contains("pattern") || !m.contains("input") ||
        !m["provider"].is_string() || !m["pattern"].is_string() || !m["input"].is_number())
      return makeError(ErrorKind::InvalidInput,
                       where + ": needs \"provider\" and \"pattern\" (strings) and \"input\" (USD per 1M tokens)");
    Price p;
    p.provider = m["provider"];
    p.pattern = m["pattern"];
    auto num = [&](const char* key) -> core::Result<std::optional<double>> {
      if (!m.contains(key)) return std::optional<double>();
      if (!m[key].is_number() || m[key].get<double>() < 0)
        return makeError(ErrorKind::InvalidInput, where + " (" + p.pattern + "): \"" + key +
                                                      "\" must be a number ≥ 0 (USD per 1M tokens)");
      return std::optional<double>(m[key].get<double>());
    };
    for (auto [key, dst] : {std::pair{"input", &p.input}, std::pair{"output", &p.output}}) {
      auto v = num(key);
      if (!v.ok()) return v.error();
      *dst = v.value().value_or(0);
    }
    for (auto [key, dst] : {std::pair{"cached_input", &p.cachedInput}, std::pair{"cache_write", &p.cacheWrite},
                            std::pair{"batch_input", &p.batchInput}, std::pair{"batch_output", &p.batchOutput}}) {
      auto v = num(key);
      if (!v.ok()) return v.error();
      *dst = v.value();
    }
    t.m_prices.push_back(std::move(p));
  }
  return t;
}

const PriceTable& PriceTable::builtin() {
  static const PriceTable table = [] {
    auto t = parse(detail::kBuiltinPricingJson, "built-in");
    return t.ok() ? std::move(t).value() : PriceTable();
  }();
  return table;
}

std::string PriceTable::userFilePath() {
  if (const char* env = std::getenv("LOOM_PRICING"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg)
    return (std::filesystem::path(xdg) / "loom" / "pricing.json").string();
  const char* home = std::getenv("HOME");
  return (std::filesystem::path(home && *home ? home : ".") / ".config" / "loom" / "pricing.json").string();
}

core::Result<PriceTable> PriceTable::load() {
  PriceTable t = builtin();
  const std::string path = userFilePath();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (std::getenv("LOOM_PRICING") && *std::getenv("LOOM_PRICING"))
      return makeError(ErrorKind::NotFound, "price table " + path + " (from $LOOM_PRICING) does not exist");
    return t;
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) return makeError(ErrorKind::Io, "cannot read the price table " + path);
  auto user = parse(ss.str(), path);
  if (!user.ok()) return user.error();
  t.merge(user.value(), "+user:" + core::sha256Hex(ss.str()).substr(0, 12));
  return t;
}

void PriceTable::merge(const PriceTable& other, const std::string& versionSuffix) {
  for (const auto& p : other.m_prices) {
    bool replaced = false;
    for (auto& mine : m_prices)
      if (mine.provider == p.provider && mine.pattern == p.pattern) {
        mine = p;
        replaced = true;
      }
    if (!replaced) m_prices.push_back(p);
  }
  m_version += versionSuffix;
}

std::optional<Price> PriceTable::find(std::string_view provider, std::string_view model) const {
  const Price* best = nullptr;
  for (const auto& p : m_prices)
    if (p.provider == provider && globMatch(p.pattern, model) && (!best || p.pattern.size() > best->pattern.size()))
      best = &p;
  if (!best) return std::nullopt;
  return *best;
}

double PriceTable::cost(const Price& p, const Usage& u, bool batch) {
  const double in = batch && p.batchInput ? *p.batchInput : p.input;
  const double out = batch && p.batchOutput ? *p.batchOutput : p.output;
  const int64_t cached = std::min(u.cachedTokens, u.inputTokens);
  const int64_t written = std::min(u.cacheWriteTokens, u.inputTokens - cached);
  const int64_t plain = u.inputTokens - cached - written;
  double usd = static_cast<double>(plain) * in + static_cast<double>(cached) * p.cachedInput.value_or(in) +
               static_cast<double>(written) * p.cacheWrite.value_or(in) + static_cast<double>(u.outputTokens) * out;
  return usd / 1e6;
}

}  // namespace loom::inference

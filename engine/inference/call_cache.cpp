#include "inference/call_cache.h"

#include "catalog/db.h"
#include "core/feedback.h"
#include "core/hash.h"

namespace loom::inference {

std::string callKey(const std::string& provider, const std::string& url, const std::string& model,
                    const std::string& body, const std::string& etag) {
  return core::Hasher().field("loom.call/1").field(provider).field(url).field(model).field(body).field(etag).hex();
}

std::optional<CachedAnswer> lookupCall(catalog::Db& db, const std::string& key) {
  auto s = db.prepare("SELECT response_json, coalesce(usage_json,''), coalesce(latency_ms,0), cost_usd FROM call_cache"
                      " WHERE request_hash=?");
  s.bind(1, key);
  if (!s.step()) return std::nullopt;
  return CachedAnswer{s.text(0), s.text(1), s.real(2), s.real(3)};
}

void storeCall(catalog::Db& db, const std::string& key, const std::string& provider, const std::string& model,
               const CachedAnswer& a) {
  auto s = db.prepare(
      "INSERT OR REPLACE INTO call_cache(request_hash, provider, model, response_json, usage_json, created_at,"
      " latency_ms, cost_usd) VALUES(?,?,?,?,?,?,?,?)");
  s.bind(1, key).bind(2, provider).bind(3, model).bind(4, a.responseJson);
  if (a.usageJson.empty())
    s.bind(5, nullptr);
  else
    s.bind(5, a.usageJson);
  s.bind(6, core::nowIsoUtc()).bind(7, a.latencyMs).bind(8, a.costUsd);
  s.run();
}

}  // namespace loom::inference

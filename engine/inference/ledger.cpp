#include "inference/ledger.h"

#include "catalog/catalog.h"
#include "core/feedback.h"

namespace loom::inference {

void recordCalls(catalog::Catalog& catalog, int64_t runId, const std::string& nodeId, const std::string& nodeType,
                 const std::vector<CallRecord>& records) {
  if (records.empty()) return;
  auto s = catalog.db().prepare(
      "INSERT INTO model_calls(run_id, node_id, node_type, provider, model, request_hash, input_tokens, output_tokens,"
      " cached_tokens, cost_usd, latency_ms, compute_seconds, attempts, status, cache_hit, request_json,"
      " response_json, error, price_version, created_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  const std::string now = core::nowIsoUtc();
  auto textOrNull = [&](int i, const std::string& v) {
    if (v.empty())
      s.bind(i, nullptr);
    else
      s.bind(i, v);
  };
  for (const auto& r : records) {
    s.reset();
    if (runId > 0)
      s.bind(1, runId);
    else
      s.bind(1, nullptr);
    s.bind(2, nodeId).bind(3, nodeType).bind(4, r.provider).bind(5, r.model).bind(6, r.requestHash);
    s.bind(7, r.inputTokens).bind(8, r.outputTokens).bind(9, r.cachedTokens).bind(10, r.costUsd);
    s.bind(11, r.latencyMs).bind(12, r.computeSeconds).bind(13, r.attempts).bind(14, r.status);
    s.bind(15, r.cacheHit ? 1 : 0);
    textOrNull(16, r.requestJson);
    textOrNull(17, r.responseJson);
    textOrNull(18, r.error);
    textOrNull(19, r.priceVersion);
    s.bind(20, now);
    s.run();
  }
}

}  // namespace loom::inference

#pragma once
// The model-call ledger: one record per model call (API or local), written into the catalog's
// model_calls table in the caller's transaction. Cost is computed by the caller from the usage the
// provider reported (inference/pricing.h) or, for local models, from compute seconds × a rate.
// Prompts and responses are kept for audit; they never contain credentials (requests are recorded
// before headers are added).

#include <cstdint>
#include <string>
#include <vector>

namespace loom::catalog {
class Catalog;
}

namespace loom::inference {

struct CallRecord {
  std::string provider;     // "openai", "anthropic", "local"
  std::string model;        // as sent to the provider, or the local model's name
  std::string requestHash;  // the call-cache key (inference/call_cache.h)
  int64_t inputTokens = 0, outputTokens = 0, cachedTokens = 0;
  double costUsd = 0;
  double latencyMs = 0;       // wall time from first send to answer, retries included
  double computeSeconds = 0;  // local models: CPU time spent on the call
  int attempts = 1;
  std::string status;       // "ok" or "error"
  bool cacheHit = false;    // the answer came from the call cache; nothing was sent
  std::string requestJson;  // the request body as sent (no headers, so no key)
  std::string responseJson; // the response body, or empty
  std::string error;        // for status "error": what went wrong
  std::string priceVersion; // the price table the cost came from
};

// Appends the records. Call inside a transaction when many are written at once.
void recordCalls(catalog::Catalog& catalog, int64_t runId, const std::string& nodeId, const std::string& nodeType,
                 const std::vector<CallRecord>& records);

}  // namespace loom::inference

#pragma once
// The persistent call cache: a model's answer stored under a hash of (provider, endpoint, model,
// rendered request body, input object etag). Re-running a flow, or another flow asking the identical
// question, reads the answer instead of calling; an answer is stored the moment it arrives, so a run
// killed afterwards never pays for it again. Only successful answers are stored.

#include <optional>
#include <string>

namespace loom::catalog {
class Db;
}

namespace loom::inference {

// The cache key. `etag` is the input object's version ("" when the request reads no object).
std::string callKey(const std::string& provider, const std::string& url, const std::string& model,
                    const std::string& body, const std::string& etag);

struct CachedAnswer {
  std::string responseJson;
  std::string usageJson;
  double latencyMs = 0;  // of the original call
  double costUsd = 0;    // what the original call cost
};

std::optional<CachedAnswer> lookupCall(catalog::Db& db, const std::string& key);
// INSERT OR REPLACE; call inside the transaction that records the call in the ledger.
void storeCall(catalog::Db& db, const std::string& key, const std::string& provider, const std::string& model,
               const CachedAnswer& answer);

}  // namespace loom::inference

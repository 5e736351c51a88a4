#pragma once
// The price table: public per-million-token prices of the common OpenAI and Anthropic models
// (resources/pricing.json, compiled in), matched by model-name glob patterns, the longest matching
// pattern winning. Users override or add prices in a file of the same format ($LOOM_PRICING, else
// $XDG_CONFIG_HOME/loom/pricing.json); its entries win over the built-in ones. The table's version
// (with the override file's content hash when there is one) is recorded with each run and call.
// Thread-safety: a PriceTable is immutable once loaded.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace loom::inference {

struct Price {
  std::string provider;  // "openai", "anthropic"
  std::string pattern;   // glob over the model name: "gpt-4o-mini*"
  double input = 0;      // USD per 1M uncached input tokens
  double output = 0;     // USD per 1M output tokens
  std::optional<double> cachedInput;  // per 1M input tokens served from the provider's prompt cache
  std::optional<double> cacheWrite;   // per 1M input tokens written to the prompt cache (Anthropic)
  std::optional<double> batchInput, batchOutput;
};

// Token usage as the provider reported it. inputTokens counts every input token, cached or not.
struct Usage {
  int64_t inputTokens = 0;
  int64_t outputTokens = 0;
  int64_t cachedTokens = 0;      // of inputTokens, read from the provider's prompt cache
  int64_t cacheWriteTokens = 0;  // of inputTokens, written to the prompt cache
};

class PriceTable {
 public:
  // Parses a table in loom.pricing/1 format; errors name `origin` (a file path or "built-in").
  static core::Result<PriceTable> parse(std::string_view json, const std::string& origin);
  // The table compiled into Loom.
  static const PriceTable& builtin();
  // The built-in table with the user's override file applied (when there is one).
  static core::Result<PriceTable> load();
  // $LOOM_PRICING, else $XDG_CONFIG_HOME/loom/pricing.json (~/.config when unset).
  static std::string userFilePath();

  std::optional<Price> find(std::string_view provider, std::string_view model) const;
  const std::string& version() const { return m_version; }
  const std::vector<Price>& prices() const { return m_prices; }
  // Entries of `other` replace entries with the same provider and pattern, others are added.
  void merge(const PriceTable& other, const std::string& versionSuffix);

  // USD for the usage at these prices (batch rates when `batch` and the table has them).
  static double cost(const Price& price, const Usage& usage, bool batch = false);

 private:
  std::string m_version;
  std::vector<Price> m_prices;
};

// Shell-style glob over a whole string: '*' any run, '?' one character.
bool globMatch(std::string_view pattern, std::string_view text);

}  // namespace loom::inference

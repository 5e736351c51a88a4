// model: any body a model API answers with goes through the parser the model nodes use. Properties:
// a refusal says why; a parsed answer's token counts are never negative and its cost at the
// built-in prices is a finite amount >= 0 (a budget must not be undone by an answer); embeddings
// come one per input, each a non-empty vector of finite numbers.

#include <cmath>

#include "fuzz_targets.h"
#include "inference/providers.h"

namespace loom::fuzz {

namespace {

std::string checkUsage(const inference::Usage& u, inference::Provider p, const char* model) {
  if (u.inputTokens < 0 || u.outputTokens < 0 || u.cachedTokens < 0 || u.cacheWriteTokens < 0)
    return "a negative token count";
  const auto price = inference::PriceTable::builtin().find(inference::providerName(p), model);
  if (!price) return std::string("no built-in price for ") + model;
  const double usd = inference::PriceTable::cost(*price, u);
  if (!std::isfinite(usd) || usd < 0) return "a cost that is not a finite amount >= 0: " + std::to_string(usd);
  return {};
}

}  // namespace

Outcome fuzzModel(std::string_view input) {
  Outcome out;
  if (input.empty()) input = std::string_view("\0", 1);
  const unsigned selector = static_cast<unsigned char>(input[0]) % 4;
  std::string_view body = input.substr(1);
  if (selector < 2) {
    const auto provider = selector == 0 ? inference::Provider::OpenAI : inference::Provider::Anthropic;
    auto answer = inference::parseChatAnswer(provider, body);
    if (!answer.ok()) {
      out.error = answer.error().message;
      return out;
    }
    out.accepted = true;
    out.broken = checkUsage(answer->usage, provider,
                            provider == inference::Provider::OpenAI ? "gpt-4o-mini" : "claude-3-5-haiku-latest");
    return out;
  }
  if (selector == 2) {
    const size_t expected = body.empty() ? 1 : static_cast<unsigned char>(body[0]) % 8 + 1;
    if (!body.empty()) body.remove_prefix(1);
    auto answer = inference::parseEmbedAnswer(body, expected);
    if (!answer.ok()) {
      out.error = answer.error().message;
      return out;
    }
    out.accepted = true;
    if (answer->vectors.size() != expected) out.broken = "not one vector per input";
    for (const auto& v : answer->vectors) {
      if (v.empty()) out.broken = "an empty vector";
      for (float x : v) {
        if (!std::isfinite(x)) out.broken = "a vector holding a value that is not a finite number";
      }
    }
    if (out.broken.empty()) out.broken = checkUsage(answer->usage, inference::Provider::OpenAI, "text-embedding-3-small");
    return out;
  }
  // An error body: what the person is shown instead of the answer.
  out.error = inference::providerErrorMessage(body);
  return out;
}

}  // namespace loom::fuzz

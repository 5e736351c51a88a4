#pragma once
// Wire formats of the model APIs Loom calls: OpenAI-compatible chat completions and embeddings
// (OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp server, LM Studio, … through base_url) and
// Anthropic's Messages API. Building a request body and reading an answer are pure functions, so
// they are tested without a server; the HTTP side is in inference/http_caller.h.

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "inference/pricing.h"

namespace loom::inference {

enum class Provider { OpenAI, Anthropic };

const char* providerName(Provider p);  // "openai", "anthropic"
std::optional<Provider> providerFromName(std::string_view name);
// The environment variable a node reads its key from unless it names another.
const char* defaultKeyEnv(Provider p);  // OPENAI_API_KEY, ANTHROPIC_API_KEY
std::string defaultBaseUrl(Provider p); // https://api.openai.com/v1, https://api.anthropic.com/v1

struct ImagePart {
  std::string mime;   // image/jpeg, image/png
  std::string bytes;  // encoded image
  int width = 0, height = 0;
};

struct ChatRequest {
  Provider provider = Provider::OpenAI;
  std::string model;
  std::string system;
  std::string prompt;
  std::vector<ImagePart> images;
  std::optional<nlohmann::json> jsonSchema;  // a JSON Schema the answer must follow
  int maxTokens = 1024;
  std::optional<double> temperature;
};

struct EmbedRequest {
  std::string model;
  std::vector<std::string> inputs;
  std::optional<int> dimensions;
};

// Where a request goes and the headers it needs, without the credential (added by the caller, so
// nothing that is logged or stored ever holds it).
struct Endpoint {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string authHeaderName;        // "Authorization" (value "Bearer <key>"), "x-api-key" or "api-key"
  bool bearer = false;
};

// base_url: the provider's API root (".../v1"); an Azure OpenAI resource
// (https://NAME.openai.azure.com/openai/deployments/DEPLOYMENT) is recognised and gets its api-key
// header and api-version query.
Endpoint chatEndpoint(Provider p, const std::string& baseUrl, const std::string& azureApiVersion = "2024-10-21");
Endpoint embedEndpoint(const std::string& baseUrl, const std::string& azureApiVersion = "2024-10-21");

std::string chatBody(const ChatRequest& r);
std::string embedBody(const EmbedRequest& r);

struct ChatAnswer {
  std::string text;
  Usage usage;
  bool usageReported = false;
  bool cutShort = false;  // stopped at max_tokens
};

struct EmbedAnswer {
  std::vector<std::vector<float>> vectors;  // in input order
  Usage usage;
  bool usageReported = false;
};

// Reads a 2xx answer. A body that is not JSON or lacks the answer is a Corrupt error saying what was
// missing; never throws.
core::Result<ChatAnswer> parseChatAnswer(Provider p, std::string_view body);
core::Result<EmbedAnswer> parseEmbedAnswer(std::string_view body, size_t expected);

// The provider's own message from an error body ("error.message"), or a short excerpt of the body.
std::string providerErrorMessage(std::string_view body);

// Rough token counts for estimates before a call is sent (budgets, dry runs): ~3 characters per
// token for text (conservative for English, whose average is ~4), width×height/750 per image.
int64_t estimateTextTokens(std::string_view text);
int64_t estimateImageTokens(int width, int height);

// Removes anything that looks like a credential from text that may be logged or stored: `secret`
// itself and strings shaped like API keys ("sk-…", "sk-ant-…", "Bearer …").
std::string redactSecrets(std::string text, std::string_view secret = {});

// Flow files are data a person may have been sent, so a key leaves this machine only for a host the
// person trusts: the provider's own API host, or one listed in $LOOM_TRUSTED_MODEL_HOSTS (comma
// separated; "host", "host:port" or "*.domain"). Empty `url`: the provider's own. On refusal,
// `why` says which host and how to trust it.
bool keyMayBeSentTo(Provider p, const std::string& url, std::string* why = nullptr);

// Whether a flow's api_key_env may name this variable: not one of the storage credentials Loom
// itself reads (AWS_SECRET_ACCESS_KEY, AZURE_STORAGE_KEY, …), which must never go to a model API.
bool isModelKeyVariable(const std::string& name);

}  // namespace loom::inference

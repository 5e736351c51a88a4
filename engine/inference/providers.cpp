#include "inference/providers.h"

#include <algorithm>
#include <cstdlib>
#include <cctype>
#include <cmath>
#include <limits>

#include "storage/net_guard.h"

namespace loom::inference {

using core::ErrorKind;
using core::makeError;
using nlohmann::json;

namespace {

std::string base64(std::string_view in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < in.size()) {
    uint32_t n = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) n |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string trimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

bool isAzure(const std::string& baseUrl) { return baseUrl.find(".openai.azure.com") != std::string::npos; }

// A token count from an answer, or 0. Clamped to [0, 10^12]: a server is not trusted to send sane
// numbers, and a negative count would make a call's cost negative (undoing spending against the
// budget) while summing huge ones overflowed.
int64_t intOr(const json& j, const char* key) {
  constexpr int64_t kMaxTokens = 1'000'000'000'000;
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_unsigned()) return static_cast<int64_t>(std::min<uint64_t>(it->get<uint64_t>(), kMaxTokens));
  if (it->is_number_integer()) return std::clamp<int64_t>(it->get<int64_t>(), 0, kMaxTokens);
  return 0;
}

// j[key] when it is a string, else "". (json::value throws when the key holds another type, and an
// answer's types are the server's choice.)
std::string stringOr(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The error a provider (or a proxy in front of it) put in a 2xx body, or "".
std::string errorInAnswer(const json& j) {
  auto e = j.find("error");
  if (e == j.end()) return {};
  if (e->is_string()) return e->get<std::string>();
  if (e->is_object()) {
    auto m = e->find("message");
    return m != e->end() && m->is_string() ? m->get<std::string>() : e->dump().substr(0, 200);
  }
  return {};
}

}  // namespace

const char* providerName(Provider p) { return p == Provider::OpenAI ? "openai" : "anthropic"; }

std::optional<Provider> providerFromName(std::string_view name) {
  if (name == "openai") return Provider::OpenAI;
  if (name == "anthropic") return Provider::Anthropic;
  return std::nullopt;
}

const char* defaultKeyEnv(Provider p) { return p == Provider::OpenAI ? "OPENAI_API_KEY" : "ANTHROPIC_API_KEY"; }

std::string defaultBaseUrl(Provider p) {
  return p == Provider::OpenAI ? "https://api.openai.com/v1" : "https://api.anthropic.com/v1";
}

Endpoint chatEndpoint(Provider p, const std::string& baseUrl, const std::string& azureApiVersion) {
  Endpoint e;
  std::string base = trimSlash(baseUrl.empty() ? defaultBaseUrl(p) : baseUrl);
  e.headers = {"Content-Type: application/json", "Accept: application/json"};
  if (p == Provider::Anthropic) {
    e.url = base + "/messages";
    e.headers.push_back("anthropic-version: 2023-06-01");
    e.authHeaderName = "x-api-key";
  } else if (isAzure(base)) {
    e.url = base + "/chat/completions?api-version=" + azureApiVersion;
    e.authHeaderName = "api-key";
  } else {
    e.url = base + "/chat/completions";
    e.authHeaderName = "Authorization";
    e.bearer = true;
  }
  return e;
}

Endpoint embedEndpoint(const std::string& baseUrl, const std::string& azureApiVersion) {
  Endpoint e = chatEndpoint(Provider::OpenAI, baseUrl, azureApiVersion);
  std::string base = trimSlash(baseUrl.empty() ? defaultBaseUrl(Provider::OpenAI) : baseUrl);
  e.url = isAzure(base) ? base + "/embeddings?api-version=" + azureApiVersion : base + "/embeddings";
  return e;
}

std::string chatBody(const ChatRequest& r) {
  json body = {{"model", r.model}};
  if (r.provider == Provider::OpenAI) {
    json content;
    if (r.images.empty()) {
      content = r.prompt;
    } else {
      content = json::array({{{"type", "text"}, {"text", r.prompt}}});
      for (const auto& img : r.images)
        content.push_back({{"type", "image_url"},
                           {"image_url", {{"url", "data:" + img.mime + ";base64," + base64(img.bytes)}}}});
    }
    json messages = json::array();
    if (!r.system.empty()) messages.push_back({{"role", "system"}, {"content", r.system}});
    messages.push_back({{"role", "user"}, {"content", content}});
    body["messages"] = messages;
    body["max_tokens"] = r.maxTokens;
    if (r.jsonSchema)
      body["response_format"] = {{"type", "json_schema"},
                                 {"json_schema", {{"name", "answer"}, {"schema", *r.jsonSchema}, {"strict", true}}}};
  } else {
    json content = json::array();
    for (const auto& img : r.images)
      content.push_back({{"type", "image"},
                         {"source", {{"type", "base64"}, {"media_type", img.mime}, {"data", base64(img.bytes)}}}});
    content.push_back({{"type", "text"}, {"text", r.prompt}});
    body["max_tokens"] = r.maxTokens;
    if (!r.system.empty()) body["system"] = r.system;
    body["messages"] = json::array({{{"role", "user"}, {"content", content}}});
    if (r.jsonSchema) {
      // Structured output on the Messages API: one tool whose input schema is the answer's, and the
      // model is made to call it; the answer is the tool call's input.
      body["tools"] = json::array({{{"name", "answer"},
                                    {"description", "Record the answer. Its input is the whole answer."},
                                    {"input_schema", *r.jsonSchema}}});
      body["tool_choice"] = {{"type", "tool"}, {"name", "answer"}};
    }
  }
  if (r.temperature) body["temperature"] = *r.temperature;
  return body.dump();
}

std::string embedBody(const EmbedRequest& r) {
  json body = {{"model", r.model}, {"input", r.inputs}, {"encoding_format", "float"}};
  if (r.dimensions) body["dimensions"] = *r.dimensions;
  return body.dump();
}

core::Result<ChatAnswer> parseChatAnswer(Provider p, std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return makeError(ErrorKind::Corrupt, "the answer is not JSON (" + std::to_string(body.size()) + " bytes)");
  if (const std::string e = errorInAnswer(j); !e.empty())
    return makeError(ErrorKind::Corrupt, "the answer is an error, not a completion: " + redactSecrets(e));
  ChatAnswer a;
  if (p == Provider::OpenAI) {
    auto choices = j.find("choices");
    if (choices == j.end() || !choices->is_array() || choices->empty() || !(*choices)[0].is_object())
      return makeError(ErrorKind::Corrupt, "the answer has no choices");
    const json& c = (*choices)[0];
    auto msg = c.find("message");
    if (msg == c.end() || !msg->is_object()) return makeError(ErrorKind::Corrupt, "the answer's choice has no message");
    auto content = msg->find("content");
    if (content != msg->end() && content->is_string()) {
      a.text = content->get<std::string>();
    } else if (auto refusal = msg->find("refusal"); refusal != msg->end() && refusal->is_string()) {
      return makeError(ErrorKind::InvalidInput, "the model refused: " + refusal->get<std::string>());
    } else {
      return makeError(ErrorKind::Corrupt, "the answer's message has no text content");
    }
    a.cutShort = stringOr(c, "finish_reason") == "length";
    if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
      a.usageReported = true;
      a.usage.inputTokens = intOr(*u, "prompt_tokens");
      a.usage.outputTokens = intOr(*u, "completion_tokens");
      if (auto d = u->find("prompt_tokens_details"); d != u->end() && d->is_object())
        a.usage.cachedTokens = intOr(*d, "cached_tokens");
    }
  } else {
    auto content = j.find("content");
    if (content == j.end() || !content->is_array())
      return makeError(ErrorKind::Corrupt, "the answer has no content list");
    bool any = false;
    for (const auto& block : *content) {
      if (!block.is_object()) continue;
      const std::string type = stringOr(block, "type");
      if (type == "tool_use" && block.contains("input") && block["input"].is_object()) {
        a.text = block["input"].dump();  // structured output: the forced tool call's input
        any = true;
        break;
      }
      if (type == "text" && block.contains("text") && block["text"].is_string()) {
        a.text += block["text"].get<std::string>();
        any = true;
      }
    }
    if (!any) return makeError(ErrorKind::Corrupt, "the answer has no text or tool_use block");
    a.cutShort = stringOr(j, "stop_reason") == "max_tokens";
    if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
      a.usageReported = true;
      // Anthropic counts uncached input apart from cache reads and writes; Usage counts them all.
      a.usage.cachedTokens = intOr(*u, "cache_read_input_tokens");
      a.usage.cacheWriteTokens = intOr(*u, "cache_creation_input_tokens");
      a.usage.inputTokens = intOr(*u, "input_tokens") + a.usage.cachedTokens + a.usage.cacheWriteTokens;
      a.usage.outputTokens = intOr(*u, "output_tokens");
    }
  }
  return a;
}

core::Result<EmbedAnswer> parseEmbedAnswer(std::string_view body, size_t expected) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return makeError(ErrorKind::Corrupt, "the answer is not JSON (" + std::to_string(body.size()) + " bytes)");
  if (const std::string e = errorInAnswer(j); !e.empty())
    return makeError(ErrorKind::Corrupt, "the answer is an error, not embeddings: " + redactSecrets(e));
  auto data = j.find("data");
  if (data == j.end() || !data->is_array()) return makeError(ErrorKind::Corrupt, "the answer has no data list");
  EmbedAnswer a;
  a.vectors.resize(expected);
  size_t seen = 0;
  for (const auto& item : *data) {
    if (!item.is_object() || !item.contains("embedding") || !item["embedding"].is_array())
      return makeError(ErrorKind::Corrupt, "an item of the answer has no embedding");
    size_t index = item.contains("index") && item["index"].is_number_unsigned() ? item["index"].get<size_t>() : seen;
    if (index >= expected) return makeError(ErrorKind::Corrupt, "the answer has an embedding for an input never sent");
    auto& v = a.vectors[index];
    v.clear();
    for (const auto& x : item["embedding"]) {
      if (!x.is_number()) return makeError(ErrorKind::Corrupt, "an embedding holds a value that is not a number");
      // Outside float's range the value would become infinity, and every distance to it NaN.
      const double d = x.get<double>();
      if (!(std::fabs(d) <= std::numeric_limits<float>::max()))
        return makeError(ErrorKind::Corrupt, "an embedding holds " + x.dump() + ", too large for a 32-bit float");
      v.push_back(static_cast<float>(d));
    }
    ++seen;
  }
  for (const auto& v : a.vectors)
    if (v.empty())
      return makeError(ErrorKind::Corrupt, "the answer has " + std::to_string(seen) + " embeddings for " +
                                               std::to_string(expected) + " inputs");
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
    a.usageReported = true;
    a.usage.inputTokens = intOr(*u, "prompt_tokens");
  }
  return a;
}

std::string providerErrorMessage(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    // The provider's own words; an empty message (seen from proxies) falls back to the error's type
    // and code, which still say more than nothing.
    auto blank = [](const std::string& t) { return t.find_first_not_of(" \t\r\n") == std::string::npos; };
    std::string text;
    if (auto e = j.find("error"); e != j.end() && e->is_object()) {
      text = stringOr(*e, "message");
      if (blank(text)) {
        text = stringOr(*e, "type");
        if (const std::string code = stringOr(*e, "code"); !blank(code)) text += (blank(text) ? "" : " ") + code;
      }
    } else if (e != j.end() && e->is_string()) {
      text = e->get<std::string>();
    }
    if (blank(text)) text = stringOr(j, "message");
    if (!blank(text)) return redactSecrets(text);
  }
  std::string excerpt(body.substr(0, 200));
  std::replace(excerpt.begin(), excerpt.end(), '\n', ' ');
  return redactSecrets(excerpt.empty() ? "(empty body)" : excerpt);
}

int64_t estimateTextTokens(std::string_view text) { return static_cast<int64_t>(text.size() + 2) / 3; }

int64_t estimateImageTokens(int width, int height) {
  return std::max<int64_t>(85, static_cast<int64_t>(std::ceil(double(width) * double(height) / 750.0)));
}

std::string redactSecrets(std::string text, std::string_view secret) {
  static constexpr std::string_view kRedacted = "[redacted]";
  if (secret.size() >= 4) {
    // Search on after each replacement: a secret found inside "[redacted]" must not loop forever.
    for (size_t pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + kRedacted.size()))
      text.replace(pos, secret.size(), kRedacted);
  }
  // Hand-written rather than std::regex: libstdc++'s regex recurses once per character matched, so
  // a long key-like run in an error body (any size a server sends) overflowed the stack.
  // Key-like: "sk-" and 6+ of [A-Za-z0-9_*-], or "Bearer", whitespace and 8+ of [A-Za-z0-9._-].
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  auto run = [&](size_t from, auto&& allowed) {
    while (from < text.size() && allowed(text[from])) ++from;
    return from;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 3, "sk-") == 0) {
      const size_t end = run(i + 3, [&](char c) { return alnum(c) || c == '_' || c == '-' || c == '*'; });
      if (end - (i + 3) >= 6) {
        out += kRedacted;
        i = end;
        continue;
      }
    }
    if (text.compare(i, 6, "Bearer") == 0) {
      const size_t token = run(i + 6, [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; });
      const size_t end = run(token, [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
      if (token > i + 6 && end - token >= 8) {
        out += kRedacted;
        i = end;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

bool keyMayBeSentTo(Provider p, const std::string& url, std::string* why) {
  if (url.empty()) return true;
  const auto hp = storage::net::urlHostPort(url);
  if (!hp) {
    if (why) *why = "base_url '" + url.substr(0, url.find('?')) + "' is not a URL";
    return false;
  }
  const auto& [host, port] = *hp;
  const auto own = storage::net::urlHostPort(defaultBaseUrl(p));
  if (own && own->first == host && port == 443 && url.rfind("https://", 0) == 0) return true;
  const char* list = std::getenv("LOOM_TRUSTED_MODEL_HOSTS");
  if (storage::net::HostList::parse(list ? list : "").matchesHost(host, port)) return true;
  if (why) {
    *why = "the key is not sent to " + host + ":" + std::to_string(port) +
           ", which this flow names in base_url: flows are data and may come from anyone. If you trust that "
           "server, add it to LOOM_TRUSTED_MODEL_HOSTS (e.g. LOOM_TRUSTED_MODEL_HOSTS=" + host + ")";
  }
  return false;
}

bool isModelKeyVariable(const std::string& name) {
  static const char* const kStorage[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                         "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN",
                                         "AZURE_STORAGE_CONNECTION_STRING", "GS_ACCESS_KEY_ID",
                                         "GS_SECRET_ACCESS_KEY"};
  for (const char* k : kStorage) {
    if (name == k) return false;
  }
  return !name.empty();
}

}  // namespace loom::inference

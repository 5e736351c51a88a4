// Model nodes that call APIs: model.llm (a prompt per row), model.vision (a prompt and the row's image)
// and model.embed (vectors). Each row's request is rendered on the worker pool, looked up in the call
// cache, and only the misses are sent (concurrently, rate-limited, retried; inference/http_caller.h).
// Every answer is stored in the call cache and the ledger the moment it arrives, so a run killed
// afterwards pays for nothing twice. A flow names the environment variable that holds the key, never
// the key.

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <regex>

#include "catalog/catalog.h"
#include "inference/call_cache.h"
#include "inference/http_caller.h"
#include "inference/ledger.h"
#include "inference/pricing.h"
#include "inference/prompt_template.h"
#include "inference/providers.h"
#include "inference/spend.h"
#include "media/thumbnail.h"
#include "nodes/builtin_provider.h"
#include "storage/http_client.h"
#include "storage/net_guard.h"
#include "storage/storage.h"

namespace loom::nodes {

using core::ColumnType;
using core::ErrorKind;
using core::makeError;
using core::RunError;
using nlohmann::json;
using namespace loom::inference;

namespace {

using core::textOf;

// How calls are made: shared by every API model node.
std::vector<ParamSpec> callingParams() {
  return {
      {"base_url", ParamType::String,
       "API root when not the provider's own: an OpenAI-compatible server (Ollama http://localhost:11434/v1, vLLM, "
       "llama.cpp server, LM Studio) or an Azure OpenAI deployment (https://NAME.openai.azure.com/openai/deployments/D)",
       false, ""},
      {"api_key_env", ParamType::String,
       "name of the environment variable holding the key (default OPENAI_API_KEY / ANTHROPIC_API_KEY); the key "
       "itself never goes into a flow",
       false, ""},
      intParam("concurrency", "calls in flight at once", 16, 1, 512),
      numberParam("rpm", "requests per minute this node may send (0: only the provider's rate-limit headers)", 0, 0, 1e7),
      numberParam("tpm", "tokens per minute this node may send (0: only the provider's headers)", 0, 0, 1e10),
      intParam("max_attempts", "attempts per call before the row gets the error (429, 5xx, timeouts are retried)", 4, 1,
               20),
      numberParam("timeout_seconds", "time one attempt may take", 120, 0.1, 3600),
      numberParam("retry_base_seconds", "first retry delay; doubles per attempt with full jitter, Retry-After honoured",
               0.5, 0, 60),
  };
}

const std::regex& keyLike() {
  static const std::regex re(R"((^|[^A-Za-z0-9])(sk-[A-Za-z0-9_\-]{16,}|sk-ant-[A-Za-z0-9_\-]{16,}))");
  return re;
}

// Flows are data that people share: refuse anything that looks like a credential in them.
std::optional<std::string> secretCheck(const Params& p) {
  for (auto it = p.begin(); it != p.end(); ++it) {
    if (!it.value().is_string()) continue;
    if (std::regex_search(it.value().get<std::string>(), keyLike()))
      return "parameter '" + it.key() +
             "' looks like an API key. A flow must not hold secrets: put the key in an environment variable and "
             "name it in api_key_env";
  }
  std::string env = p.value("api_key_env", std::string());
  static const std::regex envName("^[A-Za-z_][A-Za-z0-9_]*$");
  if (!env.empty() && !std::regex_match(env, envName))
    return "parameter 'api_key_env' must name an environment variable (letters, digits, '_'), e.g. OPENAI_API_KEY";
  return std::nullopt;
}

core::Result<void> checkTemplate(const std::string& param, const std::string& tmpl, const core::Schema& input) {
  auto t = PromptTemplate::parse(tmpl);
  if (!t.ok()) return makeError(ErrorKind::InvalidFlow, "parameter '" + param + "': " + t.error().message);
  for (const auto& c : t->columns())
    if (!input.has(c)) {
      std::string cols;
      for (const auto& col : input.columns()) cols += (cols.empty() ? "" : ", ") + col.name;
      return makeError(ErrorKind::InvalidFlow, "parameter '" + param + "' uses {{" + c +
                                                   "}}, but the input has no such column; it has: " + cols);
    }
  return {};
}

// Checks every API model node makes: no secret in the flow, a model named, templates that only use
// columns the input has.
core::Result<void> checkApiNode(const Params& p, const core::Schema& input, const std::string& exampleModel,
                                std::initializer_list<const char*> templates) {
  if (auto bad = secretCheck(p)) return makeError(ErrorKind::InvalidFlow, *bad);
  if (p.value("model", std::string()).empty())
    return makeError(ErrorKind::InvalidFlow, "parameter 'model' is empty; name the model, e.g. " + exampleModel);
  // Only a web server: a file:// or other scheme would have the request read or sent somewhere else.
  if (const std::string base = p.value("base_url", std::string()); !base.empty()) {
    const bool web = base.rfind("http://", 0) == 0 || base.rfind("https://", 0) == 0;
    const auto hostPort = storage::net::urlHostPort(base);
    if (!web || !hostPort || hostPort->first.empty())
      return makeError(ErrorKind::InvalidFlow, "parameter 'base_url': '" + storage::http::urlForDisplay(base) +
                                                   "' is not an http:// or https:// URL with a host, e.g. "
                                                   "http://localhost:11434/v1");
  }
  for (const char* t : templates)
    if (auto r = checkTemplate(t, p.value(t, std::string()), input); !r.ok()) return r.error();
  return {};
}

core::Result<void> checkOutputName(const std::string& name, const core::Schema& input) {
  if (!core::isValidColumnName(name))
    return makeError(ErrorKind::InvalidFlow, "parameter 'output': '" + name +
                                                 "' is not a column name (letters, digits and '_', not first)");
  if (input.has(name))
    return makeError(ErrorKind::InvalidFlow, "parameter 'output': the input already has a column '" + name +
                                                 "'; pick another name so it is not overwritten");
  return {};
}

// Everything a node needs to call its provider, resolved when it starts running.
struct CallSetup {
  Provider provider = Provider::OpenAI;
  std::string model, keyEnv, key;
  std::string keyWithheld;  // why the key was not sent (an untrusted base_url), for 401 messages
  Endpoint endpoint;
  std::optional<Price> price;
  std::string priceVersion;
  CallerOptions options;
  std::string what;  // "node 'x' (openai gpt-4o-mini)"

  std::vector<std::string> headers() const {
    std::vector<std::string> h = endpoint.headers;
    if (!key.empty()) h.push_back(endpoint.authHeaderName + ": " + (endpoint.bearer ? "Bearer " : "") + key);
    return h;
  }
};

CallSetup resolveSetup(const Params& p, ExecContext& ctx, Provider provider, bool embed) {
  CallSetup s;
  s.provider = provider;
  s.model = p.at("model").get<std::string>();
  const std::string baseUrl = p.value("base_url", std::string());
  s.endpoint = embed ? embedEndpoint(baseUrl) : chatEndpoint(provider, baseUrl);
  s.what = "node '" + ctx.nodeId() + "' (" + providerName(provider) + " " + s.model + ")";
  s.keyEnv = p.value("api_key_env", std::string());
  if (s.keyEnv.empty()) s.keyEnv = defaultKeyEnv(provider);
  if (!isModelKeyVariable(s.keyEnv)) {
    throw RunError(ErrorKind::InvalidFlow, s.what + ": api_key_env names " + s.keyEnv +
                                               ", a storage credential, which never goes to a model API; keep the "
                                               "model key in its own variable such as " + defaultKeyEnv(provider));
  }
  const char* key = std::getenv(s.keyEnv.c_str());
  if (key && *key) {
    s.key = key;
  } else if (baseUrl.empty()) {
    throw RunError(ErrorKind::InvalidInput, s.what + ": the environment variable " + s.keyEnv +
                                                " is not set; set it to your " + providerName(provider) +
                                                " API key, or name another variable in api_key_env");
  }  // a base_url server (Ollama, vLLM) may need no key
  if (std::string why; !s.key.empty() && !keyMayBeSentTo(provider, baseUrl, &why)) {
    ctx.feedback().warning(s.what + ": " + why);
    s.key.clear();
    s.keyWithheld = why;
  }
  auto table = PriceTable::load();
  if (!table.ok()) throw RunError(ErrorKind::InvalidInput, table.error().message);
  s.price = table->find(providerName(provider), s.model);
  s.priceVersion = table->version();
  if (!s.price) {
    if (ctx.spend().budget() && baseUrl.empty())
      throw RunError(ErrorKind::InvalidInput,
                     s.what + ": the price table (version " + s.priceVersion + ") has no price for " + s.model +
                         ", so a budget cannot be kept; add it to " + PriceTable::userFilePath() +
                         " or run without --budget-usd");
    ctx.feedback().info(s.what + ": no price for this model in the price table; its calls are recorded at $0");
  }
  s.options.concurrency = static_cast<int>(p.value("concurrency", int64_t{16}));
  s.options.rpm = p.value("rpm", 0.0);
  s.options.tpm = p.value("tpm", 0.0);
  s.options.maxAttempts = static_cast<int>(p.value("max_attempts", int64_t{4}));
  s.options.timeoutSeconds = p.value("timeout_seconds", 120.0);
  s.options.retryBaseSeconds = p.value("retry_base_seconds", 0.5);
  return s;
}

// A row error for a call that ended without a usable answer. Never holds the key.
std::string failureMessage(const CallSetup& s, const CallOutcome& o) {
  std::string attempts = " after " + std::to_string(o.attempts) + " attempt" + (o.attempts == 1 ? "" : "s");
  if (!o.transportError.empty())
    return s.what + ": no complete answer from " + s.endpoint.url.substr(0, s.endpoint.url.find('?')) + attempts +
           ": " + redactSecrets(o.transportError, s.key);
  std::string msg = s.what + ": HTTP " + std::to_string(o.status) + attempts + ": " +
                    redactSecrets(providerErrorMessage(o.body), s.key);
  if ((o.status == 401 || o.status == 403) && !s.keyWithheld.empty()) msg += " (" + s.keyWithheld + ")";
  else if (o.status == 401 || o.status == 403)
    msg += " (the key came from $" + s.keyEnv + "; check that it is valid for this " +
           (o.status == 403 ? "model and action)" : "provider)");
  if (o.status == 404) msg += " (check the model name and base_url)";
  return msg;
}

std::string usageJson(const Usage& u) {
  return json{{"input_tokens", u.inputTokens}, {"output_tokens", u.outputTokens}, {"cached_tokens", u.cachedTokens},
              {"cache_write_tokens", u.cacheWriteTokens}}
      .dump();
}

Usage usageFromJson(const std::string& s) {
  Usage u;
  json j = json::parse(s, nullptr, false);
  if (!j.is_object()) return u;
  u.inputTokens = j.value("input_tokens", int64_t{0});
  u.outputTokens = j.value("output_tokens", int64_t{0});
  u.cachedTokens = j.value("cached_tokens", int64_t{0});
  u.cacheWriteTokens = j.value("cache_write_tokens", int64_t{0});
  return u;
}

CallRecord baseRecord(const CallSetup& s, const std::string& key) {
  CallRecord r;
  r.provider = providerName(s.provider);
  r.model = s.model;
  r.requestHash = key;
  r.priceVersion = s.priceVersion;
  return r;
}

// ---------------------------------------------------------------------------------------------------
// model.llm and model.vision

class ChatNode : public NodeType {
 public:
  explicit ChatNode(bool vision) : m_vision(vision) {}
  std::string id() const override { return m_vision ? "model.vision" : "model.llm"; }
  std::string category() const override { return "Models"; }
  std::string title() const override { return m_vision ? "Vision model" : "Language model"; }
  std::string doc() const override {
    return std::string(m_vision ? "Asks a vision model about each row's image (resized to image_size and sent as a "
                                  "base64 data URL) with a prompt. "
                                : "Asks a language model one prompt per row. ") +
           "The prompt is a template: {{column}} is replaced by the row's value. provider openai covers every "
           "OpenAI-compatible API (OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp server, LM Studio via base_url); "
           "anthropic is the Messages API. With json_schema the answer is a JSON object whose top-level properties "
           "also become columns. Answers are cached: the same request (provider, endpoint, model, rendered request, "
           "input object version) is never paid for twice. Each call is recorded in the ledger with its tokens and "
           "cost; a failed call (after retries) becomes the row's error." +
           std::string(m_vision ? "" : " With refuse_pii, rows in which pii.detect found personal data are not sent.");
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec provider{"provider", ParamType::Enum, "openai (and OpenAI-compatible servers) or anthropic", false,
                       "openai"};
    provider.choices = {"openai", "anthropic"};
    std::vector<ParamSpec> ps = {
        provider,
        {"model", ParamType::String, "model name as the provider knows it, e.g. gpt-4o-mini, claude-haiku-4-5", true},
        {"prompt", ParamType::String, "the user message; {{column}} inserts the row's value", true},
        {"system", ParamType::String, "system prompt; {{column}} allowed", false, ""},
        {"output", ParamType::String, "column for the answer", false, "answer"},
        {"json_schema", ParamType::String,
         "a JSON Schema (as text) the answer must follow; its top-level properties become columns", false, ""},
        intParam("max_tokens", "most tokens the answer may have (also bounds the cost reserved against a budget)",
                 1024, 1, 1000000),
        numberParam("temperature", "sampling temperature (provider default when absent)", 0, 0, 2),
    };
    ps.back().defaultValue = nullptr;
    if (!m_vision) {
      // No default value, so that flows without it keep their node hashes (and cached outputs).
      ps.push_back({"refuse_pii", ParamType::Boolean,
                    "true: rows whose pii_count (from pii.detect upstream) is over 0 are not sent; they get the "
                    "error \"personal data found by pii.detect (types); not sent\" and cost nothing. Default false",
                    false});
    }
    if (m_vision) {
      ps.push_back({"image", ParamType::String, "column holding the image's object URI", false, "uri"});
      ps.push_back(intParam("image_size", "longest side of the image sent, in pixels", 768, 64, 4096));
    }
    for (auto& c : callingParams()) ps.push_back(std::move(c));
    return ps;
  }

  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    if (auto r = checkApiNode(p, in[0], "gpt-4o-mini", {"prompt", "system"}); !r.ok()) return r.error();
    const std::string output = p.value("output", std::string("answer"));
    if (auto r = checkOutputName(output, in[0]); !r.ok()) return r.error();
    if (m_vision && !in[0].has(p.value("image", std::string("uri"))))
      return makeError(ErrorKind::InvalidFlow, "parameter 'image': the input has no column '" +
                                                   p.value("image", std::string("uri")) +
                                                   "'; name the column holding the image's URI");
    if (p.value("refuse_pii", false) && !in[0].has("pii_count"))
      return makeError(ErrorKind::InvalidFlow, "parameter 'refuse_pii': the input has no pii_count column; put "
                                               "pii.detect before this node (or pii.redact to send redacted text)");
    core::Schema s = in[0];
    s.set({output, ColumnType::Text, "the model's answer (JSON text with json_schema)"});
    s.set({output + "_call", ColumnType::Text, "the call's request hash: its record in the ledger and the call cache"});
    s.set({output + "_cost", ColumnType::Real, "USD this row's call cost in this run (0 when served from the cache)"});
    auto schema = jsonSchema(p);
    if (!schema.ok()) return schema.error();
    if (*schema) {
      for (const auto& [name, prop] : (**schema)["properties"].items()) {
        if (!core::isValidColumnName(name) || in[0].has(name) || s.has(name))
          return makeError(ErrorKind::InvalidFlow, "parameter 'json_schema': property '" + name +
                                                       "' cannot become a column (not a column name, or the table "
                                                       "already has it); rename the property");
        s.set({name, columnTypeFor(prop), "from the answer's JSON"});
      }
    }
    s.set({"error", ColumnType::Text, "why the row has no answer (or failed upstream); null when fine"});
    return s;
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    const Provider provider = *providerFromName(p.value("provider", std::string("openai")));
    const CallSetup setup = resolveSetup(p, ctx, provider, false);
    const auto prompt = PromptTemplate::parse(p.at("prompt").get<std::string>()).orThrow();
    const auto system = PromptTemplate::parse(p.value("system", std::string())).orThrow();
    const auto schema = jsonSchema(p).orThrow();
    const int maxTokens = static_cast<int>(p.value("max_tokens", int64_t{1024}));
    std::optional<double> temperature;
    if (p.contains("temperature") && p["temperature"].is_number()) temperature = p["temperature"].get<double>();
    const int imageSize = static_cast<int>(p.value("image_size", int64_t{768}));
    const core::Schema& out = ctx.outputSchema();
    const std::string output = p.value("output", std::string("answer"));
    const int iOut = out.indexOf(output), iCall = out.indexOf(output + "_call"), iCost = out.indexOf(output + "_cost"),
              iErr = out.indexOf("error"), iImage = m_vision ? out.indexOf(p.value("image", std::string("uri"))) : -1,
              iEtag = out.indexOf("etag"), iSize = out.indexOf("size"), iMime = out.indexOf("mime");
    std::vector<std::pair<std::string, int>> props;
    if (schema)
      for (const auto& [name, prop] : (*schema)["properties"].items()) props.emplace_back(name, out.indexOf(name));
    const media::MediaLimits limits;
    auto& db = ctx.catalog().db();
    const bool refusePii = p.value("refuse_pii", false);
    const int iPiiCount = out.indexOf("pii_count"), iPiiTypes = out.indexOf("pii_types");

    struct Slot {
      std::string body, audit, key;
      int64_t estTokens = 0;
      double reserve = 0;
      bool pending = false;
    };
    std::vector<Slot> slots;
    const RowBuffer* base = nullptr;
    HttpCaller caller(setup.options, ctx.feedback(), &ctx.spend(), setup.what);
    auto colText = [&](const RowBuffer& row) {
      return [&row, &out](const std::string& c) { return valueText(row.values[static_cast<size_t>(out.indexOf(c))]); };
    };
    auto fail = [&](RowBuffer& row, const std::string& msg) {
      row.values[static_cast<size_t>(iErr)] = msg;
      row.done = true;
    };
    // Fills the row from an answer body; false (and the row's error) when the answer is unusable.
    auto apply = [&](RowBuffer& row, const std::string& body, const std::string& key, double cost) {
      auto answer = parseChatAnswer(provider, body);
      if (!answer.ok()) {
        fail(row, setup.what + ": the answer could not be read: " + answer.error().message);
        return false;
      }
      auto& v = row.values;
      v[static_cast<size_t>(iCall)] = key;
      v[static_cast<size_t>(iCost)] = cost;
      if (!schema) {
        v[static_cast<size_t>(iOut)] = answer->text;
        return true;
      }
      json j = json::parse(stripFences(answer->text), nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        v[static_cast<size_t>(iOut)] = answer->text;
        fail(row, setup.what + ": the answer is not the JSON object json_schema asks for" +
                      (answer->cutShort ? " (it was cut at max_tokens; raise max_tokens)" : "") + ": " +
                      answer->text.substr(0, 120));
        return false;
      }
      v[static_cast<size_t>(iOut)] = j.dump();
      for (const auto& [name, idx] : props) {
        if (idx < 0 || !j.contains(name)) continue;
        const json& x = j[name];
        if (x.is_number_integer())
          v[static_cast<size_t>(idx)] = x.get<int64_t>();
        else if (x.is_number())
          v[static_cast<size_t>(idx)] = x.get<double>();
        else if (x.is_boolean())
          v[static_cast<size_t>(idx)] = int64_t{x.get<bool>() ? 1 : 0};
        else if (x.is_string())
          v[static_cast<size_t>(idx)] = x.get<std::string>();
        else if (!x.is_null())
          v[static_cast<size_t>(idx)] = x.dump();
      }
      return true;
    };

    MapSpec spec;
    spec.batchRows = std::max<int64_t>(256, int64_t{setup.options.concurrency} * 16);
    spec.beforeBatch = [&](std::vector<RowBuffer>& batch) {
      base = batch.data();
      slots.assign(batch.size(), Slot{});
      for (auto& row : batch)
        if (!core::isNull(row.values[static_cast<size_t>(iErr)])) row.done = true;  // keep the upstream error
    };
    spec.perRow = [&](RowBuffer& row) {
      Slot& slot = slots[static_cast<size_t>(&row - base)];
      if (refusePii && iPiiCount >= 0) {
        const core::Value& n = row.values[static_cast<size_t>(iPiiCount)];
        const bool found = (std::holds_alternative<int64_t>(n) && std::get<int64_t>(n) > 0) ||
                           (std::holds_alternative<double>(n) && std::get<double>(n) > 0);
        if (found) {
          const std::string types = iPiiTypes >= 0 ? textOf(row.values[static_cast<size_t>(iPiiTypes)]) : std::string();
          return fail(row, "personal data found by pii.detect (" + (types.empty() ? std::string("pii_count > 0") : types) +
                               "); not sent");
        }
      }
      ChatRequest req;
      req.provider = provider;
      req.model = setup.model;
      req.prompt = prompt.render(colText(row));
      req.system = system.render(colText(row));
      req.jsonSchema = schema;
      req.maxTokens = maxTokens;
      req.temperature = temperature;
      std::string etag;
      if (m_vision) {
        const std::string uri = textOf(row.values[static_cast<size_t>(iImage)]);
        if (uri.empty()) return fail(row, "no image: the column '" + out[static_cast<size_t>(iImage)].name + "' is empty");
        auto image = loadImage(row, uri, iSize, iMime, imageSize, limits);
        if (!image.ok()) return fail(row, image.error().message);
        req.images.push_back(std::move(image).value());
        if (iEtag >= 0) etag = textOf(row.values[static_cast<size_t>(iEtag)]);
      }
      slot.body = chatBody(req);
      ChatRequest audit = req;  // the ledger keeps the request without the image bytes (the key covers them)
      for (auto& img : audit.images) img.bytes.clear();
      slot.audit = m_vision ? chatBody(audit) : slot.body;
      slot.key = callKey(providerName(provider), setup.endpoint.url, setup.model, slot.body, etag);
      int64_t inTokens = estimateTextTokens(req.prompt) + estimateTextTokens(req.system) +
                         (schema ? estimateTextTokens(schema->dump()) : 0);
      for (const auto& img : req.images) inTokens += estimateImageTokens(img.width, img.height);
      slot.estTokens = inTokens + maxTokens;
      if (setup.price) slot.reserve = PriceTable::cost(*setup.price, Usage{inTokens, maxTokens, 0, 0});
      slot.pending = true;
    };
    spec.afterRows = [&](std::vector<RowBuffer>& batch) {
      std::map<std::string, std::vector<size_t>> byKey;
      for (size_t i = 0; i < batch.size(); ++i)
        if (!batch[i].done && slots[i].pending) byKey[slots[i].key].push_back(i);
      std::vector<Call> calls;
      std::vector<std::string> keys;
      std::vector<CallRecord> hits;
      for (const auto& [key, rows] : byKey) {
        if (auto cached = lookupCall(db, key)) {
          for (size_t r : rows) {
            apply(batch[r], cached->responseJson, key, 0.0);
            CallRecord rec = baseRecord(setup, key);
            Usage u = usageFromJson(cached->usageJson);
            rec.inputTokens = u.inputTokens;
            rec.outputTokens = u.outputTokens;
            rec.cachedTokens = u.cachedTokens;
            rec.status = "ok";
            rec.cacheHit = true;
            rec.attempts = 0;
            hits.push_back(std::move(rec));
          }
          continue;
        }
        const Slot& s = slots[rows.front()];
        calls.push_back({setup.endpoint.url, setup.headers(), s.body, s.estTokens, s.reserve});
        keys.push_back(key);
      }
      if (!hits.empty()) {
        catalog::Transaction tx(db);
        recordCalls(ctx.catalog(), ctx.runId(), ctx.nodeId(), id(), hits);
        tx.commit();
      }
      caller.run(calls, [&](size_t j, CallOutcome& o) -> double {
        const auto& rows = byKey[keys[j]];
        const Slot& s = slots[rows.front()];
        CallRecord rec = baseRecord(setup, keys[j]);
        rec.attempts = o.attempts;
        rec.latencyMs = o.latencyMs;
        rec.requestJson = s.audit;
        double cost = 0;
        std::vector<CallRecord> records;
        if (!o.ok()) {
          rec.status = "error";
          rec.error = failureMessage(setup, o);
          rec.responseJson = redactSecrets(o.body.substr(0, 4096), setup.key);
          for (size_t r : rows) fail(batch[r], rec.error);
          catalog::Transaction tx(db);
          recordCalls(ctx.catalog(), ctx.runId(), ctx.nodeId(), id(), {rec});
          tx.commit();
          return 0;
        }
        auto answer = parseChatAnswer(provider, o.body);
        if (answer.ok()) {
          rec.inputTokens = answer->usage.inputTokens;
          rec.outputTokens = answer->usage.outputTokens;
          rec.cachedTokens = answer->usage.cachedTokens;
          if (setup.price) cost = PriceTable::cost(*setup.price, answer->usage);
          if (!answer->usageReported)
            ctx.feedback().info(setup.what + ": the answer reported no token usage; its cost is recorded as $0");
        }
        rec.costUsd = cost;
        rec.responseJson = o.body;
        bool usable = apply(batch[rows.front()], o.body, keys[j], cost);
        rec.status = usable ? "ok" : "error";
        if (!usable) rec.error = textOf(batch[rows.front()].values[static_cast<size_t>(iErr)]);
        records.push_back(rec);
        for (size_t k = 1; k < rows.size(); ++k) {  // identical requests in the batch share the answer
          apply(batch[rows[k]], o.body, keys[j], 0.0);
          CallRecord same = rec;
          same.cacheHit = true;
          same.costUsd = 0;
          same.attempts = 0;
          same.latencyMs = 0;
          same.requestJson.clear();
          same.responseJson.clear();
          records.push_back(std::move(same));
        }
        catalog::Transaction tx(db);
        if (answer.ok() && usable)
          storeCall(db, keys[j], providerName(provider), setup.model,
                    CachedAnswer{o.body, usageJson(answer->usage), o.latencyMs, cost});
        recordCalls(ctx.catalog(), ctx.runId(), ctx.nodeId(), id(), records);
        tx.commit();
        return cost;
      });
    };
    ctx.mapRows(spec);
    if (caller.retries() > 0)
      ctx.feedback().info(setup.what + ": " + std::to_string(caller.retries()) + " attempts were retried");
  }

 private:
  static core::Result<std::optional<json>> jsonSchema(const Params& p) {
    const std::string text = p.value("json_schema", std::string());
    if (text.empty()) return std::optional<json>();
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return makeError(ErrorKind::InvalidFlow, "parameter 'json_schema' is not a JSON object (write a JSON Schema "
                                               "such as {\"type\":\"object\",\"properties\":{\"label\":{\"type\":\"string\"}}})");
    if (!j.contains("properties") || !j["properties"].is_object() || j["properties"].empty())
      return makeError(ErrorKind::InvalidFlow,
                       "parameter 'json_schema' needs \"properties\": the fields the answer must have");
    if (!j.contains("type")) j["type"] = "object";
    // Strict structured output (OpenAI) wants every property required and no others allowed.
    if (!j.contains("required")) {
      json req = json::array();
      for (const auto& [name, _] : j["properties"].items()) req.push_back(name);
      j["required"] = req;
    }
    if (!j.contains("additionalProperties")) j["additionalProperties"] = false;
    return std::optional<json>(j);
  }

  static ColumnType columnTypeFor(const json& prop) {
    std::string t = prop.is_object() ? prop.value("type", std::string()) : std::string();
    if (t == "integer" || t == "boolean") return ColumnType::Integer;
    if (t == "number") return ColumnType::Real;
    return ColumnType::Text;
  }

  // Models asked for JSON sometimes wrap it in a ```json fence.
  static std::string stripFences(const std::string& s) {
    size_t a = s.find('{'), b = s.rfind('}');
    if (a == std::string::npos || b == std::string::npos || b < a) return s;
    return s.substr(a, b - a + 1);
  }

  static core::Result<ImagePart> loadImage(const RowBuffer& row, const std::string& uri, int iSize,
                                           int iMime, int imageSize, const media::MediaLimits& limits) {
    auto backend = storage::storageFor(uri);
    if (!backend.ok()) return backend.error();
    int64_t size = -1;
    if (iSize >= 0 && std::holds_alternative<int64_t>(row.values[static_cast<size_t>(iSize)]))
      size = std::get<int64_t>(row.values[static_cast<size_t>(iSize)]);
    const std::string mime = iMime >= 0 ? textOf(row.values[static_cast<size_t>(iMime)]) : std::string();
    if (mime.rfind("audio/", 0) == 0 || mime.rfind("text/", 0) == 0)
      return makeError(ErrorKind::Unsupported, uri + " is " + mime + ", not an image, video or PDF");
    media::ObjectReader reader(backend.value(), uri, size, limits.maxPreviewBytes, limits.maxSeconds);
    media::ThumbnailRequest req;
    req.kind = media::ThumbnailKind::Auto;
    req.maxSide = imageSize;
    auto t = media::makeThumbnail(reader, mime, uri.substr(uri.rfind('/') + 1), req, limits);
    if (!t.ok()) return t.error();
    return ImagePart{t->mime, std::move(t->bytes), t->width, t->height};
  }

  bool m_vision;
};

// ---------------------------------------------------------------------------------------------------
// model.embed

class EmbedNode : public NodeType {
 public:
  std::string id() const override { return "model.embed"; }
  std::string category() const override { return "Models"; }
  std::string title() const override { return "Embeddings"; }
  std::string doc() const override {
    return "Embeds each row's text (a template: {{column}} is replaced by the row's value) with an "
           "OpenAI-compatible embeddings API (OpenAI, Azure OpenAI, Ollama, vLLM via base_url). The vector is "
           "stored as a BLOB of little-endian float32 with its dimension in <output>_dim. Texts are sent "
           "batch_size per request; each text is cached on its own, so changing the batching never pays twice. "
           "The ledger has one record per text, the request's usage split by text length.";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec provider{"provider", ParamType::Enum, "openai (and OpenAI-compatible servers)", false, "openai"};
    provider.choices = {"openai"};
    std::vector<ParamSpec> ps = {
        provider,
        {"model", ParamType::String, "embedding model, e.g. text-embedding-3-small", true},
        {"input", ParamType::String, "the text to embed; {{column}} inserts the row's value", true},
        {"output", ParamType::String, "column for the vector (float32 BLOB)", false, "embedding"},
        intParam("dimensions", "vector length, for models that can shorten their vectors (0: the model's own)", 0, 0,
                 65536),
        intParam("batch_size", "texts per request", 64, 1, 2048),
    };
    for (auto& c : callingParams()) ps.push_back(std::move(c));
    return ps;
  }

  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    if (auto r = checkApiNode(p, in[0], "text-embedding-3-small", {"input"}); !r.ok()) return r.error();
    const std::string output = p.value("output", std::string("embedding"));
    if (auto r = checkOutputName(output, in[0]); !r.ok()) return r.error();
    core::Schema s = in[0];
    s.set({output, ColumnType::Blob, "the vector: little-endian float32 values"});
    s.set({output + "_dim", ColumnType::Integer, "the vector's length"});
    s.set({output + "_call", ColumnType::Text, "the text's request hash: its record in the ledger and call cache"});
    s.set({"error", ColumnType::Text, "why the row has no vector (or failed upstream); null when fine"});
    return s;
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    const CallSetup setup = resolveSetup(p, ctx, Provider::OpenAI, true);
    const auto input = PromptTemplate::parse(p.at("input").get<std::string>()).orThrow();
    const int64_t dims = p.value("dimensions", int64_t{0});
    const size_t batchSize = static_cast<size_t>(p.value("batch_size", int64_t{64}));
    const core::Schema& out = ctx.outputSchema();
    const std::string output = p.value("output", std::string("embedding"));
    const int iOut = out.indexOf(output), iDim = out.indexOf(output + "_dim"), iCall = out.indexOf(output + "_call"),
              iErr = out.indexOf("error");
    auto& db = ctx.catalog().db();
    auto requestFor = [&](std::vector<std::string> texts) {
      EmbedRequest r;
      r.model = setup.model;
      r.inputs = std::move(texts);
      if (dims > 0) r.dimensions = static_cast<int>(dims);
      return r;
    };
    auto setVector = [&](RowBuffer& row, const std::vector<float>& v, const std::string& key) {
      static_assert(std::endian::native == std::endian::little, "embeddings are stored little-endian");
      core::BlobValue blob;
      blob.bytes.resize(v.size() * sizeof(float));
      std::memcpy(blob.bytes.data(), v.data(), blob.bytes.size());
      row.values[static_cast<size_t>(iOut)] = std::move(blob);
      row.values[static_cast<size_t>(iDim)] = static_cast<int64_t>(v.size());
      row.values[static_cast<size_t>(iCall)] = key;
    };

    struct Slot {
      std::string text, key;
    };
    std::vector<Slot> slots;
    const RowBuffer* base = nullptr;
    HttpCaller caller(setup.options, ctx.feedback(), &ctx.spend(), setup.what);
    MapSpec spec;
    spec.batchRows = std::max<int64_t>(256, static_cast<int64_t>(batchSize) * setup.options.concurrency * 2);
    spec.beforeBatch = [&](std::vector<RowBuffer>& batch) {
      base = batch.data();
      slots.assign(batch.size(), Slot{});
      for (auto& row : batch)
        if (!core::isNull(row.values[static_cast<size_t>(iErr)])) row.done = true;
    };
    spec.perRow = [&](RowBuffer& row) {
      Slot& slot = slots[static_cast<size_t>(&row - base)];
      slot.text = input.render([&](const std::string& c) { return valueText(row.values[static_cast<size_t>(out.indexOf(c))]); });
      if (slot.text.empty()) {
        row.values[static_cast<size_t>(iErr)] = "nothing to embed: the input text is empty";
        row.done = true;
        return;
      }
      slot.key = callKey("openai", setup.endpoint.url, setup.model, embedBody(requestFor({slot.text})), "");
    };
    spec.afterRows = [&](std::vector<RowBuffer>& batch) {
      std::map<std::string, std::vector<size_t>> byKey;
      std::vector<std::string> order;
      for (size_t i = 0; i < batch.size(); ++i) {
        if (batch[i].done || slots[i].key.empty()) continue;
        auto [it, fresh] = byKey.try_emplace(slots[i].key);
        if (fresh) order.push_back(slots[i].key);
        it->second.push_back(i);
      }
      std::vector<CallRecord> hits;
      std::vector<std::string> misses;
      for (const auto& key : order) {
        auto cached = lookupCall(db, key);
        if (!cached) {
          misses.push_back(key);
          continue;
        }
        json j = json::parse(cached->responseJson, nullptr, false);
        std::vector<float> v;
        if (j.is_object() && j.contains("embedding") && j["embedding"].is_array())
          for (const auto& x : j["embedding"]) v.push_back(x.get<float>());
        for (size_t r : byKey[key]) {
          setVector(batch[r], v, key);
          CallRecord rec = baseRecord(setup, key);
          rec.inputTokens = usageFromJson(cached->usageJson).inputTokens;
          rec.status = "ok";
          rec.cacheHit = true;
          rec.attempts = 0;
          hits.push_back(std::move(rec));
        }
      }
      if (!hits.empty()) {
        catalog::Transaction tx(db);
        recordCalls(ctx.catalog(), ctx.runId(), ctx.nodeId(), id(), hits);
        tx.commit();
      }
      std::vector<std::vector<std::string>> groups;  // keys per request
      for (size_t i = 0; i < misses.size(); i += batchSize)
        groups.emplace_back(misses.begin() + static_cast<long>(i),
                            misses.begin() + static_cast<long>(std::min(misses.size(), i + batchSize)));
      std::vector<Call> calls;
      for (const auto& g : groups) {
        std::vector<std::string> texts;
        int64_t est = 0;
        for (const auto& k : g) {
          texts.push_back(slots[byKey[k].front()].text);
          est += estimateTextTokens(texts.back());
        }
        double reserve = setup.price ? PriceTable::cost(*setup.price, Usage{est, 0, 0, 0}) : 0;
        calls.push_back({setup.endpoint.url, setup.headers(), embedBody(requestFor(texts)), est, reserve});
      }
      caller.run(calls, [&](size_t j, CallOutcome& o) -> double {
        const auto& g = groups[j];
        std::vector<CallRecord> records;
        auto failAll = [&](const std::string& msg) {
          for (const auto& k : g) {
            for (size_t r : byKey[k]) batch[r].values[static_cast<size_t>(iErr)] = msg;
            CallRecord rec = baseRecord(setup, k);
            rec.status = "error";
            rec.error = msg;
            rec.attempts = o.attempts;
            rec.latencyMs = o.latencyMs;
            records.push_back(std::move(rec));
          }
        };
        double cost = 0;
        std::optional<EmbedAnswer> answer;
        if (!o.ok()) {
          failAll(failureMessage(setup, o));
        } else if (auto a = parseEmbedAnswer(o.body, g.size()); !a.ok()) {
          failAll(setup.what + ": the answer could not be read: " + a.error().message);
        } else {
          answer = std::move(a).value();
          if (setup.price) cost = PriceTable::cost(*setup.price, answer->usage);
        }
        catalog::Transaction tx(db);
        if (answer) {
          // The request's usage, split over its texts by their length.
          double totalChars = 0;
          for (const auto& k : g) totalChars += static_cast<double>(slots[byKey[k].front()].text.size());
          for (size_t i = 0; i < g.size(); ++i) {
            const std::string& k = g[i];
            double share = totalChars > 0 ? static_cast<double>(slots[byKey[k].front()].text.size()) / totalChars
                                          : 1.0 / static_cast<double>(g.size());
            Usage u{static_cast<int64_t>(std::llround(static_cast<double>(answer->usage.inputTokens) * share)), 0, 0, 0};
            CallRecord rec = baseRecord(setup, k);
            rec.status = "ok";
            rec.inputTokens = u.inputTokens;
            rec.costUsd = cost * share;
            rec.attempts = o.attempts;
            rec.latencyMs = o.latencyMs;
            rec.requestJson = embedBody(requestFor({slots[byKey[k].front()].text}));
            json vec = answer->vectors[i];
            rec.responseJson = json{{"embedding", vec}}.dump();
            storeCall(db, k, "openai", setup.model, CachedAnswer{rec.responseJson, usageJson(u), o.latencyMs, rec.costUsd});
            bool first = true;
            for (size_t r : byKey[k]) {
              setVector(batch[r], answer->vectors[i], k);
              CallRecord each = rec;
              if (!first) {
                each.cacheHit = true;
                each.costUsd = 0;
                each.attempts = 0;
                each.requestJson.clear();
                each.responseJson.clear();
              }
              first = false;
              records.push_back(std::move(each));
            }
          }
        }
        recordCalls(ctx.catalog(), ctx.runId(), ctx.nodeId(), id(), records);
        tx.commit();
        return cost;
      });
    };
    ctx.mapRows(spec);
  }
};

}  // namespace

void addModelNodes(NodeRegistry& registry) {
  registry.add(std::make_shared<ChatNode>(false));
  registry.add(std::make_shared<ChatNode>(true));
  registry.add(std::make_shared<EmbedNode>());
}

}  // namespace loom::nodes

// Model nodes against the model-API test server (tests/support/model_api_server.py) on loopback:
// answers, ledger and costs, the call cache, faults and retries, budgets, dry-run estimates, keys.

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdlib>

#include "catalog/catalog.h"
#include "exec/executor.h"
#include "flow/flow.h"
#include "inference/pricing.h"
#include "inference/providers.h"
#include "inference/rate_limiter.h"
#include "model_server.h"
#include "nodes/registry.h"
#include "test_support.h"

using namespace loom;
using nlohmann::json;

namespace {

constexpr const char* kKey = "test-key-7f3a9c2e41";  // what the server expects; must never be stored

class ModelNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("LOOM_TEST_KEY", kKey, 1);
    setenv("LOOM_TRUSTED_MODEL_HOSTS", "127.0.0.1", 1);  // the test server's base_url may get the key
    unsetenv("LOOM_PRICING");
    setenv("XDG_CONFIG_HOME", dir.str().c_str(), 1);  // no user price file
    cat = catalog::Catalog::open((dir / "catalog.db").string()).orThrow();
  }

  // A folder of files whose names become prompts.
  void files(const std::vector<std::string>& names) {
    for (const auto& n : names) test::writeFile(dir / "data" / n, "x");
  }

  json node(const std::string& type, json params) {
    params["base_url"] = server->baseUrl();
    params["api_key_env"] = "LOOM_TEST_KEY";
    if (!params.contains("retry_base_seconds")) params["retry_base_seconds"] = 0.05;
    return {{"id", "m"}, {"type", type}, {"params", params}};
  }

  std::string flowWith(const json& model, const std::string& dataset = "out", json extra = json::object()) {
    json j = {{"format", "loom.flow/1"},
              {"name", "models"},
              {"nodes",
               {{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", (dir / "data").string()}}}},
                model,
                {{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", dataset}}}}}},
              {"edges", {{{"from", "src"}, {"to", "m"}}, {{"from", "m"}, {"to", "out"}}}}};
    for (auto& [k, v] : extra.items()) j[k] = v;
    return j.dump();
  }

  exec::RunResult run(const std::string& text, exec::RunOptions opts = {}) {
    flow::Flow f = flow::parseFlow(text, "t").orThrow();
    exec::Executor ex(*cat, nodes::NodeRegistry::builtin());
    core::Feedback quiet;
    return ex.run(f, opts, quiet);
  }

  // Rows of the latest version of `dataset`, as column -> value maps.
  std::vector<std::map<std::string, core::Value>> rows(const std::string& dataset) {
    auto v = cat->resolveDataset(dataset).orThrow();
    std::vector<std::map<std::string, core::Value>> out;
    cat->readRows(v, 0, -1, [&](const std::vector<core::Value>& r) {
      std::map<std::string, core::Value> m;
      for (size_t i = 0; i < v.schema.size(); ++i) m[v.schema[i].name] = r[i + 1];
      out.push_back(std::move(m));
    });
    return out;
  }

  static std::string str(const core::Value& v) {
    return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : std::string();
  }

  int64_t scalar(const std::string& sql) {
    auto s = cat->db().prepare(sql);
    s.step();
    return s.int64(0);
  }
  double real(const std::string& sql) {
    auto s = cat->db().prepare(sql);
    s.step();
    return s.real(0);
  }

  test::TempDir dir;
  std::unique_ptr<catalog::Catalog> cat;
  std::unique_ptr<test::ModelServer> server =
      std::make_unique<test::ModelServer>(std::vector<std::string>{"--api-key", kKey});
};

TEST_F(ModelNodes, LlmAnswersEveryRowAndLedgerCostIsUsageTimesPrice) {
  std::vector<std::string> names;
  for (int i = 0; i < 24; ++i) names.push_back("photo_" + std::to_string(i) + ".txt");
  files(names);
  auto r = run(flowWith(node("model.llm", {{"model", "gpt-4o-mini"}, {"prompt", "Describe {{name}} in one word"}})));
  EXPECT_EQ(r.rowsFailed, 0);
  EXPECT_EQ(r.calls, 24);
  EXPECT_EQ(r.callsCached, 0);
  auto out = rows("out");
  ASSERT_EQ(out.size(), 24u);
  double rowCost = 0;
  for (const auto& row : out) {
    EXPECT_EQ(str(row.at("answer")), "Echo: Describe " + str(row.at("name")) + " in one word");
    EXPECT_TRUE(core::isNull(row.at("error"))) << str(row.at("error"));
    EXPECT_EQ(str(row.at("answer_call")).size(), 64u);
    rowCost += std::get<double>(row.at("answer_cost"));
  }
  // gpt-4o-mini: $0.15 per 1M input tokens, $0.60 per 1M output tokens.
  int64_t in = scalar("SELECT sum(input_tokens) FROM model_calls");
  int64_t outTok = scalar("SELECT sum(output_tokens) FROM model_calls");
  EXPECT_GT(in, 24 * 5);
  EXPECT_GT(outTok, 24 * 5);
  double expected = (static_cast<double>(in) * 0.15 + static_cast<double>(outTok) * 0.60) / 1e6;
  EXPECT_NEAR(r.costUsd, expected, 1e-12);
  EXPECT_NEAR(rowCost, expected, 1e-12);
  EXPECT_NEAR(real("SELECT cost_usd FROM runs WHERE id=" + std::to_string(r.runId)), expected, 1e-12);
  EXPECT_NEAR(real("SELECT cost_usd FROM node_runs WHERE node_id='m'"), expected, 1e-12);
  EXPECT_EQ(scalar("SELECT count(*) FROM model_calls WHERE provider='openai' AND model='gpt-4o-mini' AND "
                   "status='ok' AND attempts=1 AND latency_ms > 0 AND price_version IS NOT NULL"),
            24);
  EXPECT_EQ(server->stats()["model_calls_ok"], 24);
}

TEST_F(ModelNodes, TheCallCacheAnswersIdenticalRequestsFromAnotherFlow) {
  files({"a.txt", "b.txt", "c.txt", "d.txt"});
  json params = {{"model", "gpt-4o-mini"}, {"prompt", "Caption {{name}}"}};
  run(flowWith(node("model.llm", params), "first"));
  EXPECT_EQ(server->stats()["model_calls_ok"], 4);
  // Another flow, another output column: the node re-runs, the requests are the same, nothing is paid.
  params["output"] = "caption";
  auto r = run(flowWith(node("model.llm", params), "second"));
  EXPECT_EQ(server->stats()["model_calls_ok"], 4);
  EXPECT_EQ(r.calls, 4);
  EXPECT_EQ(r.callsCached, 4);
  EXPECT_EQ(r.costUsd, 0.0);
  for (const auto& row : rows("second")) EXPECT_EQ(str(row.at("caption")), "Echo: Caption " + str(row.at("name")));
  // A changed prompt is a new question.
  params["prompt"] = "Title {{name}}";
  run(flowWith(node("model.llm", params), "third"));
  EXPECT_EQ(server->stats()["model_calls_ok"], 8);
}

TEST_F(ModelNodes, FaultsAreRetriedOrBecomeTheRowsErrorNeverACrash) {
  files({"fine.txt", "FAULT:429:1.txt", "FAULT:503:1.txt", "FAULT:reset:1.txt", "FAULT:truncated:1.txt",
         "FAULT:500.txt", "FAULT:malformed.txt", "FAULT:badshape.txt", "FAULT:slow.txt", "FAULT:nousage.txt"});
  auto r = run(flowWith(node("model.llm", {{"model", "gpt-4o-mini"},
                                           {"prompt", "Say {{name}}"},
                                           {"max_attempts", 3},
                                           {"timeout_seconds", 1.5}})));
  std::map<std::string, std::map<std::string, core::Value>> byName;
  for (auto& row : rows("out")) byName[str(row.at("name"))] = row;
  ASSERT_EQ(byName.size(), 10u);
  for (const char* ok : {"fine.txt", "FAULT:429:1.txt", "FAULT:503:1.txt", "FAULT:reset:1.txt", "FAULT:truncated:1.txt",
                         "FAULT:nousage.txt"}) {
    EXPECT_TRUE(core::isNull(byName[ok].at("error"))) << ok << ": " << str(byName[ok].at("error"));
    EXPECT_EQ(str(byName[ok].at("answer")), std::string("Echo: Say ") + ok);
  }
  EXPECT_NE(str(byName["FAULT:500.txt"].at("error")).find("HTTP 500 after 3 attempts"), std::string::npos)
      << str(byName["FAULT:500.txt"].at("error"));
  EXPECT_NE(str(byName["FAULT:malformed.txt"].at("error")).find("not JSON"), std::string::npos);
  EXPECT_NE(str(byName["FAULT:badshape.txt"].at("error")).find("no choices"), std::string::npos);
  EXPECT_NE(str(byName["FAULT:slow.txt"].at("error")).find("no complete answer"), std::string::npos)
      << str(byName["FAULT:slow.txt"].at("error"));
  EXPECT_EQ(r.rowsFailed, 4);
  // One 429, then the answer. libcurl may resend a request silently when a kept-alive connection
  // turns out closed, which the server then counts as one more attempt of that body: one attempt of
  // the three is left spare for that, so the row's outcome does not depend on connection timing.
  const int64_t attempts429 = scalar("SELECT attempts FROM model_calls WHERE request_json LIKE '%FAULT:429:1%'");
  EXPECT_GE(attempts429, 2);
  EXPECT_LE(attempts429, 3);
  EXPECT_EQ(scalar("SELECT count(*) FROM model_calls WHERE status='error'"), 4);
  // An answer without usage is kept, at $0; only good answers are cached.
  EXPECT_EQ(scalar("SELECT count(*) FROM call_cache"), 6);
  // Nothing that failed is cached: running again retries exactly the failed rows' calls.
  auto before = server->stats()["model_calls_ok"].get<int64_t>();
  auto again = run(flowWith(node("model.llm", {{"model", "gpt-4o-mini"},
                                               {"prompt", "Say {{name}}"},
                                               {"max_attempts", 1},
                                               {"timeout_seconds", 1.5}}),
                            "again"));
  EXPECT_EQ(again.callsCached, 6);
  EXPECT_EQ(server->stats()["model_calls_ok"].get<int64_t>(), before);
}

TEST_F(ModelNodes, AnthropicJsonSchemaBecomesTypedColumnsAndPromptCacheIsPricedAsSuch) {
  files({"cat.jpg", "dog.jpg", "owl.jpg"});
  std::string longSystem(5000, 'x');  // over 1024 tokens: the server caches it after the first call
  json schema = {{"type", "object"},
                 {"properties",
                  {{"label", {{"type", "string"}}}, {"score", {{"type", "number"}}}, {"legs", {{"type", "integer"}}}}}};
  auto r = run(flowWith(node("model.llm", {{"provider", "anthropic"},
                                           {"model", "claude-haiku-4-5"},
                                           {"system", longSystem},
                                           {"prompt", "Classify {{name}}"},
                                           {"json_schema", schema.dump()},
                                           {"concurrency", 1}})));
  EXPECT_EQ(r.rowsFailed, 0);
  for (const auto& row : rows("out")) {
    EXPECT_TRUE(std::holds_alternative<std::string>(row.at("label")));
    EXPECT_TRUE(std::holds_alternative<double>(row.at("score")));
    EXPECT_TRUE(std::holds_alternative<int64_t>(row.at("legs")));
    EXPECT_TRUE(json::parse(str(row.at("answer"))).is_object());
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM model_calls WHERE cached_tokens > 0"), 2);
  // claude-haiku-4-5: $1 input, $0.10 cache read, $1.25 cache write, $5 output per 1M tokens.
  auto s = cat->db().prepare("SELECT input_tokens, cached_tokens, output_tokens, cost_usd, response_json FROM model_calls");
  while (s.step()) {
    json usage = json::parse(s.text(4))["usage"];
    int64_t plain = usage["input_tokens"], read = usage["cache_read_input_tokens"],
            write = usage["cache_creation_input_tokens"], out = usage["output_tokens"];
    EXPECT_EQ(s.int64(0), plain + read + write);
    EXPECT_EQ(s.int64(1), read);
    EXPECT_NEAR(s.real(3), (plain * 1.0 + read * 0.10 + write * 1.25 + out * 5.0) / 1e6, 1e-12);
  }
}

TEST_F(ModelNodes, VisionSendsTheResizedImage) {
  cv::Mat img(600, 800, CV_8UC3, cv::Scalar(30, 120, 220));
  std::filesystem::create_directories(dir / "data");
  cv::imwrite((dir / "data/a.png").string(), img);
  cv::imwrite((dir / "data/b.jpg").string(), img);
  test::writeFile(dir / "data/broken.jpg", "\xff\xd8\xff\xe0 not really a jpeg");
  run(flowWith(node("model.vision", {{"model", "gpt-4o"}, {"prompt", "What is in {{name}}?"}, {"image_size", 256}})));
  std::map<std::string, std::map<std::string, core::Value>> byName;
  for (auto& row : rows("out")) byName[str(row.at("name"))] = row;
  for (const char* ok : {"a.png", "b.jpg"}) {
    EXPECT_NE(str(byName[ok].at("answer")).find("image/jpeg"), std::string::npos) << str(byName[ok].at("answer"));
    EXPECT_NE(str(byName[ok].at("answer")).find("256x192"), std::string::npos) << str(byName[ok].at("answer"));
  }
  EXPECT_NE(str(byName["broken.jpg"].at("error")).find("broken.jpg"), std::string::npos);
  // The ledger keeps the request for audit without the image bytes.
  EXPECT_LT(scalar("SELECT max(length(request_json)) FROM model_calls"), 1000);
}

TEST_F(ModelNodes, OneFlowChainsVisionLlmEmbedAndALocalModel) {
  std::filesystem::create_directories(dir / "data");
  for (int i = 0; i < 6; ++i)
    cv::imwrite((dir / ("data/p" + std::to_string(i) + ".jpg")).string(),
                cv::Mat(240, 320, CV_8UC3, cv::Scalar(20 * i, 100, 200 - 20 * i)));
  auto api = [&](const std::string& id, const std::string& type, json params) {
    json n = node(type, std::move(params));
    n["id"] = id;
    return n;
  };
  json j = {{"format", "loom.flow/1"},
            {"name", "chain"},
            {"nodes",
             {{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", (dir / "data").string()}}}},
              api("look", "model.vision", {{"model", "gpt-4o-mini"}, {"prompt", "What is in {{name}}?"}, {"output", "seen"}}),
              api("sum", "model.llm", {{"provider", "anthropic"}, {"model", "claude-haiku-4-5"},
                                       {"prompt", "Summarise: {{seen}}"}, {"output", "summary"}}),
              api("vec", "model.embed", {{"model", "text-embedding-3-small"}, {"input", "{{summary}}"}}),
              {{"id", "faces"}, {"type", "model.faces"}, {"params", json::object()}},
              {{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", "chain"}}}}}},
            {"edges",
             {{{"from", "src"}, {"to", "look"}},
              {{"from", "look"}, {"to", "sum"}},
              {{"from", "sum"}, {"to", "vec"}},
              {{"from", "vec"}, {"to", "faces"}},
              {{"from", "faces"}, {"to", "out"}}}}};
  auto r = run(j.dump());
  EXPECT_EQ(r.rowsFailed, 0);
  auto out = rows("chain");
  ASSERT_EQ(out.size(), 6u);
  for (const auto& row : out) {
    EXPECT_NE(str(row.at("seen")).find("320x240"), std::string::npos) << str(row.at("seen"));
    EXPECT_EQ(str(row.at("summary")), "Echo: Summarise: " + str(row.at("seen")));
    EXPECT_EQ(std::get<int64_t>(row.at("embedding_dim")), 8);
    EXPECT_EQ(std::get<int64_t>(row.at("faces")), 0);
  }
  // One ledger record per row and node; API calls priced, local calls at the default $0/hour.
  for (const char* type : {"model.vision", "model.llm", "model.embed", "model.faces"})
    EXPECT_EQ(scalar(std::string("SELECT count(*) FROM model_calls WHERE node_type='") + type + "'"), 6) << type;
  EXPECT_EQ(scalar("SELECT count(*) FROM model_calls WHERE provider='local' AND compute_seconds > 0"), 6);
  EXPECT_NEAR(r.costUsd, real("SELECT sum(cost_usd) FROM model_calls"), 1e-12);
  EXPECT_GT(real("SELECT sum(cost_usd) FROM model_calls WHERE node_type='model.llm'"), 0);
  EXPECT_EQ(r.calls, 24);
}

TEST_F(ModelNodes, EmbeddingsAreFloat32BlobsSentInBatches) {
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back("doc" + std::to_string(i) + ".txt");
  files(names);
  auto r = run(flowWith(node("model.embed", {{"model", "text-embedding-3-small"},
                                             {"input", "{{name}}"},
                                             {"dimensions", 8},
                                             {"batch_size", 4}})));
  EXPECT_EQ(r.rowsFailed, 0);
  EXPECT_EQ(server->stats()["by_path"]["/v1/embeddings"], 3);  // 10 texts, 4 per request
  for (const auto& row : rows("out")) {
    const auto& blob = std::get<core::BlobValue>(row.at("embedding")).bytes;
    ASSERT_EQ(blob.size(), 32u);
    EXPECT_EQ(std::get<int64_t>(row.at("embedding_dim")), 8);
    float v[8];
    std::memcpy(v, blob.data(), sizeof v);
    double norm = 0;
    for (float x : v) norm += double(x) * x;
    EXPECT_NEAR(norm, 1.0, 1e-4);  // the server's vectors are normalised
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM model_calls WHERE model='text-embedding-3-small'"), 10);
  EXPECT_GT(r.costUsd, 0);
}

TEST_F(ModelNodes, BudgetStopsBeforeSpendingPastItAndTheRerunPaysNothingTwice) {
  std::vector<std::string> names;
  for (int i = 0; i < 30; ++i) names.push_back("item" + std::to_string(i) + ".txt");
  files(names);
  json params = {{"model", "gpt-4o"}, {"prompt", "Describe {{name}}"}, {"max_tokens", 50}, {"concurrency", 4}};
  // gpt-4o: $2.50 in, $10 out per 1M. Each call reserves its worst case, ~7 input + 50 output tokens
  // ≈ $0.00052, and really costs ~$0.00008: $0.001 pays for a handful of calls, never more.
  exec::RunOptions opts;
  opts.budgetUsd = 0.001;
  try {
    run(flowWith(node("model.llm", params)), opts);
    FAIL() << "the budget should have stopped the run";
  } catch (const core::RunError& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::Budget);
    EXPECT_NE(std::string(e.what()).find("--budget-usd"), std::string::npos);
  }
  double spent = real("SELECT sum(cost_usd) FROM model_calls");
  EXPECT_GT(spent, 0);
  EXPECT_LE(spent, 0.001);
  int64_t paid = server->stats()["model_calls_ok"];
  EXPECT_GT(paid, 0);
  EXPECT_LT(paid, 30);
  EXPECT_EQ(scalar("SELECT count(*) FROM runs WHERE status='budget'"), 1);
  // With room to finish, the answers already paid for come from the call cache.
  opts.budgetUsd = 1.0;
  auto r = run(flowWith(node("model.llm", params)), opts);
  EXPECT_EQ(server->stats()["model_calls_ok"], 30);
  EXPECT_EQ(r.callsCached, paid);
  EXPECT_EQ(rows("out").size(), 30u);
}

TEST_F(ModelNodes, DryRunOnASampleExtrapolatesCallsAndCostAndSavesNothing) {
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back("f" + std::to_string(i) + ".txt");
  files(names);
  exec::RunOptions opts;
  opts.dryRun = true;
  opts.sample = 5;
  auto r = run(flowWith(node("model.llm", {{"model", "gpt-4o-mini"}, {"prompt", "Describe {{name}}"}})), opts);
  ASSERT_TRUE(r.estimate.has_value());
  EXPECT_EQ(r.estimate->populationRows, 40);
  EXPECT_EQ(r.estimate->sampleCalls, 5);
  EXPECT_EQ(r.estimate->calls, 40);
  EXPECT_NEAR(r.estimate->costUsd, r.estimate->sampleCostUsd * 8, 1e-12);
  EXPECT_GT(r.estimate->seconds, 0);
  EXPECT_EQ(server->stats()["model_calls_ok"], 5);
  EXPECT_TRUE(cat->datasets().empty());
  EXPECT_EQ(scalar("SELECT count(*) FROM sqlite_master WHERE name LIKE 'dry%'"), 0);
  // The real run reuses the sample's answers.
  auto real = run(flowWith(node("model.llm", {{"model", "gpt-4o-mini"}, {"prompt", "Describe {{name}}"}})));
  EXPECT_EQ(real.callsCached, 5);
  EXPECT_EQ(server->stats()["model_calls_ok"], 40);
  // A later dry run cleans up its scratch tables and nothing else: the saved dataset stays readable.
  run(flowWith(node("model.llm", {{"model", "gpt-4o-mini"}, {"prompt", "Name {{name}}"}})), opts);
  EXPECT_EQ(rows("out").size(), 40u);
  run(flowWith(node("model.llm", {{"model", "gpt-4o-mini"}, {"prompt", "Describe {{name}}"}}), "again"));
  EXPECT_EQ(rows("out").size(), 40u);
}

TEST_F(ModelNodes, KeysStayOutOfFlowsLedgerAndErrors) {
  files({"a.txt"});
  // A key pasted into a flow is refused before anything runs.
  try {
    run(flowWith(node("model.llm", {{"model", "gpt-4o-mini"}, {"prompt", "hi sk-proj-abcdefghijklmnopqrstuvwxyz012345"}})));
    FAIL() << "a key in a flow must be refused";
  } catch (const core::RunError& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::InvalidFlow);
    EXPECT_NE(std::string(e.what()).find("looks like an API key"), std::string::npos);
  }
  // A wrong key: the row's error says where the key came from, never what it was.
  setenv("LOOM_TEST_KEY", "sk-wrong-0123456789abcdefghij", 1);
  auto r = run(flowWith(node("model.llm", {{"model", "gpt-4o-mini"}, {"prompt", "Hi {{name}}"}})));
  EXPECT_EQ(r.rowsFailed, 1);
  auto row = rows("out").at(0);
  EXPECT_NE(str(row.at("error")).find("HTTP 401"), std::string::npos);
  EXPECT_NE(str(row.at("error")).find("$LOOM_TEST_KEY"), std::string::npos);
  for (const char* sql : {"SELECT count(*) FROM model_calls WHERE coalesce(error,'') || coalesce(request_json,'') || "
                          "coalesce(response_json,'') LIKE '%0123456789abcdefghij%'",
                          "SELECT count(*) FROM runs WHERE flow_json LIKE '%0123456789abcdefghij%'"})
    EXPECT_EQ(scalar(sql), 0) << sql;
  // A base_url the person has not trusted never receives the key: the server answers 401 and the
  // row says why the key was withheld and how to trust the host.
  setenv("LOOM_TEST_KEY", kKey, 1);
  unsetenv("LOOM_TRUSTED_MODEL_HOSTS");
  auto untrusted = run(flowWith(node("model.llm", {{"model", "gpt-4o-mini"}, {"prompt", "Hi {{name}} again"}}), "untrusted"));
  EXPECT_EQ(untrusted.rowsFailed, 1);
  const std::string withheld = str(rows("untrusted").at(0).at("error"));
  EXPECT_NE(withheld.find("HTTP 401"), std::string::npos) << withheld;
  EXPECT_NE(withheld.find("not sent to 127.0.0.1"), std::string::npos) << withheld;
  EXPECT_NE(withheld.find("LOOM_TRUSTED_MODEL_HOSTS"), std::string::npos) << withheld;
  setenv("LOOM_TRUSTED_MODEL_HOSTS", ("example.org, 127.0.0.1:" + std::to_string(server->port())).c_str(), 1);
  auto trusted = run(flowWith(node("model.llm", {{"model", "gpt-4o-mini"}, {"prompt", "Hi {{name}}, trusted"}}), "trusted"));
  EXPECT_EQ(trusted.rowsFailed, 0);
  setenv("LOOM_TRUSTED_MODEL_HOSTS", "127.0.0.1", 1);
  // A flow cannot point api_key_env at a storage credential.
  json steal = node("model.llm", {{"model", "gpt-4o-mini"}, {"prompt", "Hi"}});
  steal["params"]["api_key_env"] = "AWS_SECRET_ACCESS_KEY";
  try {
    run(flowWith(steal, "steal"));
    FAIL() << "api_key_env naming a storage credential must be refused";
  } catch (const core::RunError& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::InvalidFlow);
    EXPECT_NE(std::string(e.what()).find("storage credential"), std::string::npos) << e.what();
  }
  // No key at all for the provider's own endpoint: the run stops and names the variable to set.
  unsetenv("OPENAI_API_KEY");
  json bare = {{"id", "m"}, {"type", "model.llm"}, {"params", {{"model", "gpt-4o-mini"}, {"prompt", "Hi"}}}};
  try {
    run(flowWith(bare, "bare"));
    FAIL() << "a missing key must stop the run";
  } catch (const core::RunError& e) {
    EXPECT_NE(std::string(e.what()).find("OPENAI_API_KEY is not set"), std::string::npos) << e.what();
  }
}

// A flow's base_url may name a model server on this machine (loopback: Ollama, vLLM) but not one on
// the private network or the cloud metadata service: those calls are refused before a byte is sent,
// the row says why and how to allow the host, nothing is paid, and the run goes on.
TEST_F(ModelNodes, ABaseUrlOnThePrivateNetworkIsRefusedUnlessAllowed) {
  files({"a.txt", "b.txt"});
  unsetenv("LOOM_ALLOW_PRIVATE_HOSTS");
  const auto before = server->stats()["requests"].get<int>();
  int n = 0;
  for (const std::string base : {"http://169.254.169.254/v1", "http://2852039166/v1", "http://[fd00:ec2::254]/v1",
                                 "http://10.0.0.7:8000/v1", "http://[::ffff:192.168.1.20]:11434/v1"}) {
    SCOPED_TRACE(base);
    json m = node("model.llm", {{"model", "gpt-4o-mini"}, {"prompt", "Hi {{name}}"}});
    m["params"]["base_url"] = base;
    const std::string dataset = "private" + std::to_string(n++);
    auto r = run(flowWith(m, dataset));
    EXPECT_EQ(r.rowsFailed, 2);
    for (const auto& row : rows(dataset)) {
      const std::string error = str(row.at("error"));
      EXPECT_NE(error.find("refused to connect"), std::string::npos) << error;
      EXPECT_NE(error.find("LOOM_ALLOW_PRIVATE_HOSTS"), std::string::npos) << error;
    }
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM model_calls WHERE cost_usd > 0 OR status = 'ok'"), 0) << "nothing was paid";
  // Behind a proxy the server's address is checked before the request leaves: still refused.
  setenv("http_proxy", server->baseUrl().c_str(), 1);
  json viaProxy = node("model.llm", {{"model", "gpt-4o-mini"}, {"prompt", "Hi {{name}}"}});
  viaProxy["params"]["base_url"] = "http://10.0.0.7:8000/v1";
  auto proxied = run(flowWith(viaProxy, "proxied"));
  unsetenv("http_proxy");
  EXPECT_EQ(proxied.rowsFailed, 2);
  EXPECT_NE(str(rows("proxied").at(0).at("error")).find("refused to connect to 10.0.0.7"), std::string::npos);
  EXPECT_EQ(server->stats()["requests"].get<int>(), before) << "nothing reached the server";
  // The loopback test server itself is allowed without any setting (a local model server).
  auto local = run(flowWith(node("model.llm", {{"model", "gpt-4o-mini"}, {"prompt", "Hi {{name}}, local"}}), "local"));
  EXPECT_EQ(local.rowsFailed, 0);
}

// --- pure parts, no server ---------------------------------------------------------------------

TEST(Pricing, LongestPatternWinsAndUserFileOverrides) {
  const auto& t = inference::PriceTable::builtin();
  ASSERT_FALSE(t.prices().empty());
  EXPECT_EQ(t.find("openai", "gpt-4o-mini-2024-07-18")->input, 0.15);
  EXPECT_EQ(t.find("openai", "gpt-4o-2024-08-06")->input, 2.50);
  EXPECT_EQ(t.find("anthropic", "claude-opus-4-5-20251101")->output, 25.0);
  EXPECT_EQ(t.find("anthropic", "claude-opus-4-1-20250805")->output, 75.0);
  EXPECT_FALSE(t.find("openai", "llama3").has_value());
  test::TempDir dir;
  test::writeFile(dir / "p.json", R"({"format":"loom.pricing/1","version":"mine","models":[
      {"provider":"openai","pattern":"gpt-4o-mini*","input":1,"output":2},
      {"provider":"openai","pattern":"llama3*","input":0.01,"output":0.02}]})");
  setenv("LOOM_PRICING", (dir / "p.json").c_str(), 1);
  auto mine = inference::PriceTable::load();
  unsetenv("LOOM_PRICING");
  ASSERT_TRUE(mine.ok()) << mine.error().message;
  EXPECT_EQ(mine->find("openai", "gpt-4o-mini")->input, 1.0);
  EXPECT_EQ(mine->find("openai", "llama3:8b")->output, 0.02);
  EXPECT_NE(mine->version().find("+user:"), std::string::npos);
  test::writeFile(dir / "bad.json", R"({"format":"loom.pricing/1","models":[{"provider":"openai","pattern":"x"}]})");
  auto bad = inference::PriceTable::parse("{\"format\":\"loom.pricing/1\",\"models\":[{\"provider\":\"openai\"}]}", "bad.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("bad.json, model entry 1"), std::string::npos);
}

TEST(Pricing, CostCountsCachedAndWrittenTokensAtTheirRates) {
  inference::Price p{"anthropic", "x", 3.0, 15.0, 0.30, 3.75, std::nullopt, std::nullopt};
  // 1000 input tokens of which 600 read from cache and 100 written; 200 output.
  double c = inference::PriceTable::cost(p, {1000, 200, 600, 100});
  EXPECT_NEAR(c, (300 * 3.0 + 600 * 0.30 + 100 * 3.75 + 200 * 15.0) / 1e6, 1e-15);
}

TEST(RateLimiter, ConfiguredRpmSpacesRequestsAndProviderHeadersPause) {
  using namespace std::chrono;
  inference::RateLimiter rl(60, 0);  // one per second (59 in the minute after a burst of one)
  auto t0 = inference::Clock::now();
  inference::Clock::time_point wake;
  EXPECT_TRUE(rl.tryAcquire(t0, 10, wake));
  EXPECT_FALSE(rl.tryAcquire(t0, 10, wake));
  EXPECT_NEAR(duration<double>(wake - t0).count(), 60.0 / 59.0, 0.01);
  EXPECT_FALSE(rl.tryAcquire(t0 + milliseconds(900), 10, wake));
  EXPECT_TRUE(rl.tryAcquire(t0 + milliseconds(1050), 10, wake));
  // Whatever the pattern, no minute holds more than the limit.
  inference::RateLimiter minute(600, 0);
  int sent = 0;
  for (int ms = 0; ms < 60000; ++ms)
    if (minute.tryAcquire(t0 + milliseconds(ms), 1, wake)) ++sent;
  EXPECT_LE(sent, 600);
  EXPECT_GE(sent, 590);

  inference::RateLimiter headers;
  headers.observe({{"x-ratelimit-remaining-requests", "0"}, {"x-ratelimit-reset-requests", "2.5s"}}, t0);
  EXPECT_FALSE(headers.tryAcquire(t0, 1, wake));
  EXPECT_NEAR(duration<double>(wake - t0).count(), 2.5, 0.01);
  EXPECT_TRUE(headers.tryAcquire(t0 + milliseconds(2600), 1, wake));
  headers.observe({{"x-ratelimit-remaining-tokens", "100"}, {"x-ratelimit-reset-tokens", "6m0s"}}, t0);
  EXPECT_FALSE(headers.tryAcquire(t0, 500, wake));
  EXPECT_NEAR(duration<double>(wake - t0).count(), 360, 0.01);

  EXPECT_EQ(inference::parseResetDuration("1m30.5s")->count(), 90500);
  EXPECT_EQ(inference::parseResetDuration("120ms")->count(), 120);
  EXPECT_FALSE(inference::parseResetDuration("soon").has_value());
  EXPECT_EQ(inference::retryAfter({{"retry-after", "3"}})->count(), 3000);
  EXPECT_EQ(inference::retryAfter({{"retry-after", "3"}, {"retry-after-ms", "250"}})->count(), 250);
}

TEST(Providers, MalformedAnswersAreErrorsNotCrashes) {
  using inference::Provider;
  for (const char* body : {"", "{", "[]", "{\"choices\":[]}", "{\"choices\":[{\"message\":{}}]}",
                           "{\"choices\":[{\"message\":{\"content\":5}}]}", "{\"choices\":\"x\"}"})
    EXPECT_FALSE(inference::parseChatAnswer(Provider::OpenAI, body).ok()) << body;
  for (const char* body : {"{\"content\":[]}", "{\"content\":[{\"type\":\"image\"}]}", "{\"content\":\"hi\"}"})
    EXPECT_FALSE(inference::parseChatAnswer(Provider::Anthropic, body).ok()) << body;
  EXPECT_FALSE(inference::parseEmbedAnswer("{\"data\":[{\"embedding\":[1,\"x\"]}]}", 1).ok());
  EXPECT_FALSE(inference::parseEmbedAnswer("{\"data\":[{\"index\":5,\"embedding\":[1]}]}", 1).ok());
  EXPECT_FALSE(inference::parseEmbedAnswer("{\"data\":[]}", 2).ok());
  EXPECT_EQ(inference::redactSecrets("Incorrect API key provided: sk-proj-abcd1234efgh. See docs"),
            "Incorrect API key provided: [redacted]. See docs");
  EXPECT_EQ(inference::redactSecrets("key mysecretvalue here", "mysecretvalue"), "key [redacted] here");
}

}  // namespace

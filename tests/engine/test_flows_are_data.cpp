// Flow files are data: opening and running one never executes code or a shell command. Every
// parameter of every registered node is given shell, template, SQL and scripting payloads that would
// leave a marker file if anything interpreted them; each flow is parsed, validated and run (failing
// is fine), and afterwards no marker exists, nothing appeared outside the test's folder, and the
// catalog has no attached database or loaded extension.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "catalog/catalog.h"
#include "exec/executor.h"
#include "flow/flow.h"
#include "nodes/registry.h"
#include "test_support.h"

using namespace loom;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A value of the right kind for parameters the payload is not in, so validation gets as far as it can.
// Sinks write into `out`, never into the listed folder (an export into it would grow the input of
// every later flow).
json plausible(const nodes::ParamSpec& p, const fs::path& data, bool sink) {
  // Model nodes run up to their calls, which find nothing listening on this machine's discard port.
  if (p.name == "base_url") return "http://127.0.0.1:9/v1";
  if (p.name == "max_attempts") return 1;
  if (p.name == "api_key_env") return "LOOM_PAYLOAD_TEST_KEY";
  if (!p.defaultValue.is_null()) return p.defaultValue;
  switch (p.type) {
    case nodes::ParamType::Integer: return p.minimum ? json(static_cast<int64_t>(*p.minimum)) : json(1);
    case nodes::ParamType::Number: return p.minimum ? json(*p.minimum) : json(1.0);
    case nodes::ParamType::Boolean: return false;
    case nodes::ParamType::Enum: return p.choices.empty() ? json("x") : json(p.choices.front());
    case nodes::ParamType::Uri: return sink ? (data.parent_path() / "out").string() : data.string();
    case nodes::ParamType::SqlExpr: return "size > 0";
    case nodes::ParamType::SqlOrder: return "name";
    case nodes::ParamType::ColumnMap: return json::object({{"n", "size + 1"}});
    case nodes::ParamType::DatasetRef: return "seed";
    case nodes::ParamType::String: return p.name == "model" ? "gpt-4o-mini" : "text {{name}}";
    case nodes::ParamType::StringList: return json::array({"name"});
    case nodes::ParamType::Json: return json::object();
  }
  return "x";
}

bool takesText(nodes::ParamType t) {
  using T = nodes::ParamType;
  return t == T::String || t == T::Uri || t == T::Enum || t == T::SqlExpr || t == T::SqlOrder || t == T::DatasetRef ||
         t == T::ColumnMap || t == T::StringList || t == T::Json;
}

TEST(FlowsAreData, NoParameterOfAnyNodeRunsCodeOrAShellCommand) {
  test::TempDir dir;
  const fs::path data = dir.path() / "data";
  test::writeFile(data / "a.txt", "hello");
  test::writeFile(data / "b.csv", "url\nhttp://127.0.0.1:9/x\n");
  const fs::path mark = dir.path() / "PWNED";
  const std::string m = mark.string();
  // One text payload holds every shell spelling at once, one every template spelling; SQL and
  // scripting payloads go one by one, as a parser would stop at the first.
  const std::vector<std::string> payloads = {
      "$(touch " + m + "1) `touch " + m + "2` ; touch " + m + "3 ; | touch " + m + "4 && touch " + m + "5 ${IFS}",
      "{{system('touch " + m + "6')}} {{ `touch " + m + "7` }} <%= system('touch " + m + "8') %>",
      "load_extension('" + m + "9.so')",
      "writefile('" + m + "10', 'x')",
      "1); ATTACH DATABASE '" + m + "11' AS x; CREATE TABLE x.t(a); --",
      "name) FROM objects; ATTACH '" + m + "12' AS y; SELECT (1",
      "(SELECT load_extension('" + m + "13'))",
      "__import__('os').system('touch " + m + "14')",
      "file://" + m + "15",
      "|touch " + m + "16",
  };
  setenv("LOOM_PAYLOAD_TEST_KEY", "payload-test-key-0123456789", 1);
  unsetenv("LOOM_ALLOW_PRIVATE_HOSTS");
  setenv("LOOM_THUMBNAIL_CACHE", (dir.path() / "thumbs").c_str(), 1);
  setenv("LOOM_READ_CACHE_DIR", (dir.path() / "objects").c_str(), 1);

  auto cat = catalog::Catalog::open((dir.path() / "catalog.db").string()).orThrow();
  {
    // A dataset for dataset.read to find.
    json seed = {{"format", "loom.flow/1"},
                 {"name", "seed"},
                 {"nodes",
                  {{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", data.string()}}}},
                   {{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", "seed"}}}}}},
                 {"edges", {{{"from", "src"}, {"to", "out"}}}}};
    exec::Executor ex(*cat, nodes::NodeRegistry::builtin());
    core::Feedback quiet;
    ex.run(flow::parseFlow(seed.dump(), "seed").orThrow(), {}, quiet);
  }

  int flows = 0, ran = 0, refused = 0;
  std::set<std::string> typesTried;
  for (const nodes::NodeType* type : nodes::NodeRegistry::builtin().all()) {
    for (const auto& target : type->params()) {
      if (!takesText(target.type)) continue;
      for (const auto& payload : payloads) {
        json params = json::object();
        for (const auto& p : type->params()) params[p.name] = plausible(p, data, type->outputs().empty());
        params[target.name] = target.type == nodes::ParamType::ColumnMap  ? json::object({{"n", payload}})
                              : target.type == nodes::ParamType::StringList ? json::array({payload})
                              : target.type == nodes::ParamType::Json       ? json::object({{payload, payload}})
                                                                            : json(payload);
        json nodesJson = json::array();
        json edges = json::array();
        const bool source = type->inputs().empty();
        if (!source) {
          nodesJson.push_back({{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", data.string()}}}});
          if (type->inputs().size() == 1)
            edges.push_back({{"from", "src"}, {"to", "n"}});
          else
            for (const auto& port : type->inputs()) edges.push_back({{"from", "src"}, {"to", "n." + port.name}});
        }
        nodesJson.push_back({{"id", "n"}, {"type", type->id()}, {"params", params}});
        if (!type->outputs().empty()) {
          nodesJson.push_back({{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", "o" + std::to_string(flows)}}}});
          edges.push_back({{"from", "n"}, {"to", "out"}});
        }
        json flowJson = {{"format", "loom.flow/1"}, {"name", "payload"}, {"nodes", nodesJson}, {"edges", edges}};
        ++flows;
        typesTried.insert(type->id());
        SCOPED_TRACE(type->id() + "." + target.name + " = " + payload);
        try {
          auto f = flow::parseFlow(flowJson.dump(), (dir.path() / "payload.loomflow").string());
          if (!f.ok()) {
            ++refused;
            continue;
          }
          exec::Executor ex(*cat, nodes::NodeRegistry::builtin());
          core::Feedback quiet;
          exec::RunOptions opts;
          opts.flowPath = (dir.path() / "payload.loomflow").string();
          ex.run(f.value(), opts, quiet);
          ++ran;
        } catch (const core::RunError&) {
          ++refused;  // refused with a message: what a flow with such a value should get
        }
        // An export's destination is where it writes by design: a folder or file at a file:// payload
        // there is the export doing its job inside the flow's folder, not the payload being run.
        if (type->id().rfind("export.", 0) == 0 && target.type == nodes::ParamType::Uri) fs::remove_all(m + "15");
        for (int i = 1; i <= 16; ++i) {
          ASSERT_FALSE(fs::exists(m + std::to_string(i))) << "payload " << i << " was executed";
        }
      }
    }
  }
  std::cerr << "flows-are-data: " << flows << " flows over " << typesTried.size() << " node types, " << ran
            << " ran to the end, " << refused << " refused or stopped with a message\n";
  EXPECT_GE(typesTried.size(), 15u) << "every registered node should have been tried";
  EXPECT_GT(ran, 0);
  EXPECT_GT(refused, 0);
  // The catalog attached nothing and is intact.
  auto list = cat->db().prepare("PRAGMA database_list");
  int attached = 0;
  while (list.step()) attached += list.text(1) == "temp" ? 0 : 1;
  EXPECT_EQ(attached, 1) << "only 'main'";
  auto check = cat->db().prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check.step());
  EXPECT_EQ(check.text(0), "ok");
}

}  // namespace

// A model node's base_url names a web server, nothing else: file:// would have the request read a
// local file into the answer (and so into the catalog), other schemes send it who knows where.
TEST(FlowsAreData, AModelBaseUrlIsAWebServerNeverAFile) {
  test::TempDir dir;
  test::writeFile(dir.path() / "data" / "a.txt", "x");
  auto cat = catalog::Catalog::open((dir.path() / "catalog.db").string()).orThrow();
  for (const std::string base : {"file:///etc/passwd#", "ftp://example.com/v1", "gopher://127.0.0.1:70/_x", "dict://x/",
                                 "/v1/chat", "http://"}) {
    SCOPED_TRACE(base);
    json f = {{"format", "loom.flow/1"},
              {"name", "base"},
              {"nodes",
               {{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", (dir.path() / "data").string()}}}},
                {{"id", "m"}, {"type", "model.llm"}, {"params", {{"model", "m"}, {"prompt", "hi"}, {"base_url", base}}}},
                {{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", "o"}}}}}},
              {"edges", {{{"from", "src"}, {"to", "m"}}, {{"from", "m"}, {"to", "out"}}}}};
    exec::Executor ex(*cat, nodes::NodeRegistry::builtin());
    core::Feedback quiet;
    try {
      ex.run(flow::parseFlow(f.dump(), "base").orThrow(), {}, quiet);
      ADD_FAILURE() << "ran";
    } catch (const core::RunError& e) {
      EXPECT_EQ(e.kind(), core::ErrorKind::InvalidFlow);
      EXPECT_NE(std::string(e.what()).find("parameter 'base_url'"), std::string::npos) << e.what();
    }
  }
}

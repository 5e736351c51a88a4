#include "exec/executor.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "core/hash.h"
#include "core/thread_pool.h"
#include "flow/validate.h"
#include "inference/pricing.h"
#include "inference/spend.h"
#include "nodes/sql_check.h"

namespace loom::exec {

using catalog::Transaction;
using core::ErrorKind;
using core::quoteIdent;
using core::RunError;

namespace {

constexpr const char* kHashDomain = "loom.node/1";

// Every node table: _row numbers the rows, _src is the input row each came from and _in which input
// that is (NULL: the first), so lineage can walk back from any row.
std::string tableDdl(const std::string& table, const core::Schema& schema) {
  std::string ddl = "CREATE TABLE " + quoteIdent(table) + "(_row INTEGER PRIMARY KEY, _src INTEGER, _in INTEGER";
  for (const auto& c : schema.columns()) ddl += ", " + quoteIdent(c.name) + " " + core::sqlTypeName(c.type);
  return ddl + ")";
}

std::string columnList(const core::Schema& schema) {
  std::string s;
  for (const auto& c : schema.columns()) s += ", " + quoteIdent(c.name);
  return s;
}

int64_t countRows(catalog::Db& db, const std::string& table, const char* where = nullptr) {
  auto s = db.prepare("SELECT count(*) FROM " + quoteIdent(table) + (where ? std::string(" WHERE ") + where : ""));
  s.step();
  return s.int64(0);
}

// What the executor knows about a node after it ran (or was found in the cache).
struct NodeState {
  std::string hash;  // for a node's second and later output ports: "<hash>/<port>"
  std::string table;
  core::Schema schema;
  int64_t rows = 0;
  int64_t rowsFailed = 0;
};

// The outcome of trying to take a per-row node's output table for this run.
struct Claim {
  enum Outcome { Cached, Claimed, Busy } outcome = Claimed;
  int64_t ownerRun = 0, ownerPid = 0;  // for Busy: the live run writing the table
};

// Inside one BEGIN IMMEDIATE, so two processes on one catalog never write the same node table: a
// complete output is reused, one a live run is writing is refused (Busy), and one a dead run left half
// done is taken over and resumed. The write lock is released on return, so a caller that waits on Busy
// never starves the owner.
// The tables of a node's output ports after the first: "<table>_<port index>".
std::vector<std::string> portTables(const std::string& table, const flow::ValidatedNode& vn) {
  std::vector<std::string> t{table};
  for (size_t p = 1; p < vn.type->outputs().size(); ++p) t.push_back(table + "_" + std::to_string(p));
  return t;
}

Claim claimNodeOutput(catalog::Catalog& cat, const std::string& hash, const std::string& table,
                      const flow::ValidatedNode& vn, int64_t runId, const std::string& startedAt) {
  const auto tables = portTables(table, vn);
  auto& db = cat.db();
  Transaction tx(db);
  Claim claim;
  auto existing = cat.nodeOutput(hash);
  if (existing && existing->status == "complete" && db.tableExists(existing->tableName)) {
    claim.outcome = Claim::Cached;
  } else if (existing && db.tableExists(table)) {
    auto owner = db.prepare(
        "SELECT r.id, coalesce(r.pid, 0) FROM node_outputs n JOIN runs r ON r.id = n.run_id "
        "WHERE n.hash = ? AND r.status = 'running' AND r.id <> ?");
    owner.bind(1, hash).bind(2, runId);
    if (owner.step()) {
      claim = {Claim::Busy, owner.int64(0), owner.int64(1)};
      return claim;  // rolled back: nothing was written
    }
    auto take = db.prepare("UPDATE node_outputs SET run_id = ? WHERE hash = ?");
    take.bind(1, runId).bind(2, hash);
    take.run();
    for (size_t p = 1; p < tables.size(); ++p)
      if (!db.tableExists(tables[p])) db.exec(tableDdl(tables[p], vn.schema));
  } else {
    for (const auto& t : tables) {
      db.exec("DROP TABLE IF EXISTS " + quoteIdent(t));
      db.exec(tableDdl(t, vn.schema));
    }
    auto s = db.prepare(
        "INSERT OR REPLACE INTO node_outputs(hash, node_type, table_name, status, columns_json, created_at, run_id)"
        " VALUES(?,?,?,'partial',?,?,?)");
    s.bind(1, hash).bind(2, vn.type->id()).bind(3, table);
    s.bind(4, catalog::Catalog::schemaToJson(vn.schema)).bind(5, startedAt).bind(6, runId);
    s.run();
  }
  tx.commit();
  return claim;
}

class NodeContext final : public nodes::ExecContext {
 public:
  NodeContext(catalog::Catalog& cat, core::Feedback& fb, core::ThreadPool& pool, inference::Spend& spend,
              int64_t runId, std::string nodeId, std::vector<nodes::InputTable> inputs,
              std::vector<std::string> outTables, core::Schema outSchema, std::string hash, int64_t batchRows)
      : m_cat(cat), m_fb(fb), m_pool(pool), m_spend(spend), m_runId(runId), m_nodeId(std::move(nodeId)),
        m_inputs(std::move(inputs)), m_outTables(std::move(outTables)), m_outSchema(std::move(outSchema)),
        m_hash(std::move(hash)), m_batchRows(batchRows) {
    if (m_outTables.empty()) m_outTables.emplace_back();  // a sink
  }

  catalog::Catalog& catalog() override { return m_cat; }
  core::Feedback& feedback() override { return m_fb; }
  const std::string& nodeId() const override { return m_nodeId; }
  const std::vector<nodes::InputTable>& inputs() const override { return m_inputs; }
  const std::string& outputTable() const override { return m_outTables[0]; }
  const std::string& outputTable(int port) const override { return m_outTables.at(static_cast<size_t>(port)); }
  const core::Schema& outputSchema() const override { return m_outSchema; }
  int64_t runId() const override { return m_runId; }
  const std::string& nodeHash() const override { return m_hash; }
  inference::Spend& spend() override { return m_spend; }
  void setContentKey(const std::string& digest) override { m_contentKey = digest; }
  void addRunInput(const std::string& kind, const std::string& ref) override { m_runInputs.emplace_back(kind, ref); }
  void setLineageTable(const std::string& table, const std::string& spec) override {
    m_lineageTable = table;
    m_datasetSpec = spec;
  }
  void reportOutput(const std::string& dataset, int64_t version, int64_t rows, bool reused) override {
    m_outputs.push_back({dataset, version, rows, reused});
  }

  void insertSelect(const std::string& select, const nodes::InsertOptions& options) override {
    auto& db = m_cat.db();
    const std::string& outTable = outputTable(options.port);
    std::set<std::string> reads(options.extraReads.begin(), options.extraReads.end());
    for (const auto& in : m_inputs) reads.insert(in.tableName);
    Transaction tx(db);
    db.exec("DELETE FROM " + quoteIdent(outTable));
    std::string sql = "INSERT INTO " + quoteIdent(outTable) + "(_src" + (options.withInputIndex ? ", _in" : "") +
                      columnList(m_outSchema) + ") " + select;
    std::optional<catalog::Stmt> stmt;
    {
      nodes::SqlGuard guard(db.handle(), reads, outTable);
      auto s = db.tryPrepare(sql);
      if (!s.ok())
        throw RunError(ErrorKind::InvalidFlow, "node '" + m_nodeId + "': " +
                                                   (guard.denied().empty() ? s.error().message : guard.denied()));
      stmt.emplace(std::move(s).value());
    }
    m_fb.progress(m_nodeId, 0, -1);
    stmt->run();
    tx.commit();
  }

  void appendRow(std::vector<core::Value> values) override {
    if (!m_appendStarted) {
      m_cat.db().exec("DELETE FROM " + quoteIdent(m_outTables[0]));
      m_appendStarted = true;
    }
    m_pending.push_back(std::move(values));
    if (m_pending.size() >= 4096) flushAppends();
  }

  void flushAppends() {
    if (m_pending.empty()) return;
    auto& db = m_cat.db();
    Transaction tx(db);
    std::string q = "INSERT INTO " + quoteIdent(m_outTables[0]) + "(_src" + columnList(m_outSchema) + ") VALUES(NULL";
    for (size_t i = 0; i < m_outSchema.size(); ++i) q += ",?";
    auto ins = db.prepare(q + ")");
    for (const auto& row : m_pending) {
      ins.reset();
      for (size_t i = 0; i < row.size() && i < m_outSchema.size(); ++i) ins.bind(static_cast<int>(i + 1), row[i]);
      ins.run();
    }
    tx.commit();
    m_pending.clear();
  }

  void mapRows(const nodes::MapSpec& spec) override {
    auto& db = m_cat.db();
    // Resume: rows are written in input order, batch by batch, so the last _src written marks where the
    // previous attempt stopped.
    int64_t after = 0, done = 0;
    {
      auto s = db.prepare("SELECT _src FROM " + quoteIdent(m_outTables[0]) + " ORDER BY _row DESC LIMIT 1");
      if (s.step()) after = s.int64(0);
      done = countRows(db, m_outTables[0]);
      if (done > 0) m_resumed = true;
    }
    const int iErr = m_outSchema.indexOf("error");
    runBatches(after, done, spec.batchRows, [&](std::vector<nodes::RowBuffer>& batch, const std::vector<int64_t>& srcIds,
                                                catalog::Stmt& ins) {
      if (spec.beforeBatch) spec.beforeBatch(batch);
      // A RunError from a row ends the run (the catalog's disk is full, say): it is not the row's fault,
      // and an error stored in the row would be kept as its result and never tried again.
      forEachRow(batch.size(), [&](size_t i) {
        if (batch[i].done) return;
        try {
          spec.perRow(batch[i]);
        } catch (const RunError&) {
          throw;
        } catch (const std::exception& e) {
          if (iErr >= 0) batch[i].values[static_cast<size_t>(iErr)] = std::string("internal error: ") + e.what();
        }
      });
      if (spec.afterRows) spec.afterRows(batch);
      Transaction tx(db);
      if (spec.afterBatch) spec.afterBatch(batch);
      for (size_t r = 0; r < batch.size(); ++r) insertRow(ins, srcIds[r], batch[r].values);
      tx.commit();
    });
  }

  void expandRows(const nodes::ExpandSpec& spec) override {
    auto& db = m_cat.db();
    // Resume as mapRows does: a batch's output rows commit together, so input rows after the last _src
    // written either produced nothing (doing them again produces nothing again) or were not committed.
    int64_t after = 0, done = 0;
    {
      auto s = db.prepare("SELECT max(_src), count(DISTINCT _src) FROM " + quoteIdent(m_outTables[0]));
      if (s.step() && !s.isNull(0)) {
        after = s.int64(0);
        done = s.int64(1);
        m_resumed = true;
      }
    }
    const int iErr = m_outSchema.indexOf("error");
    std::vector<std::vector<std::vector<core::Value>>> produced;
    runBatches(after, done, spec.batchRows, [&](std::vector<nodes::RowBuffer>& batch, const std::vector<int64_t>& srcIds,
                                                catalog::Stmt& ins) {
      produced.assign(batch.size(), {});
      forEachRow(batch.size(), [&](size_t i) {
        try {
          spec.perRow(batch[i], produced[i]);
        } catch (const RunError&) {
          throw;
        } catch (const std::exception& e) {
          // The row's failure is its one output row, with whatever the node had made dropped.
          produced[i].assign(1, batch[i].values);
          if (iErr >= 0) produced[i][0][static_cast<size_t>(iErr)] = std::string("internal error: ") + e.what();
        }
      });
      if (spec.afterRows) spec.afterRows();
      Transaction tx(db);
      if (spec.afterBatch) spec.afterBatch();
      for (size_t r = 0; r < batch.size(); ++r)
        for (const auto& values : produced[r]) insertRow(ins, srcIds[r], values);
      tx.commit();
    });
  }

 private:
  // The per-row loop of mapRows and expandRows: reads inputs()[0] after _row `after` in batches of
  // `batchRows` (0: the executor's default), each row mapped by column name into output-schema order,
  // and hands each batch, its input _row ids and the prepared output insert to `body`, which commits it.
  // Checks for cancel before each batch and reports progress after it.
  void runBatches(int64_t after, int64_t done, int64_t batchRows,
                  const std::function<void(std::vector<nodes::RowBuffer>&, const std::vector<int64_t>&,
                                           catalog::Stmt&)>& body) {
    auto& db = m_cat.db();
    const auto& in = m_inputs.at(0);
    std::vector<int> fromInput;
    for (const auto& c : m_outSchema.columns()) fromInput.push_back(in.schema.indexOf(c.name));
    auto sel = db.prepare("SELECT _row" + columnList(in.schema) + " FROM " + quoteIdent(in.tableName) +
                          " WHERE _row > ? ORDER BY _row LIMIT ?");
    std::string q = "INSERT INTO " + quoteIdent(m_outTables[0]) + "(_src" + columnList(m_outSchema) + ") VALUES(?";
    for (size_t i = 0; i < m_outSchema.size(); ++i) q += ",?";
    auto ins = db.prepare(q + ")");
    std::vector<nodes::RowBuffer> batch;
    std::vector<int64_t> srcIds;
    for (;;) {
      if (m_fb.isCancelled()) throw RunError(ErrorKind::Cancelled, "cancelled in node '" + m_nodeId + "'");
      batch.clear();
      srcIds.clear();
      sel.reset();
      sel.bind(1, after).bind(2, batchRows > 0 ? batchRows : m_batchRows);
      while (sel.step()) {
        srcIds.push_back(sel.int64(0));
        nodes::RowBuffer row;
        row.values.resize(m_outSchema.size());
        for (size_t i = 0; i < fromInput.size(); ++i)
          if (fromInput[i] >= 0) row.values[i] = sel.value(fromInput[i] + 1);
        batch.push_back(std::move(row));
      }
      if (batch.empty()) break;
      after = srcIds.back();
      body(batch, srcIds, ins);
      done += static_cast<int64_t>(batch.size());
      m_fb.progress(m_nodeId, done, in.rowCount);
    }
  }

  // Runs `fn` for each row index on the worker pool. The first core::RunError a row throws is rethrown
  // once every row is done (other exceptions are the caller's to catch inside `fn`).
  void forEachRow(size_t n, const std::function<void(size_t)>& fn) {
    std::mutex runErrorMutex;
    std::optional<RunError> runError;
    m_pool.parallelFor(n, [&](size_t i) {
      try {
        fn(i);
      } catch (const RunError& e) {
        std::lock_guard lock(runErrorMutex);
        if (!runError) runError = e;
      }
    });
    if (runError) throw *runError;
  }

  // One output row: its input row, then its values (missing trailing values are null).
  void insertRow(catalog::Stmt& ins, int64_t src, const std::vector<core::Value>& values) {
    ins.reset();
    ins.bind(1, src);
    for (size_t i = 0; i < m_outSchema.size(); ++i) {
      if (i < values.size())
        ins.bind(static_cast<int>(i + 2), values[i]);
      else
        ins.bind(static_cast<int>(i + 2), nullptr);
    }
    ins.run();
  }

 public:
  bool resumed() const { return m_resumed; }
  const std::string& contentKey() const { return m_contentKey; }
  const std::vector<std::pair<std::string, std::string>>& runInputs() const { return m_runInputs; }
  const std::vector<RunOutput>& outputs() const { return m_outputs; }
  const std::string& lineageTable() const { return m_lineageTable; }
  const std::string& datasetSpec() const { return m_datasetSpec; }

 private:
  catalog::Catalog& m_cat;
  core::Feedback& m_fb;
  core::ThreadPool& m_pool;
  inference::Spend& m_spend;
  int64_t m_runId;
  std::string m_nodeId;
  std::vector<nodes::InputTable> m_inputs;
  std::vector<std::string> m_outTables;  // one per output port; {""} for a sink
  core::Schema m_outSchema;
  std::string m_hash;
  int64_t m_batchRows;
  std::string m_contentKey, m_lineageTable, m_datasetSpec;
  std::vector<std::pair<std::string, std::string>> m_runInputs;
  std::vector<RunOutput> m_outputs;
  std::vector<std::vector<core::Value>> m_pending;
  bool m_appendStarted = false;
  bool m_resumed = false;
};

std::string nodeHash(const flow::ValidatedNode& vn, const std::vector<std::string>& upstreamHashes,
                     const std::string& key) {
  core::Hasher h;
  h.field(kHashDomain).field(vn.type->id()).field(std::to_string(vn.type->version())).field(vn.params.dump());
  for (const auto& u : upstreamHashes) h.field(u);
  return h.field(key).hex();
}

// Model calls the ledger holds for a run (and node): counts, tokens and cost.
struct CallTally {
  int64_t calls = 0, cached = 0, inputTokens = 0, outputTokens = 0;
  double costUsd = 0, latencyMs = 0;  // latencyMs: summed over calls that were sent
};

CallTally tallyCalls(catalog::Db& db, int64_t runId, const std::string& nodeId = {}) {
  auto s = db.prepare(
      "SELECT count(*), coalesce(sum(cache_hit),0), coalesce(sum(input_tokens),0), coalesce(sum(output_tokens),0),"
      " coalesce(sum(cost_usd),0), coalesce(sum(CASE WHEN cache_hit=0 THEN latency_ms ELSE 0 END),0)"
      " FROM model_calls WHERE run_id=?" + std::string(nodeId.empty() ? "" : " AND node_id=?"));
  s.bind(1, runId);
  if (!nodeId.empty()) s.bind(2, nodeId);
  CallTally t;
  if (s.step()) {
    t.calls = s.int64(0);
    t.cached = s.int64(1);
    t.inputTokens = s.int64(2);
    t.outputTokens = s.int64(3);
    t.costUsd = s.real(4);
    t.latencyMs = s.real(5);
  }
  return t;
}

// The run's budget: the smaller of --budget-usd and the flow's own "budget_usd".
std::optional<double> runBudget(const flow::Flow& flow, const RunOptions& options) {
  std::optional<double> budget = options.budgetUsd;
  auto it = flow.extra.find("budget_usd");
  if (it != flow.extra.end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() < 0)
      throw RunError(ErrorKind::InvalidFlow, "the flow's \"budget_usd\" must be a number of US dollars ≥ 0");
    budget = budget ? std::min(*budget, it->get<double>()) : it->get<double>();
  }
  if (budget && *budget < 0) throw RunError(ErrorKind::InvalidInput, "--budget-usd must be ≥ 0");
  return budget;
}

std::string priceTableVersion() {
  auto t = inference::PriceTable::load();
  if (!t.ok()) throw RunError(ErrorKind::InvalidInput, t.error().message);
  return t->version();
}

int progressHandler(void* fb) { return static_cast<core::Feedback*>(fb)->isCancelled() ? 1 : 0; }

std::string hostName() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return host;
}

// Starts a run's record ("running", this process) and returns its id. `params` is what the run was
// asked (overrides, budget, dry run).
int64_t startRunRecord(catalog::Db& db, const flow::Flow& flow, const RunOptions& options, const std::string& flowJson,
                       const std::string& flowHash, const nlohmann::json& params) {
  auto s = db.prepare(
      "INSERT INTO runs(flow_name, flow_path, flow_hash, flow_json, params_json, app_version, started_at, status, pid,"
      " host, price_table_version) VALUES(?,?,?,?,?,?,?,'running',?,?,?)");
  s.bind(1, flow.name).bind(2, options.flowPath).bind(3, flowHash).bind(4, flowJson).bind(5, params.dump());
  s.bind(6, LOOM_VERSION).bind(7, core::nowIsoUtc()).bind(8, static_cast<int64_t>(getpid())).bind(9, hostName());
  s.bind(10, priceTableVersion());
  s.run();
  return db.lastInsertId();
}

// Ends a run's record: status, error, end time, failed rows, and the ledger's totals, which are also
// copied into `result`.
void finishRunRecord(catalog::Db& db, int64_t runId, const std::string& status, const std::string& error,
                     RunResult& result) {
  CallTally t = tallyCalls(db, runId);
  result.calls = t.calls;
  result.callsCached = t.cached;
  result.costUsd = t.costUsd;
  auto s = db.prepare("UPDATE runs SET status=?, error=?, ended_at=?, rows_failed=?, cost_usd=? WHERE id=?");
  s.bind(1, status);
  if (error.empty())
    s.bind(2, nullptr);
  else
    s.bind(2, error);
  s.bind(3, core::nowIsoUtc()).bind(4, result.rowsFailed).bind(5, result.costUsd).bind(6, runId);
  s.run();
}

// The run status an aborting error leaves.
const char* statusFor(ErrorKind kind) {
  return kind == ErrorKind::Cancelled ? "cancelled" : kind == ErrorKind::Budget ? "budget" : "failed";
}

// A dry run on a sample: every node runs for real into scratch tables (dry_<run>_<node>), except that
// each source keeps `sample` random rows of what it produced and sinks save nothing. Calls, tokens and
// cost from the ledger are scaled by the source's population / sample; time too, except for nodes that
// made model calls, whose time is bounded by their concurrency and rate limit rather than by the rows.
RunResult estimateRun(catalog::Catalog& cat, const flow::Flow& flow, const flow::Validation& validation,
                      const RunOptions& options, core::Feedback& feedback, const std::string& flowJson,
                      const std::string& flowHash, inference::Spend& spend) {
  auto& db = cat.db();
  nlohmann::json params = {{"overrides", options.overrides}, {"dry_run", true}, {"sample", options.sample}};
  if (spend.budget()) params["budget_usd"] = *spend.budget();
  const int64_t runId = startRunRecord(db, flow, options, flowJson, flowHash, params);
  RunResult result;
  result.runId = runId;
  result.status = "dry-run";
  Estimate est;
  est.sampleRows = options.sample;
  core::ThreadPool pool(options.threads);
  std::map<std::string, NodeState> states;
  std::map<std::string, double> factor;  // population / sample behind each node's rows
  std::vector<std::string> scratch;
  std::string outcome = "dry-run", error;
  ErrorKind errorKind = ErrorKind::Internal;

  try {
    for (const auto& vn : validation.order) {
      if (feedback.isCancelled()) throw RunError(ErrorKind::Cancelled, "cancelled");
      const std::string& id = vn.node->id;
      auto started = std::chrono::steady_clock::now();
      std::vector<nodes::InputTable> inputs;
      double f = 1;
      int64_t rowsIn = 0;
      for (const auto& u : vn.upstream) {
        inputs.push_back({states[u].table, states[u].schema, states[u].rows});
        f = std::max(f, factor[u]);
        rowsIn += states[u].rows;
      }
      NodeReport rep{id, vn.type->id(), "sampled", rowsIn};
      if (vn.type->outputs().empty()) {
        rep.status = "skipped";  // a dry run saves nothing
        rep.rowsOut = rowsIn;
        rep.rowsIn = static_cast<int64_t>(std::llround(static_cast<double>(rowsIn) * f));
        result.nodes.push_back(rep);
        continue;
      }
      NodeState st;
      st.schema = vn.schema;
      st.table = "dry_" + std::to_string(runId) + "_" + id;
      for (const auto& t : portTables(st.table, vn)) {
        db.exec("DROP TABLE IF EXISTS " + quoteIdent(t));
        db.exec(tableDdl(t, vn.schema));
        scratch.push_back(t);
      }
      NodeContext ctx(cat, feedback, pool, spend, runId, id, inputs, portTables(st.table, vn), vn.schema, "",
                      options.batchRows);
      vn.type->execute(vn.params, ctx);
      ctx.flushAppends();
      st.rows = countRows(db, st.table);
      const int64_t produced = st.rows;
      if (vn.upstream.empty()) {  // a source: keep a random sample of what it produced
        est.populationRows += st.rows;
        if (st.rows > options.sample) {
          f = static_cast<double>(st.rows) / static_cast<double>(options.sample);
          db.exec("DELETE FROM " + quoteIdent(st.table) + " WHERE _row NOT IN (SELECT _row FROM " +
                  quoteIdent(st.table) + " ORDER BY random() LIMIT " + std::to_string(options.sample) + ")");
          st.rows = countRows(db, st.table);
        }
      }
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      CallTally t = tallyCalls(db, runId, id);
      est.sampleCalls += t.calls;
      est.sampleCostUsd += t.costUsd;
      auto scale = [&](int64_t v) { return static_cast<int64_t>(std::llround(static_cast<double>(v) * f)); };
      rep.rowsOut = vn.upstream.empty() ? produced : scale(st.rows);
      rep.rowsIn = scale(rowsIn);
      rep.rowsFailed = vn.schema.has("error") ? scale(countRows(db, st.table, "error IS NOT NULL")) : 0;
      rep.calls = scale(t.calls);
      rep.callsCached = scale(t.cached);
      rep.inputTokens = scale(t.inputTokens);
      rep.outputTokens = scale(t.outputTokens);
      rep.costUsd = t.costUsd * f;
      if (t.calls > t.cached) {
        // Calls overlap: the whole input takes (calls × mean latency) / concurrency, and no less than
        // the configured requests-per-minute limit allows.
        double sent = static_cast<double>(rep.calls - rep.callsCached);
        double meanLatency = t.latencyMs / 1000.0 / static_cast<double>(t.calls - t.cached);
        double concurrency = std::max(1.0, vn.params.value("concurrency", 16.0));
        double seconds = sent * meanLatency / concurrency;
        double rpm = vn.params.value("rpm", 0.0);
        if (rpm > 0) seconds = std::max(seconds, sent / (rpm / 60.0));
        rep.seconds = seconds;
      } else {
        rep.seconds = vn.upstream.empty() ? secs : secs * f;
      }
      est.calls += rep.calls;
      est.callsCached += rep.callsCached;
      est.inputTokens += rep.inputTokens;
      est.outputTokens += rep.outputTokens;
      est.costUsd += rep.costUsd;
      est.seconds += rep.seconds;
      factor[id] = f;
      const auto tables = portTables(st.table, vn);
      for (size_t p = 1; p < tables.size(); ++p) {
        const std::string key = id + "." + vn.type->outputs()[p].name;
        NodeState ps{"", tables[p], vn.schema, countRows(db, tables[p]), 0};
        rep.rowsOut += scale(ps.rows);
        factor[key] = f;
        states[key] = std::move(ps);
      }
      states[id] = std::move(st);
      result.nodes.push_back(rep);
    }
  } catch (const RunError& e) {
    outcome = statusFor(e.kind());
    error = e.what();
    errorKind = e.kind();
  }
  for (const auto& t : scratch) db.exec("DROP TABLE IF EXISTS " + quoteIdent(t));
  finishRunRecord(db, runId, outcome, error, result);
  if (!error.empty()) throw RunError(errorKind, error);
  result.estimate = est;
  return result;
}

}  // namespace

void cleanupStaging(catalog::Catalog& cat) {
  auto& db = cat.db();
  std::vector<std::string> drop;
  {
    // Staging tables are named s_<run id>_<node> and dry-run scratch tables dry_<run id>_<node>; a run
    // that is no longer running left them behind. (Dataset versions live in d_<id>: never matched here.)
    auto s = db.prepare(
        "WITH t(name, rest) AS (SELECT name, CASE WHEN name LIKE 's\\_%' ESCAPE '\\' THEN substr(name, 3) "
        "ELSE substr(name, 5) END FROM sqlite_master WHERE type='table' AND (name LIKE 's\\_%' ESCAPE '\\' OR "
        "name LIKE 'dry\\_%' ESCAPE '\\')) "
        "SELECT name FROM t WHERE instr(rest, '_') > 1 AND "
        "CAST(substr(rest, 1, instr(rest, '_') - 1) AS INTEGER) NOT IN (SELECT id FROM runs WHERE status='running')");
    while (s.step()) drop.push_back(s.text(0));
  }
  for (const auto& t : drop) db.exec("DROP TABLE IF EXISTS " + quoteIdent(t));
}

Executor::Executor(catalog::Catalog& catalog, const nodes::NodeRegistry& registry)
    : m_catalog(catalog), m_registry(registry) {}

RunResult Executor::run(const flow::Flow& flow, const RunOptions& options, core::Feedback& feedback) {
  auto& db = m_catalog.db();
  m_catalog.markStaleRuns();
  cleanupStaging(m_catalog);

  nodes::ValidationContext vctx;
  vctx.catalog = &m_catalog;
  if (!options.flowPath.empty())
    vctx.baseDir = std::filesystem::absolute(options.flowPath).parent_path().lexically_normal().string();
  else
    vctx.baseDir = std::filesystem::current_path().string();
  flow::Validation validation = flow::validateFlow(flow, m_registry, vctx, options.overrides);
  if (!validation.ok())
    throw RunError(ErrorKind::InvalidFlow, "invalid flow" + (options.flowPath.empty() ? "" : " " + options.flowPath) +
                                               ":\n" + validation.message());

  std::string flowJson = flow::serializeFlow(flow);
  nlohmann::json overrides = options.overrides;
  std::string flowHash = core::Hasher().field(flowJson).field(overrides.dump()).hex();
  nodes::registerSqlFunctions(db.handle());

  RunResult result;
  std::map<std::string, NodeState> states;
  const std::optional<double> budget = runBudget(flow, options);
  inference::Spend spend(budget);

  if (options.dryRun && options.sample > 0)
    return estimateRun(m_catalog, flow, validation, options, feedback, flowJson, flowHash, spend);
  if (options.dryRun) {
    result.status = "dry-run";
    std::set<std::string> unknown;  // nodes whose hash depends on a listing not yet made
    for (const auto& vn : validation.order) {
      NodeReport rep{vn.node->id, vn.type->id(), "to run"};
      bool upstreamKnown = true;
      std::vector<std::string> ups;
      for (const auto& u : vn.upstream) {
        upstreamKnown = upstreamKnown && !unknown.count(u);
        ups.push_back(states[u].hash);
      }
      const auto outs = vn.type->outputs();
      if (vn.type->keyedByContent() || !upstreamKnown) {
        unknown.insert(vn.node->id);
        for (size_t p = 1; p < outs.size(); ++p) unknown.insert(vn.node->id + "." + outs[p].name);
      } else {
        auto key = vn.type->runtimeKey(vn.params, m_catalog);
        std::string h = nodeHash(vn, ups, key.ok() ? key.value() : "");
        states[vn.node->id].hash = h;
        for (size_t p = 1; p < outs.size(); ++p) states[vn.node->id + "." + outs[p].name].hash = h + "/" + outs[p].name;
        auto existing = m_catalog.nodeOutput(h);
        if (existing && existing->status == "complete") {
          rep.status = "cached";
          rep.rowsOut = existing->rowCount;
        }
      }
      result.nodes.push_back(rep);
    }
    return result;
  }

  nlohmann::json runParams = {{"overrides", overrides}};
  if (budget) runParams["budget_usd"] = *budget;
  const int64_t runId = startRunRecord(db, flow, options, flowJson, flowHash, runParams);
  result.runId = runId;
  sqlite3_progress_handler(db.handle(), 10000, &progressHandler, &feedback);
  core::ThreadPool pool(options.threads);

  auto finishRun = [&](const std::string& status, const std::string& error) {
    sqlite3_progress_handler(db.handle(), 0, nullptr, nullptr);
    finishRunRecord(db, runId, status, error, result);
  };

  try {
    for (const auto& vn : validation.order) {
      if (feedback.isCancelled()) throw RunError(ErrorKind::Cancelled, "cancelled");
      const std::string& id = vn.node->id;
      auto started = std::chrono::steady_clock::now();
      std::string startedAt = core::nowIsoUtc();

      std::vector<nodes::InputTable> inputs;
      std::vector<std::string> upstreamHashes;
      int64_t rowsIn = 0;
      for (const auto& u : vn.upstream) {
        const auto& st = states.at(u);
        inputs.push_back({st.table, st.schema, st.rows});
        upstreamHashes.push_back(st.hash);
        rowsIn += st.rows;
      }

      NodeReport rep{id, vn.type->id(), "done", rowsIn};
      NodeState state;
      state.schema = vn.schema;
      std::unique_ptr<NodeContext> ctx;
      bool isSink = vn.type->outputs().empty();

      if (vn.type->keyedByContent()) {
        // The listing decides the key: list into a staging table, then keep it or drop it for the cache.
        std::string staging = "s_" + std::to_string(runId) + "_" + id;
        db.exec("DROP TABLE IF EXISTS " + quoteIdent(staging));
        db.exec(tableDdl(staging, vn.schema));
        ctx = std::make_unique<NodeContext>(m_catalog, feedback, pool, spend, runId, id, inputs, std::vector<std::string>{staging}, vn.schema, "",
                                            options.batchRows);
        vn.type->execute(vn.params, *ctx);
        ctx->flushAppends();
        state.hash = nodeHash(vn, upstreamHashes, ctx->contentKey());
        state.table = "n_" + state.hash.substr(0, 24);
        Transaction tx(db);  // BEGIN IMMEDIATE: a second run listing the same content waits here
        auto existing = m_catalog.nodeOutput(state.hash);
        if (existing && existing->status == "complete" && db.tableExists(existing->tableName)) {
          db.exec("DROP TABLE " + quoteIdent(staging));
          rep.status = "cached";
        } else {
          db.exec("DROP TABLE IF EXISTS " + quoteIdent(state.table));
          db.exec("ALTER TABLE " + quoteIdent(staging) + " RENAME TO " + quoteIdent(state.table));
          auto s = db.prepare(
              "INSERT OR REPLACE INTO node_outputs(hash, node_type, table_name, status, columns_json, input_tables,"
              " row_count, rows_failed, created_at, completed_at, run_id) VALUES(?,?,?,'complete',?,'[]',?,?,?,?,?)");
          int64_t rows = countRows(db, state.table);
          int64_t failed = vn.schema.has("error") ? countRows(db, state.table, "error IS NOT NULL") : 0;
          s.bind(1, state.hash).bind(2, vn.type->id()).bind(3, state.table);
          s.bind(4, catalog::Catalog::schemaToJson(vn.schema)).bind(5, rows).bind(6, failed);
          s.bind(7, startedAt).bind(8, core::nowIsoUtc()).bind(9, runId);
          s.run();
        }
        tx.commit();
      } else {
        auto key = vn.type->runtimeKey(vn.params, m_catalog);
        if (!key.ok()) throw RunError(ErrorKind::InvalidFlow, "node '" + id + "': " + key.error().message);
        state.hash = nodeHash(vn, upstreamHashes, key.value());
        if (isSink) {
          ctx = std::make_unique<NodeContext>(m_catalog, feedback, pool, spend, runId, id, inputs, std::vector<std::string>{}, vn.schema, state.hash,
                                              options.batchRows);
          vn.type->execute(vn.params, *ctx);
          bool allReused = !ctx->outputs().empty();
          for (const auto& o : ctx->outputs()) {
            allReused = allReused && o.reused;
            result.outputs.push_back(o);
            rep.rowsOut += o.rows;
          }
          if (allReused) rep.status = "cached";
        } else {
          state.table = "n_" + state.hash.substr(0, 24);
          bool cached = false;
          bool announced = false;
          for (;;) {
            Claim claim = claimNodeOutput(m_catalog, state.hash, state.table, vn, runId, startedAt);
            if (claim.outcome == Claim::Cached) cached = true;
            if (claim.outcome != Claim::Busy) break;
            // Another process (the desktop app, a second loom-cli) is computing exactly this output:
            // wait for it and reuse its result; if that process dies, take over where it stopped.
            std::string busy = "node '" + id + "' is being computed right now by run " + std::to_string(claim.ownerRun) +
                               " (process " + std::to_string(claim.ownerPid) + ") on this catalog; waiting for it";
            // A warning, so it shows with --json too: a run held up by another process should say why.
            if (!announced) feedback.warning(busy);
            announced = true;
            if (feedback.isCancelled()) throw RunError(ErrorKind::Cancelled, "cancelled while " + busy);
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            m_catalog.markStaleRuns();
          }
          if (cached) {
            rep.status = "cached";
          } else {
            ctx = std::make_unique<NodeContext>(m_catalog, feedback, pool, spend, runId, id, inputs,
                                                portTables(state.table, vn), vn.schema, state.hash,
                                                options.batchRows);
            vn.type->execute(vn.params, *ctx);
            ctx->flushAppends();
            if (ctx->resumed()) rep.status = "resumed";
            nlohmann::json inputTables = nlohmann::json::array();
            if (!ctx->lineageTable().empty())
              inputTables.push_back(ctx->lineageTable());
            else
              for (const auto& in : inputs) inputTables.push_back(in.tableName);
            Transaction tx(db);
            const auto tables = portTables(state.table, vn);
            // Later ports first: the node counts as complete only once all its ports are.
            for (size_t p = tables.size(); p-- > 0;) {
              int64_t rows = countRows(db, tables[p]);
              int64_t failed = vn.schema.has("error") ? countRows(db, tables[p], "error IS NOT NULL") : 0;
              if (p > 0) {
                auto s = db.prepare(
                    "INSERT OR REPLACE INTO node_outputs(hash, node_type, table_name, status, columns_json, "
                    "input_tables, row_count, rows_failed, created_at, completed_at, run_id) "
                    "VALUES(?,?,?,'complete',?,?,?,?,?,?,?)");
                s.bind(1, state.hash + "/" + vn.type->outputs()[p].name).bind(2, vn.type->id()).bind(3, tables[p]);
                s.bind(4, catalog::Catalog::schemaToJson(vn.schema)).bind(5, inputTables.dump());
                s.bind(6, rows).bind(7, failed).bind(8, startedAt).bind(9, core::nowIsoUtc()).bind(10, runId);
                s.run();
                continue;
              }
              auto s = db.prepare(
                  "UPDATE node_outputs SET status='complete', input_tables=?, dataset_input=?, row_count=?, "
                  "rows_failed=?, completed_at=? WHERE hash=?");
              s.bind(1, inputTables.dump());
              if (ctx->datasetSpec().empty())
                s.bind(2, nullptr);
              else
                s.bind(2, ctx->datasetSpec());
              s.bind(3, rows).bind(4, failed).bind(5, core::nowIsoUtc()).bind(6, state.hash);
              s.run();
            }
            tx.commit();
          }
        }
      }

      if (!isSink) {
        auto out = m_catalog.nodeOutput(state.hash);
        state.rows = out ? out->rowCount : 0;
        state.rowsFailed = out ? out->rowsFailed : 0;
        rep.rowsOut = state.rows;
        rep.rowsFailed = state.rowsFailed;
        // Failed rows keep their error as they flow downstream, so the most any node saw is the number
        // of rows that failed in this run, even when a later filter dropped them.
        result.rowsFailed = std::max(result.rowsFailed, state.rowsFailed);
        // Further output ports: their own tables, reached downstream as "<node>.<port>".
        const auto tables = portTables(state.table, vn);
        for (size_t p = 1; p < tables.size(); ++p) {
          const std::string port = vn.type->outputs()[p].name;  // a copy: outputs() returns a temporary
          auto po = m_catalog.nodeOutput(state.hash + "/" + port);
          NodeState ps{state.hash + "/" + port, tables[p], vn.schema, po ? po->rowCount : 0, po ? po->rowsFailed : 0};
          rep.rowsOut += ps.rows;
          rep.rowsFailed += ps.rowsFailed;
          states[id + "." + port] = std::move(ps);
        }
      }
      rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      CallTally calls = tallyCalls(db, runId, id);
      rep.calls = calls.calls;
      rep.callsCached = calls.cached;
      rep.inputTokens = calls.inputTokens;
      rep.outputTokens = calls.outputTokens;
      rep.costUsd = calls.costUsd;

      {
        Transaction tx(db);
        auto s = db.prepare(
            "INSERT INTO node_runs(run_id, node_id, node_type, node_hash, params_json, status, cached, rows_in, "
            "rows_out, rows_failed, table_name, started_at, ended_at, seconds, cost_usd)"
            " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
        s.bind(1, runId).bind(2, id).bind(3, vn.type->id()).bind(4, state.hash).bind(5, vn.params.dump());
        s.bind(6, rep.status).bind(7, rep.status == "cached" ? 1 : 0).bind(8, rep.rowsIn).bind(9, rep.rowsOut);
        s.bind(10, rep.rowsFailed).bind(11, state.table).bind(12, startedAt).bind(13, core::nowIsoUtc());
        s.bind(14, rep.seconds).bind(15, rep.costUsd);
        s.run();
        if (ctx) {
          auto ri = db.prepare("INSERT OR IGNORE INTO run_inputs(run_id, kind, ref) VALUES(?,?,?)");
          for (const auto& [kind, ref] : ctx->runInputs()) {
            ri.reset();
            ri.bind(1, runId).bind(2, kind).bind(3, ref);
            ri.run();
          }
        }
        tx.commit();
      }
      // A cached source still tells lineage what it read.
      if (!ctx && vn.type->id() == "dataset.read") {
        auto v = m_catalog.resolveDataset(vn.params.at("dataset"));
        if (v.ok()) {
          auto ri = db.prepare("INSERT OR IGNORE INTO run_inputs(run_id, kind, ref) VALUES(?,?,?)");
          ri.bind(1, runId).bind(2, "dataset_version").bind(3, v->name + "@" + std::to_string(v->version));
          ri.run();
        }
      }
      feedback.info(id + " (" + vn.type->id() + "): " + rep.status + ", " + std::to_string(rep.rowsOut) + " rows" +
                    (rep.rowsFailed ? ", " + std::to_string(rep.rowsFailed) + " failed" : ""));
      result.nodes.push_back(rep);
      states[id] = std::move(state);
    }
  } catch (const RunError& e) {
    std::string status = statusFor(e.kind());
    try {
      finishRun(status, e.what());
    } catch (...) {
      // The catalog itself failed (disk full, read-only): the original error is the one to report.
    }
    throw;
  } catch (const std::exception& e) {
    try {
      finishRun("failed", e.what());
    } catch (...) {
    }
    throw RunError(ErrorKind::Internal, e.what());
  }
  finishRun("succeeded", "");
  result.status = "succeeded";
  return result;
}

}  // namespace loom::exec

#pragma once
// Runs a validated flow against a catalog: nodes in topological order, each node's output cached in a
// table addressed by its content hash (type, version, parameters, upstream hashes, and for listings
// the listed content). Per-row work is batched on a thread pool and committed batch by batch, so a
// killed run resumes where it stopped. One execution path for the CLI and the GUI.
// Threading: run() blocks its calling thread; cancel through the Feedback from any thread.

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/feedback.h"
#include "flow/flow.h"
#include "nodes/registry.h"

namespace loom::exec {

struct RunOptions {
  std::string flowPath;                              // for the run record and relative URIs
  std::map<std::string, nlohmann::json> overrides;   // "node.param" -> value (from --param)
  std::optional<double> budgetUsd;  // the flow's "budget_usd" applies too; the smaller wins
  bool dryRun = false;
  // Dry run: 0 checks the flow and shows which nodes would run; N > 0 runs the flow on N rows sampled
  // from each source (real calls, whose answers the call cache keeps) and extrapolates calls, tokens,
  // cost and time to the whole input. Nothing is saved.
  int64_t sample = 0;
  int threads = 0;     // 0: one per core
  int64_t batchRows = 256;
};

struct RunOutput {
  std::string dataset;
  int64_t version = 0;
  int64_t rows = 0;
  bool reused = false;  // the content equalled the latest version's; no new version was made
};

struct NodeReport {
  std::string id, type;
  std::string status;  // "done", "cached", "resumed", "to run"; in estimates "sampled", "skipped"
  int64_t rowsIn = 0, rowsOut = 0, rowsFailed = 0;
  double seconds = 0;
  // Model calls from the ledger (this run's; in an estimate, extrapolated to the whole input).
  int64_t calls = 0, callsCached = 0, inputTokens = 0, outputTokens = 0;
  double costUsd = 0;
};

// What a dry run with a sample measured and extrapolates to the whole input.
struct Estimate {
  int64_t sampleRows = 0;      // rows the sample kept, per source
  int64_t populationRows = 0;  // rows the sources produced
  double sampleCostUsd = 0;    // what the sample's own calls cost (their answers are kept in the call cache)
  int64_t sampleCalls = 0;
  // The whole input:
  int64_t calls = 0, callsCached = 0, inputTokens = 0, outputTokens = 0;
  double costUsd = 0, seconds = 0;
};

struct RunResult {
  int64_t runId = 0;
  std::string status;  // "succeeded", "dry-run"
  std::vector<RunOutput> outputs;
  std::vector<NodeReport> nodes;
  int64_t rowsFailed = 0, calls = 0, callsCached = 0;
  double costUsd = 0;
  std::optional<Estimate> estimate;  // dry runs with a sample
};

class Executor {
 public:
  Executor(catalog::Catalog& catalog, const nodes::NodeRegistry& registry);
  // Throws core::RunError for errors that end the run: InvalidFlow (with every validation issue),
  // Cancelled, Budget, Catalog. The run record says how it ended in each case.
  RunResult run(const flow::Flow& flow, const RunOptions& options, core::Feedback& feedback);

 private:
  catalog::Catalog& m_catalog;
  const nodes::NodeRegistry& m_registry;
};

// Drops staging tables left by runs that were killed while listing.
void cleanupStaging(catalog::Catalog& catalog);

}  // namespace loom::exec

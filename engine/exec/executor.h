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
  std::optional<double> budgetUsd;
  bool dryRun = false;
  int64_t sample = 0;  // dry run: rows per source used for estimates
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
  std::string status;  // "done", "cached", "resumed", "planned", "failed"
  int64_t rowsIn = 0, rowsOut = 0, rowsFailed = 0;
  double seconds = 0;
};

struct RunResult {
  int64_t runId = 0;
  std::string status;  // "succeeded", "dry-run"
  std::vector<RunOutput> outputs;
  std::vector<NodeReport> nodes;
  int64_t rowsFailed = 0, calls = 0, callsCached = 0;
  double costUsd = 0;
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

#pragma once
// Provenance queries: where a dataset version came from (run, flow, nodes, inputs), what depends on
// it, and why a single row is there (every node it passed, back to the source object's uri + etag).

#include <string>
#include <utility>
#include <vector>

#include "catalog/catalog.h"
#include <nlohmann/json.hpp>
#include <optional>

#include "core/result.h"

namespace loom::lineage {

struct DownstreamUse {
  int64_t runId = 0;
  std::string flowName;
  std::string status;
  std::vector<std::string> produced;  // "name@version"
};

struct DatasetLineage {
  catalog::DatasetVersion version;
  std::optional<catalog::RunInfo> run;
  std::vector<catalog::NodeRunInfo> nodes;
  std::vector<std::pair<std::string, std::string>> inputs;  // (kind, ref)
  std::vector<DownstreamUse> downstream;
};

struct RowStep {
  std::string kind;      // "dataset" or "node"
  std::string label;     // "big_photos@2" or "big (table.filter)"
  std::string table;
  int64_t row = 0;
  nlohmann::json values;  // the row's columns at this step
};

struct RowLineage {
  std::string dataset;  // name@version
  int64_t row = 0;
  std::vector<RowStep> steps;  // from the dataset row back to the source listing
  std::string sourceUri, sourceEtag;
};

core::Result<DatasetLineage> datasetLineage(catalog::Catalog& catalog, const std::string& spec);
core::Result<RowLineage> rowLineage(catalog::Catalog& catalog, const std::string& spec, int64_t row);

}  // namespace loom::lineage

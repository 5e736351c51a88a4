#pragma once
// Node prototypes, registered by providers into a NodeRegistry (QGIS-processing style). A NodeType is
// immutable and shared by every flow; per-run state lives in the ExecContext the executor passes to
// execute(). Thread-safety: NodeType methods are const and may be called from any thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/feedback.h"
#include "core/result.h"
#include "core/value.h"

namespace loom::catalog {
class Catalog;
}
namespace loom::inference {
class Spend;
}

namespace loom::nodes {

using Params = nlohmann::json;  // a JSON object, validated against the node's ParamSpecs

// StringList: a JSON array of strings (column names, terms). Json: any JSON value the node checks
// itself in outputSchema() (rule sets, fraction maps).
enum class ParamType { String, Integer, Number, Boolean, Enum, Uri, SqlExpr, SqlOrder, ColumnMap, DatasetRef,
                       StringList, Json };
const char* paramTypeName(ParamType t);

struct ParamSpec {
  ParamSpec() = default;
  ParamSpec(std::string n, ParamType t, std::string d, bool req = false, nlohmann::json def = nullptr)
      : name(std::move(n)), type(t), doc(std::move(d)), required(req), defaultValue(std::move(def)) {}
  std::string name;
  ParamType type = ParamType::String;
  std::string doc;
  bool required = false;
  nlohmann::json defaultValue;           // null: no default
  std::vector<std::string> choices;      // for Enum
  std::optional<double> minimum, maximum;
};

struct PortSpec {
  std::string name = "in";
  std::string type = "table";  // the only port type so far; typed so that connections can be checked
  std::string doc;
};

// One row on its way through a per-row node: values in output-schema order.
struct RowBuffer {
  std::vector<core::Value> values;
  bool done = false;  // set by a before-batch hook when the value came from a cache
};

// Hooks for ExecContext::mapRows. beforeBatch/afterBatch run on the executor's thread (they may use
// the catalog); perRow runs on worker threads and must only touch its own row. A row's failure is a
// value in its error column; perRow throws core::RunError only for what ends the run (the catalog's
// disk is full), which mapRows rethrows once the batch's other rows are done, committing nothing.
struct MapSpec {
  std::function<void(std::vector<RowBuffer>&)> beforeBatch;
  std::function<void(RowBuffer&)> perRow;
  // After perRow, before the batch's transaction: work that waits on the network (model calls), which
  // must not hold the catalog's write lock. It may open its own transactions.
  std::function<void(std::vector<RowBuffer>&)> afterRows;
  std::function<void(std::vector<RowBuffer>&)> afterBatch;  // inside the batch's transaction
  int64_t batchRows = 0;  // rows per batch; 0: the executor's default
};

// Hooks for ExecContext::expandRows: one input row gives zero or more output rows (the frames of a
// video, the chunks of a text, the pages of a PDF).
struct ExpandSpec {
  // Worker threads. `row` is the input row mapped into output-schema order by column name (as in
  // mapRows); push each output row, in output-schema order, to `out` (a copy of row.values with the
  // new columns set is the usual start). A row that fails gives one output row with its error column
  // set. Throw core::RunError only for what ends the run.
  std::function<void(const RowBuffer& row, std::vector<std::vector<core::Value>>& out)> perRow;
  std::function<void()> afterRows;   // executor's thread, after perRow, before the batch's transaction
  std::function<void()> afterBatch;  // executor's thread, inside the batch's transaction (blob records)
  int64_t batchRows = 0;             // input rows per batch; 0: the executor's default
};

// Options of ExecContext::insertSelect beyond the SELECT itself.
struct InsertOptions {
  // Tables besides the inputs that the select may read (dataset.read's version).
  std::vector<std::string> extraReads;
  // The select yields `_src, _in, <cols>`: _in is the index of the input that _src points into, so
  // lineage follows rows of a node with several inputs (table.union) to the right one. Without it,
  // _src points into inputs()[0].
  bool withInputIndex = false;
  int port = 0;  // the output port to fill (index into NodeType::outputs())
};

struct InputTable {
  std::string tableName;
  core::Schema schema;
  int64_t rowCount = 0;
};

// What a node sees while it runs. Owned by the executor, valid during NodeType::execute() only.
class ExecContext {
 public:
  virtual ~ExecContext() = default;
  virtual catalog::Catalog& catalog() = 0;
  virtual core::Feedback& feedback() = 0;
  virtual const std::string& nodeId() const = 0;
  virtual const std::vector<InputTable>& inputs() const = 0;
  virtual const std::string& outputTable() const = 0;  // created by the executor, empty (port 0)
  // The table of output port `port` (NodeType::outputs() order); every port has outputSchema().
  virtual const std::string& outputTable(int port) const = 0;
  virtual const core::Schema& outputSchema() const = 0;
  // Per-row work over inputs()[0]: each output row starts as the input row's values mapped by column
  // name. Batches are committed as they finish, so a killed run resumes after the last committed one.
  virtual void mapRows(const MapSpec& spec) = 0;
  // Per-row work over inputs()[0] where a row gives zero or more output rows; committed and resumed
  // batch by batch like mapRows. Each output row's _src is the input row it came from.
  virtual void expandRows(const ExpandSpec& spec) = 0;
  // Structured work: runs `INSERT INTO output(_src, <cols>) <select>`; the select must yield _src
  // first, then the output columns in order. `userSql` pieces were checked by checkSqlExpr().
  // `extraReads` names tables besides the inputs that the select may read (dataset.read's version).
  virtual void insertSelect(const std::string& select, const InsertOptions& options) = 0;
  void insertSelect(const std::string& select, const std::vector<std::string>& extraReads = {}) {
    InsertOptions o;
    o.extraReads = extraReads;
    insertSelect(select, o);
  }
  // Sources: appends rows (values in output-schema order, _src NULL), committed in batches.
  virtual void appendRow(std::vector<core::Value> values) = 0;
  // Sources whose content is only known after running (a listing): the executor derives the node's
  // cache key from this digest instead of from the parameters alone.
  virtual void setContentKey(const std::string& digest) = 0;
  // Sinks: records that a dataset version was produced (or reused).
  virtual void reportOutput(const std::string& dataset, int64_t version, int64_t rows, bool reused) = 0;
  // Lineage: the run read this source ("source", uri) or dataset version ("dataset_version", name@v).
  virtual void addRunInput(const std::string& kind, const std::string& ref) = 0;
  // Lineage: output rows' _src points into this table (used by dataset.read).
  virtual void setLineageTable(const std::string& table, const std::string& datasetSpec) = 0;
  virtual int64_t runId() const = 0;
  virtual const std::string& nodeHash() const = 0;
  // The run's model spending and budget, shared by every node of the run.
  virtual inference::Spend& spend() = 0;
};

// Facts known while validating a flow (the catalog may be absent, e.g. when checking a file alone).
struct ValidationContext {
  catalog::Catalog* catalog = nullptr;
  std::string baseDir;  // relative paths in URI parameters are resolved against it (the flow's folder)
};

class NodeType {
 public:
  virtual ~NodeType() = default;
  virtual std::string id() const = 0;        // "media.probe"
  virtual int version() const { return 1; }  // bump when outputs change for unchanged parameters
  virtual std::string category() const = 0;  // "Sources", "Media", "Table", "Datasets"
  virtual std::string title() const = 0;
  virtual std::string doc() const = 0;
  virtual std::vector<ParamSpec> params() const { return {}; }
  virtual std::vector<PortSpec> inputs() const { return {PortSpec{}}; }   // empty: a source
  // Empty: a sink. Several: every port carries the same output schema; the first is the default one
  // an edge without a port name takes.
  virtual std::vector<PortSpec> outputs() const { return {PortSpec{"out", "table", ""}}; }
  // The node's output columns for the given inputs; errors name the parameter and what is allowed.
  // Called during validation, before anything runs.
  virtual core::Result<core::Schema> outputSchema(const Params& params, const std::vector<core::Schema>& inputs,
                                                  const ValidationContext& ctx) const = 0;
  // Extra cache-key material known before running (e.g. the dataset version a read resolves to).
  virtual core::Result<std::string> runtimeKey(const Params& params, catalog::Catalog& catalog) const {
    return std::string();
  }
  // True for sources whose content is only known after running; they call setContentKey().
  virtual bool keyedByContent() const { return false; }
  virtual void execute(const Params& params, ExecContext& ctx) const = 0;
};

// Shorthands for the common parameter specs (optional, with a default, a range or choices).
// numberParam's default std::nullopt: no default (the parameter may be left out).
ParamSpec intParam(std::string name, std::string doc, int64_t def, std::optional<double> minimum,
                   std::optional<double> maximum = std::nullopt);
ParamSpec numberParam(std::string name, std::string doc, std::optional<double> def, std::optional<double> minimum,
                      std::optional<double> maximum = std::nullopt);
ParamSpec enumParam(std::string name, std::string doc, std::string def, std::vector<std::string> choices);

// A parameter failure for validation messages.
struct ParamError {
  std::string param;
  std::string message;
};

// Fills defaults and checks every parameter against the specs; unknown parameters are errors that
// list the allowed names.
std::vector<ParamError> checkParams(const std::vector<ParamSpec>& specs, Params& params);

}  // namespace loom::nodes

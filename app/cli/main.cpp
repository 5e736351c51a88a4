// loom-cli: the headless twin of the desktop app. Argument parsing and wiring only; the work is done
// by the engine. Exit codes: 0 success (per-row failures allowed), 2 invalid flow or arguments,
// 3 budget reached, 4 cancelled, 1 other failure.

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "core/versions.h"
#include "cli_support.h"
#include "exec/executor.h"
#include "exec/indexer.h"
#include "flow/validate.h"
#include "lineage/lineage.h"
#include "media/thumb_cache.h"
#include "media/thumbnail.h"
#include "nodes/node_docs.h"
#include "nodes/registry.h"
#include "storage/storage.h"
#include "storage/uri.h"

namespace {

using namespace loom;
using core::ErrorKind;
using core::RunError;
using nlohmann::json;

core::Feedback* g_feedback = nullptr;

void onSignal(int) {
  // Feedback::cancel() is a lock-free atomic store: safe in a signal handler.
  if (g_feedback) g_feedback->cancel();
}

int exitCodeFor(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidFlow:
    case ErrorKind::InvalidInput:
    case ErrorKind::NotFound: return 2;
    case ErrorKind::Budget: return 3;
    case ErrorKind::Cancelled: return 4;
    default: return 1;
  }
}

struct Globals {
  std::string catalogPath;
  bool json = false;
};

// `create`: a command that writes (run, index), which may also make the catalog. The others only
// read, and work on a catalog that cannot be written (a read-only mount, another user's file).
std::unique_ptr<catalog::Catalog> openCatalog(const Globals& g, bool create) {
  std::string path = g.catalogPath.empty() ? catalog::Catalog::defaultPath() : g.catalogPath;
  if (!create && !std::filesystem::exists(path))
    throw RunError(ErrorKind::NotFound, "no catalog at " + path +
                                            " (make one with `loom-cli index` or `loom-cli run`, or pass --catalog PATH)");
  return (create ? catalog::Catalog::open(path, true) : catalog::Catalog::openForReading(path)).orThrow();
}

void printJson(const json& j) { std::printf("%s\n", cli::dumpJson(j).c_str()); }

// Removes the temporary files `<prefix><pid>` that exports killed before their rename left behind
// (a process that no longer exists wrote them), so a killed export leaves nothing once run again.
void removeStaleParts(const std::filesystem::path& prefix) {
  std::error_code ec;
  const std::filesystem::path dir = prefix.has_parent_path() ? prefix.parent_path() : std::filesystem::path(".");
  const std::string stem = prefix.filename().string();
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with(stem) || name.size() == stem.size()) continue;
    const std::string digits = name.substr(stem.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const auto pid = static_cast<pid_t>(std::stol(digits));
    if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH) std::filesystem::remove(e.path(), ec);
  }
}

int cmdRun(const Globals& g, const std::string& flowPath, const std::vector<std::string>& params,
           std::optional<double> budget, bool dryRun, int64_t sample, int threads) {
  auto flow = flow::loadFlow(flowPath).orThrow();
  exec::RunOptions opts;
  opts.flowPath = flowPath;
  opts.budgetUsd = budget;
  opts.dryRun = dryRun;
  opts.sample = sample;
  opts.threads = threads;
  for (const auto& p : params) {
    auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0)
      throw RunError(ErrorKind::InvalidInput, "--param " + p + ": write NODE.PARAM=VALUE, e.g. --param src.uri=/data");
    opts.overrides[p.substr(0, eq)] = p.substr(eq + 1);
  }
  auto cat = openCatalog(g, true);
  cli::ConsoleFeedback fb(g.json);
  g_feedback = &fb;
  exec::Executor executor(*cat, nodes::NodeRegistry::builtin());
  exec::RunResult r = executor.run(flow, opts, fb);
  fb.finish();
  g_feedback = nullptr;
  if (g.json) {
    json outputs = json::array();
    for (const auto& o : r.outputs) outputs.push_back({{"dataset", o.dataset}, {"version", o.version}, {"rows", o.rows}});
    json j = {{"run_id", r.runId ? json(r.runId) : json(nullptr)}, {"status", r.status}, {"outputs", outputs},
              {"rows_failed", r.rowsFailed}, {"calls", r.calls}, {"calls_cached", r.callsCached},
              {"cost_usd", r.costUsd}};
    if (dryRun) {
      json plan = json::array();
      for (const auto& n : r.nodes) {
        json item = {{"node", n.id}, {"type", n.type}, {"status", n.status}};
        if (r.estimate)
          item.update({{"rows_in", n.rowsIn}, {"rows_out", n.rowsOut}, {"rows_failed", n.rowsFailed},
                       {"calls", n.calls}, {"calls_cached", n.callsCached}, {"input_tokens", n.inputTokens},
                       {"output_tokens", n.outputTokens}, {"cost_usd", n.costUsd}, {"seconds", n.seconds}});
        plan.push_back(item);
      }
      j["plan"] = plan;
      j["sample"] = sample;
      if (r.estimate) {
        const auto& e = *r.estimate;
        j["estimate"] = {{"sample_rows", e.sampleRows},   {"source_rows", e.populationRows},
                         {"sample_calls", e.sampleCalls}, {"sample_cost_usd", e.sampleCostUsd},
                         {"calls", e.calls},              {"calls_cached", e.callsCached},
                         {"input_tokens", e.inputTokens}, {"output_tokens", e.outputTokens},
                         {"cost_usd", e.costUsd},         {"seconds", e.seconds}};
      }
    }
    printJson(j);
    return 0;
  }
  if (dryRun && r.estimate) {
    const auto& e = *r.estimate;
    std::printf("estimate for %s from %lld sampled rows per source (%lld rows in all); nothing was saved:\n",
                flowPath.c_str(), static_cast<long long>(e.sampleRows), static_cast<long long>(e.populationRows));
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : r.nodes) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.1f", n.seconds);
      rows.push_back({n.id, n.type, n.status == "skipped" ? "not run" : "", std::to_string(n.rowsOut),
                      std::to_string(n.calls), std::to_string(n.callsCached), std::to_string(n.inputTokens),
                      std::to_string(n.outputTokens), cli::formatUsd(n.costUsd), n.status == "skipped" ? "" : secs});
    }
    cli::printTable(stdout, {"node", "type", "", "rows", "calls", "cached", "tokens in", "tokens out", "cost", "seconds"},
                    rows);
    std::printf("estimated: %lld model calls (%lld from the cache), %lld tokens in, %lld out, %s, about %.0f s\n",
                static_cast<long long>(e.calls), static_cast<long long>(e.callsCached),
                static_cast<long long>(e.inputTokens), static_cast<long long>(e.outputTokens),
                cli::formatUsd(e.costUsd).c_str(), e.seconds);
    std::printf("the sample made %lld calls costing %s; their answers are kept, so the real run does not pay for "
                "them again\n",
                static_cast<long long>(e.sampleCalls), cli::formatUsd(e.sampleCostUsd).c_str());
    return 0;
  }
  if (dryRun) {
    std::printf("dry run of %s (nothing was run or saved; add --sample N to estimate calls and cost):\n",
                flowPath.c_str());
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : r.nodes)
      rows.push_back({n.id, n.type, n.status, n.status == "cached" ? std::to_string(n.rowsOut) : ""});
    cli::printTable(stdout, {"node", "type", "plan", "cached rows"}, rows);
    return 0;
  }
  std::printf("run %lld %s\n", static_cast<long long>(r.runId), r.status.c_str());
  std::vector<std::vector<std::string>> rows;
  for (const auto& n : r.nodes) {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.2f", n.seconds);
    rows.push_back({n.id, n.type, n.status, std::to_string(n.rowsIn), std::to_string(n.rowsOut),
                    std::to_string(n.rowsFailed), secs, n.calls ? std::to_string(n.calls) : "",
                    n.calls ? cli::formatUsd(n.costUsd) : ""});
  }
  cli::printTable(stdout, {"node", "type", "status", "rows in", "rows out", "with error", "seconds", "calls", "cost"},
                  rows);
  for (const auto& o : r.outputs)
    std::printf("dataset %s@%lld: %lld rows%s\n", o.dataset.c_str(), static_cast<long long>(o.version),
                static_cast<long long>(o.rows), o.reused ? " (unchanged; no new version)" : "");
  std::printf("rows failed: %lld, model calls: %lld (%lld cached), cost: %s\n", static_cast<long long>(r.rowsFailed),
              static_cast<long long>(r.calls), static_cast<long long>(r.callsCached), cli::formatUsd(r.costUsd).c_str());
  std::printf("catalog: %s\n", cat->path().c_str());
  if (!r.outputs.empty())
    std::printf("look at it: loom-cli --catalog %s show %s@%lld\n", cat->path().c_str(), r.outputs[0].dataset.c_str(),
                static_cast<long long>(r.outputs[0].version));
  return 0;
}

int cmdValidate(const Globals& g, const std::string& flowPath) {
  auto flow = flow::loadFlow(flowPath).orThrow();
  std::unique_ptr<catalog::Catalog> cat;
  std::string path = g.catalogPath.empty() ? catalog::Catalog::defaultPath() : g.catalogPath;
  if (std::filesystem::exists(path)) cat = catalog::Catalog::openForReading(path).orThrow();
  nodes::ValidationContext ctx;
  ctx.catalog = cat.get();
  ctx.baseDir = std::filesystem::absolute(flowPath).parent_path().lexically_normal().string();
  auto v = flow::validateFlow(flow, nodes::NodeRegistry::builtin(), ctx);
  if (g.json) {
    json issues = json::array();
    for (const auto& i : v.issues) issues.push_back({{"node", i.nodeId}, {"param", i.param}, {"message", i.message}});
    printJson({{"valid", v.ok()}, {"issues", issues}});
  } else if (v.ok()) {
    std::printf("%s is valid (%zu nodes)\n", flowPath.c_str(), v.order.size());
  } else {
    std::fprintf(stderr, "invalid flow %s:\n%s\n", flowPath.c_str(), v.message().c_str());
  }
  return v.ok() ? 0 : 2;
}

int cmdIndex(const Globals& g, const std::string& uri, const std::string& glob, bool noProbe, int threads) {
  auto cat = openCatalog(g, true);
  cli::ConsoleFeedback fb(g.json);
  g_feedback = &fb;
  exec::IndexOptions opts;
  opts.uri = uri;
  opts.glob = glob;
  opts.probe = !noProbe;
  opts.threads = threads;
  auto r = exec::indexSource(*cat, opts, fb).orThrow();
  fb.finish();
  g_feedback = nullptr;
  if (g.json) {
    printJson({{"source", r.source}, {"objects", r.objects}, {"added", r.added}, {"changed", r.changed},
               {"unchanged", r.unchanged}, {"probed", r.probed}, {"errors", r.errors}, {"missing", r.missing},
               {"seconds", r.seconds}});
  } else {
    std::printf("indexed %s: %lld objects (%lld new, %lld changed, %lld unchanged), %lld probed, %lld errors, "
                "%lld no longer present, %.2f s\ncatalog: %s\n",
                r.source.c_str(), static_cast<long long>(r.objects), static_cast<long long>(r.added),
                static_cast<long long>(r.changed), static_cast<long long>(r.unchanged),
                static_cast<long long>(r.probed), static_cast<long long>(r.errors),
                static_cast<long long>(r.missing), r.seconds, cat->path().c_str());
  }
  return 0;
}

int cmdDatasets(const Globals& g) {
  auto cat = openCatalog(g, false);
  auto list = cat->datasets();
  if (g.json) {
    json arr = json::array();
    for (const auto& d : list)
      arr.push_back({{"name", d.name}, {"versions", d.versions}, {"latest_version", d.latestVersion},
                     {"rows", d.latestRows}, {"updated_at", d.updatedAt}});
    printJson({{"datasets", arr}});
    return 0;
  }
  if (list.empty()) {
    std::printf("no datasets yet in %s (a flow's dataset.save node makes one)\n", cat->path().c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : list)
    rows.push_back({d.name, std::to_string(d.versions), std::to_string(d.latestVersion), std::to_string(d.latestRows),
                    d.updatedAt});
  cli::printTable(stdout, {"dataset", "versions", "latest", "rows", "updated"}, rows);
  return 0;
}

json rowJson(const catalog::DatasetVersion& v, const std::vector<core::Value>& values) {
  json row = json::object();
  row["_row"] = cli::valueToJson(values[0]);
  for (size_t i = 0; i < v.schema.size(); ++i) row[v.schema[i].name] = cli::valueToJson(values[i + 1]);
  return row;
}

int cmdShow(const Globals& g, const std::string& spec, int64_t limit, int64_t offset) {
  auto cat = openCatalog(g, false);
  auto v = cat->resolveDataset(spec).orThrow();
  if (g.json) {
    json cols = json::array(), rows = json::array();
    for (const auto& c : v.schema.columns()) cols.push_back(c.name);
    cat->readRows(v, offset, limit, [&](const std::vector<core::Value>& vals) { rows.push_back(rowJson(v, vals)); });
    printJson({{"dataset", v.name}, {"version", v.version}, {"columns", cols}, {"rows", rows}});
    return 0;
  }
  std::vector<std::string> header = {"_row"};
  for (const auto& c : v.schema.columns()) header.push_back(c.name);
  std::vector<std::vector<std::string>> rows;
  cat->readRows(v, offset, limit, [&](const std::vector<core::Value>& vals) {
    std::vector<std::string> r;
    for (const auto& x : vals) r.push_back(cli::valueToText(x));
    rows.push_back(std::move(r));
  });
  std::printf("%s@%lld: %lld rows (%lld failed), made %s by run %lld\n", v.name.c_str(),
              static_cast<long long>(v.version), static_cast<long long>(v.rowCount),
              static_cast<long long>(v.rowsFailed), v.createdAt.c_str(), static_cast<long long>(v.runId));
  cli::printTable(stdout, header, rows, 40);
  if (offset + static_cast<int64_t>(rows.size()) < v.rowCount)
    std::printf("… %lld more rows (use --limit/--offset, or export)\n",
                static_cast<long long>(v.rowCount - offset - static_cast<int64_t>(rows.size())));
  return 0;
}

int cmdExport(const Globals& g, const std::string& spec, const std::string& format, const std::string& outPath) {
  if (format != "jsonl" && format != "csv")
    throw RunError(ErrorKind::InvalidInput, "--format " + format + ": use jsonl or csv");
  auto cat = openCatalog(g, false);
  auto v = cat->resolveDataset(spec).orThrow();
  bool toStdout = outPath == "-";
  // An object-store target (s3://, gs://, az://, …) is written to a local temporary file first and
  // then uploaded as one object (multipart when large), so readers never see a partial export.
  const bool remote = !toStdout && outPath.find("://") != std::string::npos && !outPath.starts_with("file://");
  std::shared_ptr<storage::Storage> remoteStorage;
  if (remote) remoteStorage = storage::storageFor(outPath).orThrow();
  const std::string localPath =
      !remote && outPath.starts_with("file://") ? storage::pathFromFileUri(outPath).value_or(outPath) : outPath;
  // Write beside the target and rename, so a killed export never leaves a half-written file behind.
  const std::string tmpPrefix = toStdout ? ""
                                : remote ? (std::filesystem::temp_directory_path() / "loom-export-").string()
                                         : localPath + ".part";
  if (!toStdout) removeStaleParts(tmpPrefix);
  std::string tmp = toStdout ? "" : tmpPrefix + std::to_string(getpid());
  std::FILE* out = toStdout ? stdout : std::fopen(tmp.c_str(), "wb");
  if (!out) throw RunError(ErrorKind::Io, "cannot write " + outPath + ": " + std::strerror(errno));
  int64_t n = 0;
  if (format == "csv") {
    std::string line = "_row";
    for (const auto& c : v.schema.columns()) line += "," + cli::csvField(c.name);
    std::fprintf(out, "%s\n", line.c_str());
  }
  cat->readRows(v, 0, -1, [&](const std::vector<core::Value>& vals) {
    if (format == "jsonl") {
      std::string s = cli::dumpJson(rowJson(v, vals));
      std::fwrite(s.data(), 1, s.size(), out);
      std::fputc('\n', out);
    } else {
      std::string line;
      for (size_t i = 0; i < vals.size(); ++i) line += (i ? "," : "") + cli::csvField(cli::valueToText(vals[i]));
      line += '\n';
      std::fwrite(line.data(), 1, line.size(), out);
    }
    ++n;
  });
  if (!toStdout) {
    // ferror: a write that failed earlier (a full disk) must not be renamed into place as the export.
    bool ok = std::fflush(out) == 0 && std::ferror(out) == 0 && fsync(fileno(out)) == 0;
    ok = std::fclose(out) == 0 && ok;
    if (!ok || (!remote && std::rename(tmp.c_str(), localPath.c_str()) != 0)) {
      std::remove(tmp.c_str());
      throw RunError(ErrorKind::Io, "cannot write " + (remote ? tmp : outPath) + " (is the disk full?)");
    }
    if (remote) {
      const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
      struct stat st{};
      if (fd < 0 || ::fstat(fd, &st) != 0) {
        if (fd >= 0) ::close(fd);
        std::remove(tmp.c_str());
        throw RunError(ErrorKind::Io, "cannot read back " + tmp);
      }
      void* map = st.st_size > 0 ? ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0) : nullptr;
      ::close(fd);
      std::remove(tmp.c_str());  // the mapping keeps the bytes readable until it is unmapped
      if (map == MAP_FAILED) throw RunError(ErrorKind::Io, "cannot map " + tmp);
      const std::string_view bytes(static_cast<const char*>(map), static_cast<size_t>(st.st_size));
      auto w = remoteStorage->write(outPath, bytes);
      if (map) ::munmap(map, static_cast<size_t>(st.st_size));
      w.orThrow();
    }
  }
  if (g.json && !toStdout)
    printJson({{"dataset", v.name}, {"version", v.version}, {"rows", n}, {"format", format}, {"out", outPath}});
  else if (!toStdout)
    std::printf("exported %s@%lld: %lld rows to %s\n", v.name.c_str(), static_cast<long long>(v.version),
                static_cast<long long>(n), outPath.c_str());
  return 0;
}

int cmdLineage(const Globals& g, const std::string& spec, std::optional<int64_t> row) {
  auto cat = openCatalog(g, false);
  if (row) {
    auto l = lineage::rowLineage(*cat, spec, *row).orThrow();
    if (g.json) {
      json steps = json::array();
      for (const auto& s : l.steps)
        steps.push_back({{"kind", s.kind}, {"label", s.label}, {"table", s.table}, {"row", s.row}, {"values", s.values}});
      printJson({{"dataset", l.dataset}, {"row", l.row}, {"source", {{"uri", l.sourceUri}, {"etag", l.sourceEtag}}},
                 {"steps", steps}});
      return 0;
    }
    std::printf("row %lld of %s comes from %s (etag %s)\n", static_cast<long long>(l.row), l.dataset.c_str(),
                l.sourceUri.empty() ? "(no source object)" : l.sourceUri.c_str(), l.sourceEtag.c_str());
    for (const auto& s : l.steps) {
      std::printf("  <- %-28s row %-8lld %s\n", s.label.c_str(), static_cast<long long>(s.row),
                  cli::dumpJson(s.values).substr(0, 160).c_str());
    }
    return 0;
  }
  auto l = lineage::datasetLineage(*cat, spec).orThrow();
  const auto& v = l.version;
  if (g.json) {
    json nodes = json::array(), inputs = json::array(), down = json::array();
    for (const auto& n : l.nodes)
      nodes.push_back({{"node", n.nodeId}, {"type", n.nodeType}, {"params", json::parse(n.paramsJson)},
                       {"status", n.status}, {"rows_in", n.rowsIn}, {"rows_out", n.rowsOut},
                       {"rows_failed", n.rowsFailed}, {"hash", n.nodeHash}});
    for (const auto& [k, r] : l.inputs) inputs.push_back({{"kind", k}, {"ref", r}});
    for (const auto& d : l.downstream)
      down.push_back({{"run_id", d.runId}, {"flow", d.flowName}, {"status", d.status}, {"produced", d.produced}});
    json run = nullptr;
    if (l.run)
      run = {{"run_id", l.run->id}, {"flow", l.run->flowName}, {"flow_path", l.run->flowPath},
             {"flow_hash", l.run->flowHash}, {"status", l.run->status}, {"started_at", l.run->startedAt},
             {"ended_at", l.run->endedAt}, {"app_version", l.run->appVersion}};
    printJson({{"dataset", v.name}, {"version", v.version}, {"rows", v.rowCount}, {"created_at", v.createdAt},
               {"run", run}, {"inputs", inputs}, {"nodes", nodes}, {"downstream", down}});
    return 0;
  }
  std::printf("%s@%lld (%lld rows, %s)\n", v.name.c_str(), static_cast<long long>(v.version),
              static_cast<long long>(v.rowCount), v.createdAt.c_str());
  if (l.run)
    std::printf("  made by run %lld of flow '%s' (%s), %s, flow hash %s\n", static_cast<long long>(l.run->id),
                l.run->flowName.c_str(), l.run->flowPath.c_str(), l.run->status.c_str(),
                l.run->flowHash.substr(0, 12).c_str());
  for (const auto& [k, r] : l.inputs) std::printf("  input %s: %s\n", k.c_str(), r.c_str());
  std::vector<std::vector<std::string>> rows;
  for (const auto& n : l.nodes)
    rows.push_back({n.nodeId, n.nodeType, n.status, std::to_string(n.rowsIn), std::to_string(n.rowsOut),
                    std::to_string(n.rowsFailed), n.paramsJson});
  if (!rows.empty()) cli::printTable(stdout, {"node", "type", "status", "in", "out", "failed", "params"}, rows, 60);
  for (const auto& d : l.downstream) {
    std::string produced;
    for (const auto& p : d.produced) produced += (produced.empty() ? "" : ", ") + p;
    std::printf("  used by run %lld of '%s' (%s)%s\n", static_cast<long long>(d.runId), d.flowName.c_str(),
                d.status.c_str(), produced.empty() ? "" : (" -> " + produced).c_str());
  }
  return 0;
}

// The ledger summarised by run, node, model and day: calls (and how many the call cache served),
// failed calls, tokens and cost. Cost is what was reported by the provider × the price in force.
int cmdCost(const Globals& g, std::optional<int64_t> runId) {
  auto cat = openCatalog(g, false);
  auto& db = cat->db();
  if (runId && !cat->run(*runId))
    throw RunError(ErrorKind::NotFound, "no run " + std::to_string(*runId) + " in " + cat->path());
  const std::string where = runId ? " WHERE m.run_id=?" : "";
  const std::string measures =
      "count(*), coalesce(sum(m.cache_hit),0), coalesce(sum(m.status<>'ok'),0), coalesce(sum(m.input_tokens),0), "
      "coalesce(sum(m.output_tokens),0), coalesce(sum(m.cached_tokens),0), coalesce(sum(m.cost_usd),0), "
      "coalesce(sum(m.compute_seconds),0)";
  struct Grouping {
    const char* name;
    std::vector<std::string> keys;  // JSON names of the key columns
    std::string select, group, order;
  };
  const std::vector<Grouping> groupings = {
      {"by_run", {"run_id", "flow", "started_at", "status"},
       "m.run_id, coalesce(r.flow_name,''), coalesce(r.started_at,''), coalesce(r.status,'')", "m.run_id", "m.run_id DESC"},
      {"by_node", {"node", "node_type"}, "coalesce(m.node_id,''), coalesce(m.node_type,'')", "m.node_id, m.node_type",
       "sum(m.cost_usd) DESC"},
      {"by_model", {"provider", "model"}, "m.provider, m.model", "m.provider, m.model", "sum(m.cost_usd) DESC"},
      {"by_day", {"day"}, "substr(m.created_at, 1, 10)", "substr(m.created_at, 1, 10)", "1 DESC"},
  };
  json out = {{"run_id", runId ? json(*runId) : json(nullptr)}};
  std::map<std::string, std::vector<std::vector<std::string>>> tables;
  for (const auto& gr : groupings) {
    auto s = db.prepare("SELECT " + gr.select + ", " + measures + " FROM model_calls m LEFT JOIN runs r ON r.id = m.run_id" +
                        where + " GROUP BY " + gr.group + " ORDER BY " + gr.order);
    if (runId) s.bind(1, *runId);
    json list = json::array();
    const int k = static_cast<int>(gr.keys.size());
    while (s.step()) {
      json item;
      std::vector<std::string> row;
      for (int i = 0; i < k; ++i) {
        if (std::string(gr.keys[static_cast<size_t>(i)]) == "run_id")
          item["run_id"] = s.int64(i);
        else
          item[gr.keys[static_cast<size_t>(i)]] = s.text(i);
        row.push_back(s.text(i));
      }
      item["calls"] = s.int64(k);
      item["calls_cached"] = s.int64(k + 1);
      item["calls_failed"] = s.int64(k + 2);
      item["input_tokens"] = s.int64(k + 3);
      item["output_tokens"] = s.int64(k + 4);
      item["cached_tokens"] = s.int64(k + 5);
      item["cost_usd"] = s.real(k + 6);
      item["compute_seconds"] = s.real(k + 7);
      for (int i = k; i < k + 5; ++i) row.push_back(std::to_string(s.int64(i)));
      row.push_back(cli::formatUsd(s.real(k + 6)));
      list.push_back(item);
      tables[gr.name].push_back(std::move(row));
    }
    out[gr.name] = list;
  }
  int64_t calls = 0, cached = 0, failed = 0, tin = 0, tout = 0;
  double cost = 0;
  for (const auto& m : out["by_model"]) {
    calls += m["calls"].get<int64_t>();
    cached += m["calls_cached"].get<int64_t>();
    failed += m["calls_failed"].get<int64_t>();
    tin += m["input_tokens"].get<int64_t>();
    tout += m["output_tokens"].get<int64_t>();
    cost += m["cost_usd"].get<double>();
  }
  out["calls"] = calls;
  out["calls_cached"] = cached;
  out["calls_failed"] = failed;
  out["input_tokens"] = tin;
  out["output_tokens"] = tout;
  out["cost_usd"] = cost;
  if (g.json) {
    printJson(out);
    return 0;
  }
  if (calls == 0) {
    std::printf("no model calls recorded%s\n", runId ? (" for run " + std::to_string(*runId)).c_str() : "");
    return 0;
  }
  const std::vector<std::string> measureNames = {"calls", "cached", "failed", "tokens in", "tokens out", "cost"};
  auto section = [&](const char* title, const char* name, std::vector<std::string> head, size_t maxRows) {
    std::printf("%s\n", title);
    head.insert(head.end(), measureNames.begin(), measureNames.end());
    auto rows = tables[name];
    if (rows.size() > maxRows) rows.resize(maxRows);
    cli::printTable(stdout, head, rows);
    std::printf("\n");
  };
  section("by model", "by_model", {"provider", "model"}, 1000);
  section("by node", "by_node", {"node", "type"}, 1000);
  if (!runId) section("by run (newest 20)", "by_run", {"run", "flow", "started", "status"}, 20);
  if (!runId) section("by day (UTC)", "by_day", {"day"}, 1000);
  std::printf("total: %lld calls (%lld served from the cache, %lld failed), %lld tokens in, %lld out, %s\n",
              static_cast<long long>(calls), static_cast<long long>(cached), static_cast<long long>(failed),
              static_cast<long long>(tin), static_cast<long long>(tout), cli::formatUsd(cost).c_str());
  return 0;
}

struct ThumbnailArgs {
  std::string uri, kind = "auto", out, cacheDir;
  int size = 256, frames = 8;
  bool noCache = false;
};

int cmdThumbnail(const Globals& g, const ThumbnailArgs& a) {
  auto kind = media::thumbnailKindFromName(a.kind);
  if (!kind) throw RunError(ErrorKind::InvalidInput, "--kind " + a.kind + ": use auto, image, frame, strip, waveform, page or text");
  std::string uri = storage::normalizeUri(a.uri).orThrow();
  auto backend = storage::storageFor(uri).orThrow();
  media::ThumbnailRequest req;
  req.kind = *kind;
  req.maxSide = a.size;
  req.frames = a.frames;
  const media::MediaLimits limits;
  // The object's etag keys the cache; a file that cannot be stat'ed fails below with its reason.
  auto info = backend->stat(uri);
  std::string etag = info.ok() ? info->etag : std::string();
  int64_t size = info.ok() ? info->size : -1;
  std::string name = info.ok() ? info->name : uri.substr(uri.rfind('/') + 1);
  std::unique_ptr<media::ThumbCache> cache;
  if (!a.noCache)
    cache = std::make_unique<media::ThumbCache>(a.cacheDir.empty() ? media::ThumbCache::defaultDir() : a.cacheDir,
                                                media::ThumbCache::defaultMaxBytes());
  media::ObjectReader reader(backend, uri, size, limits.maxPreviewBytes, limits.maxSeconds);
  auto t = media::cachedThumbnail(cache.get(), reader, etag, "", name, req, limits);
  if (!t.ok()) {
    // A file that cannot be previewed is bad input for this command (exit 2); I/O trouble is not.
    const auto& e = t.error();
    bool badInput = e.kind != ErrorKind::Io && e.kind != ErrorKind::Internal && e.kind != ErrorKind::PermissionDenied;
    if (g.json) printJson({{"error", {{"kind", core::errorKindName(e.kind)}, {"message", e.message}}}});
    std::fprintf(stderr, "error: no thumbnail: %s\n", e.message.c_str());
    return badInput ? 2 : 1;
  }
  const auto& th = t->thumbnail;
  std::string tmp = a.out + ".part" + std::to_string(getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(th.bytes.data(), static_cast<std::streamsize>(th.bytes.size()));
    f.close();
    if (!f || std::rename(tmp.c_str(), a.out.c_str()) != 0) {
      std::remove(tmp.c_str());
      throw RunError(ErrorKind::Io, "cannot write " + a.out + " (does its folder exist? is the disk full?)");
    }
  }
  if (g.json) {
    printJson({{"uri", uri}, {"kind", media::thumbnailKindName(th.kind)}, {"mime", th.mime}, {"width", th.width},
               {"height", th.height}, {"bytes", th.bytes.size()}, {"cached", t->cached}, {"out", a.out}});
  } else {
    std::printf("%s: %s %dx%d %s, %zu bytes%s -> %s\n", uri.c_str(), media::thumbnailKindName(th.kind), th.width,
                th.height, th.mime.c_str(), th.bytes.size(), t->cached ? " (from the cache)" : "", a.out.c_str());
  }
  return 0;
}

int cmdNodes(const Globals& g, bool markdown) {
  const auto& reg = nodes::NodeRegistry::builtin();
  if (markdown) {
    std::fputs(nodes::nodeReferenceMarkdown(reg).c_str(), stdout);
    return 0;
  }
  if (g.json) {
    json arr = json::array();
    for (const auto* t : reg.all()) {
      json params = json::array();
      for (const auto& p : t->params())
        params.push_back({{"name", p.name}, {"type", nodes::paramTypeName(p.type)}, {"required", p.required},
                          {"default", p.defaultValue}, {"doc", p.doc}});
      arr.push_back({{"id", t->id()}, {"title", t->title()}, {"category", t->category()}, {"doc", t->doc()},
                     {"inputs", t->inputs().size()}, {"outputs", t->outputs().size()}, {"params", params}});
    }
    printJson({{"nodes", arr}});
    return 0;
  }
  for (const auto* t : reg.all()) {
    std::printf("%s — %s (%s)\n  %s\n", t->id().c_str(), t->title().c_str(), t->category().c_str(), t->doc().c_str());
    for (const auto& p : t->params())
      std::printf("    %-10s %-15s %s%s\n", p.name.c_str(), nodes::paramTypeName(p.type), p.doc.c_str(),
                  p.required ? " (required)" : (" (default " + p.defaultValue.dump() + ")").c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loom-cli: run Loom flows and look at their datasets, without a display"};
  app.require_subcommand(1);
  app.fallthrough();
  Globals g;
  app.add_option("--catalog", g.catalogPath, "catalog file (default: $LOOM_HOME/catalog.db or the XDG data folder)");
  app.add_flag("--json", g.json, "machine-readable output on stdout");
  std::string versions;
  for (const auto& [name, version] : core::componentVersions()) versions += name + " " + version + "\n";
  app.set_version_flag("--version", versions.substr(0, versions.size() - 1));
  int threads = 0;
  app.add_option("--threads", threads, "worker threads (default: one per core)")->check(CLI::NonNegativeNumber);

  auto* run = app.add_subcommand("run", "run a .loomflow file");
  std::string flowPath;
  std::vector<std::string> params;
  std::optional<double> budget;
  bool dryRun = false;
  int64_t sample = 0;
  run->add_option("flow", flowPath, "the .loomflow file")->required();
  run->add_option("--param", params, "override a node parameter: NODE.PARAM=VALUE (repeatable)");
  run->add_option("--budget-usd", budget, "stop before model spending passes this amount");
  run->add_flag("--dry-run", dryRun, "check the flow and show what would run, without running it");
  run->add_option("--sample", sample,
                  "with --dry-run: run the flow on N rows sampled from each source and extrapolate model calls, "
                  "tokens, cost and time to all rows");

  auto* validate = app.add_subcommand("validate", "check a .loomflow file without running it");
  validate->add_option("flow", flowPath, "the .loomflow file")->required();

  auto* index = app.add_subcommand("index", "list a folder or bucket into the catalog and probe its objects");
  std::string uri, glob;
  bool noProbe = false;
  index->add_option("uri", uri, "folder, path or URI to index")->required();
  index->add_option("--glob", glob, "only objects matching this glob (e.g. '**/*.{jpg,png}')");
  index->add_flag("--no-probe", noProbe, "list only; do not read the objects");

  app.add_subcommand("datasets", "list datasets with their versions and row counts");

  std::string spec;
  int64_t limit = 20, offset = 0;
  auto* show = app.add_subcommand("show", "show rows of a dataset version");
  show->add_option("dataset", spec, "NAME or NAME@VERSION")->required();
  show->add_option("--limit", limit, "rows to show (default 20; -1 for all)");
  show->add_option("--offset", offset, "rows to skip first")->check(CLI::NonNegativeNumber);

  auto* exp = app.add_subcommand("export", "write a dataset version to a file");
  std::string format = "jsonl", outPath;
  exp->add_option("dataset", spec, "NAME or NAME@VERSION")->required();
  exp->add_option("--format", format, "jsonl or csv")->check(CLI::IsMember({"jsonl", "csv"}));
  exp->add_option("--out", outPath, "output file, or - for stdout")->required();

  auto* lin = app.add_subcommand("lineage", "where a dataset version (or one row of it) came from");
  std::optional<int64_t> row;
  lin->add_option("dataset", spec, "NAME or NAME@VERSION")->required();
  lin->add_option("--row", row, "a row id (the _row column of show/export)");

  auto* cost = app.add_subcommand("cost", "model-call spending from the ledger");
  std::optional<int64_t> runId;
  cost->add_option("--run", runId, "only this run");

  auto* thumb = app.add_subcommand("thumbnail", "write a thumbnail of one image, video, audio, PDF or text file");
  ThumbnailArgs targs;
  thumb->add_option("uri", targs.uri, "file path or URI")->required();
  thumb->add_option("--kind", targs.kind, "auto, image, frame, strip, waveform, page or text (default auto: by type)");
  thumb->add_option("--size", targs.size, "longest side in pixels (of each frame, for strips; default 256)")
      ->check(CLI::Range(media::kMinThumbnailSide, media::kMaxThumbnailSide));
  thumb->add_option("--frames", targs.frames, "frames in a strip (default 8)")->check(CLI::Range(1, media::kMaxStripFrames));
  thumb->add_option("--out", targs.out, "where to write the JPEG or PNG")->required();
  thumb->add_option("--cache", targs.cacheDir, "thumbnail cache folder (default $LOOM_THUMBNAIL_CACHE or ~/.cache/loom/thumbnails)");
  thumb->add_flag("--no-cache", targs.noCache, "neither use nor fill the thumbnail cache");

  auto* nodesCmd = app.add_subcommand("nodes", "list the node types a flow can use, with their parameters");
  bool markdown = false;
  nodesCmd->add_flag("--markdown", markdown, "print the node reference (docs/nodes.md) as Markdown");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  try {
    if (*run) return cmdRun(g, flowPath, params, budget, dryRun, sample, threads);
    if (*validate) return cmdValidate(g, flowPath);
    if (*index) return cmdIndex(g, uri, glob, noProbe, threads);
    if (app.got_subcommand("datasets")) return cmdDatasets(g);
    if (*show) return cmdShow(g, spec, limit, offset);
    if (*exp) return cmdExport(g, spec, format, outPath);
    if (*lin) return cmdLineage(g, spec, row);
    if (*cost) return cmdCost(g, runId);
    if (app.got_subcommand("nodes")) return cmdNodes(g, markdown);
    if (*thumb) return cmdThumbnail(g, targs);
  } catch (const RunError& e) {
    if (g.json) printJson({{"error", {{"kind", core::errorKindName(e.kind())}, {"message", e.what()}}}});
    std::fprintf(stderr, "error: %s\n", e.what());
    return exitCodeFor(e.kind());
  } catch (const std::exception& e) {
    if (g.json) printJson({{"error", {{"kind", "internal"}, {"message", e.what()}}}});
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

// bench_dataset_save: saves an N-row dataset (1,000,000 by default) through the real engine path — a
// fresh catalog, a flow `bench.rows → dataset.save` run by exec::Executor — and prints one JSON line
// of timings. bench/run.sh runs it beside `sqlite3 .import` of the same rows as CSV (written by
// `--csv`), so the comparison is a ratio taken in one run. Timings are printed, never asserted.
//
// Usage: bench_dataset_save --catalog PATH [--rows N] [--threads N] [--sql STMT]...
//        bench_dataset_save --csv PATH [--rows N]      (writes the same rows as CSV with a header)
// --sql runs a statement on the catalog connection before the flow (e.g. "PRAGMA wal_autocheckpoint=0"):
// for what-if experiments when looking for engine speed-ups; run.sh never passes it.

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/feedback.h"
#include "core/result.h"
#include "exec/executor.h"
#include "flow/flow.h"
#include "nodes/builtin_provider.h"
#include "nodes/registry.h"

namespace {

using namespace loom;
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// ---------------------------------------------------------------------------------------------
// Synthetic object rows: deterministic in the row index, shaped like what storage.list + media.probe
// produce for a photo folder (1,000 files per folder, mostly images, some text and PDFs).

struct SyntheticRow {
  std::string uri, name, etag, mtime, mime;
  int64_t size = 0;
  std::optional<int64_t> width, height;
};

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void appendHex(std::string& out, uint64_t v) {
  char buf[16];
  auto r = std::to_chars(buf, buf + sizeof buf, v, 16);
  out.append(buf, r.ptr);
}

SyntheticRow makeRow(int64_t i) {
  static constexpr struct {
    const char* ext;
    const char* mime;
  } kKinds[] = {{"jpg", "image/jpeg"}, {"jpg", "image/jpeg"}, {"jpg", "image/jpeg"}, {"jpg", "image/jpeg"},
                {"png", "image/png"},  {"png", "image/png"},  {"txt", "text/plain"}, {"pdf", "application/pdf"}};
  static constexpr int64_t kDims[][2] = {{4032, 3024}, {3024, 4032}, {1920, 1080}, {1280, 720}, {640, 480}, {800, 600}};
  const uint64_t h = splitmix64(static_cast<uint64_t>(i));
  const auto& kind = kKinds[h % 8];
  SyntheticRow r;
  char buf[64];
  std::snprintf(buf, sizeof buf, "img_%07" PRId64 ".%s", i, kind.ext);
  r.name = buf;
  std::snprintf(buf, sizeof buf, "file:///data/photos/d%04" PRId64 "/", i / 1000);
  r.uri = buf + r.name;
  r.size = 1000 + static_cast<int64_t>((h >> 8) % 5'000'000);
  const int64_t mtimeNs = (1'700'000'000LL + static_cast<int64_t>((h >> 20) % 30'000'000)) * 1'000'000'000LL +
                          static_cast<int64_t>((h >> 40) % 1000) * 1'000'000LL;
  r.mtime = core::isoTimeUtc(mtimeNs);
  r.etag.reserve(40);
  appendHex(r.etag, static_cast<uint64_t>(r.size));
  r.etag.push_back('-');
  appendHex(r.etag, static_cast<uint64_t>(mtimeNs));
  r.etag.push_back('-');
  appendHex(r.etag, static_cast<uint64_t>(i + 1'000'000));
  r.mime = kind.mime;
  if (std::strncmp(kind.mime, "image/", 6) == 0) {
    const auto& d = kDims[(h >> 50) % 6];
    r.width = d[0];
    r.height = d[1];
  }
  return r;
}

core::Schema benchSchema() {
  using core::ColumnType;
  return core::Schema({
      {"uri", ColumnType::Text, "where the object lives"},
      {"name", ColumnType::Text, "file name"},
      {"etag", ColumnType::Text, "version tag"},
      {"size", ColumnType::Integer, "size in bytes"},
      {"mtime", ColumnType::Text, "last modification, ISO-8601 UTC"},
      {"mime", ColumnType::Text, "sniffed MIME type"},
      {"width", ColumnType::Integer, "image width"},
      {"height", ColumnType::Integer, "image height"},
  });
}

// Timings the source node collects while it runs (the executor's node seconds add the final flush).
struct SourceTimings {
  double generateSeconds = 0;
  double appendSeconds = 0;
};

// bench.rows: a source that appends `rows` synthetic object rows through ExecContext::appendRow, the
// same call storage.list uses.
class BenchRows : public nodes::NodeType {
 public:
  explicit BenchRows(SourceTimings* timings) : m_timings(timings) {}
  std::string id() const override { return "bench.rows"; }
  std::string category() const override { return "Sources"; }
  std::string title() const override { return "Synthetic rows (benchmark)"; }
  std::string doc() const override { return "Appends `rows` synthetic object rows; for bench/ only."; }
  std::vector<nodes::ParamSpec> params() const override {
    nodes::ParamSpec rows{"rows", nodes::ParamType::Integer, "how many rows to produce", true, nullptr};
    rows.minimum = 0;
    return {rows};
  }
  std::vector<nodes::PortSpec> inputs() const override { return {}; }
  core::Result<core::Schema> outputSchema(const nodes::Params&, const std::vector<core::Schema>&,
                                          const nodes::ValidationContext&) const override {
    return benchSchema();
  }

  void execute(const nodes::Params& params, nodes::ExecContext& ctx) const override {
    const int64_t n = params.at("rows").get<int64_t>();
    constexpr int64_t kChunk = 4096;
    std::vector<std::vector<core::Value>> chunk;
    chunk.reserve(kChunk);
    for (int64_t start = 0; start < n; start += kChunk) {
      auto t0 = Clock::now();
      chunk.clear();
      for (int64_t i = start; i < std::min(n, start + kChunk); ++i) {
        SyntheticRow r = makeRow(i);
        std::vector<core::Value> v;
        v.reserve(8);
        v.emplace_back(std::move(r.uri));
        v.emplace_back(std::move(r.name));
        v.emplace_back(std::move(r.etag));
        v.emplace_back(r.size);
        v.emplace_back(std::move(r.mtime));
        v.emplace_back(std::move(r.mime));
        v.emplace_back(r.width ? core::Value{*r.width} : core::Value{});
        v.emplace_back(r.height ? core::Value{*r.height} : core::Value{});
        chunk.push_back(std::move(v));
      }
      auto t1 = Clock::now();
      for (auto& v : chunk) ctx.appendRow(std::move(v));
      auto t2 = Clock::now();
      m_timings->generateSeconds += std::chrono::duration<double>(t1 - t0).count();
      m_timings->appendSeconds += std::chrono::duration<double>(t2 - t1).count();
      if (ctx.feedback().isCancelled()) throw core::RunError(core::ErrorKind::Cancelled, "cancelled");
    }
  }

 private:
  SourceTimings* m_timings;  // owned by main(); the benchmark runs one flow at a time
};

double peakRssMb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

int64_t fileSize(const std::string& path) {
  std::error_code ec;
  auto s = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(s);
}

int writeCsv(const std::string& path, int64_t rows) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "bench_dataset_save: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    return 1;
  }
  static char buf[1 << 20];
  std::setvbuf(f, buf, _IOFBF, sizeof buf);
  std::fputs("uri,name,etag,size,mtime,mime,width,height\n", f);
  for (int64_t i = 0; i < rows; ++i) {
    SyntheticRow r = makeRow(i);
    std::fprintf(f, "%s,%s,%s,%" PRId64 ",%s,%s,", r.uri.c_str(), r.name.c_str(), r.etag.c_str(), r.size,
                 r.mtime.c_str(), r.mime.c_str());
    if (r.width) std::fprintf(f, "%" PRId64, *r.width);
    std::fputc(',', f);
    if (r.height) std::fprintf(f, "%" PRId64, *r.height);
    std::fputc('\n', f);
  }
  if (std::fclose(f) != 0) {
    std::fprintf(stderr, "bench_dataset_save: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    return 1;
  }
  return 0;
}

void usage() {
  std::fprintf(stderr,
               "usage: bench_dataset_save --catalog PATH [--rows N] [--threads N] [--sql STMT]...\n"
               "       bench_dataset_save --csv PATH [--rows N]\n"
               "The catalog must not exist yet (the benchmark measures a save into a fresh catalog).\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string catalogPath, csvPath;
  std::vector<std::string> extraSql;
  int64_t rows = 1'000'000;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--catalog") catalogPath = next();
    else if (a == "--csv") csvPath = next();
    else if (a == "--rows") rows = std::atoll(next());
    else if (a == "--threads") threads = std::atoi(next());
    else if (a == "--sql") extraSql.emplace_back(next());
    else {
      usage();
      return 2;
    }
  }
  if (rows < 0 || (catalogPath.empty() == csvPath.empty())) {
    usage();
    return 2;
  }
  if (!csvPath.empty()) return writeCsv(csvPath, rows);
  if (std::filesystem::exists(catalogPath)) {
    std::fprintf(stderr, "bench_dataset_save: %s exists; give a path to a catalog that does not exist yet\n",
                 catalogPath.c_str());
    return 2;
  }

  try {
    auto t0 = Clock::now();
    auto cat = catalog::Catalog::open(catalogPath).orThrow();
    for (const auto& sql : extraSql) cat->db().exec(sql);
    const double openSeconds = secondsSince(t0);

    SourceTimings timings;
    nodes::NodeRegistry registry;
    nodes::addDatasetNodes(registry);
    registry.add(std::make_shared<BenchRows>(&timings));

    nlohmann::json doc = {
        {"format", flow::kFormat},
        {"name", "bench_dataset_save"},
        {"nodes",
         {{{"id", "src"}, {"type", "bench.rows"}, {"params", {{"rows", rows}}}},
          {{"id", "save"}, {"type", "dataset.save"}, {"params", {{"name", "bench_rows"}}}}}},
        {"edges", {{{"from", "src"}, {"to", "save"}}}},
    };
    auto flow = flow::parseFlow(doc.dump(), "<bench_dataset_save>").orThrow();

    exec::RunOptions opts;
    opts.threads = threads;
    core::Feedback feedback;  // silent: rendering progress is not part of what is measured
    exec::Executor executor(*cat, registry);
    auto t1 = Clock::now();
    exec::RunResult r = executor.run(flow, opts, feedback);
    const double runSeconds = secondsSince(t1);

    double srcSeconds = 0, saveSeconds = 0;
    for (const auto& n : r.nodes) {
      if (n.id == "src") srcSeconds = n.seconds;
      if (n.id == "save") saveSeconds = n.seconds;
    }
    auto saved = cat->resolveDataset("bench_rows").orThrow();
    const double totalSeconds = secondsSince(t0);
    cat.reset();  // closes the connection, checkpointing the WAL into the main file
    const double closeSeconds = secondsSince(t0) - totalSeconds;

    nlohmann::json out = {
        {"bench", "dataset_save"},
        {"rows", rows},
        {"rows_saved", saved.rowCount},
        {"dataset", saved.name + "@" + std::to_string(saved.version)},
        {"catalog_open_s", openSeconds},
        {"generate_s", timings.generateSeconds},
        {"append_s", timings.appendSeconds},
        {"source_node_s", srcSeconds},
        {"save_node_s", saveSeconds},
        {"run_s", runSeconds},
        {"total_s", totalSeconds},
        {"close_s", closeSeconds},
        {"rows_per_s", totalSeconds > 0 ? static_cast<double>(rows) / totalSeconds : 0.0},
        {"save_rows_per_s", saveSeconds > 0 ? static_cast<double>(rows) / saveSeconds : 0.0},
        {"peak_rss_mb", peakRssMb()},
        {"catalog_bytes", fileSize(catalogPath)},
    };
    if (!extraSql.empty()) out["sql"] = extraSql;
    std::printf("%s\n", out.dump().c_str());
    if (saved.rowCount != rows) {
      std::fprintf(stderr, "bench_dataset_save: saved %" PRId64 " rows, expected %" PRId64 "\n", saved.rowCount, rows);
      return 1;
    }
    return 0;
  } catch (const core::RunError& e) {
    std::fprintf(stderr, "bench_dataset_save: %s\n", e.what());
    return 1;
  }
}

// export.table: writes its input table to a JSONL or CSV file, locally or in an object store, at a
// location the person allowed (storage/write_locations.h). A sink: it runs on every run (so a
// deleted file comes back) and never in a dry run. The file appears whole or not at all.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "catalog/catalog.h"
#include "core/table_text.h"
#include "nodes/builtin_provider.h"
#include "storage/storage.h"
#include "storage/uri.h"
#include "storage/write_locations.h"

namespace loom::nodes {

using core::ErrorKind;
using core::makeError;
using core::quoteIdent;
using core::RunError;
namespace fs = std::filesystem;

namespace {

// "jsonl" or "csv" for the parameter and the target's extension; "" when neither says.
std::string formatFor(const Params& p) {
  const std::string f = p.value("format", std::string("auto"));
  if (f != "auto") return f;
  std::string uri = p.value("uri", std::string());
  uri = uri.substr(0, uri.find_first_of("?#"));
  const std::string ext = fs::path(uri).extension().string();
  if (ext == ".jsonl" || ext == ".ndjson") return "jsonl";
  if (ext == ".csv") return "csv";
  return "";
}

// Writes `bytes` to a local file so that it appears whole or not at all: a temporary file beside it,
// flushed to disk, renamed over the target (a link at the target is replaced, never followed).
void writeLocalAtomically(const std::string& path, const std::string& bytes, const std::string& what) {
  const fs::path target(path);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  const std::string tmp = (target.parent_path() / ("." + target.filename().string() + ".part" + std::to_string(getpid()))).string();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) throw RunError(ErrorKind::Io, what + ": cannot write " + path + ": " + std::strerror(errno));
  size_t done = 0;
  bool ok = true;
  while (ok && done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  const int err = ok ? 0 : errno;
  ok = ok && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = err ? err : errno;
    std::remove(tmp.c_str());
    throw RunError(ErrorKind::Io, what + ": cannot write " + path + ": " + std::strerror(e) +
                                      (e == ENOSPC ? " (the disk is full; the previous file, if any, is unchanged)" : ""));
  }
}

class ExportTable : public NodeType {
 public:
  std::string id() const override { return "export.table"; }
  std::string category() const override { return "Export"; }
  std::string title() const override { return "Export table"; }
  std::string doc() const override {
    return "Writes the input table to a JSONL or CSV file — a local path (relative to the flow's folder) or an "
           "s3://, gs:// or az:// URI — replacing it whole, never leaving half a file. Flows write only inside the "
           "flow file's folder and the locations in LOOM_EXPORT_ROOTS. Blobs are written as {\"base64\": …} in "
           "JSONL and as their size in CSV; failed rows keep their error column.";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec format{"format", ParamType::Enum, "jsonl, csv, or auto (from the file's extension)", false, "auto"};
    format.choices = {"auto", "jsonl", "csv"};
    return {{"uri", ParamType::Uri, "the file to write: a path or an object-store URI", true, nullptr}, format};
  }
  std::vector<PortSpec> outputs() const override { return {}; }

  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext& ctx) const override {
    if (formatFor(p).empty())
      return makeError(ErrorKind::InvalidFlow, "parameter 'format': the file name does not say (use .jsonl or .csv) "
                                               "and format is auto; set format to jsonl or csv");
    auto target = storage::checkExportTarget(p.value("uri", std::string()), storage::exportRoots(ctx.baseDir));
    if (!target.ok()) return makeError(ErrorKind::InvalidFlow, "parameter 'uri': " + target.error().message);
    return in[0];
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    const std::string what = "node '" + ctx.nodeId() + "' (export.table)";
    const std::string uri = p.at("uri").get<std::string>();
    const std::string format = formatFor(p);
    const auto& in = ctx.inputs()[0];
    const auto& columns = in.schema.columns();
    std::string out;
    if (format == "csv") {
      for (size_t i = 0; i < columns.size(); ++i) out += (i ? "," : "") + core::csvField(columns[i].name);
      out += '\n';
    }
    std::string select = "SELECT ";
    for (size_t i = 0; i < columns.size(); ++i) select += (i ? ", " : "") + quoteIdent(columns[i].name);
    if (columns.empty()) select += "NULL";
    auto s = ctx.catalog().db().prepare(select + " FROM " + quoteIdent(in.tableName) + " ORDER BY _row");
    int64_t rows = 0;
    while (s.step()) {
      if ((++rows & 1023) == 0 && ctx.feedback().isCancelled()) throw RunError(ErrorKind::Cancelled, "cancelled in " + what);
      if (format == "jsonl") {
        nlohmann::json row = nlohmann::json::object();
        for (size_t i = 0; i < columns.size(); ++i) row[columns[i].name] = core::valueToJson(s.value(static_cast<int>(i)));
        out += core::dumpJson(row);
      } else {
        for (size_t i = 0; i < columns.size(); ++i)
          out += (i ? "," : "") + core::csvField(core::valueToText(s.value(static_cast<int>(i))));
      }
      out += '\n';
    }
    if (auto path = storage::pathFromFileUri(uri)) {
      writeLocalAtomically(*path, out, what);
    } else {
      auto storage = storage::storageFor(uri);
      if (!storage.ok()) throw RunError(ErrorKind::InvalidFlow, what + ": " + storage.error().message);
      if (auto w = storage.value()->write(uri, out); !w.ok()) throw RunError(w.error().kind, what + ": " + w.error().message);
    }
    ctx.feedback().info(what + ": wrote " + std::to_string(rows) + " rows (" + std::to_string(out.size()) + " bytes) to " + uri);
  }
};

}  // namespace

void addExportNodes(NodeRegistry& registry) { registry.add(std::make_shared<ExportTable>()); }

}  // namespace loom::nodes

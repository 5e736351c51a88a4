// storage.list: the source of object rows.

#include "catalog/catalog.h"
#include "core/hash.h"
#include "nodes/builtin_provider.h"
#include "storage/storage.h"

namespace loom::nodes {

using core::Column;
using core::ColumnType;

core::Schema objectListSchema() {
  return core::Schema({
      {"uri", ColumnType::Text, "where the object lives"},
      {"name", ColumnType::Text, "file name (last path segment)"},
      {"etag", ColumnType::Text, "version tag; changes when the content may have changed"},
      {"size", ColumnType::Integer, "size in bytes"},
      {"mtime", ColumnType::Text, "last modification, ISO-8601 UTC"},
      {"error", ColumnType::Text, "why the object could not be listed or processed; null when fine"},
  });
}

namespace {

class StorageList : public NodeType {
 public:
  std::string id() const override { return "storage.list"; }
  std::string category() const override { return "Sources"; }
  std::string title() const override { return "List objects"; }
  std::string doc() const override {
    return "Lists the objects under a folder or bucket prefix, one row per object, without copying them. "
           "Entries that cannot be read (permissions, symlink loops) become rows with an error.";
  }
  std::vector<ParamSpec> params() const override {
    return {
        {"uri", ParamType::Uri, "folder or prefix to list, e.g. file:///data/photos or a path", true, nullptr},
        {"glob", ParamType::String,
         "which objects to keep: *.jpg (any depth), **/*.{jpg,png}, raw/*/img_?.png; empty keeps all", false, ""},
    };
  }
  std::vector<PortSpec> inputs() const override { return {}; }
  bool keyedByContent() const override { return true; }

  core::Result<core::Schema> outputSchema(const Params&, const std::vector<core::Schema>&,
                                          const ValidationContext&) const override {
    return objectListSchema();
  }

  void execute(const Params& params, ExecContext& ctx) const override {
    std::string uri = params.at("uri");
    auto backend = storage::storageFor(uri);
    if (!backend.ok()) throw core::RunError(core::ErrorKind::InvalidFlow, "node '" + ctx.nodeId() + "', parameter 'uri': " + backend.error().message);
    storage::ListOptions opts;
    opts.glob = params.value("glob", "");
    core::Hasher digest;
    int64_t n = 0;
    auto& fb = ctx.feedback();
    auto r = backend.value()->list(
        uri, opts,
        [&](storage::ObjectInfo&& o) {
          digest.field(o.uri).field(o.etag).field(o.error);
          std::vector<core::Value> row;
          row.reserve(6);
          row.emplace_back(o.uri);
          row.emplace_back(o.name);
          row.emplace_back(o.etag.empty() ? core::Value{} : core::Value{o.etag});
          row.emplace_back(o.size >= 0 ? core::Value{o.size} : core::Value{});
          row.emplace_back(o.mtimeNs ? core::Value{core::isoTimeUtc(o.mtimeNs)} : core::Value{});
          row.emplace_back(o.error.empty() ? core::Value{} : core::Value{o.error});
          ctx.appendRow(std::move(row));
          if (++n % 2048 == 0) fb.progress("list " + ctx.nodeId(), n, -1);
          return !fb.isCancelled();
        },
        &fb);
    if (fb.isCancelled()) throw core::RunError(core::ErrorKind::Cancelled, "cancelled while listing " + uri);
    if (!r.ok())
      throw core::RunError(r.error().kind == core::ErrorKind::NotFound ? core::ErrorKind::InvalidFlow : r.error().kind,
                           "node '" + ctx.nodeId() + "': " + r.error().message);
    fb.progress("list " + ctx.nodeId(), n, n);
    ctx.setContentKey(digest.field(opts.glob).hex());
    ctx.addRunInput("source", uri + (opts.glob.empty() ? "" : " glob=" + opts.glob));
  }
};

}  // namespace

void addStorageNodes(NodeRegistry& registry) { registry.add(std::make_shared<StorageList>()); }

}  // namespace loom::nodes

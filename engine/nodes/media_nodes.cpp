// media.probe: what each object is (MIME type from its bytes, image dimensions from its header).
// Results are shared with `loom-cli index` through the catalog's objects table, keyed by uri + etag,
// so an object is probed once however many flows look at it.

#include "catalog/catalog.h"
#include "media/probe.h"
#include "nodes/builtin_provider.h"
#include "storage/storage.h"

namespace loom::nodes {

using core::ColumnType;

namespace {

class MediaProbe : public NodeType {
 public:
  std::string id() const override { return "media.probe"; }
  std::string category() const override { return "Media"; }
  std::string title() const override { return "Probe media"; }
  std::string doc() const override {
    return "Adds mime (sniffed from the content, not the name), width and height (images, read from the "
           "header without decoding pixels). A file that cannot be read or is corrupt gets an error, "
           "and the run goes on.";
  }
  core::Result<core::Schema> outputSchema(const Params&, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    if (!in[0].has("uri"))
      return core::makeError(core::ErrorKind::InvalidFlow,
                             "needs a 'uri' column in its input; connect it after storage.list or a dataset of objects");
    core::Schema s = in[0];
    s.set({"mime", ColumnType::Text, "MIME type sniffed from the content"});
    s.set({"width", ColumnType::Integer, "pixels (images; EXIF orientation applied)"});
    s.set({"height", ColumnType::Integer, "pixels (images; EXIF orientation applied)"});
    s.set({"error", ColumnType::Text, "why the object could not be probed; null when fine"});
    return s;
  }

  void execute(const Params&, ExecContext& ctx) const override {
    const core::Schema& out = ctx.outputSchema();
    const int iUri = out.indexOf("uri"), iEtag = out.indexOf("etag"), iMime = out.indexOf("mime"),
              iW = out.indexOf("width"), iH = out.indexOf("height"), iErr = out.indexOf("error"),
              iName = out.indexOf("name"), iSize = out.indexOf("size"), iMtime = out.indexOf("mtime");
    auto& db = ctx.catalog().db();
    auto text = [](const core::Value& v) {
      return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : std::string();
    };
    auto lookup = db.prepare("SELECT mime, width, height, error FROM objects WHERE uri=? AND probed_etag=?");
    auto upsert = db.prepare(
        "INSERT INTO objects(uri, name, etag, size, mtime, mime, width, height, probed_etag, error, seen_at) "
        "VALUES(?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(uri) DO UPDATE SET name=excluded.name, etag=excluded.etag, "
        "size=excluded.size, mtime=excluded.mtime, mime=excluded.mime, width=excluded.width, "
        "height=excluded.height, probed_etag=excluded.probed_etag, error=excluded.error, seen_at=excluded.seen_at");
    MapSpec spec;
    spec.beforeBatch = [&](std::vector<RowBuffer>& batch) {
      for (auto& row : batch) {
        auto& v = row.values;
        if (!core::isNull(v[static_cast<size_t>(iErr)])) {
          row.done = true;  // failed upstream: keep that error, do not probe
          continue;
        }
        std::string etag = iEtag >= 0 ? text(v[static_cast<size_t>(iEtag)]) : std::string();
        if (etag.empty()) continue;
        lookup.reset();
        lookup.bind(1, text(v[static_cast<size_t>(iUri)])).bind(2, etag);
        if (lookup.step()) {
          v[static_cast<size_t>(iMime)] = lookup.value(0);
          v[static_cast<size_t>(iW)] = lookup.value(1);
          v[static_cast<size_t>(iH)] = lookup.value(2);
          v[static_cast<size_t>(iErr)] = lookup.value(3);
          row.done = true;
        }
      }
    };
    spec.perRow = [&](RowBuffer& row) {
      auto& v = row.values;
      std::string uri = text(v[static_cast<size_t>(iUri)]);
      auto fail = [&](const std::string& msg) { v[static_cast<size_t>(iErr)] = msg; };
      auto backend = storage::storageFor(uri);
      if (!backend.ok()) return fail(backend.error().message);
      auto head = backend.value()->read(uri, 0, media::kProbeHeadBytes);
      if (!head.ok()) return fail(head.error().message);
      std::string name = iName >= 0 ? text(v[static_cast<size_t>(iName)]) : uri.substr(uri.rfind('/') + 1);
      media::ProbeResult p = media::probeBytes(head.value(), name);
      v[static_cast<size_t>(iMime)] = p.mime;
      if (p.width) v[static_cast<size_t>(iW)] = *p.width;
      if (p.height) v[static_cast<size_t>(iH)] = *p.height;
      if (!p.error.empty()) fail(p.error);
    };
    spec.afterBatch = [&](std::vector<RowBuffer>& batch) {
      std::string now = core::nowIsoUtc();
      for (auto& row : batch) {
        if (row.done) continue;
        auto& v = row.values;
        std::string etag = iEtag >= 0 ? text(v[static_cast<size_t>(iEtag)]) : std::string();
        if (etag.empty()) continue;  // nothing to key a cached probe on
        upsert.reset();
        upsert.bind(1, v[static_cast<size_t>(iUri)]);
        upsert.bind(2, iName >= 0 ? v[static_cast<size_t>(iName)] : core::Value{});
        upsert.bind(3, etag);
        upsert.bind(4, iSize >= 0 ? v[static_cast<size_t>(iSize)] : core::Value{});
        upsert.bind(5, iMtime >= 0 ? v[static_cast<size_t>(iMtime)] : core::Value{});
        upsert.bind(6, v[static_cast<size_t>(iMime)]);
        upsert.bind(7, v[static_cast<size_t>(iW)]);
        upsert.bind(8, v[static_cast<size_t>(iH)]);
        upsert.bind(9, etag);
        upsert.bind(10, v[static_cast<size_t>(iErr)]);
        upsert.bind(11, now);
        upsert.run();
      }
    };
    ctx.mapRows(spec);
  }
};

}  // namespace

void addMediaNodes(NodeRegistry& registry) { registry.add(std::make_shared<MediaProbe>()); }

}  // namespace loom::nodes

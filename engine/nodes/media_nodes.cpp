// media.probe: what each object is (MIME type from its bytes) and what a person filters on: image
// size, channels and EXIF; audio/video container, duration, codecs, fps; PDF pages; text encoding and
// lines (media::probeColumns() lists them). Results are shared with `loom-cli index` through the
// catalog's objects table, keyed by uri + etag + prober version, so an object is probed once however
// many flows look at it.

#include "catalog/catalog.h"
#include "media/object_reader.h"
#include "media/probe.h"
#include "nodes/builtin_provider.h"
#include "storage/storage.h"

namespace loom::nodes {

using core::ColumnType;

namespace {

// The typed objects columns that mirror a probe column (the rest live in objects.probe_json).
constexpr const char* kTypedObjectColumns[] = {"mime", "format", "width", "height", "duration",
                                               "fps", "sample_rate", "channels", "pages"};

class MediaProbe : public NodeType {
 public:
  std::string id() const override { return "media.probe"; }
  std::string category() const override { return "Media"; }
  std::string title() const override { return "Probe media"; }
  // 2: audio, video, PDF and text fields; errors name the file.
  int version() const override { return 2; }
  std::string doc() const override {
    return "Adds what each object is, read from its headers without decoding pixels or samples: mime "
           "(sniffed from the content, not the name) and format; images: width, height (as displayed), "
           "channels, bit_depth, color, frames (animated), camera and taken_at (EXIF); audio and video: "
           "duration (seconds), video_codec, width, height, fps, frames, audio_codec, audio_streams, "
           "sample_rate, channels; PDF: pages, page_width and page_height (points); text: encoding, lines. "
           "Each probe reads at most 16 MiB and 20 seconds; an image whose header claims more than 200 "
           "megapixels is refused. A file that is missing, empty, truncated or not what its name says gets "
           "an error naming it, and the run goes on.";
  }
  core::Result<core::Schema> outputSchema(const Params&, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    if (!in[0].has("uri"))
      return core::makeError(core::ErrorKind::InvalidFlow,
                             "needs a 'uri' column in its input; connect it after storage.list or a dataset of objects");
    core::Schema s = in[0];
    for (const auto& c : media::probeColumns()) s.set(c);
    s.set({"error", ColumnType::Text, "why the object could not be probed; null when fine"});
    return s;
  }

  void execute(const Params&, ExecContext& ctx) const override {
    const core::Schema& out = ctx.outputSchema();
    const auto& probeCols = media::probeColumns();
    std::vector<size_t> iProbe;
    for (const auto& c : probeCols) iProbe.push_back(static_cast<size_t>(out.indexOf(c.name)));
    const int iUri = out.indexOf("uri"), iEtag = out.indexOf("etag"), iErr = out.indexOf("error"),
              iName = out.indexOf("name"), iSize = out.indexOf("size"), iMtime = out.indexOf("mtime");
    auto& db = ctx.catalog().db();
    auto lookup = db.prepare("SELECT probe_json, error FROM objects WHERE uri=? AND probed_etag=? AND probe_version=?");
    std::string cols = "uri, name, etag, size, mtime, probe_json, probed_etag, probe_version, error, seen_at";
    std::string params = "?,?,?,?,?,?,?,?,?,?";
    std::string updates;
    for (const char* c : kTypedObjectColumns) {
      cols += std::string(", ") + c;
      params += ",?";
    }
    for (const char* c : {"name", "etag", "size", "mtime", "probe_json", "probed_etag", "probe_version", "error",
                          "seen_at"})
      updates += std::string(updates.empty() ? "" : ", ") + c + "=excluded." + c;
    for (const char* c : kTypedObjectColumns) updates += std::string(", ") + c + "=excluded." + c;
    auto upsert = db.prepare("INSERT INTO objects(" + cols + ") VALUES(" + params + ") ON CONFLICT(uri) DO UPDATE SET " +
                             updates);
    std::vector<size_t> typedInProbe;  // position in probeColumns() of each kTypedObjectColumns entry
    for (const char* c : kTypedObjectColumns)
      for (size_t k = 0; k < probeCols.size(); ++k)
        if (probeCols[k].name == c) typedInProbe.push_back(k);

    const media::MediaLimits limits;
    MapSpec spec;
    spec.beforeBatch = [&](std::vector<RowBuffer>& batch) {
      for (auto& row : batch) {
        auto& v = row.values;
        if (!core::isNull(v[static_cast<size_t>(iErr)])) {
          row.done = true;  // failed upstream: keep that error, do not probe
          continue;
        }
        std::string etag = iEtag >= 0 ? core::textOf(v[static_cast<size_t>(iEtag)]) : std::string();
        if (etag.empty()) continue;
        lookup.reset();
        lookup.bind(1, core::textOf(v[static_cast<size_t>(iUri)])).bind(2, etag).bind(3, int64_t{media::kProbeVersion});
        if (lookup.step()) {
          auto values = media::probeValuesFromJson(lookup.text(0));
          for (size_t k = 0; k < values.size(); ++k) v[iProbe[k]] = std::move(values[k]);
          v[static_cast<size_t>(iErr)] = lookup.value(1);
          row.done = true;
        }
      }
    };
    spec.perRow = [&](RowBuffer& row) {
      auto& v = row.values;
      std::string uri = core::textOf(v[static_cast<size_t>(iUri)]);
      auto fail = [&](const std::string& msg) { v[static_cast<size_t>(iErr)] = msg; };
      auto backend = storage::storageFor(uri);
      if (!backend.ok()) return fail(backend.error().message);
      int64_t size = -1;
      if (iSize >= 0 && std::holds_alternative<int64_t>(v[static_cast<size_t>(iSize)]))
        size = std::get<int64_t>(v[static_cast<size_t>(iSize)]);
      media::ObjectReader reader(backend.value(), uri, size, limits.maxProbeBytes, limits.maxSeconds);
      std::string name = iName >= 0 ? core::textOf(v[static_cast<size_t>(iName)]) : uri.substr(uri.rfind('/') + 1);
      media::ProbeResult p = media::probeObject(reader, name, limits);
      auto values = media::probeValues(p);
      for (size_t k = 0; k < values.size(); ++k) v[iProbe[k]] = std::move(values[k]);
      if (!p.error.empty()) fail(p.error);
    };
    spec.afterBatch = [&](std::vector<RowBuffer>& batch) {
      std::string now = core::nowIsoUtc();
      for (auto& row : batch) {
        if (row.done) continue;
        auto& v = row.values;
        std::string etag = iEtag >= 0 ? core::textOf(v[static_cast<size_t>(iEtag)]) : std::string();
        if (etag.empty()) continue;  // nothing to key a cached probe on
        std::vector<core::Value> values;
        for (size_t k : iProbe) values.push_back(v[k]);
        upsert.reset();
        upsert.bind(1, v[static_cast<size_t>(iUri)]);
        upsert.bind(2, iName >= 0 ? v[static_cast<size_t>(iName)] : core::Value{});
        upsert.bind(3, etag);
        upsert.bind(4, iSize >= 0 ? v[static_cast<size_t>(iSize)] : core::Value{});
        upsert.bind(5, iMtime >= 0 ? v[static_cast<size_t>(iMtime)] : core::Value{});
        upsert.bind(6, media::probeJson(values));
        upsert.bind(7, etag);
        upsert.bind(8, int64_t{media::kProbeVersion});
        upsert.bind(9, v[static_cast<size_t>(iErr)]);
        upsert.bind(10, now);
        for (size_t t = 0; t < typedInProbe.size(); ++t) upsert.bind(static_cast<int>(11 + t), values[typedInProbe[t]]);
        upsert.run();
      }
    };
    ctx.mapRows(spec);
  }
};

}  // namespace

void addMediaNodes(NodeRegistry& registry) { registry.add(std::make_shared<MediaProbe>()); }

}  // namespace loom::nodes

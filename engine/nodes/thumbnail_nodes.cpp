// media.thumbnail: a thumbnail or preview per object (image, video frame or strip, audio waveform, PDF
// page, text), stored as a blob in the catalog's content-addressed store and referenced by its hash.
// Thumbnails come from the user's thumbnail cache when an object (uri + etag + size) was thumbnailed
// before with the same request, so a second flow over the same files reads none of them.

#include <atomic>

#include "catalog/blob_store.h"
#include "catalog/catalog.h"
#include "media/thumb_cache.h"
#include "media/thumbnail.h"
#include "nodes/builtin_provider.h"
#include "storage/storage.h"

namespace loom::nodes {

using core::ColumnType;

namespace {

class MediaThumbnail : public NodeType {
 public:
  std::string id() const override { return "media.thumbnail"; }
  std::string category() const override { return "Media"; }
  std::string title() const override { return "Thumbnail"; }
  std::string doc() const override {
    return "Adds a thumbnail of each object: the sha256 of a JPEG/PNG in the catalog's blob store, with its "
           "width and height. kind auto picks by mime: images are scaled, video gives a representative "
           "frame, audio a waveform, PDF its first page, text its first lines. Hostile or broken files "
           "get an error (over the pixel, byte or time limits; truncated; not decodable) and the run goes "
           "on. Thumbnails are cached per user, so unchanged objects are not read again.";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec kind{"kind", ParamType::Enum,
                   "auto (by mime), image, frame (video), strip (video frames side by side), waveform (audio), "
                   "page (PDF), text",
                   false, "auto"};
    kind.choices = {"auto", "image", "frame", "strip", "waveform", "page", "text"};
    ParamSpec size{"size", ParamType::Integer, "longest side in pixels (of each frame, for strips)", false, 256};
    size.minimum = media::kMinThumbnailSide;
    size.maximum = media::kMaxThumbnailSide;
    ParamSpec frames{"frames", ParamType::Integer, "frames in a strip", false, 8};
    frames.minimum = 1;
    frames.maximum = media::kMaxStripFrames;
    ParamSpec column{"column", ParamType::String, "output column for the blob hash", false, "thumbnail"};
    return {kind, size, frames, column};
  }

  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    if (!in[0].has("uri"))
      return core::makeError(core::ErrorKind::InvalidFlow,
                             "needs a 'uri' column in its input; connect it after storage.list or a dataset of objects");
    const std::string column = p.value("column", std::string("thumbnail"));
    if (!core::isValidColumnName(column) || column == "thumb_width" || column == "thumb_height" || column == "error")
      return core::makeError(core::ErrorKind::InvalidFlow,
                             "column '" + column +
                                 "': use letters, digits and '_' (not first), and not thumb_width, thumb_height or error");
    core::Schema s = in[0];
    s.set({column, ColumnType::Text, "sha256 of a JPEG/PNG in the catalog's blob store"});
    s.set({"thumb_width", ColumnType::Integer, "thumbnail width in pixels"});
    s.set({"thumb_height", ColumnType::Integer, "thumbnail height in pixels"});
    s.set({"error", ColumnType::Text, "why the object has no thumbnail (or failed upstream); null when fine"});
    return s;
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    const core::Schema& out = ctx.outputSchema();
    const std::string column = p.value("column", std::string("thumbnail"));
    const int iUri = out.indexOf("uri"), iEtag = out.indexOf("etag"), iSize = out.indexOf("size"),
              iMime = out.indexOf("mime"), iName = out.indexOf("name"), iCol = out.indexOf(column),
              iW = out.indexOf("thumb_width"), iH = out.indexOf("thumb_height"), iErr = out.indexOf("error");
    media::ThumbnailRequest req;
    req.kind = media::thumbnailKindFromName(p.value("kind", std::string("auto"))).value_or(media::ThumbnailKind::Auto);
    req.maxSide = static_cast<int>(p.value("size", int64_t{256}));
    req.frames = static_cast<int>(p.value("frames", int64_t{8}));
    const media::MediaLimits limits;
    media::ThumbCache cache(media::ThumbCache::defaultDir(), media::ThumbCache::defaultMaxBytes());
    const catalog::BlobStore blobs = catalog::BlobStore::forCatalog(ctx.catalog());
    auto& db = ctx.catalog().db();

    struct Made {
      std::string hash, mime;
      int64_t bytes = 0;
    };
    std::vector<Made> made;                  // per row of the current batch, filled by workers
    const RowBuffer* batchBase = nullptr;    // so a worker finds its row's slot in `made`
    std::atomic<int64_t> computed{0}, fromCache{0}, failed{0};

    MapSpec spec;
    spec.beforeBatch = [&](std::vector<RowBuffer>& batch) {
      batchBase = batch.data();
      made.assign(batch.size(), Made{});
      for (auto& row : batch)
        if (!core::isNull(row.values[static_cast<size_t>(iErr)])) row.done = true;  // keep the upstream error
    };
    spec.perRow = [&](RowBuffer& row) {
      auto& v = row.values;
      Made& slot = made[static_cast<size_t>(&row - batchBase)];
      auto fail = [&](const std::string& msg) {
        v[static_cast<size_t>(iErr)] = msg;
        failed.fetch_add(1);
      };
      const std::string uri = core::textOf(v[static_cast<size_t>(iUri)]);
      if (uri.empty()) return fail("no uri in this row");
      auto backend = storage::storageFor(uri);
      if (!backend.ok()) return fail(backend.error().message);
      int64_t size = -1;
      if (iSize >= 0 && std::holds_alternative<int64_t>(v[static_cast<size_t>(iSize)]))
        size = std::get<int64_t>(v[static_cast<size_t>(iSize)]);
      const std::string etag = iEtag >= 0 ? core::textOf(v[static_cast<size_t>(iEtag)]) : std::string();
      const std::string mime = iMime >= 0 ? core::textOf(v[static_cast<size_t>(iMime)]) : std::string();
      const std::string name = iName >= 0 ? core::textOf(v[static_cast<size_t>(iName)]) : uri.substr(uri.rfind('/') + 1);
      media::ObjectReader reader(backend.value(), uri, size, limits.maxPreviewBytes, limits.maxSeconds);
      auto t = media::cachedThumbnail(&cache, reader, etag, mime, name, req, limits);
      if (!t.ok()) return fail(t.error().message);
      auto hash = blobs.put(t->thumbnail.bytes, false);  // flushed once per batch in afterBatch
      // The blob store is the catalog's: a full or read-only disk there ends the run (and it resumes
      // once there is room) instead of failing every row for good.
      if (!hash.ok()) throw core::RunError(core::ErrorKind::Catalog, hash.error().message);
      (t->cached ? fromCache : computed).fetch_add(1);
      v[static_cast<size_t>(iCol)] = *hash;
      v[static_cast<size_t>(iW)] = static_cast<int64_t>(t->thumbnail.width);
      v[static_cast<size_t>(iH)] = static_cast<int64_t>(t->thumbnail.height);
      slot = Made{*hash, t->thumbnail.mime, static_cast<int64_t>(t->thumbnail.bytes.size())};
    };
    spec.afterBatch = [&](std::vector<RowBuffer>& batch) {
      // The blobs reach the disk before the rows that reference them commit.
      blobs.sync().orThrow();
      for (size_t i = 0; i < batch.size(); ++i)
        if (!made[i].hash.empty()) catalog::BlobStore::record(db, made[i].hash, made[i].bytes, made[i].mime);
    };
    ctx.mapRows(spec);
    ctx.feedback().info(ctx.nodeId() + ": " + std::to_string(computed.load()) + " thumbnails made, " +
                        std::to_string(fromCache.load()) + " from the cache (" + cache.dir() + "), " +
                        std::to_string(failed.load()) + " failed");
  }
};

}  // namespace

void addThumbnailNodes(NodeRegistry& registry) { registry.add(std::make_shared<MediaThumbnail>()); }

}  // namespace loom::nodes

// image.transform, image.phash, image.near_duplicates, quality.blur, quality.exposure.
//
// The per-image nodes read each row's object (uri) or a blob an earlier node made (the `source`
// parameter: thumbnail, frame, image…), decode it in the media codecs module (media/image_ops.h) under
// MediaLimits, and fill their columns; a broken or hostile file is that row's error. Derived images are
// blobs in the catalog's BlobStore, referenced by sha256. image.near_duplicates works on the whole
// table at once (media/near_duplicates.h) and writes through one INSERT … SELECT.

#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "catalog/blob_store.h"
#include "catalog/catalog.h"
#include "catalog/db.h"
#include "media/codecs.h"
#include "media/image_ops.h"
#include "media/near_duplicates.h"
#include "nodes/builtin_provider.h"
#include "nodes/sql_check.h"
#include "storage/storage.h"

namespace loom::nodes {

using core::ColumnType;
using core::ErrorKind;
using core::quoteIdent;

namespace {

core::Error invalid(const std::string& message) { return core::makeError(ErrorKind::InvalidFlow, message); }

using core::textOf;

std::string hex64(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, h);
  return buf;
}

// 16 hex digits (an optional 0x in front), or an integer column's 64 bits.
std::optional<uint64_t> parseHash(const core::Value& v) {
  if (std::holds_alternative<int64_t>(v)) return static_cast<uint64_t>(std::get<int64_t>(v));
  if (!std::holds_alternative<std::string>(v)) return std::nullopt;
  std::string_view s = std::get<std::string>(v);
  if (s.size() == 18 && (s.substr(0, 2) == "0x" || s.substr(0, 2) == "0X")) s.remove_prefix(2);
  if (s.size() != 16) return std::nullopt;
  uint64_t h = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return std::nullopt;
    h = (h << 4) | static_cast<uint64_t>(d);
  }
  return h;
}

// What one row's work produces besides its columns: a blob to store with the batch.
struct MadeBlob {
  std::string hash, mime;
  int64_t bytes = 0;
};

// A function that fills a row's new columns (in the order of the node's columns()) from the image
// behind the reader; a returned error becomes the row's error.
using ImageWork = std::function<core::Result<void>(media::ObjectReader& reader, std::string_view mime,
                                                   std::string_view name, std::vector<core::Value>& out,
                                                   MadeBlob& blob)>;

// The frame of every per-image node: input checks, the `source` parameter, reading each row's image,
// upstream errors kept, blobs recorded with their batch.
class ImageRowNode : public NodeType {
 public:
  std::vector<ParamSpec> params() const override {
    std::vector<ParamSpec> p{{"source", ParamType::String,
                              "read the image from this column of blob hashes (e.g. thumbnail, frame, or image from "
                              "an earlier image.transform) instead of the object at uri; empty: the object",
                              false, ""}};
    for (auto& s : ownParams()) p.push_back(std::move(s));
    return p;
  }

  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    const std::string source = p.value("source", std::string());
    if (source.empty() && !in[0].has("uri"))
      return invalid("needs a 'uri' column in its input (connect it after storage.list or a dataset of objects), "
                     "or a column of blob hashes named by 'source'");
    if (!source.empty()) {
      const int i = in[0].indexOf(source);
      if (i < 0) return invalid("source: no column '" + source + "' in the input; it should hold blob hashes");
      if (in[0][static_cast<size_t>(i)].type != ColumnType::Text && in[0][static_cast<size_t>(i)].type != ColumnType::Any)
        return invalid("source: column '" + source + "' is not text; it should hold blob hashes (sha256 hex)");
    }
    auto own = checkOwn(p);
    if (!own.ok()) return own.error();
    auto cols = columns(p);
    if (!cols.ok()) return cols.error();
    core::Schema s = in[0];
    for (const auto& c : *cols) {
      if (c.name == "error" || c.name == source || !core::isValidColumnName(c.name))
        return invalid("column '" + c.name + "': use letters, digits and '_' (not first), and not error or the source column");
      s.set(c);
    }
    s.set({"error", ColumnType::Text, "why the row has no result (or failed upstream); null when fine"});
    return s;
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    const core::Schema& out = ctx.outputSchema();
    const std::string source = p.value("source", std::string());
    const auto cols = columns(p).value();
    std::vector<size_t> iCols;
    for (const auto& c : cols) iCols.push_back(static_cast<size_t>(out.indexOf(c.name)));
    const int iUri = out.indexOf("uri"), iSize = out.indexOf("size"), iMime = out.indexOf("mime"),
              iName = out.indexOf("name"), iErr = out.indexOf("error"),
              iSource = source.empty() ? -1 : out.indexOf(source);
    const media::MediaLimits limits;
    const catalog::BlobStore blobs = catalog::BlobStore::forCatalog(ctx.catalog());
    auto& db = ctx.catalog().db();
    auto api = media::codecs();
    const media::ImageOpsApi* ops = api.ok() ? (*api)->image : nullptr;
    const ImageWork work = ops ? makeWork(p, *ops, blobs) : ImageWork();

    std::vector<MadeBlob> made;
    const RowBuffer* batchBase = nullptr;
    std::atomic<int64_t> succeeded{0}, failed{0};

    MapSpec spec;
    spec.beforeBatch = [&](std::vector<RowBuffer>& batch) {
      batchBase = batch.data();
      made.assign(batch.size(), MadeBlob{});
      for (auto& row : batch)
        if (!core::isNull(row.values[static_cast<size_t>(iErr)])) row.done = true;  // keep the upstream error
    };
    spec.perRow = [&](RowBuffer& row) {
      auto& v = row.values;
      auto fail = [&](const std::string& msg) {
        v[static_cast<size_t>(iErr)] = msg;
        failed.fetch_add(1);
      };
      if (!ops) return fail("images cannot be decoded: " + api.error().message);
      const std::string uri = iUri >= 0 ? textOf(v[static_cast<size_t>(iUri)]) : std::string();
      std::string mime = iMime >= 0 ? textOf(v[static_cast<size_t>(iMime)]) : std::string();
      std::string name = iName >= 0 ? textOf(v[static_cast<size_t>(iName)]) : uri.substr(uri.rfind('/') + 1);
      std::optional<media::ObjectReader> reader;
      if (iSource >= 0) {
        const std::string hash = textOf(v[static_cast<size_t>(iSource)]);
        const std::string what = (uri.empty() ? std::string() : uri + " ") + "(" + source + " blob " + hash.substr(0, 12) + ")";
        if (hash.empty()) return fail("no blob hash in column '" + source + "'" + (uri.empty() ? "" : " for " + uri));
        if (!catalog::isBlobHash(hash))
          return fail("column '" + source + "' holds '" + hash.substr(0, 80) + "', not a blob hash (64 hex digits)");
        std::error_code ec;
        const auto bytes = std::filesystem::file_size(blobs.pathOf(hash), ec);
        if (ec) return fail(what + ": the blob is not in this catalog's blob store");
        if (static_cast<int64_t>(bytes) > limits.maxPreviewBytes) return fail(what + ": the blob is over the read limit");
        auto content = blobs.get(hash);
        if (!content.ok()) return fail(what + ": " + content.error().message);
        reader.emplace(std::move(content).value(), what, limits.maxPreviewBytes, limits.maxSeconds);
        mime.clear();  // the row's mime is the object's, not the blob's
        name.clear();
      } else {
        if (uri.empty()) return fail("no uri in this row");
        auto backend = storage::storageFor(uri);
        if (!backend.ok()) return fail(backend.error().message);
        int64_t size = -1;
        if (iSize >= 0 && std::holds_alternative<int64_t>(v[static_cast<size_t>(iSize)]))
          size = std::get<int64_t>(v[static_cast<size_t>(iSize)]);
        reader.emplace(backend.value(), uri, size, limits.maxPreviewBytes, limits.maxSeconds);
      }
      std::vector<core::Value> values(cols.size());
      MadeBlob blob;
      auto r = work(*reader, mime, name, values, blob);
      if (!r.ok()) return fail(r.error().message);
      for (size_t k = 0; k < cols.size(); ++k) v[iCols[k]] = std::move(values[k]);
      made[static_cast<size_t>(&row - batchBase)] = std::move(blob);
      succeeded.fetch_add(1);
    };
    spec.afterBatch = [&](std::vector<RowBuffer>& batch) {
      bool any = false;
      for (const auto& m : made) any = any || !m.hash.empty();
      if (!any) return;
      // The blobs reach the disk before the rows that reference them commit.
      blobs.sync().orThrow();
      for (size_t i = 0; i < batch.size(); ++i)
        if (!made[i].hash.empty()) catalog::BlobStore::record(db, made[i].hash, made[i].bytes, made[i].mime);
    };
    ctx.mapRows(spec);
    ctx.feedback().info(ctx.nodeId() + ": " + std::to_string(succeeded.load()) + " images done, " +
                        std::to_string(failed.load()) + " failed");
  }

 protected:
  virtual std::vector<ParamSpec> ownParams() const = 0;
  virtual core::Result<void> checkOwn(const Params&) const { return {}; }
  virtual core::Result<std::vector<core::Column>> columns(const Params& p) const = 0;
  virtual ImageWork makeWork(const Params& p, const media::ImageOpsApi& ops, const catalog::BlobStore& blobs) const = 0;
};

// ---------------------------------------------------------------------------------------------------
// image.transform

// "16:9", "4:3", "1" or "1.777" as width / height; 0 when not an aspect.
double parseAspect(const std::string& s) {
  double w = 0, h = 1;
  char extra = 0;
  if (std::sscanf(s.c_str(), "%lf:%lf%c", &w, &h, &extra) == 2 || std::sscanf(s.c_str(), "%lf%c", &w, &extra) == 1) {
    if (w > 0 && h > 0 && std::isfinite(w / h) && w / h >= 0.01 && w / h <= 100) return w / h;
  }
  return 0;
}

class ImageTransform : public ImageRowNode {
 public:
  std::string id() const override { return "image.transform"; }
  std::string category() const override { return "Image"; }
  std::string title() const override { return "Transform images"; }
  std::string doc() const override {
    return "Makes a new image from each row's image and stores it in the catalog's blob store: the `column` "
           "(default image) holds its sha256, with <column>_width, <column>_height, <column>_mime and "
           "<column>_bytes. Steps, in this order: EXIF orientation (a phone photo is turned upright unless "
           "exif_orientation is false), rotate (90/180/270 clockwise), crop to a box (crop_x, crop_y, crop_width, "
           "crop_height in pixels of the upright image; clipped to the image), crop to an aspect around the "
           "centre (crop_aspect, e.g. 1:1 or 16:9), resize, colour (rgb or gray), normalize (autocontrast: "
           "stretch the darkest and brightest 0.5% to black and white; equalize: histogram equalisation of "
           "brightness), then encode (format auto: PNG where transparency is left, else JPEG). Resize modes: "
           "max_side (fit in a square, never enlarges), exact (width x height with fit contain: inside, aspect "
           "kept, may be smaller on one side; cover: fill and cut the overflow around the centre; stretch: "
           "aspect not kept; pad: inside, then padded with black, or transparent for images with alpha), scale "
           "(a factor). Example: {\"crop_aspect\": \"1:1\", \"resize\": \"exact\", \"width\": 224, \"height\": "
           "224, \"fit\": \"cover\"} makes square training crops. Errors: the image is missing, truncated, not "
           "decodable, a GIF (not decoded here; convert it first), over 200 megapixels, or the crop box lies "
           "outside it; the run goes on and the row keeps its error. Reads the object at uri, or a blob named "
           "by `source` (chain transforms on image).";
  }

 protected:
  std::vector<ParamSpec> ownParams() const override {
    return {
        {"column", ParamType::String, "output column for the result's sha256 (others get _width, _height, _mime, _bytes)",
         false, "image"},
        {"exif_orientation", ParamType::Boolean, "turn the image upright as its EXIF orientation says", false, true},
        enumParam("rotate", "then rotate clockwise by this many degrees", "0", {"0", "90", "180", "270"}),
        intParam("crop_x", "crop box left edge, pixels (with crop_width and crop_height)", 0, 0, 1e9),
        intParam("crop_y", "crop box top edge, pixels", 0, 0, 1e9),
        intParam("crop_width", "crop box width, pixels; 0: no box", 0, 0, 1e9),
        intParam("crop_height", "crop box height, pixels; 0: no box", 0, 0, 1e9),
        {"crop_aspect", ParamType::String, "centre crop to this aspect, width:height (\"1:1\", \"16:9\") or a ratio "
                                           "(\"1.5\"); empty: none", false, ""},
        enumParam("resize", "none, max_side, exact (width x height with fit) or scale", "none",
                  {"none", "max_side", "exact", "scale"}),
        intParam("max_side", "resize max_side: longest side in pixels (never enlarges)", 1024, 1, 65535),
        intParam("width", "resize exact: width in pixels", 0, 0, 65535),
        intParam("height", "resize exact: height in pixels", 0, 0, 65535),
        enumParam("fit", "resize exact: contain, cover, stretch or pad", "contain", {"contain", "cover", "stretch", "pad"}),
        numberParam("scale", "resize scale: factor on both sides (0.5 halves them)", 1.0, 0.001, 100),
        enumParam("colour", "keep, rgb (3 channels; transparency flattened onto white) or gray", "keep",
                  {"keep", "rgb", "gray"}),
        enumParam("normalize", "none, autocontrast or equalize", "none", {"none", "autocontrast", "equalize"}),
        enumParam("format", "auto (PNG where transparency is left, else JPEG), jpeg, png or webp", "auto",
                  {"auto", "jpeg", "png", "webp"}),
        intParam("quality", "JPEG and WebP quality", 90, 1, 100),
    };
  }

  core::Result<void> checkOwn(const Params& p) const override {
    const std::string resize = p.value("resize", std::string("none"));
    if (resize == "exact" && (p.value("width", int64_t{0}) < 1 || p.value("height", int64_t{0}) < 1))
      return invalid("width: resize exact needs width and height of at least 1 pixel");
    const bool box = p.value("crop_width", int64_t{0}) > 0 || p.value("crop_height", int64_t{0}) > 0;
    if (box && (p.value("crop_width", int64_t{0}) < 1 || p.value("crop_height", int64_t{0}) < 1))
      return invalid("crop_width: a crop box needs both crop_width and crop_height");
    const std::string aspect = p.value("crop_aspect", std::string());
    if (!aspect.empty() && parseAspect(aspect) == 0)
      return invalid("crop_aspect: '" + aspect + "' is not an aspect; use width:height like 1:1 or 16:9, or a ratio like 1.5");
    return {};
  }

  core::Result<std::vector<core::Column>> columns(const Params& p) const override {
    const std::string c = p.value("column", std::string("image"));
    if (!core::isValidColumnName(c)) return invalid("column '" + c + "': use letters, digits and '_' (not first)");
    return std::vector<core::Column>{{c, ColumnType::Text, "sha256 of the transformed image in the catalog's blob store"},
                                     {c + "_width", ColumnType::Integer, "width of the transformed image, pixels"},
                                     {c + "_height", ColumnType::Integer, "height of the transformed image, pixels"},
                                     {c + "_mime", ColumnType::Text, "image/jpeg, image/png or image/webp"},
                                     {c + "_bytes", ColumnType::Integer, "size of the transformed image, bytes"}};
  }

  ImageWork makeWork(const Params& p, const media::ImageOpsApi& ops, const catalog::BlobStore& blobs) const override {
    using S = media::ImageTransformSpec;
    S s;
    s.exifOrientation = p.value("exif_orientation", true);
    s.rotate = std::stoi(p.value("rotate", std::string("0")));
    s.cropX = static_cast<int>(p.value("crop_x", int64_t{0}));
    s.cropY = static_cast<int>(p.value("crop_y", int64_t{0}));
    s.cropW = static_cast<int>(p.value("crop_width", int64_t{0}));
    s.cropH = static_cast<int>(p.value("crop_height", int64_t{0}));
    s.cropAspect = parseAspect(p.value("crop_aspect", std::string()));
    const std::string resize = p.value("resize", std::string("none"));
    s.resize = resize == "max_side" ? S::Resize::MaxSide
               : resize == "exact"  ? S::Resize::Exact
               : resize == "scale"  ? S::Resize::Scale
                                    : S::Resize::None;
    s.maxSide = static_cast<int>(p.value("max_side", int64_t{1024}));
    s.width = static_cast<int>(p.value("width", int64_t{0}));
    s.height = static_cast<int>(p.value("height", int64_t{0}));
    const std::string fit = p.value("fit", std::string("contain"));
    s.fit = fit == "cover" ? S::Fit::Cover : fit == "stretch" ? S::Fit::Stretch : fit == "pad" ? S::Fit::Pad : S::Fit::Contain;
    s.scale = p.value("scale", 1.0);
    const std::string colour = p.value("colour", std::string("keep"));
    s.colour = colour == "rgb" ? S::Colour::Rgb : colour == "gray" ? S::Colour::Gray : S::Colour::Keep;
    const std::string norm = p.value("normalize", std::string("none"));
    s.normalize = norm == "autocontrast" ? S::Normalize::AutoContrast
                  : norm == "equalize"   ? S::Normalize::Equalize
                                         : S::Normalize::None;
    const std::string format = p.value("format", std::string("auto"));
    s.format = format == "jpeg" ? S::Format::Jpeg : format == "png" ? S::Format::Png : format == "webp" ? S::Format::Webp : S::Format::Auto;
    s.quality = static_cast<int>(p.value("quality", int64_t{90}));
    return [s, &ops, blobs](media::ObjectReader& reader, std::string_view mime, std::string_view name,
                            std::vector<core::Value>& out, MadeBlob& blob) -> core::Result<void> {
      const media::MediaLimits limits;
      auto img = ops.transform(reader, mime, name, s, limits);
      if (!img.ok()) return img.error();
      auto hash = blobs.put(img->bytes, false);  // flushed once per batch
      // The blob store is the catalog's: a full or read-only disk ends the run (it resumes later).
      if (!hash.ok()) throw core::RunError(ErrorKind::Catalog, hash.error().message);
      out = {*hash, int64_t{img->width}, int64_t{img->height}, img->mime, static_cast<int64_t>(img->bytes.size())};
      blob = MadeBlob{*hash, img->mime, static_cast<int64_t>(img->bytes.size())};
      return {};
    };
  }
};

// ---------------------------------------------------------------------------------------------------
// image.phash

class ImagePhash : public ImageRowNode {
 public:
  std::string id() const override { return "image.phash"; }
  std::string category() const override { return "Image"; }
  std::string title() const override { return "Perceptual hash"; }
  std::string doc() const override {
    return "Adds a 64-bit perceptual hash of each image as 16 hex digits (column phash): the image in grey, "
           "shrunk to 32 x 32, its 2-D DCT, and one bit per coefficient of the 8 x 8 lowest frequencies "
           "(without the DC row and column) set when it is above their median. Pictures that look the same "
           "get hashes a few bits apart even after resizing, recompression or small colour changes; "
           "different pictures differ in about half of the 64 bits. Compare hashes with "
           "image.near_duplicates (Hamming distance; 6 or less usually means the same picture). Cropping, "
           "rotating and mirroring change the hash. A flat image (one colour all over, e.g. a blank frame) "
           "has no structure to hash and gets 0000000000000000 whatever its colour, so flat images group "
           "together. Example: image.phash, then image.near_duplicates with max_distance 6, then table.filter "
           "`dup_keep = 1` keeps one image per group. Errors: the image is "
           "missing, truncated, not decodable, a GIF or over 200 megapixels.";
  }

 protected:
  std::vector<ParamSpec> ownParams() const override {
    return {{"column", ParamType::String, "output column for the hash (16 hex digits)", false, "phash"}};
  }
  core::Result<std::vector<core::Column>> columns(const Params& p) const override {
    const std::string c = p.value("column", std::string("phash"));
    return std::vector<core::Column>{{c, ColumnType::Text, "64-bit DCT perceptual hash, 16 hex digits"}};
  }
  ImageWork makeWork(const Params&, const media::ImageOpsApi& ops, const catalog::BlobStore&) const override {
    return [&ops](media::ObjectReader& reader, std::string_view mime, std::string_view name,
                  std::vector<core::Value>& out, MadeBlob&) -> core::Result<void> {
      auto h = ops.phash(reader, mime, name, media::MediaLimits{});
      if (!h.ok()) return h.error();
      out[0] = hex64(*h);
      return {};
    };
  }
};

// ---------------------------------------------------------------------------------------------------
// quality.blur and quality.exposure

class QualityBlur : public ImageRowNode {
 public:
  std::string id() const override { return "quality.blur"; }
  std::string category() const override { return "Quality"; }
  std::string title() const override { return "Blur score"; }
  std::string doc() const override {
    return "Scores how sharp each image is: blur_score is the variance of the Laplacian (edge strength) of "
           "the image in grey, shrunk to a longest side of 512 pixels first so that the same picture scores "
           "alike at any size (smaller images are scored as they are). Higher is sharper: out-of-focus or "
           "motion-blurred photos score low, usually under 100; flat images (a blank wall, a sky) score low "
           "too. is_blurry is 1 when blur_score is below threshold, else 0. Example: quality.blur, then "
           "table.filter `is_blurry = 0`. Tune threshold on a sample of your own images. Errors: the image is "
           "missing, truncated, not decodable, a GIF or over 200 megapixels.";
  }

 protected:
  std::vector<ParamSpec> ownParams() const override {
    return {numberParam("threshold", "blur_score below this is blurry", 100.0, 0, 1e9)};
  }
  core::Result<std::vector<core::Column>> columns(const Params&) const override {
    return std::vector<core::Column>{
        {"blur_score", ColumnType::Real, "variance of the Laplacian at 512 px long side; higher is sharper"},
        {"is_blurry", ColumnType::Integer, "1 when blur_score < threshold, else 0"}};
  }
  ImageWork makeWork(const Params& p, const media::ImageOpsApi& ops, const catalog::BlobStore&) const override {
    const double threshold = p.value("threshold", 100.0);
    return [&ops, threshold](media::ObjectReader& reader, std::string_view mime, std::string_view name,
                             std::vector<core::Value>& out, MadeBlob&) -> core::Result<void> {
      auto score = ops.blurScore(reader, mime, name, media::MediaLimits{});
      if (!score.ok()) return score.error();
      out[0] = std::round(*score * 1000) / 1000;
      out[1] = int64_t{*score < threshold ? 1 : 0};
      return {};
    };
  }
};

class QualityExposure : public ImageRowNode {
 public:
  std::string id() const override { return "quality.exposure"; }
  std::string category() const override { return "Quality"; }
  std::string title() const override { return "Exposure"; }
  std::string doc() const override {
    return "Measures the brightness of each image (in grey, at a longest side of 512 pixels): luma_mean "
           "(0 black to 255 white), clipped_dark and clipped_bright (the share of pixels at or below dark_level, "
           "at or above bright_level), and exposure: under when luma_mean < under_mean or clipped_dark > "
           "max_clipped, over when luma_mean > over_mean or clipped_bright > max_clipped (the larger clipped "
           "share decides when both are), else ok. Example: quality.exposure, then table.filter "
           "`exposure = 'ok'`. A night shot or a product on black may be 'under' by design: look at the "
           "numbers before dropping rows. Errors: the image is missing, truncated, not decodable, a GIF or "
           "over 200 megapixels.";
  }

 protected:
  std::vector<ParamSpec> ownParams() const override {
    return {intParam("dark_level", "luma at or below this counts as clipped dark", 10, 0, 254),
            intParam("bright_level", "luma at or above this counts as clipped bright", 245, 1, 255),
            numberParam("under_mean", "luma_mean below this is under-exposed", 60, 0, 255),
            numberParam("over_mean", "luma_mean above this is over-exposed", 195, 0, 255),
            numberParam("max_clipped", "a clipped share above this is under- or over-exposed", 0.4, 0, 1)};
  }
  core::Result<void> checkOwn(const Params& p) const override {
    if (p.value("dark_level", int64_t{10}) >= p.value("bright_level", int64_t{245}))
      return invalid("dark_level: must be below bright_level");
    if (p.value("under_mean", 60.0) >= p.value("over_mean", 195.0)) return invalid("under_mean: must be below over_mean");
    return {};
  }
  core::Result<std::vector<core::Column>> columns(const Params&) const override {
    return std::vector<core::Column>{
        {"luma_mean", ColumnType::Real, "mean brightness, 0 (black) to 255 (white)"},
        {"clipped_dark", ColumnType::Real, "share of pixels at or below dark_level, 0 to 1"},
        {"clipped_bright", ColumnType::Real, "share of pixels at or above bright_level, 0 to 1"},
        {"exposure", ColumnType::Text, "under, ok or over"}};
  }
  ImageWork makeWork(const Params& p, const media::ImageOpsApi& ops, const catalog::BlobStore&) const override {
    const int dark = static_cast<int>(p.value("dark_level", int64_t{10}));
    const int bright = static_cast<int>(p.value("bright_level", int64_t{245}));
    const double under = p.value("under_mean", 60.0), over = p.value("over_mean", 195.0),
                 maxClipped = p.value("max_clipped", 0.4);
    return [=, &ops](media::ObjectReader& reader, std::string_view mime, std::string_view name,
                     std::vector<core::Value>& out, MadeBlob&) -> core::Result<void> {
      auto st = ops.exposure(reader, mime, name, dark, bright, media::MediaLimits{});
      if (!st.ok()) return st.error();
      auto round4 = [](double x) { return std::round(x * 10000) / 10000; };
      const bool darkClip = st->darkFraction > maxClipped, brightClip = st->brightFraction > maxClipped;
      std::string label = "ok";
      if (darkClip && brightClip) label = st->darkFraction >= st->brightFraction ? "under" : "over";
      else if (st->meanLuma < under || darkClip) label = "under";
      else if (st->meanLuma > over || brightClip) label = "over";
      out = {round4(st->meanLuma), round4(st->darkFraction), round4(st->brightFraction), label};
      return {};
    };
  }
};

// ---------------------------------------------------------------------------------------------------
// image.near_duplicates

class ImageNearDuplicates : public NodeType {
 public:
  std::string id() const override { return "image.near_duplicates"; }
  std::string category() const override { return "Image"; }
  std::string title() const override { return "Near-duplicate groups"; }
  std::string doc() const override {
    return "Groups rows whose 64-bit hashes (column, e.g. phash from image.phash) differ in at most "
           "max_distance bits, and keeps every row with: dup_group (a group number, 1, 2, … in the order the "
           "groups first appear), dup_size (rows in the group; 1 for an image with no near duplicate), dup_rank "
           "(0 for the group's representative, then by distance to it), dup_distance (bits from the "
           "representative) and dup_keep (1 for the representative). Keep one image per group with "
           "table.filter `dup_keep = 1`; review groups with `dup_size > 1`. The representative is the group's "
           "first row, or the first by `prefer` (an ORDER BY, e.g. `width * height DESC` to keep the largest). "
           "Groups chain: when A is near B and B near C, all three are one group even if A and C are further "
           "apart. With the default of 6 bits, resized and recompressed copies group together and unrelated "
           "pictures do not. Works on 100,000s of rows without comparing every pair (multi-index hashing). "
           "Rows with no hash (null, or an upstream error) get null dup_* columns and dup_keep 1; a value that "
           "is not 16 hex digits or an integer is that row's error.";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec dist{"max_distance", ParamType::Integer, "largest Hamming distance (differing bits of 64) in a group", false, 6};
    dist.minimum = 0;
    dist.maximum = 24;
    return {{"column", ParamType::String, "column holding the hashes: 16 hex digits or a 64-bit integer", false, "phash"},
            dist,
            {"prefer", ParamType::SqlOrder,
             "which row represents its group: an ORDER BY over the input columns, e.g. `width * height DESC`; "
             "empty: the first row",
             false, ""}};
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    const std::string column = p.value("column", std::string("phash"));
    const int i = in[0].indexOf(column);
    if (i < 0) return invalid("column: no column '" + column + "' in the input; run image.phash first or name the hash column");
    const auto type = in[0][static_cast<size_t>(i)].type;
    if (type != ColumnType::Text && type != ColumnType::Integer && type != ColumnType::Any)
      return invalid("column: '" + column + "' holds neither text (16 hex digits) nor integers");
    const std::string prefer = p.value("prefer", std::string());
    if (!prefer.empty()) {
      auto r = checkSql(in[0], prefer, SqlPiece::OrderBy);
      if (!r.ok()) return invalid("prefer: " + r.error().message);
    }
    core::Schema s = in[0];
    for (const char* c : {"dup_group", "dup_size", "dup_rank", "dup_distance", "dup_keep"})
      if (s.has(c)) return invalid("column: the input already has a '" + std::string(c) + "' column (run near_duplicates once)");
    s.set({"dup_group", ColumnType::Integer, "near-duplicate group number (1, 2, … by first appearance)"});
    s.set({"dup_size", ColumnType::Integer, "rows in the group"});
    s.set({"dup_rank", ColumnType::Integer, "0 for the representative, then by distance to it"});
    s.set({"dup_distance", ColumnType::Integer, "Hamming distance to the group's representative"});
    s.set({"dup_keep", ColumnType::Integer, "1 for the row to keep (the representative, or a row with no hash)"});
    s.set({"error", ColumnType::Text, "why the row has no group (or failed upstream); null when fine"});
    return s;
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    const auto& in = ctx.inputs()[0];
    const std::string column = p.value("column", std::string("phash"));
    const int maxDistance = static_cast<int>(p.value("max_distance", int64_t{6}));
    const std::string prefer = p.value("prefer", std::string());
    const bool inError = in.schema.has("error");
    auto& db = ctx.catalog().db();

    struct Row {
      int64_t id = 0;
      int64_t priority = 0;  // position in the prefer order
      std::optional<uint64_t> hash;
      std::string error;  // a malformed hash
    };
    std::vector<Row> rows;
    {
      std::string sql = "SELECT _row, " + quoteIdent(column) + ", " + (inError ? quoteIdent("error") : "NULL") +
                        " FROM " + quoteIdent(in.tableName) + " ORDER BY " + (prefer.empty() ? "" : prefer + "\n, ") + "_row";
      std::optional<catalog::Stmt> stmt;
      {
        SqlGuard guard(db.handle(), {in.tableName});
        auto s = db.tryPrepare(sql);
        if (!s.ok())
          throw core::RunError(ErrorKind::InvalidFlow, "node '" + ctx.nodeId() + "': prefer: " +
                                                           (guard.denied().empty() ? s.error().message : guard.denied()));
        stmt.emplace(std::move(s).value());
      }
      int64_t position = 0;
      while (stmt->step()) {
        Row r;
        r.id = stmt->int64(0);
        r.priority = position++;
        const core::Value v = stmt->value(1);
        if (stmt->isNull(2) && !core::isNull(v)) {
          r.hash = parseHash(v);
          if (!r.hash)
            r.error = "column '" + column + "' holds '" + textOf(v).substr(0, 40) +
                      "', not a 64-bit hash (16 hex digits or an integer)";
        }
        rows.push_back(std::move(r));
      }
    }
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.id < b.id; });

    std::vector<uint64_t> hashes;
    std::vector<size_t> rowOf;  // hash index → rows index
    for (size_t i = 0; i < rows.size(); ++i)
      if (rows[i].hash) {
        hashes.push_back(*rows[i].hash);
        rowOf.push_back(i);
      }
    media::NearDuplicateStats stats;
    const std::vector<uint32_t> label = media::groupNearDuplicates(hashes, maxDistance, &stats);

    // Members per group (label = the group's first hash index, so groups come in order of appearance).
    std::map<uint32_t, std::vector<uint32_t>> groups;
    for (uint32_t i = 0; i < label.size(); ++i) groups[label[i]].push_back(i);
    struct Out {
      int64_t group = 0, size = 0, rank = 0, distance = 0;
    };
    std::vector<Out> outs(hashes.size());
    int64_t groupNo = 0, duplicates = 0;
    for (auto& [first, members] : groups) {
      (void)first;
      ++groupNo;
      const uint32_t rep = *std::min_element(members.begin(), members.end(), [&](uint32_t a, uint32_t b) {
        return rows[rowOf[a]].priority < rows[rowOf[b]].priority;
      });
      std::sort(members.begin(), members.end(), [&](uint32_t a, uint32_t b) {
        const int da = a == rep ? -1 : media::hammingDistance(hashes[a], hashes[rep]);
        const int db2 = b == rep ? -1 : media::hammingDistance(hashes[b], hashes[rep]);
        if (da != db2) return da < db2;
        return rows[rowOf[a]].priority < rows[rowOf[b]].priority;
      });
      for (size_t r = 0; r < members.size(); ++r)
        outs[members[r]] = Out{groupNo, static_cast<int64_t>(members.size()), static_cast<int64_t>(r),
                               media::hammingDistance(hashes[members[r]], hashes[rep])};
      duplicates += static_cast<int64_t>(members.size()) - 1;
    }

    // The results go to a temporary table joined to the input by _row, so the output is one
    // INSERT … SELECT that keeps every input column and each row's lineage.
    const std::string temp = "loom_near_dup_" + ctx.nodeHash().substr(0, 16);
    db.exec("DROP TABLE IF EXISTS temp." + quoteIdent(temp));
    db.exec("CREATE TEMP TABLE " + quoteIdent(temp) +
            "(r INTEGER PRIMARY KEY, grp INTEGER, size INTEGER, rank INTEGER, dist INTEGER, keep INTEGER, err TEXT)");
    struct DropTemp {
      catalog::Db& db;
      std::string name;
      ~DropTemp() { (void)db.tryExec("DROP TABLE IF EXISTS temp." + quoteIdent(name)); }
    } dropTemp{db, temp};
    {
      catalog::Transaction tx(db);
      auto ins = db.prepare("INSERT INTO temp." + quoteIdent(temp) + " VALUES(?,?,?,?,?,?,?)");
      std::vector<int64_t> hashIndex(rows.size(), -1);
      for (size_t h = 0; h < rowOf.size(); ++h) hashIndex[rowOf[h]] = static_cast<int64_t>(h);
      for (size_t i = 0; i < rows.size(); ++i) {
        ins.reset();
        ins.bind(1, rows[i].id);
        if (hashIndex[i] >= 0) {
          const Out& o = outs[static_cast<size_t>(hashIndex[i])];
          ins.bind(2, o.group).bind(3, o.size).bind(4, o.rank).bind(5, o.distance).bind(6, int64_t{o.rank == 0 ? 1 : 0});
        } else {
          ins.bind(2, nullptr).bind(3, nullptr).bind(4, nullptr).bind(5, nullptr).bind(6, int64_t{1});
        }
        if (rows[i].error.empty()) ins.bind(7, nullptr);
        else ins.bind(7, rows[i].error);
        ins.run();
      }
      tx.commit();
    }
    std::string select = "SELECT t._row";
    for (const auto& c : ctx.outputSchema().columns()) {
      if (c.name == "dup_group") select += ", m.grp";
      else if (c.name == "dup_size") select += ", m.size";
      else if (c.name == "dup_rank") select += ", m.rank";
      else if (c.name == "dup_distance") select += ", m.dist";
      else if (c.name == "dup_keep") select += ", m.keep";
      else if (c.name == "error") select += inError ? ", coalesce(t.error, m.err)" : ", m.err";
      else select += ", t." + quoteIdent(c.name);
    }
    select += " FROM " + quoteIdent(in.tableName) + " t JOIN " + quoteIdent(temp) + " m ON m.r = t._row ORDER BY t._row";
    InsertOptions options;
    options.extraReads = {temp};
    ctx.insertSelect(select, options);
    ctx.feedback().info(ctx.nodeId() + ": " + std::to_string(hashes.size()) + " hashes in " + std::to_string(groupNo) +
                        " groups, " + std::to_string(duplicates) + " near duplicates (" + std::to_string(stats.blocks) +
                        " blocks, radius " + std::to_string(stats.radius) + ", " + std::to_string(stats.comparisons) +
                        " comparisons)");
  }
};

}  // namespace

void addImageNodes(NodeRegistry& registry) {
  registry.add(std::make_shared<ImageTransform>());
  registry.add(std::make_shared<ImagePhash>());
  registry.add(std::make_shared<ImageNearDuplicates>());
  registry.add(std::make_shared<QualityBlur>());
  registry.add(std::make_shared<QualityExposure>());
}

}  // namespace loom::nodes

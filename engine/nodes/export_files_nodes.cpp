// export.files: copies each row's object (its uri) and/or blobs (columns of blob hashes) to a folder or
// a bucket prefix, named by a pattern, with a JSONL manifest. export.webdataset: packs the same into
// POSIX tar shards that PyTorch WebDataset loaders read. Both are sinks: they run on every run and
// never in a dry run, and write only where the person allowed (storage/write_locations.h).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include "catalog/blob_store.h"
#include "catalog/catalog.h"
#include "core/hash.h"
#include "core/table_text.h"
#include "core/thread_pool.h"
#include "nodes/builtin_provider.h"
#include "storage/storage.h"
#include "storage/uri.h"
#include "storage/write_locations.h"

namespace loom::nodes {

using core::ErrorKind;
using core::makeError;
using core::quoteIdent;
using core::RunError;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kChunkBytes = 8 << 20;          // read size when streaming an object to a local file
constexpr int64_t kMaxInMemoryBytes = 1LL << 30;  // an object uploaded to a bucket or packed in a shard
constexpr size_t kMaxRelativePath = 1024;
constexpr size_t kMaxSegment = 255;

// ---------------------------------------------------------------------------------------------------
// Shared by both nodes.

std::string text(const core::Value& v) {
  if (std::holds_alternative<std::string>(v)) return std::get<std::string>(v);
  if (std::holds_alternative<int64_t>(v)) return std::to_string(std::get<int64_t>(v));
  if (std::holds_alternative<double>(v)) return core::valueToText(v);
  return "";
}

// The decoded last path segment of a URI ("a%20b.jpg" -> "a b.jpg").
std::string lastSegment(const std::string& uri) {
  std::string path = uri.substr(0, uri.find_first_of("?#"));
  std::string seg = path.substr(path.rfind('/') + 1);
  return storage::percentDecode(seg).value_or(seg);
}

std::string extensionForMime(const std::string& mime) {
  static const std::map<std::string, std::string> known = {
      {"image/jpeg", ".jpg"}, {"image/png", ".png"},       {"image/webp", ".webp"}, {"image/gif", ".gif"},
      {"image/tiff", ".tif"}, {"audio/wav", ".wav"},       {"audio/x-wav", ".wav"}, {"audio/mpeg", ".mp3"},
      {"audio/flac", ".flac"}, {"video/mp4", ".mp4"},      {"video/webm", ".webm"}, {"text/plain", ".txt"},
      {"application/json", ".json"}, {"application/pdf", ".pdf"}};
  auto it = known.find(mime);
  return it == known.end() ? ".bin" : it->second;
}

// A column's JSON list parameter (StringList), empty when absent.
std::vector<std::string> stringList(const Params& p, const char* name) {
  std::vector<std::string> out;
  if (p.contains(name) && p[name].is_array())
    for (const auto& v : p[name]) out.push_back(v.get<std::string>());
  return out;
}

core::Result<void> requireColumns(const core::Schema& in, const Params& p, const char* param) {
  for (const auto& c : stringList(p, param))
    if (!in.has(c)) {
      std::string cols;
      for (const auto& col : in.columns()) cols += (cols.empty() ? "" : ", ") + col.name;
      return makeError(ErrorKind::InvalidFlow,
                       std::string("parameter '") + param + "': column '" + c + "' is not in the input (columns: " + cols + ")");
    }
  return {};
}

// Where a node writes: the checked destination folder and the roots it was checked against.
struct Destination {
  std::string uri;    // file:///resolved/folder or s3://bucket/prefix (no trailing '/')
  std::string local;  // the resolved local folder; empty for object stores
  std::vector<std::string> roots;

  std::string uriOf(const std::string& rel) const {
    return local.empty() ? uri + "/" + storage::percentEncodePath(rel) : storage::fileUriFromPath(local + "/" + rel);
  }
};

// `to` (already absolute: flow validation resolves Uri parameters) checked like export.table's target,
// through a file inside it (the folder itself may not exist yet).
core::Result<Destination> destinationFor(const std::string& to, const std::string& baseDir, const std::string& probeName) {
  Destination d;
  d.roots = storage::exportRoots(baseDir);
  std::string folder = to;
  while (folder.size() > 1 && folder.back() == '/') folder.pop_back();
  auto checked = storage::checkExportTarget(folder + "/" + probeName, d.roots);
  if (!checked.ok()) return checked.error();
  std::string where = checked.value();
  where = where.substr(0, where.rfind('/'));
  d.uri = where;
  if (auto path = storage::pathFromFileUri(where)) d.local = *path;
  return d;
}

// The destination while running: validation checked it against the allowed locations; each file is
// then checked to stay inside the (resolved) destination folder itself, so a link inside it cannot
// lead a file out.
Destination runDestination(const std::string& to) {
  Destination d;
  std::string folder = to;
  while (folder.size() > 1 && folder.back() == '/') folder.pop_back();
  if (auto path = storage::pathFromFileUri(folder)) {
    std::error_code ec;
    fs::path resolved = fs::weakly_canonical(*path, ec);
    d.local = (ec ? fs::path(*path).lexically_normal() : resolved).string();
    while (d.local.size() > 1 && d.local.back() == '/') d.local.pop_back();
    d.uri = storage::fileUriFromPath(d.local);
    d.roots = {d.local};
  } else {
    d.uri = folder;
    d.roots = {folder + "/"};
  }
  return d;
}

// A relative path made from a pattern, safe to join to the destination: no empty, '.' or '..' segment,
// no control character or backslash (replaced by '_'), bounded lengths.
core::Result<std::string> safeRelativePath(const std::string& raw) {
  std::string out;
  size_t start = 0;
  for (;;) {
    size_t slash = raw.find('/', start);
    std::string seg = raw.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    for (char& ch : seg)
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f || ch == '\\') ch = '_';
    if (seg.empty() || seg == "." || seg == ".." || seg.size() > kMaxSegment)
      return makeError(ErrorKind::InvalidInput, "the name '" + storage::sanitizeUtf8(raw) +
                                                    "' made from the pattern is not a safe relative path (empty, '.' or "
                                                    "'..' part, or a part over 255 bytes)");
    out += (out.empty() ? "" : "/") + seg;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (out.size() > kMaxRelativePath)
    return makeError(ErrorKind::InvalidInput, "the name made from the pattern is over " + std::to_string(kMaxRelativePath) + " bytes");
  return out;
}

// Placeholders of a naming pattern: {name}, {stem}, {ext}, {relpath}, {_row}, {column} and any input
// column {<name>}. Unknown ones are errors naming the parameter.
core::Result<void> checkPattern(const std::string& pattern, const core::Schema& in, const std::string& param,
                                bool forBlobs) {
  if (pattern.empty()) return makeError(ErrorKind::InvalidFlow, "parameter '" + param + "': is empty");
  if (pattern.find('\0') != std::string::npos)
    return makeError(ErrorKind::InvalidFlow, "parameter '" + param + "': must not contain a NUL character");
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '}')
      return makeError(ErrorKind::InvalidFlow, "parameter '" + param + "': '}' without '{' in `" + pattern + "`");
    if (pattern[i] != '{') continue;
    const size_t close = pattern.find('}', i);
    if (close == std::string::npos)
      return makeError(ErrorKind::InvalidFlow, "parameter '" + param + "': '{' without '}' in `" + pattern + "`");
    const std::string name = pattern.substr(i + 1, close - i - 1);
    const bool builtin = name == "name" || name == "stem" || name == "ext" || name == "relpath" || name == "_row" ||
                         (forBlobs && name == "column");
    if (!builtin && !in.has(name))
      return makeError(ErrorKind::InvalidFlow,
                       "parameter '" + param + "': unknown placeholder {" + name +
                           "}; use {name}, {stem}, {ext}, {relpath}, {_row}" + (forBlobs ? ", {column}" : "") +
                           " or an input column");
    i = close;
  }
  return {};
}

// What a pattern's placeholders stand for in one row.
struct NameParts {
  std::string name, stem, ext, relpath, row, column;
  const core::Schema* schema = nullptr;
  const std::vector<core::Value>* values = nullptr;
};

std::string render(const std::string& pattern, const NameParts& n) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '{') {
      out += pattern[i];
      continue;
    }
    const size_t close = pattern.find('}', i);
    const std::string key = pattern.substr(i + 1, close - i - 1);
    i = close;
    if (key == "name") out += n.name;
    else if (key == "stem") out += n.stem;
    else if (key == "ext") out += n.ext;
    else if (key == "relpath") out += n.relpath;
    else if (key == "_row") out += n.row;
    else if (key == "column") out += n.column;
    else {
      std::string v = text((*n.values)[static_cast<size_t>(n.schema->indexOf(key))]);
      std::replace(v.begin(), v.end(), '/', '_');  // a value names a file, never a folder
      out += v;
    }
  }
  return out;
}

void splitName(const std::string& name, std::string& stem, std::string& ext) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0) {
    stem = name;
    ext.clear();
  } else {
    stem = name.substr(0, dot);
    ext = name.substr(dot);
  }
}

// The folder all URIs share ("file:///data/" for file:///data/a/x.jpg and file:///data/b/y.jpg), so
// {relpath} keeps the layout under it.
class CommonPrefix {
 public:
  void add(const std::string& uri) {
    const std::string dir = uri.substr(0, uri.substr(0, uri.find_first_of("?#")).rfind('/') + 1);
    if (!m_any) {
      m_prefix = dir;
      m_any = true;
      return;
    }
    size_t n = 0;
    while (n < m_prefix.size() && n < dir.size() && m_prefix[n] == dir[n]) ++n;
    m_prefix.resize(m_prefix.substr(0, n).rfind('/') + 1);
  }
  std::string relative(const std::string& uri) const {
    const std::string clean = uri.substr(0, uri.find_first_of("?#"));
    std::string rel = clean.rfind(m_prefix, 0) == 0 ? clean.substr(m_prefix.size()) : lastSegment(uri);
    return storage::percentDecode(rel).value_or(rel);
  }

 private:
  std::string m_prefix;
  bool m_any = false;
};

// Reads a whole object, refusing one over `limit` bytes (`limitName` says which limit, for the message).
core::Result<std::string> readWhole(const std::string& uri, int64_t limit, const std::string& limitName) {
  auto backend = storage::storageFor(uri);
  if (!backend.ok()) return backend.error();
  auto bytes = backend.value()->read(uri, 0, limit + 1);
  if (!bytes.ok()) return bytes.error();
  if (static_cast<int64_t>(bytes->size()) > limit)
    return makeError(ErrorKind::InvalidInput, uri + " is over " + limitName + " (" + std::to_string(limit) + " bytes)");
  return bytes;
}

// The file's sha256, or "" when it cannot be read.
std::string sha256OfFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  core::Hasher h;
  std::string buf(1 << 20, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) h.raw(std::string_view(buf.data(), static_cast<size_t>(in.gcount())));
  }
  if (in.bad()) return "";
  return h.hex();
}

bool writeAll(int fd, std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// A temporary file beside `path` that becomes `path` on commit() (rename: never half a file, a link at
// the target is replaced, not followed) and disappears otherwise.
class PartFile {
 public:
  explicit PartFile(const std::string& path) : m_path(path) {
    static std::atomic<uint64_t> counter{0};
    const fs::path target(path);
    m_tmp = (target.parent_path() / ("." + target.filename().string() + ".part-" + std::to_string(getpid()) + "-" +
                                     std::to_string(counter.fetch_add(1))))
                .string();
    m_fd = ::open(m_tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (m_fd < 0) m_error = std::strerror(errno);
  }
  ~PartFile() {
    if (m_fd >= 0) ::close(m_fd);
    if (!m_committed && m_fd >= 0) ::unlink(m_tmp.c_str());
  }
  PartFile(const PartFile&) = delete;
  PartFile& operator=(const PartFile&) = delete;

  bool ok() const { return m_error.empty(); }
  const std::string& error() const { return m_error; }
  bool write(std::string_view bytes) {
    if (!ok()) return false;
    if (!writeAll(m_fd, bytes)) m_error = std::strerror(errno);
    return ok();
  }
  bool commit() {
    if (!ok()) return false;
    const int fd = m_fd;
    m_fd = -1;
    if (::close(fd) != 0) {
      m_error = std::strerror(errno);
      ::unlink(m_tmp.c_str());
      return false;
    }
    if (std::rename(m_tmp.c_str(), m_path.c_str()) != 0) {
      m_error = std::strerror(errno);
      ::unlink(m_tmp.c_str());
      return false;
    }
    m_committed = true;
    return true;
  }

 private:
  std::string m_path, m_tmp, m_error;
  int m_fd = -1;
  bool m_committed = false;
};

// Flushes the file system holding `dir` (files are not fsynced one by one: a manifest or shard set is
// committed once all its files reached the disk).
void syncFolder(const std::string& dir, const std::string& what) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool ok = fd >= 0 && ::syncfs(fd) == 0;
  const int err = errno;
  if (fd >= 0) ::close(fd);
  if (!ok) throw RunError(ErrorKind::Io, what + ": cannot flush " + dir + " to disk: " + std::strerror(err));
}

// Writes a whole file at the destination: .part + rename locally, one atomic write to a bucket.
void writeWhole(const Destination& d, const std::string& rel, const std::string& bytes, const std::string& what) {
  if (d.local.empty()) {
    auto backend = storage::storageFor(d.uriOf(rel));
    if (!backend.ok()) throw RunError(ErrorKind::InvalidFlow, what + ": " + backend.error().message);
    if (auto w = backend.value()->write(d.uriOf(rel), bytes); !w.ok()) throw RunError(w.error().kind, what + ": " + w.error().message);
    return;
  }
  const std::string path = d.local + "/" + rel;
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  PartFile part(path);
  if (!part.write(bytes) || !part.commit())
    throw RunError(ErrorKind::Io, what + ": cannot write " + path + ": " + part.error() +
                                      (errno == ENOSPC ? " (the disk is full)" : ""));
}

// The rows of a sink's input, batch by batch on the executor's thread: _row, then the schema's columns.
class InputRows {
 public:
  InputRows(catalog::Db& db, const InputTable& in) : m_in(in) {
    std::string cols;
    for (const auto& c : in.schema.columns()) cols += ", " + quoteIdent(c.name);
    m_sel.emplace(db.prepare("SELECT _row" + cols + " FROM " + quoteIdent(in.tableName) + " WHERE _row > ? ORDER BY _row LIMIT ?"));
  }
  // Up to `n` more rows (values in schema order); empty at the end.
  std::vector<std::vector<core::Value>> next(int64_t n) {
    std::vector<std::vector<core::Value>> rows;
    m_sel->reset();
    m_sel->bind(1, m_after).bind(2, n);
    while (m_sel->step()) {
      m_after = m_sel->int64(0);
      std::vector<core::Value> v(m_in.schema.size());
      for (size_t i = 0; i < v.size(); ++i) v[i] = m_sel->value(static_cast<int>(i + 1));
      rows.push_back(std::move(v));
    }
    return rows;
  }

 private:
  const InputTable& m_in;
  std::optional<catalog::Stmt> m_sel;
  int64_t m_after = 0;
};

// mime of each blob hash, from the catalog's blobs table (executor's thread).
std::string blobMime(catalog::Db& db, const std::string& hash) {
  auto s = db.prepare("SELECT mime FROM blobs WHERE hash = ?");
  s.bind(1, hash);
  return s.step() && !s.isNull(0) ? s.text(0) : "";
}

// `concurrency` threads in all: the calling thread and a pool of the rest.
class Workers {
 public:
  explicit Workers(int concurrency) {
    if (concurrency > 1) m_pool.emplace(concurrency - 1);
  }
  void run(size_t count, const std::function<void(size_t)>& fn) {
    if (m_pool) {
      m_pool->parallelFor(count, fn);
    } else {
      for (size_t i = 0; i < count; ++i) fn(i);
    }
  }

 private:
  std::optional<core::ThreadPool> m_pool;
};

ParamSpec concurrencyParam() {
  ParamSpec c{"concurrency", ParamType::Integer, "objects read and written at once", false, 4};
  c.minimum = 1;
  c.maximum = 32;
  return c;
}

// ---------------------------------------------------------------------------------------------------
// export.files

struct FileJob {
  std::string kind;     // "object" or the blob column
  std::string source;   // URI to read (a blob: its file in the store)
  std::string rel;      // path under the destination
  std::string knownHash;  // blobs: the expected sha256
  int64_t knownSize = -1;
  // Results.
  std::string status;  // copied, unchanged, failed
  std::string error, sha256;
  int64_t bytes = 0;
};

struct RowJob {
  int64_t ordinal = 0;
  std::vector<core::Value> values;
  std::string error;  // set before copying: the row is not copied
  std::vector<FileJob> files;
};

// Previous manifest's entries at a bucket destination: path -> (sha256, bytes), so an unchanged file
// is not uploaded again (a bucket's ETag is not a sha256).
using Previous = std::map<std::string, std::pair<std::string, int64_t>>;

class ExportFiles : public NodeType {
 public:
  std::string id() const override { return "export.files"; }
  std::string category() const override { return "Export"; }
  std::string title() const override { return "Export files"; }
  std::string doc() const override {
    return "Copies each row's object (the file at its uri) and/or its blobs (columns holding the sha256 of a "
           "thumbnail, frame or crop in the catalog's blob store) into a folder — a local path relative to the "
           "flow's folder — or a bucket prefix (s3://, gs://, az://), and writes a manifest.\n\n"
           "Names come from `naming` (objects) and `blob_naming` (blobs) with placeholders {name} (the object's "
           "file name), {stem} and {ext} (its name without and with only the extension, \".jpg\"; for a blob, "
           "the blob's extension from its type), {relpath} (the object's path under the folder all the rows' "
           "objects share, keeping their layout), {_row} (the row's position, from 1), {column} (the blob's "
           "column) and {<column>} (any input column's value, '/' replaced by '_'). Examples: \"{name}\", "
           "\"{_row}_{name}\", \"{label}/{name}\", \"{relpath}\", blob_naming \"{stem}.{column}{ext}\". When "
           "two rows would get the same name, on_collision suffix makes it \"name-1.jpg\", \"name-2.jpg\" in row "
           "order; fail gives the later row an error instead.\n\n"
           "Each file is written whole (a temporary file, then renamed). A file already at the destination "
           "with the same size and sha256 is left alone, so running again copies only what changed; a file "
           "there with other content is replaced. The manifest (JSONL, written last) has one line per row: row, "
           "source, etag, path, destination, bytes, sha256, status (copied, unchanged or failed), error, blobs "
           "(per column: path, destination, bytes, sha256, status) and the columns listed in "
           "manifest_columns under \"columns\". A row that failed upstream, an object that is gone or "
           "unreadable, or a blob missing from the store gives that row status failed with the error; the run "
           "goes on and reports how many failed. Flows write only inside the flow file's folder and the "
           "locations in LOOM_EXPORT_ROOTS; another destination stops the flow before anything runs.";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec collision{"on_collision", ParamType::Enum,
                        "two rows named alike: suffix (name-1.jpg, in row order) or fail (the later row fails)", false,
                        "suffix"};
    collision.choices = {"suffix", "fail"};
    return {{"to", ParamType::Uri, "the destination folder: a path or an s3://, gs://, az:// prefix", true},
            {"objects", ParamType::Boolean, "copy each row's object (its uri)", false, true},
            {"blob_columns", ParamType::StringList, "columns holding blob sha256s to copy too, e.g. [\"thumbnail\"]",
             false, json::array()},
            {"naming", ParamType::String, "name pattern for objects, e.g. {name}, {_row}_{name}, {relpath}", false,
             "{name}"},
            {"blob_naming", ParamType::String, "name pattern for blobs, e.g. {stem}.{column}{ext}", false,
             "{stem}.{column}{ext}"},
            collision,
            {"manifest", ParamType::String, "the manifest's file name in the destination; empty: none", false,
             "manifest.jsonl"},
            {"manifest_columns", ParamType::StringList, "input columns copied into each manifest line", false,
             json::array()},
            concurrencyParam()};
  }
  std::vector<PortSpec> outputs() const override { return {}; }

  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext& ctx) const override {
    const bool objects = p.value("objects", true);
    const auto blobs = stringList(p, "blob_columns");
    if (!objects && blobs.empty())
      return makeError(ErrorKind::InvalidFlow, "parameter 'objects': false with no blob_columns copies nothing");
    if (objects && !in[0].has("uri"))
      return makeError(ErrorKind::InvalidFlow, "parameter 'objects': the input has no 'uri' column; connect it after "
                                               "storage.list or a dataset of objects, or set objects to false");
    if (auto r = requireColumns(in[0], p, "blob_columns"); !r.ok()) return r.error();
    if (auto r = requireColumns(in[0], p, "manifest_columns"); !r.ok()) return r.error();
    if (auto r = checkPattern(p.value("naming", std::string("{name}")), in[0], "naming", false); !r.ok()) return r.error();
    if (auto r = checkPattern(p.value("blob_naming", std::string("{stem}.{column}{ext}")), in[0], "blob_naming", true); !r.ok())
      return r.error();
    const std::string manifest = p.value("manifest", std::string("manifest.jsonl"));
    if (!manifest.empty() && !safeRelativePath(manifest).ok())
      return makeError(ErrorKind::InvalidFlow, "parameter 'manifest': '" + manifest + "' is not a file name");
    auto d = destinationFor(p.value("to", std::string()), ctx.baseDir, manifest.empty() ? "manifest.jsonl" : manifest);
    if (!d.ok()) return makeError(ErrorKind::InvalidFlow, "parameter 'to': " + d.error().message);
    return in[0];
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    const std::string what = "node '" + ctx.nodeId() + "' (export.files)";
    const auto& in = ctx.inputs()[0];
    const core::Schema& schema = in.schema;
    const bool objects = p.value("objects", true);
    const auto blobColumns = stringList(p, "blob_columns");
    const auto manifestColumns = stringList(p, "manifest_columns");
    const std::string naming = p.value("naming", std::string("{name}"));
    const std::string blobNaming = p.value("blob_naming", std::string("{stem}.{column}{ext}"));
    const bool suffix = p.value("on_collision", std::string("suffix")) == "suffix";
    const std::string manifestName = p.value("manifest", std::string("manifest.jsonl"));
    const Destination d = runDestination(p.at("to").get<std::string>());
    const catalog::BlobStore store = catalog::BlobStore::forCatalog(ctx.catalog());
    auto& db = ctx.catalog().db();
    const int iUri = schema.indexOf("uri"), iEtag = schema.indexOf("etag"), iSize = schema.indexOf("size"),
              iName = schema.indexOf("name"), iErr = schema.indexOf("error");

    CommonPrefix common;
    const bool needsPrefix = naming.find("{relpath}") != std::string::npos || blobNaming.find("{relpath}") != std::string::npos;
    if (needsPrefix && iUri >= 0) {
      auto s = db.prepare("SELECT uri FROM " + quoteIdent(in.tableName) + " WHERE uri IS NOT NULL");
      while (s.step()) common.add(s.text(0));
    }
    Previous previous;
    if (d.local.empty() && !manifestName.empty()) previous = readPreviousManifest(d, manifestName);

    if (!d.local.empty()) {
      std::error_code ec;
      fs::create_directories(d.local, ec);
    }
    Workers pool(static_cast<int>(p.value("concurrency", int64_t{4})));
    InputRows rows(db, in);
    std::map<std::string, int64_t> taken;  // relative path -> the row that has it
    std::string manifest;
    std::optional<PartFile> manifestFile;
    int64_t ordinal = 0, copied = 0, unchanged = 0, failedRows = 0;
    std::vector<std::string> firstErrors;

    for (;;) {
      if (ctx.feedback().isCancelled()) throw RunError(ErrorKind::Cancelled, "cancelled in " + what);
      auto batch = rows.next(64);
      if (batch.empty()) break;
      std::vector<RowJob> jobs(batch.size());
      // Names are given on this thread in row order, so collisions resolve the same way every run.
      for (size_t r = 0; r < batch.size(); ++r) {
        RowJob& job = jobs[r];
        job.ordinal = ++ordinal;
        job.values = std::move(batch[r]);
        const auto& v = job.values;
        if (iErr >= 0 && !core::isNull(v[static_cast<size_t>(iErr)])) {
          job.error = "failed upstream: " + text(v[static_cast<size_t>(iErr)]);
          continue;
        }
        NameParts parts;
        parts.schema = &schema;
        parts.values = &v;
        parts.row = std::to_string(job.ordinal);
        const std::string uri = iUri >= 0 ? text(v[static_cast<size_t>(iUri)]) : "";
        parts.name = iName >= 0 && !text(v[static_cast<size_t>(iName)]).empty() ? text(v[static_cast<size_t>(iName)])
                                                                                   : lastSegment(uri);
        std::replace(parts.name.begin(), parts.name.end(), '/', '_');
        splitName(parts.name, parts.stem, parts.ext);
        parts.relpath = needsPrefix ? common.relative(uri) : parts.name;
        auto claim = [&](FileJob& f, const std::string& raw) -> bool {
          auto rel = safeRelativePath(raw);
          if (!rel.ok()) {
            job.error = rel.error().message;
            return false;
          }
          std::string name = rel.value();
          if (taken.count(name)) {
            if (!suffix) {
              job.error = "the name " + name + " is already taken by row " + std::to_string(taken[name]) +
                          " (on_collision is fail; use a pattern with {_row} or on_collision suffix)";
              return false;
            }
            std::string stem, ext;
            splitName(name, stem, ext);
            for (int k = 1; taken.count(name); ++k) name = stem + "-" + std::to_string(k) + ext;
          }
          taken[name] = job.ordinal;
          f.rel = name;
          return true;
        };
        if (objects) {
          if (uri.empty()) {
            job.error = "no uri in this row";
            continue;
          }
          FileJob f;
          f.kind = "object";
          f.source = uri;
          if (iSize >= 0 && std::holds_alternative<int64_t>(v[static_cast<size_t>(iSize)]))
            f.knownSize = std::get<int64_t>(v[static_cast<size_t>(iSize)]);
          if (!claim(f, render(naming, parts))) continue;
          job.files.push_back(std::move(f));
        }
        for (const auto& column : blobColumns) {
          const std::string hash = text(v[static_cast<size_t>(schema.indexOf(column))]);
          if (hash.empty()) continue;  // no blob in this row (e.g. no thumbnail was made)
          if (!catalog::isBlobHash(hash)) {
            job.error = "column " + column + " holds '" + storage::sanitizeUtf8(hash.substr(0, 80)) + "', not a blob sha256";
            break;
          }
          FileJob f;
          f.kind = column;
          f.source = storage::fileUriFromPath(store.pathOf(hash));
          f.knownHash = hash;
          NameParts bp = parts;
          bp.column = column;
          bp.ext = extensionForMime(blobMime(db, hash));
          if (!claim(f, render(blobNaming, bp))) break;
          job.files.push_back(std::move(f));
        }
      }
      pool.run(jobs.size(), [&](size_t r) {
        if (!jobs[r].error.empty()) return;
        for (auto& f : jobs[r].files) {
          try {
            copyOne(d, previous, f);
          } catch (const std::exception& e) {
            f.status = "failed";
            f.error = std::string("internal error: ") + e.what();
          }
        }
      });
      for (auto& job : jobs) {
        for (const auto& f : job.files) {
          if (f.status == "failed" && job.error.empty()) job.error = (f.kind == "object" ? "" : f.kind + ": ") + f.error;
          copied += f.status == "copied";
          unchanged += f.status == "unchanged";
        }
        if (!job.error.empty()) {
          ++failedRows;
          if (firstErrors.size() < 3) firstErrors.push_back("row " + std::to_string(job.ordinal) + ": " + job.error);
        }
        if (!manifestName.empty()) {
          const std::string line = core::dumpJson(manifestLine(job, d, schema, manifestColumns, iUri, iEtag)) + "\n";
          if (d.local.empty()) {
            manifest += line;
          } else {
            if (!manifestFile) {
              manifestFile.emplace(d.local + "/" + manifestName);
              if (!manifestFile->ok())
                throw RunError(ErrorKind::Io, what + ": cannot write the manifest in " + d.local + ": " + manifestFile->error());
            }
            if (!manifestFile->write(line))
              throw RunError(ErrorKind::Io, what + ": cannot write the manifest in " + d.local + ": " + manifestFile->error());
          }
        }
      }
      ctx.feedback().progress(ctx.nodeId(), ordinal, in.rowCount);
    }

    if (!manifestName.empty()) {
      if (d.local.empty()) {
        writeWhole(d, manifestName, manifest, what);
      } else {
        if (!manifestFile) manifestFile.emplace(d.local + "/" + manifestName);  // no rows: an empty manifest
        syncFolder(d.local, what);  // the files reach the disk before the manifest that lists them
        if (!manifestFile->commit())
          throw RunError(ErrorKind::Io, what + ": cannot write the manifest in " + d.local + ": " + manifestFile->error());
      }
    } else if (!d.local.empty()) {
      syncFolder(d.local, what);
    }
    const std::string summary = what + ": " + std::to_string(copied) + " files copied, " + std::to_string(unchanged) +
                                " unchanged, " + std::to_string(failedRows) + " of " + std::to_string(ordinal) +
                                " rows failed, to " + d.uri;
    if (failedRows == 0) {
      ctx.feedback().info(summary);
    } else {
      std::string detail;
      for (const auto& e : firstErrors) detail += "; " + e;
      ctx.feedback().warning(summary + " (the manifest says why" + detail + ")");
    }
  }

 private:
  static Previous readPreviousManifest(const Destination& d, const std::string& name) {
    Previous out;
    // A stat first: the backend then reads the manifest's current version, not one it remembers.
    auto backend = storage::storageFor(d.uriOf(name));
    if (!backend.ok() || !backend.value()->stat(d.uriOf(name)).ok()) return out;  // none yet: upload everything
    auto bytes = readWhole(d.uriOf(name), 256 << 20, "256 MiB");
    if (!bytes.ok()) return out;  // none yet (or unreadable): everything is uploaded
    size_t start = 0;
    const std::string& all = bytes.value();
    auto remember = [&](const json& e) {
      if (e.is_object() && e.value("status", "") != "failed" && e.contains("path") && e["path"].is_string() &&
          e.contains("sha256") && e["sha256"].is_string() && e.contains("bytes") && e["bytes"].is_number_integer())
        out[e["path"].get<std::string>()] = {e["sha256"].get<std::string>(), e["bytes"].get<int64_t>()};
    };
    while (start < all.size()) {
      size_t end = all.find('\n', start);
      if (end == std::string::npos) end = all.size();
      json line = json::parse(all.substr(start, end - start), nullptr, false);
      start = end + 1;
      if (!line.is_object()) continue;
      remember(line);
      if (line.contains("blobs") && line["blobs"].is_object())
        for (const auto& [column, b] : line["blobs"].items()) remember(b);
    }
    return out;
  }

  // Copies one file (worker thread); the outcome is in f.status / f.error.
  static void copyOne(const Destination& d, const Previous& previous, FileJob& f) {
    auto fail = [&](const std::string& msg) {
      f.status = "failed";
      f.error = msg;
    };
    auto backend = storage::storageFor(f.source);
    if (!backend.ok()) return fail(backend.error().message);
    if (d.local.empty()) {
      auto bytes = readWhole(f.source, kMaxInMemoryBytes, "1 GiB, the most uploaded to a bucket in one piece");
      if (!bytes.ok()) return fail(bytes.error().message);
      f.bytes = static_cast<int64_t>(bytes->size());
      f.sha256 = core::sha256Hex(bytes.value());
      if (!f.knownHash.empty() && f.sha256 != f.knownHash) return fail("blob " + f.knownHash + " is damaged in the blob store");
      auto it = previous.find(f.rel);
      if (it != previous.end() && it->second.first == f.sha256 && it->second.second == f.bytes) {
        auto there = storage::storageFor(d.uriOf(f.rel)).value()->stat(d.uriOf(f.rel));
        if (there.ok() && there->size == f.bytes) {
          f.status = "unchanged";
          return;
        }
      }
      auto target = storage::checkExportTarget(d.uriOf(f.rel), d.roots);
      if (!target.ok()) return fail(target.error().message);
      if (auto w = storage::storageFor(d.uriOf(f.rel)).value()->write(d.uriOf(f.rel), bytes.value()); !w.ok())
        return fail("cannot write " + d.uriOf(f.rel) + ": " + w.error().message);
      f.status = "copied";
      return;
    }

    const std::string path = d.local + "/" + f.rel;
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    // Resolved now that its folders exist: a link inside the destination cannot lead the file out of it.
    auto target = storage::checkExportTarget(storage::fileUriFromPath(path), d.roots);
    if (!target.ok()) return fail(target.error().message);

    // Something already there with the expected size: compare hashes before writing anything.
    std::string existingHash;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      int64_t expected = f.knownSize;
      if (!f.knownHash.empty()) expected = static_cast<int64_t>(fs::file_size(storage::pathFromFileUri(f.source).value_or(""), ec));
      if (ec) expected = -1;
      if (expected < 0) {
        auto info = backend.value()->stat(f.source);
        if (info.ok()) expected = info->size;
      }
      if (expected == st.st_size) existingHash = sha256OfFile(path);
    }
    if (!existingHash.empty() && !f.knownHash.empty() && existingHash == f.knownHash) {
      f.status = "unchanged";
      f.sha256 = existingHash;
      f.bytes = st.st_size;
      return;
    }
    // Streams the source through the hash, into a part file when `part` is given.
    auto stream = [&](PartFile* part) -> bool {
      core::Hasher h;
      int64_t offset = 0;
      for (;;) {
        auto chunk = backend.value()->read(f.source, offset, kChunkBytes);
        if (!chunk.ok()) {
          fail(chunk.error().message);
          return false;
        }
        h.raw(chunk.value());
        if (part && !part->write(chunk.value())) {
          fail("cannot write " + path + ": " + part->error());
          return false;
        }
        offset += static_cast<int64_t>(chunk->size());
        if (static_cast<int64_t>(chunk->size()) < kChunkBytes) break;
      }
      f.bytes = offset;
      f.sha256 = h.hex();
      return true;
    };
    if (!existingHash.empty() && f.knownHash.empty()) {
      if (!stream(nullptr)) return;
      if (f.sha256 == existingHash) {
        f.status = "unchanged";
        return;
      }
    }
    PartFile part(path);
    if (!part.ok()) return fail("cannot write " + path + ": " + part.error());
    if (!stream(&part)) return;
    if (!f.knownHash.empty() && f.sha256 != f.knownHash) return fail("blob " + f.knownHash + " is damaged in the blob store");
    if (!part.commit()) return fail("cannot write " + path + ": " + part.error());
    f.status = "copied";
  }

  static json manifestLine(const RowJob& job, const Destination& d, const core::Schema& schema,
                           const std::vector<std::string>& columns, int iUri, int iEtag) {
    json line = {{"row", job.ordinal}};
    if (iUri >= 0) line["source"] = core::valueToJson(job.values[static_cast<size_t>(iUri)]);
    if (iEtag >= 0) line["etag"] = core::valueToJson(job.values[static_cast<size_t>(iEtag)]);
    auto describe = [&](const FileJob& f) {
      json e = {{"path", f.rel}, {"destination", d.uriOf(f.rel)}, {"status", f.status}};
      if (f.status != "failed") {
        e["bytes"] = f.bytes;
        e["sha256"] = f.sha256;
      } else {
        e["error"] = f.error;
      }
      return e;
    };
    json blobs = json::object();
    for (const auto& f : job.files) {
      if (f.kind == "object") line.update(describe(f));
      else blobs[f.kind] = describe(f);
    }
    if (!blobs.empty()) line["blobs"] = blobs;
    if (!job.error.empty()) {
      line["status"] = "failed";
      line["error"] = job.error;
    } else if (!line.contains("status")) {
      bool allUnchanged = !job.files.empty();
      for (const auto& f : job.files) allUnchanged = allUnchanged && f.status == "unchanged";
      line["status"] = job.files.empty() ? "empty" : allUnchanged ? "unchanged" : "copied";
    }
    if (!columns.empty()) {
      json cols = json::object();
      for (const auto& c : columns) cols[c] = core::valueToJson(job.values[static_cast<size_t>(schema.indexOf(c))]);
      line["columns"] = cols;
    }
    return line;
  }
};


// ---------------------------------------------------------------------------------------------------
// export.webdataset

constexpr int64_t kTarBlock = 512;
constexpr int64_t kTarRecord = 10240;  // tar's default blocking: archives end on a record boundary
constexpr size_t kMaxKey = 64;

int64_t tarPadded(int64_t n) { return (n + kTarBlock - 1) / kTarBlock * kTarBlock; }
// A shard's size once closed: entries, two zero blocks, padded to whole records.
int64_t tarClosed(int64_t entries) { return (entries + 2 * kTarBlock + kTarRecord - 1) / kTarRecord * kTarRecord; }

// A POSIX ustar header for a regular file. Hand-written (no tar library on Debian that writes to
// memory without a file system behind it); every field fixed but name and size, so the same samples
// give the same bytes: mode 0644, uid/gid 0, no user or group names, mtime 0.
std::string tarHeader(const std::string& name, int64_t size) {
  std::string h(static_cast<size_t>(kTarBlock), '\0');
  auto put = [&](size_t off, const std::string& s) { std::memcpy(&h[off], s.data(), s.size()); };
  auto octal = [&](size_t off, size_t width, uint64_t v) {  // width includes the terminating NUL
    char buf[32];
    std::snprintf(buf, sizeof buf, "%0*llo", static_cast<int>(width - 1), static_cast<unsigned long long>(v));
    put(off, buf);
  };
  put(0, name);
  octal(100, 8, 0644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, static_cast<uint64_t>(size));
  octal(136, 12, 0);
  h[156] = '0';
  put(257, std::string("ustar\0" "00", 8));
  octal(329, 8, 0);
  octal(337, 8, 0);
  std::memset(&h[148], ' ', 8);  // the checksum counts its own field as spaces
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  char buf[8];
  std::snprintf(buf, sizeof buf, "%06o", sum);
  std::memcpy(&h[148], buf, 6);
  h[154] = '\0';
  h[155] = ' ';
  return h;
}

struct Sample {
  int64_t ordinal = 0;
  std::string key;
  std::string error;
  std::vector<std::pair<std::string, std::string>> files;  // name in the tar, bytes
  int64_t tarBytes() const {
    int64_t n = 0;
    for (const auto& f : files) n += kTarBlock + tarPadded(static_cast<int64_t>(f.second.size()));
    return n;
  }
};

// Writes samples into shards "<prefix>-000000.tar", … in order, starting a new shard when the next
// sample would take the current one over its byte or sample limit. Executor's thread only.
class ShardWriter {
 public:
  ShardWriter(Destination d, std::string prefix, int64_t maxBytes, int64_t maxSamples, std::string what)
      : m_d(std::move(d)), m_prefix(std::move(prefix)), m_maxBytes(maxBytes), m_maxSamples(maxSamples),
        m_what(std::move(what)) {}

  // False (and nothing written) when the sample alone is over the byte limit.
  bool add(const Sample& s) {
    const int64_t size = s.tarBytes();
    if (tarClosed(size) > m_maxBytes) return false;
    if (m_index < 0 || m_samples >= m_maxSamples || tarClosed(m_bytes + size) > m_maxBytes) {
      close();
      open();
    }
    for (const auto& [name, bytes] : s.files) {
      emit(tarHeader(name, static_cast<int64_t>(bytes.size())));
      emit(bytes);
      emit(std::string(static_cast<size_t>(tarPadded(static_cast<int64_t>(bytes.size())) - static_cast<int64_t>(bytes.size())), '\0'));
    }
    ++m_samples;
    return true;
  }

  void close() {
    if (m_index < 0 || m_closed) return;
    m_closed = true;
    emit(std::string(static_cast<size_t>(tarClosed(m_bytes) - m_bytes), '\0'));
    const std::string rel = name(m_index);
    if (m_d.local.empty()) {
      writeWhole(m_d, rel, m_buffer, m_what);
      m_buffer.clear();
      ++m_written;
      return;
    }
    // The same shard as last time stays as it is (its file untouched).
    const std::string path = m_d.local + "/" + rel;
    const std::string hash = m_hash->hex();
    m_hash.reset();
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == m_bytes &&
        sha256OfFile(path) == hash) {
      m_part.reset();
      ++m_unchanged;
      return;
    }
    if (!m_part->commit()) throw RunError(ErrorKind::Io, m_what + ": cannot write " + path + ": " + m_part->error());
    m_part.reset();
    ++m_written;
  }

  int shards() const { return m_index + 1; }
  int written() const { return m_written; }
  int unchanged() const { return m_unchanged; }
  std::string name(int index) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "-%06d.tar", index);
    return m_prefix + buf;
  }

 private:
  void open() {
    ++m_index;
    m_bytes = 0;
    m_samples = 0;
    m_closed = false;
    if (m_d.local.empty()) return;
    const std::string path = m_d.local + "/" + name(m_index);
    m_part.emplace(path);
    if (!m_part->ok()) throw RunError(ErrorKind::Io, m_what + ": cannot write " + path + ": " + m_part->error());
    m_hash.emplace();
  }
  void emit(const std::string& bytes) {
    m_bytes += static_cast<int64_t>(bytes.size());
    if (m_d.local.empty()) {
      m_buffer += bytes;
      return;
    }
    m_hash->raw(bytes);
    if (!m_part->write(bytes))
      throw RunError(ErrorKind::Io, m_what + ": cannot write " + m_d.local + "/" + name(m_index) + ": " + m_part->error() +
                                        (errno == ENOSPC ? " (the disk is full)" : ""));
  }

  Destination m_d;
  std::string m_prefix;
  int64_t m_maxBytes, m_maxSamples;
  std::string m_what;
  int m_index = -1;
  int64_t m_bytes = 0, m_samples = 0;
  bool m_closed = false;
  std::optional<PartFile> m_part;
  std::optional<core::Hasher> m_hash;
  std::string m_buffer;  // object stores: the shard, written whole when closed
  int m_written = 0, m_unchanged = 0;
};

// Letters, digits, '-' and '_' only: WebDataset splits a file name at its first dot into key and field.
std::string sanitizeKey(std::string key) {
  for (char& c : key)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  return key;
}

bool isFieldName(const std::string& s) {
  if (s.empty() || s.size() > 16) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

class ExportWebDataset : public NodeType {
 public:
  std::string id() const override { return "export.webdataset"; }
  std::string category() const override { return "Export"; }
  std::string title() const override { return "Export WebDataset shards"; }
  std::string doc() const override {
    return "Packs the rows into tar shards that PyTorch WebDataset loaders read: files \"<prefix>-000000.tar\", "
           "\"<prefix>-000001.tar\", … in a folder (a local path relative to the flow's folder, or an s3://, "
           "gs://, az:// prefix). Each row is one sample: files sharing its key — \"<key>.jpg\" (the object at "
           "its uri; the extension from its name unless object_ext says), \"<key>.<column>.<ext>\" for each blob "
           "column (e.g. \"000000001.thumbnail.jpg\"), \"<key>.json\" with json_columns, and \"<key>.txt\" with "
           "text_column's value.\n\n"
           "key is a pattern like export.files' naming ({_row}, {stem}, {name}, {<column>}, …) where {_row} is "
           "the row's position padded to 9 digits; characters other than letters, digits, '-' and '_' become "
           "'_' (a dot would split the sample), and a key seen before gets \"_1\", \"_2\". A shard holds at most "
           "max_shard_samples samples and max_shard_bytes bytes; a sample too big for a shard on its own is left "
           "out with an error. Shards are plain POSIX ustar archives with fixed owner, mode and time, so the "
           "same rows give byte-identical shards, and a shard that is already there unchanged is left alone; "
           "older shards with higher numbers are removed from a local folder. A row that failed upstream, an "
           "object that is gone or unreadable, or a missing blob leaves its sample out; the run goes on and "
           "says how many were left out and why. Objects and shards for buckets are held in memory (at most 1 "
           "GiB each). Flows write only inside the flow file's folder and the locations in LOOM_EXPORT_ROOTS.";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec bytes{"max_shard_bytes", ParamType::Integer, "the most bytes in one shard", false, int64_t{1} << 30};
    bytes.minimum = 2 * kTarRecord;
    bytes.maximum = static_cast<double>(int64_t{64} << 30);
    ParamSpec samples{"max_shard_samples", ParamType::Integer, "the most samples in one shard", false, 10000};
    samples.minimum = 1;
    return {{"to", ParamType::Uri, "the folder for the shards: a path or an s3://, gs://, az:// prefix", true},
            {"prefix", ParamType::String, "shard file names: <prefix>-000000.tar, …", false, "shard"},
            bytes,
            samples,
            {"key", ParamType::String, "the sample key pattern, e.g. {_row} (000000001), {stem}, {id}", false, "{_row}"},
            {"objects", ParamType::Boolean, "put each row's object (its uri) in its sample", false, true},
            {"object_ext", ParamType::String, "the object's field in the sample (jpg, png, wav, …); empty: from its name",
             false, ""},
            {"blob_columns", ParamType::StringList, "columns holding blob sha256s to add, as <key>.<column>.<ext>",
             false, json::array()},
            {"json_columns", ParamType::StringList, "columns written to <key>.json", false, json::array()},
            {"text_column", ParamType::String, "a column written to <key>.txt; empty: none", false, ""},
            concurrencyParam()};
  }
  std::vector<PortSpec> outputs() const override { return {}; }

  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext& ctx) const override {
    const core::Schema& s = in[0];
    const bool objects = p.value("objects", true);
    if (objects && !s.has("uri"))
      return makeError(ErrorKind::InvalidFlow, "parameter 'objects': the input has no 'uri' column; connect it after "
                                               "storage.list or a dataset of objects, or set objects to false");
    if (auto r = requireColumns(s, p, "blob_columns"); !r.ok()) return r.error();
    if (auto r = requireColumns(s, p, "json_columns"); !r.ok()) return r.error();
    for (const auto& c : stringList(p, "blob_columns"))
      if (!isFieldName(c))
        return makeError(ErrorKind::InvalidFlow, "parameter 'blob_columns': '" + c + "' is over 16 characters; its files "
                                                 "are named <key>." + c + ".<ext> (rename it with table.derive)");
    const std::string text = p.value("text_column", std::string());
    if (!text.empty() && !s.has(text))
      return makeError(ErrorKind::InvalidFlow, "parameter 'text_column': column '" + text + "' is not in the input");
    const std::string ext = p.value("object_ext", std::string());
    if (!ext.empty() && !isFieldName(ext))
      return makeError(ErrorKind::InvalidFlow, "parameter 'object_ext': '" + ext + "' must be letters and digits, such as jpg");
    if (!objects && stringList(p, "blob_columns").empty() && stringList(p, "json_columns").empty() && text.empty())
      return makeError(ErrorKind::InvalidFlow, "parameter 'objects': false with no blob_columns, json_columns or "
                                               "text_column puts nothing in the samples");
    if (auto r = checkPattern(p.value("key", std::string("{_row}")), s, "key", false); !r.ok()) return r.error();
    const std::string prefix = p.value("prefix", std::string("shard"));
    if (prefix.empty() || prefix.size() > 64 || sanitizeKey(prefix) != prefix)
      return makeError(ErrorKind::InvalidFlow, "parameter 'prefix': '" + prefix + "' must be 1 to 64 letters, digits, '-' or '_'");
    auto d = destinationFor(p.value("to", std::string()), ctx.baseDir, prefix + "-000000.tar");
    if (!d.ok()) return makeError(ErrorKind::InvalidFlow, "parameter 'to': " + d.error().message);
    return s;
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    const std::string what = "node '" + ctx.nodeId() + "' (export.webdataset)";
    const auto& in = ctx.inputs()[0];
    const core::Schema& schema = in.schema;
    const Destination d = runDestination(p.at("to").get<std::string>());
    const std::string prefix = p.value("prefix", std::string("shard"));
    const int64_t maxBytes = p.value("max_shard_bytes", int64_t{1} << 30);
    const bool objects = p.value("objects", true);
    const std::string objectExt = p.value("object_ext", std::string());
    const std::string keyPattern = p.value("key", std::string("{_row}"));
    const auto blobColumns = stringList(p, "blob_columns");
    const auto jsonColumns = stringList(p, "json_columns");
    const std::string textColumn = p.value("text_column", std::string());
    const int iUri = schema.indexOf("uri"), iName = schema.indexOf("name"), iErr = schema.indexOf("error");
    const catalog::BlobStore store = catalog::BlobStore::forCatalog(ctx.catalog());
    auto& db = ctx.catalog().db();

    CommonPrefix common;
    if (keyPattern.find("{relpath}") != std::string::npos && iUri >= 0) {
      auto s = db.prepare("SELECT uri FROM " + quoteIdent(in.tableName) + " WHERE uri IS NOT NULL");
      while (s.step()) common.add(s.text(0));
    }
    if (!d.local.empty()) {
      std::error_code ec;
      fs::create_directories(d.local, ec);
    }
    ShardWriter shards(d, prefix, maxBytes, p.value("max_shard_samples", int64_t{10000}), what);
    const int concurrency = static_cast<int>(p.value("concurrency", int64_t{4}));
    Workers pool(concurrency);
    InputRows rows(db, in);
    std::set<std::string> keys;
    int64_t ordinal = 0, packed = 0, leftOut = 0;
    std::vector<std::string> firstErrors;
    const int64_t perObject = std::min(maxBytes, kMaxInMemoryBytes);

    for (;;) {
      if (ctx.feedback().isCancelled()) throw RunError(ErrorKind::Cancelled, "cancelled in " + what);
      auto batch = rows.next(concurrency * 4);
      if (batch.empty()) break;
      std::vector<Sample> samples(batch.size());
      std::vector<std::vector<std::string>> blobExts(batch.size());
      for (size_t r = 0; r < batch.size(); ++r) {
        Sample& s = samples[r];
        s.ordinal = ++ordinal;
        const auto& v = batch[r];
        if (iErr >= 0 && !core::isNull(v[static_cast<size_t>(iErr)])) {
          s.error = "failed upstream: " + text(v[static_cast<size_t>(iErr)]);
          continue;
        }
        NameParts parts;
        parts.schema = &schema;
        parts.values = &v;
        char row[24];
        std::snprintf(row, sizeof row, "%09lld", static_cast<long long>(s.ordinal));
        parts.row = row;
        const std::string uri = iUri >= 0 ? text(v[static_cast<size_t>(iUri)]) : "";
        parts.name = iName >= 0 && !text(v[static_cast<size_t>(iName)]).empty() ? text(v[static_cast<size_t>(iName)])
                                                                                   : lastSegment(uri);
        splitName(parts.name, parts.stem, parts.ext);
        parts.relpath = common.relative(uri);
        std::string key = sanitizeKey(render(keyPattern, parts));
        if (key.empty() || key.size() > kMaxKey) {
          s.error = "the key made from the pattern is empty or over " + std::to_string(kMaxKey) + " characters";
          continue;
        }
        const std::string base = key;
        for (int k = 1; keys.count(key); ++k) key = base + "_" + std::to_string(k);
        keys.insert(key);
        s.key = key;
        for (const auto& c : blobColumns) {
          const std::string hash = text(v[static_cast<size_t>(schema.indexOf(c))]);
          blobExts[r].push_back(catalog::isBlobHash(hash) ? extensionForMime(blobMime(db, hash)) : "");
        }
      }
      pool.run(batch.size(), [&](size_t r) {
        Sample& s = samples[r];
        if (!s.error.empty()) return;
        try {
          fill(s, batch[r], schema, objects, objectExt, blobColumns, blobExts[r], jsonColumns, textColumn, store, perObject);
        } catch (const std::exception& e) {
          s.error = std::string("internal error: ") + e.what();
        }
        if (!s.error.empty()) s.files.clear();
      });
      for (auto& s : samples) {
        if (s.error.empty() && !shards.add(s))
          s.error = "the sample is " + std::to_string(s.tarBytes()) + " bytes in a tar, over max_shard_bytes (" +
                    std::to_string(maxBytes) + ")";
        if (s.error.empty()) {
          ++packed;
        } else {
          ++leftOut;
          if (firstErrors.size() < 3) firstErrors.push_back("row " + std::to_string(s.ordinal) + ": " + s.error);
        }
      }
      ctx.feedback().progress(ctx.nodeId(), ordinal, in.rowCount);
    }
    shards.close();
    if (!d.local.empty()) {
      syncFolder(d.local, what);
      removeStaleShards(d.local, prefix, shards.shards());
    }
    const std::string summary = what + ": " + std::to_string(packed) + " samples in " + std::to_string(shards.shards()) +
                                " shards (" + std::to_string(shards.written()) + " written, " +
                                std::to_string(shards.unchanged()) + " unchanged) in " + d.uri;
    if (leftOut == 0) {
      ctx.feedback().info(summary);
    } else {
      std::string detail;
      for (const auto& e : firstErrors) detail += "; " + e;
      ctx.feedback().warning(summary + "; " + std::to_string(leftOut) + " rows left out" + detail);
    }
  }

 private:
  // A sample's files, in a fixed order (worker thread).
  static void fill(Sample& s, const std::vector<core::Value>& v, const core::Schema& schema, bool objects,
                   const std::string& objectExt, const std::vector<std::string>& blobColumns,
                   const std::vector<std::string>& blobExts, const std::vector<std::string>& jsonColumns,
                   const std::string& textColumn, const catalog::BlobStore& store, int64_t perObject) {
    const int iUri = schema.indexOf("uri"), iName = schema.indexOf("name");
    if (objects) {
      const std::string uri = text(v[static_cast<size_t>(iUri)]);
      if (uri.empty()) {
        s.error = "no uri in this row";
        return;
      }
      std::string ext = objectExt;
      if (ext.empty()) {
        std::string stem, dotExt;
        splitName(iName >= 0 && !text(v[static_cast<size_t>(iName)]).empty() ? text(v[static_cast<size_t>(iName)]) : lastSegment(uri),
                  stem, dotExt);
        ext = dotExt.size() > 1 ? dotExt.substr(1) : "bin";
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (!isFieldName(ext)) ext = "bin";
      }
      auto bytes = readWhole(uri, perObject, perObject < kMaxInMemoryBytes ? "max_shard_bytes" : "1 GiB, the most one sample may hold");
      if (!bytes.ok()) {
        s.error = bytes.error().message;
        return;
      }
      s.files.emplace_back(s.key + "." + ext, std::move(bytes.value()));
    }
    for (size_t i = 0; i < blobColumns.size(); ++i) {
      const std::string hash = text(v[static_cast<size_t>(schema.indexOf(blobColumns[i]))]);
      if (hash.empty()) continue;
      if (!catalog::isBlobHash(hash)) {
        s.error = "column " + blobColumns[i] + " holds '" + storage::sanitizeUtf8(hash.substr(0, 80)) + "', not a blob sha256";
        return;
      }
      auto bytes = store.get(hash);
      if (!bytes.ok()) {
        s.error = blobColumns[i] + ": " + bytes.error().message;
        return;
      }
      if (core::sha256Hex(bytes.value()) != hash) {
        s.error = blobColumns[i] + ": blob " + hash + " is damaged in the blob store";
        return;
      }
      s.files.emplace_back(s.key + "." + blobColumns[i] + blobExts[i], std::move(bytes.value()));
    }
    if (!jsonColumns.empty()) {
      json j = json::object();
      for (const auto& c : jsonColumns) j[c] = core::valueToJson(v[static_cast<size_t>(schema.indexOf(c))]);
      s.files.emplace_back(s.key + ".json", core::dumpJson(j));
    }
    if (!textColumn.empty()) {
      const auto& t = v[static_cast<size_t>(schema.indexOf(textColumn))];
      if (!core::isNull(t)) s.files.emplace_back(s.key + ".txt", core::valueToText(t));
    }
    // Two files of one sample with the same name would be one field read twice (an object "x.txt" and
    // text_column's .txt): refused, naming the clash.
    std::set<std::string> names;
    for (const auto& f : s.files)
      if (!names.insert(f.first).second) {
        s.error = "two files of this sample are named " + f.first + " (set object_ext, or rename a column)";
        return;
      }
  }

  // Shards "<prefix>-NNNNNN.tar" numbered from `count` on, left by an earlier run with more samples: a
  // loader reading "<prefix>-*.tar" would read them too.
  static void removeStaleShards(const std::string& dir, const std::string& prefix, int count) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string n = e.path().filename().string();
      if (n.size() != prefix.size() + 11 || n.rfind(prefix + "-", 0) != 0 || n.substr(n.size() - 4) != ".tar") continue;
      const std::string digits = n.substr(prefix.size() + 1, 6);
      if (!std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); })) continue;
      if (std::stoi(digits) >= count && e.is_regular_file(ec)) fs::remove(e.path(), ec);
    }
  }
};

}  // namespace

void addExportFileNodes(NodeRegistry& registry) {
  registry.add(std::make_shared<ExportFiles>());
  registry.add(std::make_shared<ExportWebDataset>());
}

}  // namespace loom::nodes

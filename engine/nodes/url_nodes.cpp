// storage.urls: object rows from a list of http(s) URLs — a column of a CSV, TSV or JSONL file (in any
// storage), a plain list with one URL per line, or a dataset — each URL checked with HEAD (or a
// ranged GET) for its status, size, type and version. Broken URLs are rows with an error, never a
// failed run.
//
// Built for millions of URLs: the input is streamed, checks run on `concurrency` threads over a
// bounded window of rows, and rows are appended in input order as the head of the window completes,
// so memory stays at the window whatever the input size.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <type_traits>
#include <variant>

#include "catalog/catalog.h"
#include "core/hash.h"
#include "nodes/builtin_provider.h"
#include "storage/http_storage.h"
#include "storage/storage.h"
#include "storage/uri.h"

namespace loom::nodes {

core::Schema objectListSchema();  // storage_nodes.cpp: uri, name, etag, size, mtime, error

using core::ColumnType;
using core::ErrorKind;
using core::RunError;

namespace {

enum class Format { Csv, Tsv, Jsonl, Lines };

constexpr size_t kMaxRecordBytes = 1 << 20;   // one input line or CSV record
constexpr int64_t kReadChunk = 4 << 20;        // bytes read from the input file at a time

std::string lowerAscii(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// From the file name's extension (query strings of an http(s) list ignored).
std::optional<Format> formatFromName(const std::string& uri) {
  std::string path = uri.substr(0, uri.find_first_of("?#"));
  const size_t dot = path.rfind('.');
  if (dot == std::string::npos || path.find('/', dot) != std::string::npos) return std::nullopt;
  const std::string ext = lowerAscii(path.substr(dot + 1));
  if (ext == "csv") return Format::Csv;
  if (ext == "tsv" || ext == "tab") return Format::Tsv;
  if (ext == "jsonl" || ext == "ndjson" || ext == "json") return Format::Jsonl;
  if (ext == "txt" || ext == "urls" || ext == "lst" || ext == "list") return Format::Lines;
  return std::nullopt;
}

core::Result<Format> formatOf(const Params& p) {
  const std::string f = p.value("format", "auto");
  if (f == "csv") return Format::Csv;
  if (f == "tsv") return Format::Tsv;
  if (f == "jsonl") return Format::Jsonl;
  if (f == "lines") return Format::Lines;
  const std::string uri = p.value("uri", "");
  if (auto g = formatFromName(uri)) return *g;
  return core::makeError(ErrorKind::InvalidFlow,
                         "format: cannot tell the format of '" + storage::sanitizeUtf8(uri.substr(uri.rfind('/') + 1)) +
                             "' from its extension; set format to csv, tsv, jsonl or lines");
}

// `keep`: "sku, title" -> {"sku", "title"}.
core::Result<std::vector<std::string>> keptColumns(const Params& p, const core::Schema& base) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  const std::string keep = p.value("keep", "");
  size_t pos = 0;
  while (pos <= keep.size()) {
    size_t comma = keep.find(',', pos);
    if (comma == std::string::npos) comma = keep.size();
    std::string name = keep.substr(pos, comma - pos);
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    pos = comma + 1;
    if (name.empty()) continue;
    if (!core::isValidColumnName(name))
      return core::makeError(ErrorKind::InvalidFlow, "keep: '" + name +
                                                         "' is not a column name Loom allows (letters, digits and _, "
                                                         "not starting with a digit or _)");
    if (base.has(name))
      return core::makeError(ErrorKind::InvalidFlow,
                             "keep: '" + name + "' is one of this node's own columns; rename it in the input first");
    if (!seen.insert(name).second)
      return core::makeError(ErrorKind::InvalidFlow, "keep: '" + name + "' is named twice");
    out.push_back(name);
  }
  return out;
}

core::Schema urlSchema() {
  core::Schema s = objectListSchema();
  s.set({"status", ColumnType::Integer, "HTTP status of the final answer (after redirects); null when none came"});
  s.set({"mime", ColumnType::Text, "the server's Content-Type (media.probe replaces it with the sniffed type)"});
  s.set({"final_url", ColumnType::Text, "the URL that answered, after redirects"});
  s.set({"seconds", ColumnType::Real, "how long the check took, retries and redirects included"});
  return s;
}

// One input record.
struct Entry {
  int64_t record = 0;              // 1-based position in the input (a CSV's header not counted)
  std::optional<std::string> url;  // nullopt: the record has no URL
  std::string problem;             // why the record could not be read
  std::vector<core::Value> kept;
};

class EntrySource {
 public:
  virtual ~EntrySource() = default;
  virtual bool next(Entry& e) = 0;
  virtual int64_t total() const { return -1; }
};

// Sequential bytes of an object, read in large chunks through its storage backend.
class ByteStream {
 public:
  ByteStream(std::shared_ptr<storage::Storage> storage, std::string uri, std::string what)
      : m_storage(std::move(storage)), m_uri(std::move(uri)), m_what(std::move(what)) {}
  int get() {
    if (m_pos == m_buf.size() && !refill()) return -1;
    return static_cast<unsigned char>(m_buf[m_pos++]);
  }
  int peek() {
    if (m_pos == m_buf.size() && !refill()) return -1;
    return static_cast<unsigned char>(m_buf[m_pos]);
  }
  // Skips a UTF-8 byte-order mark at the very start.
  void skipBom() {
    if (peek() == 0xEF && m_buf.size() >= 3 && m_buf.compare(0, 3, "\xEF\xBB\xBF") == 0) m_pos = 3;
  }

 private:
  bool refill() {
    if (m_eof) return false;
    auto r = m_storage->read(m_uri, m_offset, kReadChunk);
    if (!r.ok()) {
      throw RunError(r.error().kind == ErrorKind::NotFound ? ErrorKind::InvalidFlow : r.error().kind,
                     m_what + ": cannot read the URL list: " + r.error().message);
    }
    m_buf = std::move(r).value();
    m_pos = 0;
    m_offset += static_cast<int64_t>(m_buf.size());
    if (static_cast<int64_t>(m_buf.size()) < kReadChunk) m_eof = true;
    return !m_buf.empty();
  }

  std::shared_ptr<storage::Storage> m_storage;
  std::string m_uri, m_what;
  std::string m_buf;
  size_t m_pos = 0;
  int64_t m_offset = 0;
  bool m_eof = false;
};

// Lines (without their \n or \r\n); false at the end. An over-long line is cut and flagged.
bool readLine(ByteStream& in, std::string& line, bool& tooLong) {
  line.clear();
  tooLong = false;
  int c = in.get();
  if (c < 0) return false;
  for (; c >= 0 && c != '\n'; c = in.get()) {
    if (line.size() < kMaxRecordBytes)
      line.push_back(static_cast<char>(c));
    else
      tooLong = true;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

// RFC 4180 records: quoted fields may hold the delimiter, "" and line breaks. Hand-written: no CSV
// library among the engine's dependencies, and this is forty lines.
bool readRecord(ByteStream& in, char delimiter, std::vector<std::string>& fields, bool& broken) {
  fields.clear();
  broken = false;
  std::string field;
  bool inQuotes = false, quoted = false, any = false;
  size_t bytes = 0;
  for (;;) {
    const int c = in.get();
    if (c < 0) {
      if (!any) return false;
      broken = broken || inQuotes;
      fields.push_back(std::move(field));
      return true;
    }
    any = true;
    if (++bytes > kMaxRecordBytes) {
      // An unclosed quote or a giant record: skip to the next line break and flag the record.
      broken = true;
      for (int d = c; d >= 0 && d != '\n'; d = in.get()) {
      }
      fields.push_back(std::move(field));
      return true;
    }
    if (inQuotes) {
      if (c == '"') {
        if (in.peek() == '"') {
          in.get();
          field.push_back('"');
        } else {
          inQuotes = false;
        }
      } else {
        field.push_back(static_cast<char>(c));
      }
      continue;
    }
    if (c == '"' && field.empty() && !quoted) {
      inQuotes = quoted = true;
    } else if (c == delimiter) {
      fields.push_back(std::move(field));
      field.clear();
      quoted = false;
    } else if (c == '\n') {
      if (!field.empty() && field.back() == '\r') field.pop_back();
      fields.push_back(std::move(field));
      return true;
    } else {
      field.push_back(static_cast<char>(c));
    }
  }
}

class LinesSource final : public EntrySource {
 public:
  explicit LinesSource(ByteStream in) : m_in(std::move(in)) { m_in.skipBom(); }
  bool next(Entry& e) override {
    std::string line;
    bool tooLong = false;
    while (readLine(m_in, line, tooLong)) {
      ++m_line;
      const size_t a = line.find_first_not_of(" \t");
      if (a == std::string::npos || line[a] == '#') continue;  // blank lines and comments
      e = Entry{};
      e.record = m_line;
      if (tooLong) {
        e.problem = "line " + std::to_string(m_line) + " is longer than 1 MiB";
      } else {
        e.url = line.substr(a, line.find_last_not_of(" \t") + 1 - a);
      }
      return true;
    }
    return false;
  }

 private:
  ByteStream m_in;
  int64_t m_line = 0;
};

class CsvSource final : public EntrySource {
 public:
  CsvSource(ByteStream in, char delimiter, const std::string& column, const std::vector<std::string>& keep,
            const std::string& what)
      : m_in(std::move(in)), m_delimiter(delimiter) {
    m_in.skipBom();
    std::vector<std::string> header;
    bool broken = false;
    if (!readRecord(m_in, m_delimiter, header, broken))
      throw RunError(ErrorKind::InvalidFlow,
                     what + ": the URL list is empty (a CSV needs a header line naming its columns)");
    auto find = [&](const std::string& name) {
      for (size_t i = 0; i < header.size(); ++i) {
        std::string h = header[i];
        h.erase(0, h.find_first_not_of(" \t"));
        h.erase(h.find_last_not_of(" \t") + 1);
        if (h == name) return static_cast<int>(i);
      }
      std::string names;
      for (const auto& h : header) names += (names.empty() ? "" : ", ") + storage::sanitizeUtf8(h);
      throw RunError(ErrorKind::InvalidFlow, what + ": the URL list has no column '" + name + "' (its header names: " +
                                                 names + ")");
    };
    m_url = find(column);
    for (const auto& k : keep) m_keep.push_back(find(k));
  }
  bool next(Entry& e) override {
    std::vector<std::string> fields;
    bool broken = false;
    while (readRecord(m_in, m_delimiter, fields, broken)) {
      if (fields.size() == 1 && fields[0].empty() && !broken) continue;  // blank line
      ++m_record;
      e = Entry{};
      e.record = m_record;
      if (broken) {
        e.problem =
            "record " + std::to_string(m_record) + " of the URL list has an unclosed quote or is longer than 1 MiB";
      } else if (m_url >= static_cast<int>(fields.size())) {
        e.problem = "record " + std::to_string(m_record) + " of the URL list has only " +
                    std::to_string(fields.size()) + " field(s)";
      } else {
        e.url = fields[static_cast<size_t>(m_url)];
      }
      for (int k : m_keep) {
        if (!broken && k < static_cast<int>(fields.size()) && !fields[static_cast<size_t>(k)].empty())
          e.kept.emplace_back(std::move(fields[static_cast<size_t>(k)]));
        else
          e.kept.emplace_back();
      }
      return true;
    }
    return false;
  }

 private:
  ByteStream m_in;
  char m_delimiter;
  int m_url = 0;
  std::vector<int> m_keep;
  int64_t m_record = 0;
};

core::Value jsonValue(const nlohmann::json& v) {
  if (v.is_null()) return {};
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return int64_t{v.get<bool>() ? 1 : 0};
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_unsigned()) return static_cast<int64_t>(v.get<uint64_t>());
  if (v.is_number()) return v.get<double>();
  return v.dump();
}

class JsonlSource final : public EntrySource {
 public:
  JsonlSource(ByteStream in, std::string column, std::vector<std::string> keep)
      : m_in(std::move(in)), m_column(std::move(column)), m_keep(std::move(keep)) {
    m_in.skipBom();
  }
  bool next(Entry& e) override {
    std::string line;
    bool tooLong = false;
    while (readLine(m_in, line, tooLong)) {
      ++m_line;
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      e = Entry{};
      e.record = m_line;
      e.kept.resize(m_keep.size());
      const std::string where = "line " + std::to_string(m_line) + " of the URL list";
      if (tooLong) {
        e.problem = where + " is longer than 1 MiB";
        return true;
      }
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        e.problem = where + " is not a JSON object";
        return true;
      }
      if (auto it = j.find(m_column); it == j.end() || it->is_null()) {
        e.problem = where + " has no \"" + m_column + "\"";
      } else if (!it->is_string()) {
        e.problem = where + ": \"" + m_column + "\" is not a string";
      } else {
        e.url = it->get<std::string>();
      }
      for (size_t k = 0; k < m_keep.size(); ++k)
        if (auto it = j.find(m_keep[k]); it != j.end()) e.kept[k] = jsonValue(*it);
      return true;
    }
    return false;
  }

 private:
  ByteStream m_in;
  std::string m_column;
  std::vector<std::string> m_keep;
  int64_t m_line = 0;
};

// A dataset version's rows, a page at a time, in _row order.
class DatasetSource final : public EntrySource {
 public:
  DatasetSource(catalog::Catalog& catalog, catalog::DatasetVersion version, const std::string& column,
                const std::vector<std::string>& keep)
      : m_catalog(catalog), m_version(std::move(version)), m_column(column) {
    m_url = m_version.schema.indexOf(column) + 1;  // readRows passes _row first
    for (const auto& k : keep) m_keep.push_back(m_version.schema.indexOf(k) + 1);
  }
  int64_t total() const override { return m_version.rowCount; }
  bool next(Entry& e) override {
    if (m_at == m_page.size()) {
      m_page.clear();
      m_at = 0;
      if (m_done) return false;
      m_catalog.readRows(m_version, m_lastRow, kPage, [&](const std::vector<core::Value>& row) {
        m_lastRow = std::get<int64_t>(row[0]);
        Entry x;
        x.record = m_lastRow;
        const core::Value& v = row[static_cast<size_t>(m_url)];
        if (std::holds_alternative<std::string>(v))
          x.url = std::get<std::string>(v);
        else if (!core::isNull(v))
          x.problem = "row " + std::to_string(m_lastRow) + ": '" + m_column + "' is not text";
        for (int k : m_keep) x.kept.push_back(row[static_cast<size_t>(k)]);
        m_page.push_back(std::move(x));
      });
      if (static_cast<int64_t>(m_page.size()) < kPage) m_done = true;
      if (m_page.empty()) return false;
    }
    e = std::move(m_page[m_at++]);
    return true;
  }

 private:
  static constexpr int64_t kPage = 4096;
  catalog::Catalog& m_catalog;
  catalog::DatasetVersion m_version;
  std::string m_column;
  int m_url = 0;
  std::vector<int> m_keep;
  std::vector<Entry> m_page;
  size_t m_at = 0;
  int64_t m_lastRow = 0;
  bool m_done = false;
};

// One row on its way out: the input record and what checking its URL found.
struct Slot {
  Entry entry;
  storage::UrlCheck result;
  bool needsCheck = false;
  bool done = false;
};

// Checks slots on `threads` workers while the caller fills the window and drains it in order.
class CheckWindow {
 public:
  CheckWindow(size_t capacity, int threads, storage::HttpStorage& http, core::Feedback& fb)
      : m_slots(capacity), m_http(http), m_fb(fb) {
    for (int i = 0; i < threads; ++i) m_workers.emplace_back([this] { work(); });
  }
  ~CheckWindow() {
    {
      std::lock_guard lock(m_mutex);
      m_stop = true;
    }
    m_work.notify_all();
    for (auto& t : m_workers) t.join();
  }
  CheckWindow(const CheckWindow&) = delete;
  CheckWindow& operator=(const CheckWindow&) = delete;

  bool full() {
    std::lock_guard lock(m_mutex);
    return m_tail - m_head == m_slots.size();
  }
  bool empty() {
    std::lock_guard lock(m_mutex);
    return m_tail == m_head;
  }
  // Caller only, when !full().
  void push(Slot&& slot) {
    {
      std::lock_guard lock(m_mutex);
      m_slots[m_tail % m_slots.size()] = std::move(slot);
      ++m_tail;
    }
    m_work.notify_one();
  }
  // Waits (up to `wait`) until the oldest slot is checked; hands over every finished slot at the head.
  void drain(std::vector<Slot>& out, std::chrono::milliseconds wait) {
    std::unique_lock lock(m_mutex);
    m_ready.wait_for(lock, wait, [&] { return m_head == m_tail || m_slots[m_head % m_slots.size()].done; });
    while (m_head < m_tail && m_slots[m_head % m_slots.size()].done) {
      out.push_back(std::move(m_slots[m_head % m_slots.size()]));
      ++m_head;
    }
  }

 private:
  void work() {
    for (;;) {
      size_t i;
      {
        std::unique_lock lock(m_mutex);
        m_work.wait(lock, [&] { return m_stop || m_next < m_tail; });
        if (m_stop) return;
        i = m_next++;
      }
      Slot& s = m_slots[i % m_slots.size()];
      if (s.needsCheck && !m_fb.isCancelled()) s.result = m_http.check(*s.entry.url, &m_fb);
      {
        std::lock_guard lock(m_mutex);
        s.done = true;
      }
      m_ready.notify_one();
    }
  }

  std::vector<Slot> m_slots;
  storage::HttpStorage& m_http;
  core::Feedback& m_fb;
  std::mutex m_mutex;
  std::condition_variable m_work, m_ready;
  size_t m_head = 0, m_next = 0, m_tail = 0;  // drained < head <= checked < next <= filled < tail
  bool m_stop = false;
  std::vector<std::thread> m_workers;
};

class StorageUrls : public NodeType {
 public:
  std::string id() const override { return "storage.urls"; }
  std::string category() const override { return "Sources"; }
  std::string title() const override { return "URL list"; }
  std::string doc() const override {
    return "One object row per http(s) URL in a list: a column of a CSV, TSV or JSONL file (`uri`, any storage), "
           "a text file with one URL per line, or a column of a dataset (`dataset`). With `check`, each URL is "
           "asked for with HEAD (a ranged GET where HEAD is refused), following redirects and retrying 5xx, "
           "throttling and dropped connections, and its row gets status, size, etag, mtime, mime and final_url. "
           "Broken URLs (404, 403, 5xx after retries, DNS failures, timeouts, malformed or not http(s)) are rows "
           "with `error` set; the run goes on. Rows keep the input's order; duplicates stay.";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec format{"format", ParamType::Enum,
                     "how `uri` is laid out: auto (from its extension: .csv, .tsv, .jsonl/.ndjson, .txt), csv, tsv, "
                     "jsonl, lines (one URL per line; # comments)",
                     false, "auto"};
    format.choices = {"auto", "csv", "tsv", "jsonl", "lines"};
    ParamSpec concurrency{"concurrency", ParamType::Integer, "URLs checked at the same time", false, 16};
    concurrency.minimum = 1;
    concurrency.maximum = 512;
    ParamSpec timeout{"timeout", ParamType::Number, "seconds one request may take (connecting: at most 10)", false, 20};
    timeout.minimum = 0.05;
    timeout.maximum = 3600;
    ParamSpec retries{"retries", ParamType::Integer,
                      "extra attempts after 5xx, 408, 429, timeouts and dropped connections (with backoff)", false, 2};
    retries.minimum = 0;
    retries.maximum = 10;
    return {
        {"uri", ParamType::Uri, "the URL list: a CSV/TSV/JSONL/text file, e.g. file:///data/urls.csv, or a path", false,
         nullptr},
        {"dataset", ParamType::DatasetRef, "instead of `uri`: a dataset (name or name@version) holding the URLs", false,
         nullptr},
        format,
        {"column", ParamType::String, "the column (CSV header name, JSON key, dataset column) holding the URLs", false,
         "url"},
        {"keep", ParamType::String, "other input columns to carry into the rows, comma-separated (e.g. \"sku, title\")",
         false, ""},
        {"check", ParamType::Boolean, "ask each URL's server (false: only parse and normalise the URLs)", false, true},
        concurrency,
        timeout,
        retries,
    };
  }
  std::vector<PortSpec> inputs() const override { return {}; }
  bool keyedByContent() const override { return true; }

  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>&,
                                          const ValidationContext& ctx) const override {
    const bool hasUri = p.contains("uri") && p["uri"].is_string();
    const bool hasDataset = p.contains("dataset") && p["dataset"].is_string();
    if (hasUri == hasDataset)
      return core::makeError(ErrorKind::InvalidFlow,
                             hasUri ? "uri: give either `uri` (a URL list file) or `dataset`, not both"
                                    : "uri: give the URL list, as `uri` (a CSV, TSV, JSONL or text file) or `dataset`");
    core::Schema s = urlSchema();
    auto keep = keptColumns(p, s);
    if (!keep.ok()) return keep.error();
    const std::string column = p.value("column", "url");
    if (column.empty()) return core::makeError(ErrorKind::InvalidFlow, "column: name the column holding the URLs");
    if (hasUri) {
      auto format = formatOf(p);
      if (!format.ok()) return format.error();
      if (format.value() == Format::Lines && !keep->empty())
        return core::makeError(ErrorKind::InvalidFlow,
                               "keep: a plain list of URLs has no other columns; use a CSV, JSONL or a dataset");
      for (const auto& k : keep.value()) s.set({k, ColumnType::Any, "carried from the URL list"});
      return s;
    }
    if (!ctx.catalog)
      return core::makeError(ErrorKind::InvalidFlow,
                             "dataset: needs a catalog to look up '" + p["dataset"].get<std::string>() + "'");
    auto v = ctx.catalog->resolveDataset(p["dataset"]);
    if (!v.ok()) return core::makeError(ErrorKind::InvalidFlow, "dataset: " + v.error().message);
    auto columns = [&] {
      std::string names;
      for (const auto& c : v->schema.columns()) names += (names.empty() ? "" : ", ") + c.name;
      return names;
    };
    if (!v->schema.has(column))
      return core::makeError(ErrorKind::InvalidFlow, "column: the dataset '" + v->name + "' has no column '" + column +
                                                         "' (it has: " + columns() + ")");
    for (const auto& k : keep.value()) {
      const int i = v->schema.indexOf(k);
      if (i < 0)
        return core::makeError(ErrorKind::InvalidFlow, "keep: the dataset '" + v->name + "' has no column '" + k +
                                                           "' (it has: " + columns() + ")");
      s.set({k, v->schema[static_cast<size_t>(i)].type, v->schema[static_cast<size_t>(i)].doc});
    }
    return s;
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    const std::string what = "node '" + ctx.nodeId() + "'";
    const std::string column = p.value("column", "url");
    const core::Schema base = urlSchema();
    const auto keep = keptColumns(p, base).orThrow();
    const bool check = p.value("check", true);

    std::unique_ptr<EntrySource> source;
    if (p.contains("uri") && p["uri"].is_string()) {
      const std::string uri = p["uri"];
      const Format format = formatOf(p).orThrow();
      auto backend = storage::storageFor(uri);
      if (!backend.ok()) throw RunError(ErrorKind::InvalidFlow, what + ", parameter 'uri': " + backend.error().message);
      ByteStream in(backend.value(), uri, what);
      if (format == Format::Lines)
        source = std::make_unique<LinesSource>(std::move(in));
      else if (format == Format::Jsonl)
        source = std::make_unique<JsonlSource>(std::move(in), column, keep);
      else
        source = std::make_unique<CsvSource>(std::move(in), format == Format::Tsv ? '\t' : ',', column, keep, what);
      ctx.addRunInput("source", uri);
    } else {
      auto v = ctx.catalog().resolveDataset(p["dataset"]).orThrow();
      if (!v.schema.has(column))
        throw RunError(ErrorKind::InvalidFlow, what + ": the dataset '" + v.name + "' has no column '" + column + "'");
      for (const auto& k : keep)
        if (!v.schema.has(k))
          throw RunError(ErrorKind::InvalidFlow, what + ": the dataset '" + v.name + "' has no column '" + k + "'");
      ctx.addRunInput("dataset_version", v.name + "@" + std::to_string(v.version));
      source = std::make_unique<DatasetSource>(ctx.catalog(), std::move(v), column, keep);
    }

    storage::HttpOptions options;
    options.timeoutSeconds = p.value("timeout", 20.0);
    options.connectTimeoutSeconds = std::min(10.0, options.timeoutSeconds);
    options.maxAttempts = 1 + p.value("retries", 2);
    storage::HttpStorage http(options);

    auto& fb = ctx.feedback();
    const std::string stage = (check ? "check " : "read ") + ctx.nodeId();
    const int64_t total = source->total();
    core::Hasher digest;
    int64_t rows = 0;

    auto emit = [&](Slot& s) {
      const storage::ObjectInfo& o = s.result.info;
      std::vector<core::Value> row;
      row.reserve(base.size() + s.entry.kept.size());
      auto text = [](const std::string& t) { return t.empty() ? core::Value{} : core::Value{t}; };
      row.push_back(text(o.uri));
      row.push_back(text(o.name));
      row.push_back(text(o.etag));
      row.push_back(o.size >= 0 ? core::Value{o.size} : core::Value{});
      row.push_back(o.mtimeNs ? core::Value{core::isoTimeUtc(o.mtimeNs)} : core::Value{});
      row.push_back(text(o.error));
      row.push_back(s.result.status ? core::Value{static_cast<int64_t>(s.result.status)} : core::Value{});
      row.push_back(text(s.result.mime));
      row.push_back(text(s.result.finalUrl));
      row.push_back(s.needsCheck ? core::Value{s.result.seconds} : core::Value{});
      digest.field(o.uri).field(o.etag).field(std::to_string(o.size)).field(o.error);
      digest.field(std::to_string(s.result.status)).field(s.result.mime).field(s.result.finalUrl);
      for (auto& v : s.entry.kept) {
        digest.field(std::visit(
            [](const auto& x) -> std::string {
              using T = std::decay_t<decltype(x)>;
              if constexpr (std::is_same_v<T, std::monostate>) return "\x01null";
              else if constexpr (std::is_same_v<T, std::string>) return x;
              else if constexpr (std::is_same_v<T, core::BlobValue>) return x.bytes;
              else return std::to_string(x);
            },
            v));
        row.push_back(std::move(v));
      }
      ctx.appendRow(std::move(row));
      if (++rows % 1024 == 0) fb.progress(stage, rows, total);
    };

    // Parses one record into a slot: a URL to check, or a row whose error is already known.
    auto prepare = [&](Entry&& e) {
      Slot s;
      s.entry = std::move(e);
      storage::ObjectInfo& o = s.result.info;
      if (!s.entry.url) {
        o.error = s.entry.problem.empty() ? "no URL" : s.entry.problem;
        return s;
      }
      auto normal = storage::normalizeHttpUrl(*s.entry.url);
      if (!normal.ok()) {
        o.uri = storage::sanitizeUtf8(*s.entry.url);
        o.error = normal.error().message;
        return s;
      }
      s.entry.url = normal.value();
      o.uri = normal.value();
      s.needsCheck = check;
      if (!check) o.name = storage::httpObjectName(o.uri);
      return s;
    };

    Entry e;
    if (!check) {
      while (source->next(e)) {
        if (fb.isCancelled()) throw RunError(ErrorKind::Cancelled, "cancelled in " + what);
        Slot s = prepare(std::move(e));
        emit(s);
      }
    } else {
      const int threads = p.value("concurrency", 16);
      // Enough rows in flight that a few slow URLs at the head do not idle the other workers.
      const size_t capacity = std::clamp<size_t>(static_cast<size_t>(threads) * 256, 1024, 16384);
      CheckWindow window(capacity, threads, http, fb);
      bool inputDone = false;
      std::vector<Slot> ready;
      while (!inputDone || !window.empty()) {
        if (fb.isCancelled()) throw RunError(ErrorKind::Cancelled, "cancelled in " + what);
        while (!inputDone && !window.full()) {
          if (!source->next(e)) {
            inputDone = true;
            break;
          }
          window.push(prepare(std::move(e)));
        }
        ready.clear();
        window.drain(ready, std::chrono::milliseconds(100));
        for (auto& s : ready) emit(s);
      }
    }
    if (fb.isCancelled()) throw RunError(ErrorKind::Cancelled, "cancelled in " + what);
    fb.progress(stage, rows, rows);
    ctx.setContentKey(digest.hex());
  }
};

}  // namespace

void addUrlNodes(NodeRegistry& registry) { registry.add(std::make_shared<StorageUrls>()); }

}  // namespace loom::nodes

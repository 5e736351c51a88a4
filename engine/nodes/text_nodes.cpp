// text.read, pdf.text, text.chunk, text.regex: reading text out of objects and cutting it up.
// The text work itself lives in engine/text/ (encodings, the chunker, a linear-time regex engine);
// PDF text comes from poppler in the media codecs module (media/doc_ops.h).

#include <algorithm>
#include <atomic>

#include "media/codecs.h"
#include "nodes/builtin_provider.h"
#include "nodes/text_support.h"
#include "storage/storage.h"
#include "text/chunker.h"
#include "text/encoding.h"
#include "text/safe_regex.h"

namespace loom::nodes {

using core::ColumnType;
using core::ErrorKind;
using core::makeError;
using namespace textsupport;

namespace {

using core::textOf;

core::Result<void> needUri(const core::Schema& in) {
  if (!in.has("uri"))
    return makeError(ErrorKind::InvalidFlow,
                     "needs a 'uri' column in its input; connect it after storage.list or a dataset of objects");
  return {};
}

// Reads an object through storage with a byte budget and a deadline; the row's error on failure.
struct ObjectRow {
  std::string uri;
  int64_t size = -1;
};
ObjectRow objectOf(const core::Schema& s, const RowBuffer& row) {
  ObjectRow o;
  o.uri = textOf(row.values[static_cast<size_t>(s.indexOf("uri"))]);
  const int iSize = s.indexOf("size");
  if (iSize >= 0 && std::holds_alternative<int64_t>(row.values[static_cast<size_t>(iSize)]))
    o.size = std::get<int64_t>(row.values[static_cast<size_t>(iSize)]);
  return o;
}

// ---------------------------------------------------------------------------------------------------
// text.read

class TextRead : public NodeType {
 public:
  std::string id() const override { return "text.read"; }
  std::string category() const override { return "Text"; }
  std::string title() const override { return "Read text"; }
  std::string doc() const override {
    return "Reads each object's text into the column `text`, decoded to UTF-8 from the encoding it detects: a "
           "byte-order mark (UTF-8, UTF-16 LE/BE), else UTF-16 without a mark (a zero in every other byte), else "
           "UTF-8 when the bytes are valid UTF-8, else Windows-1252 when bytes 0x80-0x9F occur (curly quotes, "
           "dashes, the euro sign) and Latin-1 (ISO-8859-1) otherwise. `encoding` names what was found (ascii, "
           "utf-8, utf-8-bom, utf-16le, utf-16be, windows-1252, iso-8859-1) and `text_bytes` is the length of "
           "`text` in bytes of UTF-8. At most max_bytes of an object are read: a longer one is cut there on a "
           "character boundary with text_truncated = 1 (on_too_long: truncate), or gets an error and no text "
           "(on_too_long: error). Example: after storage.list with glob **/*.txt, text.read fills `text`; "
           "table.filter with \"text_truncated = 0\" keeps the complete ones. Errors: an object that cannot be "
           "read (missing, no permission, network); binary data (NUL bytes in a file that is not UTF-16, e.g. an "
           "image); a PDF (use pdf.text); over max_bytes with on_too_long error. A row that failed upstream keeps "
           "its error.";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec tooLong{"on_too_long", ParamType::Enum,
                      "what an object over max_bytes gets: truncate (its first max_bytes, text_truncated = 1) or "
                      "error (no text)",
                      false, "truncate"};
    tooLong.choices = {"truncate", "error"};
    return {intParam("max_bytes", "bytes read from each object at most (1 MiB by default)", 1 << 20, 1, 256 << 20),
            tooLong};
  }
  core::Result<core::Schema> outputSchema(const Params&, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    if (auto r = needUri(in[0]); !r.ok()) return r.error();
    core::Schema s = in[0];
    s.set({"text", ColumnType::Text, "the object's text, UTF-8"});
    s.set({"encoding", ColumnType::Text, "the encoding it was decoded from"});
    s.set({"text_bytes", ColumnType::Integer, "length of text in bytes (UTF-8)"});
    s.set({"text_truncated", ColumnType::Integer, "1 when only the first max_bytes of the object were read"});
    s.set({"error", ColumnType::Text, "why the row has no text (or failed upstream); null when fine"});
    return s;
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const core::Schema& out = ctx.outputSchema();
    const int64_t maxBytes = p.value("max_bytes", int64_t{1} << 20);
    const bool errorWhenLong = p.value("on_too_long", std::string("truncate")) == "error";
    const size_t iText = static_cast<size_t>(out.indexOf("text")), iEnc = static_cast<size_t>(out.indexOf("encoding")),
                 iBytes = static_cast<size_t>(out.indexOf("text_bytes")),
                 iCut = static_cast<size_t>(out.indexOf("text_truncated")),
                 iErr = static_cast<size_t>(out.indexOf("error"));
    const media::MediaLimits limits;
    std::atomic<int64_t> failed{0}, truncated{0};
    MapSpec spec;
    spec.beforeBatch = [&](std::vector<RowBuffer>& batch) {
      for (auto& row : batch)
        if (!core::isNull(row.values[iErr])) row.done = true;  // keep the upstream error
    };
    spec.perRow = [&](RowBuffer& row) {
      auto fail = [&](const std::string& msg) {
        row.values[iErr] = msg;
        failed.fetch_add(1);
      };
      const ObjectRow o = objectOf(out, row);
      if (o.uri.empty()) return fail("no uri in this row");
      auto backend = storage::storageFor(o.uri);
      if (!backend.ok()) return fail(backend.error().message);
      media::ObjectReader reader(backend.value(), o.uri, o.size, maxBytes, limits.maxSeconds);
      auto size = reader.size();
      if (!size.ok()) return fail(size.error().message);
      const bool cut = *size > maxBytes;
      if (cut && errorWhenLong)
        return fail(o.uri + " has " + std::to_string(*size) + " bytes, over max_bytes (" + std::to_string(maxBytes) +
                    "); raise max_bytes or set on_too_long to truncate");
      auto bytes = reader.read(0, std::min(*size, maxBytes));
      if (!bytes.ok()) return fail(bytes.error().message);
      const std::string& b = *bytes;
      if (b.rfind("%PDF-", 0) == 0) return fail(o.uri + " is a PDF; read its text with pdf.text");
      text::Decoded d = text::decodeToUtf8(b, cut);
      // NUL characters do not occur in text (in UTF-16 text neither: only its bytes are zero).
      if (d.utf8.find('\0') != std::string::npos) return fail(o.uri + " holds binary data (NUL bytes), not text");
      row.values[iBytes] = static_cast<int64_t>(d.utf8.size());
      row.values[iText] = std::move(d.utf8);
      row.values[iEnc] = d.encoding;
      row.values[iCut] = int64_t{cut ? 1 : 0};
      if (cut) truncated.fetch_add(1);
    };
    ctx.mapRows(spec);
    ctx.feedback().info(ctx.nodeId() + ": " + std::to_string(truncated.load()) + " texts cut at max_bytes, " +
                        std::to_string(failed.load()) + " failed");
  }
};

// ---------------------------------------------------------------------------------------------------
// pdf.text

class PdfText : public NodeType {
 public:
  std::string id() const override { return "pdf.text"; }
  std::string category() const override { return "Text"; }
  std::string title() const override { return "PDF text"; }
  std::string doc() const override {
    return "One row per page of each PDF, with the page's text (UTF-8, in reading order as poppler lays it out) in "
           "`text`, its number (from 1) in `page` and the document's page count in `pages`. Only the first "
           "max_pages pages are read (page < pages then tells that the rest was left out). A page without a text "
           "layer (a scan) gives an empty text: run OCR (model.ocr) on such pages. Each output row keeps the "
           "input row's columns. Example: storage.list (glob **/*.pdf) -> pdf.text -> text.chunk. Errors, one "
           "row per PDF with `page` empty: not a readable PDF (damaged, truncated, not a PDF), password-protected, "
           "over max_mib, or taking over 60 s. A row that failed upstream is passed on with its error.";
  }
  std::vector<ParamSpec> params() const override {
    return {intParam("max_pages", "pages read from each PDF at most", 1000, 1, 100000),
            intParam("max_mib", "largest PDF read, in MiB (poppler reads the whole file into memory)", 64, 1, 2047)};
  }
  core::Result<core::Schema> outputSchema(const Params&, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    if (auto r = needUri(in[0]); !r.ok()) return r.error();
    core::Schema s = in[0];
    s.set({"page", ColumnType::Integer, "page number, from 1"});
    s.set({"text", ColumnType::Text, "the page's text, UTF-8"});
    s.set({"pages", ColumnType::Integer, "pages in the document"});
    s.set({"error", ColumnType::Text, "why the PDF gave no pages (or failed upstream); null when fine"});
    return s;
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const core::Schema& out = ctx.outputSchema();
    const int maxPages = static_cast<int>(p.value("max_pages", int64_t{1000}));
    const int64_t maxBytes = p.value("max_mib", int64_t{64}) << 20;
    const size_t iPage = static_cast<size_t>(out.indexOf("page")), iText = static_cast<size_t>(out.indexOf("text")),
                 iPages = static_cast<size_t>(out.indexOf("pages")), iErr = static_cast<size_t>(out.indexOf("error"));
    constexpr double kSecondsPerPdf = 60;
    std::atomic<int64_t> pagesOut{0}, failed{0};
    ExpandSpec spec;
    spec.batchRows = 16;  // a PDF can be hundreds of pages: keep a batch's rows in memory modest
    spec.perRow = [&](const RowBuffer& row, std::vector<std::vector<core::Value>>& rows) {
      if (!core::isNull(row.values[iErr])) {
        rows.push_back(row.values);
        return;
      }
      auto fail = [&](const std::string& msg) {
        rows.assign(1, row.values);
        rows[0][iErr] = msg;
        failed.fetch_add(1);
      };
      const ObjectRow o = objectOf(out, row);
      if (o.uri.empty()) return fail("no uri in this row");
      auto api = media::codecs();
      if (!api.ok()) return fail(api.error().message);
      if (!(*api)->doc || !(*api)->doc->pdfText) return fail("this build's media codecs module cannot read PDF text");
      auto backend = storage::storageFor(o.uri);
      if (!backend.ok()) return fail(backend.error().message);
      media::ObjectReader reader(backend.value(), o.uri, o.size, maxBytes, kSecondsPerPdf);
      auto pdf = (*api)->doc->pdfText(reader, maxPages, maxBytes);
      if (!pdf.ok()) return fail(pdf.error().message);
      for (size_t i = 0; i < pdf->texts.size(); ++i) {
        rows.push_back(row.values);
        rows.back()[iPage] = static_cast<int64_t>(i + 1);
        rows.back()[iText] = std::move(pdf->texts[i]);
        rows.back()[iPages] = static_cast<int64_t>(pdf->pageCount);
      }
      pagesOut.fetch_add(static_cast<int64_t>(pdf->texts.size()));
    };
    ctx.expandRows(spec);
    ctx.feedback().info(ctx.nodeId() + ": " + std::to_string(pagesOut.load()) + " pages, " +
                        std::to_string(failed.load()) + " PDFs failed");
  }
};

// ---------------------------------------------------------------------------------------------------
// text.chunk

class TextChunk : public NodeType {
 public:
  std::string id() const override { return "text.chunk"; }
  std::string category() const override { return "Text"; }
  std::string title() const override { return "Chunk text"; }
  std::string doc() const override {
    return "Splits a text column into chunks, one output row per chunk: `chunk` (the text), `chunk_index` (from 0 "
           "in each text) and `chunk_start`/`chunk_end`, the chunk's character offsets (Unicode code points) in the "
           "text, so text[chunk_start, chunk_end) is the chunk. unit chars counts characters; unit tokens counts "
           "words and punctuation marks: a token is a run of letters and digits (cut every 16 characters, so "
           "hashes and base64 count as several) or one punctuation or symbol character, and each CJK character is "
           "one; whitespace is not counted. A model's tokenizer usually counts more than this (it splits long and "
           "rare words), so leave a margin. A chunk ends at the best break in the second half of its size: a "
           "blank line, else the end of a sentence, else a line end, else a space; only a text with none of these "
           "is cut at exactly `size`. The next chunk repeats the last `overlap` units, starting at a word. Chunks "
           "are trimmed of surrounding whitespace and never split a character. Example: size 1000, overlap 100, "
           "unit chars: a 2,500-character article gives about three chunks of at most 1,000 characters. A text "
           "that is empty, NULL or only whitespace gives no row. Each chunk row keeps the input's other columns; "
           "the chunked column itself is emptied (NULL) in chunk rows unless keep_text is true, so a long text is not "
           "copied into every chunk. "
           "Errors: a BLOB in the column, or a text that would give over 100,000 chunks (raise size).";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec unit{"unit", ParamType::Enum, "what size and overlap count: chars (characters) or tokens (see above)",
                   false, "chars"};
    unit.choices = {"chars", "tokens"};
    return {{"column", ParamType::String, "the text column to split", false, "text"},
            unit,
            intParam("size", "largest chunk, in units", 1000, 8, 10'000'000),
            intParam("overlap", "units each chunk repeats from the end of the one before; less than size", 0, 0,
                     10'000'000),
            {"keep_text", ParamType::Boolean, "keep the whole text column in every chunk row", false, false}};
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    const std::string column = p.value("column", std::string("text"));
    if (auto r = checkTextColumn("column", column, in[0]); !r.ok()) return r.error();
    if (p.value("overlap", int64_t{0}) >= p.value("size", int64_t{1000}))
      return makeError(ErrorKind::InvalidFlow, "parameter 'overlap' must be less than size (" +
                                                   std::to_string(p.value("size", int64_t{1000})) + ")");
    core::Schema s = in[0];
    s.set({"chunk_index", ColumnType::Integer, "the chunk's number in its text, from 0"});
    s.set({"chunk", ColumnType::Text, "the chunk's text"});
    s.set({"chunk_start", ColumnType::Integer, "offset of the chunk's first character in the text"});
    s.set({"chunk_end", ColumnType::Integer, "offset just past the chunk's last character"});
    s.set({"error", ColumnType::Text, "why the text could not be chunked (or failed upstream); null when fine"});
    return s;
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    const core::Schema& out = ctx.outputSchema();
    const std::string column = p.value("column", std::string("text"));
    text::ChunkOptions o;
    o.unit = p.value("unit", std::string("chars")) == "tokens" ? text::ChunkUnit::Tokens : text::ChunkUnit::Chars;
    o.size = static_cast<size_t>(p.value("size", int64_t{1000}));
    o.overlap = static_cast<size_t>(p.value("overlap", int64_t{0}));
    const size_t iIdx = static_cast<size_t>(out.indexOf("chunk_index")), iChunk = static_cast<size_t>(out.indexOf("chunk")),
                 iStart = static_cast<size_t>(out.indexOf("chunk_start")),
                 iEnd = static_cast<size_t>(out.indexOf("chunk_end")), iErr = static_cast<size_t>(out.indexOf("error"));
    const size_t iText = static_cast<size_t>(out.indexOf(column));
    const bool keepText = p.value("keep_text", false);
    std::atomic<int64_t> chunks{0};
    ExpandSpec spec;
    spec.perRow = [&](const RowBuffer& row, std::vector<std::vector<core::Value>>& rows) {
      expandOne(row.values, row.values[iText], o, column, iIdx, iChunk, iStart, iEnd, iErr, rows);
      if (!keepText)
        for (auto& r : rows)
          if (core::isNull(r[iErr])) r[iText] = std::monostate{};
      chunks.fetch_add(static_cast<int64_t>(rows.size()));
    };
    ctx.expandRows(spec);
    ctx.feedback().info(ctx.nodeId() + ": " + std::to_string(chunks.load()) + " rows out");
  }

 private:
  static void expandOne(const std::vector<core::Value>& base, const core::Value& cell, const text::ChunkOptions& o,
                        const std::string& column, size_t iIdx, size_t iChunk, size_t iStart, size_t iEnd, size_t iErr,
                        std::vector<std::vector<core::Value>>& rows) {
    if (!core::isNull(base[iErr])) {
      rows.push_back(base);
      return;
    }
    std::string t;
    const Cell kind = cellText(cell, t);
    if (kind == Cell::Binary) {
      rows.push_back(base);
      rows.back()[iErr] = "column '" + column + "' holds binary data (a BLOB), not text";
      return;
    }
    if (kind == Cell::Null) return;
    auto chunks = text::chunkText(t, o);
    if (!chunks.ok()) {
      rows.push_back(base);
      rows.back()[iErr] = chunks.error().message;
      return;
    }
    for (size_t k = 0; k < chunks->size(); ++k) {
      auto& c = (*chunks)[k];
      rows.push_back(base);
      auto& r = rows.back();
      r[iIdx] = static_cast<int64_t>(k);
      r[iStart] = static_cast<int64_t>(c.start);
      r[iEnd] = static_cast<int64_t>(c.end);
      r[iChunk] = std::move(c.text);
    }
  }
};


// ---------------------------------------------------------------------------------------------------
// text.regex

// VM steps one row's search may take (about a second): a bound on time that depends only on the text
// and the pattern, so a row over it fails the same way every run.
constexpr int64_t kRegexStepsPerRow = 200'000'000;

class TextRegex : public NodeType {
 public:
  std::string id() const override { return "text.regex"; }
  std::string category() const override { return "Text"; }
  std::string title() const override { return "Regex extract"; }
  std::string doc() const override {
    return "Finds a regular expression in a text column and puts what it captured into columns. Every named group "
           "(?<name>...) becomes a column of that name; or `groups` maps columns to group numbers or names, e.g. "
           "{\"year\": \"1\", \"month\": \"2\"}. `match` holds the whole match and `match_start`/`match_end` its "
           "character offsets. mode first: the first match, one row per input row (no match: the columns are "
           "NULL). mode all: one row per match with `match_index` from 0; a row without any match is kept once "
           "with NULL columns unless keep_unmatched is false. Example: pattern "
           "\"(?<year>\\d{4})-(?<month>\\d{2})-(?<day>\\d{2})\" adds year, month and day. The syntax is Perl's "
           "without backreferences and lookaround: literals, . [a-z] [^...] \\d \\w \\s (and \\D \\W \\S), "
           "^ $ \\b, groups ( ) (?: ) (?<name> ), | and the quantifiers * + ? {n,m} with lazy forms; (?i) (?m) "
           "(?s) at the start. Matching takes time proportional to the text's length times the pattern's, never "
           "more (no catastrophic backtracking), and offsets count Unicode characters. Errors: a pattern that "
           "does not compile or uses unsupported syntax (a validation error naming 'pattern'); a BLOB in the "
           "column; a row whose search needs over 200 million steps (a very long text with a large pattern: chunk "
           "it first).";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec mode{"mode", ParamType::Enum, "first: the first match per row; all: one row per match", false, "first"};
    mode.choices = {"first", "all"};
    return {{"column", ParamType::String, "the text column to search", false, "text"},
            {"pattern", ParamType::String, "the regular expression (syntax above)", true},
            mode,
            {"groups", ParamType::Json,
             "columns to fill from groups: {\"column\": \"group number or name\"}; without it every named group "
             "becomes a column",
             false},
            {"ignore_case", ParamType::Boolean, "match letters regardless of case (ASCII, Latin-1, Greek, Cyrillic)",
             false, false},
            {"keep_unmatched", ParamType::Boolean, "mode all: keep rows without a match once, with NULL columns",
             false, true}};
  }

  struct Plan {
    std::vector<std::pair<std::string, int>> columns;  // output column, group index
  };

  static core::Result<std::pair<text::SafeRegex, Plan>> plan(const Params& p) {
    auto re = text::SafeRegex::compile(p.value("pattern", std::string()), {p.value("ignore_case", false)});
    if (!re.ok()) return makeError(ErrorKind::InvalidFlow, "parameter 'pattern': " + re.error().message);
    Plan plan;
    if (p.contains("groups") && !p["groups"].is_null()) {
      if (!p["groups"].is_object() || p["groups"].empty())
        return makeError(ErrorKind::InvalidFlow, "parameter 'groups' must be an object such as {\"year\": \"1\", "
                                                 "\"month\": \"month\"} (column: group number or name)");
      for (const auto& [col, ref] : p["groups"].items()) {
        const std::string r = ref.is_string() ? ref.get<std::string>() : ref.dump();
        int g = -1;
        if (!r.empty() && r.find_first_not_of("0123456789") == std::string::npos && r.size() < 6) {
          g = std::stoi(r);
          if (g > re->groupCount()) g = -1;
        } else {
          for (int k = 1; k <= re->groupCount(); ++k)
            if (re->groupName(k) == r) g = k;
        }
        if (g < 0)
          return makeError(ErrorKind::InvalidFlow,
                           "parameter 'groups': '" + col + "' refers to group '" + r + "', which the pattern does not "
                           "have (it has " + std::to_string(re->groupCount()) + " groups; 0 is the whole match)");
        plan.columns.emplace_back(col, g);
      }
    } else {
      for (int k = 1; k <= re->groupCount(); ++k)
        if (!re->groupName(k).empty()) plan.columns.emplace_back(re->groupName(k), k);
    }
    return std::pair<text::SafeRegex, Plan>{std::move(re).value(), std::move(plan)};
  }

  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    const std::string column = p.value("column", std::string("text"));
    if (auto r = checkTextColumn("column", column, in[0]); !r.ok()) return r.error();
    auto pl = plan(p);
    if (!pl.ok()) return pl.error();
    const bool all = p.value("mode", std::string("first")) == "all";
    core::Schema s = in[0];
    const std::vector<std::string> own = {"match", "match_start", "match_end", "match_index", "error"};
    for (const auto& [col, g] : pl->second.columns) {
      const std::string param = p.contains("groups") && !p["groups"].is_null() ? "groups" : "pattern";
      if (!core::isValidColumnName(col))
        return makeError(ErrorKind::InvalidFlow, "parameter '" + param + "': '" + col +
                                                     "' is not a column name (letters, digits and '_', not first)");
      if (in[0].has(col) || std::find(own.begin(), own.end(), col) != own.end())
        return makeError(ErrorKind::InvalidFlow, "parameter '" + param + "': column '" + col +
                                                     "' exists already; name the group differently");
      s.set({col, ColumnType::Text, "captured by group " + std::to_string(g)});
    }
    s.set({"match", ColumnType::Text, "the whole match"});
    s.set({"match_start", ColumnType::Integer, "offset of the match's first character in the text"});
    s.set({"match_end", ColumnType::Integer, "offset just past the match"});
    if (all) s.set({"match_index", ColumnType::Integer, "the match's number in its row, from 0"});
    s.set({"error", ColumnType::Text, "why the row could not be searched (or failed upstream); null when fine"});
    return s;
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    const core::Schema& out = ctx.outputSchema();
    auto pl = plan(p).orThrow();
    const text::SafeRegex& re = pl.first;
    std::vector<std::pair<size_t, int>> cols;
    for (const auto& [col, g] : pl.second.columns) cols.emplace_back(static_cast<size_t>(out.indexOf(col)), g);
    const std::string column = p.value("column", std::string("text"));
    const bool all = p.value("mode", std::string("first")) == "all";
    const bool keepUnmatched = p.value("keep_unmatched", true);
    const size_t iText = static_cast<size_t>(out.indexOf(column)), iMatch = static_cast<size_t>(out.indexOf("match")),
                 iStart = static_cast<size_t>(out.indexOf("match_start")),
                 iEnd = static_cast<size_t>(out.indexOf("match_end")), iErr = static_cast<size_t>(out.indexOf("error"));
    const int iIndex = out.indexOf("match_index");
    std::atomic<int64_t> matches{0}, failed{0};
    ExpandSpec spec;
    spec.perRow = [&](const RowBuffer& row, std::vector<std::vector<core::Value>>& rows) {
      if (!core::isNull(row.values[iErr])) {
        rows.push_back(row.values);
        return;
      }
      std::string t;
      const Cell kind = cellText(row.values[iText], t);
      if (kind == Cell::Binary) {
        rows.push_back(row.values);
        rows.back()[iErr] = "column '" + column + "' holds binary data (a BLOB), not text";
        failed.fetch_add(1);
        return;
      }
      std::vector<size_t> offsets;
      const std::u32string cps = text::utf8ToCodePoints(t, &offsets);
      auto piece = [&](int64_t a, int64_t b) {
        return t.substr(offsets[static_cast<size_t>(a)], offsets[static_cast<size_t>(b)] - offsets[static_cast<size_t>(a)]);
      };
      int64_t budget = kRegexStepsPerRow;
      size_t from = 0;
      std::vector<std::vector<core::Value>> found;
      while (kind == Cell::Text && from <= cps.size()) {
        auto m = re.search(cps, from, budget);
        if (!m.ok()) {
          rows.assign(1, row.values);
          rows[0][iErr] = m.error().message;
          failed.fetch_add(1);
          return;
        }
        if (!*m) break;
        const auto& sp = (*m)->spans;
        found.push_back(row.values);
        auto& r = found.back();
        r[iMatch] = piece(sp[0], sp[1]);
        r[iStart] = sp[0];
        r[iEnd] = sp[1];
        if (iIndex >= 0) r[static_cast<size_t>(iIndex)] = static_cast<int64_t>(found.size() - 1);
        for (const auto& [idx, g] : cols) {
          const int64_t a = sp[2 * static_cast<size_t>(g)], b = sp[2 * static_cast<size_t>(g) + 1];
          if (a >= 0 && b >= a) r[idx] = piece(a, b);
        }
        if (!all) break;
        // After an empty match, step one character on so the search moves forward.
        from = static_cast<size_t>(sp[1] > sp[0] ? sp[1] : sp[1] + 1);
      }
      matches.fetch_add(static_cast<int64_t>(found.size()));
      if (found.empty()) {
        if (!all || keepUnmatched) rows.push_back(row.values);
        return;
      }
      for (auto& r : found) rows.push_back(std::move(r));
    };
    ctx.expandRows(spec);
    ctx.feedback().info(ctx.nodeId() + ": " + std::to_string(matches.load()) + " matches, " +
                        std::to_string(failed.load()) + " rows failed");
  }
};

}  // namespace

void addTextNodes(NodeRegistry& registry) {
  registry.add(std::make_shared<TextRead>());
  registry.add(std::make_shared<PdfText>());
  registry.add(std::make_shared<TextChunk>());
  registry.add(std::make_shared<TextRegex>());
}

}  // namespace loom::nodes

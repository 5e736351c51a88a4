// The text nodes (text.read, pdf.text, text.chunk, text.regex) and what they stand on: encoding
// detection and decoding (UTF-8, UTF-16 with and without a BOM, Latin-1, Windows-1252), the chunker,
// and the linear-time regex engine, on texts and PDFs written by the test, broken ones beside them.

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "catalog/catalog.h"
#include "exec/executor.h"
#include "flow/flow.h"
#include "nodes/registry.h"
#include "test_support.h"
#include "text/chunker.h"
#include "text/encoding.h"
#include "text/safe_regex.h"

using namespace loom;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using Row = std::map<std::string, core::Value>;

std::string str(const core::Value& v) { return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : ""; }
int64_t num(const core::Value& v) { return std::holds_alternative<int64_t>(v) ? std::get<int64_t>(v) : -1; }

std::string utf16le(const std::u16string& s) {
  std::string out;
  for (char16_t c : s) {
    out += static_cast<char>(c & 0xFF);
    out += static_cast<char>(c >> 8);
  }
  return out;
}
std::string utf16be(const std::u16string& s) {
  std::string out;
  for (char16_t c : s) {
    out += static_cast<char>(c >> 8);
    out += static_cast<char>(c & 0xFF);
  }
  return out;
}

bool validUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const int n = text::utf8Sequence(s, i);
    if (n <= 0) return false;
    i += static_cast<size_t>(n);
  }
  return true;
}

// A PDF with one page per entry, each showing its text in Helvetica (an empty entry: a page with no
// text layer, like a scan). Offsets in the xref table are computed.
std::string pdfWithPages(const std::vector<std::string>& pages, const std::string& trailerExtra = "") {
  std::vector<std::string> objs = {"<< /Type /Catalog /Pages 2 0 R >>", "",
                                   "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"};
  std::string kids;
  for (const auto& text : pages) {
    const std::string content = text.empty() ? "0 0 1 rg 72 400 300 200 re f" : "BT /F1 18 Tf 72 720 Td (" + text + ") Tj ET";
    objs.push_back("<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content + "\nendstream");
    objs.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents " + std::to_string(objs.size()) +
                   " 0 R /Resources << /Font << /F1 3 0 R >> >> >>");
    kids += std::to_string(objs.size()) + " 0 R ";
  }
  objs[1] = "<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(pages.size()) + " >>";
  std::string out = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objs.size(); ++i) {
    offsets.push_back(out.size());
    out += std::to_string(i + 1) + " 0 obj\n" + objs[i] + "\nendobj\n";
  }
  const size_t xref = out.size();
  out += "xref\n0 " + std::to_string(objs.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t off : offsets) {
    char line[32];
    std::snprintf(line, sizeof line, "%010zu 00000 n \n", off);
    out += line;
  }
  out += "trailer\n<< /Size " + std::to_string(objs.size() + 1) + " /Root 1 0 R " + trailerExtra +
         ">>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return out;
}

// Flows over a folder of files written by each test: storage.list -> nodes... -> dataset.save "out".
class TextNodes : public ::testing::Test {
 protected:
  void SetUp() override { cat = catalog::Catalog::open((dir / "catalog.db").string()).orThrow(); }

  void file(const std::string& name, const std::string& bytes) { test::writeFile(dir / "data" / name, bytes); }

  exec::RunResult run(const std::vector<json>& chain, const std::string& dataset = "out") {
    json nodes = json::array({{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", (dir / "data").string()}}}}});
    json edges = json::array();
    std::string prev = "src";
    for (size_t i = 0; i < chain.size(); ++i) {
      const std::string id = "n" + std::to_string(i);
      nodes.push_back({{"id", id}, {"type", chain[i]["type"]}, {"params", chain[i].value("params", json::object())}});
      edges.push_back({{"from", prev}, {"to", id}});
      prev = id;
    }
    nodes.push_back({{"id", "save"}, {"type", "dataset.save"}, {"params", {{"name", dataset}}}});
    edges.push_back({{"from", prev}, {"to", "save"}});
    json f = {{"format", "loom.flow/1"}, {"name", "text"}, {"nodes", nodes}, {"edges", edges}};
    exec::Executor ex(*cat, nodes::NodeRegistry::builtin());
    core::Feedback quiet;
    return ex.run(flow::parseFlow(f.dump(), (dir / "t.loomflow").string()).orThrow(), exec::RunOptions{}, quiet);
  }

  std::vector<Row> rows(const std::string& dataset = "out") {
    auto v = cat->resolveDataset(dataset).orThrow();
    std::vector<Row> out;
    cat->readRows(v, 0, -1, [&](const std::vector<core::Value>& r) {
      Row m;
      for (size_t i = 0; i < v.schema.size(); ++i) m[v.schema[i].name] = r[i + 1];
      out.push_back(std::move(m));
    });
    return out;
  }
  std::map<std::string, Row> byName(const std::string& dataset = "out") {
    std::map<std::string, Row> m;
    for (auto& r : rows(dataset)) m[str(r.at("name"))] = r;
    return m;
  }

  // The validation message for a flow (empty when it is valid).
  std::string invalid(const std::vector<json>& chain) {
    try {
      run(chain, "invalid");
    } catch (const core::RunError& e) {
      return e.what();
    }
    return {};
  }

  test::TempDir dir;
  std::unique_ptr<catalog::Catalog> cat;
};

// --- encodings ----------------------------------------------------------------------------------

TEST(TextEncoding, DetectsAndDecodesBomsUtf16Utf8Latin1AndWindows1252) {
  auto d = text::decodeToUtf8("\xEF\xBB\xBFhello", false);
  EXPECT_EQ(d.encoding, "utf-8-bom");
  EXPECT_EQ(d.utf8, "hello");
  d = text::decodeToUtf8("\xFF\xFE" + utf16le(u"Grüße \U0001F600"), false);
  EXPECT_EQ(d.encoding, "utf-16le");
  EXPECT_EQ(d.utf8, "Grüße \xF0\x9F\x98\x80") << "a surrogate pair becomes one character";
  d = text::decodeToUtf8(utf16be(u"Plain UTF-16 text without a mark"), false);
  EXPECT_EQ(d.encoding, "utf-16be");
  EXPECT_EQ(d.utf8, "Plain UTF-16 text without a mark");
  d = text::decodeToUtf8(utf16le(u"little endian, no BOM"), false);
  EXPECT_EQ(d.encoding, "utf-16le");
  d = text::decodeToUtf8("Caf\xE9 cr\xE8me", false);
  EXPECT_EQ(d.encoding, "iso-8859-1");
  EXPECT_EQ(d.utf8, "Café crème");
  d = text::decodeToUtf8("\x93quoted\x94 costs \x80 5", false);
  EXPECT_EQ(d.encoding, "windows-1252");
  EXPECT_EQ(d.utf8, "\u201Cquoted\u201D costs \u20AC 5");
  EXPECT_EQ(text::decodeToUtf8("plain", false).encoding, "ascii");
  EXPECT_EQ(text::decodeToUtf8("Zürich", false).encoding, "utf-8");
  // A lone surrogate is replaced, not passed on as invalid UTF-8.
  d = text::decodeToUtf8("\xFF\xFE" + utf16le(u"a") + std::string("\x00\xD8", 2) + utf16le(u"b"), false);
  EXPECT_EQ(d.utf8, "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(d.replaced, 1u);
  // A prefix cut inside a character drops the piece.
  d = text::decodeToUtf8("ab\xC3", true);
  EXPECT_EQ(d.encoding, "ascii");
  EXPECT_EQ(d.utf8, "ab");
}

// --- text.read ----------------------------------------------------------------------------------

TEST_F(TextNodes, ReadDecodesEveryEncodingAndFailsBinaryAndPdfRows) {
  file("utf8.txt", "Grüße aus Zürich ✓\n");
  file("bom8.txt", "\xEF\xBB\xBFwith a mark");
  file("utf16le.txt", "\xFF\xFE" + utf16le(u"Grüße aus Köln"));
  file("utf16be.txt", utf16be(u"big endian text without a byte-order mark"));
  file("latin1.txt", "na\xEFve fa\xE7" "ade");
  file("cp1252.txt", "\x93smart quotes\x94 \x96 dash");
  file("empty.txt", "");
  file("image.png", test::pngBytes(10, 10));
  file("doc.pdf", pdfWithPages({"Hello"}));
  auto r = run({{{"type", "text.read"}}});
  EXPECT_EQ(r.rowsFailed, 2);
  auto m = byName();
  EXPECT_EQ(str(m["utf8.txt"]["text"]), "Grüße aus Zürich ✓\n");
  EXPECT_EQ(str(m["utf8.txt"]["encoding"]), "utf-8");
  EXPECT_EQ(num(m["utf8.txt"]["text_bytes"]), static_cast<int64_t>(std::string("Grüße aus Zürich ✓\n").size()));
  EXPECT_EQ(num(m["utf8.txt"]["text_truncated"]), 0);
  EXPECT_EQ(str(m["bom8.txt"]["text"]), "with a mark");
  EXPECT_EQ(str(m["bom8.txt"]["encoding"]), "utf-8-bom");
  EXPECT_EQ(str(m["utf16le.txt"]["text"]), "Grüße aus Köln");
  EXPECT_EQ(str(m["utf16be.txt"]["text"]), "big endian text without a byte-order mark");
  EXPECT_EQ(str(m["utf16be.txt"]["encoding"]), "utf-16be");
  EXPECT_EQ(str(m["latin1.txt"]["text"]), "naïve façade");
  EXPECT_EQ(str(m["latin1.txt"]["encoding"]), "iso-8859-1");
  EXPECT_EQ(str(m["cp1252.txt"]["text"]), "\u201Csmart quotes\u201D \u2013 dash");
  EXPECT_EQ(str(m["empty.txt"]["text"]), "");
  EXPECT_TRUE(core::isNull(m["empty.txt"]["error"]));
  EXPECT_NE(str(m["image.png"]["error"]).find("binary data"), std::string::npos) << str(m["image.png"]["error"]);
  EXPECT_TRUE(core::isNull(m["image.png"]["text"]));
  EXPECT_NE(str(m["doc.pdf"]["error"]).find("pdf.text"), std::string::npos) << str(m["doc.pdf"]["error"]);
}

TEST_F(TextNodes, ReadCutsLongTextsOnACharacterBoundaryOrFailsThemWhenAsked) {
  std::string longText;
  for (int i = 0; i < 1500; ++i) longText += "é";  // two bytes each
  file("long.txt", longText);
  file("short.txt", "short");
  run({{{"type", "text.read"}, {"params", {{"max_bytes", 1001}}}}});
  auto m = byName();
  const std::string cut = str(m["long.txt"]["text"]);
  EXPECT_EQ(cut.size(), 1000u) << "the half character at byte 1001 is dropped";
  EXPECT_TRUE(validUtf8(cut));
  EXPECT_EQ(num(m["long.txt"]["text_truncated"]), 1);
  EXPECT_EQ(num(m["short.txt"]["text_truncated"]), 0);

  run({{{"type", "text.read"}, {"params", {{"max_bytes", 1001}, {"on_too_long", "error"}}}}}, "strict");
  m = byName("strict");
  EXPECT_NE(str(m["long.txt"]["error"]).find("over max_bytes (1001)"), std::string::npos) << str(m["long.txt"]["error"]);
  EXPECT_EQ(str(m["short.txt"]["text"]), "short");

  const std::string msg = invalid({{{"type", "text.read"}, {"params", {{"max_bytes", 0}}}}});
  EXPECT_NE(msg.find("max_bytes"), std::string::npos) << msg;
}

// --- pdf.text -----------------------------------------------------------------------------------

TEST_F(TextNodes, PdfTextGivesOneRowPerPageAndAnErrorRowForBrokenAndLockedPdfs) {
  file("three.pdf", pdfWithPages({"First page text", "", "Third page (last)"}));
  const std::string good = pdfWithPages({"Cut short"});
  file("truncated.pdf", good.substr(0, good.size() / 2));
  file("garbage.pdf", "%PDF-1.4\nthis is not a PDF at all\n");
  // An encryption dictionary whose /U entry matches no password: poppler refuses it exactly as it
  // refuses a PDF protected by a password the reader does not have.
  file("locked.pdf", pdfWithPages({"Secret"}, "/Encrypt << /Filter /Standard /V 1 /R 2 /O <" + std::string(64, 'a') +
                                                 "> /U <" + std::string(64, 'b') + "> /P -4 >> /ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>] "));
  auto r = run({{{"type", "pdf.text"}}});
  auto all = rows();
  std::map<std::string, std::vector<Row>> byFile;
  for (auto& row : all) byFile[str(row.at("name"))].push_back(row);
  ASSERT_EQ(byFile["three.pdf"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(num(byFile["three.pdf"][static_cast<size_t>(i)]["page"]), i + 1);
    EXPECT_EQ(num(byFile["three.pdf"][static_cast<size_t>(i)]["pages"]), 3);
    EXPECT_TRUE(core::isNull(byFile["three.pdf"][static_cast<size_t>(i)]["error"]));
  }
  EXPECT_NE(str(byFile["three.pdf"][0]["text"]).find("First page text"), std::string::npos) << str(byFile["three.pdf"][0]["text"]);
  EXPECT_EQ(str(byFile["three.pdf"][1]["text"]).find_first_not_of(" \n\f"), std::string::npos) << "no text layer";
  EXPECT_NE(str(byFile["three.pdf"][2]["text"]).find("Third page (last)"), std::string::npos);
  for (const char* bad : {"truncated.pdf", "garbage.pdf", "locked.pdf"}) {
    ASSERT_EQ(byFile[bad].size(), 1u) << bad;
    EXPECT_TRUE(core::isNull(byFile[bad][0]["page"])) << bad;
    EXPECT_FALSE(str(byFile[bad][0]["error"]).empty()) << bad;
  }
  EXPECT_NE(str(byFile["locked.pdf"][0]["error"]).find("password"), std::string::npos) << str(byFile["locked.pdf"][0]["error"]);
  EXPECT_NE(str(byFile["garbage.pdf"][0]["error"]).find("not a readable PDF"), std::string::npos)
      << str(byFile["garbage.pdf"][0]["error"]);
  EXPECT_GE(r.rowsFailed, 2);

  run({{{"type", "pdf.text"}, {"params", {{"max_pages", 2}}}}}, "two");
  int64_t threePages = 0;
  for (auto& row : rows("two"))
    if (str(row.at("name")) == "three.pdf") {
      ++threePages;
      EXPECT_EQ(num(row.at("pages")), 3) << "the page count tells that pages were left out";
    }
  EXPECT_EQ(threePages, 2);
}

// --- text.chunk ---------------------------------------------------------------------------------

TEST(TextChunker, BreaksAtParagraphsThenSentencesThenWordsAndOverlapsFromAWordStart) {
  std::string para;
  for (int i = 0; i < 8; ++i) para += "Sentence number " + std::to_string(i) + " of this paragraph. ";
  const std::string doc = para + "\n\n" + para + "\n\n" + para;  // three paragraphs of ~270 chars
  text::ChunkOptions o;
  o.size = 400;
  auto chunks = text::chunkText(doc, o).value();
  ASSERT_EQ(chunks.size(), 3u);
  const std::u32string cps = text::utf8ToCodePoints(doc);
  for (const auto& c : chunks) {
    EXPECT_LE(c.end - c.start, 400u);
    EXPECT_EQ(text::utf8ToCodePoints(c.text), cps.substr(c.start, c.end - c.start)) << "text[start, end) is the chunk";
    EXPECT_EQ(c.text.back(), '.') << "ends at a paragraph: " << c.text;
  }
  // No paragraph fits: sentences.
  o.size = 120;
  chunks = text::chunkText(para, o).value();
  for (const auto& c : chunks) EXPECT_EQ(c.text.back(), '.') << c.text;
  // Overlap: each chunk starts before the previous one ends, at the start of a word.
  o.size = 100;
  o.overlap = 30;
  chunks = text::chunkText(para, o).value();
  const std::u32string pcps = text::utf8ToCodePoints(para);
  ASSERT_GT(chunks.size(), 3u);
  for (size_t k = 1; k < chunks.size(); ++k) {
    EXPECT_LT(chunks[k].start, chunks[k - 1].end);
    EXPECT_GT(chunks[k].start, chunks[k - 1].start);
    EXPECT_TRUE(pcps[chunks[k].start - 1] == ' ') << "starts at a word: " << chunks[k].text;
    EXPECT_EQ(text::utf8ToCodePoints(chunks[k].text), pcps.substr(chunks[k].start, chunks[k].end - chunks[k].start));
  }
  EXPECT_EQ(chunks.back().end, pcps.size() - 1) << "the last chunk reaches the end (less the trailing space)";
}

TEST(TextChunker, NeverSplitsACharacterCutsUnbrokenTextAtTheSizeAndCountsTokens) {
  std::string cjk;
  for (int i = 0; i < 500; ++i) cjk += "字😀";
  text::ChunkOptions o;
  o.size = 64;
  o.overlap = 8;
  auto chunks = text::chunkText(cjk, o).value();
  for (const auto& c : chunks) {
    EXPECT_TRUE(validUtf8(c.text));
    EXPECT_LE(c.end - c.start, 64u);
  }
  const std::string run(1000, 'x');
  o.overlap = 0;
  chunks = text::chunkText(run, o).value();
  ASSERT_EQ(chunks.size(), 16u);  // 15 of 64 and one of 40
  EXPECT_EQ(chunks[0].text.size(), 64u);
  EXPECT_TRUE(text::chunkText("   \n\n  ", o).value().empty());
  EXPECT_TRUE(text::chunkText("", o).value().empty());

  EXPECT_EQ(text::countTokens("Hello, world!"), 4u);
  EXPECT_EQ(text::countTokens("naïve café: 3.14"), 6u);  // naïve café : 3 . 14
  EXPECT_EQ(text::countTokens(std::string(40, 'a')), 3u);  // cut every 16 characters
  o.unit = text::ChunkUnit::Tokens;
  o.size = 10;
  std::string words;
  for (int i = 0; i < 100; ++i) words += "word" + std::to_string(i) + " ";
  chunks = text::chunkText(words, o).value();
  ASSERT_EQ(chunks.size(), 10u);
  for (const auto& c : chunks) EXPECT_EQ(text::countTokens(c.text), 10u) << c.text;
  o.maxChunks = 5;
  EXPECT_FALSE(text::chunkText(words, o).ok());
}

TEST_F(TextNodes, ChunkNodeGivesRowsPerChunkKeepsErrorRowsAndChecksItsParameters) {
  std::string para;
  for (int i = 0; i < 30; ++i) para += "Line " + std::to_string(i) + " says something. ";
  file("a.txt", para);
  file("blank.txt", "   \n");
  file("bin.dat", std::string("\x00\x01\x02\x03 binary", 11));
  run({{{"type", "text.read"}}, {{"type", "text.chunk"}, {"params", {{"size", 200}, {"overlap", 20}}}}});
  std::map<std::string, std::vector<Row>> byFile;
  for (auto& row : rows()) byFile[str(row.at("name"))].push_back(row);
  ASSERT_GE(byFile["a.txt"].size(), 4u);
  for (size_t k = 0; k < byFile["a.txt"].size(); ++k) {
    const Row& row = byFile["a.txt"][k];
    EXPECT_EQ(num(row.at("chunk_index")), static_cast<int64_t>(k));
    EXPECT_TRUE(core::isNull(row.at("text"))) << "the whole text is not copied into every chunk";
    EXPECT_EQ(str(row.at("chunk")), para.substr(static_cast<size_t>(num(row.at("chunk_start"))),
                                                static_cast<size_t>(num(row.at("chunk_end")) - num(row.at("chunk_start")))));
  }
  EXPECT_EQ(byFile.count("blank.txt"), 0u) << "whitespace gives no chunk";
  ASSERT_EQ(byFile["bin.dat"].size(), 1u) << "a row that failed upstream is kept once";
  EXPECT_NE(str(byFile["bin.dat"][0]["error"]).find("binary"), std::string::npos);

  run({{{"type", "text.read"}}, {{"type", "text.chunk"}, {"params", {{"size", 200}, {"keep_text", true}}}}}, "kept");
  EXPECT_EQ(str(rows("kept")[0].at("text")), para);

  std::string msg = invalid({{{"type", "text.read"}}, {{"type", "text.chunk"}, {"params", {{"size", 100}, {"overlap", 100}}}}});
  EXPECT_NE(msg.find("'overlap'"), std::string::npos) << msg;
  msg = invalid({{{"type", "text.chunk"}, {"params", {{"column", "body"}}}}});
  EXPECT_NE(msg.find("'column'"), std::string::npos) << msg;
  msg = invalid({{{"type", "text.chunk"}, {"params", {{"column", "size"}}}}});
  EXPECT_NE(msg.find("not text"), std::string::npos) << msg;
  msg = invalid({{{"type", "text.read"}}, {{"type", "text.chunk"}, {"params", {{"unit", "words"}}}}});
  EXPECT_NE(msg.find("unit"), std::string::npos) << msg;
}

// --- the regex engine ---------------------------------------------------------------------------

std::vector<std::string> findAll(const std::string& pattern, const std::string& s, bool icase = false) {
  auto re = text::SafeRegex::compile(pattern, {icase}).value();
  std::vector<size_t> off;
  const auto cps = text::utf8ToCodePoints(s, &off);
  std::vector<std::string> out;
  int64_t budget = 1'000'000'000;
  for (size_t from = 0; from <= cps.size();) {
    auto m = re.search(cps, from, budget).value();
    if (!m) break;
    out.push_back(s.substr(off[static_cast<size_t>(m->start())], off[static_cast<size_t>(m->end())] - off[static_cast<size_t>(m->start())]));
    from = static_cast<size_t>(m->end() > m->start() ? m->end() : m->end() + 1);
  }
  return out;
}

TEST(SafeRegex, MatchesLikePerlWithoutBacktracking) {
  using V = std::vector<std::string>;
  EXPECT_EQ(findAll("a|ab", "ab"), V{"a"}) << "leftmost-first, as Perl";
  EXPECT_EQ(findAll("a+", "caaat aa"), (V{"aaa", "aa"}));
  EXPECT_EQ(findAll("<.+?>", "<a><b>"), (V{"<a>", "<b>"}));
  EXPECT_EQ(findAll("<.+>", "<a><b>"), V{"<a><b>"});
  EXPECT_EQ(findAll("\\bcat\\b", "cat concat cat."), (V{"cat", "cat"}));
  EXPECT_EQ(findAll("^\\w+", "first line\nsecond"), V{"first"});
  EXPECT_EQ(findAll("(?m)^\\w+", "first line\nsecond"), (V{"first", "second"}));
  EXPECT_EQ(findAll("\\d{2,3}", "1 12 1234"), (V{"12", "123"}));
  EXPECT_EQ(findAll("[^a-c\\s]+", "abc xyz"), V{"xyz"});
  EXPECT_EQ(findAll("x*", "axb").size(), 4u) << "empty matches advance";
  EXPECT_EQ(findAll("ÉCOLE", "une école", true), V{"école"});
  EXPECT_EQ(findAll("\\w+", "Grüße, мир"), (V{"Grüße", "мир"}));
  EXPECT_EQ(findAll("colou?r", "color colour colouur"), (V{"color", "colour"}));

  auto re = text::SafeRegex::compile("(?<year>\\d{4})-(?<month>\\d\\d)-(\\d\\d)").value();
  EXPECT_EQ(re.groupCount(), 3);
  EXPECT_EQ(re.groupName(1), "year");
  EXPECT_EQ(re.groupName(3), "");
  const auto cps = text::utf8ToCodePoints("née 2024-02-29!");
  int64_t budget = 1'000'000;
  auto m = re.search(cps, 0, budget).value();
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->start(), 4) << "offsets count characters, not bytes";
  EXPECT_EQ(m->spans[2], 4);
  EXPECT_EQ(m->spans[3], 8);
  EXPECT_EQ(m->spans[6], 12);

  // Patterns that make backtracking engines take exponential time or overflow their stack.
  const std::u32string as(30000, U'a');
  for (const char* evil : {"(a+)+$", "(a|aa)*b", "(a*)*b", "(?:a?){30}a{30}"}) {
    auto e = text::SafeRegex::compile(evil).value();
    int64_t b = 1'000'000'000;
    auto r = e.search(as, 0, b);
    ASSERT_TRUE(r.ok()) << evil << ": " << r.error().message;
  }
  // The step budget ends a search that would take too long, as an error, not a hang.
  int64_t tiny = 1000;
  auto over = text::SafeRegex::compile("(a|b)*c").value().search(as, 0, tiny);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message.find("too many steps"), std::string::npos);
}

TEST(SafeRegex, RefusesWhatItCannotDoWithAMessageSayingWhere) {
  for (const auto& [pattern, expected] : std::vector<std::pair<std::string, std::string>>{
           {"(a)\\1", "backreferences"},
           {"foo(?=bar)", "lookaround"},
           {"(?<!x)y", "lookaround"},
           {"(abc", "unclosed group"},
           {"abc)", "unmatched ')'"},
           {"a**", "quantifier follows a quantifier"},
           {"*a", "nothing to repeat"},
           {"[z-a]", "out of order"},
           {"a{5,2}", "m < n"},
           {"a{2000}", "repeat count"},
           {"(?:(?:a{1000}){100})", "too large"},
           {"[abc", "unclosed character class"},
           {"\\q", "unknown escape"},
           {"(?<1x>a)", "group names"},
           {"(?<n>a)(?<n>b)", "used twice"},
           {"a(?i)b", "only at the start"}}) {
    auto r = text::SafeRegex::compile(pattern);
    ASSERT_FALSE(r.ok()) << pattern;
    EXPECT_NE(r.error().message.find(expected), std::string::npos) << pattern << ": " << r.error().message;
    EXPECT_NE(r.error().message.find("at character"), std::string::npos) << r.error().message;
  }
}

TEST_F(TextNodes, RegexNodeExtractsNamedGroupsFirstOrAllAndValidatesThePattern) {
  file("a.txt", "Invoice 2024-03-15, paid 2024-04-01.");
  file("b.txt", "no dates here");
  file("c.txt", "Ünïcödé 1999-12-31");
  const std::string date = "(?<year>\\d{4})-(?<month>\\d{2})-(?<day>\\d{2})";
  run({{{"type", "text.read"}}, {{"type", "text.regex"}, {"params", {{"pattern", date}}}}});
  auto m = byName();
  EXPECT_EQ(str(m["a.txt"]["year"]), "2024");
  EXPECT_EQ(str(m["a.txt"]["month"]), "03");
  EXPECT_EQ(str(m["a.txt"]["match"]), "2024-03-15");
  EXPECT_EQ(num(m["a.txt"]["match_start"]), 8);
  EXPECT_TRUE(core::isNull(m["b.txt"]["match"]));
  EXPECT_TRUE(core::isNull(m["b.txt"]["error"]));
  EXPECT_EQ(num(m["c.txt"]["match_start"]), 8) << "characters, not bytes";

  run({{{"type", "text.read"}}, {{"type", "text.regex"}, {"params", {{"pattern", date}, {"mode", "all"}}}}}, "all");
  std::map<std::string, std::vector<Row>> byFile;
  for (auto& row : rows("all")) byFile[str(row.at("name"))].push_back(row);
  ASSERT_EQ(byFile["a.txt"].size(), 2u);
  EXPECT_EQ(str(byFile["a.txt"][1]["match"]), "2024-04-01");
  EXPECT_EQ(num(byFile["a.txt"][1]["match_index"]), 1);
  ASSERT_EQ(byFile["b.txt"].size(), 1u) << "kept once without a match";
  EXPECT_TRUE(core::isNull(byFile["b.txt"][0]["match_index"]));

  run({{{"type", "text.read"}},
       {{"type", "text.regex"},
        {"params", {{"pattern", "(\\d{4})-(\\d{2})"}, {"mode", "all"}, {"keep_unmatched", false}, {"groups", {{"y", "1"}, {"ym", "0"}}}}}}},
      "mapped");
  auto mapped = rows("mapped");
  EXPECT_EQ(mapped.size(), 3u) << "rows without a match dropped";
  for (auto& row : mapped) EXPECT_EQ(str(row.at("ym")).substr(0, 4), str(row.at("y")));

  std::string msg = invalid({{{"type", "text.read"}}, {{"type", "text.regex"}, {"params", {{"pattern", "(a)\\1"}}}}});
  EXPECT_NE(msg.find("'pattern'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("backreferences"), std::string::npos) << msg;
  msg = invalid({{{"type", "text.read"}}, {{"type", "text.regex"}, {"params", {{"pattern", "(a)"}, {"groups", {{"x", "2"}}}}}}});
  EXPECT_NE(msg.find("'groups'"), std::string::npos) << msg;
  msg = invalid({{{"type", "text.read"}}, {{"type", "text.regex"}, {"params", {{"pattern", "(?<name>a)"}}}}});
  EXPECT_NE(msg.find("exists already"), std::string::npos) << msg;
  msg = invalid({{{"type", "text.read"}}, {{"type", "text.regex"}}});
  EXPECT_NE(msg.find("pattern"), std::string::npos) << msg;
}

}  // namespace

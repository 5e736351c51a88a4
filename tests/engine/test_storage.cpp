// The file:// backend, its glob and its URI helpers, on trees built fresh in a temp folder:
// good files beside symlink loops, dangling links, unreadable folders and non-UTF-8 names.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/feedback.h"
#include "storage/file_storage.h"
#include "storage/glob.h"
#include "storage/storage.h"
#include "storage/uri.h"

namespace ls = loom::storage;
using loom::core::ErrorKind;

namespace {

// A fresh folder under the system temp dir, removed with everything in it afterwards.
class TempTree {
 public:
  TempTree() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "loom_storage_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    m_root = tmpl;
  }
  ~TempTree() {
    // Give locked folders back their permissions, or remove_all cannot get into them.
    std::error_code ec;
    ::chmod((m_root + "/locked").c_str(), 0755);
    std::filesystem::remove_all(m_root, ec);
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  const std::string& root() const { return m_root; }
  std::string path(const std::string& rel) const { return m_root + "/" + rel; }
  std::string uri(const std::string& rel = "") const {
    return ls::fileUriFromPath(rel.empty() ? m_root : m_root + "/" + rel);
  }
  void file(const std::string& rel, const std::string& bytes) const {
    const std::string p = path(rel);
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
  }
  void dir(const std::string& rel) const { std::filesystem::create_directories(path(rel)); }
  void symlink(const std::string& target, const std::string& rel) const {
    ASSERT_EQ(::symlink(target.c_str(), path(rel).c_str()), 0) << rel;
  }

 private:
  std::string m_root;
};

struct Listing {
  loom::core::Result<void> result;
  std::vector<ls::ObjectInfo> objects;

  // Relative paths (decoded from the URIs) of entries without errors, in listed order.
  std::vector<std::string> files(const TempTree& tree) const {
    std::vector<std::string> out;
    for (const auto& o : objects) {
      if (o.error.empty()) out.push_back(relative(tree, o));
    }
    return out;
  }
  std::vector<const ls::ObjectInfo*> errors() const {
    std::vector<const ls::ObjectInfo*> out;
    for (const auto& o : objects) {
      if (!o.error.empty()) out.push_back(&o);
    }
    return out;
  }
  static std::string relative(const TempTree& tree, const ls::ObjectInfo& o) {
    const auto p = ls::pathFromFileUri(o.uri);
    if (!p || p->rfind(tree.root() + "/", 0) != 0) return "<outside: " + o.uri + ">";
    return p->substr(tree.root().size() + 1);
  }
};

Listing listAll(const std::string& uri, const ls::ListOptions& options = {}, loom::core::Feedback* feedback = nullptr,
                const std::function<bool(const ls::ObjectInfo&)>& onEach = nullptr) {
  ls::FileStorage storage;
  std::vector<ls::ObjectInfo> objects;
  auto result = storage.list(
      uri, options,
      [&](ls::ObjectInfo&& info) {
        objects.push_back(std::move(info));
        return onEach ? onEach(objects.back()) : true;
      },
      feedback);
  return Listing{std::move(result), std::move(objects)};
}

ls::ListOptions withGlob(const std::string& glob, bool recursive = true) {
  ls::ListOptions options;
  options.glob = glob;
  options.recursive = recursive;
  return options;
}

// The standard tree most listing tests share.
void buildBasicTree(const TempTree& t) {
  t.file("a.txt", "abc");
  t.file("b/c.jpg", std::string(10, 'x'));
  t.file("b/d/e.jpg", "");
  t.file("z.png", "12345");
  t.file("caf\xe9.txt", "caf\xe9");
  ASSERT_EQ(::mkfifo(t.path("pipe").c_str(), 0644), 0);  // not a data object: must be skipped
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// URIs

TEST(Uri, PercentEncodingKeepsUnreservedAndSlashes) {
  EXPECT_EQ(ls::percentEncodePath("/data/Img-01_v2.final~/x"), "/data/Img-01_v2.final~/x");
  EXPECT_EQ(ls::percentEncodePath("/a b/100%#?.txt"), "/a%20b/100%25%23%3F.txt");
  EXPECT_EQ(ls::percentEncodePath("caf\xe9"), "caf%E9");
  EXPECT_EQ(ls::percentEncodePath("\xc3\xa9"), "%C3%A9");
}

TEST(Uri, FilePathsRoundTripLosslessly) {
  const std::vector<std::string> paths = {
      "/", "/a b/c", "/100%/x#y?z", "/caf\xe9.txt", "/\xe6\x97\xa5\xe6\x9c\xac/img.jpg", "/+&=;,'\"()[]", "/tab\there",
      "/%41",  // a literal "%41" in a name must not come back as "A"
  };
  for (const auto& path : paths) {
    const std::string uri = ls::fileUriFromPath(path);
    EXPECT_TRUE(uri.starts_with("file:///")) << uri;
    EXPECT_EQ(uri.find_first_of(" #?\t"), std::string::npos) << uri;
    const auto back = ls::pathFromFileUri(uri);
    ASSERT_TRUE(back.has_value()) << uri;
    EXPECT_EQ(*back, path);
  }
  EXPECT_EQ(ls::fileUriFromPath("/a b/c"), "file:///a%20b/c");
  EXPECT_EQ(ls::fileUriFromPath("/caf\xe9.txt"), "file:///caf%E9.txt");
}

TEST(Uri, PathFromFileUriAcceptsCommonSpellingsAndRejectsTheRest) {
  EXPECT_EQ(ls::pathFromFileUri("file:///x/y").value_or("?"), "/x/y");
  EXPECT_EQ(ls::pathFromFileUri("file://localhost/x").value_or("?"), "/x");
  EXPECT_EQ(ls::pathFromFileUri("FILE:///X").value_or("?"), "/X");
  EXPECT_EQ(ls::pathFromFileUri("file:/x").value_or("?"), "/x");
  EXPECT_EQ(ls::pathFromFileUri("file:///caf%e9").value_or("?"), "/caf\xe9");
  EXPECT_FALSE(ls::pathFromFileUri("file://fileserver/share/x"));  // remote host
  EXPECT_FALSE(ls::pathFromFileUri("file:relative/x"));
  EXPECT_FALSE(ls::pathFromFileUri("file://"));
  EXPECT_FALSE(ls::pathFromFileUri("s3://bucket/x"));
  EXPECT_FALSE(ls::pathFromFileUri("/plain/path"));
  EXPECT_FALSE(ls::pathFromFileUri("file:///bad%zz"));
  EXPECT_FALSE(ls::pathFromFileUri("file:///trailing%4"));
  EXPECT_FALSE(ls::pathFromFileUri("file:///nul%00byte"));
}

TEST(Uri, PercentDecode) {
  EXPECT_EQ(ls::percentDecode("a%2Fb%20c").value_or("?"), "a/b c");
  EXPECT_EQ(ls::percentDecode("%e9%E9").value_or("?"), "\xe9\xe9");
  EXPECT_EQ(ls::percentDecode("plain").value_or("?"), "plain");
  EXPECT_FALSE(ls::percentDecode("%"));
  EXPECT_FALSE(ls::percentDecode("50%"));
  EXPECT_FALSE(ls::percentDecode("%G1"));
}

TEST(Uri, SanitizeUtf8ReplacesOnlyInvalidBytes) {
  EXPECT_EQ(ls::sanitizeUtf8("plain ascii"), "plain ascii");
  EXPECT_EQ(ls::sanitizeUtf8("caf\xc3\xa9 \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xf0\x9f\x98\x80");  // é and an emoji
  EXPECT_EQ(ls::sanitizeUtf8("caf\xe9.txt"), "caf\xef\xbf\xbd.txt");
  EXPECT_EQ(ls::sanitizeUtf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");  // overlong '/'
  EXPECT_EQ(ls::sanitizeUtf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // UTF-16 surrogate
  EXPECT_EQ(ls::sanitizeUtf8("ok\xe2\x82"), "ok\xef\xbf\xbd\xef\xbf\xbd");  // truncated at the end
  EXPECT_EQ(ls::sanitizeUtf8("\xf4\x90\x80\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // > U+10FFFF
}

TEST(Uri, NormalizeUriTurnsTypedPathsIntoCanonicalUris) {
  EXPECT_EQ(ls::normalizeUri("/data/./x/../y/").value(), "file:///data/y");
  EXPECT_EQ(ls::normalizeUri("  /data/my images\n").value(), "file:///data/my%20images");
  EXPECT_EQ(ls::normalizeUri("/").value(), "file:///");
  EXPECT_EQ(ls::normalizeUri("/../..").value(), "file:///");
  EXPECT_EQ(ls::normalizeUri("//data//x").value(), "file:///data/x");
  EXPECT_EQ(ls::normalizeUri("/data/100%.txt").value(), "file:///data/100%25.txt");

  char* cwd = ::getcwd(nullptr, 0);
  ASSERT_NE(cwd, nullptr);
  const std::string cwdUri = ls::fileUriFromPath(cwd);
  std::free(cwd);
  EXPECT_EQ(ls::normalizeUri("sub/a b").value(), (cwdUri == "file:///" ? "file://" : cwdUri) + "/sub/a%20b");
  EXPECT_EQ(ls::normalizeUri("./x").value(), ls::normalizeUri("x").value());
  EXPECT_EQ(ls::normalizeUri("notes:v2.txt").value(), (cwdUri == "file:///" ? "file://" : cwdUri) + "/notes%3Av2.txt");

  if (const char* home = std::getenv("HOME"); home && home[0] == '/') {
    EXPECT_EQ(ls::normalizeUri("~/pics").value(), ls::normalizeUri(std::string(home) + "/pics").value());
    EXPECT_EQ(ls::normalizeUri("~").value(), ls::normalizeUri(home).value());
  }
  EXPECT_EQ(ls::normalizeUri("~other/x").value(), (cwdUri == "file:///" ? "file://" : cwdUri) + "/~other/x");
}

TEST(Uri, NormalizeUriAcceptsFileUrisAndPassesOtherSchemesThrough) {
  EXPECT_EQ(ls::normalizeUri("file:///a/../b/").value(), "file:///b");
  EXPECT_EQ(ls::normalizeUri("file:/x/y").value(), "file:///x/y");
  EXPECT_EQ(ls::normalizeUri("FILE://localhost/x%20y").value(), "file:///x%20y");
  EXPECT_EQ(ls::normalizeUri("file:///caf%e9").value(), "file:///caf%E9");
  EXPECT_EQ(ls::normalizeUri("S3://bucket/key").value(), "s3://bucket/key");

  for (const char* bad : {"", "   ", "file:///bad%zz", "file://elsewhere/x", "file:relative"}) {
    const auto r = ls::normalizeUri(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind, ErrorKind::InvalidInput) << bad;
    EXPECT_FALSE(r.error().message.empty());
  }
}

TEST(Uri, StorageForPicksTheBackendBySchemeAndNamesUnsupportedSchemes) {
  auto file = ls::storageFor("file:///tmp");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ((*file)->scheme(), "file");
  auto again = ls::storageFor("FILE:///other");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(file->get(), again->get());  // one shared, stateless backend

  // One http(s) backend serves both schemes.
  for (const auto& [uri, scheme] : std::vector<std::pair<std::string, std::string>>{
           {"s3://bucket/key", "s3"}, {"gs://bucket/key", "gs"}, {"az://container/blob", "az"},
           {"https://host/x.jpg", "https"}, {"http://host/x.jpg", "https"}}) {
    auto backend = ls::storageFor(uri);
    ASSERT_TRUE(backend.ok()) << uri;
    EXPECT_EQ((*backend)->scheme(), scheme) << uri;
  }
  auto ftp = ls::storageFor("ftp://host/file");
  ASSERT_FALSE(ftp.ok());
  EXPECT_EQ(ftp.error().kind, ErrorKind::Unsupported);
  EXPECT_NE(ftp.error().message.find("ftp://"), std::string::npos) << ftp.error().message;
  EXPECT_NE(ftp.error().message.find("s3://"), std::string::npos) << ftp.error().message;  // what is supported

  auto plain = ls::storageFor("/just/a/path");
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error().kind, ErrorKind::InvalidInput);
}

// ---------------------------------------------------------------------------------------------
// Glob

TEST(Glob, EmptyPatternMatchesEverything) {
  ls::Glob g("");
  EXPECT_TRUE(g.empty());
  EXPECT_TRUE(g.matches("a/b/c.bin"));
}

TEST(Glob, PatternWithoutSlashMatchesFileNameAtAnyDepth) {
  ls::Glob g("*.jpg");
  EXPECT_TRUE(g.matches("a.jpg"));
  EXPECT_TRUE(g.matches("x/y/a.jpg"));
  EXPECT_FALSE(g.matches("a.jpeg"));
  EXPECT_FALSE(g.matches("a.jpg/b.png"));
  EXPECT_FALSE(g.matches("a.JPG"));  // case-sensitive, like the file system
}

TEST(Glob, StarAndQuestionMarkStayWithinOneFolder) {
  ls::Glob g("raw/*.png");
  EXPECT_TRUE(g.matches("raw/a.png"));
  EXPECT_TRUE(g.matches("raw/.png"));
  EXPECT_FALSE(g.matches("raw/x/a.png"));
  EXPECT_FALSE(g.matches("a.png"));
  EXPECT_FALSE(g.matches("other/raw/a.png"));

  ls::Glob q("img_??.png");
  EXPECT_TRUE(q.matches("img_01.png"));
  EXPECT_FALSE(q.matches("img_1.png"));
  EXPECT_FALSE(ls::Glob("a?b/x").matches("a/b/x"));
}

TEST(Glob, DoubleStarSpansAnyNumberOfFolders) {
  ls::Glob g("**/*.jpg");
  EXPECT_TRUE(g.matches("a.jpg"));
  EXPECT_TRUE(g.matches("x/a.jpg"));
  EXPECT_TRUE(g.matches("x/y/z/a.jpg"));
  EXPECT_FALSE(g.matches("x/y/z/a.png"));

  ls::Glob mid("raw/**/img_?.png");
  EXPECT_TRUE(mid.matches("raw/img_1.png"));
  EXPECT_TRUE(mid.matches("raw/a/b/img_2.png"));
  EXPECT_FALSE(mid.matches("raw/a/img_10.png"));
  EXPECT_FALSE(mid.matches("cooked/raw/img_1.png"));

  ls::Glob tail("raw/**");
  EXPECT_TRUE(tail.matches("raw/a"));
  EXPECT_TRUE(tail.matches("raw/a/b/c"));
  EXPECT_FALSE(tail.matches("rawx/a"));

  EXPECT_TRUE(ls::Glob("raw/").matches("raw/deep/x.bin"));  // trailing slash: everything under it
  EXPECT_TRUE(ls::Glob("a/**/b/**/c").matches("a/x/b/y/z/c"));
  EXPECT_FALSE(ls::Glob("a/**/b/**/c").matches("a/x/y/z/c"));
}

TEST(Glob, BracesExpandIncludingNested) {
  ls::Glob ext("*.{jpg,png}");
  EXPECT_TRUE(ext.matches("a.jpg"));
  EXPECT_TRUE(ext.matches("deep/a.png"));
  EXPECT_FALSE(ext.matches("a.gif"));

  ls::Glob nested("{a,b{1,2}}.txt");
  EXPECT_TRUE(nested.matches("a.txt"));
  EXPECT_TRUE(nested.matches("b1.txt"));
  EXPECT_TRUE(nested.matches("b2.txt"));
  EXPECT_FALSE(nested.matches("b.txt"));

  ls::Glob dirs("{raw,cooked}/*.wav");
  EXPECT_TRUE(dirs.matches("raw/x.wav"));
  EXPECT_TRUE(dirs.matches("cooked/y.wav"));
  EXPECT_FALSE(dirs.matches("other/x.wav"));

  EXPECT_TRUE(ls::Glob("{single}.txt").matches("{single}.txt"));  // no comma: literal, as in bash
  EXPECT_TRUE(ls::Glob("{open.txt").matches("{open.txt"));
}

TEST(Glob, CharacterClasses) {
  ls::Glob digit("img_[0-9].png");
  EXPECT_TRUE(digit.matches("img_5.png"));
  EXPECT_FALSE(digit.matches("img_a.png"));

  ls::Glob notA("[!a]*.txt");
  EXPECT_TRUE(notA.matches("b.txt"));
  EXPECT_FALSE(notA.matches("a.txt"));
  EXPECT_TRUE(ls::Glob("[^a]*.txt").matches("c.txt"));
  EXPECT_FALSE(ls::Glob("[^a]*.txt").matches("a.txt"));

  EXPECT_TRUE(ls::Glob("[]]x").matches("]x"));
  EXPECT_TRUE(ls::Glob("[abc").matches("[abc"));  // unclosed: literal
  EXPECT_FALSE(ls::Glob("[abc").matches("a"));
  EXPECT_TRUE(ls::Glob("[a-c,x]").matches(","));
  EXPECT_TRUE(ls::Glob("caf[\xe9]").matches("caf\xe9"));  // raw bytes, not just ASCII
}

TEST(Glob, BackslashEscapesSpecialCharacters) {
  ls::Glob star("\\*.txt");
  EXPECT_TRUE(star.matches("*.txt"));
  EXPECT_FALSE(star.matches("a.txt"));
  EXPECT_TRUE(ls::Glob("\\{a,b\\}").matches("{a,b}"));
}

TEST(Glob, AdversarialPatternFinishes) {
  // A backtracking matcher would take ages here; the two-pointer match is quadratic at worst.
  const std::string name(2000, 'a');
  EXPECT_FALSE(ls::Glob("*a*a*a*a*a*a*a*a*a*a*b").matches(name));
  EXPECT_TRUE(ls::Glob("*a*a*a*a*a*a*a*a*a*a*a").matches(name));
  ls::Glob many("{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}");  // 1024 alternatives
  EXPECT_TRUE(many.matches("abbabaabab"));
  EXPECT_FALSE(many.matches("abbabaabac"));
}

// ---------------------------------------------------------------------------------------------
// FileStorage

TEST(FileStorage, ListsNestedTreeDepthFirstInNameOrderWithSizes) {
  TempTree t;
  buildBasicTree(t);
  const Listing l = listAll(t.uri());
  ASSERT_TRUE(l.result.ok()) << l.result.error().message;
  EXPECT_TRUE(l.errors().empty());
  EXPECT_EQ(l.files(t), (std::vector<std::string>{"a.txt", "b/c.jpg", "b/d/e.jpg", "caf\xe9.txt", "z.png"}));

  ASSERT_EQ(l.objects.size(), 5u);
  const std::vector<int64_t> sizes = {3, 10, 0, 4, 5};
  for (size_t i = 0; i < l.objects.size(); ++i) {
    const auto& o = l.objects[i];
    EXPECT_EQ(o.size, sizes[i]) << o.uri;
    EXPECT_GT(o.mtimeNs, 1'000'000'000LL * 1'000'000'000LL) << o.uri;  // after 2001: a real time in ns
    EXPECT_FALSE(o.etag.empty());
  }
  EXPECT_EQ(l.objects[0].uri, t.uri() + "/a.txt");
  EXPECT_EQ(l.objects[1].name, "c.jpg");
  // Raw bytes are kept in the URI, the name is made displayable.
  EXPECT_EQ(l.objects[3].uri, t.uri() + "/caf%E9.txt");
  EXPECT_EQ(l.objects[3].name, "caf\xef\xbf\xbd.txt");
}

TEST(FileStorage, TrailingSlashAndRepeatedListingsGiveTheSameResult) {
  TempTree t;
  buildBasicTree(t);
  const Listing a = listAll(t.uri());
  const Listing b = listAll(t.uri() + "/");
  ASSERT_TRUE(a.result.ok() && b.result.ok());
  ASSERT_EQ(a.objects.size(), b.objects.size());
  for (size_t i = 0; i < a.objects.size(); ++i) {
    EXPECT_EQ(a.objects[i].uri, b.objects[i].uri);
    EXPECT_EQ(a.objects[i].etag, b.objects[i].etag);
  }
}

TEST(FileStorage, NonUtf8NameCanBeStatedAndReadThroughItsUri) {
  TempTree t;
  buildBasicTree(t);
  ls::FileStorage storage;
  const std::string uri = t.uri() + "/caf%E9.txt";
  auto info = storage.stat(uri);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->size, 4);
  EXPECT_EQ(info->uri, uri);
  auto bytes = storage.read(uri, 0, -1);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, "caf\xe9");
}

TEST(FileStorage, GlobSelectsByRelativePath) {
  TempTree t;
  buildBasicTree(t);
  EXPECT_EQ(listAll(t.uri(), withGlob("*.jpg")).files(t), (std::vector<std::string>{"b/c.jpg", "b/d/e.jpg"}));
  EXPECT_EQ(listAll(t.uri(), withGlob("b/*.jpg")).files(t), (std::vector<std::string>{"b/c.jpg"}));
  EXPECT_EQ(listAll(t.uri(), withGlob("**/e.jpg")).files(t), (std::vector<std::string>{"b/d/e.jpg"}));
  EXPECT_EQ(listAll(t.uri(), withGlob("*.{txt,png}")).files(t),
            (std::vector<std::string>{"a.txt", "caf\xe9.txt", "z.png"}));
  EXPECT_EQ(listAll(t.uri(), withGlob("caf?.txt")).files(t), (std::vector<std::string>{"caf\xe9.txt"}));
  EXPECT_TRUE(listAll(t.uri(), withGlob("*.gif")).objects.empty());
  // Relative to the prefix, not to the file system root.
  EXPECT_EQ(listAll(t.uri("b"), withGlob("d/*.jpg")).files(t), (std::vector<std::string>{"b/d/e.jpg"}));
}

TEST(FileStorage, NonRecursiveListsOnlyTheTopFolder) {
  TempTree t;
  buildBasicTree(t);
  EXPECT_EQ(listAll(t.uri(), withGlob("", false)).files(t),
            (std::vector<std::string>{"a.txt", "caf\xe9.txt", "z.png"}));
}

TEST(FileStorage, PrefixMayBeASingleFile) {
  TempTree t;
  buildBasicTree(t);
  EXPECT_EQ(listAll(t.uri("b/c.jpg")).files(t), (std::vector<std::string>{"b/c.jpg"}));
  EXPECT_EQ(listAll(t.uri("b/c.jpg"), withGlob("*.jpg")).files(t), (std::vector<std::string>{"b/c.jpg"}));
  const Listing filtered = listAll(t.uri("b/c.jpg"), withGlob("*.png"));
  EXPECT_TRUE(filtered.result.ok());
  EXPECT_TRUE(filtered.objects.empty());
}

TEST(FileStorage, MissingOrInvalidPrefixFailsWithTheReason) {
  TempTree t;
  const Listing missing = listAll(t.uri("no such folder"));
  ASSERT_FALSE(missing.result.ok());
  EXPECT_EQ(missing.result.error().kind, ErrorKind::NotFound);
  EXPECT_NE(missing.result.error().message.find(t.path("no such folder")), std::string::npos)
      << missing.result.error().message;

  const Listing notUri = listAll(t.root());
  ASSERT_FALSE(notUri.result.ok());
  EXPECT_EQ(notUri.result.error().kind, ErrorKind::InvalidInput);
}

TEST(FileStorage, SymlinkToFileIsListedWithTheTargetsSize) {
  TempTree t;
  t.file("data/real.bin", std::string(1234, 'r'));
  t.symlink("data/real.bin", "alias.bin");
  const Listing l = listAll(t.uri());
  ASSERT_TRUE(l.result.ok());
  EXPECT_EQ(l.files(t), (std::vector<std::string>{"alias.bin", "data/real.bin"}));
  EXPECT_EQ(l.objects[0].size, 1234);
  EXPECT_EQ(l.objects[0].name, "alias.bin");
}

TEST(FileStorage, SymlinkedFolderIsFollowedButALoopIsReportedOnce) {
  TempTree t;
  t.file("dir/sub/f.txt", "f");
  t.file("other/x.txt", "x");
  t.symlink("..", "dir/loop");          // back to the root: a loop
  t.symlink("../other", "dir/toOther");  // a sibling: followed
  const Listing l = listAll(t.uri());
  ASSERT_TRUE(l.result.ok()) << l.result.error().message;
  EXPECT_EQ(l.files(t), (std::vector<std::string>{"dir/sub/f.txt", "dir/toOther/x.txt", "other/x.txt"}));
  const auto errors = l.errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]->uri, t.uri("dir/loop"));
  EXPECT_EQ(errors[0]->name, "loop");
  EXPECT_TRUE(errors[0]->error.starts_with("symlink loop: ")) << errors[0]->error;
}

TEST(FileStorage, SelfReferencingSymlinkChainIsReportedNotFatal) {
  TempTree t;
  t.symlink("b", "a");
  t.symlink("a", "b");
  t.file("c.txt", "c");
  const Listing l = listAll(t.uri());
  ASSERT_TRUE(l.result.ok());
  EXPECT_EQ(l.files(t), (std::vector<std::string>{"c.txt"}));
  ASSERT_EQ(l.errors().size(), 2u);
  EXPECT_TRUE(l.errors()[0]->error.starts_with("symlink loop: ")) << l.errors()[0]->error;
}

TEST(FileStorage, BrokenSymlinkIsReportedAndListingContinues) {
  TempTree t;
  t.file("a.txt", "a");
  t.symlink("does/not/exist.jpg", "dangling.jpg");
  t.file("z.txt", "z");
  const Listing l = listAll(t.uri());
  ASSERT_TRUE(l.result.ok());
  EXPECT_EQ(l.files(t), (std::vector<std::string>{"a.txt", "z.txt"}));
  const auto errors = l.errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]->uri, t.uri("dangling.jpg"));
  EXPECT_TRUE(errors[0]->error.starts_with("broken symlink: ")) << errors[0]->error;
  EXPECT_NE(errors[0]->error.find("does/not/exist.jpg"), std::string::npos) << errors[0]->error;
  // A glob that excludes the link's name excludes its error too.
  EXPECT_TRUE(listAll(t.uri(), withGlob("*.txt")).errors().empty());
}

TEST(FileStorage, UnreadableFolderIsReportedAndListingContinues) {
  TempTree t;
  t.file("a.txt", "a");
  t.file("locked/secret.txt", "s");
  t.file("z.txt", "z");
  ASSERT_EQ(::chmod(t.path("locked").c_str(), 0), 0);
  // Root ignores folder permissions, so as root the listing runs in a child process that has dropped
  // to an unprivileged user; the child reports what it saw through its exit code.
  auto check = [&]() -> int {
    const Listing l = listAll(t.uri());
    if (!l.result.ok()) return 10;
    if (l.files(t) != std::vector<std::string>{"a.txt", "z.txt"}) return 11;
    const auto errors = l.errors();
    if (errors.size() != 1u) return 12;
    if (errors[0]->uri != t.uri("locked")) return 13;
    if (!errors[0]->error.starts_with("permission denied: cannot list ")) return 14;
    if (errors[0]->error.find("check the folder's permissions") == std::string::npos) return 15;
    return 0;
  };
  if (::geteuid() != 0) {
    EXPECT_EQ(check(), 0);
    return;
  }
  const uid_t nobody = 65534;
  for (const auto& e : std::filesystem::recursive_directory_iterator(t.path(""),
                                                                    std::filesystem::directory_options::none))
    ASSERT_EQ(::lchown(e.path().c_str(), nobody, nobody), 0);
  ASSERT_EQ(::chown(t.path("").c_str(), nobody, nobody), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(nobody) != 0 || ::setuid(nobody) != 0) ::_exit(20);
    ::_exit(check());
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "exit code says which check failed in the unprivileged child (see above)";
}

TEST(FileStorage, VanishedFolderDuringListingIsReported) {
  TempTree t;
  t.file("a.txt", "a");
  t.file("b/x.txt", "x");
  t.file("c.txt", "c");
  const Listing l = listAll(t.uri(), {}, nullptr, [&](const ls::ObjectInfo& o) {
    if (o.name == "a.txt") std::filesystem::remove_all(t.path("b"));  // after readdir saw "b"
    return true;
  });
  ASSERT_TRUE(l.result.ok());
  EXPECT_EQ(l.files(t), (std::vector<std::string>{"a.txt", "c.txt"}));
  const auto errors = l.errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]->uri, t.uri("b"));
  EXPECT_TRUE(errors[0]->error.starts_with("vanished while listing: ")) << errors[0]->error;
}

TEST(FileStorage, VanishedFileDuringListingIsReported) {
  TempTree t;
  t.file("a.txt", "a");
  t.file("b.txt", "b");
  const Listing l = listAll(t.uri(), {}, nullptr, [&](const ls::ObjectInfo& o) {
    if (o.name == "a.txt") ::unlink(t.path("b.txt").c_str());
    return true;
  });
  ASSERT_TRUE(l.result.ok());
  EXPECT_EQ(l.files(t), (std::vector<std::string>{"a.txt"}));
  ASSERT_EQ(l.errors().size(), 1u);
  EXPECT_EQ(l.errors()[0]->uri, t.uri("b.txt"));
}

TEST(FileStorage, SinkCanStopTheListingEarly) {
  TempTree t;
  buildBasicTree(t);
  int seen = 0;
  const Listing l = listAll(t.uri(), {}, nullptr, [&](const ls::ObjectInfo&) { return ++seen < 2; });
  EXPECT_TRUE(l.result.ok());
  EXPECT_EQ(l.objects.size(), 2u);
}

TEST(FileStorage, CancellationStopsTheListing) {
  TempTree t;
  for (int d = 0; d < 4; ++d) {
    for (int f = 0; f < 300; ++f) t.file("d" + std::to_string(d) + "/f" + std::to_string(f), "");
  }
  loom::core::Feedback feedback;
  const Listing l = listAll(t.uri(), {}, &feedback, [&](const ls::ObjectInfo&) {
    feedback.cancel();
    return true;
  });
  ASSERT_FALSE(l.result.ok());
  EXPECT_EQ(l.result.error().kind, ErrorKind::Cancelled);
  EXPECT_GE(l.objects.size(), 1u);
  EXPECT_LE(l.objects.size(), 300u);  // stopped within one folder's worth, far short of 1200

  loom::core::Feedback already;
  already.cancel();
  const Listing none = listAll(t.uri(), {}, &already);
  ASSERT_FALSE(none.result.ok());
  EXPECT_EQ(none.result.error().kind, ErrorKind::Cancelled);
  EXPECT_TRUE(none.objects.empty());
}

TEST(FileStorage, StatReportsFilesAndExplainsFailures) {
  TempTree t;
  buildBasicTree(t);
  ls::FileStorage storage;
  auto info = storage.stat(t.uri("b/c.jpg"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, 10);
  EXPECT_EQ(info->name, "c.jpg");
  EXPECT_EQ(info->uri, t.uri("b/c.jpg"));
  EXPECT_TRUE(info->error.empty());

  auto missing = storage.stat(t.uri("nope.jpg"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
  EXPECT_NE(missing.error().message.find("nope.jpg"), std::string::npos);

  auto folder = storage.stat(t.uri("b"));
  ASSERT_FALSE(folder.ok());
  EXPECT_EQ(folder.error().kind, ErrorKind::InvalidInput);

  auto pipe = storage.stat(t.uri("pipe"));
  ASSERT_FALSE(pipe.ok());
  EXPECT_EQ(pipe.error().kind, ErrorKind::Unsupported);
}

TEST(FileStorage, EtagChangesWhenTheFileIsRewritten) {
  TempTree t;
  t.file("f.bin", "one");
  ls::FileStorage storage;
  const std::string before = storage.stat(t.uri("f.bin")).value().etag;
  EXPECT_EQ(storage.stat(t.uri("f.bin")).value().etag, before);  // stable while unchanged
  ASSERT_TRUE(storage.write(t.uri("f.bin"), "two").ok());       // same size, new inode
  const std::string after = storage.stat(t.uri("f.bin")).value().etag;
  EXPECT_NE(after, before);
}

TEST(FileStorage, ReadReturnsTheRequestedRange) {
  TempTree t;
  t.file("digits", "0123456789");
  ls::FileStorage storage;
  const std::string uri = t.uri("digits");
  EXPECT_EQ(storage.read(uri, 0, -1).value(), "0123456789");
  EXPECT_EQ(storage.read(uri, 2, 3).value(), "234");
  EXPECT_EQ(storage.read(uri, 8, 100).value(), "89");
  EXPECT_EQ(storage.read(uri, 7, -1).value(), "789");
  EXPECT_EQ(storage.read(uri, 0, 0).value(), "");
  EXPECT_EQ(storage.read(uri, 10, 5).value(), "");
  EXPECT_EQ(storage.read(uri, 50, -1).value(), "");

  auto negative = storage.read(uri, -1, 3);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error().kind, ErrorKind::InvalidInput);

  auto missing = storage.read(t.uri("absent.bin"), 0, -1);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
  EXPECT_NE(missing.error().message.find(t.path("absent.bin")), std::string::npos) << missing.error().message;

  auto folder = storage.read(t.uri(), 0, -1);
  ASSERT_FALSE(folder.ok());
  EXPECT_NE(folder.error().message.find("folder"), std::string::npos) << folder.error().message;
}

TEST(FileStorage, ReadsLargeFilesWhole) {
  TempTree t;
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  t.file("big.bin", big);
  ls::FileStorage storage;
  EXPECT_EQ(storage.read(t.uri("big.bin"), 0, -1).value(), big);
  EXPECT_EQ(storage.read(t.uri("big.bin"), 1'000'000, 200'000).value(), big.substr(1'000'000, 200'000));
}

TEST(FileStorage, WriteCreatesParentsAndLeavesNoTempFiles) {
  TempTree t;
  ls::FileStorage storage;
  const std::string payload(100'000, 'p');
  const std::string uri = t.uri("new/deep/my file #1.bin");
  ASSERT_TRUE(storage.write(uri, payload).ok());
  EXPECT_EQ(storage.read(uri, 0, -1).value(), payload);

  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(t.path("new/deep"))) names.push_back(e.path().filename());
  EXPECT_EQ(names, (std::vector<std::string>{"my file #1.bin"}));
}

TEST(FileStorage, OverwriteKeepsPermissionBits) {
  TempTree t;
  t.file("keep.txt", "old");
  ASSERT_EQ(::chmod(t.path("keep.txt").c_str(), 0640), 0);
  ls::FileStorage storage;
  ASSERT_TRUE(storage.write(t.uri("keep.txt"), "new content").ok());
  EXPECT_EQ(storage.read(t.uri("keep.txt"), 0, -1).value(), "new content");
  struct stat st;
  ASSERT_EQ(::stat(t.path("keep.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST(FileStorage, ConcurrentReadersSeeOldOrNewContentNeverAMix) {
  TempTree t;
  ls::FileStorage storage;
  const std::string uri = t.uri("swap.bin");
  const std::string small(1000, 'a'), large(200'000, 'b');
  ASSERT_TRUE(storage.write(uri, small).ok());
  std::atomic<bool> done{false};
  std::atomic<int> torn{0}, reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      auto r = storage.read(uri, 0, -1);
      if (!r.ok() || (*r != small && *r != large)) ++torn;
      ++reads;
    }
  });
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(storage.write(uri, i % 2 ? small : large).ok());
  done = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(torn.load(), 0);
}

TEST(FileStorage, WriteFailuresNameThePath) {
  TempTree t;
  t.file("plainfile", "x");
  ls::FileStorage storage;
  auto underFile = storage.write(t.uri("plainfile/child.txt"), "x");
  ASSERT_FALSE(underFile.ok());
  EXPECT_NE(underFile.error().message.find("plainfile"), std::string::npos) << underFile.error().message;

  auto folderUri = storage.write(t.uri("newdir") + "/", "x");
  ASSERT_FALSE(folderUri.ok());
  EXPECT_EQ(folderUri.error().kind, ErrorKind::InvalidInput);

  t.dir("existing");
  auto ontoFolder = storage.write(t.uri("existing"), "x");
  ASSERT_FALSE(ontoFolder.ok());
  EXPECT_NE(ontoFolder.error().message.find("folder"), std::string::npos) << ontoFolder.error().message;
}

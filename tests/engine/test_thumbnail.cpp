// Thumbnails: every modality on real files written at run time (ffmpeg, espeak-ng, a hand-written
// PDF), hostile and broken files beside them, the thumbnail cache (hits read nothing, LRU eviction),
// the blob store, and the media.thumbnail node in a flow run twice.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "catalog/blob_store.h"
#include "catalog/catalog.h"
#include "core/hash.h"
#include "exec/executor.h"
#include "flow/flow.h"
#include "media/thumb_cache.h"
#include "media/thumbnail.h"
#include "nodes/registry.h"
#include "storage/storage.h"
#include "test_support.h"

using namespace loom;
using media::ThumbnailKind;

namespace {

namespace fs = std::filesystem;

using loom::test::readFile;

std::string be16(unsigned v) { return {static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)}; }

// A PDF with one US-letter page: a title and a blue rectangle. Offsets in the xref table are computed.
std::string handWrittenPdf() {
  const std::string content = "0 0 1 rg 72 400 300 200 re f BT /F1 36 Tf 0 g 72 700 Td (Loom PDF page) Tj ET";
  std::vector<std::string> objs = {
      "<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
      "<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content + "\nendstream",
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"};
  std::string out = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objs.size(); ++i) {
    offsets.push_back(out.size());
    out += std::to_string(i + 1) + " 0 obj\n" + objs[i] + "\nendobj\n";
  }
  size_t xref = out.size();
  out += "xref\n0 " + std::to_string(objs.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t off : offsets) {
    char line[32];
    std::snprintf(line, sizeof line, "%010zu 00000 n \n", off);
    out += line;
  }
  out += "trailer\n<< /Size " + std::to_string(objs.size() + 1) + " /Root 1 0 R >>\nstartxref\n" +
         std::to_string(xref) + "\n%%EOF\n";
  return out;
}

// Files written once per build tree (good ones in good/, broken in bad/) and reused by every test
// process: ctest runs each test on its own, and ffmpeg takes about a second to write them.
class Fixtures {
 public:
  static Fixtures& get() {
    static Fixtures f;
    return f;
  }
  bool ready() const { return m_ready; }
  fs::path good(const std::string& name) const { return m_root / "good" / name; }
  fs::path bad(const std::string& name) const { return m_root / "bad" / name; }

 private:
  Fixtures() : m_root(fs::path(LOOM_BINARY_DIR) / "test-fixtures" / "thumbnail-2") {
    if (fs::exists(m_root / "complete")) {
      m_ready = true;
      return;
    }
    // Written beside the final folder and renamed into place, so a parallel test process sees all
    // of them or none; the loser of the rename uses the winner's.
    fs::path tmp = m_root.string() + ".tmp-" + std::to_string(getpid());
    std::error_code ec;
    fs::remove_all(tmp, ec);
    if (!write(tmp)) {
      fs::remove_all(tmp, ec);
      return;
    }
    test::writeFile(tmp / "complete", "");
    fs::rename(tmp, m_root, ec);
    if (ec) fs::remove_all(tmp, ec);
    m_ready = fs::exists(m_root / "complete");
  }

  static bool write(const fs::path& root) {
    fs::create_directories(root / "good");
    fs::create_directories(root / "bad");
    auto good = [&](const std::string& n) { return root / "good" / n; };
    auto bad = [&](const std::string& n) { return root / "bad" / n; };
    auto sh = [&](const std::string& cmd) {
      return std::system(("cd '" + (root / "good").string() + "' && " + cmd + " >/dev/null 2>&1").c_str()) == 0;
    };
    bool ok = sh("ffmpeg -v error -f lavfi -i testsrc2=size=4000x3000:rate=1 -frames:v 1 -q:v 3 big.jpg") &&
              sh("ffmpeg -v error -f lavfi -i testsrc2=size=640x480:rate=1 -frames:v 1 landscape.jpg") &&
              sh("ffmpeg -v error -f lavfi -i 'color=c=red@0.5:size=300x200,format=rgba' -frames:v 1 alpha.png") &&
              // The first second is black: a thumbnailer that takes the first frame shows nothing.
              sh("ffmpeg -v error -f lavfi -i color=c=black:size=320x240:duration=1:rate=25 "
                 "-f lavfi -i testsrc2=size=320x240:duration=2:rate=25 -filter_complex '[0][1]concat=n=2:v=1' "
                 "-pix_fmt yuv420p -g 25 video.mp4") &&
              sh("ffmpeg -v error -f lavfi -i testsrc2=size=200x150:rate=5:duration=2 anim.gif") &&
              sh("espeak-ng -w speech.wav 'hello thumbnail, one two three'");
    if (!ok) return false;
    // EXIF orientation 6 (rotate 90° clockwise to display): an APP1 segment after SOI.
    std::string jpg = readFile(good("landscape.jpg"));
    std::string tiff = std::string("MM\0\x2a\0\0\0\x08", 8) + std::string("\0\x01", 2) +
                       std::string("\x01\x12\0\x03\0\0\0\x01\0\x06\0\0", 12) + std::string(4, '\0');
    std::string app1 = std::string("Exif\0\0", 6) + tiff;
    test::writeFile(good("rotated6.jpg"), jpg.substr(0, 2) + "\xFF\xE1" + be16(static_cast<unsigned>(app1.size() + 2)) +
                                              app1 + jpg.substr(2));
    test::writeFile(good("doc.pdf"), handWrittenPdf());
    test::writeFile(good("notes.txt"), "Hello, thumbnails\nSecond line: ünïcödé ✓\n\tindented\n");

    std::string big = readFile(good("big.jpg"));
    test::writeFile(bad("truncated.jpg"), big.substr(0, big.size() / 2));
    test::writeFile(bad("zero.jpg"), "");
    std::mt19937 rng(7);
    std::string noise(64 * 1024, '\0');
    for (auto& c : noise) c = static_cast<char>(rng());
    test::writeFile(bad("random.mp4"), noise);
    test::writeFile(bad("huge.png"), test::pngBytes(50000, 50000));
    // The real JPEG with its frame header patched to claim 50000 x 50000.
    std::string huge = jpg;
    size_t sof = huge.find("\xFF\xC0");
    huge.replace(sof + 5, 4, be16(50000) + be16(50000));
    test::writeFile(bad("huge.jpg"), huge);
    return true;
  }

  fs::path m_root;
  bool m_ready = false;
};

struct Made {
  core::Result<media::Thumbnail> thumb;
  int64_t bytesRead = 0;
};

Made thumbnail(const fs::path& file, ThumbnailKind kind = ThumbnailKind::Auto, int size = 256, int frames = 8,
               media::MediaLimits limits = {}) {
  std::string uri = "file://" + file.string();
  media::ObjectReader reader(storage::storageFor(uri).value(), uri, -1, limits.maxPreviewBytes, limits.maxSeconds);
  media::ThumbnailRequest req;
  req.kind = kind;
  req.maxSide = size;
  req.frames = frames;
  auto t = media::makeThumbnail(reader, "", file.filename().string(), req, limits);
  return {std::move(t), reader.bytesRead()};
}

cv::Mat decode(const media::Thumbnail& t, int flags = cv::IMREAD_COLOR) {
  return cv::imdecode(cv::Mat(1, static_cast<int>(t.bytes.size()), CV_8U, const_cast<char*>(t.bytes.data())), flags);
}

double meanLuma(const cv::Mat& bgr) {
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  return cv::mean(gray)[0];
}

#define REQUIRE_FIXTURES() \
  if (!Fixtures::get().ready()) GTEST_SKIP() << "ffmpeg or espeak-ng missing: cannot write the fixtures"

}  // namespace

TEST(Thumbnail, LargeJpegGetsRequestedLongestSideWithAspectKept) {
  REQUIRE_FIXTURES();
  auto m = thumbnail(Fixtures::get().good("big.jpg"));
  ASSERT_TRUE(m.thumb.ok()) << m.thumb.error().message;
  EXPECT_EQ(m.thumb->mime, "image/jpeg");
  EXPECT_EQ(m.thumb->kind, ThumbnailKind::Image);
  cv::Mat img = decode(*m.thumb);
  EXPECT_EQ(img.cols, 256);
  EXPECT_EQ(img.rows, 192);  // 4000 x 3000 is 4:3
  EXPECT_EQ(m.thumb->width, 256);
  EXPECT_EQ(m.thumb->height, 192);
}

TEST(Thumbnail, ExifOrientation6PhotoGivesPortraitThumbnailTurnedClockwise) {
  REQUIRE_FIXTURES();
  auto rotated = thumbnail(Fixtures::get().good("rotated6.jpg"));
  auto plain = thumbnail(Fixtures::get().good("landscape.jpg"));
  ASSERT_TRUE(rotated.thumb.ok()) << rotated.thumb.error().message;
  ASSERT_TRUE(plain.thumb.ok()) << plain.thumb.error().message;
  EXPECT_EQ(rotated.thumb->width, 192);
  EXPECT_EQ(rotated.thumb->height, 256);
  // The same picture, turned a quarter clockwise (not anticlockwise, not mirrored).
  cv::Mat expected;
  cv::rotate(decode(*plain.thumb), expected, cv::ROTATE_90_CLOCKWISE);
  cv::Mat got = decode(*rotated.thumb), wrong;
  cv::rotate(decode(*plain.thumb), wrong, cv::ROTATE_90_COUNTERCLOCKWISE);
  ASSERT_EQ(got.size(), expected.size());
  double diff = cv::norm(got, expected, cv::NORM_L1) / static_cast<double>(got.total());
  double diffWrong = cv::norm(got, wrong, cv::NORM_L1) / static_cast<double>(got.total());
  EXPECT_LT(diff, diffWrong / 4) << diff << " vs " << diffWrong;
}

TEST(Thumbnail, PngWithAlphaStaysTransparentPng) {
  REQUIRE_FIXTURES();
  auto m = thumbnail(Fixtures::get().good("alpha.png"), ThumbnailKind::Auto, 150);
  ASSERT_TRUE(m.thumb.ok()) << m.thumb.error().message;
  EXPECT_EQ(m.thumb->mime, "image/png");
  cv::Mat img = decode(*m.thumb, cv::IMREAD_UNCHANGED);
  ASSERT_EQ(img.channels(), 4);
  EXPECT_EQ(img.cols, 150);
  EXPECT_EQ(img.rows, 100);
  cv::Scalar mean = cv::mean(img);
  EXPECT_NEAR(mean[3], 128, 2);  // half transparent, as drawn
  EXPECT_GT(mean[2], 200);       // red
}

TEST(Thumbnail, AnimatedGifGivesAFrameAtItsOwnSize) {
  REQUIRE_FIXTURES();
  auto m = thumbnail(Fixtures::get().good("anim.gif"));
  ASSERT_TRUE(m.thumb.ok()) << m.thumb.error().message;
  EXPECT_EQ(m.thumb->kind, ThumbnailKind::Image);
  cv::Mat img = decode(*m.thumb);
  EXPECT_EQ(img.cols, 200);  // smaller than asked: not enlarged
  EXPECT_EQ(img.rows, 150);
  EXPECT_GT(meanLuma(img), media::kBlackFrameLuma);
}

TEST(Thumbnail, VideoFrameSkipsTheBlackOpening) {
  REQUIRE_FIXTURES();
  auto m = thumbnail(Fixtures::get().good("video.mp4"));
  ASSERT_TRUE(m.thumb.ok()) << m.thumb.error().message;
  EXPECT_EQ(m.thumb->kind, ThumbnailKind::Frame);
  cv::Mat img = decode(*m.thumb);
  EXPECT_EQ(img.cols, 256);
  EXPECT_EQ(img.rows, 192);
  EXPECT_GT(meanLuma(img), media::kBlackFrameLuma);
}

TEST(Thumbnail, StripHasTheRequestedNumberOfFramesSideBySide) {
  REQUIRE_FIXTURES();
  auto m = thumbnail(Fixtures::get().good("video.mp4"), ThumbnailKind::Strip, 64, 6);
  ASSERT_TRUE(m.thumb.ok()) << m.thumb.error().message;
  cv::Mat img = decode(*m.thumb);
  EXPECT_EQ(img.cols, 6 * 64);
  EXPECT_EQ(img.rows, 48);
  // Frames at 0.25 s and 0.75 s are in the black opening; the last ones are not.
  EXPECT_LT(meanLuma(img(cv::Rect(0, 0, 64, 48))), media::kBlackFrameLuma);
  EXPECT_GT(meanLuma(img(cv::Rect(5 * 64, 0, 64, 48))), media::kBlackFrameLuma);
}

TEST(Thumbnail, AudioWaveformIsDrawnAndNotBlank) {
  REQUIRE_FIXTURES();
  auto m = thumbnail(Fixtures::get().good("speech.wav"));
  ASSERT_TRUE(m.thumb.ok()) << m.thumb.error().message;
  EXPECT_EQ(m.thumb->kind, ThumbnailKind::Waveform);
  cv::Mat img = decode(*m.thumb);
  EXPECT_EQ(img.cols, 256);
  EXPECT_EQ(img.rows, 128);
  // Columns with ink well above or below the centre line: the speech, not silence.
  cv::Mat gray;
  cv::cvtColor(img, gray, cv::COLOR_BGR2GRAY);
  int loud = 0;
  for (int x = 0; x < gray.cols; ++x)
    if (gray.at<uchar>(gray.rows / 4, x) < 160) ++loud;
  EXPECT_GT(loud, 10);
}

TEST(Thumbnail, PdfFirstPageIsRendered) {
  REQUIRE_FIXTURES();
  auto m = thumbnail(Fixtures::get().good("doc.pdf"));
  ASSERT_TRUE(m.thumb.ok()) << m.thumb.error().message;
  EXPECT_EQ(m.thumb->kind, ThumbnailKind::Page);
  cv::Mat img = decode(*m.thumb);
  EXPECT_EQ(img.rows, 256);             // letter is portrait
  EXPECT_NEAR(img.cols, 256 * 612 / 792, 1);
  cv::Mat blue;
  cv::inRange(img, cv::Scalar(150, 0, 0), cv::Scalar(255, 90, 90), blue);
  EXPECT_GT(cv::countNonZero(blue), 1000);  // the rectangle drawn on the page
}

TEST(Thumbnail, TextShowsItsFirstLines) {
  REQUIRE_FIXTURES();
  auto m = thumbnail(Fixtures::get().good("notes.txt"));
  ASSERT_TRUE(m.thumb.ok()) << m.thumb.error().message;
  EXPECT_EQ(m.thumb->kind, ThumbnailKind::Text);
  EXPECT_EQ(m.thumb->mime, "image/png");
  cv::Mat gray = decode(*m.thumb, cv::IMREAD_GRAYSCALE);
  EXPECT_EQ(gray.cols, 256);
  cv::Mat ink = gray < 128;
  EXPECT_GT(cv::countNonZero(ink(cv::Rect(0, 0, 256, 64))), 200);  // three lines at the top
  EXPECT_EQ(cv::countNonZero(ink(cv::Rect(0, 128, 256, 128))), 0);  // nothing below them
}

TEST(Thumbnail, BrokenAndHostileFilesGiveAnErrorNamingFileAndReason) {
  REQUIRE_FIXTURES();
  auto& f = Fixtures::get();
  test::TempDir scratch;
  struct Case {
    fs::path file;
    ThumbnailKind kind;
    std::string reason;
  };
  std::vector<Case> cases = {
      {f.bad("truncated.jpg"), ThumbnailKind::Auto, "truncated"},
      {f.bad("zero.jpg"), ThumbnailKind::Auto, "empty"},
      {f.bad("random.mp4"), ThumbnailKind::Auto, "no thumbnail for"},
      {f.bad("random.mp4"), ThumbnailKind::Frame, "not a readable audio/video file"},
      {f.bad("random.mp4"), ThumbnailKind::Waveform, "not a readable audio/video file"},
      {f.bad("huge.png"), ThumbnailKind::Auto, "50000 x 50000 pixels, over the limit of 200000000"},
      {f.bad("huge.jpg"), ThumbnailKind::Auto, "50000 x 50000 pixels, over the limit of 200000000"},
      {scratch / "vanished.jpg", ThumbnailKind::Auto, "does not exist"},
  };
  // Listed, then deleted before thumbnailing.
  test::writeFile(scratch / "vanished.jpg", readFile(f.good("landscape.jpg")));
  fs::remove(scratch / "vanished.jpg");
  for (const auto& c : cases) {
    auto m = thumbnail(c.file, c.kind);
    ASSERT_FALSE(m.thumb.ok()) << c.file;
    EXPECT_NE(m.thumb.error().message.find(c.file.filename().string()), std::string::npos) << m.thumb.error().message;
    EXPECT_NE(m.thumb.error().message.find(c.reason), std::string::npos) << m.thumb.error().message;
  }
  // The hostile headers were refused before their pixel data was read.
  EXPECT_LE(thumbnail(f.bad("huge.jpg")).bytesRead, 256 * 1024);
}

TEST(Thumbnail, ByteBudgetStopsAReadAndSaysSo) {
  REQUIRE_FIXTURES();
  media::MediaLimits limits;
  limits.maxPreviewBytes = 100 * 1024;  // less than the 4000 x 3000 JPEG
  auto m = thumbnail(Fixtures::get().good("big.jpg"), ThumbnailKind::Auto, 256, 8, limits);
  ASSERT_FALSE(m.thumb.ok());
  EXPECT_NE(m.thumb.error().message.find("read limit"), std::string::npos) << m.thumb.error().message;
  EXPECT_LE(m.bytesRead, limits.maxPreviewBytes);
}

TEST(Thumbnail, TimeLimitPerFileStopsWorkAndSaysSo) {
  REQUIRE_FIXTURES();
  media::MediaLimits limits;
  limits.maxSeconds = 0;  // already past: every read is refused
  auto m = thumbnail(Fixtures::get().good("video.mp4"), ThumbnailKind::Frame, 256, 8, limits);
  ASSERT_FALSE(m.thumb.ok());
  EXPECT_NE(m.thumb.error().message.find("video.mp4"), std::string::npos) << m.thumb.error().message;
  EXPECT_NE(m.thumb.error().message.find("time limit"), std::string::npos) << m.thumb.error().message;
  EXPECT_EQ(m.bytesRead, 0);
}

TEST(ThumbCache, SecondCallIsServedFromTheCacheWithoutReadingTheObject) {
  REQUIRE_FIXTURES();
  test::TempDir dir;
  media::ThumbCache cache(dir.str(), 64 * 1024 * 1024);
  const std::string uri = "file://" + Fixtures::get().good("big.jpg").string();
  auto backend = storage::storageFor(uri).value();
  auto etag = backend->stat(uri).value().etag;
  media::MediaLimits limits;
  media::ThumbnailRequest req;
  media::ObjectReader first(backend, uri, -1, limits.maxPreviewBytes, limits.maxSeconds);
  auto a = media::cachedThumbnail(&cache, first, etag, "", "big.jpg", req, limits);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_FALSE(a->cached);
  EXPECT_GT(first.bytesRead(), 0);

  media::ObjectReader second(backend, uri, -1, limits.maxPreviewBytes, limits.maxSeconds);
  auto b = media::cachedThumbnail(&cache, second, etag, "", "big.jpg", req, limits);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_TRUE(b->cached);
  EXPECT_EQ(second.bytesRead(), 0);
  EXPECT_EQ(b->thumbnail.bytes, a->thumbnail.bytes);
  EXPECT_EQ(b->thumbnail.width, 256);
  EXPECT_EQ(b->thumbnail.height, 192);
  EXPECT_EQ(b->thumbnail.kind, ThumbnailKind::Image);

  // A changed object (new etag) or another size is made afresh.
  media::ObjectReader third(backend, uri, -1, limits.maxPreviewBytes, limits.maxSeconds);
  auto c = media::cachedThumbnail(&cache, third, etag + "-changed", "", "big.jpg", req, limits);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->cached);
  req.maxSide = 64;
  media::ObjectReader fourth(backend, uri, -1, limits.maxPreviewBytes, limits.maxSeconds);
  auto d = media::cachedThumbnail(&cache, fourth, etag, "", "big.jpg", req, limits);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->cached);
  EXPECT_EQ(d->thumbnail.width, 64);
}

TEST(ThumbCache, EvictsLeastRecentlyUsedAndStaysUnderItsLimit) {
  REQUIRE_FIXTURES();
  test::TempDir dir;
  auto m = thumbnail(Fixtures::get().good("landscape.jpg"), ThumbnailKind::Auto, 64);
  ASSERT_TRUE(m.thumb.ok());
  const int64_t entry = static_cast<int64_t>(m.thumb->bytes.size());
  const int64_t limit = entry * 7 / 2;  // room for three entries, not four
  media::ThumbCache cache(dir.str(), limit);
  ASSERT_TRUE(cache.put("aaaaaaaaaaaa", *m.thumb).ok());
  ASSERT_TRUE(cache.put("bbbbbbbbbbbb", *m.thumb).ok());
  ASSERT_TRUE(cache.put("cccccccccccc", *m.thumb).ok());
  EXPECT_TRUE(cache.get("aaaaaaaaaaaa").has_value());  // a is now more recent than b
  ASSERT_TRUE(cache.put("dddddddddddd", *m.thumb).ok());
  EXPECT_LE(cache.diskBytes(), limit);
  EXPECT_FALSE(cache.get("bbbbbbbbbbbb").has_value());  // least recently used
  EXPECT_TRUE(cache.get("aaaaaaaaaaaa").has_value());
  EXPECT_TRUE(cache.get("cccccccccccc").has_value());
  EXPECT_TRUE(cache.get("dddddddddddd").has_value());
}

TEST(BlobStore, PutIsContentAddressedAndIdempotent) {
  test::TempDir dir;
  catalog::BlobStore blobs((dir / "blobs").string());
  auto h = blobs.put("thumbnail bytes");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, core::sha256Hex("thumbnail bytes"));
  EXPECT_EQ(blobs.put("thumbnail bytes").value(), *h);
  EXPECT_TRUE(fs::is_regular_file(blobs.pathOf(*h)));
  EXPECT_EQ(blobs.pathOf(*h), (dir / "blobs" / h->substr(0, 2) / *h).string());
  EXPECT_EQ(blobs.get(*h).value(), "thumbnail bytes");
  EXPECT_FALSE(blobs.get("../../etc/passwd").ok());
}

namespace {

class Infos : public core::Feedback {
 public:
  void info(const std::string& m) override { messages.push_back(m); }
  std::vector<std::string> messages;
};

}  // namespace

TEST(ThumbnailNode, FlowRunTwiceComputesNothingTheSecondTimeAndBlobsExist) {
  REQUIRE_FIXTURES();
  test::TempDir dir;
  setenv("LOOM_THUMBNAIL_CACHE", (dir / "cache").c_str(), 1);
  auto& f = Fixtures::get();
  // Good files of every modality plus one broken file, in one folder.
  fs::path data = dir / "data";
  fs::create_directories(data);
  for (auto name : {"landscape.jpg", "alpha.png", "video.mp4", "speech.wav", "doc.pdf", "notes.txt"})
    fs::copy_file(f.good(name), data / name);
  fs::copy_file(f.bad("huge.png"), data / "huge.png");
  nlohmann::json j = {
      {"format", "loom.flow/1"},
      {"name", "thumbs"},
      {"nodes",
       {{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", data.string()}}}},
        {{"id", "thumb"}, {"type", "media.thumbnail"}, {"params", {{"size", 128}}}},
        {{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", "thumbs"}}}}}},
      {"edges", {{{"from", "src"}, {"to", "thumb"}}, {{"from", "thumb"}, {"to", "out"}}}}};
  flow::Flow flow = flow::parseFlow(j.dump(), "t").orThrow();

  auto runOn = [&](catalog::Catalog& cat, Infos& fb) {
    exec::Executor ex(cat, nodes::NodeRegistry::builtin());
    return ex.run(flow, exec::RunOptions{}, fb);
  };
  auto cat = catalog::Catalog::open((dir / "catalog.db").string()).orThrow();
  Infos fb1;
  auto r1 = runOn(*cat, fb1);
  EXPECT_EQ(r1.status, "succeeded");
  EXPECT_EQ(r1.rowsFailed, 1);  // the 50000 x 50000 PNG
  auto has = [](const Infos& fb, const std::string& s) {
    for (const auto& m : fb.messages)
      if (m.find(s) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has(fb1, "6 thumbnails made, 0 from the cache")) << ::testing::PrintToString(fb1.messages);

  // The dataset references blobs that exist, are recorded in the catalog and decode to 128 px.
  auto v = cat->resolveDataset("thumbs").orThrow();
  const int iThumb = v.schema.indexOf("thumbnail"), iW = v.schema.indexOf("thumb_width"),
            iH = v.schema.indexOf("thumb_height"), iErr = v.schema.indexOf("error"), iName = v.schema.indexOf("name");
  ASSERT_GE(iThumb, 0);
  auto blobs = catalog::BlobStore::forCatalog(*cat);
  std::set<std::string> hashes;
  cat->readRows(v, 0, -1, [&](const std::vector<core::Value>& row) {
    const auto& name = std::get<std::string>(row[static_cast<size_t>(iName) + 1]);
    if (name == "huge.png") {
      EXPECT_NE(std::get<std::string>(row[static_cast<size_t>(iErr) + 1]).find("huge.png"), std::string::npos);
      EXPECT_TRUE(core::isNull(row[static_cast<size_t>(iThumb) + 1]));
      return;
    }
    ASSERT_TRUE(core::isNull(row[static_cast<size_t>(iErr) + 1])) << std::get<std::string>(row[static_cast<size_t>(iErr) + 1]);
    const auto& hash = std::get<std::string>(row[static_cast<size_t>(iThumb) + 1]);
    hashes.insert(hash);
    ASSERT_TRUE(blobs.contains(hash)) << name;
    std::string bytes = blobs.get(hash).value();
    EXPECT_EQ(core::sha256Hex(bytes), hash);
    cv::Mat img = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, bytes.data()), cv::IMREAD_UNCHANGED);
    EXPECT_EQ(std::max(img.cols, img.rows), 128) << name;
    EXPECT_EQ(std::get<int64_t>(row[static_cast<size_t>(iW) + 1]), img.cols);
    EXPECT_EQ(std::get<int64_t>(row[static_cast<size_t>(iH) + 1]), img.rows);
  });
  EXPECT_EQ(hashes.size(), 6u);
  {
    auto count = cat->db().prepare("SELECT count(*) FROM blobs");
    ASSERT_TRUE(count.step());
    EXPECT_EQ(count.int64(0), 6);
  }

  // Second run on the same catalog: the node's output is reused, nothing is computed.
  Infos fb2;
  auto r2 = runOn(*cat, fb2);
  for (const auto& n : r2.nodes) EXPECT_EQ(n.status, "cached") << n.id;

  // A new catalog over the same files: every thumbnail comes from the user's cache, and the new
  // catalog gets its own blobs.
  auto other = catalog::Catalog::open((dir / "other.db").string()).orThrow();
  Infos fb3;
  auto r3 = runOn(*other, fb3);
  EXPECT_EQ(r3.status, "succeeded");
  EXPECT_TRUE(has(fb3, "0 thumbnails made, 6 from the cache")) << ::testing::PrintToString(fb3.messages);
  auto otherBlobs = catalog::BlobStore::forCatalog(*other);
  for (const auto& h : hashes) EXPECT_TRUE(otherBlobs.contains(h));
  unsetenv("LOOM_THUMBNAIL_CACHE");
}

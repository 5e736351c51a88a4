// Probing: MIME sniffing and header-only image sizes, on real images written by ffmpeg at run time
// and on hand-built broken and hostile headers.

#include "media/probe.h"
#include "test_support.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using loom::core::ErrorKind;
using loom::media::imageSize;
using loom::media::kProbeHeadBytes;
using loom::media::probeBytes;
using loom::media::ProbeResult;

constexpr int64_t kWidth = 320;
constexpr int64_t kHeight = 240;

using loom::test::readFile;

std::string headOf(const std::string& bytes) { return bytes.substr(0, static_cast<size_t>(kProbeHeadBytes)); }

void putLe16(std::string& s, size_t at, uint32_t v) {
  s[at] = static_cast<char>(v & 0xFF);
  s[at + 1] = static_cast<char>((v >> 8) & 0xFF);
}
void putLe32(std::string& s, size_t at, uint32_t v) {
  putLe16(s, at, v & 0xFFFF);
  putLe16(s, at + 2, v >> 16);
}
std::string le16(uint32_t v) {
  std::string s(2, '\0');
  putLe16(s, 0, v);
  return s;
}
std::string le32(uint32_t v) {
  std::string s(4, '\0');
  putLe32(s, 0, v);
  return s;
}
std::string be16(uint32_t v) { return {static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)}; }
std::string be32(uint32_t v) { return be16(v >> 16) + be16(v & 0xFFFF); }

// A lossless WebP header (VP8L chunk) of the given size; image data after the header is not needed.
std::string handBuiltVp8l(uint32_t width, uint32_t height) {
  const uint32_t bits = (width - 1) | ((height - 1) << 14);
  std::string payload = std::string("\x2F", 1) + le32(bits) + std::string(8, '\0');
  return "RIFF" + le32(static_cast<uint32_t>(12 + payload.size())) + "WEBP" + "VP8L" +
         le32(static_cast<uint32_t>(payload.size())) + payload;
}

// Images written once per test run by ffmpeg into a temporary folder, removed at exit.
class Fixtures {
 public:
  static Fixtures& get() {
    static Fixtures fixtures;
    return fixtures;
  }
  bool haveFfmpeg() const { return m_haveFfmpeg; }
  // Bytes of the fixture `key` (e.g. "jpg", "webp_lossless"); empty if it could not be written.
  const std::string& bytes(const std::string& key) { return m_files[key]; }

  ~Fixtures() {
    std::error_code ec;
    if (!m_dir.empty()) fs::remove_all(m_dir, ec);
  }

 private:
  Fixtures() {
    std::string tmpl = (fs::temp_directory_path() / "loom_probe_XXXXXX").string();
    if (!mkdtemp(tmpl.data())) return;
    m_dir = tmpl;
    m_haveFfmpeg = std::system("ffmpeg -version >/dev/null 2>&1") == 0;
    if (!m_haveFfmpeg) return;
    generate("jpg", "out.jpg", "");
    generate("png", "out.png", "");
    generate("gif", "out.gif", "");
    generate("bmp", "out.bmp", "");
    generate("tiff", "out.tiff", "");
    generate("webp", "out.webp", "");
    generate("webp_lossless", "lossless.webp", "-lossless 1");
    generate("webp_alpha", "alpha.webp", "-vf format=rgba,colorchannelmixer=aa=0.5");
    // ffmpeg built without libwebp cannot write WebP; a hand-built VP8L header keeps the WebP tests
    // meaningful there (the VP8 and VP8X variants then test the same header, which the tests say).
    for (const char* key : {"webp", "webp_lossless", "webp_alpha"})
      if (m_files[key].empty()) m_files[key] = handBuiltVp8l(kWidth, kHeight);
  }

  void generate(const std::string& key, const std::string& file, const std::string& options) {
    const fs::path path = m_dir / file;
    const std::string cmd = "ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=320x240 -frames:v 1 " + options +
                            " '" + path.string() + "' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) m_files[key] = readFile(path);
  }

  fs::path m_dir;
  bool m_haveFfmpeg = false;
  std::map<std::string, std::string> m_files;
};

#define REQUIRE_FIXTURE(var, key)                                                     \
  if (!Fixtures::get().haveFfmpeg()) GTEST_SKIP() << "ffmpeg is not on PATH";         \
  const std::string& var = Fixtures::get().bytes(key);                                \
  ASSERT_FALSE(var.empty()) << "ffmpeg could not write the " << (key) << " fixture"

void expectImage(const ProbeResult& r, const std::string& mime, int64_t width, int64_t height) {
  EXPECT_EQ(r.mime, mime);
  EXPECT_EQ(r.error, "");
  ASSERT_TRUE(r.width.has_value()) << r.error;
  ASSERT_TRUE(r.height.has_value());
  EXPECT_EQ(*r.width, width);
  EXPECT_EQ(*r.height, height);
}

// A JPEG APP1 segment carrying EXIF with only an Orientation tag, in either TIFF byte order.
std::string exifApp1(uint32_t orientation, bool bigEndian) {
  std::string tiff;
  if (bigEndian) {
    tiff = std::string("MM\0*", 4) + be32(8) + be16(1) + be16(0x0112) + be16(3) + be32(1) + be16(orientation) +
           be16(0) + be32(0);
  } else {
    tiff = std::string("II*\0", 4) + le32(8) + le16(1) + le16(0x0112) + le16(3) + le32(1) + le16(orientation) +
           le16(0) + le32(0);
  }
  const std::string payload = std::string("Exif\0\0", 6) + tiff;
  return "\xFF\xE1" + be16(static_cast<uint32_t>(payload.size() + 2)) + payload;
}

std::string spliceAfterSoi(const std::string& jpeg, const std::string& segment) {
  return jpeg.substr(0, 2) + segment + jpeg.substr(2);
}

const std::string kSoi = "\xFF\xD8";

// ---------------------------------------------------------------------------------------------
// Real images

TEST(Probe, JpegFromFfmpeg) {
  REQUIRE_FIXTURE(jpg, "jpg");
  expectImage(probeBytes(headOf(jpg), "photos/out.jpg"), "image/jpeg", kWidth, kHeight);
}

TEST(Probe, PngFromFfmpeg) {
  REQUIRE_FIXTURE(png, "png");
  expectImage(probeBytes(headOf(png), "out.png"), "image/png", kWidth, kHeight);
}

TEST(Probe, GifFromFfmpeg) {
  REQUIRE_FIXTURE(gif, "gif");
  expectImage(probeBytes(headOf(gif), "out.gif"), "image/gif", kWidth, kHeight);
}

TEST(Probe, BmpFromFfmpeg) {
  REQUIRE_FIXTURE(bmp, "bmp");
  expectImage(probeBytes(headOf(bmp), "out.bmp"), "image/bmp", kWidth, kHeight);
}

TEST(Probe, WebpLossyFromFfmpeg) {
  REQUIRE_FIXTURE(webp, "webp");
  expectImage(probeBytes(headOf(webp), "out.webp"), "image/webp", kWidth, kHeight);
  if (webp.substr(12, 4) != "VP8 ") GTEST_SKIP() << "ffmpeg has no libwebp; only the hand-built VP8L header ran";
  // The top two bits of each VP8 dimension are an upscaling hint, not part of the size.
  std::string scaled = webp;
  scaled[27] = static_cast<char>(scaled[27] | 0xC0);
  scaled[29] = static_cast<char>(scaled[29] | 0x40);
  expectImage(probeBytes(headOf(scaled), "out.webp"), "image/webp", kWidth, kHeight);
}

TEST(Probe, WebpLosslessFromFfmpeg) {
  REQUIRE_FIXTURE(webp, "webp_lossless");
  EXPECT_EQ(webp.substr(12, 4), "VP8L");
  expectImage(probeBytes(headOf(webp), "lossless.webp"), "image/webp", kWidth, kHeight);
}

TEST(Probe, WebpWithAlphaUsesExtendedHeader) {
  REQUIRE_FIXTURE(webp, "webp_alpha");
  EXPECT_EQ(webp.substr(12, 4), "VP8X");
  expectImage(probeBytes(headOf(webp), "alpha.webp"), "image/webp", kWidth, kHeight);
}

TEST(Probe, WebpExtendedHeaderHandBuilt) {
  // VP8X canvas 4000x3000 (stored minus one, 24-bit little-endian), as written by cameras and editors.
  std::string vp8x = std::string(1, '\x10') + std::string(3, '\0') + le32(3999).substr(0, 3) + le32(2999).substr(0, 3);
  const std::string webp = "RIFF" + le32(4 + 8 + 10) + "WEBP" + "VP8X" + le32(10) + vp8x;
  auto size = imageSize(webp);
  ASSERT_TRUE(size.ok()) << size.error().message;
  ASSERT_TRUE(size->has_value());
  EXPECT_EQ(**size, std::make_pair(int64_t{4000}, int64_t{3000}));
}

TEST(Probe, TiffFromFfmpeg) {
  REQUIRE_FIXTURE(tiff, "tiff");
  // ffmpeg writes the IFD after the pixels, so the whole file is the header here.
  expectImage(probeBytes(tiff, "scan.tiff"), "image/tiff", kWidth, kHeight);
}

TEST(Probe, TiffWithIfdBeyondProbeWindowIsNotCalledCorrupt) {
  REQUIRE_FIXTURE(tiff, "tiff");
  ASSERT_GT(tiff.size(), static_cast<size_t>(kProbeHeadBytes)) << "fixture no longer exercises this case";
  // A valid large TIFF whose IFD lies beyond the first 64 KiB: size unknown, but not "corrupt".
  ProbeResult windowed = probeBytes(headOf(tiff), "scan.tiff");
  EXPECT_EQ(windowed.mime, "image/tiff");
  EXPECT_FALSE(windowed.width.has_value());
  EXPECT_TRUE(windowed.error.empty()) << "a valid file must not fail its row: " << windowed.error;
  auto direct = imageSize(headOf(tiff));
  ASSERT_FALSE(direct.ok());
  EXPECT_EQ(direct.error().kind, ErrorKind::Unsupported);
  EXPECT_NE(direct.error().message.find("beyond the first"), std::string::npos) << direct.error().message;
  // The same file cut to 1000 bytes is a truncated file, and says so.
  auto cut = imageSize(tiff.substr(0, 1000));
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.error().kind, ErrorKind::Corrupt);
  EXPECT_NE(cut.error().message.find("truncated"), std::string::npos) << cut.error().message;
}

TEST(Probe, TiffBigEndianWithShortAndLongTags) {
  // MM TIFF, IFD at 8: ImageWidth as SHORT 640, ImageLength as LONG 70000.
  const std::string tiff = std::string("MM\0*", 4) + be32(8) + be16(2) + be16(256) + be16(3) + be32(1) + be16(640) +
                           be16(0) + be16(257) + be16(4) + be32(1) + be32(70000) + be32(0);
  auto size = imageSize(tiff);
  ASSERT_TRUE(size.ok()) << size.error().message;
  ASSERT_TRUE(size->has_value());
  EXPECT_EQ(**size, std::make_pair(int64_t{640}, int64_t{70000}));
  EXPECT_EQ(probeBytes(tiff, "x.tif").mime, "image/tiff");
}

TEST(Probe, TiffWithoutDimensionTagsIsCorrupt) {
  const std::string tiff =
      std::string("II*\0", 4) + le32(8) + le16(1) + le16(259) + le16(3) + le32(1) + le16(1) + le16(0) + le32(0);
  auto size = imageSize(tiff);
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.error().kind, ErrorKind::Corrupt);
  EXPECT_NE(size.error().message.find("ImageWidth"), std::string::npos) << size.error().message;
}

// ---------------------------------------------------------------------------------------------
// Orientation and header variants

TEST(Probe, ExifOrientation6SwapsJpegSize) {
  REQUIRE_FIXTURE(jpg, "jpg");
  const std::string rotated = spliceAfterSoi(jpg, exifApp1(6, false));
  expectImage(probeBytes(headOf(rotated), "phone.jpg"), "image/jpeg", kHeight, kWidth);
}

TEST(Probe, ExifOrientation8BigEndianSwapsJpegSize) {
  REQUIRE_FIXTURE(jpg, "jpg");
  const std::string rotated = spliceAfterSoi(jpg, exifApp1(8, true));
  expectImage(probeBytes(headOf(rotated), "phone.jpg"), "image/jpeg", kHeight, kWidth);
}

TEST(Probe, ExifOrientation3KeepsJpegSize) {
  REQUIRE_FIXTURE(jpg, "jpg");
  const std::string upsideDown = spliceAfterSoi(jpg, exifApp1(3, false));
  expectImage(probeBytes(headOf(upsideDown), "phone.jpg"), "image/jpeg", kWidth, kHeight);
}

TEST(Probe, BrokenExifLosesOrientationButNotSize) {
  REQUIRE_FIXTURE(jpg, "jpg");
  // EXIF whose IFD offset points far outside the segment: viewers still show the image.
  const std::string payload = std::string("Exif\0\0", 6) + "II*" + std::string(1, '\0') + le32(0x7FFFFFF0);
  const std::string app1 = "\xFF\xE1" + be16(static_cast<uint32_t>(payload.size() + 2)) + payload;
  expectImage(probeBytes(headOf(spliceAfterSoi(jpg, app1)), "a.jpg"), "image/jpeg", kWidth, kHeight);
}

TEST(Probe, BmpTopDownReportsPositiveHeight) {
  REQUIRE_FIXTURE(bmp, "bmp");
  std::string topDown = bmp;
  putLe32(topDown, 22, static_cast<uint32_t>(-static_cast<int32_t>(kHeight)));
  expectImage(probeBytes(headOf(topDown), "a.bmp"), "image/bmp", kWidth, kHeight);
}

TEST(Probe, BmpCoreHeader) {
  // OS/2 1.x BITMAPCOREHEADER: 12-byte DIB header with 16-bit dimensions.
  std::string bmp = "BM" + le32(26 + 3 * 7 * 5) + le32(0) + le32(26) + le32(12) + le16(7) + le16(5) + le16(1) +
                    le16(24) + std::string(3 * 7 * 5, '\x7F');
  auto size = imageSize(bmp);
  ASSERT_TRUE(size.ok()) << size.error().message;
  ASSERT_TRUE(size->has_value());
  EXPECT_EQ(**size, std::make_pair(int64_t{7}, int64_t{5}));
}

TEST(Probe, GifWithEmptyLogicalScreenUsesFirstFrame) {
  REQUIRE_FIXTURE(gif, "gif");
  std::string zeroScreen = gif;
  putLe32(zeroScreen, 6, 0);
  expectImage(probeBytes(headOf(zeroScreen), "a.gif"), "image/gif", kWidth, kHeight);
}

// ---------------------------------------------------------------------------------------------
// Broken and hostile headers

// Every prefix of a valid file either yields the right size or an error; never a wrong size. Below
// the signature length the bytes cannot be told apart from other data, so "not an image" is allowed.
// Past the probe window a cut header is "size not read" rather than corrupt.
void checkPrefixes(std::string_view file, size_t signatureLength, size_t maxLength) {
  const size_t limit = std::min(file.size(), maxLength);
  bool sizedOnce = false;
  for (size_t len = 0; len <= limit; ++len) {
    SCOPED_TRACE("prefix length " + std::to_string(len));
    const std::string_view prefix = file.substr(0, len);
    auto size = imageSize(prefix);
    if (size.ok() && size->has_value()) {
      EXPECT_EQ(**size, std::make_pair(kWidth, kHeight));
      sizedOnce = true;
    } else if (size.ok()) {
      EXPECT_LT(len, signatureLength) << "a recognised but truncated header must be an error";
    } else {
      const auto kind = len < static_cast<size_t>(kProbeHeadBytes) ? ErrorKind::Corrupt : ErrorKind::Unsupported;
      EXPECT_EQ(size.error().kind, kind) << size.error().message;
      EXPECT_FALSE(sizedOnce) << "a longer prefix lost the size: " << size.error().message;
    }
    if (len <= 1024) {
      ProbeResult r = probeBytes(prefix, "x");
      EXPECT_FALSE(r.mime.empty());
      if (r.width) {
        EXPECT_EQ(*r.width, kWidth);
        EXPECT_EQ(*r.height, kHeight);
      }
    }
  }
  EXPECT_TRUE(sizedOnce) << "no prefix up to " << limit << " bytes gave a size";
}

TEST(Probe, TruncatedPngHeaders) {
  REQUIRE_FIXTURE(png, "png");
  checkPrefixes(png, 4, 64);
}

TEST(Probe, TruncatedJpegHeaders) {
  REQUIRE_FIXTURE(jpg, "jpg");
  checkPrefixes(jpg, 3, jpg.size());
}

TEST(Probe, TruncatedExifJpegHeaders) {
  REQUIRE_FIXTURE(jpg, "jpg");
  // Truncation inside the EXIF block loses only the orientation, so check the sizes by hand here.
  const std::string rotated = spliceAfterSoi(jpg, exifApp1(6, true));
  for (size_t len = 3; len <= 1024; ++len) {
    auto size = imageSize(rotated.substr(0, len));
    if (size.ok()) {
      ASSERT_TRUE(size->has_value()) << len;
      EXPECT_EQ(**size, std::make_pair(kHeight, kWidth)) << len;
    }
  }
}

TEST(Probe, TruncatedWebpHeaders) {
  REQUIRE_FIXTURE(lossy, "webp");
  checkPrefixes(lossy, 12, 64);
  checkPrefixes(Fixtures::get().bytes("webp_lossless"), 12, 64);
  checkPrefixes(Fixtures::get().bytes("webp_alpha"), 12, 64);
}

TEST(Probe, TruncatedGifBmpTiffHeaders) {
  REQUIRE_FIXTURE(gif, "gif");
  checkPrefixes(gif, 4, 64);
  checkPrefixes(Fixtures::get().bytes("bmp"), 2, 64);
  checkPrefixes(Fixtures::get().bytes("tiff"), 4, std::string::npos);  // IFD at the end: needs the whole file
}

TEST(Probe, JpegSegmentLengthPastEnd) {
  const std::string jpeg = kSoi + "\xFF\xE0" + be16(0x4000) + "JFIF" + std::string(10, '\0');
  auto size = imageSize(jpeg);
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.error().kind, ErrorKind::Corrupt);
  EXPECT_NE(size.error().message.find("JPEG"), std::string::npos) << size.error().message;
  EXPECT_NE(size.error().message.find("FFE0"), std::string::npos) << size.error().message;
  ProbeResult r = probeBytes(jpeg, "a.jpg");
  EXPECT_EQ(r.mime, "image/jpeg");
  EXPECT_FALSE(r.width.has_value());
  EXPECT_FALSE(r.error.empty());
}

TEST(Probe, JpegZeroAndOneSegmentLengths) {
  REQUIRE_FIXTURE(jpg, "jpg");
  for (uint32_t length : {0u, 1u}) {
    // A zero length would make a naive walker re-read the same marker forever.
    const std::string broken = spliceAfterSoi(jpg, "\xFF\xE0" + be16(length));
    auto size = imageSize(broken);
    ASSERT_FALSE(size.ok()) << length;
    EXPECT_EQ(size.error().kind, ErrorKind::Corrupt);
    EXPECT_NE(size.error().message.find("length " + std::to_string(length)), std::string::npos)
        << size.error().message;
  }
}

TEST(Probe, JpegWithoutFrameHeader) {
  const std::string app0 = "\xFF\xE0" + be16(16) + std::string("JFIF\0", 5) + std::string(9, '\0');
  auto eoi = imageSize(kSoi + app0 + "\xFF\xD9");
  ASSERT_FALSE(eoi.ok());
  EXPECT_NE(eoi.error().message.find("end-of-image"), std::string::npos) << eoi.error().message;
  auto sos = imageSize(kSoi + app0 + "\xFF\xDA" + be16(8) + std::string(6, '\0'));
  ASSERT_FALSE(sos.ok());
  EXPECT_NE(sos.error().message.find("before any SOF"), std::string::npos) << sos.error().message;
}

TEST(Probe, JpegFrameHeaderBeyondProbeWindow) {
  REQUIRE_FIXTURE(jpg, "jpg");
  // Large metadata (here two maximal comment segments) pushes the frame header past 64 KiB.
  const std::string com = "\xFF\xFE" + be16(0xFFFF) + std::string(0xFFFD, 'c');
  const std::string big = spliceAfterSoi(jpg, com + com);
  auto windowed = imageSize(headOf(big));
  ASSERT_FALSE(windowed.ok());
  EXPECT_EQ(windowed.error().kind, ErrorKind::Unsupported) << windowed.error().message;
  EXPECT_NE(windowed.error().message.find("64 KiB"), std::string::npos) << windowed.error().message;
  auto whole = imageSize(big);
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_EQ(**whole, std::make_pair(kWidth, kHeight));
}

TEST(Probe, PngWithDamagedSignature) {
  REQUIRE_FIXTURE(png, "png");
  // A text-mode transfer turns "\r\n" into "\n"; the PNG is then undecodable.
  std::string mangled = png;
  mangled.erase(4, 1);
  auto size = imageSize(mangled);
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.error().kind, ErrorKind::Corrupt);
  EXPECT_NE(size.error().message.find("signature"), std::string::npos) << size.error().message;
}

TEST(Probe, PngWithZeroWidth) {
  REQUIRE_FIXTURE(png, "png");
  std::string zero = png;
  zero.replace(16, 4, std::string(4, '\0'));
  auto size = imageSize(zero);
  ASSERT_FALSE(size.ok());
  EXPECT_NE(size.error().message.find("PNG"), std::string::npos);
  ProbeResult r = probeBytes(zero, "a.png");
  EXPECT_FALSE(r.width.has_value());
  EXPECT_FALSE(r.error.empty());
}

void expectSane(const ProbeResult& r) {
  EXPECT_FALSE(r.mime.empty());
  EXPECT_EQ(r.width.has_value(), r.height.has_value());
  if (r.width) {
    EXPECT_GT(*r.width, 0);
    EXPECT_GT(*r.height, 0);
    EXPECT_TRUE(r.error.empty());
  }
}

TEST(Probe, RandomBytesNeverCrashOrGiveNonsense) {
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<size_t> length(0, 2048);
  for (int i = 0; i < 3000; ++i) {
    std::string buf(length(rng), '\0');
    for (char& c : buf) c = static_cast<char>(byte(rng));
    expectSane(probeBytes(buf, "random.bin"));
  }
  // Random data rarely starts with a signature, so give each parser random bodies directly.
  const std::vector<std::string> signatures = {
      "\xFF\xD8\xFF", "\x89PNG\r\n\x1a\n", "GIF89a", "BM", std::string("II*\0", 4), std::string("MM\0*", 4),
      std::string("II+\0\x08\0\0\0", 8), std::string("RIFF\0\0\0\0WEBPVP8 ", 16),
      std::string("RIFF\0\0\0\0WEBPVP8L", 16), std::string("RIFF\0\0\0\0WEBPVP8X", 16)};
  for (const std::string& sig : signatures) {
    for (int i = 0; i < 400; ++i) {
      std::string buf = sig + std::string(length(rng) % 256, '\0');
      for (size_t k = sig.size(); k < buf.size(); ++k) buf[k] = static_cast<char>(byte(rng));
      auto size = imageSize(buf);
      if (size.ok() && size->has_value()) {
        EXPECT_GT((*size)->first, 0);
        EXPECT_GT((*size)->second, 0);
      }
      if (i % 8 == 0) expectSane(probeBytes(buf, "x"));
    }
  }
}

TEST(Probe, MutatedHeadersNeverCrash) {
  if (!Fixtures::get().haveFfmpeg()) GTEST_SKIP() << "ffmpeg is not on PATH";
  std::mt19937 rng(7);
  for (const char* key : {"jpg", "png", "gif", "bmp", "webp", "webp_lossless", "webp_alpha"}) {
    const std::string& original = Fixtures::get().bytes(key);
    ASSERT_FALSE(original.empty()) << key;
    const size_t span = std::min<size_t>(original.size(), 700);
    for (int i = 0; i < 300; ++i) {
      std::string buf = original;
      for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips)
        buf[rng() % span] = static_cast<char>(rng() & 0xFF);
      buf.resize(rng() % (buf.size() + 1));
      auto size = imageSize(buf);
      if (size.ok() && size->has_value()) {
        EXPECT_GT((*size)->first, 0);
        EXPECT_GT((*size)->second, 0);
      }
      if (i % 10 == 0) expectSane(probeBytes(buf, key));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Non-image data and the name tie-breaker

TEST(Probe, TextFileHasNoSize) {
  ProbeResult r = probeBytes("Meeting notes\nBring the slides and the budget.\n", "notes.txt");
  EXPECT_EQ(r.mime, "text/plain");
  EXPECT_FALSE(r.width.has_value());
  EXPECT_FALSE(r.height.has_value());
  EXPECT_EQ(r.error, "");
}

TEST(Probe, TextStartingWithAnImageSignatureIsJustText) {
  // The header parsers run only on what libmagic calls an image, so text is never "corrupt BMP".
  ProbeResult r = probeBytes("BMW and Audi prices, 2023\n", "notes.txt");
  EXPECT_EQ(r.mime, "text/plain");
  EXPECT_EQ(r.error, "");
  EXPECT_FALSE(r.width.has_value());
}

TEST(Probe, EmptyBuffer) {
  ProbeResult r = probeBytes("", "empty.jpg");
  EXPECT_EQ(r.mime, "application/x-empty");
  EXPECT_FALSE(r.width.has_value());
  EXPECT_EQ(r.error, "");
  auto size = imageSize("");
  ASSERT_TRUE(size.ok());
  EXPECT_FALSE(size->has_value());
}

TEST(Probe, NameBreaksTiesOnlyForPlainText) {
  const std::string markdown = "# Title\n\nSome *text* here.\n";
  EXPECT_EQ(probeBytes(markdown, "README.md").mime, "text/markdown");
  EXPECT_EQ(probeBytes(markdown, "README.txt").mime, "text/plain");
  EXPECT_EQ(probeBytes("hello\nworld\n", "s3://bucket/dir/Data.CSV").mime, "text/csv");
  EXPECT_EQ(probeBytes("not really json\n", "x.json").mime, "application/json");
  EXPECT_EQ(probeBytes("key: value\n", "dir.d/config.yaml").mime, "application/yaml");
  // Content wins over the name.
  REQUIRE_FIXTURE(png, "png");
  ProbeResult image = probeBytes(headOf(png), "table.csv");
  EXPECT_EQ(image.mime, "image/png");
  EXPECT_EQ(image.width, kWidth);
  EXPECT_EQ(probeBytes(std::string("\x00\x01\x02\x03\xFE\xFF\x80\x90", 8), "x.json").mime,
            "application/octet-stream");
}

TEST(Probe, NonImagesAreNotParsed) {
  auto text = imageSize("hello world");
  ASSERT_TRUE(text.ok());
  EXPECT_FALSE(text->has_value());
  const std::string wav = "RIFF" + le32(36) + "WAVEfmt " + le32(16) + std::string(16, '\0');
  auto riff = imageSize(wav);
  ASSERT_TRUE(riff.ok());
  EXPECT_FALSE(riff->has_value());
}

TEST(Probe, ConcurrentProbesMatchSingleThreaded) {
  if (!Fixtures::get().haveFfmpeg()) GTEST_SKIP() << "ffmpeg is not on PATH";
  std::vector<std::string> inputs;
  for (const char* key : {"jpg", "png", "gif", "bmp", "webp"}) inputs.push_back(headOf(Fixtures::get().bytes(key)));
  inputs.push_back("plain text\n");
  std::vector<ProbeResult> expected;
  for (const auto& in : inputs) expected.push_back(probeBytes(in, "f"));

  std::vector<int> mismatches(8, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < mismatches.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const size_t k = (t + static_cast<size_t>(i)) % inputs.size();
        ProbeResult r = probeBytes(inputs[k], "f");
        if (r.mime != expected[k].mime || r.width != expected[k].width || r.height != expected[k].height)
          ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (size_t t = 0; t < mismatches.size(); ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace

// probeObject(): every listed format, good and broken, through an ObjectReader. Fixtures are made
// by ffmpeg and python3 at run time, once for all test processes (ctest runs each test in its own
// process), in a shared temporary folder named after the fixture version.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "media/object_reader.h"
#include "media/probe.h"
#include "storage/storage.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using loom::media::MediaLimits;
using loom::media::ObjectReader;
using loom::media::ProbeResult;

// Bump when the script below changes, so no test process reuses fixtures made by an older one.
constexpr const char* kFixtureVersion = "3";

constexpr const char* kScript = R"SH(
set -e
cd "$1"
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@" </dev/null; }
enc="$(ffmpeg -hide_banner -encoders 2>/dev/null || true)"
have() { grep -qE "^ [A-Z.]{6} $1 " <<<"$enc"; }
V="-f lavfi -i testsrc2=size=320x240:rate=25:duration=3 -f lavfi -i sine=frequency=440:sample_rate=48000:duration=3"
ff $V -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest -movflags +faststart faststart.mp4
ff $V -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest moov_at_end.mp4
ff $V -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest clip.mov
ff $V -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a flac -shortest clip.mkv
ff $V -c:v mpeg4 -c:a pcm_s16le -shortest clip.avi
if have libvpx-vp9 && have libopus; then
  ff $V -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -c:a libopus -shortest clip.webm
fi
ff -i faststart.mp4 -c copy -metadata:s:v:0 rotate=90 rotated.mp4
A="-f lavfi -i sine=frequency=440:sample_rate=44100:duration=3 -ac 2"
ff $A tone.wav
ff $A tone.flac
ff $A -c:a aac tone.m4a
if have libmp3lame; then ff $A -c:a libmp3lame tone.mp3; fi
if have libopus; then ff $A -c:a libopus tone.opus; fi
I="-f lavfi -i testsrc2=size=320x240 -frames:v 1"
ff $I photo.jpg
ff $I -pix_fmt rgb48be deep.png
ff $I -pix_fmt pal8 palette.png
ff $I -pix_fmt rgb24 scan.tiff
ff $I picture.bmp
ff -f lavfi -i testsrc2=size=320x240:rate=10 -frames:v 10 animated.gif
if have libwebp_anim; then ff -f lavfi -i testsrc2=size=320x240:rate=10 -frames:v 10 -c:v libwebp_anim -loop 0 animated.webp; fi
python3 - <<'PY'
def pdf(pages, box):
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", None]
    kids = []
    for text in pages:
        stream = b"BT /F1 24 Tf 72 720 Td (" + text + b") Tj ET"
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R >>" % (box[0], box[1], len(objs)))
        kids.append(len(objs))
    objs[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)
open("two-pages.pdf", "wb").write(pdf([b"Page one", b"Page two"], (595, 842)))
open("utf8.txt", "w", encoding="utf-8").write("Grüße aus Zürich\nzweite Zeile\ndritte Zeile\n")
open("utf16.txt", "w", encoding="utf-16").write("first line\nsecond line\n")
open("latin1.txt", "wb").write("Café crème\nnaïve façade\n".encode("latin-1"))
open("big.csv", "w").write("".join("%d,some value here\n" % i for i in range(400000)))
PY
)SH";

using loom::test::readFile;

// The fixture folder, made on first use by whichever test process gets there first; the others
// find it complete (it appears by an atomic rename only once every file is written).
const fs::path& fixtureDir() {
  static const fs::path dir = [] {
    const fs::path final =
        fs::temp_directory_path() / ("loom-probe-media-v" + std::string(kFixtureVersion) + "-" + std::to_string(getuid()));
    if (fs::exists(final / ".complete")) return final;
    std::string tmpl = (fs::temp_directory_path() / "loom-probe-media-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) return fs::path();
    const fs::path script = fs::path(tmpl) / ".make.sh";
    std::ofstream(script) << kScript;
    const std::string cmd = "bash '" + script.string() + "' '" + tmpl + "' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::error_code ec;
      fs::remove_all(tmpl, ec);
      return fs::path();
    }
    std::ofstream(fs::path(tmpl) / ".complete") << "ok";
    std::error_code ec;
    fs::rename(tmpl, final, ec);
    if (ec) fs::remove_all(tmpl, ec);  // another process renamed its copy first: use that one
    return fs::exists(final / ".complete") ? final : fs::path();
  }();
  return dir;
}

// Probes bytes held in memory, named `name` (its extension matters for files libmagic does not know).
ProbeResult probeMemory(std::string bytes, const std::string& name, const MediaLimits& limits = {}) {
  ObjectReader reader(std::move(bytes), "mem://" + name, limits.maxProbeBytes, limits.maxSeconds);
  return loom::media::probeObject(reader, name, limits);
}

// Probes a fixture through the file storage backend, as `loom-cli index` does.
ProbeResult probeFixture(const std::string& name, const MediaLimits& limits = {}) {
  const fs::path path = fixtureDir() / name;
  const std::string uri = "file://" + path.string();
  auto storage = loom::storage::storageFor(uri);
  EXPECT_TRUE(storage.ok());
  ObjectReader reader(storage.value(), uri, -1, limits.maxProbeBytes, limits.maxSeconds);
  return loom::media::probeObject(reader, name, limits);
}

#define REQUIRE_FIXTURE(name)                                                                         \
  if (fixtureDir().empty()) GTEST_SKIP() << "ffmpeg or python3 could not make the fixtures";          \
  if (!fs::exists(fixtureDir() / (name))) GTEST_SKIP() << "this ffmpeg has no encoder for " << (name)

void expectVideo(const ProbeResult& r, const std::string& format, const std::string& codec) {
  SCOPED_TRACE(format);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.format, format);
  EXPECT_EQ(r.videoCodec, codec);
  EXPECT_EQ(r.width, 320);
  EXPECT_EQ(r.height, 240);
  ASSERT_TRUE(r.fps.has_value());
  EXPECT_NEAR(*r.fps, 25.0, 0.01);
  ASSERT_TRUE(r.duration.has_value());
  EXPECT_NEAR(*r.duration, 3.0, 0.1);
  ASSERT_TRUE(r.frames.has_value());
  EXPECT_NEAR(static_cast<double>(*r.frames), 75.0, 2.0);
  EXPECT_EQ(r.audioStreams, 1);
  EXPECT_EQ(r.sampleRate, 48000);
}

TEST(ProbeMedia, Mp4WithIndexAtTheStart) {
  REQUIRE_FIXTURE("faststart.mp4");
  ProbeResult r = probeFixture("faststart.mp4");
  expectVideo(r, "mp4", "h264");
  EXPECT_EQ(r.mime, "video/mp4");
  EXPECT_EQ(r.audioCodec, "aac");
}

TEST(ProbeMedia, Mp4WithIndexAtTheEndCostsRangedReadsOnly) {
  REQUIRE_FIXTURE("moov_at_end.mp4");
  const fs::path path = fixtureDir() / "moov_at_end.mp4";
  const std::string uri = "file://" + path.string();
  auto storage = loom::storage::storageFor(uri);
  ASSERT_TRUE(storage.ok());
  ObjectReader reader(storage.value(), uri, -1, MediaLimits{}.maxProbeBytes, 20);
  ProbeResult r = loom::media::probeObject(reader, "moov_at_end.mp4");
  expectVideo(r, "mp4", "h264");
  // The index is at the end: the probe seeks there instead of reading the file through.
  EXPECT_LT(reader.bytesRead(), static_cast<int64_t>(fs::file_size(path)));
}

TEST(ProbeMedia, MovMkvAviWebm) {
  REQUIRE_FIXTURE("clip.mov");
  expectVideo(probeFixture("clip.mov"), "mov", "h264");
  ProbeResult mkv = probeFixture("clip.mkv");
  expectVideo(mkv, "mkv", "h264");
  EXPECT_EQ(mkv.audioCodec, "flac");
  ProbeResult avi = probeFixture("clip.avi");
  expectVideo(avi, "avi", "mpeg4");
  EXPECT_EQ(avi.audioCodec, "pcm_s16le");
  if (!fs::exists(fixtureDir() / "clip.webm")) GTEST_SKIP() << "no libvpx-vp9/libopus encoder for the WebM fixture";
  ProbeResult webm = probeFixture("clip.webm");
  expectVideo(webm, "webm", "vp9");
  EXPECT_EQ(webm.audioCodec, "opus");
}

TEST(ProbeMedia, RotatedVideoReportsDisplaySize) {
  REQUIRE_FIXTURE("rotated.mp4");
  ProbeResult r = probeFixture("rotated.mp4");
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.width, 240);
  EXPECT_EQ(r.height, 320);
}

TEST(ProbeMedia, AudioFormats) {
  REQUIRE_FIXTURE("tone.wav");
  struct Want {
    const char *file, *format, *codec;
  };
  for (const Want& w : {Want{"tone.wav", "wav", "pcm_s16le"}, Want{"tone.flac", "flac", "flac"},
                        Want{"tone.m4a", "m4a", "aac"}, Want{"tone.mp3", "mp3", "mp3"},
                        Want{"tone.opus", "ogg", "opus"}}) {
    if (!fs::exists(fixtureDir() / w.file)) continue;  // encoder missing in this ffmpeg
    SCOPED_TRACE(w.file);
    ProbeResult r = probeFixture(w.file);
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.mime.rfind("audio/", 0), 0u) << r.mime;
    EXPECT_EQ(r.format, w.format);
    EXPECT_EQ(r.audioCodec, w.codec);
    EXPECT_EQ(r.videoCodec, "");
    EXPECT_FALSE(r.width.has_value());
    EXPECT_EQ(r.channels, 2);
    EXPECT_EQ(r.audioStreams, 1);
    // Opus always decodes at 48 kHz; the others keep the source's rate.
    EXPECT_EQ(r.sampleRate, std::string(w.codec) == "opus" ? 48000 : 44100);
    ASSERT_TRUE(r.duration.has_value());
    EXPECT_NEAR(*r.duration, 3.0, 0.1);
  }
  EXPECT_EQ(probeFixture("tone.wav").bitDepth, 16);
  EXPECT_EQ(probeFixture("tone.flac").bitDepth, 16);
}

TEST(ProbeMedia, ImagesWithDepthPaletteAndAnimation) {
  REQUIRE_FIXTURE("deep.png");
  ProbeResult deep = probeFixture("deep.png");
  EXPECT_EQ(deep.error, "");
  EXPECT_EQ(deep.format, "png");
  EXPECT_EQ(deep.bitDepth, 16);
  EXPECT_EQ(deep.channels, 3);
  EXPECT_EQ(deep.width, 320);

  ProbeResult pal = probeFixture("palette.png");
  EXPECT_EQ(pal.color, "palette");
  EXPECT_EQ(pal.height, 240);

  ProbeResult gif = probeFixture("animated.gif");
  EXPECT_EQ(gif.error, "");
  EXPECT_EQ(gif.format, "gif");
  EXPECT_EQ(gif.frames, 10);
  ASSERT_TRUE(gif.duration.has_value());
  EXPECT_NEAR(*gif.duration, 1.0, 0.05);

  ProbeResult tiff = probeFixture("scan.tiff");
  EXPECT_EQ(tiff.error, "");
  EXPECT_EQ(tiff.format, "tiff");
  EXPECT_EQ(tiff.width, 320);
  EXPECT_EQ(tiff.channels, 3);
  EXPECT_EQ(tiff.bitDepth, 8);
  EXPECT_EQ(tiff.color, "rgb");

  ProbeResult bmp = probeFixture("picture.bmp");
  EXPECT_EQ(bmp.format, "bmp");
  EXPECT_EQ(bmp.width, 320);
  EXPECT_EQ(bmp.height, 240);

  ProbeResult jpg = probeFixture("photo.jpg");
  EXPECT_EQ(jpg.format, "jpeg");
  EXPECT_EQ(jpg.channels, 3);
  EXPECT_EQ(jpg.bitDepth, 8);
  EXPECT_EQ(jpg.camera, "");

  if (!fs::exists(fixtureDir() / "animated.webp")) GTEST_SKIP() << "no libwebp_anim encoder";
  ProbeResult webp = probeFixture("animated.webp");
  EXPECT_EQ(webp.error, "");
  EXPECT_EQ(webp.format, "webp");
  EXPECT_EQ(webp.frames, 10);
  EXPECT_EQ(webp.width, 320);
}

std::string be16(uint32_t v) { return {static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)}; }
std::string be32(uint32_t v) { return be16(v >> 16) + be16(v & 0xFFFF); }

// A big-endian EXIF APP1 segment with Make, Model, Orientation and, in the EXIF sub-IFD,
// DateTimeOriginal, laid out as cameras write it (strings longer than 4 bytes out of line).
std::string exifSegment(const std::string& make, const std::string& model, uint32_t orientation,
                        const std::string& taken) {
  // IFD0 at 8: 4 entries (2 + 4*12 + 4 = 54 bytes) -> data at 62. EXIF IFD after the strings.
  const uint32_t ifd0 = 8, ifd0Size = 2 + 4 * 12 + 4;
  uint32_t data = ifd0 + ifd0Size;
  const std::string makeZ = make + '\0', modelZ = model + '\0', takenZ = taken + '\0';
  const uint32_t makeAt = data, modelAt = makeAt + static_cast<uint32_t>(makeZ.size());
  const uint32_t exifIfd = modelAt + static_cast<uint32_t>(modelZ.size());
  const uint32_t takenAt = exifIfd + 2 + 12 + 4;
  auto entry = [](uint32_t tag, uint32_t type, uint32_t count, const std::string& value) {
    return be16(tag) + be16(type) + be32(count) + value;
  };
  std::string tiff = std::string("MM\0*", 4) + be32(ifd0);
  tiff += be16(4);
  tiff += entry(0x010F, 2, static_cast<uint32_t>(makeZ.size()), be32(makeAt));
  tiff += entry(0x0110, 2, static_cast<uint32_t>(modelZ.size()), be32(modelAt));
  tiff += entry(0x0112, 3, 1, be16(orientation) + be16(0));
  tiff += entry(0x8769, 4, 1, be32(exifIfd));
  tiff += be32(0);
  tiff += makeZ + modelZ;
  tiff += be16(1) + entry(0x9003, 2, static_cast<uint32_t>(takenZ.size()), be32(takenAt)) + be32(0);
  tiff += takenZ;
  const std::string payload = std::string("Exif\0\0", 6) + tiff;
  return "\xFF\xE1" + be16(static_cast<uint32_t>(payload.size() + 2)) + payload;
}

TEST(ProbeMedia, JpegExifCameraDateAndOrientation) {
  REQUIRE_FIXTURE("photo.jpg");
  const std::string jpg = readFile(fixtureDir() / "photo.jpg");
  const std::string withExif =
      jpg.substr(0, 2) + exifSegment("Canon", "Canon EOS 5D Mark IV", 6, "2024:05:01 12:34:56") + jpg.substr(2);
  ProbeResult r = probeMemory(withExif, "IMG_0001.JPG");
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.mime, "image/jpeg");
  EXPECT_EQ(r.width, 240) << "orientation 6 shows the 320x240 picture upright as 240x320";
  EXPECT_EQ(r.height, 320);
  EXPECT_EQ(r.camera, "Canon EOS 5D Mark IV");
  EXPECT_EQ(r.takenAt, "2024-05-01T12:34:56");

  ProbeResult other = probeMemory(jpg.substr(0, 2) + exifSegment("NIKON", "D750", 1, "0000:00:00 00:00:00") + jpg.substr(2),
                                  "dsc.jpg");
  EXPECT_EQ(other.camera, "NIKON D750");
  EXPECT_EQ(other.takenAt, "") << "an unset camera clock is no date";
  EXPECT_EQ(other.width, 320);
}

TEST(ProbeMedia, PdfPagesAndPageSize) {
  REQUIRE_FIXTURE("two-pages.pdf");
  ProbeResult r = probeFixture("two-pages.pdf");
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.mime, "application/pdf");
  EXPECT_EQ(r.pages, 2);
  ASSERT_TRUE(r.pageWidth && r.pageHeight);
  EXPECT_DOUBLE_EQ(*r.pageWidth, 595);
  EXPECT_DOUBLE_EQ(*r.pageHeight, 842);
}

TEST(ProbeMedia, PdfOverTheReadLimitIsRefusedClearly) {
  REQUIRE_FIXTURE("two-pages.pdf");
  MediaLimits small;
  small.maxProbeBytes = 100;
  ProbeResult r = probeFixture("two-pages.pdf", small);
  EXPECT_NE(r.error.find("two-pages.pdf"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("read limit"), std::string::npos) << r.error;
  EXPECT_FALSE(r.pages.has_value());
}

TEST(ProbeMedia, TextEncodingsAndLines) {
  REQUIRE_FIXTURE("utf8.txt");
  ProbeResult u8 = probeFixture("utf8.txt");
  EXPECT_EQ(u8.error, "");
  EXPECT_EQ(u8.encoding, "utf-8");
  EXPECT_EQ(u8.lines, 3);
  EXPECT_EQ(u8.linesEstimated, 0);
  ProbeResult u16 = probeFixture("utf16.txt");
  EXPECT_EQ(u16.encoding, "utf-16le");
  EXPECT_EQ(u16.lines, 2);
  ProbeResult latin = probeFixture("latin1.txt");
  EXPECT_EQ(latin.encoding, "iso-8859-1");
  EXPECT_EQ(latin.lines, 2);
  EXPECT_EQ(probeMemory("no newline at the end", "a.txt").lines, 1);
  EXPECT_EQ(probeMemory("plain ascii\n", "a.txt").encoding, "ascii");
  // UTF-16 without a byte-order mark, as some Windows tools write it.
  std::string bare;
  for (char c : std::string("one\ntwo\nthree\n")) bare += std::string{c, '\0'};
  ProbeResult noBom = probeMemory(bare, "export.txt");
  EXPECT_EQ(noBom.encoding, "utf-16le");
  EXPECT_EQ(noBom.lines, 3);
}

TEST(ProbeMedia, LongTextLineCountIsAnEstimateAndSaysSo) {
  REQUIRE_FIXTURE("big.csv");
  ProbeResult r = probeFixture("big.csv");
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.mime, "text/csv");
  EXPECT_EQ(r.linesEstimated, 1);
  ASSERT_TRUE(r.lines.has_value());
  EXPECT_NEAR(static_cast<double>(*r.lines), 400000.0, 400000.0 * 0.02);
}

TEST(ProbeMedia, UnknownTypesGetMimeOnly) {
  std::string bytes(3000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 7919) % 251);
  ProbeResult r = probeMemory(bytes, "model.bin");
  EXPECT_EQ(r.error, "");
  EXPECT_FALSE(r.mime.empty());
  EXPECT_EQ(r.format, "");
  EXPECT_FALSE(r.width || r.duration || r.pages || r.lines);
  EXPECT_EQ(probeMemory("", "empty.txt").error, "") << "an empty text file is not broken";
}

// ---------------------------------------------------------------------------------------------
// Broken and hostile files: an error naming the file and the reason, never a crash or a hang.

TEST(ProbeMediaHostile, EmptyFilesNamedLikeMedia) {
  for (const char* name : {"clip.mp4", "photo.jpg", "song.mp3", "doc.pdf"}) {
    ProbeResult r = probeMemory("", name);
    EXPECT_NE(r.error.find(name), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("empty (0 bytes)"), std::string::npos) << r.error;
  }
}

TEST(ProbeMediaHostile, RandomBytesWithAMediaExtension) {
  std::string noise(20000, '\0');
  uint32_t x = 12345;
  for (char& c : noise) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  for (const char* name : {"clip.mp4", "clip.mkv", "clip.avi", "song.wav", "song.mp3", "photo.jpg", "scan.tiff",
                           "doc.pdf"}) {
    ProbeResult r = probeMemory(noise, name);
    EXPECT_NE(r.error.find(name), std::string::npos) << name << ": " << r.error;
    EXPECT_NE(r.error.find("random or damaged"), std::string::npos) << name << ": " << r.error;
  }
}

TEST(ProbeMediaHostile, HeadersClaiming50000x50000Pixels) {
  const std::string ihdr = "IHDR" + be32(50000) + be32(50000) + std::string("\x08\x02\x00\x00\x00", 5);
  const std::string png = "\x89PNG\r\n\x1a\n" + be32(13) + ihdr + be32(0) + be32(0) + "IEND" + be32(0);
  ProbeResult p = probeMemory(png, "bomb.png");
  EXPECT_NE(p.error.find("bomb.png"), std::string::npos) << p.error;
  EXPECT_NE(p.error.find("50000x50000"), std::string::npos) << p.error;
  EXPECT_NE(p.error.find("200 megapixels"), std::string::npos) << p.error;

  const std::string sof = "\xFF\xC0" + be16(17) + std::string("\x08", 1) + be16(50000) + be16(50000) +
                          std::string("\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01", 10);
  const std::string jpeg = "\xFF\xD8\xFF\xE0" + be16(16) + std::string("JFIF\0\x01\x01\0\0\x01\0\x01\0\0", 14) + sof +
                           "\xFF\xDA" + be16(8) + std::string(6, '\0') + std::string(2000, '\x55') + "\xFF\xD9";
  ProbeResult j = probeMemory(jpeg, "bomb.jpg");
  EXPECT_NE(j.error.find("bomb.jpg"), std::string::npos) << j.error;
  EXPECT_NE(j.error.find("50000x50000"), std::string::npos) << j.error;
}

TEST(ProbeMediaHostile, TruncatedVideos) {
  REQUIRE_FIXTURE("faststart.mp4");
  const std::string fast = readFile(fixtureDir() / "faststart.mp4");
  const std::string tail = readFile(fixtureDir() / "moov_at_end.mp4");
  // Index at the start, data cut: the header looks fine, but the index points past the end.
  ProbeResult cutData = probeMemory(fast.substr(0, fast.size() / 3), "cut.mp4");
  EXPECT_NE(cutData.error.find("cut.mp4"), std::string::npos) << cutData.error;
  EXPECT_NE(cutData.error.find("cut short"), std::string::npos) << cutData.error;
  // Index at the end, cut off with it: nothing to read.
  ProbeResult cutIndex = probeMemory(tail.substr(0, tail.size() / 2), "cut2.mp4");
  EXPECT_NE(cutIndex.error.find("cut2.mp4"), std::string::npos) << cutIndex.error;
  EXPECT_NE(cutIndex.error.find("truncated"), std::string::npos) << cutIndex.error;
  // Matroska cut short: the segment's declared size says so.
  const std::string mkv = readFile(fixtureDir() / "clip.mkv");
  ProbeResult cutMkv = probeMemory(mkv.substr(0, mkv.size() / 2), "cut.mkv");
  EXPECT_NE(cutMkv.error.find("cut.mkv"), std::string::npos) << cutMkv.error;
  EXPECT_NE(cutMkv.error.find("cut short"), std::string::npos) << cutMkv.error;
  for (const char* name : {"clip.mkv", "clip.avi", "tone.flac", "tone.wav"}) {
    const std::string whole = readFile(fixtureDir() / name);
    for (size_t len : {size_t{0}, size_t{10}, size_t{100}, size_t{1000}, whole.size() / 2}) {
      ProbeResult r = probeMemory(whole.substr(0, len), name);  // must not crash or hang
      if (len < 100) {
        EXPECT_FALSE(r.error.empty()) << name << " cut to " << len;
      }
    }
  }
}

TEST(ProbeMediaHostile, VideoWhoseIndexLies) {
  REQUIRE_FIXTURE("faststart.mp4");
  std::string mp4 = readFile(fixtureDir() / "faststart.mp4");
  // Point every chunk offset (stco) of the video track far beyond the end of the file.
  const size_t stco = mp4.find("stco");
  ASSERT_NE(stco, std::string::npos);
  const uint32_t count = (static_cast<uint8_t>(mp4[stco + 8]) << 24) | (static_cast<uint8_t>(mp4[stco + 9]) << 16) |
                         (static_cast<uint8_t>(mp4[stco + 10]) << 8) | static_cast<uint8_t>(mp4[stco + 11]);
  for (uint32_t i = 0; i < count; ++i) mp4.replace(stco + 12 + 4 * i, 4, be32(0x7F000000u + i * 4096));
  ProbeResult r = probeMemory(mp4, "liar.mp4");
  EXPECT_NE(r.error.find("liar.mp4"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("index"), std::string::npos) << r.error;
}

TEST(ProbeMediaHostile, FileRemovedBetweenListingAndProbing) {
  const fs::path dir = fs::temp_directory_path() / ("loom-probe-gone-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path path = dir / "gone.mp4";
  std::ofstream(path) << "soon gone";
  const std::string uri = "file://" + path.string();
  auto storage = loom::storage::storageFor(uri);
  ASSERT_TRUE(storage.ok());
  fs::remove_all(dir);
  ObjectReader reader(storage.value(), uri, 9, MediaLimits{}.maxProbeBytes, 20);  // size from the listing
  ProbeResult r = loom::media::probeObject(reader, "gone.mp4");
  EXPECT_NE(r.error.find("gone.mp4"), std::string::npos) << r.error;
  ObjectReader unknownSize(storage.value(), uri, -1, MediaLimits{}.maxProbeBytes, 20);
  ProbeResult s = loom::media::probeObject(unknownSize, "gone.mp4");
  EXPECT_NE(s.error.find("gone.mp4"), std::string::npos) << s.error;
}

TEST(ProbeMediaHostile, ByteBudgetAndDeadlineEndAProbe) {
  REQUIRE_FIXTURE("moov_at_end.mp4");
  const std::string mp4 = readFile(fixtureDir() / "moov_at_end.mp4");
  ObjectReader tight(mp4, "mem://tight.mp4", 70 * 1024, 20);
  ProbeResult r = loom::media::probeObject(tight, "tight.mp4");
  EXPECT_NE(r.error.find("tight.mp4"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("read limit"), std::string::npos) << r.error;
  EXPECT_LE(tight.bytesRead(), 70 * 1024);

  ObjectReader late(mp4, "mem://late.mp4", 1 << 24, 0.0);  // deadline already passed
  ProbeResult t = loom::media::probeObject(late, "late.mp4");
  EXPECT_NE(t.error.find("late.mp4"), std::string::npos) << t.error;
  EXPECT_NE(t.error.find("time limit"), std::string::npos) << t.error;
}

TEST(ProbeMediaHostile, CutAndMutatedFixturesNeverCrash) {
  REQUIRE_FIXTURE("faststart.mp4");
  uint32_t x = 99;
  for (const char* name : {"faststart.mp4", "clip.mkv", "clip.avi", "tone.wav", "tone.m4a", "two-pages.pdf",
                           "animated.gif", "deep.png", "scan.tiff", "utf16.txt"}) {
    const std::string whole = readFile(fixtureDir() / name);
    for (int i = 0; i < 6; ++i) {
      std::string bytes = whole.substr(0, std::min(whole.size(), size_t{70000}));
      for (int k = 0; k < 20; ++k) {
        x = x * 1664525u + 1013904223u;
        bytes[(x >> 8) % bytes.size()] = static_cast<char>(x >> 24);
      }
      ProbeResult r = probeMemory(bytes, name);
      EXPECT_FALSE(r.mime.empty()) << name;
      if (r.width) {
        EXPECT_GT(*r.width, 0) << name;
      }
      if (r.duration) {
        EXPECT_TRUE(std::isfinite(*r.duration)) << name;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Columns

TEST(ProbeMedia, ColumnsValuesAndJsonAgree) {
  ProbeResult r;
  r.mime = "video/mp4";
  r.format = "mp4";
  r.width = 640;
  r.duration = 3.5;
  r.camera = "caf\xe9";  // invalid UTF-8 from a hostile EXIF string must not break the cache
  const auto& cols = loom::media::probeColumns();
  auto values = loom::media::probeValues(r);
  ASSERT_EQ(values.size(), cols.size());
  for (const char* standard : {"mime", "width", "height", "duration", "fps", "sample_rate", "channels", "pages"}) {
    bool found = false;
    for (const auto& c : cols) found = found || c.name == standard;
    EXPECT_TRUE(found) << standard << " is a standard column";
  }
  auto back = loom::media::probeValuesFromJson(loom::media::probeJson(values));
  ASSERT_EQ(back.size(), cols.size());
  for (size_t i = 0; i < cols.size(); ++i) {
    if (cols[i].name == "camera") continue;
    EXPECT_EQ(back[i], values[i]) << cols[i].name;
  }
}

}  // namespace

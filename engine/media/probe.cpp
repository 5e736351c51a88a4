#include "media/probe.h"

#include <magic.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

#include "media/probe_detail.h"

namespace loom::media {

namespace {

using core::Error;
using core::ErrorKind;
using core::makeError;
using Size = std::pair<int64_t, int64_t>;
using SizeResult = core::Result<std::optional<Size>>;

// ---------------------------------------------------------------------------------------------
// libmagic

// A magic_t is not thread-safe and loading its database costs milliseconds, so each thread keeps
// its own, loaded on first use and closed when the thread exits.
class MagicHandle {
 public:
  MagicHandle() {
    m_cookie = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
    if (!m_cookie) {
      m_loadError = "libmagic could not be initialised (out of memory?)";
      return;
    }
    if (magic_load(m_cookie, nullptr) != 0) {
      const char* why = magic_error(m_cookie);
      m_loadError = std::string("libmagic could not load its database: ") + (why ? why : "unknown error") +
                    " (is libmagic-mgc installed, or MAGIC set to a readable file?)";
      magic_close(m_cookie);
      m_cookie = nullptr;
    }
  }
  ~MagicHandle() {
    if (m_cookie) magic_close(m_cookie);
  }
  MagicHandle(const MagicHandle&) = delete;
  MagicHandle& operator=(const MagicHandle&) = delete;

  // The MIME type of `bytes`, or an error message when libmagic fails.
  core::Result<std::string> mimeOf(std::string_view bytes) {
    if (!m_cookie) return makeError(ErrorKind::Internal, m_loadError);
    const char* mime = magic_buffer(m_cookie, bytes.data(), bytes.size());
    if (!mime) {
      const char* why = magic_error(m_cookie);
      return makeError(ErrorKind::Internal, std::string("libmagic failed: ") + (why ? why : "unknown error"));
    }
    return std::string(mime);
  }

 private:
  magic_t m_cookie = nullptr;
  std::string m_loadError;
};

MagicHandle& threadMagic() {
  thread_local MagicHandle handle;
  return handle;
}

// Lower-case extension of the last path component of `name` ("s3://b/x/Data.CSV" -> "csv").
std::string extensionOf(std::string_view name) {
  size_t cut = name.find_first_of("?#");
  if (cut != std::string_view::npos && name.find("://") != std::string_view::npos) name = name.substr(0, cut);
  size_t slash = name.find_last_of("/\\");
  if (slash != std::string_view::npos) name = name.substr(slash + 1);
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  std::string ext(name.substr(dot + 1));
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

// libmagic's "text/plain" only says the bytes are text; the name decides which text format. Content
// that libmagic recognised as something specific is never overridden by the name.
std::string refineTextType(const std::string& mime, std::string_view name) {
  if (mime != "text/plain") return mime;
  static const std::pair<const char*, const char*> kTextTypes[] = {
      {"csv", "text/csv"},
      {"tsv", "text/tab-separated-values"},
      {"tab", "text/tab-separated-values"},
      {"json", "application/json"},
      {"jsonl", "application/x-ndjson"},
      {"ndjson", "application/x-ndjson"},
      {"md", "text/markdown"},
      {"markdown", "text/markdown"},
      {"yaml", "application/yaml"},
      {"yml", "application/yaml"},
      {"srt", "application/x-subrip"},
      {"vtt", "text/vtt"},
  };
  std::string ext = extensionOf(name);
  for (const auto& [e, type] : kTextTypes)
    if (ext == e) return type;
  return mime;
}

// ---------------------------------------------------------------------------------------------
// Bounds-checked reading. Every offset is checked against the buffer before use; offsets come from
// hostile files, so arithmetic is done in uint64_t where a 32-bit field could overflow.

class Bytes {
 public:
  explicit Bytes(std::string_view data) : m_data(data) {}
  uint64_t size() const { return m_data.size(); }
  bool has(uint64_t offset, uint64_t count) const { return offset <= size() && count <= size() - offset; }
  uint8_t u8(uint64_t at) const { return static_cast<uint8_t>(m_data[at]); }
  uint32_t be16(uint64_t at) const { return (uint32_t{u8(at)} << 8) | u8(at + 1); }
  uint32_t le16(uint64_t at) const { return (uint32_t{u8(at + 1)} << 8) | u8(at); }
  uint32_t le24(uint64_t at) const { return le16(at) | (uint32_t{u8(at + 2)} << 16); }
  uint32_t be32(uint64_t at) const { return (be16(at) << 16) | be16(at + 2); }
  uint32_t le32(uint64_t at) const { return (le16(at + 2) << 16) | le16(at); }
  uint64_t le64(uint64_t at) const { return (uint64_t{le32(at + 4)} << 32) | le32(at); }
  uint64_t be64(uint64_t at) const { return (uint64_t{be32(at)} << 32) | be32(at + 4); }
  bool startsWith(uint64_t at, std::string_view s) const {
    return has(at, s.size()) && m_data.substr(at, s.size()) == s;
  }
  std::string_view slice(uint64_t at, uint64_t count) const { return m_data.substr(at, count); }

 private:
  std::string_view m_data;
};

std::string sizeText(uint64_t bytes) {
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes) + " bytes";
}

std::string hex(uint32_t v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*X", digits, v);
  return buf;
}

Error corrupt(const char* format, const std::string& what) {
  return makeError(ErrorKind::Corrupt, std::string("corrupt ") + format + " header: " + what);
}

// The header needs bytes past the end of `data`. When the caller gave fewer bytes than
// kProbeHeadBytes it gave the whole file, so the file is truncated. With a full probe window the
// file may be valid with its header further in (TIFFs often keep their IFD at the end, JPEGs can
// carry large metadata before the frame header); saying "corrupt" then would be wrong, so that case
// is reported as an unsupported layout.
Error pastEnd(const char* format, const Bytes& data, const std::string& what) {
  if (data.size() < static_cast<uint64_t>(kProbeHeadBytes))
    return corrupt(format, what + ", but the data ends after " + std::to_string(data.size()) +
                               " bytes (truncated file?)");
  return makeError(ErrorKind::Unsupported, std::string(format) + " size not read: " + what + ", beyond the first " +
                                               sizeText(data.size()) + " read");
}

SizeResult sized(int64_t width, int64_t height) { return std::optional<Size>(Size{width, height}); }
SizeResult notAnImage() { return std::optional<Size>(); }

// ---------------------------------------------------------------------------------------------
// TIFF structure, shared by TIFF files and the EXIF block in JPEG APP1.

struct TiffTags {
  std::optional<uint64_t> width;        // tag 256
  std::optional<uint64_t> height;       // tag 257
  std::optional<uint32_t> orientation;  // tag 274
  std::optional<uint32_t> bitsPerSample;    // tag 258 (first sample)
  std::optional<uint32_t> samplesPerPixel;  // tag 277
  std::optional<uint32_t> photometric;      // tag 262
  bool extraSamples = false;                // tag 338: alpha or other extra channels
};

class TiffReader {
 public:
  explicit TiffReader(Bytes data) : m_data(data) {}

  // Reads the byte-order mark and the first IFD's tags. Returns an error message on malformed data
  // and `ifdPastEnd` when the IFD lies outside the buffer (which a caller may treat differently).
  std::optional<std::string> read(TiffTags& tags, bool& ifdPastEnd, uint64_t& ifdOffset) {
    ifdPastEnd = false;
    if (!m_data.has(0, 8)) return "the TIFF header is shorter than 8 bytes";
    if (m_data.startsWith(0, "II"))
      m_le = true;
    else if (m_data.startsWith(0, "MM"))
      m_le = false;
    else
      return "byte-order mark is neither II nor MM";
    uint32_t magic = u16(2);
    if (magic == 43) {
      // BigTIFF: 8-byte offsets and counts, 20-byte IFD entries.
      if (!m_data.has(0, 16)) return "the BigTIFF header is shorter than 16 bytes";
      if (u16(4) != 8 || u16(6) != 0) return "BigTIFF offset size is not 8";
      m_big = true;
      ifdOffset = u64(8);
    } else if (magic == 42) {
      ifdOffset = u32(4);
    } else {
      return "version is " + std::to_string(magic) + ", expected 42";
    }
    if (ifdOffset < (m_big ? 16u : 8u)) return "first IFD offset " + std::to_string(ifdOffset) + " points into the header";

    const uint64_t countSize = m_big ? 8 : 2;
    const uint64_t entrySize = m_big ? 20 : 12;
    if (!m_data.has(ifdOffset, countSize)) {
      ifdPastEnd = true;
      return "first IFD at byte " + std::to_string(ifdOffset);
    }
    uint64_t count = m_big ? u64(ifdOffset) : u16(ifdOffset);
    if (count == 0) return "the first IFD has no entries";
    // A real first IFD has a few dozen entries; the cap keeps a hostile 64-bit count from looping.
    if (count > 65535) return "the first IFD claims " + std::to_string(count) + " entries";
    const uint64_t entries = ifdOffset + countSize;
    for (uint64_t i = 0; i < count; ++i) {
      const uint64_t e = entries + i * entrySize;
      if (!m_data.has(e, entrySize)) {
        ifdPastEnd = true;
        return "IFD entry " + std::to_string(i) + " of " + std::to_string(count) + " at byte " + std::to_string(e);
      }
      const uint32_t tag = u16(e);
      const uint32_t type = u16(e + 2);
      const uint64_t n = m_big ? u64(e + 4) : u32(e + 4);
      const uint64_t value = e + (m_big ? 12 : 8);
      if (n < 1) continue;
      if (tag == 258 && type == 3) {
        // One value per sample: inline when they fit in the value field, elsewhere an offset to them.
        const uint64_t inlineBytes = m_big ? 8 : 4;
        if (n * 2 <= inlineBytes) {
          tags.bitsPerSample = u16(value);
        } else {
          const uint64_t at = m_big ? u64(value) : u32(value);
          if (m_data.has(at, 2)) tags.bitsPerSample = u16(at);
        }
        continue;
      }
      if (tag == 338) tags.extraSamples = true;
      std::optional<uint64_t> v;
      if (type == 3)
        v = u16(value);  // SHORT, left-justified in the value field
      else if (type == 4)
        v = u32(value);  // LONG
      else if (type == 16 && m_big)
        v = u64(value);  // LONG8
      if (!v) continue;
      if (tag == 256) tags.width = v;
      if (tag == 257) tags.height = v;
      if (tag == 274 && type == 3) tags.orientation = static_cast<uint32_t>(*v);
      if (tag == 277 && *v <= 64) tags.samplesPerPixel = static_cast<uint32_t>(*v);
      if (tag == 262 && *v <= 0xFFFF) tags.photometric = static_cast<uint32_t>(*v);
    }
    return std::nullopt;
  }

 private:
  uint32_t u16(uint64_t at) const { return m_le ? m_data.le16(at) : m_data.be16(at); }
  uint32_t u32(uint64_t at) const { return m_le ? m_data.le32(at) : m_data.be32(at); }
  uint64_t u64(uint64_t at) const { return m_le ? m_data.le64(at) : m_data.be64(at); }

  Bytes m_data;
  bool m_le = true;
  bool m_big = false;
};

// EXIF orientations 5..8 rotate by 90 degrees, so the displayed image is height x width.
bool swapsAxes(std::optional<uint32_t> orientation) { return orientation && *orientation >= 5 && *orientation <= 8; }

// ---------------------------------------------------------------------------------------------
// Per-format parsers. Each is called only once the format's signature matched.

// A broken EXIF block does not stop any viewer from showing the image, so it only loses the
// orientation; it never makes the JPEG an error.
std::optional<uint32_t> exifOrientation(std::string_view app1Payload) {
  Bytes p(app1Payload);
  if (!p.startsWith(0, std::string_view("Exif\0", 5)) || !p.has(0, 6)) return std::nullopt;
  TiffTags tags;
  bool pastEnd = false;
  uint64_t ifd = 0;
  if (TiffReader(Bytes(app1Payload.substr(6))).read(tags, pastEnd, ifd)) return std::nullopt;
  if (tags.orientation && (*tags.orientation < 1 || *tags.orientation > 8)) return std::nullopt;
  return tags.orientation;
}

// What a JPEG's frame header and EXIF block add to its size, for probeObject().
struct JpegExtras {
  uint32_t precision = 0;   // bits per sample
  uint32_t components = 0;  // 1 gray, 3 YCbCr, 4 CMYK
  std::string_view exif;    // the APP1 payload after "Exif\0\0" (a TIFF structure), possibly cut short
};

SizeResult jpegSize(const Bytes& d, JpegExtras* extras = nullptr) {
  std::optional<uint32_t> orientation;
  uint64_t pos = 2;
  while (true) {
    // libjpeg skips stray bytes between segments (with a warning) and so do browsers; doing the same
    // keeps such files readable. Every step advances `pos`, so the walk ends.
    while (pos < d.size() && d.u8(pos) != 0xFF) ++pos;
    while (pos < d.size() && d.u8(pos) == 0xFF) ++pos;
    if (pos >= d.size()) {
      if (d.size() >= static_cast<uint64_t>(kProbeHeadBytes))
        return makeError(ErrorKind::Unsupported,
                         "JPEG size not read: no SOF marker in the first " + sizeText(d.size()));
      return corrupt("JPEG", "no SOF marker before the data ends after " + std::to_string(d.size()) +
                                 " bytes (truncated file?)");
    }
    const uint32_t marker = d.u8(pos);
    const uint64_t markerAt = pos - 1;
    ++pos;
    if (marker == 0x00 || marker == 0x01 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7))
      continue;  // stuffed byte, TEM, SOI, RSTn: no length field
    if (marker == 0xD9) return corrupt("JPEG", "end-of-image marker at byte " + std::to_string(markerAt) + " before any SOF marker");
    if (marker == 0xDA) return corrupt("JPEG", "scan data at byte " + std::to_string(markerAt) + " before any SOF marker");

    const std::string name = "segment FF" + hex(marker, 2) + " at byte " + std::to_string(markerAt);
    if (!d.has(pos, 2)) return pastEnd("JPEG", d, name + " has no length field");
    const uint32_t length = d.be16(pos);
    if (length < 2) return corrupt("JPEG", name + " has length " + std::to_string(length) + " (minimum 2)");
    const uint64_t end = pos + length;

    const bool isSof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (isSof) {
      if (length < 8) return corrupt("JPEG", name + " (frame header) has length " + std::to_string(length) + ", expected at least 8");
      if (!d.has(pos, 7)) return pastEnd("JPEG", d, "frame header " + name + " is cut short");
      const int64_t height = d.be16(pos + 3);
      const int64_t width = d.be16(pos + 5);
      if (width == 0) return corrupt("JPEG", "frame header " + name + " declares width 0");
      if (extras) {
        extras->precision = d.u8(pos + 2);
        if (d.has(pos + 7, 1)) extras->components = d.u8(pos + 7);
      }
      if (height == 0)
        return makeError(ErrorKind::Unsupported,
                         "JPEG height is defined by a DNL marker after the first scan; Loom reads only the frame header");
      if (swapsAxes(orientation)) return sized(height, width);
      return sized(width, height);
    }
    if (marker == 0xE1 && !orientation) {
      const uint64_t available = std::min<uint64_t>(length - 2, d.size() - std::min<uint64_t>(d.size(), pos + 2));
      if (d.has(pos + 2, available)) orientation = exifOrientation(d.slice(pos + 2, available));
      if (extras && extras->exif.empty() && available > 6 && d.startsWith(pos + 2, std::string_view("Exif\0", 5)))
        extras->exif = d.slice(pos + 8, available - 6);
    }
    if (end > d.size())
      return pastEnd("JPEG", d, name + " runs to byte " + std::to_string(end) + " before any SOF marker");
    pos = end;
  }
}

SizeResult pngSize(const Bytes& d) {
  static constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);
  if (!d.has(0, 8)) return pastEnd("PNG", d, "the 8-byte signature is incomplete");
  if (!d.startsWith(0, kSignature))
    return corrupt("PNG", "signature bytes 5-8 are damaged (typical of a transfer that rewrote line endings)");
  uint64_t chunk = 8;
  // Apple's iOS-optimised PNGs put a CgBI chunk before IHDR; skip it rather than fail.
  if (d.has(chunk, 8) && d.startsWith(chunk + 4, "CgBI")) chunk += 12 + uint64_t{d.be32(chunk)};
  if (!d.has(chunk, 8)) return pastEnd("PNG", d, "the IHDR chunk header is missing");
  if (!d.startsWith(chunk + 4, "IHDR")) return corrupt("PNG", "the first chunk is not IHDR");
  if (d.be32(chunk) != 13) return corrupt("PNG", "IHDR has length " + std::to_string(d.be32(chunk)) + ", expected 13");
  if (!d.has(chunk + 8, 8)) return pastEnd("PNG", d, "the IHDR chunk is cut short");
  const int64_t width = d.be32(chunk + 8);
  const int64_t height = d.be32(chunk + 12);
  // The PNG spec limits both to 1 .. 2^31-1.
  if (width == 0 || height == 0 || width > 0x7FFFFFFF || height > 0x7FFFFFFF)
    return corrupt("PNG", "IHDR declares " + std::to_string(width) + "x" + std::to_string(height));
  return sized(width, height);
}

SizeResult gifSize(const Bytes& d) {
  if (!d.has(0, 6)) return pastEnd("GIF", d, "the 6-byte signature is incomplete");
  if (!d.startsWith(0, "GIF87a") && !d.startsWith(0, "GIF89a")) return corrupt("GIF", "version is not 87a or 89a");
  if (!d.has(0, 13)) return pastEnd("GIF", d, "the logical screen descriptor is cut short");
  const int64_t width = d.le16(6);
  const int64_t height = d.le16(8);
  if (width > 0 && height > 0) return sized(width, height);

  // Some encoders write a 0x0 logical screen; browsers then use the first frame, and so do we.
  uint64_t pos = 13;
  const uint32_t packed = d.u8(10);
  if (packed & 0x80) pos += 3ull << ((packed & 7) + 1);
  while (true) {
    if (!d.has(pos, 1)) return pastEnd("GIF", d, "the logical screen is 0x0 and no image descriptor was found");
    const uint32_t block = d.u8(pos);
    if (block == 0x2C) {
      if (!d.has(pos, 10)) return pastEnd("GIF", d, "the first image descriptor is cut short");
      const int64_t w = int64_t{d.le16(pos + 1)} + d.le16(pos + 5);
      const int64_t h = int64_t{d.le16(pos + 3)} + d.le16(pos + 7);
      if (w == 0 || h == 0) return corrupt("GIF", "the logical screen and the first frame are both empty");
      return sized(w, h);
    }
    if (block != 0x21) return corrupt("GIF", "unexpected block 0x" + hex(block, 2) + " at byte " + std::to_string(pos));
    pos += 2;  // introducer and label, then data sub-blocks ended by a zero-length one
    while (true) {
      if (!d.has(pos, 1)) return pastEnd("GIF", d, "an extension block runs past the data");
      const uint32_t len = d.u8(pos);
      pos += 1 + uint64_t{len};
      if (len == 0) break;
    }
  }
}

SizeResult bmpSize(const Bytes& d) {
  if (!d.has(14, 4)) return pastEnd("BMP", d, "the DIB header size field is missing");
  const uint32_t dib = d.le32(14);
  int64_t width = 0;
  int64_t height = 0;
  if (dib == 12) {  // BITMAPCOREHEADER (OS/2 1.x): unsigned 16-bit dimensions
    if (!d.has(18, 4)) return pastEnd("BMP", d, "the core header is cut short");
    width = d.le16(18);
    height = d.le16(20);
  } else if (dib >= 16 && dib <= 124) {  // OS/2 2.x and BITMAPINFOHEADER through V5: signed 32-bit
    if (!d.has(18, 8)) return pastEnd("BMP", d, "the info header is cut short");
    width = static_cast<int32_t>(d.le32(18));
    height = static_cast<int32_t>(d.le32(22));
    height = std::abs(height);  // negative height marks a top-down bitmap; int64_t holds -INT32_MIN
  } else {
    return corrupt("BMP", "unknown DIB header size " + std::to_string(dib));
  }
  if (width <= 0 || height == 0)
    return corrupt("BMP", "header declares " + std::to_string(width) + "x" + std::to_string(height));
  return sized(width, height);
}

SizeResult webpSize(const Bytes& d) {
  if (!d.has(12, 8)) return pastEnd("WebP", d, "the first chunk header is missing");
  const uint32_t chunkSize = d.le32(16);
  if (d.startsWith(12, "VP8 ")) {
    if (!d.has(20, 10)) return pastEnd("WebP", d, "the VP8 frame header is cut short");
    if (d.u8(20) & 1) return corrupt("WebP", "the VP8 frame is not a key frame");
    if (!d.startsWith(23, "\x9d\x01\x2a")) return corrupt("WebP", "the VP8 start code is missing");
    const int64_t width = d.le16(26) & 0x3FFF;  // top two bits are the horizontal scale
    const int64_t height = d.le16(28) & 0x3FFF;
    if (width == 0 || height == 0) return corrupt("WebP", "VP8 frame declares " + std::to_string(width) + "x" + std::to_string(height));
    return sized(width, height);
  }
  if (d.startsWith(12, "VP8L")) {
    if (!d.has(20, 5)) return pastEnd("WebP", d, "the VP8L header is cut short");
    if (d.u8(20) != 0x2F) return corrupt("WebP", "the VP8L signature byte is missing");
    const uint32_t bits = d.le32(21);
    if (bits >> 29) return corrupt("WebP", "VP8L version is not 0");
    return sized(int64_t{bits & 0x3FFF} + 1, int64_t{(bits >> 14) & 0x3FFF} + 1);
  }
  if (d.startsWith(12, "VP8X")) {
    if (chunkSize < 10) return corrupt("WebP", "the VP8X chunk has length " + std::to_string(chunkSize) + ", expected 10");
    if (!d.has(20, 10)) return pastEnd("WebP", d, "the VP8X header is cut short");
    return sized(int64_t{d.le24(24)} + 1, int64_t{d.le24(27)} + 1);
  }
  std::string fourcc(d.slice(12, 4));
  for (char& c : fourcc)
    if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
  return corrupt("WebP", "the first chunk is '" + fourcc + "', expected VP8, VP8L or VP8X");
}

SizeResult tiffSize(const Bytes& d) {
  TiffTags tags;
  bool ifdPastEnd = false;
  uint64_t ifdOffset = 0;
  if (auto why = TiffReader(d).read(tags, ifdPastEnd, ifdOffset)) {
    if (ifdPastEnd) return pastEnd("TIFF", d, *why);
    return corrupt("TIFF", *why);
  }
  if (!tags.width || !tags.height) return corrupt("TIFF", "the first IFD has no ImageWidth/ImageLength tag");
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  if (*tags.width == 0 || *tags.height == 0 || *tags.width > kMax || *tags.height > kMax)
    return corrupt("TIFF", "the first IFD declares " + std::to_string(*tags.width) + "x" + std::to_string(*tags.height));
  // Same tag as EXIF orientation; viewers that honour it show 5..8 rotated.
  const auto w = static_cast<int64_t>(*tags.width);
  const auto h = static_cast<int64_t>(*tags.height);
  if (swapsAxes(tags.orientation)) return sized(h, w);
  return sized(w, h);
}


// ---------------------------------------------------------------------------------------------
// Details beyond the size: channels, bit depth, frames, EXIF camera and date.

// Make, Model and DateTimeOriginal from a TIFF structure (an EXIF block or a TIFF file): IFD0 and
// the EXIF sub-IFD it points to. Hand-parsed, like the sizes: we need three tags, and exiv2 has a
// long record of crashes on hostile input. Anything malformed just leaves the fields empty.
struct ExifFields {
  std::string make, model, original, digitized;
};

class ExifWalker {
 public:
  explicit ExifWalker(Bytes d) : m_d(d) {}
  ExifFields read() {
    ExifFields f;
    if (!m_d.has(0, 8)) return f;
    if (m_d.startsWith(0, "II"))
      m_le = true;
    else if (m_d.startsWith(0, "MM"))
      m_le = false;
    else
      return f;
    if (u16(2) != 42) return f;  // BigTIFF carries no EXIF in practice
    walk(u32(4), f, 0);
    return f;
  }

 private:
  void walk(uint64_t ifd, ExifFields& f, int depth) {
    if (depth > 1 || !m_d.has(ifd, 2)) return;
    const uint64_t count = std::min<uint64_t>(u16(ifd), 1000);
    for (uint64_t i = 0; i < count; ++i) {
      const uint64_t e = ifd + 2 + i * 12;
      if (!m_d.has(e, 12)) return;
      const uint32_t tag = u16(e);
      if (tag == 0x010F) f.make = ascii(e);
      if (tag == 0x0110) f.model = ascii(e);
      if (tag == 0x9003) f.original = ascii(e);
      if (tag == 0x9004) f.digitized = ascii(e);
      if (tag == 0x8769 && u16(e + 2) == 4 && depth == 0) {
        const uint64_t sub = u32(e + 8);
        if (sub != ifd) walk(sub, f, depth + 1);
      }
    }
  }
  std::string ascii(uint64_t e) const {
    if (u16(e + 2) != 2) return {};
    const uint64_t n = u32(e + 4);
    if (n == 0 || n > 256) return {};
    const uint64_t at = n <= 4 ? e + 8 : u32(e + 8);
    if (!m_d.has(at, n)) return {};
    std::string s(m_d.slice(at, n));
    s = s.substr(0, s.find('\0'));
    for (char& c : s)
      if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  }
  uint32_t u16(uint64_t at) const { return m_le ? m_d.le16(at) : m_d.be16(at); }
  uint32_t u32(uint64_t at) const { return m_le ? m_d.le32(at) : m_d.be32(at); }

  Bytes m_d;
  bool m_le = true;
};

// "2024:05:01 12:34:56" -> "2024-05-01T12:34:56"; empty for anything else (including the
// all-zero date cameras write when their clock was never set).
std::string exifDate(const std::string& s) {
  if (s.size() < 19) return {};
  for (size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u, 11u, 12u, 14u, 15u, 17u, 18u})
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return {};
  if (s[4] != ':' || s[7] != ':' || s[10] != ' ' || s[13] != ':' || s[16] != ':') return {};
  if (s.compare(0, 4, "0000") == 0) return {};
  std::string out = s.substr(0, 19);
  out[4] = '-';
  out[7] = '-';
  out[10] = 'T';
  return out;
}

void applyExif(const ExifFields& f, ProbeResult& out) {
  // Most cameras repeat the maker in the model ("Canon" + "Canon EOS 5D"); say it once.
  if (!f.make.empty() && f.model.rfind(f.make, 0) != 0)
    out.camera = f.model.empty() ? f.make : f.make + " " + f.model;
  else
    out.camera = f.model;
  out.takenAt = exifDate(f.original);
  if (out.takenAt.empty()) out.takenAt = exifDate(f.digitized);
}

void pngDetails(const Bytes& d, ProbeResult& out) {
  uint64_t chunk = 8;
  if (d.has(chunk, 8) && d.startsWith(chunk + 4, "CgBI")) chunk += 12 + uint64_t{d.be32(chunk)};
  if (!d.has(chunk + 8, 13)) return;
  const uint32_t depth = d.u8(chunk + 16);
  const uint32_t type = d.u8(chunk + 17);
  out.bitDepth = depth;
  switch (type) {
    case 0: out.channels = 1, out.color = "gray"; break;
    case 2: out.channels = 3, out.color = "rgb"; break;
    case 3: out.channels = 3, out.color = "palette"; break;
    case 4: out.channels = 2, out.color = "gray+alpha"; break;
    case 6: out.channels = 4, out.color = "rgba"; break;
    default: break;
  }
  // Chunks before the image data: acTL makes an animated PNG; tRNS gives a palette an alpha channel.
  uint64_t pos = chunk + 25;
  while (d.has(pos, 8)) {
    const uint64_t len = d.be32(pos);
    if (d.startsWith(pos + 4, "IDAT") || d.startsWith(pos + 4, "IEND")) break;
    if (d.startsWith(pos + 4, "acTL") && len >= 8 && d.has(pos + 8, 4)) out.frames = d.be32(pos + 8);
    if (d.startsWith(pos + 4, "tRNS") && type == 3) out.channels = 4;
    pos += 12 + len;
  }
}

// Frames and total delay of a GIF. `whole`: d is the whole file, so running out of data means it is
// cut short (browsers show the frames before the cut, and so this counts them).
void gifDetails(const Bytes& d, bool whole, ProbeResult& out) {
  out.channels = 3;
  out.color = "palette";
  out.bitDepth = 8;
  if (!d.has(0, 13)) return;
  uint64_t pos = 13;
  const uint32_t packed = d.u8(10);
  if (packed & 0x80) pos += 3ull << ((packed & 7) + 1);
  int64_t frames = 0, centiseconds = 0;
  auto skipSubBlocks = [&]() {
    while (d.has(pos, 1)) {
      const uint32_t len = d.u8(pos);
      pos += 1 + uint64_t{len};
      if (len == 0) return true;
    }
    return false;
  };
  bool complete = false;
  while (d.has(pos, 1)) {
    const uint32_t block = d.u8(pos);
    if (block == 0x3B) {
      complete = true;
      break;
    }
    if (block == 0x2C) {
      if (!d.has(pos, 10)) break;
      const uint32_t local = d.u8(pos + 9);
      pos += 10;
      if (local & 0x80) pos += 3ull << ((local & 7) + 1);
      pos += 1;  // LZW minimum code size
      if (!skipSubBlocks()) break;
      ++frames;
    } else if (block == 0x21) {
      if (d.has(pos, 8) && d.u8(pos + 1) == 0xF9) centiseconds += d.le16(pos + 4);
      pos += 2;
      if (!skipSubBlocks()) break;
    } else {
      break;  // garbage after the frames: what was counted stands
    }
  }
  if (complete || whole) {
    out.frames = frames;
    if (frames > 1 && centiseconds > 0) out.duration = static_cast<double>(centiseconds) / 100.0;
  }
}

void webpDetails(const Bytes& d, bool whole, ProbeResult& out) {
  out.bitDepth = 8;
  bool alpha = false, animated = false;
  if (d.startsWith(12, "VP8L") && d.has(21, 4)) alpha = (d.le32(21) >> 28) & 1;
  if (d.startsWith(12, "VP8X") && d.has(20, 1)) {
    alpha = d.u8(20) & 0x10;
    animated = d.u8(20) & 0x02;
  }
  out.channels = alpha ? 4 : 3;
  out.color = alpha ? "rgba" : "rgb";
  if (!animated) return;
  int64_t frames = 0, millis = 0;
  uint64_t pos = 12;
  bool complete = false;
  while (d.has(pos, 8)) {
    const uint64_t len = d.le32(pos + 4);
    if (d.startsWith(pos, "ANMF")) {
      ++frames;
      if (d.has(pos + 8, 15)) millis += d.le24(pos + 8 + 12);
    }
    pos += 8 + len + (len & 1);
    if (pos >= d.size()) complete = pos == d.size();
  }
  if (complete || whole) {
    out.frames = frames;
    if (millis > 0) out.duration = static_cast<double>(millis) / 1000.0;
  }
}

void tiffDetails(const Bytes& d, ProbeResult& out) {
  TiffTags tags;
  bool pastEnd = false;
  uint64_t ifd = 0;
  if (TiffReader(d).read(tags, pastEnd, ifd)) return;
  if (tags.bitsPerSample) out.bitDepth = *tags.bitsPerSample;
  if (tags.samplesPerPixel) out.channels = *tags.samplesPerPixel;
  const uint32_t pm = tags.photometric.value_or(2);
  const char* names[] = {"gray", "gray", "rgb", "palette", "mask", "cmyk", "ycbcr"};
  if (pm <= 6) out.color = names[pm];
  if (tags.extraSamples && (pm == 0 || pm == 1 || pm == 2)) out.color += pm == 2 ? "a" : "+alpha";
  if (!tags.samplesPerPixel) out.channels = pm == 2 || pm == 3 || pm == 6 ? 3 : pm == 5 ? 4 : 1;
  applyExif(ExifWalker(d).read(), out);
}

void bmpDetails(const Bytes& d, ProbeResult& out) {
  if (!d.has(14, 4)) return;
  const uint32_t dib = d.le32(14);
  const uint64_t at = dib == 12 ? 24 : 28;
  if (!d.has(at, 2)) return;
  const uint32_t bpp = d.le16(at);
  if (bpp == 32) {
    out.channels = 4, out.color = "rgba", out.bitDepth = 8;
  } else if (bpp == 24 || bpp == 16) {
    out.channels = 3, out.color = "rgb", out.bitDepth = bpp == 24 ? 8 : 5;
  } else if (bpp >= 1 && bpp <= 8) {
    out.channels = 3, out.color = "palette", out.bitDepth = bpp;
  }
}

// What a name's extension promises, for files whose content libmagic does not recognise.
enum class Promise { None, Image, Video, Audio, Pdf };

Promise promiseOf(std::string_view name) {
  const std::string ext = extensionOf(name);
  for (const char* e : {"jpg", "jpeg", "png", "gif", "webp", "tif", "tiff", "bmp"})
    if (ext == e) return Promise::Image;
  for (const char* e : {"mp4", "m4v", "mov", "mkv", "webm", "avi"})
    if (ext == e) return Promise::Video;
  for (const char* e : {"wav", "mp3", "flac", "ogg", "oga", "opus", "m4a", "aac"})
    if (ext == e) return Promise::Audio;
  if (ext == "pdf") return Promise::Pdf;
  return Promise::None;
}

const char* promiseName(Promise p) {
  switch (p) {
    case Promise::Image: return "an image";
    case Promise::Video: return "a video";
    case Promise::Audio: return "an audio file";
    case Promise::Pdf: return "a PDF";
    case Promise::None: break;
  }
  return "a known format";
}

bool isTextMime(const std::string& mime) {
  if (mime.rfind("text/", 0) == 0) return true;
  for (const char* t : {"application/json", "application/x-ndjson", "application/yaml", "application/xml",
                        "application/javascript", "application/x-subrip", "application/csv"})
    if (mime == t) return true;
  return false;
}

const char* imageFormat(const Bytes& d) {
  if (d.startsWith(0, "\xFF\xD8\xFF")) return "jpeg";
  if (d.startsWith(0, "\x89PNG")) return "png";
  if (d.startsWith(0, "GIF8")) return "gif";
  if (d.startsWith(0, "RIFF") && d.startsWith(8, "WEBP")) return "webp";
  if (d.startsWith(0, "II") || d.startsWith(0, "MM")) return "tiff";
  if (d.startsWith(0, "BM")) return "bmp";
  return "";
}

// Images: size from the header (read further when the header lies beyond the first window), the
// pixel limit, then the details of each format.
void probeImage(ObjectReader& reader, std::string_view head, int64_t size, const MediaLimits& limits, ProbeResult& out) {
  std::string more;
  std::string_view data = head;
  // Animated GIF/WebP frames and headers past the first window (large EXIF blocks, TIFF directories
  // after the pixels) need more than the head: the whole file when it is small enough.
  const int64_t wholeLimit = std::min<int64_t>(limits.maxProbeBytes / 2, 8 * 1024 * 1024);
  auto readWhole = [&]() {
    if (data.size() >= static_cast<size_t>(size) || size > wholeLimit) return false;
    auto r = reader.read(0, size);
    if (!r.ok()) return false;
    more = std::move(r).value();
    data = more;
    return true;
  };
  JpegExtras jpeg;
  const Bytes h(data);
  SizeResult sized = h.startsWith(0, "\xFF\xD8\xFF") ? jpegSize(h, &jpeg) : imageSize(data);
  if (!sized && sized.error().kind == ErrorKind::Unsupported && readWhole()) {
    jpeg = {};
    const Bytes w(data);
    sized = w.startsWith(0, "\xFF\xD8\xFF") ? jpegSize(w, &jpeg) : imageSize(data);
  }
  if (!sized) {
    if (sized.error().kind != ErrorKind::Unsupported) out.error = reader.uri() + ": " + sized.error().message;
    return;
  }
  const Bytes d(data);
  out.format = imageFormat(d);
  if (!*sized) {
    // libmagic says image, but not one whose header we parse (SVG, ICO, HEIC, ...): mime only.
    out.format.clear();
    return;
  }
  const auto [w, hgt] = **sized;
  out.width = w;
  out.height = hgt;
  // Checked in double: a hostile header's w*h may not fit in 64 bits (BigTIFF).
  if (static_cast<double>(w) * static_cast<double>(hgt) > static_cast<double>(limits.maxPixels)) {
    out.error = reader.uri() + ": the " + out.format + " header claims " + std::to_string(w) + "x" +
                std::to_string(hgt) + " pixels, over the limit of " + std::to_string(limits.maxPixels / 1'000'000) +
                " megapixels; the file is probably damaged or hostile, and Loom will not decode it";
    return;
  }
  if (out.format == "jpeg") {
    if (jpeg.precision) out.bitDepth = jpeg.precision;
    if (jpeg.components == 1) out.channels = 1, out.color = "gray";
    if (jpeg.components == 3) out.channels = 3, out.color = "ycbcr";
    if (jpeg.components == 4) out.channels = 4, out.color = "cmyk";
    if (!jpeg.exif.empty()) applyExif(ExifWalker(Bytes(jpeg.exif)).read(), out);
  } else if (out.format == "png") {
    pngDetails(d, out);
  } else if (out.format == "gif") {
    readWhole();
    gifDetails(Bytes(data), data.size() >= static_cast<size_t>(size), out);
  } else if (out.format == "webp") {
    if (d.startsWith(12, "VP8X") && d.has(20, 1) && (d.u8(20) & 0x02)) readWhole();
    webpDetails(Bytes(data), data.size() >= static_cast<size_t>(size), out);
  } else if (out.format == "tiff") {
    tiffDetails(d, out);
  } else if (out.format == "bmp") {
    bmpDetails(d, out);
  }
}

}  // namespace

// Hand-parsed: no library reads the sizes of all six formats from a header without decoding pixels.
core::Result<std::optional<std::pair<int64_t, int64_t>>> imageSize(std::string_view head) {
  const Bytes d(head);
  if (d.startsWith(0, "\xFF\xD8\xFF")) return jpegSize(d);
  if (d.startsWith(0, "\x89PNG")) return pngSize(d);
  if (d.startsWith(0, "GIF8")) return gifSize(d);
  if (d.startsWith(0, "RIFF") && d.startsWith(8, "WEBP")) return webpSize(d);
  if (d.startsWith(0, std::string_view("II*\0", 4)) || d.startsWith(0, std::string_view("MM\0*", 4)) ||
      d.startsWith(0, std::string_view("II+\0", 4)) || d.startsWith(0, std::string_view("MM\0+", 4)))
    return tiffSize(d);
  if (d.startsWith(0, "BM")) return bmpSize(d);
  return notAnImage();
}

ProbeResult probeBytes(std::string_view head, std::string_view name) {
  ProbeResult result;
  try {
    auto mime = threadMagic().mimeOf(head);
    if (!mime) {
      result.mime = "application/octet-stream";
      result.error = mime.error().message;
      return result;
    }
    result.mime = refineTextType(*mime, name);
    // libmagic gives up on an image cut short right after its signature ("data"); the header parser
    // still recognises the signature, so a truncated image is reported as corrupt, not as unknown.
    if (result.mime.rfind("image/", 0) == 0 || result.mime == "application/octet-stream") {
      auto size = imageSize(head);
      // A header that lies beyond the bytes read (a TIFF whose directory follows its pixels) leaves the
      // size unknown; that is not a broken file, so the row does not fail.
      if (!size && size.error().kind != ErrorKind::Unsupported)
        result.error = size.error().message;
      else if (size && *size) {
        result.width = (*size)->first;
        result.height = (*size)->second;
      }
    }
  } catch (const std::exception& e) {
    if (result.mime.empty()) result.mime = "application/octet-stream";
    result.error = std::string("probe failed: ") + e.what();
  } catch (...) {
    if (result.mime.empty()) result.mime = "application/octet-stream";
    result.error = "probe failed with an unknown exception";
  }
  return result;
}


ProbeResult probeObject(ObjectReader& reader, std::string_view name, const MediaLimits& limits) {
  ProbeResult out;
  try {
    auto size = reader.size();
    if (!size.ok()) {
      out.mime = "application/octet-stream";
      out.error = size.error().message;
      return out;
    }
    auto head = reader.read(0, kProbeHeadBytes);
    if (!head.ok()) {
      out.mime = "application/octet-stream";
      out.error = head.error().message;
      return out;
    }
    const Promise promise = promiseOf(name);
    if (head->empty()) {
      out.mime = "application/x-empty";
      // An empty .txt is a valid text file; an empty .jpg is a failed copy or download.
      if (promise != Promise::None)
        out.error = reader.uri() + " is empty (0 bytes) but its name says it is " + promiseName(promise) +
                    "; the copy or download that made it probably failed";
      return out;
    }
    auto mime = threadMagic().mimeOf(*head);
    if (!mime) {
      out.mime = "application/octet-stream";
      out.error = reader.uri() + ": " + mime.error().message;
      return out;
    }
    out.mime = refineTextType(*mime, name);
    if ((out.mime == "application/octet-stream" || out.mime == "application/x-empty") && promise == Promise::None &&
        detail::looksLikeUtf16(*head))
      out.mime = refineTextType("text/plain", name);
    const std::string& m = out.mime;
    const bool unknownBytes = m == "application/octet-stream" || m == "application/x-empty";
    if (m.rfind("image/", 0) == 0 || (unknownBytes && std::string_view(imageFormat(Bytes(*head))) != "")) {
      probeImage(reader, *head, *size, limits, out);
    } else if (m.rfind("video/", 0) == 0 || m.rfind("audio/", 0) == 0 || m == "application/ogg") {
      detail::probeAudioVideo(reader, name, limits, out);
    } else if (m == "application/pdf") {
      detail::probePdf(reader, limits, out);
    } else if (isTextMime(m)) {
      detail::probeText(reader, *head, out);
    } else if (unknownBytes && (promise == Promise::Video || promise == Promise::Audio)) {
      // libmagic does not know every container (raw AAC, some MPEG-TS); libavformat may. When it does
      // not either, the name promised media that the bytes are not.
      detail::probeAudioVideo(reader, name, limits, out);
      if (!out.error.empty() || (!out.duration && out.videoCodec.empty()))
        out.error = reader.uri() + ": named as " + std::string(promiseName(promise)) +
                    " but its content is not a readable audio or video format (random or damaged bytes?)";
    } else if (unknownBytes && promise != Promise::None) {
      out.error = reader.uri() + ": named as " + std::string(promiseName(promise)) +
                  " but its content is not one Loom recognises (random or damaged bytes?)";
    }
  } catch (const std::exception& e) {
    if (out.mime.empty()) out.mime = "application/octet-stream";
    out.error = reader.uri() + ": probe failed: " + e.what();
  } catch (...) {
    if (out.mime.empty()) out.mime = "application/octet-stream";
    out.error = reader.uri() + ": probe failed with an unknown exception";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Columns

const std::vector<core::Column>& probeColumns() {
  using core::ColumnType;
  static const std::vector<core::Column> columns = {
      {"mime", ColumnType::Text, "MIME type sniffed from the content (libmagic), not the name"},
      {"format", ColumnType::Text, "short format or container name: jpeg, png, gif, webp, tiff, bmp, mp4, mov, m4a, mkv, webm, avi, wav, mp3, flac, ogg, pdf, text"},
      {"width", ColumnType::Integer, "pixels as displayed (images: EXIF orientation applied; video: rotation applied)"},
      {"height", ColumnType::Integer, "pixels as displayed (images: EXIF orientation applied; video: rotation applied)"},
      {"channels", ColumnType::Integer, "images: colour channels including alpha; audio: channels of the first audio stream"},
      {"bit_depth", ColumnType::Integer, "images: bits per channel as stored (palette images: bits per index); lossless audio: bits per sample"},
      {"color", ColumnType::Text, "images: gray, gray+alpha, rgb, rgba, palette, ycbcr or cmyk"},
      {"frames", ColumnType::Integer, "animated images: frame count; video: frame count (from the container, else duration x fps)"},
      {"duration", ColumnType::Real, "seconds (audio, video, animated images)"},
      {"fps", ColumnType::Real, "video frames per second (average)"},
      {"video_codec", ColumnType::Text, "codec of the main video stream (h264, hevc, vp9, av1, mpeg4, ...)"},
      {"audio_codec", ColumnType::Text, "codec of the first audio stream (aac, mp3, opus, flac, pcm_s16le, ...)"},
      {"audio_streams", ColumnType::Integer, "number of audio streams (audio and video files)"},
      {"sample_rate", ColumnType::Integer, "Hz, first audio stream"},
      {"pages", ColumnType::Integer, "PDF page count"},
      {"page_width", ColumnType::Real, "PDF first page width in points (1/72 inch), as displayed"},
      {"page_height", ColumnType::Real, "PDF first page height in points (1/72 inch), as displayed"},
      {"encoding", ColumnType::Text, "text: ascii, utf-8, utf-8-bom, utf-16le, utf-16be or iso-8859-1"},
      {"lines", ColumnType::Integer, "text: line count"},
      {"lines_estimated", ColumnType::Integer, "text: 1 when lines is extrapolated from the first 4 MiB, 0 when counted"},
      {"camera", ColumnType::Text, "EXIF Make and Model"},
      {"taken_at", ColumnType::Text, "EXIF DateTimeOriginal, ISO-8601 camera-local time without a zone"},
  };
  return columns;
}

std::vector<core::Value> probeValues(const ProbeResult& r) {
  auto text = [](const std::string& s) { return s.empty() ? core::Value{} : core::Value{s}; };
  auto integer = [](const std::optional<int64_t>& v) { return v ? core::Value{*v} : core::Value{}; };
  auto real = [](const std::optional<double>& v) { return v ? core::Value{*v} : core::Value{}; };
  return {text(r.mime),          text(r.format),         integer(r.width),       integer(r.height),
          integer(r.channels),   integer(r.bitDepth),    text(r.color),          integer(r.frames),
          real(r.duration),      real(r.fps),            text(r.videoCodec),     text(r.audioCodec),
          integer(r.audioStreams), integer(r.sampleRate), integer(r.pages),     real(r.pageWidth),
          real(r.pageHeight),    text(r.encoding),       integer(r.lines),       integer(r.linesEstimated),
          text(r.camera),        text(r.takenAt)};
}

std::string probeJson(const std::vector<core::Value>& values) {
  nlohmann::json j = nlohmann::json::object();
  const auto& cols = probeColumns();
  for (size_t i = 0; i < cols.size() && i < values.size(); ++i) {
    const auto& v = values[i];
    if (auto* n = std::get_if<int64_t>(&v)) j[cols[i].name] = *n;
    if (auto* d = std::get_if<double>(&v)) j[cols[i].name] = *d;
    if (auto* s = std::get_if<std::string>(&v)) j[cols[i].name] = *s;
  }
  // Invalid UTF-8 (a hostile EXIF string) must not make the cache write throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<core::Value> probeValuesFromJson(std::string_view json) {
  const auto& cols = probeColumns();
  std::vector<core::Value> values(cols.size());
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) return values;
  for (size_t i = 0; i < cols.size(); ++i) {
    auto it = j.find(cols[i].name);
    if (it == j.end()) continue;
    if (it->is_number_integer()) values[i] = it->get<int64_t>();
    else if (it->is_number()) values[i] = it->get<double>();
    else if (it->is_string()) values[i] = it->get<std::string>();
  }
  return values;
}

}  // namespace loom::media

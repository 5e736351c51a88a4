#include "media/probe.h"

#include <magic.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

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

SizeResult jpegSize(const Bytes& d) {
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
      if (height == 0)
        return makeError(ErrorKind::Unsupported,
                         "JPEG height is defined by a DNL marker after the first scan; Loom reads only the frame header");
      if (swapsAxes(orientation)) return sized(height, width);
      return sized(width, height);
    }
    if (marker == 0xE1 && !orientation) {
      const uint64_t available = std::min<uint64_t>(length - 2, d.size() - std::min<uint64_t>(d.size(), pos + 2));
      if (d.has(pos + 2, available)) orientation = exifOrientation(d.slice(pos + 2, available));
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

}  // namespace loom::media

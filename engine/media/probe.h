#pragma once
// Header-level probing: what a file is and its basic dimensions, read from the first bytes without
// decoding pixels. Thread-safe: probe functions may run on many threads at once.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace loom::media {

struct ProbeResult {
  std::string mime;                // from content sniffing (libmagic), e.g. "image/jpeg"
  std::optional<int64_t> width;    // images: pixel width as stored (EXIF orientation applied)
  std::optional<int64_t> height;
  std::string error;               // non-empty: a recognised format whose header is corrupt
};

// How many leading bytes probeBytes() wants to see for a reliable answer.
constexpr int64_t kProbeHeadBytes = 64 * 1024;

// Sniffs MIME type and reads image dimensions from `head` (the first bytes of the object) and the
// object's name (used only as a tie-breaker for text types). Never throws; never reads past `head`.
ProbeResult probeBytes(std::string_view head, std::string_view name);

// Image dimensions from a header: JPEG (SOFn, EXIF orientation 5-8 swaps), PNG (IHDR), GIF, BMP,
// WebP (VP8/VP8L/VP8X), TIFF. nullopt when the format is not an image we parse; an Error when the
// header is recognised but corrupt.
core::Result<std::optional<std::pair<int64_t, int64_t>>> imageSize(std::string_view head);

}  // namespace loom::media

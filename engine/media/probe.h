#pragma once
// Probing: what an object is and what a person filters on (dimensions, duration, codecs, pages,
// encoding), read from headers and container indexes without decoding pixels or samples.
// Thread-safe: probe functions may run on many threads at once (each with its own ObjectReader).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/value.h"
#include "media/object_reader.h"

namespace loom::media {

// Bump when probing learns something new or fixes a value: objects probed by an older version are
// probed again on the next index or media.probe run.
constexpr int kProbeVersion = 2;

struct ProbeResult {
  std::string mime;                      // from content sniffing (libmagic), e.g. "image/jpeg"
  std::string format;                    // short format or container name: "jpeg", "mp4", "pdf", "text"
  std::optional<int64_t> width;          // images and video: pixels as displayed (orientation applied)
  std::optional<int64_t> height;
  std::optional<int64_t> channels;       // images: colour channels incl. alpha; audio: of the first stream
  std::optional<int64_t> bitDepth;       // images: bits per channel; audio: bits per sample when fixed
  std::string color;                     // images: gray, gray+alpha, rgb, rgba, palette, ycbcr, cmyk
  std::optional<int64_t> frames;         // animated images: frames; video: frame count (maybe estimated)
  std::optional<double> duration;        // seconds (audio, video, animated images when known)
  std::optional<double> fps;             // video frames per second
  std::string videoCodec;                // e.g. "h264", "vp9"
  std::string audioCodec;                // e.g. "aac", "opus"
  std::optional<int64_t> audioStreams;   // number of audio streams (audio and video files)
  std::optional<int64_t> sampleRate;     // Hz, first audio stream
  std::optional<int64_t> pages;          // PDF page count
  std::optional<double> pageWidth;       // PDF first page, points (1/72 inch), as displayed
  std::optional<double> pageHeight;
  std::string encoding;                  // text: ascii, utf-8, utf-8-bom, utf-16le, utf-16be, iso-8859-1
  std::optional<int64_t> lines;          // text: line count
  std::optional<int64_t> linesEstimated; // text: 1 when `lines` is extrapolated from the bytes read
  std::string camera;                    // EXIF Make and Model
  std::string takenAt;                   // EXIF DateTimeOriginal as ISO-8601 local time, no zone
  std::string error;                     // non-empty: why the object could not be probed
};

// The columns a probe adds, in order, with types and the documentation shown in the node's schema.
// `error` is not among them (every node shares it).
const std::vector<core::Column>& probeColumns();
// The values of `r` for probeColumns(), in the same order (null where unknown).
std::vector<core::Value> probeValues(const ProbeResult& r);
// Values for probeColumns() (as from probeValues()) as a JSON object of the non-null ones, and back. Stored in the catalog's
// objects.probe_json so a cached probe gives every column without a column per field.
std::string probeJson(const std::vector<core::Value>& values);
std::vector<core::Value> probeValuesFromJson(std::string_view json);

// How many leading bytes the header probes want to see for a reliable answer.
constexpr int64_t kProbeHeadBytes = 64 * 1024;

// Probes one object through `reader` (ranged reads within its byte budget and deadline), dispatching
// on the sniffed MIME type: images by header, audio/video through libavformat, PDF through poppler,
// text by its bytes. Unknown types get mime only. Errors name the object (reader.uri()) and the
// reason; they are values in `error`, never exceptions.
ProbeResult probeObject(ObjectReader& reader, std::string_view name, const MediaLimits& limits = {});

// Sniffs MIME type and reads image dimensions from `head` (the first bytes of the object) and the
// object's name (used only as a tie-breaker for text types). Never throws; never reads past `head`.
// Header-only: no audio/video/PDF/text fields; probeObject() gives those.
ProbeResult probeBytes(std::string_view head, std::string_view name);

// Image dimensions from a header: JPEG (SOFn, EXIF orientation 5-8 swaps), PNG (IHDR), GIF, BMP,
// WebP (VP8/VP8L/VP8X), TIFF. nullopt when the format is not an image we parse; an Error when the
// header is recognised but corrupt.
core::Result<std::optional<std::pair<int64_t, int64_t>>> imageSize(std::string_view head);

}  // namespace loom::media

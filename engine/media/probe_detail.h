#pragma once
// Internal to probing: the per-kind probes that probeObject() dispatches to. Each fills `out` and
// sets out.error (naming reader.uri()) on failure; none throws on hostile input.

#include <string_view>

#include "media/object_reader.h"
#include "media/probe.h"

namespace loom::media::detail {

// Audio and video through AvInput (libavformat): container, duration, codecs, size, fps, frames.
void probeAudioVideo(ObjectReader& reader, std::string_view name, const MediaLimits& limits, ProbeResult& out);
// PDF through poppler-cpp, from a buffer of at most limits.maxProbeBytes: page count, first page size.
void probePdf(ObjectReader& reader, const MediaLimits& limits, ProbeResult& out);
// Text: encoding (BOM, UTF-8 validity, UTF-16 without BOM, Latin-1 fallback) and line count.
// `head` is the first bytes already read.
void probeText(ObjectReader& reader, std::string_view head, ProbeResult& out);
// True when `head` looks like UTF-16 text without a byte-order mark (libmagic calls that "data").
bool looksLikeUtf16(std::string_view head);

}  // namespace loom::media::detail

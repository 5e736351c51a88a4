// Audio and video probing through libavformat (part of the media codecs module, media/codecs.h). Only container headers and the stream information
// that avformat_find_stream_info gathers within AvInput's small probe sizes are used: no frame is
// decoded for its pixels, so a probe costs milliseconds.

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
}

#include "media/native/av_input.h"
#include "media/native/native.h"

namespace loom::media::native {

namespace {

std::optional<double> rate(AVRational r) {
  if (r.num <= 0 || r.den <= 0) return std::nullopt;
  double v = av_q2d(r);
  // Some muxers write a 90 kHz time base as the frame rate; nothing real is that fast.
  if (!std::isfinite(v) || v <= 0 || v > 1000) return std::nullopt;
  return v;
}

std::optional<double> seconds(int64_t ts, AVRational tb) {
  if (ts == AV_NOPTS_VALUE || ts <= 0 || tb.num <= 0 || tb.den <= 0) return std::nullopt;
  double v = static_cast<double>(ts) * av_q2d(tb);
  if (!std::isfinite(v) || v <= 0) return std::nullopt;
  return v;
}

// libavformat names a demuxer family ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"); a person wants
// the one this file is, which the sniffed MIME type tells.
std::string containerName(const AVFormatContext* fmt, const std::string& mime) {
  std::string name = fmt->iformat && fmt->iformat->name ? fmt->iformat->name : "";
  if (name.rfind("mov,", 0) == 0) {
    if (mime == "video/quicktime") return "mov";
    if (mime == "audio/x-m4a" || mime == "audio/mp4") return "m4a";
    return "mp4";
  }
  if (name.rfind("matroska", 0) == 0) return mime.find("webm") != std::string::npos ? "webm" : "mkv";
  size_t comma = name.find(',');
  return comma == std::string::npos ? name : name.substr(0, comma);
}

// Rotation from the stream's display matrix (phones record portrait video as rotated landscape).
bool rotatedQuarterTurn(const AVStream* st) {
  size_t size = 0;
  const uint8_t* matrix = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
  if (!matrix || size < 9 * sizeof(int32_t)) return false;
  double angle = av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix));
  if (!std::isfinite(angle)) return false;
  long quarter = std::lround(std::fabs(angle) / 90.0);
  return quarter % 2 == 1;
}

// EBML variable-length integer at b[at]: {value, length}; the ID form keeps the length marker.
std::optional<std::pair<uint64_t, size_t>> ebmlVint(std::string_view b, size_t at, bool id) {
  if (at >= b.size()) return std::nullopt;
  const auto first = static_cast<uint8_t>(b[at]);
  size_t len = 1;
  while (len <= 8 && !(first & (0x80 >> (len - 1)))) ++len;
  if (len > 8 || at + len > b.size()) return std::nullopt;
  uint64_t v = id ? first : (first & (0xFFu >> len));
  for (size_t k = 1; k < len; ++k) v = (v << 8) | static_cast<uint8_t>(b[at + k]);
  return std::make_pair(v, len);
}

// Where a Matroska/WebM file's Segment says it ends, when it says (live recordings write "unknown").
// libavformat reads the header and the clusters it needs and says nothing when the rest is missing,
// so a recording cut short would look whole.
std::optional<uint64_t> matroskaSegmentEnd(std::string_view b) {
  auto headerId = ebmlVint(b, 0, true);
  if (!headerId || headerId->first != 0x1A45DFA3) return std::nullopt;
  auto headerSize = ebmlVint(b, headerId->second, false);
  if (!headerSize || headerSize->first > b.size()) return std::nullopt;
  const size_t segment = headerId->second + headerSize->second + headerSize->first;
  auto segmentId = ebmlVint(b, segment, true);
  if (!segmentId || segmentId->first != 0x18538067) return std::nullopt;
  auto segmentSize = ebmlVint(b, segment + segmentId->second, false);
  if (!segmentSize) return std::nullopt;
  const uint64_t unknown = (uint64_t{1} << (7 * segmentSize->second)) - 1;
  if (segmentSize->first == unknown) return std::nullopt;
  return segment + segmentId->second + segmentSize->second + segmentSize->first;
}

}  // namespace

void probeAudioVideo(ObjectReader& reader, std::string_view name, const MediaLimits& limits, ProbeResult& out) {
  auto opened = AvInput::open(reader, name, /*headerIsEnough=*/true);
  if (!opened.ok()) {
    out.error = opened.error().message;
    return;
  }
  AvInput& in = *opened.value();
  AVFormatContext* fmt = in.format();
  out.format = containerName(fmt, out.mime);

  const AVStream* video = nullptr;
  const AVStream* audio = nullptr;
  int64_t audioStreams = 0;
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVStream* st = fmt->streams[i];
    const AVCodecParameters* par = st->codecpar;
    if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
      // Cover art in MP3/M4A/FLAC is a one-picture "video" stream; it does not make the file a video.
      if (st->disposition & AV_DISPOSITION_ATTACHED_PIC) continue;
      // In 64 bits: a hostile header's width x height overflows int.
      if (!video || int64_t{par->width} * par->height > int64_t{video->codecpar->width} * video->codecpar->height)
        video = st;
    } else if (par->codec_type == AVMEDIA_TYPE_AUDIO) {
      ++audioStreams;
      if (!audio) audio = st;
    }
  }
  if (!video && !audio) {
    out.error = reader.uri() + " has no audio or video stream that Loom can read (" +
                std::to_string(fmt->nb_streams) + " streams of other kinds); the file may be damaged";
    return;
  }

  if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0)
    out.duration = static_cast<double>(fmt->duration) / AV_TIME_BASE;
  else
    for (const AVStream* st : {video, audio})
      if (st)
        if (auto d = seconds(st->duration, st->time_base); d && (!out.duration || *d > *out.duration)) out.duration = d;

  if (video) {
    const AVCodecParameters* par = video->codecpar;
    out.videoCodec = avcodec_get_name(par->codec_id);
    if (par->width > 0 && par->height > 0) {
      const int64_t pixels = int64_t{par->width} * par->height;
      if (pixels > limits.maxPixels) {
        out.error = reader.uri() + ": the video header claims " + std::to_string(par->width) + "x" +
                    std::to_string(par->height) + " pixels, over the limit of " +
                    std::to_string(limits.maxPixels / 1'000'000) + " megapixels per frame; the file is probably damaged or hostile";
        return;
      }
      const bool swap = rotatedQuarterTurn(video);
      out.width = swap ? par->height : par->width;
      out.height = swap ? par->width : par->height;
    }
    out.fps = rate(video->avg_frame_rate);
    if (!out.fps) out.fps = rate(video->r_frame_rate);
    if (video->nb_frames > 0) {
      out.frames = video->nb_frames;
    } else if (out.fps) {
      auto d = seconds(video->duration, video->time_base);
      if (!d) d = out.duration;
      if (d && *d * *out.fps < 1e12) out.frames = std::llround(*d * *out.fps);
    }
  }
  if (audio) {
    const AVCodecParameters* par = audio->codecpar;
    out.audioCodec = avcodec_get_name(par->codec_id);
    if (par->sample_rate > 0) out.sampleRate = par->sample_rate;
    if (par->ch_layout.nb_channels > 0) out.channels = par->ch_layout.nb_channels;
    // Lossless and PCM codecs have a fixed sample size; for lossy ones "bits per sample" means nothing.
    int bits = par->bits_per_raw_sample > 0 ? par->bits_per_raw_sample : par->bits_per_coded_sample;
    if (bits > 0 && (par->codec_id == AV_CODEC_ID_FLAC || (par->codec_id >= AV_CODEC_ID_FIRST_AUDIO &&
                                                           par->codec_id < AV_CODEC_ID_ADPCM_IMA_QT)))
      out.bitDepth = bits;
  }
  out.audioStreams = audioStreams;

  // A container index (MP4 sample tables, AVI idx1) that points past the end of the object means the
  // file was cut short or the index lies: the header alone looks fine, but players stop or fail early.
  auto size = reader.size();
  if (size.ok() && (out.format == "mkv" || out.format == "webm")) {
    auto head = reader.read(0, 256);
    if (head.ok())
      if (auto end = matroskaSegmentEnd(*head); end && *end > static_cast<uint64_t>(*size)) {
        out.error = reader.uri() + ": the Matroska segment ends at byte " + std::to_string(*end) + " but the file has " +
                    std::to_string(*size) + " bytes; it was cut short (an interrupted recording, copy or download?)";
        return;
      }
  }
  if (size.ok()) {
    for (unsigned i = 0; i < fmt->nb_streams; ++i) {
      AVStream* st = fmt->streams[i];
      const int n = avformat_index_get_entries_count(st);
      if (n <= 0) continue;
      const AVIndexEntry* last = avformat_index_get_entry(st, n - 1);
      if (!last) continue;
      const int64_t end = last->pos + last->size;
      if (last->pos >= 0 && end > *size) {
        out.error = reader.uri() + ": the container index points to byte " + std::to_string(end) +
                    " but the file has " + std::to_string(*size) +
                    " bytes; it was cut short (an interrupted copy or download?) or its index is wrong";
        return;
      }
    }
  }
}

}  // namespace loom::media::native

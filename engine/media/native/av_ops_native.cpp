// The media codecs module's AvOpsApi (media/av_ops.h): frames, clips, audio tracks and PCM through
// libavformat/libavcodec/libswscale/libswresample, reading objects through AvInput (Loom's storage,
// byte budget, deadline) and writing results into memory through a seekable AVIOContext.

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>
#include <vector>

#include "media/native/av_frames.h"
#include "media/native/av_input.h"
#include "media/native/native.h"

namespace loom::media {

using core::ErrorKind;
using core::makeError;
using native::CodecCtxFree;
using native::fitSize;
using native::FrameFree;
using native::FrameScaler;
using native::PacketFree;
using native::rowError;
using native::SwrFree;
using native::SwsFree;

namespace {

constexpr int kIoBufferBytes = 64 * 1024;
// Scene scores compare frames scaled down to this longest side: small enough that noise and
// compression artefacts average out and the comparison costs nothing next to decoding.
constexpr int kSceneSide = 64;
// Packets of other streams held back while waiting for the keyframe a copied clip starts at.
constexpr size_t kMaxPendingPackets = 4096;

std::string avErr(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

std::string mib(int64_t bytes) { return std::to_string(bytes / (1024 * 1024)) + " MiB"; }

using CodecPtr = std::unique_ptr<AVCodecContext, CodecCtxFree>;
using FramePtr = std::unique_ptr<AVFrame, FrameFree>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFree>;

// ---------------------------------------------------------------------------------------------------
// Output into memory

// A seekable in-memory file for libavformat's muxers (MP4 and FLAC go back to patch their headers).
// Refuses to grow past kMaxAvOutputBytes.
class MemoryOutput {
 public:
  MemoryOutput() {
    auto* buffer = static_cast<uint8_t*>(av_malloc(kIoBufferBytes));
    if (!buffer) return;
    m_io = avio_alloc_context(buffer, kIoBufferBytes, 1, this, nullptr, &MemoryOutput::write, &MemoryOutput::seek);
    if (!m_io) av_free(buffer);
  }
  ~MemoryOutput() {
    if (m_io) {
      av_freep(&m_io->buffer);
      avio_context_free(&m_io);
    }
  }
  MemoryOutput(const MemoryOutput&) = delete;
  MemoryOutput& operator=(const MemoryOutput&) = delete;

  AVIOContext* io() const { return m_io; }
  bool overflowed() const { return m_overflow; }
  std::string take() {
    avio_flush(m_io);
    return std::move(m_data);
  }

 private:
  static int write(void* opaque, uint8_t* buf, int size) {
    auto* self = static_cast<MemoryOutput*>(opaque);
    const auto end = static_cast<size_t>(self->m_pos) + static_cast<size_t>(size);
    if (end > static_cast<size_t>(kMaxAvOutputBytes)) {
      self->m_overflow = true;
      return AVERROR(ENOSPC);
    }
    if (self->m_data.size() < end) self->m_data.resize(end);
    std::memcpy(self->m_data.data() + self->m_pos, buf, static_cast<size_t>(size));
    self->m_pos = static_cast<int64_t>(end);
    return size;
  }
  static int64_t seek(void* opaque, int64_t offset, int whence) {
    auto* self = static_cast<MemoryOutput*>(opaque);
    whence &= ~AVSEEK_FORCE;
    const auto size = static_cast<int64_t>(self->m_data.size());
    if (whence == AVSEEK_SIZE) return size;
    int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? self->m_pos : whence == SEEK_END ? size : -1;
    if (base < 0 || base + offset < 0) return AVERROR(EINVAL);
    self->m_pos = base + offset;
    return self->m_pos;
  }

  AVIOContext* m_io = nullptr;
  std::string m_data;
  int64_t m_pos = 0;
  bool m_overflow = false;
};

// A muxer writing into a MemoryOutput, bit-exact so that the same input gives the same bytes.
class Muxer {
 public:
  // `who` names the result's source in error messages.
  static core::Result<std::unique_ptr<Muxer>> open(const std::string& reader, const char* format) {
    std::unique_ptr<Muxer> m(new Muxer);
    if (!m->m_out.io()) return rowError(ErrorKind::Io, reader, "out of memory opening the muxer");
    int rc = avformat_alloc_output_context2(&m->m_ctx, nullptr, format, nullptr);
    if (rc < 0 || !m->m_ctx)
      return rowError(ErrorKind::Unsupported, reader, std::string("this FFmpeg cannot write ") + format);
    m->m_ctx->pb = m->m_out.io();
    m->m_ctx->flags |= AVFMT_FLAG_BITEXACT;
    return m;
  }
  ~Muxer() {
    if (m_ctx) avformat_free_context(m_ctx);
  }
  AVFormatContext* ctx() const { return m_ctx; }
  bool canHold(AVCodecID codec) const { return avformat_query_codec(m_ctx->oformat, codec, FF_COMPLIANCE_NORMAL) == 1; }
  AVStream* addStream() { return avformat_new_stream(m_ctx, nullptr); }

  core::Result<void> writeHeader(const std::string& reader) {
    AVDictionary* opts = nullptr;
    int rc = avformat_write_header(m_ctx, &opts);
    av_dict_free(&opts);
    if (rc < 0) return fail(reader, rc, "cannot start writing the result");
    m_started = true;
    return {};
  }
  // Takes the packet's reference; its timestamps are in the output stream's time base.
  core::Result<void> write(const std::string& reader, AVPacket* pkt) {
    int rc = av_interleaved_write_frame(m_ctx, pkt);
    if (rc < 0) return fail(reader, rc, "cannot write the result");
    return {};
  }
  core::Result<std::string> finish(const std::string& reader) {
    int rc = av_write_trailer(m_ctx);
    if (rc < 0) return fail(reader, rc, "cannot finish writing the result");
    if (m_out.overflowed()) return fail(reader, AVERROR(ENOSPC), "");
    return m_out.take();
  }

 private:
  Muxer() = default;
  core::Error fail(const std::string& reader, int rc, const std::string& what) {
    if (m_out.overflowed())
      return rowError(ErrorKind::InvalidInput, reader,
                      "the result would be larger than " + mib(kMaxAvOutputBytes) +
                          "; cut a shorter range (video.clip) or choose a smaller format");
    return rowError(ErrorKind::Corrupt, reader, what + " (" + avErr(rc) + ")");
  }
  MemoryOutput m_out;
  AVFormatContext* m_ctx = nullptr;
  bool m_started = false;
};

// ---------------------------------------------------------------------------------------------------
// Decoding

double streamStart(const AVStream* st) {
  return st->start_time != AV_NOPTS_VALUE ? static_cast<double>(st->start_time) * av_q2d(st->time_base) : 0.0;
}

// Seconds from the stream's start for a timestamp in its time base; NaN when unknown.
double secondsOf(const AVStream* st, int64_t ts) {
  if (ts == AV_NOPTS_VALUE) return std::numeric_limits<double>::quiet_NaN();
  return static_cast<double>(ts) * av_q2d(st->time_base) - streamStart(st);
}

int64_t tsOf(const AVStream* st, double seconds) {
  return static_cast<int64_t>(std::llround((seconds + streamStart(st)) / av_q2d(st->time_base)));
}

double durationOf(const AVFormatContext* fmt, const AVStream* st) {
  if (st->duration > 0 && st->duration != AV_NOPTS_VALUE) return static_cast<double>(st->duration) * av_q2d(st->time_base);
  if (fmt->duration > 0 && fmt->duration != AV_NOPTS_VALUE) return static_cast<double>(fmt->duration) / AV_TIME_BASE;
  return -1;
}

// When the data of a stream ended at `lastEnd` seconds: an error if the container promised clearly
// more (a file cut short keeps its header, and demuxers then just report the end of the data).
std::optional<core::Error> cutShort(const AvInput& in, const AVStream* st, double lastEnd) {
  const double dur = durationOf(in.format(), st);
  if (dur <= 0 || std::isnan(lastEnd) || lastEnd + std::max(0.5, 0.02 * dur) >= dur) return std::nullopt;
  char buf[160];
  std::snprintf(buf, sizeof buf, "its data ends at %.2f s although its header says %.2f s: the file is cut short (truncated?)",
                std::max(0.0, lastEnd), dur);
  return rowError(ErrorKind::Corrupt, in.reader(), buf);
}

// The end time (seconds from the stream's start) of a packet, NaN when it has no timestamp.
double packetEnd(const AVStream* st, const AVPacket* p) {
  const int64_t ts = p->pts != AV_NOPTS_VALUE ? p->pts : p->dts;
  if (ts == AV_NOPTS_VALUE) return std::numeric_limits<double>::quiet_NaN();
  return secondsOf(st, ts) + static_cast<double>(p->duration) * av_q2d(st->time_base);
}

// One decoder on one stream of an AvInput. Not thread-safe.
class Decoder {
 public:
  // `threads` > 1 lets libavcodec decode frames in parallel (one long video's frames); 1 when many
  // objects are decoded at once by the worker pool anyway.
  static core::Result<std::unique_ptr<Decoder>> open(AvInput& in, AVMediaType type, int threads) {
    const AVCodec* codec = nullptr;
    int idx = av_find_best_stream(in.format(), type, -1, -1, &codec, 0);
    const char* what = type == AVMEDIA_TYPE_VIDEO ? "video" : "audio";
    if (idx == AVERROR_STREAM_NOT_FOUND)
      return rowError(ErrorKind::InvalidInput, in.reader(), std::string("has no ") + what + " stream");
    if (idx < 0 || !codec)
      return rowError(ErrorKind::Unsupported, in.reader(),
                      std::string("has a ") + what + " stream in a codec this FFmpeg cannot decode");
    std::unique_ptr<Decoder> d(new Decoder(in));
    d->m_index = idx;
    d->m_stream = in.format()->streams[idx];
    d->m_ctx.reset(avcodec_alloc_context3(codec));
    d->m_frame.reset(av_frame_alloc());
    d->m_packet.reset(av_packet_alloc());
    if (!d->m_ctx || !d->m_frame || !d->m_packet) return rowError(ErrorKind::Io, in.reader(), "out of memory opening the decoder");
    int rc = avcodec_parameters_to_context(d->m_ctx.get(), d->m_stream->codecpar);
    if (rc < 0) return makeError(ErrorKind::Corrupt, in.describe(rc, std::string("has unusable ") + what + " parameters"));
    d->m_ctx->thread_count = threads;
    rc = avcodec_open2(d->m_ctx.get(), codec, nullptr);
    if (rc < 0) return makeError(ErrorKind::Corrupt, in.describe(rc, std::string("cannot open its ") + what + " decoder"));
    return d;
  }

  int index() const { return m_index; }
  AVStream* stream() const { return m_stream; }
  AVCodecContext* ctx() const { return m_ctx.get(); }
  // Only keyframes reach the decoder (the others are not even sent).
  void keyframesOnly() {
    m_keyOnly = true;
    m_ctx->skip_frame = AVDISCARD_NONKEY;
  }
  // Frames decoded so far since open (seeks included).
  int64_t decoded() const { return m_decoded; }
  // Packets displayed before `seconds` whose frames no other frame refers to are not decoded: their
  // pictures are not wanted, and no wanted picture depends on them (B-frames are a third to a half of
  // a typical H.264 stream).
  void skipUnreferencedBefore(double seconds) { m_skipBefore = seconds; }

  // Positions the demuxer at the keyframe at or before `seconds`; the next frames come from there.
  void seek(double seconds) {
    const int64_t ts = tsOf(m_stream, seconds);
    if (av_seek_frame(m_in.format(), m_index, ts, AVSEEK_FLAG_BACKWARD) < 0)
      avformat_seek_file(m_in.format(), m_index, std::numeric_limits<int64_t>::min(), ts, ts, 0);
    avcodec_flush_buffers(m_ctx.get());
    m_eof = false;
  }

  // The time of the keyframe at or before `seconds` according to the container's index, or NaN when
  // the container has no index to tell.
  double keyframeBefore(double seconds) const {
    const AVIndexEntry* e = avformat_index_get_entry_from_timestamp(m_stream, tsOf(m_stream, seconds), AVSEEK_FLAG_BACKWARD);
    if (!e || avformat_index_get_entries_count(m_stream) < 2) return std::numeric_limits<double>::quiet_NaN();
    return secondsOf(m_stream, e->timestamp);
  }

  // The next decoded frame, nullptr at the end of the stream. Damaged packets are skipped as players
  // do; decoding errors of the stream as a whole, limits and the deadline are errors.
  core::Result<AVFrame*> next() {
    for (;;) {
      if (m_in.reader().pastDeadline())
        return rowError(ErrorKind::Corrupt, m_in.reader(), "took longer than the time limit per file");
      int rc = avcodec_receive_frame(m_ctx.get(), m_frame.get());
      if (rc == 0) {
        ++m_decoded;
        return m_frame.get();
      }
      if (rc == AVERROR_EOF || (rc == AVERROR(EAGAIN) && m_eof)) {
        // Every frame that was there is out: now say whether that was all there should have been.
        if (auto e = cutShort(m_in, m_stream, m_lastPacketEnd); e && !m_reportedShort) {
          m_reportedShort = true;
          return *e;
        }
        return static_cast<AVFrame*>(nullptr);
      }
      if (rc != AVERROR(EAGAIN)) return makeError(ErrorKind::Corrupt, m_in.describe(rc, "cannot be decoded"));
      rc = av_read_frame(m_in.format(), m_packet.get());
      if (rc < 0) {
        if (rc != AVERROR_EOF && !m_in.reader().limitHit().empty())
          return makeError(ErrorKind::Corrupt, m_in.describe(rc, "cannot be read"));
        if (rc == AVERROR_EXIT)
          return rowError(ErrorKind::Corrupt, m_in.reader(), "took longer than the time limit per file");
        m_eof = true;
        avcodec_send_packet(m_ctx.get(), nullptr);  // drain what the decoder holds
        continue;
      }
      if (m_packet->stream_index == m_index) {
        const double e = packetEnd(m_stream, m_packet.get());
        if (!std::isnan(e) && !(e <= m_lastPacketEnd)) m_lastPacketEnd = e;
      }
      if (m_packet->stream_index == m_index && (!m_keyOnly || (m_packet->flags & AV_PKT_FLAG_KEY))) {
        if (!m_keyOnly) {
          const double t = secondsOf(m_stream, m_packet->pts);
          m_ctx->skip_frame = !std::isnan(t) && t + 1e-3 < m_skipBefore ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
        }
        rc = avcodec_send_packet(m_ctx.get(), m_packet.get());
        if (rc < 0 && rc != AVERROR(EAGAIN)) ++m_badPackets;
      }
      av_packet_unref(m_packet.get());
    }
  }
  // Seconds from the stream's start of a decoded frame (NaN when it has no timestamp).
  double timeOf(const AVFrame* f) const { return secondsOf(m_stream, f->best_effort_timestamp); }

 private:
  explicit Decoder(AvInput& in) : m_in(in) {}
  AvInput& m_in;
  int m_index = -1;
  AVStream* m_stream = nullptr;
  CodecPtr m_ctx;
  FramePtr m_frame;
  PacketPtr m_packet;
  bool m_eof = false;
  bool m_keyOnly = false;
  double m_skipBefore = -std::numeric_limits<double>::infinity();
  double m_lastPacketEnd = std::numeric_limits<double>::quiet_NaN();  // of this stream's packets read
  bool m_reportedShort = false;
  int64_t m_decoded = 0;
  int64_t m_badPackets = 0;
};

int decoderThreads() { return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u)); }

// ---------------------------------------------------------------------------------------------------
// Frames

// The change between consecutive frames: mean absolute difference of small gray versions, 0..1.
class SceneScorer {
 public:
  SceneScorer(int w, int h) : m_size(fitSize(w, h, kSceneSide)) {}
  core::Result<double> score(const AVFrame* f, const ObjectReader& reader) {
    m_sws.reset(sws_getCachedContext(m_sws.release(), f->width, f->height, static_cast<AVPixelFormat>(f->format),
                                     m_size.width, m_size.height, AV_PIX_FMT_GRAY8, SWS_AREA, nullptr, nullptr,
                                     nullptr));
    if (!m_sws) return rowError(ErrorKind::Corrupt, reader, "has a video frame format that cannot be converted");
    cv::Mat gray(m_size, CV_8UC1);
    uint8_t* dst[4] = {gray.data, nullptr, nullptr, nullptr};
    int stride[4] = {static_cast<int>(gray.step[0]), 0, 0, 0};
    sws_scale(m_sws.get(), f->data, f->linesize, 0, f->height, dst, stride);
    double s = 1.0;
    if (!m_prev.empty()) {
      cv::Mat diff;
      cv::absdiff(gray, m_prev, diff);
      s = cv::mean(diff)[0] / 255.0;
    }
    m_prev = gray;
    return s;
  }

 private:
  cv::Size m_size;
  cv::Mat m_prev;
  std::unique_ptr<SwsContext, SwsFree> m_sws;
};

core::Result<void> extractFrames(ObjectReader& reader, std::string_view name, const FramesRequest& req,
                                 const MediaLimits& limits, const FrameSink& sink) {
  auto in = AvInput::open(reader, name);
  if (!in.ok()) return in.error();
  // libavcodec's frame threads decode one long video on several cores; after a seek they waste at
  // most a frame each, and with the worker pool busy on other videos they cost nothing but switches.
  auto opened = Decoder::open(**in, AVMEDIA_TYPE_VIDEO, decoderThreads());
  if (!opened.ok()) return opened.error();
  Decoder& d = **opened;
  const int64_t w = d.ctx()->width, h = d.ctx()->height;
  if (w <= 0 || h <= 0) return rowError(ErrorKind::Corrupt, reader, "video stream has no frame size");
  if (w > limits.maxPixels / h)
    return rowError(ErrorKind::Corrupt, reader,
                    "video frames claim " + std::to_string(w) + " x " + std::to_string(h) + " pixels, over the limit of " +
                        std::to_string(limits.maxPixels) + " pixels; not decoded");
  FrameScaler conv(d.stream(), static_cast<int>(w), static_cast<int>(h), req.maxSide, false, SWS_AREA | SWS_ACCURATE_RND);
  std::vector<int> params;
  if (!req.png) params = {cv::IMWRITE_JPEG_QUALITY, req.jpegQuality};

  int emitted = 0;
  bool stop = false;
  auto emit = [&](const AVFrame* f, double t, double score) -> core::Result<void> {
    auto img = conv.scale(f, reader);
    if (!img.ok()) return img.error();
    std::vector<uchar> buf;
    try {
      if (!cv::imencode(req.png ? ".png" : ".jpg", *img, buf, params))
        return rowError(ErrorKind::Internal, reader, "a frame could not be encoded");
    } catch (const cv::Exception& e) {
      return rowError(ErrorKind::Internal, reader, std::string("a frame could not be encoded: ") + e.what());
    }
    VideoFrame vf;
    vf.index = emitted++;
    vf.time = std::isnan(t) ? 0.0 : std::max(0.0, t);
    vf.score = score;
    vf.width = img->cols;
    vf.height = img->rows;
    vf.bytes.assign(reinterpret_cast<const char*>(buf.data()), buf.size());
    if (!sink(std::move(vf))) stop = true;
    if (emitted >= req.maxFrames) stop = true;
    return {};
  };

  if (req.mode == FrameMode::Keyframes) {
    d.keyframesOnly();
    while (!stop) {
      auto f = d.next();
      if (!f.ok()) return f.error();
      if (!*f) break;
      if (auto r = emit(*f, d.timeOf(*f), -1); !r.ok()) return r.error();
    }
  } else if (req.mode == FrameMode::Scenes) {
    SceneScorer scorer(static_cast<int>(w), static_cast<int>(h));
    while (!stop) {
      auto f = d.next();
      if (!f.ok()) return f.error();
      if (!*f) break;
      auto s = scorer.score(*f, reader);
      if (!s.ok()) return s.error();
      if (d.decoded() == 1 || *s > req.sceneThreshold)
        if (auto r = emit(*f, d.timeOf(*f), d.decoded() == 1 ? 1.0 : *s); !r.ok()) return r.error();
    }
  } else {
    // Every `interval` seconds: the first frame at or after each wanted time. Where the container's
    // index shows a keyframe between the frame decoded last and the next wanted time, seek to it
    // instead of decoding the frames in between; the frames found are the same either way.
    const double duration = durationOf(in.value()->format(), d.stream());
    // Container indexes give a keyframe's decoding time, which precedes its display time by up to the
    // decoder's reordering delay (B-frames). A keyframe at least that far before the wanted time is
    // displayed before it, so every frame from the wanted time on decodes from it.
    const AVRational rate = d.stream()->avg_frame_rate.num > 0 ? d.stream()->avg_frame_rate : d.stream()->r_frame_rate;
    const double reorder = rate.num > 0 && rate.den > 0 ? (d.ctx()->has_b_frames + 1) / av_q2d(rate) + 1e-3 : 0.5;
    double decodedUpTo = -std::numeric_limits<double>::infinity();  // time of the last frame decoded
    double lastEmitted = std::numeric_limits<double>::quiet_NaN();
    bool ended = false;
    for (int64_t k = 0; !stop && !ended; ++k) {
      const double want = static_cast<double>(k) * req.interval;
      if (duration > 0 && want >= duration) break;
      const double key = d.keyframeBefore(want - reorder);
      if (!std::isnan(key) && key > decodedUpTo + 1e-6) d.seek(want - reorder);
      d.skipUnreferencedBefore(want);
      for (;;) {
        auto f = d.next();
        if (!f.ok()) return f.error();
        if (!*f) {
          ended = true;
          break;
        }
        double t = d.timeOf(*f);
        if (std::isnan(t)) t = decodedUpTo;  // no timestamp: count it as where we were
        decodedUpTo = t;
        if (t + 1e-3 < want) continue;
        // Wanted times closer together than the video's frames: one frame serves them all.
        if (!(t == lastEmitted)) {
          if (auto r = emit(*f, t, -1); !r.ok()) return r.error();
          lastEmitted = t;
        }
        // The next wanted time may already be reached by this frame.
        while (!stop && static_cast<double>(k + 1) * req.interval <= t + 1e-3) ++k;
        break;
      }
    }
  }
  if (emitted == 0) return rowError(ErrorKind::Corrupt, reader, "has no decodable video frame");
  return {};
}

// ---------------------------------------------------------------------------------------------------
// Clips

struct VideoEncoder {
  CodecPtr ctx;
  AVStream* out = nullptr;
  std::unique_ptr<SwsContext, SwsFree> sws;
  FramePtr frame;
  int64_t lastPts = std::numeric_limits<int64_t>::min();
};

// Opens H.264 (libx264) when this FFmpeg has it, else MPEG-4 Part 2 (always built in). One thread
// and bit-exact flags, so the same cut gives the same bytes.
core::Result<VideoEncoder> openVideoEncoder(const ObjectReader& reader, const Decoder& dec, Muxer& mux) {
  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
  if (!codec) return rowError(ErrorKind::Unsupported, reader, "this FFmpeg has no H.264 or MPEG-4 encoder to re-encode with");
  VideoEncoder e;
  e.ctx.reset(avcodec_alloc_context3(codec));
  e.frame.reset(av_frame_alloc());
  if (!e.ctx || !e.frame) return rowError(ErrorKind::Io, reader, "out of memory opening the encoder");
  AVRational fps = dec.stream()->avg_frame_rate.num > 0 ? dec.stream()->avg_frame_rate : dec.stream()->r_frame_rate;
  if (fps.num <= 0 || fps.den <= 0 || av_q2d(fps) > 1000) fps = AVRational{25, 1};
  e.ctx->width = dec.ctx()->width;
  e.ctx->height = dec.ctx()->height;
  e.ctx->sample_aspect_ratio = dec.ctx()->sample_aspect_ratio;
  e.ctx->time_base = av_inv_q(fps);
  e.ctx->framerate = fps;
  e.ctx->pix_fmt = codec->pix_fmts ? codec->pix_fmts[0] : AV_PIX_FMT_YUV420P;
  e.ctx->thread_count = 1;
  e.ctx->flags |= AV_CODEC_FLAG_BITEXACT;
  e.ctx->gop_size = 250;
  if (mux.ctx()->oformat->flags & AVFMT_GLOBALHEADER) e.ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (std::string_view(codec->name) == "libx264") {
    av_opt_set(e.ctx->priv_data, "preset", "veryfast", 0);
    av_opt_set(e.ctx->priv_data, "crf", "20", 0);
  } else {
    e.ctx->flags |= AV_CODEC_FLAG_QSCALE;
    e.ctx->global_quality = FF_QP2LAMBDA * 3;
  }
  int rc = avcodec_open2(e.ctx.get(), codec, nullptr);
  if (rc < 0) return rowError(ErrorKind::Unsupported, reader, std::string("cannot open the ") + codec->name + " encoder (" + avErr(rc) + ")");
  e.out = mux.addStream();
  if (!e.out) return rowError(ErrorKind::Io, reader, "out of memory adding a stream");
  avcodec_parameters_from_context(e.out->codecpar, e.ctx.get());
  e.out->time_base = e.ctx->time_base;
  e.out->avg_frame_rate = fps;
  if (const uint8_t* m = av_stream_get_side_data(dec.stream(), AV_PKT_DATA_DISPLAYMATRIX, nullptr)) {
    if (uint8_t* copy = av_stream_new_side_data(e.out, AV_PKT_DATA_DISPLAYMATRIX, sizeof(int32_t) * 9))
      std::memcpy(copy, m, sizeof(int32_t) * 9);
  }
  return e;
}

core::Result<void> drainEncoder(const ObjectReader& reader, VideoEncoder& e, Muxer& mux, AVPacket* pkt) {
  for (;;) {
    int rc = avcodec_receive_packet(e.ctx.get(), pkt);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return {};
    if (rc < 0) return rowError(ErrorKind::Internal, reader, "encoding failed (" + avErr(rc) + ")");
    av_packet_rescale_ts(pkt, e.ctx->time_base, e.out->time_base);
    pkt->stream_index = e.out->index;
    if (auto r = mux.write(reader.uri(), pkt); !r.ok()) return r;
  }
}

core::Result<void> encodeFrame(const ObjectReader& reader, VideoEncoder& e, Muxer& mux, const AVFrame* src, double t,
                               AVPacket* pkt) {
  const int64_t pts = std::llround(t / av_q2d(e.ctx->time_base));
  if (pts <= e.lastPts) return {};  // two source frames on one output tick (variable frame rate)
  e.lastPts = pts;
  AVFrame* f = e.frame.get();
  av_frame_unref(f);
  f->format = e.ctx->pix_fmt;
  f->width = e.ctx->width;
  f->height = e.ctx->height;
  if (av_frame_get_buffer(f, 0) < 0) return rowError(ErrorKind::Io, reader, "out of memory re-encoding");
  e.sws.reset(sws_getCachedContext(e.sws.release(), src->width, src->height, static_cast<AVPixelFormat>(src->format),
                                   f->width, f->height, e.ctx->pix_fmt, SWS_BICUBIC, nullptr, nullptr, nullptr));
  if (!e.sws) return rowError(ErrorKind::Corrupt, reader, "has a video frame format that cannot be converted");
  sws_scale(e.sws.get(), src->data, src->linesize, 0, src->height, f->data, f->linesize);
  f->pts = pts;
  int rc = avcodec_send_frame(e.ctx.get(), f);
  if (rc < 0) return rowError(ErrorKind::Internal, reader, "encoding failed (" + avErr(rc) + ")");
  return drainEncoder(reader, e, mux, pkt);
}

bool isAvStream(const AVStream* st) {
  auto type = st->codecpar->codec_type;
  if (type == AVMEDIA_TYPE_VIDEO) return !(st->disposition & AV_DISPOSITION_ATTACHED_PIC);
  return type == AVMEDIA_TYPE_AUDIO;
}

core::Result<Clip> cutClip(ObjectReader& reader, std::string_view name, const ClipRequest& req, const MediaLimits& limits) {
  auto opened = AvInput::open(reader, name);
  if (!opened.ok()) return opened.error();
  AvInput& in = **opened;
  AVFormatContext* fmt = in.format();
  int ref = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  const bool hasVideo = ref >= 0;
  if (!hasVideo) ref = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  if (ref < 0) return rowError(ErrorKind::InvalidInput, reader, "has no video or audio stream to cut");
  AVStream* refSt = fmt->streams[ref];
  const double duration = durationOf(fmt, refSt);
  if (duration > 0 && req.start >= duration)
    return rowError(ErrorKind::InvalidInput, reader,
                    "start " + std::to_string(req.start) + " s is past the end of the media (" + std::to_string(duration) + " s)");
  if (hasVideo) {
    const int64_t w = refSt->codecpar->width, h = refSt->codecpar->height;
    if (w > 0 && h > 0 && w > limits.maxPixels / h)
      return rowError(ErrorKind::Corrupt, reader, "video frames claim " + std::to_string(w) + " x " + std::to_string(h) +
                                                      " pixels, over the limit of " + std::to_string(limits.maxPixels));
  }
  const bool reencode = req.reencode && hasVideo;
  const double end = req.end < 0 ? std::numeric_limits<double>::infinity() : req.end;

  auto muxed = Muxer::open(reader.uri(), "mp4");
  if (!muxed.ok()) return muxed.error();
  Muxer& mux = **muxed;
  Clip clip;

  // Output streams: the reference one first, then the other audio/video streams MP4 can hold.
  std::vector<int> outIndex(fmt->nb_streams, -1);
  std::unique_ptr<Decoder> dec;
  VideoEncoder enc;
  if (reencode) {
    auto d = Decoder::open(in, AVMEDIA_TYPE_VIDEO, decoderThreads());
    if (!d.ok()) return d.error();
    dec = std::move(d).value();
    auto e = openVideoEncoder(reader, *dec, mux);
    if (!e.ok()) return e.error();
    enc = std::move(e).value();
    outIndex[static_cast<size_t>(ref)] = enc.out->index;
    clip.videoCodec = avcodec_get_name(enc.ctx->codec_id);
  }
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    AVStream* st = fmt->streams[i];
    if (!isAvStream(st) || (reencode && static_cast<int>(i) == ref)) continue;
    // Re-encoding makes one video stream; other video streams would need their own encoders.
    if (reencode && st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
      clip.droppedStreams.push_back(std::string("video ") + avcodec_get_name(st->codecpar->codec_id));
      continue;
    }
    if (!mux.canHold(st->codecpar->codec_id)) {
      const std::string what = std::string(av_get_media_type_string(st->codecpar->codec_type)) + " " +
                               avcodec_get_name(st->codecpar->codec_id);
      if (static_cast<int>(i) == ref)
        return rowError(ErrorKind::Unsupported, reader,
                        "its " + what + " stream cannot be copied into MP4" +
                            (hasVideo ? "; set reencode to true to convert it" : ""));
      clip.droppedStreams.push_back(what);
      continue;
    }
    AVStream* out = mux.addStream();
    if (!out) return rowError(ErrorKind::Io, reader, "out of memory adding a stream");
    avcodec_parameters_copy(out->codecpar, st->codecpar);
    out->codecpar->codec_tag = 0;
    out->time_base = st->time_base;
    out->sample_aspect_ratio = st->sample_aspect_ratio;
    if (const uint8_t* m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, nullptr)) {
      if (uint8_t* copy = av_stream_new_side_data(out, AV_PKT_DATA_DISPLAYMATRIX, sizeof(int32_t) * 9))
        std::memcpy(copy, m, sizeof(int32_t) * 9);
    }
    outIndex[i] = out->index;
    if (static_cast<int>(i) == ref) clip.videoCodec = hasVideo ? avcodec_get_name(st->codecpar->codec_id) : "";
  }
  if (auto r = mux.writeHeader(reader.uri()); !r.ok()) return r.error();

  if (req.start > 0) {
    const int64_t ts = tsOf(refSt, req.start);
    if (av_seek_frame(fmt, ref, ts, AVSEEK_FLAG_BACKWARD) < 0)
      avformat_seek_file(fmt, ref, std::numeric_limits<int64_t>::min(), ts, ts, 0);
    if (dec) avcodec_flush_buffers(dec->ctx());
  }

  // The clip's start: the first frame at or after `start` when re-encoding, else the first keyframe
  // of the reference stream that the demuxer gives after the seek. Packets of the other streams read
  // before it is known wait in `pending`.
  double cutStart = std::numeric_limits<double>::quiet_NaN();
  double clipEnd = 0;  // latest end time written, seconds from the source's start
  std::deque<AVPacket*> pending;
  struct PendingFree {
    std::deque<AVPacket*>& q;
    ~PendingFree() {
      for (auto* p : q) av_packet_free(&p);
    }
  } pendingFree{pending};
  PacketPtr pkt(av_packet_alloc()), outPkt(av_packet_alloc());
  if (!pkt || !outPkt) return rowError(ErrorKind::Io, reader, "out of memory cutting the clip");
  std::vector<bool> finished(fmt->nb_streams, false);
  bool wroteRef = false;
  double lastRefEnd = std::numeric_limits<double>::quiet_NaN();

  // Writes one copied packet with timestamps relative to cutStart.
  auto writeCopy = [&](AVPacket* p) -> core::Result<void> {
    AVStream* st = fmt->streams[p->stream_index];
    const double t = secondsOf(st, p->pts != AV_NOPTS_VALUE ? p->pts : p->dts);
    if (!std::isnan(t) && t + 1e-6 < cutStart && p->stream_index != ref) return {};  // before the cut
    AVStream* out = mux.ctx()->streams[outIndex[static_cast<size_t>(p->stream_index)]];
    const int64_t shift = tsOf(st, cutStart);
    if (p->pts != AV_NOPTS_VALUE) p->pts -= shift;
    if (p->dts != AV_NOPTS_VALUE) p->dts -= shift;
    if (!std::isnan(t)) clipEnd = std::max(clipEnd, t + static_cast<double>(p->duration) * av_q2d(st->time_base));
    av_packet_rescale_ts(p, st->time_base, out->time_base);
    p->stream_index = out->index;
    p->pos = -1;
    return mux.write(reader.uri(), p);
  };
  auto flushPending = [&]() -> core::Result<void> {
    for (AVPacket* p : pending)
      if (auto r = writeCopy(p); !r.ok()) return r;
    for (auto* p : pending) av_packet_free(&p);
    pending.clear();
    return {};
  };
  FramePtr decoded(av_frame_alloc());
  if (!decoded) return rowError(ErrorKind::Io, reader, "out of memory cutting the clip");
  // Re-encoding: feeds the decoder's frames in [start, end) to the encoder.
  auto pumpDecoder = [&]() -> core::Result<void> {
    for (;;) {
      int rc = avcodec_receive_frame(dec->ctx(), decoded.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return {};
      if (rc < 0) return makeError(ErrorKind::Corrupt, in.describe(rc, "cannot be decoded"));
      const double t = secondsOf(refSt, decoded->best_effort_timestamp);
      if (!std::isnan(t) && t + 1e-6 >= req.start && t < end) {
        if (std::isnan(cutStart)) {
          cutStart = t;
          if (auto r = flushPending(); !r.ok()) return r;
        }
        if (auto r = encodeFrame(reader, enc, mux, decoded.get(), t - cutStart, outPkt.get()); !r.ok()) return r;
        wroteRef = true;
        const double fd = av_q2d(enc.ctx->time_base);
        clipEnd = std::max(clipEnd, t + fd);
      }
      if (!std::isnan(t) && t >= end) finished[static_cast<size_t>(ref)] = true;
      av_frame_unref(decoded.get());
    }
  };

  for (;;) {
    if (reader.pastDeadline()) return rowError(ErrorKind::Corrupt, reader, "took longer than the time limit per file");
    int rc = av_read_frame(fmt, pkt.get());
    if (rc < 0) {
      if (rc != AVERROR_EOF && !reader.limitHit().empty())
        return makeError(ErrorKind::Corrupt, in.describe(rc, "cannot be read"));
      if (rc == AVERROR_EXIT) return rowError(ErrorKind::Corrupt, reader, "took longer than the time limit per file");
      // The data ended before `end`: fine at the real end, not when the file was cut short.
      if (!finished[static_cast<size_t>(ref)])
        if (auto e = cutShort(in, refSt, lastRefEnd)) return *e;
      break;
    }
    const int si = pkt->stream_index;
    if (si == ref) {
      const double e = packetEnd(refSt, pkt.get());
      if (!std::isnan(e) && !(e <= lastRefEnd)) lastRefEnd = e;
    }
    if (si < 0 || static_cast<unsigned>(si) >= fmt->nb_streams || outIndex[static_cast<size_t>(si)] < 0 ||
        finished[static_cast<size_t>(si)]) {
      av_packet_unref(pkt.get());
      continue;
    }
    AVStream* st = fmt->streams[si];
    const double t = secondsOf(st, pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts);
    const double dts = secondsOf(st, pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts);
    if (si == ref && reencode) {
      avcodec_send_packet(dec->ctx(), pkt.get());  // a damaged packet is skipped, as players do
      av_packet_unref(pkt.get());
      if (auto r = pumpDecoder(); !r.ok()) return r.error();
    } else if (si == ref) {
      if (std::isnan(cutStart)) {
        // Copying starts at a keyframe: whatever comes before one cannot be decoded.
        if (!(pkt->flags & AV_PKT_FLAG_KEY) || std::isnan(t)) {
          av_packet_unref(pkt.get());
          continue;
        }
        cutStart = t;
        if (auto r = flushPending(); !r.ok()) return r.error();
      }
      // In decode order: every packet up to the first one decoded at or after `end` is kept, so the
      // frames that reference one another stay together.
      if (!std::isnan(dts) && dts >= end) {
        finished[static_cast<size_t>(si)] = true;
      } else {
        if (auto r = writeCopy(pkt.get()); !r.ok()) return r.error();
        wroteRef = true;
      }
      av_packet_unref(pkt.get());
    } else {
      if (!std::isnan(t) && t >= end) {
        finished[static_cast<size_t>(si)] = true;
      } else if (std::isnan(cutStart)) {
        if (pending.size() >= kMaxPendingPackets)
          return rowError(ErrorKind::Corrupt, reader, "has no keyframe to start the clip at near " + std::to_string(req.start) + " s");
        pending.push_back(av_packet_clone(pkt.get()));
      } else if (auto r = writeCopy(pkt.get()); !r.ok()) {
        return r.error();
      }
      av_packet_unref(pkt.get());
    }
    bool all = true;
    for (unsigned i = 0; i < fmt->nb_streams; ++i) all = all && (outIndex[i] < 0 || finished[i]);
    if (all) break;
  }
  if (reencode) {
    avcodec_send_packet(dec->ctx(), nullptr);
    if (auto r = pumpDecoder(); !r.ok()) return r.error();
    avcodec_send_frame(enc.ctx.get(), nullptr);
    if (auto r = drainEncoder(reader, enc, mux, outPkt.get()); !r.ok()) return r.error();
  }
  if (!wroteRef)
    return rowError(ErrorKind::Corrupt, reader,
                    "has no decodable " + std::string(hasVideo ? "video" : "audio") + " between " +
                        std::to_string(req.start) + " s and " + (req.end < 0 ? std::string("the end") : std::to_string(req.end) + " s"));
  auto bytes = mux.finish(reader.uri());
  if (!bytes.ok()) return bytes.error();
  clip.bytes = std::move(bytes).value();
  clip.start = std::max(0.0, cutStart);
  clip.duration = std::max(0.0, clipEnd - clip.start);
  return clip;
}

// ---------------------------------------------------------------------------------------------------
// Audio

core::Result<PcmFormat> decodeAudio(ObjectReader& reader, std::string_view name, int sampleRate, int channels,
                                    const PcmSink& sink) {
  auto in = AvInput::open(reader, name);
  if (!in.ok()) return in.error();
  auto opened = Decoder::open(**in, AVMEDIA_TYPE_AUDIO, 1);
  if (!opened.ok()) return opened.error();
  Decoder& d = **opened;
  PcmFormat format;
  std::unique_ptr<SwrContext, SwrFree> swr;
  AVChannelLayout outLayout{}, inLayout{};
  int inRate = 0, inFormat = -1;
  struct Layouts {
    AVChannelLayout& a;
    AVChannelLayout& b;
    ~Layouts() {
      av_channel_layout_uninit(&a);
      av_channel_layout_uninit(&b);
    }
  } layouts{outLayout, inLayout};
  std::vector<int16_t> chunk;
  bool stopped = false;

  // Converts one frame (nullptr: what the converter still holds) and hands it to the sink.
  auto convert = [&](const AVFrame* f) -> core::Result<void> {
    const int outCount = swr_get_out_samples(swr.get(), f ? f->nb_samples : 0);
    if (outCount <= 0) return {};
    chunk.resize(static_cast<size_t>(outCount) * static_cast<size_t>(format.channels));
    uint8_t* out[1] = {reinterpret_cast<uint8_t*>(chunk.data())};
    int got = swr_convert(swr.get(), out, outCount, f ? const_cast<const uint8_t**>(f->extended_data) : nullptr,
                          f ? f->nb_samples : 0);
    if (got < 0) return rowError(ErrorKind::Corrupt, reader, "its audio cannot be converted (" + avErr(got) + ")");
    if (got > 0 && !sink(format, chunk.data(), static_cast<size_t>(got))) stopped = true;
    return {};
  };

  while (!stopped) {
    auto f = d.next();
    if (!f.ok()) return f.error();
    if (!*f) break;
    AVFrame* fr = *f;
    if (fr->nb_samples <= 0 || fr->sample_rate <= 0 || fr->ch_layout.nb_channels <= 0) continue;
    if (!swr || fr->sample_rate != inRate || fr->format != inFormat ||
        av_channel_layout_compare(&fr->ch_layout, &inLayout) != 0) {
      // The first frame, or the stream changed its format midway (it happens at joins of broadcasts).
      if (swr) {
        if (auto r = convert(nullptr); !r.ok()) return r.error();
      }
      av_channel_layout_uninit(&inLayout);
      if (fr->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
        av_channel_layout_default(&inLayout, fr->ch_layout.nb_channels);
      else
        av_channel_layout_copy(&inLayout, &fr->ch_layout);
      inRate = fr->sample_rate;
      inFormat = fr->format;
      if (format.sampleRate == 0) {
        format.sampleRate = sampleRate > 0 ? sampleRate : inRate;
        format.channels = channels > 0 ? channels : inLayout.nb_channels;
        av_channel_layout_default(&outLayout, format.channels);
      }
      SwrContext* s = nullptr;
      int rc = swr_alloc_set_opts2(&s, &outLayout, AV_SAMPLE_FMT_S16, format.sampleRate, &inLayout,
                                   static_cast<AVSampleFormat>(inFormat), inRate, 0, nullptr);
      swr.reset(s);
      if (rc < 0 || !s || swr_init(s) < 0)
        return rowError(ErrorKind::Unsupported, reader, "its audio format cannot be converted");
    }
    if (auto r = convert(fr); !r.ok()) return r.error();
  }
  if (!swr) return rowError(ErrorKind::Corrupt, reader, "has no decodable audio");
  if (!stopped)
    if (auto r = convert(nullptr); !r.ok()) return r.error();
  return format;
}

// All of the audio in memory, refused past kMaxAvOutputBytes.
core::Result<Pcm> decodeAll(ObjectReader& reader, std::string_view name, int sampleRate, int channels) {
  Pcm pcm;
  bool tooBig = false;
  const size_t maxSamples = static_cast<size_t>(kMaxAvOutputBytes) / sizeof(int16_t);
  auto format = decodeAudio(reader, name, sampleRate, channels,
                            [&](const PcmFormat& f, const int16_t* samples, size_t frames) {
                              const size_t n = frames * static_cast<size_t>(f.channels);
                              if (pcm.samples.size() + n > maxSamples) {
                                tooBig = true;
                                return false;
                              }
                              pcm.samples.insert(pcm.samples.end(), samples, samples + n);
                              return true;
                            });
  if (!format.ok()) return format.error();
  if (tooBig)
    return rowError(ErrorKind::InvalidInput, reader,
                    "the decoded audio would be larger than " + mib(kMaxAvOutputBytes) +
                        "; cut it shorter (video.clip) or ask for fewer channels or a lower sample rate");
  pcm.sampleRate = format->sampleRate;
  pcm.channels = format->channels;
  return pcm;
}

core::Result<std::string> encodeFlac(const Pcm& pcm) {
  const std::string none = "FLAC encoder";
  if (pcm.channels < 1 || pcm.channels > 8)
    return makeError(ErrorKind::Unsupported, "FLAC holds 1 to 8 channels, not " + std::to_string(pcm.channels));
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_FLAC);
  if (!codec) return makeError(ErrorKind::Unsupported, "this FFmpeg has no FLAC encoder");
  auto muxed = Muxer::open(none, "flac");
  if (!muxed.ok()) return muxed.error();
  Muxer& mux = **muxed;
  CodecPtr ctx(avcodec_alloc_context3(codec));
  FramePtr frame(av_frame_alloc());
  PacketPtr pkt(av_packet_alloc());
  if (!ctx || !frame || !pkt) return makeError(ErrorKind::Io, "out of memory encoding FLAC");
  ctx->sample_fmt = AV_SAMPLE_FMT_S16;
  ctx->sample_rate = pcm.sampleRate;
  av_channel_layout_default(&ctx->ch_layout, pcm.channels);
  ctx->time_base = AVRational{1, pcm.sampleRate};
  ctx->flags |= AV_CODEC_FLAG_BITEXACT;
  ctx->thread_count = 1;
  int rc = avcodec_open2(ctx.get(), codec, nullptr);
  if (rc < 0) return makeError(ErrorKind::Unsupported, "cannot open the FLAC encoder (" + avErr(rc) + ")");
  AVStream* st = mux.addStream();
  if (!st) return makeError(ErrorKind::Io, "out of memory encoding FLAC");
  avcodec_parameters_from_context(st->codecpar, ctx.get());
  st->time_base = ctx->time_base;
  if (auto r = mux.writeHeader(none); !r.ok()) return r.error();
  auto drain = [&]() -> core::Result<void> {
    for (;;) {
      int r = avcodec_receive_packet(ctx.get(), pkt.get());
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return {};
      if (r < 0) return makeError(ErrorKind::Internal, "FLAC encoding failed (" + avErr(r) + ")");
      av_packet_rescale_ts(pkt.get(), ctx->time_base, st->time_base);
      pkt->stream_index = st->index;
      if (auto w = mux.write(none, pkt.get()); !w.ok()) return w;
    }
  };
  const int64_t frames = static_cast<int64_t>(pcm.samples.size()) / pcm.channels;
  const int chunk = ctx->frame_size > 0 ? ctx->frame_size : 4608;
  for (int64_t at = 0; at < frames; at += chunk) {
    const int n = static_cast<int>(std::min<int64_t>(chunk, frames - at));
    av_frame_unref(frame.get());
    frame->format = AV_SAMPLE_FMT_S16;
    frame->sample_rate = pcm.sampleRate;
    av_channel_layout_copy(&frame->ch_layout, &ctx->ch_layout);
    frame->nb_samples = n;
    if (av_frame_get_buffer(frame.get(), 0) < 0) return makeError(ErrorKind::Io, "out of memory encoding FLAC");
    std::memcpy(frame->data[0], pcm.samples.data() + at * pcm.channels,
                static_cast<size_t>(n) * static_cast<size_t>(pcm.channels) * sizeof(int16_t));
    frame->pts = at;
    rc = avcodec_send_frame(ctx.get(), frame.get());
    if (rc < 0) return makeError(ErrorKind::Internal, "FLAC encoding failed (" + avErr(rc) + ")");
    if (auto r = drain(); !r.ok()) return r.error();
  }
  avcodec_send_frame(ctx.get(), nullptr);
  if (auto r = drain(); !r.ok()) return r.error();
  return mux.finish(none);
}

core::Result<AudioResult> extractAudio(ObjectReader& reader, std::string_view name, AudioFormat format,
                                       const MediaLimits& limits) {
  if (format == AudioFormat::Wav || format == AudioFormat::Flac) {
    (void)limits;  // the reader carries the byte budget and the deadline
    auto pcm = decodeAll(reader, name, 0, 0);
    if (!pcm.ok()) return pcm.error();
    AudioResult out;
    out.sampleRate = pcm->sampleRate;
    out.channels = pcm->channels;
    out.duration = pcm->duration();
    if (format == AudioFormat::Wav) {
      out.bytes = wavBytes(*pcm);
      out.mime = "audio/wav";
      out.codec = "pcm_s16le";
    } else {
      auto flac = encodeFlac(*pcm);
      if (!flac.ok()) return rowError(flac.error().kind, reader, flac.error().message);
      out.bytes = std::move(flac).value();
      out.mime = "audio/flac";
      out.codec = "flac";
    }
    return out;
  }
  auto opened = AvInput::open(reader, name);
  if (!opened.ok()) return opened.error();
  AvInput& in = **opened;
  AVFormatContext* fmt = in.format();
  const int idx = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  if (idx < 0) return rowError(ErrorKind::InvalidInput, reader, "has no audio stream");
  AVStream* st = fmt->streams[idx];
  const AVCodecID codec = st->codecpar->codec_id;
  const char* codecName = avcodec_get_name(codec);
  bool m4a = format == AudioFormat::M4a;
  if (format == AudioFormat::Auto) m4a = avformat_query_codec(av_guess_format("mp4", nullptr, nullptr), codec, FF_COMPLIANCE_NORMAL) == 1;
  auto muxed = Muxer::open(reader.uri(), m4a ? "mp4" : "matroska");
  if (!muxed.ok()) return muxed.error();
  Muxer& mux = **muxed;
  if (!mux.canHold(codec))
    return rowError(ErrorKind::Unsupported, reader,
                    std::string("its ") + codecName + " audio cannot be copied into " + (m4a ? ".m4a" : ".mka") +
                        "; choose format mka, wav or flac");
  AVStream* out = mux.addStream();
  if (!out) return rowError(ErrorKind::Io, reader, "out of memory adding a stream");
  avcodec_parameters_copy(out->codecpar, st->codecpar);
  out->codecpar->codec_tag = 0;
  out->time_base = st->time_base;
  if (auto r = mux.writeHeader(reader.uri()); !r.ok()) return r.error();
  PacketPtr pkt(av_packet_alloc());
  if (!pkt) return rowError(ErrorKind::Io, reader, "out of memory copying the audio");
  int64_t first = AV_NOPTS_VALUE, endTs = 0;
  int64_t packets = 0;
  for (;;) {
    if (reader.pastDeadline()) return rowError(ErrorKind::Corrupt, reader, "took longer than the time limit per file");
    int rc = av_read_frame(fmt, pkt.get());
    if (rc < 0) {
      if (rc != AVERROR_EOF && !reader.limitHit().empty()) return makeError(ErrorKind::Corrupt, in.describe(rc, "cannot be read"));
      if (rc == AVERROR_EXIT) return rowError(ErrorKind::Corrupt, reader, "took longer than the time limit per file");
      if (auto e = cutShort(in, st, static_cast<double>(endTs) * av_q2d(st->time_base))) return *e;
      break;
    }
    if (pkt->stream_index != idx) {
      av_packet_unref(pkt.get());
      continue;
    }
    if (first == AV_NOPTS_VALUE) first = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
    if (first == AV_NOPTS_VALUE) first = 0;
    if (pkt->pts != AV_NOPTS_VALUE) pkt->pts -= first;
    if (pkt->dts != AV_NOPTS_VALUE) pkt->dts -= first;
    const int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
    if (ts != AV_NOPTS_VALUE) endTs = std::max(endTs, ts + pkt->duration);
    av_packet_rescale_ts(pkt.get(), st->time_base, out->time_base);
    pkt->stream_index = out->index;
    pkt->pos = -1;
    if (auto r = mux.write(reader.uri(), pkt.get()); !r.ok()) return r.error();
    ++packets;
  }
  if (packets == 0) return rowError(ErrorKind::Corrupt, reader, "has an audio stream without any data");
  auto bytes = mux.finish(reader.uri());
  if (!bytes.ok()) return bytes.error();
  AudioResult res;
  res.bytes = std::move(bytes).value();
  res.mime = m4a ? "audio/mp4" : "audio/x-matroska";
  res.codec = codecName;
  res.sampleRate = st->codecpar->sample_rate;
  res.channels = st->codecpar->ch_layout.nb_channels;
  res.duration = static_cast<double>(endTs) * av_q2d(st->time_base);
  return res;
}

}  // namespace

}  // namespace loom::media

namespace loom::media::native {

const AvOpsApi* avOps() {
  static const AvOpsApi api{&loom::media::extractFrames, &loom::media::cutClip, &loom::media::extractAudio,
                            &loom::media::decodeAudio, &loom::media::encodeFlac};
  return &api;
}

}  // namespace loom::media::native

#include "media/thumbnail.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/samplefmt.h>
#include <libswscale/swscale.h>
}

#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page-renderer.h>
#include <poppler-page.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "media/native/av_frames.h"
#include "media/native/av_input.h"
#include "media/native/image_decode.h"
#include "media/native/native.h"
#include "media/native/native_util.h"
#include "media/probe.h"

namespace loom::media {

using core::ErrorKind;
using core::makeError;
using native::CodecCtxFree;
using native::fitSize;
using native::FrameFree;
using native::FrameScaler;
using native::named;
using native::PacketFree;
using native::rowError;

namespace {

constexpr int64_t kTextHeadBytes = 64 * 1024;     // text previews look at no more than this
constexpr int kMaxPacketsPerGrab = 3000;          // packets decoded to reach one seek target
constexpr double kMaxSequentialAudioSeconds = 600; // longer audio is sampled by seeking per column
constexpr int kAudioBlockSamples = 256;

// OpenCV and poppler print decoder complaints to stderr; per-row problems are row errors instead.
void quietLibraries() {
  static std::once_flag once;
  std::call_once(once, [] {
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    poppler::set_debug_error_function([](const std::string&, void*) {}, nullptr);
  });
}

core::Result<Thumbnail> encode(const ObjectReader& reader, const cv::Mat& img, bool png, ThumbnailKind kind) {
  std::vector<uchar> buf;
  try {
    bool ok = png ? cv::imencode(".png", img, buf, {cv::IMWRITE_PNG_COMPRESSION, 6})
                  : cv::imencode(".jpg", img, buf, {cv::IMWRITE_JPEG_QUALITY, 85});
    if (!ok) return rowError(ErrorKind::Internal, reader, "could not encode the thumbnail");
  } catch (const cv::Exception& e) {
    return rowError(ErrorKind::Internal, reader, std::string("could not encode the thumbnail: ") + e.what());
  }
  Thumbnail t;
  t.bytes.assign(reinterpret_cast<const char*>(buf.data()), buf.size());
  t.mime = png ? "image/png" : "image/jpeg";
  t.width = img.cols;
  t.height = img.rows;
  t.kind = kind;
  return t;
}

// ---------------------------------------------------------------------------------------------------
// Images


core::Result<Thumbnail> imageThumbnail(ObjectReader& reader, std::string head, int64_t size, std::string_view mime,
                                       const ThumbnailRequest& req, const MediaLimits& limits) {
  native::ImageDecodeOptions options;
  options.minLongSide = req.maxSide;
  auto decoded = native::decodeImage(reader, std::move(head), size, mime, options, limits);
  if (!decoded.ok()) return decoded.error();
  cv::Mat img = std::move(decoded->pixels);
  const bool alpha = img.channels() == 4;
  cv::Size target = fitSize(img.cols, img.rows, req.maxSide, false);
  if (target != img.size()) {
    cv::Mat small;
    cv::resize(img, small, target, 0, 0, cv::INTER_AREA);
    img = std::move(small);
  }
  return encode(reader, img, alpha, ThumbnailKind::Image);
}

// ---------------------------------------------------------------------------------------------------
// Video and audio through libavformat/libavcodec over the reader


// One decoder on the best stream of a type. Holds at most the current and the last decoded frame.
class StreamDecoder {
 public:
  static core::Result<std::unique_ptr<StreamDecoder>> open(AvInput& in, AVMediaType type) {
    const AVCodec* codec = nullptr;
    int idx = av_find_best_stream(in.format(), type, -1, -1, &codec, 0);
    const char* what = type == AVMEDIA_TYPE_VIDEO ? "video" : "audio";
    if (idx < 0 || !codec)
      return makeError(idx == AVERROR_DECODER_NOT_FOUND ? ErrorKind::Unsupported : ErrorKind::Corrupt,
                       in.reader().uri() + ": has no decodable " + what + " stream");
    std::unique_ptr<StreamDecoder> d(new StreamDecoder(in));
    d->m_index = idx;
    d->m_stream = in.format()->streams[idx];
    d->m_ctx.reset(avcodec_alloc_context3(codec));
    d->m_frame.reset(av_frame_alloc());
    d->m_keep.reset(av_frame_alloc());
    d->m_packet.reset(av_packet_alloc());
    if (!d->m_ctx || !d->m_frame || !d->m_keep || !d->m_packet)
      return makeError(ErrorKind::Io, in.reader().uri() + ": out of memory opening the decoder");
    int rc = avcodec_parameters_to_context(d->m_ctx.get(), d->m_stream->codecpar);
    if (rc < 0) return makeError(ErrorKind::Corrupt, in.describe(rc, std::string("has unusable ") + what + " parameters"));
    d->m_ctx->thread_count = 1;  // parallelism comes from thumbnailing many objects at once
    rc = avcodec_open2(d->m_ctx.get(), codec, nullptr);
    if (rc < 0) return makeError(ErrorKind::Corrupt, in.describe(rc, std::string("cannot open its ") + what + " decoder"));
    return d;
  }

  AVStream* stream() const { return m_stream; }
  AVCodecContext* ctx() const { return m_ctx.get(); }

  // Duration in seconds, or < 0 when unknown.
  double duration() const {
    if (m_in.format()->duration > 0) return static_cast<double>(m_in.format()->duration) / AV_TIME_BASE;
    if (m_stream->duration > 0) return static_cast<double>(m_stream->duration) * av_q2d(m_stream->time_base);
    return -1;
  }
  double startTime() const {
    return m_stream->start_time != AV_NOPTS_VALUE ? static_cast<double>(m_stream->start_time) * av_q2d(m_stream->time_base)
                                                  : 0.0;
  }

  // Seeks so that the next frames come from at or before `seconds` from the start (keyframe before).
  void seek(double seconds) {
    int64_t ts = static_cast<int64_t>((seconds + startTime()) / av_q2d(m_stream->time_base));
    if (av_seek_frame(m_in.format(), m_index, ts, AVSEEK_FLAG_BACKWARD) < 0)
      avformat_seek_file(m_in.format(), m_index, std::numeric_limits<int64_t>::min(), ts, ts, 0);
    avcodec_flush_buffers(m_ctx.get());
    m_eof = false;
  }

  // Decodes the next frame; the first at or after `minSeconds` when given (earlier ones are skipped,
  // but the last of them is returned when the stream ends first). nullptr at the end; an error for
  // decoding failures and limits.
  core::Result<AVFrame*> next(double minSeconds = -1) {
    bool haveKeep = false;
    for (int packets = 0; packets < kMaxPacketsPerGrab;) {
      if (m_in.reader().pastDeadline())
        return makeError(ErrorKind::Corrupt, m_in.reader().uri() + ": took longer than the time limit per file");
      int rc = avcodec_receive_frame(m_ctx.get(), m_frame.get());
      if (rc == 0) {
        if (minSeconds < 0) return m_frame.get();
        int64_t pts = m_frame->best_effort_timestamp;
        double t = pts == AV_NOPTS_VALUE ? minSeconds
                                         : static_cast<double>(pts) * av_q2d(m_stream->time_base) - startTime();
        if (t + 1e-3 >= minSeconds) return m_frame.get();
        av_frame_unref(m_keep.get());
        av_frame_move_ref(m_keep.get(), m_frame.get());
        haveKeep = true;
        continue;
      }
      if (rc == AVERROR_EOF) break;
      if (rc != AVERROR(EAGAIN)) return makeError(ErrorKind::Corrupt, m_in.describe(rc, "cannot be decoded"));
      if (m_eof) break;
      rc = av_read_frame(m_in.format(), m_packet.get());
      if (rc < 0) {
        if (rc != AVERROR_EOF && !m_in.reader().limitHit().empty())
          return makeError(ErrorKind::Corrupt, m_in.describe(rc, "cannot be read"));
        m_eof = true;
        avcodec_send_packet(m_ctx.get(), nullptr);  // drain what the decoder holds
        continue;
      }
      if (m_packet->stream_index == m_index) {
        ++packets;
        rc = avcodec_send_packet(m_ctx.get(), m_packet.get());
        // A damaged packet in the middle is skipped, as players do; hopeless streams end in no frame.
        (void)rc;
      }
      av_packet_unref(m_packet.get());
    }
    if (haveKeep) {
      av_frame_unref(m_frame.get());
      av_frame_move_ref(m_frame.get(), m_keep.get());
      return m_frame.get();
    }
    return static_cast<AVFrame*>(nullptr);
  }

 private:
  explicit StreamDecoder(AvInput& in) : m_in(in) {}
  AvInput& m_in;
  int m_index = -1;
  AVStream* m_stream = nullptr;
  std::unique_ptr<AVCodecContext, CodecCtxFree> m_ctx;
  std::unique_ptr<AVFrame, FrameFree> m_frame, m_keep;
  std::unique_ptr<AVPacket, PacketFree> m_packet;
  bool m_eof = false;
};

core::Result<std::unique_ptr<StreamDecoder>> openVideo(AvInput& in, const MediaLimits& limits) {
  auto dec = StreamDecoder::open(in, AVMEDIA_TYPE_VIDEO);
  if (!dec.ok()) return dec.error();
  const int64_t w = (*dec)->ctx()->width, h = (*dec)->ctx()->height;
  if (w <= 0 || h <= 0) return rowError(ErrorKind::Corrupt, in.reader(), "video stream has no frame size");
  if (w > limits.maxPixels / h)
    return rowError(ErrorKind::Corrupt, in.reader(),
                    "video frames claim " + std::to_string(w) + " x " + std::to_string(h) +
                        " pixels, over the limit of " + std::to_string(limits.maxPixels) + " pixels; not decoded");
  return std::move(dec).value();
}

struct Luma {
  double mean = 0, stddev = 0;
};
Luma lumaOf(const cv::Mat& bgr) {
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  cv::Scalar m, s;
  cv::meanStdDev(gray, m, s);
  return {m[0], s[0]};
}

core::Result<Thumbnail> frameThumbnail(ObjectReader& reader, std::string_view name, const ThumbnailRequest& req,
                                       const MediaLimits& limits, bool enlarge = true) {
  auto in = AvInput::open(reader, name);
  if (!in.ok()) return in.error();
  auto dec = openVideo(**in, limits);
  if (!dec.ok()) return dec.error();
  StreamDecoder& d = **dec;
  FrameScaler scaler(d.stream(), d.ctx()->width, d.ctx()->height, req.maxSide, enlarge);
  const double dur = d.duration();
  cv::Mat best;
  double bestScore = -1;
  auto consider = [&](const AVFrame* f) -> core::Result<bool> {  // true: good enough, stop looking
    auto img = scaler.scale(f, reader);
    if (!img.ok()) return img.error();
    Luma l = lumaOf(*img);
    double score = l.stddev + 0.25 * std::min(l.mean, 255.0 - l.mean);
    if (score > bestScore) {
      bestScore = score;
      best = std::move(img).value();
    }
    return l.mean >= kBlackFrameLuma && l.stddev >= kFlatFrameStddev;
  };
  if (dur > 0) {
    for (double p : {0.1, 0.3, 0.5, 0.7}) {
      d.seek(p * dur);
      auto f = d.next(p * dur);
      if (!f.ok()) return f.error();
      if (!*f) continue;
      auto good = consider(*f);
      if (!good.ok()) return good.error();
      if (*good) break;
    }
  } else {
    // No duration (a raw stream): look at every 10th of the first frames instead.
    for (int i = 0; i < 300; ++i) {
      auto f = d.next();
      if (!f.ok()) return f.error();
      if (!*f) break;
      if (i % 10) continue;
      auto good = consider(*f);
      if (!good.ok()) return good.error();
      if (*good) break;
    }
  }
  if (best.empty()) return rowError(ErrorKind::Corrupt, reader, "has no decodable video frame");
  return encode(reader, best, false, ThumbnailKind::Frame);
}

core::Result<Thumbnail> stripThumbnail(ObjectReader& reader, std::string_view name, const ThumbnailRequest& req,
                                       const MediaLimits& limits) {
  auto in = AvInput::open(reader, name);
  if (!in.ok()) return in.error();
  auto dec = openVideo(**in, limits);
  if (!dec.ok()) return dec.error();
  StreamDecoder& d = **dec;
  const double dur = d.duration();
  if (dur <= 0)
    return rowError(ErrorKind::Unsupported, reader, "has no known duration, so strip frames cannot be spaced over it");
  FrameScaler scaler(d.stream(), d.ctx()->width, d.ctx()->height, req.maxSide);
  const cv::Size cell = scaler.outputSize();
  cv::Mat strip(cell.height, cell.width * req.frames, CV_8UC3, cv::Scalar(0, 0, 0));
  int got = 0;
  cv::Mat previous;
  for (int i = 0; i < req.frames; ++i) {
    double t = (i + 0.5) * dur / req.frames;
    d.seek(t);
    auto f = d.next(t);
    if (!f.ok()) return f.error();
    cv::Rect slot(i * cell.width, 0, cell.width, cell.height);
    if (*f) {
      auto img = scaler.scale(*f, reader);
      if (!img.ok()) return img.error();
      previous = std::move(img).value();
      ++got;
    }
    if (!previous.empty() && previous.size() == cell) previous.copyTo(strip(slot));
  }
  if (got == 0) return rowError(ErrorKind::Corrupt, reader, "has no decodable video frame");
  return encode(reader, strip, false, ThumbnailKind::Strip);
}

// One sample of one channel as -1..1, for every packed and planar sample format.
float sampleAt(const AVFrame* f, int channels, int ch, int i) {
  auto fmt = static_cast<AVSampleFormat>(f->format);
  const bool planar = av_sample_fmt_is_planar(fmt);
  const int bps = av_get_bytes_per_sample(fmt);
  const uint8_t* p = planar ? f->extended_data[ch] + static_cast<size_t>(i) * bps
                            : f->extended_data[0] + (static_cast<size_t>(i) * channels + ch) * bps;
  switch (av_get_packed_sample_fmt(fmt)) {
    case AV_SAMPLE_FMT_U8: return (static_cast<float>(*p) - 128.0f) / 128.0f;
    case AV_SAMPLE_FMT_S16: {
      int16_t v;
      std::memcpy(&v, p, sizeof v);
      return static_cast<float>(v) / 32768.0f;
    }
    case AV_SAMPLE_FMT_S32: {
      int32_t v;
      std::memcpy(&v, p, sizeof v);
      return static_cast<float>(v / 2147483648.0);
    }
    case AV_SAMPLE_FMT_S64: {
      int64_t v;
      std::memcpy(&v, p, sizeof v);
      return static_cast<float>(static_cast<double>(v) / 9223372036854775808.0);
    }
    case AV_SAMPLE_FMT_FLT: {
      float v;
      std::memcpy(&v, p, sizeof v);
      return std::isfinite(v) ? v : 0.0f;
    }
    case AV_SAMPLE_FMT_DBL: {
      double v;
      std::memcpy(&v, p, sizeof v);
      return std::isfinite(v) ? static_cast<float>(v) : 0.0f;
    }
    default: return 0.0f;
  }
}

struct MinMax {
  float lo = std::numeric_limits<float>::max();
  float hi = std::numeric_limits<float>::lowest();
  bool empty() const { return lo > hi; }
  void add(float v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  void add(const MinMax& o) {
    lo = std::min(lo, o.lo);
    hi = std::max(hi, o.hi);
  }
};

void addFrame(const AVFrame* f, std::vector<MinMax>& blocks, int64_t& samples, int64_t maxSamples) {
  const int channels = std::max(1, f->ch_layout.nb_channels);
  for (int i = 0; i < f->nb_samples && samples < maxSamples; ++i, ++samples) {
    auto b = static_cast<size_t>(samples / kAudioBlockSamples);
    if (b >= blocks.size()) blocks.resize(b + 1);
    for (int ch = 0; ch < channels; ++ch) blocks[b].add(sampleAt(f, channels, ch, i));
  }
}

core::Result<Thumbnail> waveformThumbnail(ObjectReader& reader, std::string_view name, const ThumbnailRequest& req) {
  auto in = AvInput::open(reader, name);
  if (!in.ok()) return in.error();
  auto dec = StreamDecoder::open(**in, AVMEDIA_TYPE_AUDIO);
  if (!dec.ok()) return dec.error();
  StreamDecoder& d = **dec;
  const int width = req.maxSide, height = std::max(kMinThumbnailSide / 2, req.maxSide / 2);
  std::vector<MinMax> columns(static_cast<size_t>(width));
  const double dur = d.duration();
  const int rate = std::max(1, d.ctx()->sample_rate);
  if (dur > kMaxSequentialAudioSeconds) {
    // Long audio: one decoded frame at the middle of each column's stretch, so the cost is bounded by
    // the width, not by the length.
    for (int c = 0; c < width; ++c) {
      double t = (c + 0.5) * dur / width;
      d.seek(t);
      auto f = d.next(t);
      if (!f.ok()) return f.error();
      if (!*f) continue;
      std::vector<MinMax> blocks;
      int64_t n = 0;
      addFrame(*f, blocks, n, std::numeric_limits<int64_t>::max());
      for (const auto& b : blocks) columns[static_cast<size_t>(c)].add(b);
    }
  } else {
    // Sequential: min/max per block of samples, then blocks to columns, so the picture spans what was
    // really decoded even when the container's duration is wrong.
    std::vector<MinMax> blocks;
    int64_t samples = 0;
    const auto maxSamples = static_cast<int64_t>(kMaxSequentialAudioSeconds * rate);
    for (;;) {
      auto f = d.next();
      if (!f.ok()) return f.error();
      if (!*f || samples >= maxSamples) break;
      addFrame(*f, blocks, samples, maxSamples);
    }
    if (blocks.empty()) return rowError(ErrorKind::Corrupt, reader, "has no decodable audio");
    for (size_t b = 0; b < blocks.size(); ++b) columns[b * columns.size() / blocks.size()].add(blocks[b]);
  }
  float peak = 0;
  for (const auto& c : columns)
    if (!c.empty()) peak = std::max({peak, std::abs(c.lo), std::abs(c.hi)});
  if (std::all_of(columns.begin(), columns.end(), [](const MinMax& c) { return c.empty(); }))
    return rowError(ErrorKind::Corrupt, reader, "has no decodable audio");
  // Normalised to the loudest sample so quiet recordings still show their shape.
  const float scale = peak > 1e-4f ? 1.0f / peak : 1.0f;
  cv::Mat img(height, width, CV_8UC3, cv::Scalar(250, 248, 245));
  const int mid = height / 2;
  const double half = (height - 2) / 2.0;
  cv::line(img, {0, mid}, {width - 1, mid}, cv::Scalar(210, 200, 190));
  for (int c = 0; c < width; ++c) {
    const auto& col = columns[static_cast<size_t>(c)];
    if (col.empty()) continue;
    int y0 = mid - static_cast<int>(std::lround(col.hi * scale * half));
    int y1 = mid - static_cast<int>(std::lround(col.lo * scale * half));
    cv::line(img, {c, std::clamp(y0, 0, height - 1)}, {c, std::clamp(y1, 0, height - 1)}, cv::Scalar(180, 100, 30));
  }
  return encode(reader, img, true, ThumbnailKind::Waveform);
}

// ---------------------------------------------------------------------------------------------------
// PDF and text

core::Result<Thumbnail> pageThumbnail(ObjectReader& reader, std::string head, int64_t size,
                                      const ThumbnailRequest& req, const MediaLimits& limits) {
  auto all = native::readRest(reader, std::move(head), size, limits);
  if (!all.ok()) return all.error();
  const std::string& bytes = *all;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    return rowError(ErrorKind::Unsupported, reader, "is too large for the PDF renderer");
  // Poppler keeps process-wide state (fonts, the error callback); documents are rendered one at a
  // time so no release of poppler can race on it. Pages are small at thumbnail size, so this costs
  // little next to images and video, which stay parallel.
  static std::mutex popplerMutex;
  std::lock_guard lock(popplerMutex);
  std::unique_ptr<poppler::document> doc(poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
  if (!doc) return rowError(ErrorKind::Corrupt, reader, "is not a readable PDF (damaged or truncated)");
  if (doc->is_locked()) return rowError(ErrorKind::Unsupported, reader, "is a password-protected PDF");
  if (doc->pages() < 1) return rowError(ErrorKind::Corrupt, reader, "is a PDF without pages");
  std::unique_ptr<poppler::page> page(doc->create_page(0));
  if (!page) return rowError(ErrorKind::Corrupt, reader, "has an unreadable first page");
  poppler::rectf box = page->page_rect();
  double longest = std::max(box.width(), box.height());
  if (!(longest > 0.5)) return rowError(ErrorKind::Corrupt, reader, "has a first page without a size");
  const double dpi = req.maxSide * 72.0 / longest;
  poppler::page_renderer renderer;
  renderer.set_render_hint(poppler::page_renderer::antialiasing, true);
  renderer.set_render_hint(poppler::page_renderer::text_antialiasing, true);
  renderer.set_image_format(poppler::image::format_argb32);
  poppler::image rendered = renderer.render_page(page.get(), dpi, dpi);
  if (!rendered.is_valid() || rendered.width() <= 0 || rendered.height() <= 0)
    return rowError(ErrorKind::Corrupt, reader, "first page could not be rendered");
  // argb32 is stored as B, G, R, A bytes on little-endian machines: OpenCV's BGRA.
  cv::Mat view(rendered.height(), rendered.width(), CV_8UC4, const_cast<char*>(rendered.const_data()),
               static_cast<size_t>(rendered.bytes_per_row()));
  cv::Mat bgr;
  cv::cvtColor(view, bgr, cv::COLOR_BGRA2BGR);
  cv::Size target = fitSize(bgr.cols, bgr.rows, req.maxSide, false);
  if (target != bgr.size()) cv::resize(bgr, bgr, target, 0, 0, cv::INTER_AREA);
  return encode(reader, bgr, false, ThumbnailKind::Page);
}

// Lines of printable ASCII from UTF-8: Hershey fonts draw ASCII only, so every other character
// (and every invalid byte) becomes '?', tabs become spaces and control characters are dropped.
std::vector<std::string> textLines(std::string_view s, size_t maxLines) {
  if (s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
  std::vector<std::string> lines(1);
  for (size_t i = 0; i < s.size() && lines.size() <= maxLines;) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n') {
      lines.emplace_back();
      ++i;
      continue;
    }
    if (c < 0x80) {
      if (c == '\t') lines.back() += "    ";
      else if (c >= 0x20 && c < 0x7F) lines.back() += static_cast<char>(c);
      ++i;
      continue;
    }
    int len = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 1;
    if (len > 1 && c >= 0xF5) len = 1;
    bool valid = len > 1 && i + static_cast<size_t>(len) <= s.size();
    for (int k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0xC0) == 0x80;
    lines.back() += '?';
    i += valid ? static_cast<size_t>(len) : 1;
  }
  if (lines.size() > maxLines) lines.resize(maxLines);
  return lines;
}

core::Result<Thumbnail> textThumbnail(ObjectReader& reader, std::string head, int64_t size, const ThumbnailRequest& req) {
  const int64_t want = std::min(size, kTextHeadBytes);
  if (static_cast<int64_t>(head.size()) < want) {
    auto more = reader.read(static_cast<int64_t>(head.size()), want - static_cast<int64_t>(head.size()));
    if (!more.ok()) return named(reader, more.error());
    head += *more;
  }
  if (head.size() > static_cast<size_t>(want)) head.resize(static_cast<size_t>(want));
  const int side = req.maxSide;
  const int lineHeight = std::max(6, side / 16);
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  const double fontScale = cv::getFontScaleFromHeight(font, std::max(4, lineHeight * 6 / 10), 1);
  const int margin = std::max(2, side / 40);
  const auto maxLines = static_cast<size_t>(std::max(1, (side - margin) / lineHeight));
  cv::Mat img(side, side, CV_8UC3, cv::Scalar(255, 255, 255));
  int y = margin + lineHeight * 8 / 10;
  for (std::string line : textLines(head, maxLines)) {
    // Cut what does not fit the width (proportional font: measure, then shorten).
    while (!line.empty() && cv::getTextSize(line, font, fontScale, 1, nullptr).width > side - 2 * margin)
      line.resize(line.size() * 9 / 10);
    if (!line.empty()) cv::putText(img, line, {margin, y}, font, fontScale, cv::Scalar(30, 30, 30), 1, cv::LINE_AA);
    y += lineHeight;
  }
  return encode(reader, img, true, ThumbnailKind::Text);
}

}  // namespace

core::Result<Thumbnail> native::makeThumbnail(ObjectReader& reader, std::string_view mime, std::string_view name,
                                              const ThumbnailRequest& request, const MediaLimits& limits) {
  quietLibraries();
  if (request.maxSide < kMinThumbnailSide || request.maxSide > kMaxThumbnailSide)
    return makeError(ErrorKind::InvalidInput, "thumbnail size " + std::to_string(request.maxSide) + ": use " +
                                                  std::to_string(kMinThumbnailSide) + " to " +
                                                  std::to_string(kMaxThumbnailSide) + " pixels");
  if (request.frames < 1 || request.frames > kMaxStripFrames)
    return makeError(ErrorKind::InvalidInput, "strip frames " + std::to_string(request.frames) + ": use 1 to " +
                                                  std::to_string(kMaxStripFrames));
  auto size = reader.size();
  if (!size.ok()) return named(reader, size.error());
  if (*size == 0) return rowError(ErrorKind::Corrupt, reader, "is empty (0 bytes)");
  auto head = reader.read(0, std::min(*size, kProbeHeadBytes));
  if (!head.ok()) return named(reader, head.error());
  if (head->empty()) return rowError(ErrorKind::Corrupt, reader, "is empty (0 bytes)");
  std::string type(mime);
  if (type.empty()) type = probeBytes(*head, name).mime;
  ThumbnailKind kind = request.kind;
  if (kind == ThumbnailKind::Auto) {
    auto k = thumbnailKindForMime(type);
    if (!k.ok()) return named(reader, k.error());
    kind = *k;
  }
  try {
    switch (kind) {
      case ThumbnailKind::Image: {
        if (head->substr(0, 4) != "GIF8")
          return imageThumbnail(reader, std::move(head).value(), *size, type, request, limits);
        // OpenCV 4.6 has no GIF decoder; libavcodec has, and an animated GIF is best shown by a
        // frame that is not blank, like a video.
        auto gif = frameThumbnail(reader, name.empty() ? std::string_view("image.gif") : name, request, limits, false);
        if (gif.ok()) gif->kind = ThumbnailKind::Image;
        return gif;
      }
      case ThumbnailKind::Frame: return frameThumbnail(reader, name, request, limits);
      case ThumbnailKind::Strip: return stripThumbnail(reader, name, request, limits);
      case ThumbnailKind::Waveform: return waveformThumbnail(reader, name, request);
      case ThumbnailKind::Page: return pageThumbnail(reader, std::move(head).value(), *size, request, limits);
      case ThumbnailKind::Text: return textThumbnail(reader, std::move(head).value(), *size, request);
      case ThumbnailKind::Auto: break;
    }
  } catch (const cv::Exception& e) {
    return rowError(ErrorKind::Corrupt, reader, std::string("cannot be previewed: ") + e.what());
  } catch (const std::bad_alloc&) {
    return rowError(ErrorKind::Corrupt, reader, "needs more memory than is available to preview");
  }
  return rowError(ErrorKind::Internal, reader, "no thumbnail kind chosen");
}

}  // namespace loom::media

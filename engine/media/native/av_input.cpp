#include "media/native/av_input.h"

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/mem.h>
}

#include <cstring>
#include <mutex>

namespace loom::media {

using core::ErrorKind;
using core::makeError;

namespace {

constexpr int kIoBufferBytes = 64 * 1024;

// libavformat logs to stderr by default; per-row problems are reported as row errors instead.
void quietFfmpeg() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_level(AV_LOG_QUIET); });
}

std::string avErrorText(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

}  // namespace

int AvInput::readPacket(void* opaque, uint8_t* buf, int size) {
  auto* self = static_cast<AvInput*>(opaque);
  auto r = self->m_reader.read(self->m_pos, size);
  if (!r.ok()) {
    self->m_readError = r.error().message;
    return AVERROR(EIO);
  }
  if (r->empty()) return AVERROR_EOF;
  std::memcpy(buf, r->data(), r->size());
  self->m_pos += static_cast<int64_t>(r->size());
  return static_cast<int>(r->size());
}

int64_t AvInput::seek(void* opaque, int64_t offset, int whence) {
  auto* self = static_cast<AvInput*>(opaque);
  whence &= ~AVSEEK_FORCE;
  if (whence == AVSEEK_SIZE) {
    auto size = self->m_reader.size();
    return size.ok() ? *size : AVERROR(ENOSYS);
  }
  int64_t base = 0;
  if (whence == SEEK_CUR) {
    base = self->m_pos;
  } else if (whence == SEEK_END) {
    auto size = self->m_reader.size();
    if (!size.ok()) return AVERROR(EIO);
    base = *size;
  } else if (whence != SEEK_SET) {
    return AVERROR(EINVAL);
  }
  if (base + offset < 0) return AVERROR(EINVAL);
  self->m_pos = base + offset;
  return self->m_pos;
}

int AvInput::interrupt(void* opaque) { return static_cast<AvInput*>(opaque)->m_reader.pastDeadline() ? 1 : 0; }

namespace {
// True when the demuxer's header described every stream well enough for a probe: a codec, a size for
// video (with a frame rate), a rate and channel count for audio, and a duration somewhere.
bool headerDescribesStreams(const AVFormatContext* fmt) {
  if (fmt->nb_streams == 0) return false;
  bool duration = fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0;
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVStream* st = fmt->streams[i];
    const AVCodecParameters* par = st->codecpar;
    if (par->codec_id == AV_CODEC_ID_NONE) return false;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0) duration = true;
    if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
      if (st->disposition & AV_DISPOSITION_ATTACHED_PIC) continue;
      if (par->width <= 0 || par->height <= 0) return false;
      if (st->avg_frame_rate.num <= 0 && st->r_frame_rate.num <= 0) return false;
    } else if (par->codec_type == AVMEDIA_TYPE_AUDIO) {
      if (par->sample_rate <= 0 || par->ch_layout.nb_channels <= 0) return false;
    }
  }
  return duration;
}
}  // namespace

core::Result<std::unique_ptr<AvInput>> AvInput::open(ObjectReader& reader, std::string_view nameHint,
                                                     bool headerIsEnough) {
  quietFfmpeg();
  std::unique_ptr<AvInput> in(new AvInput(reader));
  auto* buffer = static_cast<uint8_t*>(av_malloc(kIoBufferBytes));
  if (!buffer) return makeError(ErrorKind::Io, reader.uri() + ": out of memory opening the media demuxer");
  in->m_io = avio_alloc_context(buffer, kIoBufferBytes, 0, in.get(), &AvInput::readPacket, nullptr, &AvInput::seek);
  if (!in->m_io) {
    av_free(buffer);
    return makeError(ErrorKind::Io, reader.uri() + ": out of memory opening the media demuxer");
  }
  in->m_fmt = avformat_alloc_context();
  if (!in->m_fmt) return makeError(ErrorKind::Io, reader.uri() + ": out of memory opening the media demuxer");
  in->m_fmt->pb = in->m_io;
  in->m_fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
  in->m_fmt->interrupt_callback.callback = &AvInput::interrupt;
  in->m_fmt->interrupt_callback.opaque = in.get();
  // Small probe sizes: container headers answer almost everything; decoding seconds of media to
  // guess a frame rate would make probing cost seconds per file instead of milliseconds.
  in->m_fmt->probesize = 1 << 20;
  in->m_fmt->max_analyze_duration = AV_TIME_BASE / 2;
  std::string url(nameHint);  // only a hint for format guessing; all I/O goes through m_io
  AVFormatContext* fmt = in->m_fmt;
  int rc = avformat_open_input(&fmt, url.c_str(), nullptr, nullptr);
  if (rc < 0) {
    in->m_fmt = nullptr;  // avformat_open_input frees the context on failure
    return makeError(ErrorKind::Corrupt, in->describe(rc, "is not a readable audio/video file"));
  }
  in->m_fmt = fmt;
  // image2 (an image-sequence demuxer) accepts anything whose name ends in .jpg/.png/...: it matched
  // the name, not the bytes, so this is no audio/video file (a 4-byte "fLaC" named x.jpg became a
  // 0.04 s video). The *_pipe image demuxers check the content and stay allowed.
  if (std::string_view(fmt->iformat->name) == "image2")
    return makeError(ErrorKind::Corrupt, reader.uri() + " is not a readable audio/video file: only its name suggests "
                                                        "a format, its bytes match none");
  if (headerIsEnough && headerDescribesStreams(in->m_fmt)) return in;
  rc = avformat_find_stream_info(in->m_fmt, nullptr);
  if (rc < 0) return makeError(ErrorKind::Corrupt, in->describe(rc, "has no readable stream information"));
  return in;
}

std::string AvInput::describe(int averror, std::string_view what) const {
  std::string msg = m_reader.uri() + " " + std::string(what);
  if (!m_reader.limitHit().empty()) return msg + ": it " + m_reader.limitHit() + "; the file may be damaged or hostile";
  if (averror == AVERROR_EXIT) return msg + ": took longer than the time limit per file";
  if (averror == AVERROR(EIO) && !m_readError.empty()) return msg + ": reading it failed: " + m_readError;
  // What libavformat says about a cut-off MP4 ("Invalid data found") does not tell a person why, nor
  // does the "I/O error" some demuxers (Matroska) give when the data ends inside an element while
  // every read succeeded.
  if (averror == AVERROR_INVALIDDATA || averror == AVERROR_EOF || averror == AVERROR(EIO))
    return msg + ": its header or index is damaged or missing (truncated file?) (" + avErrorText(averror) + ")";
  return msg + " (" + avErrorText(averror) + ")";
}

AvInput::~AvInput() {
  if (m_fmt) avformat_close_input(&m_fmt);
  if (m_io) {
    av_freep(&m_io->buffer);
    avio_context_free(&m_io);
  }
}

}  // namespace loom::media

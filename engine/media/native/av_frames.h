#pragma once
// FFmpeg pieces shared by thumbnails (thumbnail_native.cpp) and the audio/video operations
// (av_ops_native.cpp): owners for libav* objects, and the scaler that turns decoded video frames into
// BGR images as they are displayed.

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

#include <cmath>
#include <memory>
#include <opencv2/core.hpp>

#include "core/result.h"
#include "media/native/native_util.h"
#include "media/object_reader.h"

namespace loom::media::native {

struct CodecCtxFree {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsFree {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
struct SwrFree {
  void operator()(SwrContext* s) const { swr_free(&s); }
};

// Scales decoded video frames straight into BGR images in one swscale pass (the full-size frame is
// never converted), with the sample aspect ratio and the stream's display rotation applied. maxSide
// applies to the displayed picture, whichever way it is turned (<= 0: full size).
class FrameScaler {
 public:
  FrameScaler(const AVStream* st, int w, int h, int maxSide, bool enlarge = true, int swsFlags = SWS_AREA)
      : m_flags(swsFlags) {
    double dispW = w;
    AVRational sar = st->sample_aspect_ratio.num ? st->sample_aspect_ratio : st->codecpar->sample_aspect_ratio;
    if (sar.num > 0 && sar.den > 0) dispW = w * av_q2d(sar);
    if (const uint8_t* m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, nullptr)) {
      double r = -av_display_rotation_get(reinterpret_cast<const int32_t*>(m));  // clockwise degrees
      if (!std::isnan(r)) m_rotation = ((static_cast<int>(std::lround(r / 90.0)) % 4) + 4) % 4;
    }
    m_size = fitSize(dispW, h, maxSide, enlarge);
  }
  // Size of the result after rotation.
  cv::Size outputSize() const { return m_rotation % 2 ? cv::Size(m_size.height, m_size.width) : m_size; }

  core::Result<cv::Mat> scale(const AVFrame* f, const ObjectReader& reader) {
    m_sws.reset(sws_getCachedContext(m_sws.release(), f->width, f->height, static_cast<AVPixelFormat>(f->format),
                                     m_size.width, m_size.height, AV_PIX_FMT_BGR24, m_flags, nullptr, nullptr,
                                     nullptr));
    if (!m_sws) return rowError(core::ErrorKind::Corrupt, reader, "has a video frame format that cannot be converted");
    cv::Mat out(m_size, CV_8UC3);
    uint8_t* dst[4] = {out.data, nullptr, nullptr, nullptr};
    int stride[4] = {static_cast<int>(out.step[0]), 0, 0, 0};
    sws_scale(m_sws.get(), f->data, f->linesize, 0, f->height, dst, stride);
    if (m_rotation == 1) cv::rotate(out, out, cv::ROTATE_90_CLOCKWISE);
    if (m_rotation == 2) cv::rotate(out, out, cv::ROTATE_180);
    if (m_rotation == 3) cv::rotate(out, out, cv::ROTATE_90_COUNTERCLOCKWISE);
    return out;
  }

 private:
  cv::Size m_size;
  int m_rotation = 0;  // quarter turns clockwise
  int m_flags;
  std::unique_ptr<SwsContext, SwsFree> m_sws;
};

}  // namespace loom::media::native

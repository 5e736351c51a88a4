#pragma once
// A libavformat demuxer over an ObjectReader: the object is never copied to disk; libavformat's seeks
// become ranged reads (so a 2 GB MP4 with its index at the end costs kilobytes to probe), every byte
// counts against the reader's budget, and the reader's deadline interrupts a demuxer that loops.
// Not thread-safe: one AvInput per thread; libavformat itself is safe to use from many threads.

#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"
#include "media/object_reader.h"

struct AVFormatContext;
struct AVIOContext;

namespace loom::media {

class AvInput {
 public:
  // Opens the container and reads stream information (avformat_find_stream_info with small probe
  // sizes). `nameHint` (a file name) helps libavformat pick a demuxer for headerless formats.
  // Errors name the object and the reason (not a media file, truncated, over a limit).
  //
  // `headerIsEnough`: skip avformat_find_stream_info when the container header already gives every
  // stream's codec and basic parameters (probing: MP4, MKV, WAV headers say all a probe reports, and
  // reading packets for PCM would read the whole file). Decoders want the full stream information.
  static core::Result<std::unique_ptr<AvInput>> open(ObjectReader& reader, std::string_view nameHint,
                                                     bool headerIsEnough = false);
  ~AvInput();
  AvInput(const AvInput&) = delete;
  AvInput& operator=(const AvInput&) = delete;

  AVFormatContext* format() const { return m_fmt; }
  ObjectReader& reader() const { return m_reader; }
  // A message for a negative libavformat/libavcodec return code, naming the object and any limit the
  // reader hit (libavformat reports those as plain I/O errors).
  std::string describe(int averror, std::string_view what) const;

 private:
  explicit AvInput(ObjectReader& reader) : m_reader(reader) {}
  static int readPacket(void* opaque, uint8_t* buf, int size);
  static int64_t seek(void* opaque, int64_t offset, int whence);
  static int interrupt(void* opaque);

  ObjectReader& m_reader;
  AVFormatContext* m_fmt = nullptr;
  AVIOContext* m_io = nullptr;
  int64_t m_pos = 0;
  std::string m_readError;  // why the last read from the object failed ("" when none did)
};

}  // namespace loom::media

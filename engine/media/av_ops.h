#pragma once
// Audio/video operations of the media codecs module (FFmpeg): frames, clips, audio tracks, segments,
// resampling. Reached through media::codecs()->av; see media/codecs.h.
//
// Every entry point reads one object through an ObjectReader (its byte budget and deadline bound the
// work a hostile file can cause), returns what it made in memory (one result is capped at
// kMaxAvOutputBytes) and reports a broken input as an error naming the object. Outputs are
// deterministic: the same input and request give the same bytes (bit-exact muxing, one encoder thread).
// Thread-safety: every function may be called from many threads at once, each with its own reader.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "media/object_reader.h"

namespace loom::media {

// No single clip, audio track or segment made in memory may pass this.
constexpr int64_t kMaxAvOutputBytes = 512LL * 1024 * 1024;

enum class FrameMode { Interval, Keyframes, Scenes };

struct FramesRequest {
  FrameMode mode = FrameMode::Interval;
  double interval = 1.0;         // Interval: seconds between wanted frames (first at 0)
  double sceneThreshold = 0.15;  // Scenes: a frame whose change score is above this starts a scene
  int maxFrames = 100;           // no more frames than this per video
  int maxSide = 0;               // scale so the longest side is at most this; 0: original size
  bool png = false;              // else JPEG
  int jpegQuality = 90;
};

struct VideoFrame {
  int index = 0;       // 0, 1, 2… in output order
  double time = 0;     // seconds from the start of the video
  double score = -1;   // Scenes: the change score that started the scene (first frame: 1); else -1
  int width = 0, height = 0;
  std::string bytes;   // JPEG or PNG
};

// Called for each frame as it is made; return false to stop (the extraction then returns success).
using FrameSink = std::function<bool(VideoFrame&& frame)>;

struct ClipRequest {
  double start = 0;
  double end = -1;        // < 0: to the end
  bool reencode = false;  // false: stream copy, starting at the keyframe at or before `start`
};

struct Clip {
  std::string bytes;  // MP4
  double start = 0;   // where the clip really starts in the source (seconds)
  double duration = 0;
  std::string videoCodec;  // of the clip ("h264", "mpeg4", ...; empty for an audio-only clip)
  std::vector<std::string> droppedStreams;  // streams MP4 cannot hold ("audio pcm_s16le"), left out
};

enum class AudioFormat { Auto, M4a, Mka, Wav, Flac };

struct AudioResult {
  std::string bytes;
  std::string mime;    // audio/mp4, audio/x-matroska, audio/wav, audio/flac
  std::string codec;   // codec of the result ("aac", "pcm_s16le", "flac", ...)
  int sampleRate = 0;
  int channels = 0;
  double duration = 0;
};

struct PcmFormat {
  int sampleRate = 0;
  int channels = 0;
};

// Receives decoded audio chunk by chunk: `frames` frames of interleaved signed 16-bit samples
// (frames * channels values). Return false to stop decoding.
using PcmSink = std::function<bool(const PcmFormat& format, const int16_t* samples, size_t frames)>;

// Interleaved signed 16-bit PCM.
struct Pcm {
  int sampleRate = 0;
  int channels = 0;
  std::vector<int16_t> samples;  // frames * channels
  double duration() const {
    return sampleRate > 0 && channels > 0 ? static_cast<double>(samples.size()) / channels / sampleRate : 0.0;
  }
};

struct AvOpsApi {
  // Frames of the best video stream, handed to `sink` one by one. An error when nothing could be
  // opened or decoded; frames already handed over stay valid.
  core::Result<void> (*extractFrames)(ObjectReader& reader, std::string_view name, const FramesRequest& request,
                                      const MediaLimits& limits, const FrameSink& sink);
  // A time range of the video and audio streams as a new MP4.
  core::Result<Clip> (*cutClip)(ObjectReader& reader, std::string_view name, const ClipRequest& request,
                                const MediaLimits& limits);
  // The best audio stream: copied into .m4a/.mka (Auto: .m4a when MP4 can hold the codec) or decoded
  // to 16-bit WAV / FLAC. An error when there is no audio stream.
  core::Result<AudioResult> (*extractAudio)(ObjectReader& reader, std::string_view name, AudioFormat format,
                                            const MediaLimits& limits);
  // The best audio stream decoded (swresample) to `sampleRate` / `channels` (0: as in the source) and
  // handed to `sink` chunk by chunk, so that an hour of audio needs no hour of memory. Returns the
  // format the sink got. An error when there is no decodable audio stream.
  core::Result<PcmFormat> (*decodeAudio)(ObjectReader& reader, std::string_view name, int sampleRate, int channels,
                                         const PcmSink& sink);
  // PCM encoded as FLAC (16-bit) in memory.
  core::Result<std::string> (*encodeFlac)(const Pcm& pcm);
};

// PCM as a canonical 16-bit WAV file (44-byte header + samples); pure C++, no codec needed.
std::string wavBytes(const Pcm& pcm, size_t firstFrame = 0, size_t frames = SIZE_MAX);

}  // namespace loom::media

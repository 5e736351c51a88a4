// video.frames, video.clip, video.audio, audio.segment, audio.resample: the audio/video transforms.
// The FFmpeg work happens in the media codecs module (media/av_ops.h); these nodes read each row's
// object (or a blob an earlier node made), store what comes back in the catalog's blob store and turn
// every failure into the row's error.

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <mutex>

#include "catalog/blob_store.h"
#include "catalog/catalog.h"
#include "media/codecs.h"
#include "nodes/builtin_provider.h"
#include "storage/storage.h"

namespace loom::nodes {

using core::ColumnType;
using core::ErrorKind;
using core::makeError;

namespace {

constexpr int64_t kMiB = 1024 * 1024;
// Segments per object: past this the object's last output row says where it stopped.
constexpr int64_t kMaxSegments = 10000;

using core::textOf;

std::string fmtSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s);
  return buf;
}

// ---------------------------------------------------------------------------------------------------
// What every node here shares: where a row's media comes from, the per-object limits, blob records.

ParamSpec inputParam() {
  return {"input", ParamType::String,
          "column that holds the media: uri (an object in storage) or a blob column an earlier node made, such as "
          "clip (video.clip) or audio (video.audio, audio.resample), so nodes chain without writing files",
          false, "uri"};
}

ParamSpec timeLimitParam() {
  ParamSpec p{"time_limit", ParamType::Number,
              "seconds of work one object may take; a slower or looping (hostile) file fails its row with "
              "'took longer than the time limit per file'",
              false, 300};
  p.minimum = 1;
  p.maximum = 24 * 3600;
  return p;
}

core::Result<void> checkInput(const Params& p, const core::Schema& in) {
  const std::string input = p.value("input", std::string("uri"));
  if (!in.has(input))
    return makeError(ErrorKind::InvalidFlow,
                     input == "uri" ? "needs a 'uri' column in its input; connect it after storage.list or a dataset of "
                                      "objects, or set input to a blob column"
                                    : "input: the input has no column '" + input + "'");
  return {};
}

void setErrorColumn(core::Schema& s) {
  s.set({"error", ColumnType::Text, "why the row failed (or failed upstream); null when fine"});
}

// One row's media: a reader over the object or blob, with the node's limits.
struct Source {
  std::shared_ptr<storage::Storage> storage;
  std::string uri, name;
  int64_t size = -1;
};

class Common {
 public:
  Common(const Params& p, ExecContext& ctx)
      : m_blobs(catalog::BlobStore::forCatalog(ctx.catalog())),
        m_timeLimit(p.value("time_limit", 300.0)),
        m_input(p.value("input", std::string("uri"))) {
    const core::Schema& out = ctx.outputSchema();
    m_iInput = out.indexOf(m_input);
    m_iName = out.indexOf("name");
    m_iSize = out.indexOf("size");
    m_iErr = out.indexOf("error");
  }

  const catalog::BlobStore& blobs() const { return m_blobs; }
  double timeLimit() const { return m_timeLimit; }
  size_t errIndex() const { return static_cast<size_t>(m_iErr); }
  bool failedUpstream(const std::vector<core::Value>& v) const { return !core::isNull(v[errIndex()]); }

  core::Result<Source> source(const std::vector<core::Value>& v) const {
    const std::string value = textOf(v[static_cast<size_t>(m_iInput)]);
    Source s;
    if (m_input == "uri") {
      if (value.empty()) return makeError(ErrorKind::InvalidInput, "no uri in this row");
      s.uri = value;
      s.name = m_iName >= 0 ? textOf(v[static_cast<size_t>(m_iName)]) : std::string();
      if (s.name.empty()) s.name = value.substr(value.rfind('/') + 1);
      if (m_iSize >= 0 && std::holds_alternative<int64_t>(v[static_cast<size_t>(m_iSize)]))
        s.size = std::get<int64_t>(v[static_cast<size_t>(m_iSize)]);
    } else {
      if (value.empty()) return makeError(ErrorKind::InvalidInput, "column '" + m_input + "' is empty in this row");
      if (!catalog::isBlobHash(value))
        return makeError(ErrorKind::InvalidInput, "column '" + m_input + "' holds '" + value.substr(0, 80) +
                                                      "', not the sha256 of a blob; set input to a blob column");
      const std::string path = m_blobs.pathOf(value);
      std::error_code ec;
      s.size = static_cast<int64_t>(std::filesystem::file_size(path, ec));
      if (ec)
        return makeError(ErrorKind::NotFound, "blob " + value + " (column '" + m_input +
                                                  "') is not in this catalog's blob store");
      s.uri = "file://" + path;
    }
    auto backend = storage::storageFor(s.uri);
    if (!backend.ok()) return backend.error();
    s.storage = backend.value();
    if (s.size < 0) {
      if (auto info = s.storage->stat(s.uri); info.ok()) s.size = info->size;
    }
    return s;
  }

  // Reads may pass over the object about twice (an index at its end, seeks back to keyframes), never
  // more: a file that makes the demuxer loop fails on the budget instead of reading forever.
  media::ObjectReader reader(const Source& s, double seconds = -1) const {
    const int64_t budget = s.size >= 0 ? 2 * s.size + 16 * kMiB : media::MediaLimits{}.maxPreviewBytes;
    return media::ObjectReader(s.storage, s.uri, s.size, budget, seconds > 0 ? seconds : m_timeLimit);
  }

  media::MediaLimits limits() const {
    media::MediaLimits l;
    l.maxSeconds = m_timeLimit;
    return l;
  }

  // Stores bytes; a catalog disk that is full or read-only ends the run (it resumes once there is
  // room) instead of failing every row for good.
  std::string put(const std::string& bytes, const std::string& mime) {
    auto hash = m_blobs.put(bytes, false);  // flushed once per batch in flush()
    if (!hash.ok()) throw core::RunError(ErrorKind::Catalog, hash.error().message);
    std::lock_guard lock(m_mutex);
    m_made.push_back({*hash, mime, static_cast<int64_t>(bytes.size())});
    return *hash;
  }
  // Executor's thread, inside the batch's transaction: the blobs reach the disk before the rows that
  // reference them commit.
  void flush(ExecContext& ctx) {
    std::lock_guard lock(m_mutex);
    if (m_made.empty()) return;
    m_blobs.sync().orThrow();
    for (const auto& m : m_made) catalog::BlobStore::record(ctx.catalog().db(), m.hash, m.bytes, m.mime);
    m_made.clear();
  }

  // One result row per input row: runs `work` on each row that did not fail upstream, with the codecs
  // module and the row's source at hand; an error it returns is the row's error. Blobs it put() are
  // recorded batch by batch. Reports "<n> <made>, <m> failed" when done.
  using RowWork =
      std::function<core::Result<void>(std::vector<core::Value>& row, const media::AvOpsApi& api, const Source& src)>;
  void mapSources(ExecContext& ctx, const std::string& made, const RowWork& work) {
    std::atomic<int64_t> done{0}, failed{0};
    MapSpec spec;
    spec.batchRows = 8;
    spec.beforeBatch = [&](std::vector<RowBuffer>& batch) {
      for (auto& row : batch) row.done = failedUpstream(row.values);
    };
    spec.perRow = [&](RowBuffer& row) {
      auto& v = row.values;
      auto fail = [&](const std::string& msg) {
        v[errIndex()] = msg;
        failed.fetch_add(1);
      };
      auto api = media::codecs();
      if (!api.ok()) return fail(api.error().message);
      auto src = source(v);
      if (!src.ok()) return fail(src.error().message);
      auto r = work(v, *(*api)->av, *src);
      if (!r.ok()) return fail(r.error().message);
      done.fetch_add(1);
    };
    spec.afterBatch = [&](std::vector<RowBuffer>&) { flush(ctx); };
    ctx.mapRows(spec);
    ctx.feedback().info(ctx.nodeId() + ": " + std::to_string(done.load()) + " " + made + ", " +
                        std::to_string(failed.load()) + " failed");
  }

 private:
  struct Made {
    std::string hash, mime;
    int64_t bytes = 0;
  };
  catalog::BlobStore m_blobs;
  double m_timeLimit;
  std::string m_input;
  int m_iInput = -1, m_iName = -1, m_iSize = -1, m_iErr = -1;
  std::mutex m_mutex;
  std::vector<Made> m_made;
};

core::Result<const media::AvOpsApi*> avApi() {
  auto api = media::codecs();
  if (!api.ok()) return api.error();
  return (*api)->av;
}

// ---------------------------------------------------------------------------------------------------

class VideoFrames : public NodeType {
 public:
  std::string id() const override { return "video.frames"; }
  std::string category() const override { return "Video"; }
  std::string title() const override { return "Video frames"; }
  std::string doc() const override {
    return "Extracts frames from each video: one output row per frame, with the input row's columns plus "
           "frame_index (0, 1, ...), frame_time (seconds from the start), frame (sha256 of a JPEG or PNG in the "
           "catalog's blob store), frame_width and frame_height, and frame_score for scenes.\n"
           "mode interval takes the first frame at or after 0, interval, 2 x interval, ... seconds; where the "
           "container's index shows a keyframe between two wanted times Loom seeks to it instead of decoding "
           "everything in between, which gives the same frames faster. mode keyframes takes the keyframes (I "
           "frames) and decodes nothing else: cheap, spaced as the encoder chose. mode scenes decodes every frame "
           "and takes the first one and each frame that differs from the one before by more than threshold (mean "
           "absolute difference of 64-pixel gray versions, 0 = same picture, 1 = black to white): the first "
           "frame of each shot. Cuts are found, slow fades are not.\n"
           "Example: {\"mode\": \"interval\", \"interval\": 5, \"max_side\": 512} gives a 512-pixel JPEG every 5 "
           "seconds.\n"
           "Errors: a video that cannot be opened (truncated, not a video, no video stream, over the "
           "200-megapixel frame limit) gives one row with error set and no frame; a video that breaks midway "
           "keeps the frames found before and adds one row with the error.";
  }
  std::vector<ParamSpec> params() const override {
    return {enumParam("mode", "interval (every interval seconds), keyframes (I frames only) or scenes (shot changes)",
                      "interval", {"interval", "keyframes", "scenes"}),
            numberParam("interval", "seconds between frames for mode interval", 1.0, 0.01),
            numberParam("threshold", "scene change score (0..1) above which a frame starts a new scene, for mode scenes",
                        0.15, 0.0, 1.0),
            intParam("max_frames", "no more frames than this per video", 100, 1, 100000),
            intParam("max_side", "scale frames so the longest side is at most this many pixels; 0 keeps the size",
                     0, 0, 16384),
            enumParam("format", "image format of the frames", "jpeg", {"jpeg", "png"}),
            intParam("quality", "JPEG quality, 1..100", 90, 1, 100),
            inputParam(),
            timeLimitParam()};
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    if (auto r = checkInput(p, in[0]); !r.ok()) return r.error();
    core::Schema s = in[0];
    s.set({"frame_index", ColumnType::Integer, "the frame's position among this video's frames, from 0"});
    s.set({"frame_time", ColumnType::Real, "seconds from the start of the video"});
    s.set({"frame", ColumnType::Text, "sha256 of the frame's JPEG/PNG in the catalog's blob store"});
    s.set({"frame_width", ColumnType::Integer, "frame width in pixels"});
    s.set({"frame_height", ColumnType::Integer, "frame height in pixels"});
    s.set({"frame_score", ColumnType::Real, "mode scenes: how much the picture changed (0..1; 1 for the first frame)"});
    setErrorColumn(s);
    return s;
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    const core::Schema& out = ctx.outputSchema();
    Common common(p, ctx);
    media::FramesRequest req;
    const std::string mode = p.value("mode", std::string("interval"));
    req.mode = mode == "keyframes" ? media::FrameMode::Keyframes
               : mode == "scenes"  ? media::FrameMode::Scenes
                                   : media::FrameMode::Interval;
    req.interval = p.value("interval", 1.0);
    req.sceneThreshold = p.value("threshold", 0.15);
    req.maxFrames = static_cast<int>(p.value("max_frames", int64_t{100}));
    req.maxSide = static_cast<int>(p.value("max_side", int64_t{0}));
    req.png = p.value("format", std::string("jpeg")) == "png";
    req.jpegQuality = static_cast<int>(p.value("quality", int64_t{90}));
    const std::string mime = req.png ? "image/png" : "image/jpeg";
    const auto iIndex = static_cast<size_t>(out.indexOf("frame_index")), iTime = static_cast<size_t>(out.indexOf("frame_time")),
               iFrame = static_cast<size_t>(out.indexOf("frame")), iW = static_cast<size_t>(out.indexOf("frame_width")),
               iH = static_cast<size_t>(out.indexOf("frame_height")), iScore = static_cast<size_t>(out.indexOf("frame_score"));
    std::atomic<int64_t> frames{0}, failed{0};

    ExpandSpec spec;
    spec.batchRows = 4;  // a video's frames are many rows: commit after a few videos
    spec.perRow = [&](const RowBuffer& row, std::vector<std::vector<core::Value>>& rows) {
      auto fail = [&](const std::string& msg) {
        rows.push_back(row.values);
        rows.back()[common.errIndex()] = msg;
        failed.fetch_add(1);
      };
      if (common.failedUpstream(row.values)) return rows.push_back(row.values);
      auto api = avApi();
      if (!api.ok()) return fail(api.error().message);
      auto src = common.source(row.values);
      if (!src.ok()) return fail(src.error().message);
      auto reader = common.reader(*src);
      std::optional<core::RunError> runError;
      auto r = (*api)->extractFrames(reader, src->name, req, common.limits(), [&](media::VideoFrame&& f) {
        std::vector<core::Value> v = row.values;
        try {
          v[iFrame] = common.put(f.bytes, mime);
        } catch (const core::RunError& e) {
          runError = e;
          return false;
        }
        v[iIndex] = static_cast<int64_t>(f.index);
        v[iTime] = f.time;
        v[iW] = static_cast<int64_t>(f.width);
        v[iH] = static_cast<int64_t>(f.height);
        if (f.score >= 0) v[iScore] = f.score;
        rows.push_back(std::move(v));
        frames.fetch_add(1);
        return true;
      });
      if (runError) throw *runError;
      if (!r.ok()) {
        if (!rows.empty())
          return fail(r.error().message + " (after " + std::to_string(rows.size()) + " frames, kept in the rows before)");
        return fail(r.error().message);
      }
    };
    spec.afterBatch = [&] { common.flush(ctx); };
    ctx.expandRows(spec);
    ctx.feedback().info(ctx.nodeId() + ": " + std::to_string(frames.load()) + " frames, " +
                        std::to_string(failed.load()) + " videos failed");
  }
};

// ---------------------------------------------------------------------------------------------------

class VideoClip : public NodeType {
 public:
  std::string id() const override { return "video.clip"; }
  std::string category() const override { return "Video"; }
  std::string title() const override { return "Video clip"; }
  std::string doc() const override {
    return "Cuts a time range out of each video (or audio file) into a new MP4: clip (sha256 of the MP4 in the "
           "catalog's blob store), clip_start and clip_duration (seconds, what the clip really covers) and "
           "clip_bytes.\n"
           "By default the streams are copied, not re-encoded: fast and lossless, but a copied clip can only "
           "start at a keyframe, so it starts at the keyframe at or before start (clip_start says where; with "
           "a keyframe every 10 s a clip may start up to 10 s early) and ends at end or a few frames after it (the frames "
           "that the last ones kept are decoded from). With "
           "reencode true the video is decoded and encoded again (H.264 with libx264 where this FFmpeg has it, "
           "else MPEG-4 Part 2) so the clip starts exactly at start; audio packets are still copied (exact to a "
           "few milliseconds). Audio or video streams that MP4 cannot hold (PCM audio, for instance) are left out "
           "of the clip and the run's log says so.\n"
           "Example: {\"start\": 60, \"duration\": 10, \"reencode\": true} gives the 11th minute's first ten "
           "seconds.\n"
           "Errors: start past the end of the video, a file that cannot be opened (truncated, not a video) or a "
           "video codec MP4 cannot hold when copying (set reencode) fail the row; the result may not pass 512 MiB.";
  }
  std::vector<ParamSpec> params() const override {
    return {numberParam("start", "seconds from the start of the video where the clip begins", 0.0, 0.0),
            numberParam("end", "seconds from the start of the video where the clip ends; leave out (with duration) "
                               "to cut to the end",
                        std::nullopt, 0.0),
            numberParam("duration", "length of the clip in seconds, instead of end", std::nullopt, 0.001),
            ParamSpec{"reencode", ParamType::Boolean,
                      "false: copy the streams (fast, lossless, starts at a keyframe); true: re-encode the video "
                      "so the clip starts exactly at start",
                      false, false},
            inputParam(),
            timeLimitParam()};
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    if (auto r = checkInput(p, in[0]); !r.ok()) return r.error();
    const bool hasEnd = p.contains("end") && !p["end"].is_null();
    const bool hasDuration = p.contains("duration") && !p["duration"].is_null();
    if (hasEnd && hasDuration)
      return makeError(ErrorKind::InvalidFlow, "duration: give either end or duration, not both");
    if (hasEnd && p["end"].get<double>() <= p.value("start", 0.0))
      return makeError(ErrorKind::InvalidFlow, "end: must be after start (" + fmtSeconds(p.value("start", 0.0)) + " s)");
    core::Schema s = in[0];
    s.set({"clip", ColumnType::Text, "sha256 of the MP4 clip in the catalog's blob store"});
    s.set({"clip_start", ColumnType::Real, "where the clip starts in the source, in seconds"});
    s.set({"clip_duration", ColumnType::Real, "length of the clip in seconds"});
    s.set({"clip_bytes", ColumnType::Integer, "size of the clip in bytes"});
    setErrorColumn(s);
    return s;
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    const core::Schema& out = ctx.outputSchema();
    Common common(p, ctx);
    media::ClipRequest req;
    req.start = p.value("start", 0.0);
    if (p.contains("end") && !p["end"].is_null()) req.end = p["end"].get<double>();
    if (p.contains("duration") && !p["duration"].is_null()) req.end = req.start + p["duration"].get<double>();
    req.reencode = p.value("reencode", false);
    const auto iClip = static_cast<size_t>(out.indexOf("clip")), iStart = static_cast<size_t>(out.indexOf("clip_start")),
               iDur = static_cast<size_t>(out.indexOf("clip_duration")), iBytes = static_cast<size_t>(out.indexOf("clip_bytes"));
    std::mutex noteMutex;
    std::string dropped;
    int64_t droppedCount = 0;
    common.mapSources(ctx, "clips", [&](std::vector<core::Value>& v, const media::AvOpsApi& api, const Source& src) {
      auto reader = common.reader(src);
      auto clip = api.cutClip(reader, src.name, req, common.limits());
      if (!clip.ok()) return core::Result<void>(clip.error());
      v[iClip] = common.put(clip->bytes, "video/mp4");
      v[iStart] = clip->start;
      v[iDur] = clip->duration;
      v[iBytes] = static_cast<int64_t>(clip->bytes.size());
      if (!clip->droppedStreams.empty()) {
        std::lock_guard lock(noteMutex);
        if (dropped.empty()) dropped = src.uri + " (" + clip->droppedStreams.front() + ")";
        ++droppedCount;
      }
      return core::Result<void>();
    });
    if (droppedCount > 0)
      ctx.feedback().warning(ctx.nodeId() + ": " + std::to_string(droppedCount) +
                             " clips left out streams MP4 cannot hold, e.g. " + dropped);
  }
};

// ---------------------------------------------------------------------------------------------------

void setAudioColumns(core::Schema& s, const std::string& what) {
  s.set({"audio", ColumnType::Text, "sha256 of the " + what + " in the catalog's blob store"});
  s.set({"audio_mime", ColumnType::Text, "its MIME type: audio/mp4, audio/x-matroska, audio/wav or audio/flac"});
  s.set({"audio_codec", ColumnType::Text, "its codec (aac, opus, pcm_s16le, flac, ...)"});
  s.set({"audio_bytes", ColumnType::Integer, "its size in bytes"});
  s.set({"sample_rate", ColumnType::Integer, "its sample rate in Hz"});
  s.set({"channels", ColumnType::Integer, "its number of channels"});
  s.set({"duration", ColumnType::Real, "its length in seconds"});
  setErrorColumn(s);
}

struct AudioColumns {
  explicit AudioColumns(const core::Schema& out)
      : audio(static_cast<size_t>(out.indexOf("audio"))), mime(static_cast<size_t>(out.indexOf("audio_mime"))),
        codec(static_cast<size_t>(out.indexOf("audio_codec"))), bytes(static_cast<size_t>(out.indexOf("audio_bytes"))),
        rate(static_cast<size_t>(out.indexOf("sample_rate"))), channels(static_cast<size_t>(out.indexOf("channels"))),
        duration(static_cast<size_t>(out.indexOf("duration"))) {}
  void set(std::vector<core::Value>& v, Common& common, const media::AudioResult& a) const {
    v[audio] = common.put(a.bytes, a.mime);
    v[mime] = a.mime;
    v[codec] = a.codec;
    v[bytes] = static_cast<int64_t>(a.bytes.size());
    v[rate] = static_cast<int64_t>(a.sampleRate);
    v[channels] = static_cast<int64_t>(a.channels);
    v[duration] = a.duration;
  }
  size_t audio, mime, codec, bytes, rate, channels, duration;
};

class VideoAudio : public NodeType {
 public:
  std::string id() const override { return "video.audio"; }
  std::string category() const override { return "Video"; }
  std::string title() const override { return "Extract audio"; }
  std::string doc() const override {
    return "Extracts the audio track of each video into a blob: audio (sha256 in the catalog's blob store), "
           "audio_mime, audio_codec, audio_bytes, and the extracted track's sample_rate, channels and duration.\n"
           "format auto copies the track without re-encoding into .m4a when MP4 can hold its codec (AAC, MP3, "
           "ALAC, ...) and into .mka (Matroska, which holds any codec) otherwise; m4a and mka force the container; "
           "wav decodes to 16-bit PCM WAV and flac to lossless FLAC, at the track's own sample rate and channels. "
           "When a video has several audio tracks the default one is taken.\n"
           "Example: {\"format\": \"wav\"} before audio.segment {\"input\": \"audio\"} splits the speech of "
           "each video.\n"
           "Errors: 'has no audio stream' for a video without sound; a file that cannot be opened (truncated, not "
           "a media file); a codec .m4a cannot hold when format is m4a. The result may not pass 512 MiB.";
  }
  std::vector<ParamSpec> params() const override {
    return {enumParam("format",
                      "auto (copy into .m4a, or .mka when MP4 cannot hold the codec), m4a, mka, wav (16-bit PCM) or "
                      "flac",
                      "auto", {"auto", "m4a", "mka", "wav", "flac"}),
            inputParam(), timeLimitParam()};
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    if (auto r = checkInput(p, in[0]); !r.ok()) return r.error();
    core::Schema s = in[0];
    setAudioColumns(s, "audio track");
    return s;
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    Common common(p, ctx);
    const AudioColumns cols(ctx.outputSchema());
    const std::string f = p.value("format", std::string("auto"));
    const media::AudioFormat format = f == "m4a"    ? media::AudioFormat::M4a
                                      : f == "mka"  ? media::AudioFormat::Mka
                                      : f == "wav"  ? media::AudioFormat::Wav
                                      : f == "flac" ? media::AudioFormat::Flac
                                                    : media::AudioFormat::Auto;
    common.mapSources(ctx, "audio tracks", [&](std::vector<core::Value>& v, const media::AvOpsApi& api, const Source& src) {
      auto reader = common.reader(src);
      auto a = api.extractAudio(reader, src.name, format, common.limits());
      if (!a.ok()) return core::Result<void>(a.error());
      cols.set(v, common, *a);
      return core::Result<void>();
    });
  }
};

// ---------------------------------------------------------------------------------------------------

class AudioResample : public NodeType {
 public:
  std::string id() const override { return "audio.resample"; }
  std::string category() const override { return "Audio"; }
  std::string title() const override { return "Resample audio"; }
  std::string doc() const override {
    return "Decodes the audio of each object (an audio file, or the sound of a video) and converts it with "
           "FFmpeg's swresample to the given sample rate and channel count, as a 16-bit WAV or a FLAC blob: audio "
           "(sha256 in the catalog's blob store), audio_mime, audio_codec, audio_bytes, and the result's "
           "sample_rate, channels and duration (the probe's values are replaced). Channels are mixed down or up with "
           "swresample's standard matrix.\n"
           "Example: {\"sample_rate\": 16000, \"channels\": 1} makes the 16 kHz mono WAV speech models expect.\n"
           "Errors: no audio stream, a file that cannot be opened or decoded (truncated, not a media file), or a "
           "result over 512 MiB (about 4.6 hours of 16 kHz mono) fail the row.";
  }
  std::vector<ParamSpec> params() const override {
    return {intParam("sample_rate", "samples per second of the result; 0 keeps the source's", 16000, 0, 384000),
            intParam("channels", "channels of the result (1 = mono); 0 keeps the source's", 1, 0, 8),
            enumParam("format", "wav (16-bit PCM) or flac (lossless, about half the size)", "wav", {"wav", "flac"}),
            inputParam(), timeLimitParam()};
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    if (auto r = checkInput(p, in[0]); !r.ok()) return r.error();
    const int64_t rate = p.value("sample_rate", int64_t{16000});
    if (rate != 0 && rate < 1000)
      return makeError(ErrorKind::InvalidFlow, "sample_rate: must be 0 (keep) or at least 1000 Hz, got " + std::to_string(rate));
    core::Schema s = in[0];
    setAudioColumns(s, "resampled audio");
    return s;
  }
  void execute(const Params& p, ExecContext& ctx) const override {
    Common common(p, ctx);
    const AudioColumns cols(ctx.outputSchema());
    const int rate = static_cast<int>(p.value("sample_rate", int64_t{16000}));
    const int channels = static_cast<int>(p.value("channels", int64_t{1}));
    const bool flac = p.value("format", std::string("wav")) == "flac";
    common.mapSources(ctx, "resampled", [&](std::vector<core::Value>& v, const media::AvOpsApi& api, const Source& src) {
      auto reader = common.reader(src);
      media::Pcm pcm;
      bool tooBig = false;
      const size_t maxSamples = static_cast<size_t>(media::kMaxAvOutputBytes) / sizeof(int16_t);
      auto format = api.decodeAudio(reader, src.name, rate, channels,
                                    [&](const media::PcmFormat& f, const int16_t* s, size_t frames) {
                                      const size_t n = frames * static_cast<size_t>(f.channels);
                                      if (pcm.samples.size() + n > maxSamples) {
                                        tooBig = true;
                                        return false;
                                      }
                                      pcm.samples.insert(pcm.samples.end(), s, s + n);
                                      return true;
                                    });
      if (!format.ok()) return core::Result<void>(format.error());
      if (tooBig)
        return core::Result<void>(makeError(ErrorKind::InvalidInput,
                                            src.uri + ": the resampled audio would be larger than 512 MiB; cut it "
                                                      "shorter first (video.clip) or choose a lower sample rate or "
                                                      "fewer channels"));
      pcm.sampleRate = format->sampleRate;
      pcm.channels = format->channels;
      media::AudioResult a;
      a.sampleRate = pcm.sampleRate;
      a.channels = pcm.channels;
      a.duration = pcm.duration();
      if (flac) {
        auto bytes = api.encodeFlac(pcm);
        if (!bytes.ok())
          return core::Result<void>(makeError(bytes.error().kind, src.uri + ": " + bytes.error().message));
        a.bytes = std::move(bytes).value();
        a.mime = "audio/flac";
        a.codec = "flac";
      } else {
        a.bytes = media::wavBytes(pcm);
        a.mime = "audio/wav";
        a.codec = "pcm_s16le";
      }
      cols.set(v, common, a);
      return core::Result<void>();
    });
  }
};

// ---------------------------------------------------------------------------------------------------

struct Segment {
  int64_t start = 0, end = 0;  // in frames (samples per channel)
};

// Loudness of consecutive 10 ms blocks, in dBFS (RMS over every channel); the first decoding pass
// keeps only these, about 400 KB per hour of audio.
struct Loudness {
  int sampleRate = 0;
  int64_t frames = 0;           // total frames decoded
  int64_t blockFrames = 0;      // frames per block
  std::vector<float> blockDb;   // one per block
  double sumSquares = 0;        // of the block being filled
  int64_t inBlock = 0;          // values in it

  void add(const media::PcmFormat& f, const int16_t* s, size_t frameCount) {
    if (blockFrames == 0) {
      sampleRate = f.sampleRate;
      blockFrames = std::max<int64_t>(1, f.sampleRate / 100);
    }
    const size_t ch = static_cast<size_t>(f.channels);
    for (size_t i = 0; i < frameCount; ++i) {
      for (size_t c = 0; c < ch; ++c) {
        const double x = s[i * ch + c] / 32768.0;
        sumSquares += x * x;
      }
      inBlock += static_cast<int64_t>(ch);
      if (inBlock == blockFrames * static_cast<int64_t>(ch)) closeBlock();
    }
    frames += static_cast<int64_t>(frameCount);
  }
  void closeBlock() {
    if (inBlock == 0) return;
    const double ms = sumSquares / static_cast<double>(inBlock);
    blockDb.push_back(ms > 1e-12 ? static_cast<float>(10.0 * std::log10(ms)) : -120.0f);
    sumSquares = 0;
    inBlock = 0;
  }
};

struct SegmentParams {
  bool windows = false;
  double thresholdDb = -40, minSilence = 0.5, minSegment = 0.3, maxSegment = 0, padding = 0.1;
  double window = 30, overlap = 0;
};

// Splits on silence: the stretches between runs of quiet blocks at least minSilence long, trimmed of
// their quiet ends, widened by padding, without stretches shorter than minSegment, cut into equal parts
// no longer than maxSegment.
std::vector<Segment> silenceSegments(const Loudness& l, const SegmentParams& sp) {
  std::vector<Segment> out;
  const int64_t bf = l.blockFrames;
  const auto n = static_cast<int64_t>(l.blockDb.size());
  if (n == 0 || bf == 0) return out;
  const auto minSilentBlocks = std::max<int64_t>(1, std::llround(sp.minSilence * l.sampleRate / static_cast<double>(bf)));
  auto loud = [&](int64_t b) { return l.blockDb[static_cast<size_t>(b)] >= sp.thresholdDb; };
  std::vector<std::pair<int64_t, int64_t>> stretches;  // [first loud block, last loud block]
  int64_t first = -1, last = -1, quietRun = 0;
  for (int64_t b = 0; b < n; ++b) {
    if (loud(b)) {
      if (first < 0) first = b;
      last = b;
      quietRun = 0;
    } else if (first >= 0 && ++quietRun >= minSilentBlocks) {
      stretches.emplace_back(first, last);
      first = -1;
      quietRun = 0;
    }
  }
  if (first >= 0) stretches.emplace_back(first, last);
  const auto pad = static_cast<int64_t>(std::llround(sp.padding * l.sampleRate));
  const auto minFrames = static_cast<int64_t>(std::llround(sp.minSegment * l.sampleRate));
  const auto maxFrames = static_cast<int64_t>(std::llround(sp.maxSegment * l.sampleRate));
  for (const auto& [a, b] : stretches) {
    Segment s{a * bf, std::min(l.frames, (b + 1) * bf)};
    if (s.end - s.start < minFrames) continue;
    s.start = std::max<int64_t>(0, s.start - pad);
    s.end = std::min(l.frames, s.end + pad);
    if (!out.empty() && s.start < out.back().end) s.start = out.back().end;  // padding never overlaps
    if (maxFrames > 0 && s.end - s.start > maxFrames) {
      const int64_t parts = (s.end - s.start + maxFrames - 1) / maxFrames;
      for (int64_t k = 0; k < parts; ++k)
        out.push_back({s.start + (s.end - s.start) * k / parts, s.start + (s.end - s.start) * (k + 1) / parts});
    } else {
      out.push_back(s);
    }
  }
  return out;
}

std::vector<Segment> windowSegments(int64_t frames, int sampleRate, const SegmentParams& sp) {
  std::vector<Segment> out;
  const auto win = std::max<int64_t>(1, std::llround(sp.window * sampleRate));
  const auto hop = std::max<int64_t>(1, std::llround((sp.window - sp.overlap) * sampleRate));
  const auto minFrames = static_cast<int64_t>(std::llround(sp.minSegment * sampleRate));
  for (int64_t at = 0; at < frames; at += hop) {
    Segment s{at, std::min(frames, at + win)};
    if (s.end - s.start < minFrames) break;
    out.push_back(s);
    if (s.end == frames) break;
  }
  return out;
}

class AudioSegment : public NodeType {
 public:
  std::string id() const override { return "audio.segment"; }
  std::string category() const override { return "Audio"; }
  std::string title() const override { return "Segment audio"; }
  std::string doc() const override {
    return "Splits the audio of each object (an audio file, or the sound of a video) into segments: one output row "
           "per segment with the input row's columns plus segment_index (0, 1, ...), segment_start and segment_end "
           "(seconds), and with audio true the segment itself as a 16-bit WAV blob in segment (sha256, at the "
           "source's sample rate and channels).\n"
           "mode silence cuts where the sound stays below threshold_db (dBFS, RMS of 10 ms blocks) for at least "
           "min_silence seconds: each segment is a stretch of sound between such pauses, trimmed of its quiet "
           "ends and widened by padding seconds on both sides; stretches shorter than min_segment (a click, a "
           "cough) are dropped and ones longer than max_segment are cut into equal parts. A file that is silent "
           "throughout gives no rows. mode windows cuts fixed windows of window seconds, each starting "
           "window - overlap seconds after the one before; the last may be shorter, and is dropped when shorter "
           "than min_segment.\n"
           "Example: {\"mode\": \"silence\", \"threshold_db\": -35, \"min_silence\": 0.4, \"max_segment\": 30, "
           "\"audio\": true} gives utterances of at most 30 s ready for a speech model.\n"
           "Errors: no audio stream, a file that cannot be opened or decoded (truncated, not a media file) gives one "
           "row with error set; a file that breaks midway keeps the segments found before the break and adds one "
           "row with the error. At most 10000 segments per file, and one segment's WAV may not pass 512 MiB.";
  }
  std::vector<ParamSpec> params() const override {
    return {enumParam("mode", "silence (cut at pauses) or windows (fixed-length windows)", "silence",
                      {"silence", "windows"}),
            numberParam("threshold_db", "mode silence: sound below this level in dBFS counts as silence (-60 quiet "
                                        "room, -40 default, -20 only loud sound counts)",
                        -40.0, -120.0, 0.0),
            numberParam("min_silence", "mode silence: seconds a pause must last to split there", 0.5, 0.01),
            numberParam("min_segment", "segments shorter than this many seconds are dropped", 0.3, 0.0),
            numberParam("max_segment", "mode silence: longer segments are cut into equal parts no longer than this; 0: "
                                       "no limit",
                        0.0, 0.0),
            numberParam("padding", "mode silence: seconds of the pause kept before and after each segment", 0.1, 0.0, 10.0),
            numberParam("window", "mode windows: segment length in seconds", 30.0, 0.01),
            numberParam("overlap", "mode windows: seconds each window shares with the one before (less than window)",
                        0.0, 0.0),
            ParamSpec{"audio", ParamType::Boolean, "true: store each segment as a WAV blob in column segment", false,
                      false},
            inputParam(), timeLimitParam()};
  }
  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    if (auto r = checkInput(p, in[0]); !r.ok()) return r.error();
    if (p.value("overlap", 0.0) >= p.value("window", 30.0))
      return makeError(ErrorKind::InvalidFlow, "overlap: must be less than window (" + fmtSeconds(p.value("window", 30.0)) + " s)");
    const double maxSeg = p.value("max_segment", 0.0);
    if (maxSeg > 0 && maxSeg < p.value("min_segment", 0.3))
      return makeError(ErrorKind::InvalidFlow, "max_segment: must be 0 (no limit) or at least min_segment");
    core::Schema s = in[0];
    s.set({"segment_index", ColumnType::Integer, "the segment's position among this object's segments, from 0"});
    s.set({"segment_start", ColumnType::Real, "where the segment starts, in seconds"});
    s.set({"segment_end", ColumnType::Real, "where the segment ends, in seconds"});
    s.set({"segment", ColumnType::Text, "with audio true: sha256 of the segment's WAV in the catalog's blob store"});
    setErrorColumn(s);
    return s;
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    const core::Schema& out = ctx.outputSchema();
    Common common(p, ctx);
    SegmentParams sp;
    sp.windows = p.value("mode", std::string("silence")) == "windows";
    sp.thresholdDb = p.value("threshold_db", -40.0);
    sp.minSilence = p.value("min_silence", 0.5);
    sp.minSegment = p.value("min_segment", 0.3);
    sp.maxSegment = p.value("max_segment", 0.0);
    sp.padding = p.value("padding", 0.1);
    sp.window = p.value("window", 30.0);
    sp.overlap = p.value("overlap", 0.0);
    const bool withAudio = p.value("audio", false);
    const auto iIndex = static_cast<size_t>(out.indexOf("segment_index")),
               iStart = static_cast<size_t>(out.indexOf("segment_start")),
               iEnd = static_cast<size_t>(out.indexOf("segment_end")), iSeg = static_cast<size_t>(out.indexOf("segment"));
    std::atomic<int64_t> segments{0}, failed{0}, silent{0};

    ExpandSpec spec;
    spec.batchRows = 8;
    spec.perRow = [&](const RowBuffer& row, std::vector<std::vector<core::Value>>& rows) {
      auto fail = [&](const std::string& msg) {
        rows.push_back(row.values);
        rows.back()[common.errIndex()] = msg;
        failed.fetch_add(1);
      };
      if (common.failedUpstream(row.values)) return rows.push_back(row.values);
      auto api = avApi();
      if (!api.ok()) return fail(api.error().message);
      auto src = common.source(row.values);
      if (!src.ok()) return fail(src.error().message);
      const auto started = std::chrono::steady_clock::now();

      // First pass: loudness only (and the length, for windows).
      Loudness loud;
      std::string brokenAt;  // a decoding error after some audio: keep what came before it
      {
        auto reader = common.reader(*src);
        auto r = (*api)->decodeAudio(reader, src->name, 0, 0, [&](const media::PcmFormat& f, const int16_t* s, size_t n) {
          loud.add(f, s, n);
          return true;
        });
        if (!r.ok()) {
          if (loud.frames == 0) return fail(r.error().message);
          brokenAt = r.error().message;
        }
        loud.closeBlock();
      }
      auto segs = sp.windows ? windowSegments(loud.frames, loud.sampleRate, sp) : silenceSegments(loud, sp);
      bool capped = false;
      if (static_cast<int64_t>(segs.size()) > kMaxSegments) {
        segs.resize(static_cast<size_t>(kMaxSegments));
        capped = true;
      }
      if (segs.empty() && brokenAt.empty()) silent.fetch_add(1);

      std::vector<std::string> hashes(segs.size());
      if (withAudio && !segs.empty()) {
        // Second pass: the samples of the segments, holding only those of segments still open.
        const double left = common.timeLimit() - std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        if (left <= 0) return fail(src->uri + ": took longer than the time limit per file");
        auto reader = common.reader(*src, left);
        media::Pcm held;      // the frames from heldFrom on that a segment not written yet needs
        int64_t heldFrom = 0;
        size_t next = 0;      // first segment not written yet
        int64_t decoded = 0;  // frames decoded so far
        std::optional<core::RunError> runError;
        std::string tooLong;
        // Writes every segment that ends by `upTo`, then drops what no later segment needs (segments
        // are in order of their starts).
        auto writeDone = [&](int64_t upTo) {
          while (next < segs.size() && segs[next].end <= upTo) {
            const Segment& s = segs[next];
            const std::string wav = media::wavBytes(held, static_cast<size_t>(s.start - heldFrom),
                                                    static_cast<size_t>(s.end - s.start));
            try {
              hashes[next] = common.put(wav, "audio/wav");
            } catch (const core::RunError& e) {
              runError = e;
              return false;
            }
            ++next;
          }
          const int64_t keepFrom = next < segs.size() ? segs[next].start : upTo;
          const size_t ch = static_cast<size_t>(std::max(held.channels, 1));
          const size_t drop = std::min(held.samples.size(), static_cast<size_t>(std::max<int64_t>(0, keepFrom - heldFrom)) * ch);
          held.samples.erase(held.samples.begin(), held.samples.begin() + static_cast<std::ptrdiff_t>(drop));
          heldFrom += static_cast<int64_t>(drop / ch);
          return true;
        };
        auto r = (*api)->decodeAudio(reader, src->name, 0, 0, [&](const media::PcmFormat& f, const int16_t* s, size_t n) {
          if (next >= segs.size()) return false;  // every segment written: the rest is not needed
          held.sampleRate = f.sampleRate;
          held.channels = f.channels;
          const int64_t chunkStart = decoded;
          decoded += static_cast<int64_t>(n);
          int64_t from = chunkStart;
          if (held.samples.empty()) heldFrom = from = std::max(chunkStart, segs[next].start);
          if (from < decoded)
            held.samples.insert(held.samples.end(), s + (from - chunkStart) * f.channels, s + static_cast<int64_t>(n) * f.channels);
          if (static_cast<int64_t>(held.samples.size() * sizeof(int16_t)) > media::kMaxAvOutputBytes) {
            tooLong = src->uri + ": segment " + std::to_string(next) + " would pass 512 MiB as WAV; set max_segment";
            return false;
          }
          return writeDone(decoded);
        });
        if (runError) throw *runError;
        if (!tooLong.empty()) return fail(tooLong);
        if (!r.ok() && brokenAt.empty()) brokenAt = r.error().message;
        writeDone(decoded);  // the last segments end at the end of the audio
        if (runError) throw *runError;
      }
      const double rate = loud.sampleRate > 0 ? loud.sampleRate : 1;
      for (size_t k = 0; k < segs.size(); ++k) {
        if (withAudio && hashes[k].empty()) break;  // not reached before a decoding error
        std::vector<core::Value> v = row.values;
        v[iIndex] = static_cast<int64_t>(k);
        v[iStart] = static_cast<double>(segs[k].start) / rate;
        v[iEnd] = static_cast<double>(segs[k].end) / rate;
        if (withAudio) v[iSeg] = hashes[k];
        rows.push_back(std::move(v));
        segments.fetch_add(1);
      }
      if (capped)
        fail(src->uri + ": more than " + std::to_string(kMaxSegments) + " segments; the first " +
             std::to_string(kMaxSegments) + " are kept (raise min_silence or window)");
      else if (!brokenAt.empty())
        fail(brokenAt + " (the segments before the break are kept in the rows before)");
    };
    spec.afterBatch = [&] { common.flush(ctx); };
    ctx.expandRows(spec);
    ctx.feedback().info(ctx.nodeId() + ": " + std::to_string(segments.load()) + " segments, " +
                        std::to_string(silent.load()) + " files silent throughout, " + std::to_string(failed.load()) +
                        " failed");
  }
};

}  // namespace

void addAvNodes(NodeRegistry& registry) {
  registry.add(std::make_shared<VideoFrames>());
  registry.add(std::make_shared<VideoClip>());
  registry.add(std::make_shared<VideoAudio>());
  registry.add(std::make_shared<AudioSegment>());
  registry.add(std::make_shared<AudioResample>());
}

}  // namespace loom::nodes

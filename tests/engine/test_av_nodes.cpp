// The audio/video nodes (video.frames, video.clip, video.audio, audio.segment, audio.resample) run in
// flows on files ffmpeg writes at test time: a 6-second video of three different test patterns with a
// keyframe every 2 s and a 440 Hz sound, a video without sound, tones with planted silences, and
// broken files beside them (cut in half, random bytes). What is checked is what a person would see:
// how many frames and where, their size, clip lengths, segment boundaries, playable results.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <string>
#include <vector>

#include "catalog/blob_store.h"
#include "catalog/catalog.h"
#include "exec/executor.h"
#include "media/codecs.h"
#include "flow/flow.h"
#include "flow/validate.h"
#include "nodes/registry.h"
#include "storage/storage.h"
#include "test_support.h"

using namespace loom;

namespace {

namespace fs = std::filesystem;

using loom::test::readFile;

// Written once per build tree and shared by test processes (see test_thumbnail.cpp for the scheme).
class AvFixtures {
 public:
  static AvFixtures& get() {
    static AvFixtures f;
    return f;
  }
  bool ready() const { return m_ready; }
  fs::path file(const std::string& name) const { return m_root / name; }

 private:
  AvFixtures() : m_root(fs::path(LOOM_BINARY_DIR) / "test-fixtures" / "av-4") {
    if (fs::exists(m_root / "complete")) {
      m_ready = true;
      return;
    }
    fs::path tmp = m_root.string() + ".tmp-" + std::to_string(getpid());
    std::error_code ec;
    fs::remove_all(tmp, ec);
    if (!write(tmp)) {
      fs::remove_all(tmp, ec);
      return;
    }
    test::writeFile(tmp / "complete", "");
    fs::rename(tmp, m_root, ec);
    if (ec) fs::remove_all(tmp, ec);
    m_ready = fs::exists(m_root / "complete");
  }

  static bool write(const fs::path& root) {
    fs::create_directories(root);
    auto sh = [&](const std::string& cmd) {
      return std::system(("cd '" + root.string() + "' && ffmpeg -v error -y " + cmd + " >/dev/null 2>&1").c_str()) == 0;
    };
    // Three scenes of 2 s (moving test pattern, colour bars, fractal), keyframes exactly at 0, 2, 4 s.
    bool ok = sh("-f lavfi -i testsrc2=size=320x240:rate=25:duration=2 -f lavfi -i smptebars=size=320x240:rate=25:duration=2 "
                 "-f lavfi -i 'mandelbrot=size=320x240:rate=25,trim=duration=2' "
                 "-f lavfi -i sine=frequency=440:sample_rate=44100:duration=6 "
                 "-filter_complex '[0:v][1:v][2:v]concat=n=3:v=1:a=0,format=yuv420p[v]' -map '[v]' -map 3:a "
                 "-c:v libx264 -g 50 -keyint_min 50 -sc_threshold 0 -c:a aac -b:a 64k video.mp4") &&
              sh("-f lavfi -i testsrc2=size=160x120:rate=25:duration=2 -c:v libx264 -g 25 -pix_fmt yuv420p noaudio.mp4") &&
              // Sound 0-1 s, silence 1-2 s, sound 2-4 s, silence 4-5.5 s, sound 5.5-6.5 s.
              sh("-f lavfi -i sine=frequency=440:sample_rate=16000:duration=1 -f lavfi -i anullsrc=r=16000:cl=mono:d=1 "
                 "-f lavfi -i sine=frequency=660:sample_rate=16000:duration=2 -f lavfi -i anullsrc=r=16000:cl=mono:d=1.5 "
                 "-f lavfi -i sine=frequency=440:sample_rate=16000:duration=1 "
                 "-filter_complex '[0][1][2][3][4]concat=n=5:v=0:a=1' -c:a pcm_s16le speech.wav") &&
              sh("-f lavfi -i sine=frequency=1000:sample_rate=48000:duration=2 -ac 2 -c:a pcm_s16le stereo48k.wav");
    // PCM sound, which MOV holds and MP4 does not.
    ok = ok && sh("-f lavfi -i testsrc2=size=160x120:rate=25:duration=1 -f lavfi -i sine=duration=1 -c:v libx264 "
                  "-c:a pcm_s16le -pix_fmt yuv420p pcm.mov");
    // The same video with its index first (as streaming sites write it), to be cut in half below.
    ok = ok && sh("-i video.mp4 -c copy -movflags +faststart faststart.mp4");
    if (!ok) return false;
    // Files cut short keep a header that promises more than there is.
    const std::string faststart = readFile(root / "faststart.mp4");
    test::writeFile(root / "cut_faststart.mp4", faststart.substr(0, faststart.size() * 6 / 10));
    fs::remove(root / "faststart.mp4");
    const std::string video = readFile(root / "video.mp4");
    test::writeFile(root / "truncated.mp4", video.substr(0, video.size() / 2));
    std::mt19937 rng(11);
    std::string noise(32 * 1024, '\0');
    for (auto& c : noise) c = static_cast<char>(rng());
    test::writeFile(root / "random.mp4", noise);
    test::writeFile(root / "random.wav", noise);
    return true;
  }

  fs::path m_root;
  bool m_ready = false;
};

#define REQUIRE_AV_FIXTURES() \
  if (!AvFixtures::get().ready()) GTEST_SKIP() << "ffmpeg missing: cannot write the audio/video fixtures"

class Quiet : public core::Feedback {
 public:
  void info(const std::string& m) override { messages.push_back(m); }
  void warning(const std::string& m) override { messages.push_back(m); }
  std::vector<std::string> messages;
};

using Row = std::map<std::string, core::Value>;

// One flow run: storage.list over a folder holding `files` -> the given nodes in a chain ->
// dataset.save; the rows of the dataset, in order.
struct Run {
  std::unique_ptr<test::TempDir> dir = std::make_unique<test::TempDir>();
  std::unique_ptr<catalog::Catalog> cat;
  exec::RunResult result;
  std::vector<Row> rows;
  std::vector<std::string> messages;  // the run's info and warning lines

  std::string blob(const core::Value& hash) const {
    return catalog::BlobStore::forCatalog(*cat).get(std::get<std::string>(hash)).value();
  }
  std::string blobPath(const core::Value& hash) const {
    return catalog::BlobStore::forCatalog(*cat).pathOf(std::get<std::string>(hash));
  }
  std::vector<Row> of(const std::string& name) const {
    std::vector<Row> out;
    for (const auto& r : rows)
      if (std::get<std::string>(r.at("name")) == name) out.push_back(r);
    return out;
  }
};

Run runChain(const std::vector<std::string>& files, const std::vector<std::pair<std::string, nlohmann::json>>& nodes) {
  Run run;
  const fs::path data = *run.dir / "data";
  fs::create_directories(data);
  for (const auto& f : files) fs::copy_file(AvFixtures::get().file(f), data / f);
  nlohmann::json j = {{"format", "loom.flow/1"}, {"name", "av"}, {"nodes", nlohmann::json::array()},
                      {"edges", nlohmann::json::array()}};
  j["nodes"].push_back({{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", data.string()}}}});
  std::string prev = "src";
  for (size_t i = 0; i < nodes.size(); ++i) {
    const std::string id = "n" + std::to_string(i);
    j["nodes"].push_back({{"id", id}, {"type", nodes[i].first}, {"params", nodes[i].second}});
    j["edges"].push_back({{"from", prev}, {"to", id}});
    prev = id;
  }
  j["nodes"].push_back({{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", "out"}}}});
  j["edges"].push_back({{"from", prev}, {"to", "out"}});
  flow::Flow flow = flow::parseFlow(j.dump(), "av").orThrow();
  run.cat = catalog::Catalog::open((*run.dir / "catalog.db").string()).orThrow();
  exec::Executor ex(*run.cat, nodes::NodeRegistry::builtin());
  Quiet feedback;
  run.result = ex.run(flow, exec::RunOptions{}, feedback);
  run.messages = feedback.messages;
  auto v = run.cat->resolveDataset("out").orThrow();
  run.cat->readRows(v, 0, -1, [&](const std::vector<core::Value>& values) {
    Row r;
    for (size_t i = 0; i < v.schema.size(); ++i) r[v.schema[i].name] = values[i + 1];
    run.rows.push_back(std::move(r));
  });
  return run;
}

std::string str(const core::Value& v) { return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : ""; }
double num(const core::Value& v) {
  if (std::holds_alternative<double>(v)) return std::get<double>(v);
  if (std::holds_alternative<int64_t>(v)) return static_cast<double>(std::get<int64_t>(v));
  return std::nan("");
}
int64_t integer(const core::Value& v) { return std::holds_alternative<int64_t>(v) ? std::get<int64_t>(v) : -1; }

// What ffprobe says about a file: "codec_type:codec_name" per stream and the container's duration.
struct Probed {
  std::vector<std::string> streams;
  double duration = -1;
};
Probed ffprobe(const std::string& path) {
  Probed p;
  const std::string cmd = "ffprobe -v error -show_entries stream=codec_type,codec_name:format=duration -of "
                          "default=noprint_wrappers=1 '" + path + "' 2>/dev/null";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return p;
  char line[512];
  std::string name;
  while (fgets(line, sizeof line, f)) {
    std::string l(line);
    while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.pop_back();
    if (l.rfind("codec_name=", 0) == 0) name = l.substr(11);
    if (l.rfind("codec_type=", 0) == 0) p.streams.push_back(l.substr(11) + ":" + name);
    if (l.rfind("duration=", 0) == 0 && l != "duration=N/A") p.duration = std::stod(l.substr(9));
  }
  pclose(f);
  return p;
}

cv::Mat decodeImage(const std::string& bytes) {
  return cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data())),
                      cv::IMREAD_COLOR);
}

// WAV header fields (the canonical 44-byte layout Loom writes).
struct Wav {
  int channels = 0, rate = 0;
  double seconds = 0;
};
Wav wavInfo(const std::string& b) {
  auto u16 = [&](size_t o) { return static_cast<int>(static_cast<unsigned char>(b[o]) | static_cast<unsigned char>(b[o + 1]) << 8); };
  auto u32 = [&](size_t o) {
    return static_cast<uint32_t>(static_cast<unsigned char>(b[o])) | static_cast<uint32_t>(static_cast<unsigned char>(b[o + 1])) << 8 |
           static_cast<uint32_t>(static_cast<unsigned char>(b[o + 2])) << 16 |
           static_cast<uint32_t>(static_cast<unsigned char>(b[o + 3])) << 24;
  };
  Wav w;
  if (b.size() < 44 || b.compare(0, 4, "RIFF") != 0 || b.compare(8, 4, "WAVE") != 0) return w;
  w.channels = u16(22);
  w.rate = static_cast<int>(u32(24));
  w.seconds = static_cast<double>(u32(40)) / (2.0 * w.channels * w.rate);
  return w;
}

std::string validationMessage(const std::string& type, const nlohmann::json& params, bool withUri = true) {
  test::TempDir dir;
  nlohmann::json j = {{"format", "loom.flow/1"}, {"name", "v"}};
  if (withUri) {
    j["nodes"] = {{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", dir.str()}}}},
                  {{"id", "n"}, {"type", type}, {"params", params}}};
    j["edges"] = {{{"from", "src"}, {"to", "n"}}};
  } else {
    // A source without a uri column: a dataset of plain values.
    j["nodes"] = {{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", dir.str()}}}},
                  {{"id", "sel"}, {"type", "table.group"}, {"params", {{"by", {"name"}}, {"aggregates", {{"n", "count(*)"}}}}}},
                  {{"id", "n"}, {"type", type}, {"params", params}}};
    j["edges"] = {{{"from", "src"}, {"to", "sel"}}, {{"from", "sel"}, {"to", "n"}}};
  }
  auto f = flow::parseFlow(j.dump(), "v.loomflow").orThrow();
  auto v = flow::validateFlow(f, nodes::NodeRegistry::builtin(), {});
  return v.ok() ? std::string() : v.message();
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// video.frames

TEST(AvFrames, IntervalGivesOneFramePerIntervalAtTheRightTimesAndSize) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"video.mp4"}, {{"video.frames", {{"interval", 1.0}, {"max_side", 160}}}});
  ASSERT_EQ(run.rows.size(), 6u);
  for (size_t i = 0; i < run.rows.size(); ++i) {
    const auto& r = run.rows[i];
    ASSERT_TRUE(core::isNull(r.at("error"))) << str(r.at("error"));
    EXPECT_EQ(integer(r.at("frame_index")), static_cast<int64_t>(i));
    EXPECT_NEAR(num(r.at("frame_time")), static_cast<double>(i), 0.021);
    EXPECT_EQ(integer(r.at("frame_width")), 160);
    EXPECT_EQ(integer(r.at("frame_height")), 120);
    cv::Mat img = decodeImage(run.blob(r.at("frame")));
    EXPECT_EQ(img.cols, 160);
    EXPECT_EQ(img.rows, 120);
    EXPECT_EQ(str(r.at("uri")).substr(str(r.at("uri")).size() - 9), "video.mp4");  // input columns are kept
  }
  // Frames of different scenes look different; the colour bars (2-4 s) do not move.
  EXPECT_NE(str(run.rows[0].at("frame")), str(run.rows[2].at("frame")));
  EXPECT_EQ(str(run.rows[2].at("frame")), str(run.rows[3].at("frame")));
  EXPECT_EQ(run.result.rowsFailed, 0);
}

TEST(AvFrames, SeekingToKeyframesGivesTheSameFramesAsDecodingThrough) {
  REQUIRE_AV_FIXTURES();
  // interval 3: the frame at 3 s comes after a seek to the keyframe at 2 s, with the B-frames before
  // it not decoded; interval 0.04 (every frame of the 25 fps video) decodes each frame up to it. PNG so
  // that equal pictures give equal bytes.
  auto seeking = runChain({"video.mp4"}, {{"video.frames", {{"interval", 3.0}, {"format", "png"}}}});
  auto through = runChain({"video.mp4"}, {{"video.frames", {{"interval", 0.04}, {"format", "png"}, {"max_frames", 200}, {"max_side", 0}}}});
  ASSERT_EQ(seeking.rows.size(), 2u);
  ASSERT_EQ(through.rows.size(), 150u);
  EXPECT_NEAR(num(seeking.rows[1].at("frame_time")), 3.0, 0.021);
  EXPECT_NEAR(num(through.rows[75].at("frame_time")), 3.0, 0.021);
  EXPECT_EQ(str(seeking.rows[1].at("frame")), str(through.rows[75].at("frame")));
  // Every frame of the colour bars decodes to the same picture; every moving one differs.
  EXPECT_EQ(str(through.rows[60].at("frame")), str(through.rows[90].at("frame")));
  EXPECT_NE(str(through.rows[10].at("frame")), str(through.rows[11].at("frame")));
  cv::Mat img = decodeImage(seeking.blob(seeking.rows[1].at("frame")));
  EXPECT_EQ(img.cols, 320);  // max_side 0 keeps the size
  EXPECT_EQ(img.rows, 240);
  EXPECT_EQ(seeking.blob(seeking.rows[1].at("frame")).substr(1, 3), "PNG");
}

TEST(AvFrames, KeyframesModeGivesTheIFramesOnly) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"video.mp4"}, {{"video.frames", {{"mode", "keyframes"}}}});
  ASSERT_EQ(run.rows.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(num(run.rows[i].at("frame_time")), 2.0 * static_cast<double>(i), 0.001);
}

TEST(AvFrames, ScenesModeFindsEachCutOnce) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"video.mp4"}, {{"video.frames", {{"mode", "scenes"}, {"max_side", 64}}}});
  ASSERT_EQ(run.rows.size(), 3u) << ::testing::PrintToString(run.messages);
  const double expected[] = {0.0, 2.0, 4.0};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(num(run.rows[i].at("frame_time")), expected[i], 0.041);
    EXPECT_GT(num(run.rows[i].at("frame_score")), 0.15);
  }
}

TEST(AvFrames, MaxFramesCapsEachVideo) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"video.mp4", "noaudio.mp4"}, {{"video.frames", {{"interval", 0.2}, {"max_frames", 4}}}});
  EXPECT_EQ(run.of("video.mp4").size(), 4u);
  EXPECT_EQ(run.of("noaudio.mp4").size(), 4u);
  EXPECT_NEAR(num(run.of("video.mp4")[3].at("frame_time")), 0.6, 0.021);
}

TEST(AvFrames, BrokenVideosGiveOneRowWithAnErrorAndTheRunGoesOn) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"video.mp4", "truncated.mp4", "random.mp4", "speech.wav"},
                      {{"video.frames", {{"interval", 2.0}}}});
  EXPECT_EQ(run.result.status, "succeeded");
  EXPECT_EQ(run.of("video.mp4").size(), 3u);
  struct Case {
    std::string name, reason;
  };
  for (const auto& c : std::vector<Case>{{"truncated.mp4", "truncated"},
                                         {"random.mp4", "not a readable audio/video file"},
                                         {"speech.wav", "has no video stream"}}) {
    auto rows = run.of(c.name);
    ASSERT_EQ(rows.size(), 1u) << c.name;
    const std::string err = str(rows[0].at("error"));
    EXPECT_NE(err.find(c.name), std::string::npos) << err;
    EXPECT_NE(err.find(c.reason), std::string::npos) << err;
    EXPECT_TRUE(core::isNull(rows[0].at("frame")));
  }
  EXPECT_EQ(run.result.rowsFailed, 3);
}

TEST(AvFrames, AVideoCutShortKeepsItsFramesAndSaysWhereItEnds) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"cut_faststart.mp4"}, {{"video.frames", {{"interval", 1.0}}}});
  ASSERT_GE(run.rows.size(), 3u);
  const Row last = run.rows.back();
  const std::string err = str(last.at("error"));
  EXPECT_NE(err.find("cut short"), std::string::npos) << err;
  EXPECT_NE(err.find("cut_faststart.mp4"), std::string::npos) << err;
  EXPECT_TRUE(core::isNull(last.at("frame")));
  for (size_t i = 0; i + 1 < run.rows.size(); ++i) {
    EXPECT_TRUE(core::isNull(run.rows[i].at("error")));
    EXPECT_NEAR(num(run.rows[i].at("frame_time")), static_cast<double>(i), 0.021);
  }
  EXPECT_LT(run.rows.size() - 1, 6u);  // not the 6 frames of the whole video
  EXPECT_EQ(run.result.rowsFailed, 1);
}

// ---------------------------------------------------------------------------------------------------
// video.clip

TEST(AvClip, CopyStartsAtTheKeyframeBeforeStartAndSaysSo) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"video.mp4"}, {{"video.clip", {{"start", 2.5}, {"duration", 1.5}}}});
  ASSERT_EQ(run.rows.size(), 1u);
  const auto& r = run.rows[0];
  ASSERT_TRUE(core::isNull(r.at("error"))) << str(r.at("error"));
  EXPECT_NEAR(num(r.at("clip_start")), 2.0, 0.001);       // the keyframe at 2 s
  EXPECT_NEAR(num(r.at("clip_duration")), 2.0, 0.25);      // 2 s to 4 s, a few frames over at most
  EXPECT_EQ(integer(r.at("clip_bytes")), static_cast<int64_t>(run.blob(r.at("clip")).size()));
  auto p = ffprobe(run.blobPath(r.at("clip")));
  EXPECT_EQ(p.streams, (std::vector<std::string>{"video:h264", "audio:aac"}));
  EXPECT_NEAR(p.duration, num(r.at("clip_duration")), 0.1);
}

TEST(AvClip, ReencodeCutsExactlyAndAClipCanFeedVideoFrames) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"video.mp4"}, {{"video.clip", {{"start", 2.5}, {"end", 4.5}, {"reencode", true}}},
                                      {"video.frames", {{"input", "clip"}, {"mode", "keyframes"}}}});
  ASSERT_GE(run.rows.size(), 1u);
  const auto& r = run.rows[0];
  ASSERT_TRUE(core::isNull(r.at("error"))) << str(r.at("error"));
  EXPECT_NEAR(num(r.at("clip_start")), 2.5, 0.041);  // the first frame at or after 2.5 s
  EXPECT_NEAR(num(r.at("clip_duration")), 2.0, 0.041);
  auto p = ffprobe(run.blobPath(r.at("clip")));
  ASSERT_EQ(p.streams.size(), 2u);
  EXPECT_EQ(p.streams[1], "audio:aac");
  EXPECT_NEAR(p.duration, 2.0, 0.1);
  // The clip's first frame is a keyframe, frames read straight from the blob store.
  EXPECT_NEAR(num(r.at("frame_time")), 0.0, 0.05);
  EXPECT_EQ(integer(r.at("frame_width")), 320);
}

TEST(AvClip, StreamsMp4CannotHoldAreLeftOutAndTheLogSaysSo) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"pcm.mov"}, {{"video.clip", {{"start", 0.0}, {"duration", 0.5}}}});
  ASSERT_EQ(run.rows.size(), 1u);
  ASSERT_TRUE(core::isNull(run.rows[0].at("error"))) << str(run.rows[0].at("error"));
  EXPECT_EQ(ffprobe(run.blobPath(run.rows[0].at("clip"))).streams, std::vector<std::string>{"video:h264"});
  bool said = false;
  for (const auto& m : run.messages) said = said || m.find("audio pcm_s16le") != std::string::npos;
  EXPECT_TRUE(said) << ::testing::PrintToString(run.messages);
}

TEST(AvClip, ClipsAreTheSameBytesEveryRun) {
  REQUIRE_AV_FIXTURES();
  auto a = runChain({"video.mp4"}, {{"video.clip", {{"start", 1.0}, {"duration", 1.0}, {"reencode", true}}}});
  auto b = runChain({"video.mp4"}, {{"video.clip", {{"start", 1.0}, {"duration", 1.0}, {"reencode", true}}}});
  ASSERT_EQ(a.rows.size(), 1u);
  ASSERT_EQ(b.rows.size(), 1u);
  EXPECT_EQ(str(a.rows[0].at("clip")), str(b.rows[0].at("clip")));
}

TEST(AvClip, StartPastTheEndAndBrokenFilesFailTheirRowOnly) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"noaudio.mp4", "truncated.mp4", "random.mp4"}, {{"video.clip", {{"start", 3.0}}}});
  ASSERT_EQ(run.rows.size(), 3u);
  EXPECT_NE(str(run.of("noaudio.mp4")[0].at("error")).find("past the end"), std::string::npos);
  EXPECT_NE(str(run.of("truncated.mp4")[0].at("error")).find("truncated"), std::string::npos);
  EXPECT_NE(str(run.of("random.mp4")[0].at("error")).find("not a readable audio/video file"), std::string::npos);
  EXPECT_EQ(run.result.rowsFailed, 3);
}

// ---------------------------------------------------------------------------------------------------
// video.audio

TEST(AvAudio, AutoCopiesAacIntoM4aWithoutReencoding) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"video.mp4", "noaudio.mp4"}, {{"video.audio", nlohmann::json::object()}});
  const Row r = run.of("video.mp4").at(0);
  ASSERT_TRUE(core::isNull(r.at("error"))) << str(r.at("error"));
  EXPECT_EQ(str(r.at("audio_mime")), "audio/mp4");
  EXPECT_EQ(str(r.at("audio_codec")), "aac");
  EXPECT_EQ(integer(r.at("sample_rate")), 44100);
  EXPECT_EQ(integer(r.at("channels")), 1);
  EXPECT_NEAR(num(r.at("duration")), 6.0, 0.05);
  auto p = ffprobe(run.blobPath(r.at("audio")));
  EXPECT_EQ(p.streams, std::vector<std::string>{"audio:aac"});
  EXPECT_NEAR(p.duration, 6.0, 0.05);
  // A video without sound says so.
  EXPECT_NE(str(run.of("noaudio.mp4").at(0).at("error")).find("has no audio stream"), std::string::npos);
}

TEST(AvAudio, WavAndFlacDecodeTheTrack) {
  REQUIRE_AV_FIXTURES();
  auto wav = runChain({"video.mp4"}, {{"video.audio", {{"format", "wav"}}}});
  ASSERT_TRUE(core::isNull(wav.rows.at(0).at("error"))) << str(wav.rows.at(0).at("error"));
  Wav w = wavInfo(wav.blob(wav.rows[0].at("audio")));
  EXPECT_EQ(w.rate, 44100);
  EXPECT_EQ(w.channels, 1);
  EXPECT_NEAR(w.seconds, 6.0, 0.05);
  auto flac = runChain({"video.mp4"}, {{"video.audio", {{"format", "flac"}}}});
  ASSERT_TRUE(core::isNull(flac.rows.at(0).at("error"))) << str(flac.rows.at(0).at("error"));
  EXPECT_EQ(flac.blob(flac.rows[0].at("audio")).substr(0, 4), "fLaC");
  EXPECT_EQ(str(flac.rows[0].at("audio_mime")), "audio/flac");
  auto p = ffprobe(flac.blobPath(flac.rows[0].at("audio")));
  EXPECT_EQ(p.streams, std::vector<std::string>{"audio:flac"});
  EXPECT_NEAR(p.duration, 6.0, 0.05);
}

// ---------------------------------------------------------------------------------------------------
// audio.resample

TEST(AvResample, StereoAt48kBecomesMonoAt16kWavOrFlac) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"stereo48k.wav", "random.wav"}, {{"audio.resample", {{"sample_rate", 16000}, {"channels", 1}}}});
  const Row r = run.of("stereo48k.wav").at(0);
  ASSERT_TRUE(core::isNull(r.at("error"))) << str(r.at("error"));
  EXPECT_EQ(integer(r.at("sample_rate")), 16000);
  EXPECT_EQ(integer(r.at("channels")), 1);
  EXPECT_NEAR(num(r.at("duration")), 2.0, 0.01);
  Wav w = wavInfo(run.blob(r.at("audio")));
  EXPECT_EQ(w.rate, 16000);
  EXPECT_EQ(w.channels, 1);
  EXPECT_NEAR(w.seconds, 2.0, 0.01);
  EXPECT_NE(str(run.of("random.wav").at(0).at("error")).find("random.wav"), std::string::npos);

  auto flac = runChain({"stereo48k.wav"}, {{"audio.resample", {{"sample_rate", 0}, {"channels", 0}, {"format", "flac"}}}});
  const auto& f = flac.rows.at(0);
  ASSERT_TRUE(core::isNull(f.at("error"))) << str(f.at("error"));
  EXPECT_EQ(integer(f.at("sample_rate")), 48000);  // 0 keeps the source's
  EXPECT_EQ(integer(f.at("channels")), 2);
  EXPECT_EQ(flac.blob(f.at("audio")).substr(0, 4), "fLaC");
}

// ---------------------------------------------------------------------------------------------------
// audio.segment

TEST(AvSegment, SilenceSplitsAtThePlantedPauses) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"speech.wav"}, {{"audio.segment", {{"padding", 0.0}, {"audio", true}}}});
  ASSERT_EQ(run.rows.size(), 3u);
  const double starts[] = {0.0, 2.0, 5.5}, ends[] = {1.0, 4.0, 6.5};
  for (size_t i = 0; i < 3; ++i) {
    const auto& r = run.rows[i];
    ASSERT_TRUE(core::isNull(r.at("error"))) << str(r.at("error"));
    EXPECT_EQ(integer(r.at("segment_index")), static_cast<int64_t>(i));
    EXPECT_NEAR(num(r.at("segment_start")), starts[i], 0.02);
    EXPECT_NEAR(num(r.at("segment_end")), ends[i], 0.02);
    Wav w = wavInfo(run.blob(r.at("segment")));
    EXPECT_EQ(w.rate, 16000);
    EXPECT_NEAR(w.seconds, num(r.at("segment_end")) - num(r.at("segment_start")), 1e-6);
  }
}

TEST(AvSegment, PaddingMinAndMaxSegmentShapeTheSegments) {
  REQUIRE_AV_FIXTURES();
  // min_silence 1.2: only the 1.5 s pause splits; max_segment 2.5 halves the 4.1 s first part.
  auto run = runChain({"speech.wav"}, {{"audio.segment", {{"min_silence", 1.2}, {"padding", 0.1}, {"max_segment", 2.5}}}});
  ASSERT_EQ(run.rows.size(), 3u);
  EXPECT_NEAR(num(run.rows[0].at("segment_start")), 0.0, 0.02);
  EXPECT_NEAR(num(run.rows[0].at("segment_end")), 2.05, 0.02);
  EXPECT_NEAR(num(run.rows[1].at("segment_end")), 4.1, 0.02);
  EXPECT_NEAR(num(run.rows[2].at("segment_start")), 5.4, 0.02);
  EXPECT_NEAR(num(run.rows[2].at("segment_end")), 6.5, 0.02);
  EXPECT_TRUE(core::isNull(run.rows[0].at("segment")));  // audio false: no blobs
  // min_segment 1.5 drops the two 1-second tones.
  auto longOnly = runChain({"speech.wav"}, {{"audio.segment", {{"min_segment", 1.5}, {"padding", 0.0}}}});
  ASSERT_EQ(longOnly.rows.size(), 1u);
  EXPECT_NEAR(num(longOnly.rows[0].at("segment_start")), 2.0, 0.02);
}

TEST(AvSegment, WindowsOverlapAndTheLastOneEndsWithTheAudio) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"speech.wav"}, {{"audio.segment", {{"mode", "windows"}, {"window", 2.0}, {"overlap", 0.5}, {"audio", true}}}});
  ASSERT_EQ(run.rows.size(), 4u);
  const double starts[] = {0.0, 1.5, 3.0, 4.5};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(num(run.rows[i].at("segment_start")), starts[i], 1e-6);
    EXPECT_NEAR(num(run.rows[i].at("segment_end")), starts[i] + 2.0, 1e-6);
    EXPECT_NEAR(wavInfo(run.blob(run.rows[i].at("segment"))).seconds, 2.0, 1e-6);
  }
}

TEST(AvSegment, SegmentsTheSoundOfAVideoThroughVideoAudio) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"video.mp4", "noaudio.mp4", "random.mp4"},
                      {{"video.audio", {{"format", "wav"}}},
                       {"audio.segment", {{"input", "audio"}, {"mode", "windows"}, {"window", 2.5}}}});
  // 6 s of sound in windows of 2.5 s: 0-2.5, 2.5-5, 5-6.
  EXPECT_EQ(run.of("video.mp4").size(), 3u);
  // Upstream failures pass through untouched, one row each.
  ASSERT_EQ(run.of("noaudio.mp4").size(), 1u);
  EXPECT_NE(str(run.of("noaudio.mp4")[0].at("error")).find("has no audio stream"), std::string::npos);
  ASSERT_EQ(run.of("random.mp4").size(), 1u);
  EXPECT_EQ(run.result.rowsFailed, 2);
}

TEST(AvSegment, AudioCutShortKeepsTheSegmentsBeforeTheCut) {
  REQUIRE_AV_FIXTURES();
  // The sound of the video cut at 60 %: windows up to the cut, then a row saying where it ends.
  auto run = runChain({"cut_faststart.mp4"}, {{"audio.segment", {{"mode", "windows"}, {"window", 1.0}, {"audio", true}}}});
  ASSERT_GE(run.rows.size(), 3u);
  for (size_t i = 0; i + 1 < run.rows.size(); ++i) {
    EXPECT_NEAR(num(run.rows[i].at("segment_start")), static_cast<double>(i), 1e-6);
    EXPECT_FALSE(core::isNull(run.rows[i].at("segment")));
  }
  EXPECT_LT(run.rows.size() - 1, 6u);
  EXPECT_NE(str(run.rows.back().at("error")).find("cut short"), std::string::npos) << str(run.rows.back().at("error"));
  // Resampling it fails the row as a whole: half a file is no resampled file.
  auto resampled = runChain({"cut_faststart.mp4"}, {{"audio.resample", nlohmann::json::object()}});
  EXPECT_NE(str(resampled.rows.at(0).at("error")).find("cut short"), std::string::npos);
}

TEST(AvSegment, BrokenAudioGivesOneRowWithAnError) {
  REQUIRE_AV_FIXTURES();
  auto run = runChain({"random.wav", "noaudio.mp4"}, {{"audio.segment", nlohmann::json::object()}});
  ASSERT_EQ(run.rows.size(), 2u);
  EXPECT_NE(str(run.of("random.wav")[0].at("error")).find("random.wav"), std::string::npos);
  EXPECT_NE(str(run.of("noaudio.mp4")[0].at("error")).find("has no audio stream"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------------
// Limits: the reader's deadline and byte budget stop the work on one object, and the error says which.

TEST(AvLimits, TimeAndByteLimitsStopTheWorkAndSaySo) {
  REQUIRE_AV_FIXTURES();
  auto api = media::codecs();
  ASSERT_TRUE(api.ok()) << api.error().message;
  const media::AvOpsApi& av = *(*api)->av;
  const std::string uri = "file://" + AvFixtures::get().file("video.mp4").string();
  auto backend = storage::storageFor(uri).value();
  media::MediaLimits limits;
  int frames = 0;
  auto sink = [&](media::VideoFrame&&) { return ++frames > 0; };
  media::FramesRequest req;

  media::ObjectReader late(backend, uri, -1, limits.maxPreviewBytes, 0);  // deadline already passed
  auto r = av.extractFrames(late, "video.mp4", req, limits, sink);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("time limit"), std::string::npos) << r.error().message;

  media::ObjectReader small(backend, uri, -1, 64 * 1024, 20);  // a quarter of the file
  r = av.extractFrames(small, "video.mp4", req, limits, sink);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("read limit"), std::string::npos) << r.error().message;
  EXPECT_LE(small.bytesRead(), 64 * 1024);

  media::ObjectReader audio(backend, uri, -1, 64 * 1024, 20);
  auto pcm = av.decodeAudio(audio, "video.mp4", 0, 0, [](const media::PcmFormat&, const int16_t*, size_t) { return true; });
  ASSERT_FALSE(pcm.ok());
  EXPECT_NE(pcm.error().message.find("read limit"), std::string::npos) << pcm.error().message;
}

// ---------------------------------------------------------------------------------------------------
// Validation: mistakes in parameters are named before anything runs.

TEST(AvValidation, BadParametersAreNamed) {
  struct Case {
    std::string type;
    nlohmann::json params;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"video.frames", {{"interval", 0}}, "parameter 'interval'"},
      {"video.frames", {{"mode", "every_frame"}}, "interval, keyframes, scenes"},
      {"video.frames", {{"threshold", 2}}, "parameter 'threshold'"},
      {"video.frames", {{"input", "nope"}}, "parameter 'input': the input has no column 'nope'"},
      {"video.clip", {{"start", 5}, {"end", 2}}, "parameter 'end': must be after start"},
      {"video.clip", {{"end", 5}, {"duration", 2}}, "parameter 'duration': give either end or duration"},
      {"video.clip", {{"start", -1}}, "parameter 'start'"},
      {"video.audio", {{"format", "mp3"}}, "auto, m4a, mka, wav, flac"},
      {"audio.segment", {{"mode", "windows"}, {"window", 1}, {"overlap", 1}}, "parameter 'overlap': must be less than window"},
      {"audio.segment", {{"max_segment", 0.1}, {"min_segment", 0.5}}, "parameter 'max_segment'"},
      {"audio.resample", {{"sample_rate", 8}}, "parameter 'sample_rate'"},
      {"audio.resample", {{"channels", 9}}, "parameter 'channels'"},
  };
  for (const auto& c : cases) {
    const std::string msg = validationMessage(c.type, c.params);
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.type << " " << c.params.dump() << " -> " << msg;
  }
  EXPECT_EQ(validationMessage("video.frames", {{"mode", "scenes"}, {"max_side", 256}}), "");
  EXPECT_NE(validationMessage("video.frames", nlohmann::json::object(), false).find("needs a 'uri' column"),
            std::string::npos);
}

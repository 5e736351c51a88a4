// Replays every input that scripts/fuzz.sh saved after a crash, leak or timeout of the probe fuzz
// target (tests/fuzz/regressions/probe), plus hostile inputs built here, through the same entry
// point: each must end as a ProbeResult, with an error where the bytes are not a valid file.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "../fuzz/fuzz_names.h"
#include "media/probe.h"

namespace {

namespace fs = std::filesystem;

loom::media::ProbeResult probeFuzzInput(const std::string& input) {
  const std::string name(loom::fuzz::probeNameFor(static_cast<unsigned char>(input.empty() ? 0 : input[0])));
  loom::media::MediaLimits limits;
  loom::media::ObjectReader reader(input.empty() ? std::string() : input.substr(1), "fuzz://" + name,
                                   limits.maxProbeBytes, limits.maxSeconds);
  return loom::media::probeObject(reader, name, limits);
}

TEST(FuzzRegressions, SavedCrashInputsNowGiveAResult) {
  const fs::path dir = fs::path(LOOM_SOURCE_DIR) / "tests/fuzz/regressions/probe";
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename() == "README.md") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(entry.path().filename().string());
    auto r = probeFuzzInput(input);
    EXPECT_FALSE(r.mime.empty() && r.error.empty()) << "neither a type nor an error";
  }
}

// Every name the fuzzer uses, with the other formats' magic numbers cut short: the probe must name
// the problem rather than report dimensions or durations it never read.
TEST(FuzzRegressions, TruncatedMagicUnderEveryNameIsAnErrorOrUnknown) {
  const std::string magics[] = {std::string("\xFF\xD8\xFF\xE0", 4), "\x89PNG\r\n\x1a\n", "GIF89a", "RIFF\x10\0\0\0WEBP",
                                "II*\0", "BM", std::string("\0\0\0\x18" "ftypisom", 12), "\x1a\x45\xdf\xa3",
                                "RIFF\x10\0\0\0AVI ", "ID3\x04", "fLaC", "OggS", "%PDF-1.4\n"};
  for (size_t sel = 0; sel < loom::fuzz::kProbeNameCount; ++sel) {
    for (const auto& magic : magics) {
      SCOPED_TRACE(std::string(loom::fuzz::probeNameFor(static_cast<unsigned char>(sel))) + " / " + magic);
      auto r = probeFuzzInput(std::string(1, static_cast<char>(sel)) + magic);
      EXPECT_FALSE(r.duration.has_value() && *r.duration > 0) << "a duration from a few bytes";
      EXPECT_FALSE(r.pages.has_value() && *r.pages > 0) << "pages from a few bytes";
    }
  }
}

}  // namespace

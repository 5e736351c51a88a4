// Replays every input that scripts/fuzz.sh saved after a crash, leak, timeout or broken property of
// a fuzz target (tests/fuzz/regressions/<target>), through the same entry point the fuzzer ran
// (tests/fuzz/entry_<target>.cpp): each must now end as an accepted input or a refusal that says
// why. Plus hostile probe inputs built here.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>

#include "../fuzz/fuzz_names.h"
#include "../fuzz/fuzz_targets.h"
#include "test_support.h"

namespace loom::fuzz {
// Test names and failures show the target's name, not its bytes.
void PrintTo(const Target& t, std::ostream* os) { *os << t.name; }
}  // namespace loom::fuzz

namespace {

namespace fs = std::filesystem;

using loom::test::readFile;

class FuzzRegressions : public testing::TestWithParam<loom::fuzz::Target> {};

TEST_P(FuzzRegressions, SavedInputsNowEndInAResultOrAClearRefusal) {
  const loom::fuzz::Target target = GetParam();
  const fs::path dir = fs::path(LOOM_SOURCE_DIR) / "tests/fuzz/regressions" / target.name;
  ASSERT_TRUE(fs::is_directory(dir)) << dir << " (every target keeps its folder, with a README.md)";
  int replayed = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().extension() == ".md") continue;
    SCOPED_TRACE(entry.path().filename().string());
    const loom::fuzz::Outcome out = target.entry(readFile(entry.path()));
    EXPECT_EQ(loom::fuzz::problemWith(out), "");
    ++replayed;
  }
  RecordProperty("replayed", replayed);
}

INSTANTIATE_TEST_SUITE_P(EveryTarget, FuzzRegressions, testing::ValuesIn(loom::fuzz::kTargets),
                         [](const testing::TestParamInfo<loom::fuzz::Target>& p) { return std::string(p.param.name); });

// Every name the fuzzer uses, with the other formats' magic numbers cut short: the probe must name
// the problem rather than report dimensions or durations it never read.
TEST(FuzzProbe, TruncatedMagicUnderEveryNameIsAnErrorOrUnknown) {
  const std::string magics[] = {std::string("\xFF\xD8\xFF\xE0", 4), "\x89PNG\r\n\x1a\n", "GIF89a", "RIFF\x10\0\0\0WEBP",
                                "II*\0", "BM", std::string("\0\0\0\x18" "ftypisom", 12), "\x1a\x45\xdf\xa3",
                                "RIFF\x10\0\0\0AVI ", "ID3\x04", "fLaC", "OggS", "%PDF-1.4\n"};
  for (size_t sel = 0; sel < loom::fuzz::kProbeNameCount; ++sel) {
    for (const auto& magic : magics) {
      SCOPED_TRACE(std::string(loom::fuzz::probeNameFor(static_cast<unsigned char>(sel))) + " / " + magic);
      auto r = loom::fuzz::probeFuzzInput(std::string(1, static_cast<char>(sel)) + magic);
      EXPECT_FALSE(r.duration.has_value() && *r.duration > 0) << "a duration from a few bytes";
      EXPECT_FALSE(r.pages.has_value() && *r.pages > 0) << "pages from a few bytes";
    }
  }
}

}  // namespace

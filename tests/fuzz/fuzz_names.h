#pragma once
// The names a fuzz input's first byte selects (libmagic and libavformat use the extension as a
// tie-breaker). Shared by the fuzz target, the seed-corpus maker and the regression test.

#include <cstddef>
#include <string_view>

namespace loom::fuzz {

inline constexpr std::string_view kProbeNames[] = {
    "x.jpg", "x.png", "x.gif", "x.webp", "x.tif", "x.bmp",  "x.mp4", "x.mkv", "x.webm", "x.avi",
    "x.wav", "x.mp3", "x.flac", "x.opus", "x.m4a", "x.pdf", "x.txt", "x.csv", "x.bin"};
inline constexpr size_t kProbeNameCount = sizeof kProbeNames / sizeof kProbeNames[0];

inline std::string_view probeNameFor(unsigned char selector) { return kProbeNames[selector % kProbeNameCount]; }

}  // namespace loom::fuzz

// PCM helpers of media/av_ops.h that need no codec library.

#include <algorithm>
#include <cstring>

#include "media/av_ops.h"

namespace loom::media {

namespace {
void le32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void le16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v & 0xFF));
  out.push_back(static_cast<char>(v >> 8));
}
}  // namespace

// Written by hand: a canonical WAV is a 44-byte header in front of the samples, and cutting segments
// out of decoded PCM needs no muxer.
std::string wavBytes(const Pcm& pcm, size_t firstFrame, size_t frames) {
  const size_t channels = static_cast<size_t>(std::max(pcm.channels, 1));
  const size_t total = pcm.samples.size() / channels;
  firstFrame = std::min(firstFrame, total);
  frames = std::min(frames, total - firstFrame);
  const auto dataBytes = static_cast<uint32_t>(frames * channels * sizeof(int16_t));
  std::string out;
  out.reserve(44 + dataBytes);
  out += "RIFF";
  le32(out, 36 + dataBytes);
  out += "WAVEfmt ";
  le32(out, 16);
  le16(out, 1);  // PCM
  le16(out, static_cast<uint16_t>(channels));
  le32(out, static_cast<uint32_t>(pcm.sampleRate));
  le32(out, static_cast<uint32_t>(pcm.sampleRate * channels * sizeof(int16_t)));
  le16(out, static_cast<uint16_t>(channels * sizeof(int16_t)));
  le16(out, 16);
  out += "data";
  le32(out, dataBytes);
  const size_t at = out.size();
  out.resize(at + dataBytes);
  // Little-endian hosts only (x86-64, arm64): the samples are copied as they are in memory.
  if (dataBytes) std::memcpy(out.data() + at, pcm.samples.data() + firstFrame * channels, dataBytes);
  return out;
}

}  // namespace loom::media

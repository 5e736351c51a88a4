// libFuzzer target for the probe entry point: any bytes, under any of the names that steer format
// detection, must give a ProbeResult (maybe with an error) — never a crash, hang, leak or unbounded
// allocation. Built by scripts/fuzz.sh with clang, ASan and UBSan; see docs/ENGINE.md.

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_names.h"
#include "media/probe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string name(loom::fuzz::probeNameFor(data[0]));
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  loom::media::MediaLimits limits;
  limits.maxSeconds = 5.0;  // a hang shows up as a libFuzzer timeout (-timeout) well before this
  loom::media::ObjectReader reader(std::move(bytes), "fuzz://" + name, limits.maxProbeBytes,
                                   limits.maxSeconds);
  loom::media::ProbeResult r = loom::media::probeObject(reader, name, limits);
  // Touch the result so the optimiser keeps every field's computation.
  volatile size_t sink = r.mime.size() + r.error.size() + r.format.size();
  (void)sink;
  return 0;
}

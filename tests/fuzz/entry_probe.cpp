// probe: any bytes, under any of the names that steer format detection, must give a ProbeResult
// (maybe with an error) — never a crash, hang, leak or unbounded allocation.

#include "fuzz_names.h"
#include "fuzz_targets.h"

namespace loom::fuzz {

media::ProbeResult probeFuzzInput(std::string_view input) {
  const std::string name(probeNameFor(static_cast<unsigned char>(input.empty() ? 0 : input[0])));
  media::MediaLimits limits;
  limits.maxSeconds = 5.0;  // a hang shows up as a libFuzzer timeout (-timeout) well before this
  media::ObjectReader reader(std::string(input.empty() ? input : input.substr(1)), "fuzz://" + name,
                             limits.maxProbeBytes, limits.maxSeconds);
  return media::probeObject(reader, name, limits);
}

Outcome fuzzProbe(std::string_view input) {
  const media::ProbeResult r = probeFuzzInput(input);
  Outcome out;
  out.accepted = r.error.empty();
  out.error = r.error;
  if (r.mime.empty() && r.error.empty()) out.broken = "neither a type nor an error";
  return out;
}

}  // namespace loom::fuzz

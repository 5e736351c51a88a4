#pragma once
// The entry points of Loom's libFuzzer targets, one per target (entry_<name>.cpp). Each fuzz
// executable (fuzz_main.cpp) and the regression test (tests/engine/test_fuzz_regressions.cpp) call
// the same function on the same bytes, so an input saved after a crash replays exactly what the
// fuzzer ran. An entry never throws; what it found is in the Outcome.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "media/probe.h"

namespace loom::fuzz {

struct Outcome {
  bool accepted = false;  // the input was taken as valid (a flow that validates, a parsed answer, …)
  std::string error;      // when not accepted: the message a person would see; never empty then
  std::string broken;     // non-empty: a property that must hold did not (the fuzz executable aborts)
};

// probe: one selector byte (the file name, fuzz_names.h), then the object's bytes.
Outcome fuzzProbe(std::string_view input);
media::ProbeResult probeFuzzInput(std::string_view input);  // what fuzzProbe checks

// flow: .loomflow text, parsed and validated against the built-in node types as `loom-cli run`
// does before running (with an empty catalog).
Outcome fuzzFlow(std::string_view input);

// listing: one selector byte (even: S3 ListObjectsV2, odd: Azure List Blobs), then the XML body.
Outcome fuzzListing(std::string_view input);

// model: one selector byte (% 4: OpenAI chat, Anthropic chat, embeddings, error body), for
// embeddings one byte with the number of inputs sent (% 8 + 1), then the answer body.
Outcome fuzzModel(std::string_view input);

// sql: one selector byte (% 3: table.filter's condition, a table.derive expression, table.sort's
// order), then the SQL. Accepted pieces run over a few rows of a fixed schema in an in-memory
// SQLite, with a time limit.
Outcome fuzzSql(std::string_view input);

// What is wrong with an outcome ("" when nothing): a broken property, or a refusal without a message.
inline std::string problemWith(const Outcome& o) {
  if (!o.broken.empty()) return o.broken;
  if (!o.accepted && o.error.empty()) return "refused without a message";
  return {};
}

using Entry = Outcome (*)(std::string_view);
struct Target {
  const char* name;  // scripts/fuzz.sh TARGET, tests/fuzz/regressions/<name>
  Entry entry;
};
inline constexpr Target kTargets[] = {
    {"probe", &fuzzProbe}, {"flow", &fuzzFlow}, {"listing", &fuzzListing}, {"model", &fuzzModel}, {"sql", &fuzzSql}};

}  // namespace loom::fuzz

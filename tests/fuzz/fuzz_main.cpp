// The libFuzzer entry of every fuzz executable: LOOM_FUZZ_ENTRY names the target's function in
// fuzz_targets.h (set by tests/fuzz/CMakeLists.txt). A broken property aborts, so libFuzzer saves the
// input as a crash like any sanitizer report.

#include <cstdio>
#include <cstdlib>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const loom::fuzz::Outcome out = loom::fuzz::LOOM_FUZZ_ENTRY(std::string_view(reinterpret_cast<const char*>(data), size));
  if (const std::string problem = loom::fuzz::problemWith(out); !problem.empty()) {
    std::fprintf(stderr, "fuzz: %s\n", problem.c_str());
    std::abort();
  }
  return 0;
}

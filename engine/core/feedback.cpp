#include "core/feedback.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace loom::core {

std::string isoTimeUtc(int64_t unixNanos) {
  int64_t secs = unixNanos / 1000000000;
  int64_t ms = (unixNanos % 1000000000) / 1000000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  time_t t = static_cast<time_t>(secs);
  struct tm tmv;
  gmtime_r(&t, &tmv);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tmv.tm_year + 1900, tmv.tm_mon + 1,
                tmv.tm_mday, tmv.tm_hour, tmv.tm_min, tmv.tm_sec, static_cast<int>(ms));
  return buf;
}

std::string nowIsoUtc() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return isoTimeUtc(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
}

}  // namespace loom::core

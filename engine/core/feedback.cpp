#include "core/feedback.h"

#include <chrono>

namespace loom::core {

namespace {

// Days since 1970-01-01 -> civil date (Howard Hinnant's days_from_civil inverse). Hand-written
// because gmtime_r + snprintf per row was a measurable share of indexing a large folder.
void civilFromDays(int64_t z, int& year, int& month, int& day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  year = static_cast<int>(yoe + era * 400 + (month <= 2));
}

void put(char* p, int value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

}  // namespace

std::string isoTimeUtc(int64_t unixNanos) {
  int64_t secs = unixNanos / 1000000000;
  int64_t ms = (unixNanos % 1000000000) / 1000000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  int year = 0, month = 0, day = 0;
  civilFromDays(days, year, month, day);
  if (year < 0 || year > 9999) year = year < 0 ? 0 : 9999;  // keeps the fixed-width format sortable
  std::string out = "0000-00-00T00:00:00.000Z";
  char* p = out.data();
  put(p, year, 4);
  put(p + 5, month, 2);
  put(p + 8, day, 2);
  put(p + 11, static_cast<int>(rem / 3600), 2);
  put(p + 14, static_cast<int>(rem / 60 % 60), 2);
  put(p + 17, static_cast<int>(rem % 60), 2);
  put(p + 20, static_cast<int>(ms), 3);
  return out;
}

std::string nowIsoUtc() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return isoTimeUtc(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
}

}  // namespace loom::core

#pragma once
// Reading one object for probing or previewing: ranged reads through the storage interface, a hard
// budget of bytes and a wall-clock deadline, so a hostile or huge file costs bounded work. Not
// thread-safe: one reader per object per thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"

namespace loom::storage {
class Storage;
}

namespace loom::media {

// Hard limits against hostile files. Defaults suit photos, phone video and scanned documents.
struct MediaLimits {
  int64_t maxPixels = 200'000'000;          // images: decoded width x height beyond this is refused
  int64_t maxProbeBytes = 16 * 1024 * 1024;  // bytes one probe may read from an object
  int64_t maxPreviewBytes = 512LL * 1024 * 1024;  // bytes one thumbnail or preview may read
  double maxSeconds = 20.0;                  // wall-clock time for one object's probe or preview
};

class ObjectReader {
 public:
  using Clock = std::chrono::steady_clock;

  // `size` < 0: unknown (stat'ed on first need). `budget`: bytes this reader may fetch in total.
  ObjectReader(std::shared_ptr<storage::Storage> storage, std::string uri, int64_t size, int64_t budget,
               double maxSeconds);
  // Reads a whole buffer that is already in memory (fuzzing, tests): no storage, same limits.
  ObjectReader(std::string bytes, std::string uri, int64_t budget, double maxSeconds);

  const std::string& uri() const { return m_uri; }
  // Object size in bytes, or an error when it cannot be found out.
  core::Result<int64_t> size();
  // Up to `length` bytes from `offset` (fewer at the end). Fails with a message naming the object
  // when the budget or the deadline would be passed, or the storage read fails.
  core::Result<std::string> read(int64_t offset, int64_t length);
  int64_t bytesRead() const { return m_bytesRead; }
  bool pastDeadline() const { return Clock::now() >= m_deadline; }
  // Why the last read failed because of a limit (empty if none did): lets callers whose library
  // reports only "I/O error" say what really happened.
  const std::string& limitHit() const { return m_limitHit; }

 private:
  std::shared_ptr<storage::Storage> m_storage;
  std::string m_memory;  // the whole object, for the in-memory constructor
  bool m_inMemory = false;
  std::string m_uri;
  int64_t m_size = -1;
  int64_t m_budget = 0;
  int64_t m_bytesRead = 0;
  Clock::time_point m_deadline;
  std::string m_limitHit;
};

}  // namespace loom::media

#include "media/object_reader.h"

#include <algorithm>

#include "storage/storage.h"

namespace loom::media {

using core::ErrorKind;
using core::makeError;

namespace {
std::chrono::steady_clock::time_point deadlineIn(double seconds) {
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
}
}  // namespace

ObjectReader::ObjectReader(std::shared_ptr<storage::Storage> storage, std::string uri, int64_t size, int64_t budget,
                           double maxSeconds)
    : m_storage(std::move(storage)), m_uri(std::move(uri)), m_size(size), m_budget(budget),
      m_deadline(deadlineIn(maxSeconds)) {}

ObjectReader::ObjectReader(std::string bytes, std::string uri, int64_t budget, double maxSeconds)
    : m_memory(std::move(bytes)), m_inMemory(true), m_uri(std::move(uri)),
      m_size(static_cast<int64_t>(m_memory.size())), m_budget(budget), m_deadline(deadlineIn(maxSeconds)) {}

core::Result<int64_t> ObjectReader::size() {
  if (m_size >= 0) return m_size;
  auto info = m_storage->stat(m_uri);
  if (!info.ok()) return info.error();
  if (info->size < 0) return makeError(ErrorKind::Unsupported, "cannot tell the size of " + m_uri);
  m_size = info->size;
  return m_size;
}

core::Result<std::string> ObjectReader::read(int64_t offset, int64_t length) {
  if (pastDeadline()) {
    m_limitHit = "took longer than the time limit per file";
    return makeError(ErrorKind::Corrupt, m_uri + ": " + m_limitHit + "; the file may be damaged or hostile");
  }
  if (offset < 0 || length < 0) return makeError(ErrorKind::InvalidInput, m_uri + ": negative read range");
  // Know the size before checking the budget, so a read that asks past the end is charged only for
  // the bytes that exist (a stat here, a HEAD on object stores: once per object).
  if (m_size < 0) (void)size();
  if (m_size >= 0) length = std::clamp<int64_t>(m_size - offset, 0, length);
  if (length == 0) return std::string();
  if (m_bytesRead + length > m_budget) {
    m_limitHit = "needs more than the " +
                 (m_budget >= 1024 * 1024 ? std::to_string(m_budget / (1024 * 1024)) + " MiB"
                                          : std::to_string(m_budget / 1024) + " KiB") +
                 " read limit per file";
    return makeError(ErrorKind::Corrupt, m_uri + ": " + m_limitHit + "; the file may be damaged or hostile");
  }
  std::string out;
  if (m_inMemory) {
    out = m_memory.substr(static_cast<size_t>(offset), static_cast<size_t>(length));
  } else {
    auto r = m_storage->read(m_uri, offset, length);
    if (!r.ok()) return r.error();
    out = std::move(r).value();
  }
  m_bytesRead += static_cast<int64_t>(out.size());
  return out;
}

}  // namespace loom::media

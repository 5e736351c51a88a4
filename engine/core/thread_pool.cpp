#include "core/thread_pool.h"

namespace loom::core {

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // The calling thread works too, so start one fewer.
  for (int i = 1; i < threads; ++i) m_workers.emplace_back([this] { workerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_wake.notify_all();
  for (auto& t : m_workers) t.join();
}

void ThreadPool::workerLoop() {
  uint64_t seen = 0;
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_wake.wait(lock, [&] { return m_stop || m_generation != seen; });
    if (m_stop) return;
    seen = m_generation;
    while (m_next < m_count) {
      size_t i = m_next++;
      lock.unlock();
      (*m_fn)(i);
      lock.lock();
      if (++m_finished == m_count) m_done.notify_all();
    }
  }
}

void ThreadPool::parallelFor(size_t count, const std::function<void(size_t)>& fn) {
  if (count == 0) return;
  std::lock_guard call(m_callMutex);
  std::unique_lock lock(m_mutex);
  m_fn = &fn;
  m_count = count;
  m_next = 0;
  m_finished = 0;
  ++m_generation;
  m_wake.notify_all();
  while (m_next < m_count) {
    size_t i = m_next++;
    lock.unlock();
    fn(i);
    lock.lock();
    if (++m_finished == m_count) m_done.notify_all();
  }
  m_done.wait(lock, [&] { return m_finished == m_count; });
  m_fn = nullptr;
  m_count = 0;
}

}  // namespace loom::core

#pragma once
// A fixed pool of worker threads for per-row work. Owned by whoever runs a flow or an index; one
// parallelFor() at a time (calls from several threads are serialised).

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace loom::core {

class ThreadPool {
 public:
  explicit ThreadPool(int threads = 0);  // 0: one per hardware thread
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  int size() const { return static_cast<int>(m_workers.size()); }
  // Calls fn(i) for i in [0, count) across the workers and the calling thread; returns when all are
  // done. fn must not throw.
  void parallelFor(size_t count, const std::function<void(size_t)>& fn);

 private:
  void workerLoop();
  std::vector<std::thread> m_workers;
  std::mutex m_mutex, m_callMutex;
  std::condition_variable m_wake, m_done;
  const std::function<void(size_t)>* m_fn = nullptr;
  size_t m_count = 0, m_next = 0, m_finished = 0;
  uint64_t m_generation = 0;
  bool m_stop = false;
};

}  // namespace loom::core

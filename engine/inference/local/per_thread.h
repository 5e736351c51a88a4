#pragma once
// One instance of a non-thread-safe handle (an OpenCV net, a cascade, a Tesseract API) per calling
// thread, made on the thread's first call and kept until the owner is destroyed. The owner is a
// LocalModel, which lives for one node run, so handles never outlive the model they were made from.
// Thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "core/result.h"

namespace loom::inference::local {

template <class T>
class PerThread {
 public:
  using Make = std::function<core::Result<std::unique_ptr<T>>()>;
  explicit PerThread(Make make) : m_make(std::move(make)) {}

  // The calling thread's instance; made now if it has none (outside the lock: making one may take
  // a while, and other threads keep working meanwhile).
  core::Result<T*> get() const {
    const auto id = std::this_thread::get_id();
    {
      std::lock_guard lock(m_mutex);
      if (auto it = m_items.find(id); it != m_items.end()) return it->second.get();
    }
    auto made = m_make();
    if (!made.ok()) return made.error();
    std::lock_guard lock(m_mutex);
    auto& slot = m_items[id];
    slot = std::move(made).value();
    return slot.get();
  }

  // Hands an instance made elsewhere (the trial at load time) to the calling thread.
  void adopt(std::unique_ptr<T> item) const {
    std::lock_guard lock(m_mutex);
    m_items[std::this_thread::get_id()] = std::move(item);
  }

 private:
  Make m_make;
  mutable std::mutex m_mutex;
  mutable std::map<std::thread::id, std::unique_ptr<T>> m_items;
};

}  // namespace loom::inference::local

#pragma once
// Content hashing (SHA-256 through OpenSSL) for node hashes, cache keys and blob addresses.

#include <string>
#include <string_view>

namespace loom::core {

// Incremental SHA-256. Not thread-safe; one per thread of use.
class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  // Adds a length-prefixed field, so ("ab","c") and ("a","bc") hash differently.
  Hasher& field(std::string_view bytes);
  Hasher& raw(std::string_view bytes);
  std::string hex();  // finishes; the hasher must not be used afterwards

 private:
  void* m_ctx;
};

std::string sha256Hex(std::string_view bytes);

// 64-bit FNV-1a: fast, stable across platforms; used for deterministic sampling and sharding.
uint64_t fnv1a64(std::string_view bytes, uint64_t seed = 0);

}  // namespace loom::core

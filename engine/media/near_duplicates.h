#pragma once
// Grouping 64-bit perceptual hashes whose Hamming distance is at most d, without comparing all pairs.
//
// Multi-index hashing: the 64 bits are split into k blocks. Two hashes within distance d differ in at
// most floor(d / k) bits of at least one block (pigeonhole), so every such pair is found by looking up,
// in a per-block index, each block value within radius floor(d / k) of the hash's own. k is chosen per
// call to minimise the expected probes times bucket sizes (d = 6 on 100,000 hashes: 4 blocks of 16
// bits, radius 1). Candidates are then checked on all 64 bits, and groups are the connected
// components (union-find): single linkage, so two members of one group may be further apart than d
// when others link them. Where d is so large that the index would check a sizeable share of all pairs
// anyway, every pair of distinct values is compared instead (blocks = 0 in the stats). Pure C++, no I/O; thread-compatible (no shared state).

#include <cstdint>
#include <vector>

namespace loom::media {

struct NearDuplicateStats {
  int blocks = 0;             // k; 0: every pair of distinct values was compared
  int radius = 0;             // floor(d / k)
  int64_t distinct = 0;       // distinct hash values
  int64_t comparisons = 0;    // full 64-bit distance checks made
};

// For each hash, the index of its group's first member (the smallest index in the group), so equal
// results mean equal groups. `maxDistance` 0..64.
std::vector<uint32_t> groupNearDuplicates(const std::vector<uint64_t>& hashes, int maxDistance,
                                          NearDuplicateStats* stats = nullptr);

// The same grouping by comparing every pair: for tests and the benchmark.
std::vector<uint32_t> groupNearDuplicatesAllPairs(const std::vector<uint64_t>& hashes, int maxDistance);

inline int hammingDistance(uint64_t a, uint64_t b) { return __builtin_popcountll(a ^ b); }

}  // namespace loom::media

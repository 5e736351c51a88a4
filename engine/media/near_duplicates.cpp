#include "media/near_duplicates.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

namespace loom::media {

namespace {

class UnionFind {
 public:
  explicit UnionFind(size_t n) : m_parent(n) { std::iota(m_parent.begin(), m_parent.end(), uint32_t{0}); }
  uint32_t find(uint32_t x) {
    while (m_parent[x] != x) {
      m_parent[x] = m_parent[m_parent[x]];  // path halving
      x = m_parent[x];
    }
    return x;
  }
  void unite(uint32_t a, uint32_t b) {
    a = find(a);
    b = find(b);
    if (a == b) return;
    if (a < b) std::swap(a, b);
    m_parent[a] = b;  // the smaller index stays the root
  }

 private:
  std::vector<uint32_t> m_parent;
};

// Hamming-ball volume: values within `r` bit flips of a `bits`-bit value.
double ballVolume(int bits, int r) {
  double v = 0, c = 1;
  for (int i = 0; i <= r && i <= bits; ++i) {
    v += c;
    c = c * (bits - i) / (i + 1);
  }
  return v;
}

struct Block {
  int shift = 0;
  int bits = 0;
  uint64_t key(uint64_t h) const { return bits == 64 ? h : (h >> shift) & ((uint64_t{1} << bits) - 1); }
};

// Calls visit(v) for every v within `r` flips of `key` among the low `bits` bits, flipping bits >= from.
template <typename F>
void forEachNeighbour(uint64_t key, int bits, int from, int r, F& visit) {
  visit(key);
  if (r == 0) return;
  for (int b = from; b < bits; ++b) forEachNeighbour(key ^ (uint64_t{1} << b), bits, b + 1, r - 1, visit);
}

// Labels: each index → the smallest index of its component.
std::vector<uint32_t> labels(UnionFind& uf, size_t n) {
  std::vector<uint32_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = uf.find(static_cast<uint32_t>(i));
  return out;
}

}  // namespace

std::vector<uint32_t> groupNearDuplicates(const std::vector<uint64_t>& hashes, int maxDistance,
                                          NearDuplicateStats* stats) {
  const size_t n = hashes.size();
  const int d = std::clamp(maxDistance, 0, 64);
  // Distinct values first: equal hashes are one group whatever d is, and the index holds each once.
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), uint32_t{0});
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return hashes[a] != hashes[b] ? hashes[a] < hashes[b] : a < b;
  });
  std::vector<uint64_t> values;      // distinct, ascending
  std::vector<uint32_t> firstIndex;  // the smallest input index with that value
  std::vector<uint32_t> valueOf(n);  // input index → distinct value's position
  for (uint32_t i : order) {
    if (values.empty() || values.back() != hashes[i]) {
      values.push_back(hashes[i]);
      firstIndex.push_back(i);
    }
    valueOf[i] = static_cast<uint32_t>(values.size() - 1);
  }
  const size_t m = values.size();

  // k blocks, radius floor(d / k). Per value, k Hamming balls are probed; a probe reads the bucket's
  // offsets (a cache miss once the offsets table outgrows the caches: 2^18 entries and up) and then
  // scans the bucket, whose entries hold the hashes themselves (sequential reads, about m / 2^bits).
  // Measured on 1,000,000 hashes at d = 6, 3 blocks of 21 bits were 40x slower than 4 of 16 although
  // they check fewer candidates: the probes' cache misses dominate.
  int bestK = 1;
  double bestCost = INFINITY;
  for (int k = 1; k <= std::min(64, d + 1); ++k) {
    const int bits = 64 / k, r = d / k;
    const double probeCost = bits <= 18 ? 2.0 : 20.0;
    const double cost = k * ballVolume(bits, r) * (probeCost + static_cast<double>(m) / std::ldexp(1.0, bits));
    if (cost < bestCost) {
      bestCost = cost;
      bestK = k;
    }
  }
  // Where the index would cost more than a plain scan of all pairs of distinct values (a large d),
  // the scan is used.
  const bool scan = bestCost > static_cast<double>(m) / 2;
  const int k = scan ? 0 : bestK, radius = scan ? 0 : d / k;
  std::vector<Block> blocks(static_cast<size_t>(std::max(k, 0)));
  for (int j = 0, shift = 0; j < k; ++j) {
    blocks[static_cast<size_t>(j)].shift = shift;
    blocks[static_cast<size_t>(j)].bits = 64 / k + (j < 64 % k ? 1 : 0);
    shift += blocks[static_cast<size_t>(j)].bits;
  }

  UnionFind uf(m);
  int64_t comparisons = 0;
  if (scan && d > 0) {
    for (size_t i = 0; i < m; ++i)
      for (size_t j = i + 1; j < m; ++j)
        if (hammingDistance(values[i], values[j]) <= d) uf.unite(static_cast<uint32_t>(i), static_cast<uint32_t>(j));
    comparisons = static_cast<int64_t>(m) * static_cast<int64_t>(m - 1) / 2;
  } else if (d > 0 && m > 1) {
    // Per block, the value positions grouped by block key: for keys of up to kDirectBits bits an
    // offsets table indexed by the key (one array read per probe), else (key, position) pairs sorted
    // for binary search.
    constexpr int kDirectBits = 22;
    struct Entry {
      uint64_t value;
      uint32_t pos;
    };
    std::vector<uint32_t> start;
    std::vector<Entry> items(m);
    std::vector<std::pair<uint64_t, Entry>> sorted;
    for (const Block& block : blocks) {
      const bool direct = block.bits <= kDirectBits;
      if (direct) {
        start.assign((size_t{1} << block.bits) + 1, 0);
        for (size_t i = 0; i < m; ++i) ++start[block.key(values[i]) + 1];
        for (size_t b = 1; b < start.size(); ++b) start[b] += start[b - 1];
        std::vector<uint32_t> fill(start.begin(), start.end() - 1);
        for (size_t i = 0; i < m; ++i) items[fill[block.key(values[i])]++] = Entry{values[i], static_cast<uint32_t>(i)};
      } else {
        sorted.resize(m);
        for (size_t i = 0; i < m; ++i) sorted[i] = {block.key(values[i]), Entry{values[i], static_cast<uint32_t>(i)}};
        std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      for (size_t i = 0; i < m; ++i) {
        const uint64_t v = values[i];
        auto check = [&](const Entry& e) {
          if (e.pos <= i) return;  // each pair once, from its smaller side
          ++comparisons;
          if (hammingDistance(v, e.value) <= d) uf.unite(static_cast<uint32_t>(i), e.pos);
        };
        auto probe = [&](uint64_t key) {
          if (direct) {
            for (uint32_t at = start[key], end = start[key + 1]; at < end; ++at) check(items[at]);
            return;
          }
          auto it = std::lower_bound(sorted.begin(), sorted.end(), key,
                                     [](const std::pair<uint64_t, Entry>& a, uint64_t k2) { return a.first < k2; });
          for (; it != sorted.end() && it->first == key; ++it) check(it->second);
        };
        forEachNeighbour(block.key(v), block.bits, 0, radius, probe);
      }
    }
  }
  if (stats) *stats = NearDuplicateStats{k, radius, static_cast<int64_t>(m), comparisons};

  // A group's label is the smallest input index among its members.
  std::vector<uint32_t> rootLabel(m, UINT32_MAX);
  for (size_t i = 0; i < m; ++i) {
    uint32_t& l = rootLabel[uf.find(static_cast<uint32_t>(i))];
    l = std::min(l, firstIndex[i]);
  }
  std::vector<uint32_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = rootLabel[uf.find(valueOf[i])];
  return out;
}

std::vector<uint32_t> groupNearDuplicatesAllPairs(const std::vector<uint64_t>& hashes, int maxDistance) {
  const size_t n = hashes.size();
  UnionFind uf(n);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j)
      if (hammingDistance(hashes[i], hashes[j]) <= maxDistance)
        uf.unite(static_cast<uint32_t>(i), static_cast<uint32_t>(j));
  return labels(uf, n);
}

}  // namespace loom::media

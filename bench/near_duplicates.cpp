// near_duplicates: groups N random 64-bit hashes (100,000 by default) with planted near-duplicate
// clusters by Loom's multi-index grouping (media/near_duplicates.h, what image.near_duplicates runs)
// and by comparing every pair (what a person writes first), in one run; checks that both find the same
// groups and prints one JSON line of timings. Timings are printed, never asserted.
//
// Usage: near_duplicates [--hashes N] [--clusters C] [--distance D] [--all-pairs-max M] [--repeat R]
// All-pairs runs on min(N, M) hashes (M defaults to N); when M < N its time is also extrapolated to N
// by the pair count (n(n-1)/2), and the JSON says so.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "media/near_duplicates.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

int64_t arg(int argc, char** argv, const char* name, int64_t def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atoll(argv[i + 1]);
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = arg(argc, argv, "--hashes", 100000);
  const int64_t clusters = arg(argc, argv, "--clusters", n / 100);
  const int d = static_cast<int>(arg(argc, argv, "--distance", 6));
  const int64_t allPairsMax = arg(argc, argv, "--all-pairs-max", n);
  const int64_t repeat = arg(argc, argv, "--repeat", 5);

  // Random hashes; then `clusters` of 2..10 copies of a random hash, each within d bits of it.
  std::mt19937_64 rng(20240611);
  std::vector<uint64_t> hashes(static_cast<size_t>(n));
  for (auto& h : hashes) h = rng();
  size_t at = 0;
  int64_t planted = 0;
  for (int64_t c = 0; c < clusters && at < hashes.size(); ++c) {
    const uint64_t centre = hashes[at++];
    const int copies = 1 + static_cast<int>(rng() % 9);
    for (int k = 0; k < copies && at < hashes.size(); ++k, ++planted) {
      uint64_t h = centre;
      for (int f = static_cast<int>(rng() % (d + 1)); f > 0; --f) h ^= uint64_t{1} << (rng() % 64);
      hashes[at++] = h;
    }
  }
  std::shuffle(hashes.begin(), hashes.end(), rng);

  // The multi-index grouping takes a fraction of a second, so it is timed `repeat` times and the median
  // is reported; all-pairs runs once.
  loom::media::NearDuplicateStats stats;
  std::vector<uint32_t> fast;
  std::vector<double> times;
  for (int64_t r = 0; r < std::max<int64_t>(1, repeat); ++r) {
    const auto t = Clock::now();
    fast = loom::media::groupNearDuplicates(hashes, d, &stats);
    times.push_back(seconds(t));
  }
  std::sort(times.begin(), times.end());
  const double fastSeconds = times[times.size() / 2];
  std::set<uint32_t> groups(fast.begin(), fast.end());

  // All-pairs on the first m hashes; the multi-index grouping of the same m hashes must match it.
  const size_t m = static_cast<size_t>(std::min(n, allPairsMax));
  std::vector<uint64_t> subset(hashes.begin(), hashes.begin() + static_cast<std::ptrdiff_t>(m));
  const auto t0 = Clock::now();
  const auto slow = loom::media::groupNearDuplicatesAllPairs(subset, d);
  const double slowSeconds = seconds(t0);
  const bool same = loom::media::groupNearDuplicates(subset, d) == slow;
  const double pairsRatio = (static_cast<double>(n) * (n - 1)) / (static_cast<double>(m) * (m - 1));
  const double slowAtN = slowSeconds * pairsRatio;

  std::printf(
      "{\"hashes\": %lld, \"planted_copies\": %lld, \"max_distance\": %d, \"groups\": %zu, \"blocks\": %d, "
      "\"radius\": %d, \"comparisons\": %lld, \"multi_index_s\": %.4f, \"multi_index_runs\": %lld, \"all_pairs_hashes\": %zu, "
      "\"all_pairs_s\": %.3f, \"all_pairs_at_n_s\": %.3f, \"extrapolated\": %s, \"same_groups\": %s, "
      "\"ratio\": %.1f}\n",
      static_cast<long long>(n), static_cast<long long>(planted), d, groups.size(), stats.blocks, stats.radius,
      static_cast<long long>(stats.comparisons), fastSeconds, static_cast<long long>(times.size()), m, slowSeconds, slowAtN, m < static_cast<size_t>(n) ? "true" : "false",
      same ? "true" : "false", slowAtN / fastSeconds);
  return same ? 0 : 1;
}

#pragma once
// Client-side rate limiting for one provider: configured requests- and tokens-per-minute limits
// (token buckets whose burst plus refill never pass the limit within any minute, since providers
// count in short or sliding windows) combined with what the provider's own headers say is left:
//   OpenAI     x-ratelimit-remaining-requests / -tokens, x-ratelimit-reset-requests / -tokens ("6m0s")
//   Anthropic  anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{remaining,reset} (RFC 3339)
//   both       retry-after (seconds or HTTP date) and retry-after-ms on 429/503/529
// Not thread-safe: owned by one HttpCaller.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace loom::inference {

using Clock = std::chrono::steady_clock;
using Headers = std::map<std::string, std::string>;  // lower-case names

class RateLimiter {
 public:
  RateLimiter(double rpm = 0, double tpm = 0);  // 0: no configured limit

  // True when a request of `tokens` (estimated) may be sent at `now`, and takes it; otherwise false
  // with `wake` set to when to try again.
  bool tryAcquire(Clock::time_point now, int64_t tokens, Clock::time_point& wake);
  // Corrects the token bucket once the provider reported the real count.
  void settleTokens(int64_t estimated, int64_t actual);
  // Reads the provider's rate-limit headers from a response.
  void observe(const Headers& headers, Clock::time_point now);
  // Nothing is sent before `until` (after a 429 with Retry-After).
  void pauseUntil(Clock::time_point until);
  std::optional<Clock::time_point> pausedUntil() const;

 private:
  struct Bucket {
    double perSecond = 0, capacity = 0, level = 0;
    Clock::time_point refilled{};
    void refill(Clock::time_point now);
  };
  struct Remaining {
    std::optional<int64_t> left;
    Clock::time_point reset{};
  };
  Bucket m_requests, m_tokens;
  Remaining m_headerRequests, m_headerTokens;
  Clock::time_point m_pausedUntil{};
};

// "1s", "6m0s", "120ms", "1h2m3.5s", "0.5" → duration; nullopt when unreadable.
std::optional<std::chrono::milliseconds> parseResetDuration(const std::string& text);
// The delay a Retry-After / retry-after-ms header asks for, if any.
std::optional<std::chrono::milliseconds> retryAfter(const Headers& headers);

}  // namespace loom::inference

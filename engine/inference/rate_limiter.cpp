#include "inference/rate_limiter.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>

namespace loom::inference {

using std::chrono::milliseconds;

namespace {

std::optional<int64_t> headerInt(const Headers& h, const std::string& name) {
  auto it = h.find(name);
  if (it == h.end()) return std::nullopt;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (end == it->second.c_str()) return std::nullopt;
  return static_cast<int64_t>(v);
}

// RFC 3339 / ISO 8601 UTC time ("2026-11-25T12:00:03Z", fractions allowed) → system time.
std::optional<std::chrono::system_clock::time_point> parseIsoTime(const std::string& s) {
  std::tm tm{};
  int y, mo, d, h, mi;
  double sec;
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%lf", &y, &mo, &d, &h, &mi, &sec) != 6) return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = 0;
  time_t t = timegm(&tm);
  return std::chrono::system_clock::from_time_t(t) + std::chrono::milliseconds(static_cast<int64_t>(sec * 1000));
}

Clock::time_point toSteady(std::chrono::system_clock::time_point t, Clock::time_point now) {
  auto delta = t - std::chrono::system_clock::now();
  return now + std::chrono::duration_cast<Clock::duration>(delta);
}

}  // namespace

std::optional<milliseconds> parseResetDuration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  double total = 0;
  size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    char* end = nullptr;
    double v = std::strtod(text.c_str() + i, &end);
    if (end == text.c_str() + i) return std::nullopt;
    i = static_cast<size_t>(end - text.c_str());
    std::string unit;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) unit += text[i++];
    if (unit.empty() || unit == "s")
      total += v;
    else if (unit == "ms")
      total += v / 1000;
    else if (unit == "m")
      total += v * 60;
    else if (unit == "h")
      total += v * 3600;
    else
      return std::nullopt;
    any = true;
  }
  if (!any) return std::nullopt;
  return milliseconds(static_cast<int64_t>(total * 1000 + 0.5));
}

std::optional<milliseconds> retryAfter(const Headers& h) {
  if (auto ms = headerInt(h, "retry-after-ms"); ms && *ms >= 0) return milliseconds(*ms);
  auto it = h.find("retry-after");
  if (it == h.end()) return std::nullopt;
  char* end = nullptr;
  double secs = std::strtod(it->second.c_str(), &end);
  if (end != it->second.c_str() && secs >= 0) return milliseconds(static_cast<int64_t>(secs * 1000));
  std::tm tm{};  // an HTTP date: "Wed, 25 Nov 2026 12:00:03 GMT"
  if (strptime(it->second.c_str(), "%a, %d %b %Y %H:%M:%S", &tm)) {
    auto when = std::chrono::system_clock::from_time_t(timegm(&tm));
    auto delta = std::chrono::duration_cast<milliseconds>(when - std::chrono::system_clock::now());
    return std::max(delta, milliseconds(0));
  }
  return std::nullopt;
}

void RateLimiter::Bucket::refill(Clock::time_point now) {
  if (perSecond <= 0) return;
  double secs = std::chrono::duration<double>(now - refilled).count();
  level = std::min(capacity, level + secs * perSecond);
  refilled = now;
}

RateLimiter::RateLimiter(double rpm, double tpm) {
  // A bucket holding a tenth of a second's worth, refilled so that the burst plus the refill over any
  // 60 seconds never passes the per-minute limit (a provider counting in a sliding minute sees ≤ limit).
  auto setUp = [now = Clock::now()](Bucket& b, double perMinute) {
    b.capacity = b.level = std::max(1.0, perMinute / 600.0);
    b.perSecond = std::max(perMinute - b.capacity, perMinute / 2) / 60.0;
    b.refilled = now;
  };
  if (rpm > 0) setUp(m_requests, rpm);
  if (tpm > 0) setUp(m_tokens, tpm);
}

bool RateLimiter::tryAcquire(Clock::time_point now, int64_t tokens, Clock::time_point& wake) {
  if (now < m_pausedUntil) {
    wake = m_pausedUntil;
    return false;
  }
  // What the provider said is left, until the window it named resets.
  for (Remaining* r : {&m_headerRequests, &m_headerTokens}) {
    if (r->left && now >= r->reset) r->left.reset();
  }
  if (m_headerRequests.left && *m_headerRequests.left <= 0) {
    wake = m_headerRequests.reset;
    return false;
  }
  if (m_headerTokens.left && *m_headerTokens.left < tokens) {
    wake = m_headerTokens.reset;
    return false;
  }
  m_requests.refill(now);
  m_tokens.refill(now);
  if (m_requests.perSecond > 0 && m_requests.level < 1.0) {
    wake = now + std::chrono::duration_cast<Clock::duration>(
                     std::chrono::duration<double>((1.0 - m_requests.level) / m_requests.perSecond));
    return false;
  }
  // A request larger than the bucket may go once the bucket is full, or it would never go.
  double need = std::min(static_cast<double>(tokens), m_tokens.capacity);
  if (m_tokens.perSecond > 0 && m_tokens.level < need) {
    wake = now + std::chrono::duration_cast<Clock::duration>(
                     std::chrono::duration<double>((need - m_tokens.level) / m_tokens.perSecond));
    return false;
  }
  if (m_requests.perSecond > 0) m_requests.level -= 1.0;
  if (m_tokens.perSecond > 0) m_tokens.level -= static_cast<double>(tokens);
  if (m_headerRequests.left) --*m_headerRequests.left;
  if (m_headerTokens.left) *m_headerTokens.left -= tokens;
  return true;
}

void RateLimiter::settleTokens(int64_t estimated, int64_t actual) {
  if (m_tokens.perSecond > 0)
    m_tokens.level = std::min(m_tokens.capacity, m_tokens.level + static_cast<double>(estimated - actual));
}

void RateLimiter::observe(const Headers& h, Clock::time_point now) {
  auto take = [&](Remaining& r, const char* remainingName, const char* resetName, bool iso) {
    auto left = headerInt(h, remainingName);
    if (!left) return;
    auto it = h.find(resetName);
    Clock::time_point reset = now + std::chrono::seconds(1);
    if (it != h.end()) {
      if (iso) {
        if (auto t = parseIsoTime(it->second)) reset = toSteady(*t, now);
      } else if (auto d = parseResetDuration(it->second)) {
        reset = now + *d;
      }
    }
    r.left = *left;
    r.reset = std::max(reset, now);
  };
  take(m_headerRequests, "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", false);
  take(m_headerTokens, "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens", false);
  take(m_headerRequests, "anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset", true);
  take(m_headerTokens, "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset", true);
  // Newer Anthropic accounts report input and output token limits apart; the input one binds first.
  take(m_headerTokens, "anthropic-ratelimit-input-tokens-remaining", "anthropic-ratelimit-input-tokens-reset", true);
}

void RateLimiter::pauseUntil(Clock::time_point until) { m_pausedUntil = std::max(m_pausedUntil, until); }

std::optional<Clock::time_point> RateLimiter::pausedUntil() const {
  if (m_pausedUntil <= Clock::now()) return std::nullopt;
  return m_pausedUntil;
}

}  // namespace loom::inference

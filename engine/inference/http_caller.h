#pragma once
// Sends model-API calls concurrently through one curl multi handle: connections are reused between
// calls and batches (HTTP/2 multiplexing where the server offers it), at most `concurrency` calls are
// in flight, the RateLimiter decides when the next may start, and failures that are worth another try
// (408, 409, 429, 5xx, 529, connection errors, timeouts, truncated bodies) are retried with exponential
// backoff and full jitter, honouring Retry-After, up to `maxAttempts`. A budget (Spend) is checked
// before each call is sent. Runs on the calling thread; not thread-safe.

#include <curl/curl.h>

#include <functional>
#include <string>
#include <vector>

#include "core/feedback.h"
#include "inference/rate_limiter.h"
#include "inference/spend.h"

namespace loom::inference {

struct CallerOptions {
  int concurrency = 16;
  double rpm = 0, tpm = 0;      // configured limits; 0: only the provider's headers
  int maxAttempts = 4;
  double retryBaseSeconds = 0.5;  // first backoff; doubles per attempt, capped at 30 s
  double timeoutSeconds = 120;    // per attempt
};

struct Call {
  std::string url;
  std::vector<std::string> headers;  // with the credential: never logged or stored
  std::string body;
  int64_t estimatedTokens = 0;    // for the tokens-per-minute limit
  double reserveUsd = 0;          // worst-case cost, reserved against the budget before sending
};

struct CallOutcome {
  long status = 0;               // HTTP status of the last attempt, 0 when none arrived
  std::string body;              // body of the last attempt
  Headers headers;               // of the last attempt
  std::string transportError;    // set when the last attempt got no complete answer
  int attempts = 0;
  double latencyMs = 0;          // first send to final answer, retries included
  bool ok() const { return transportError.empty() && status >= 200 && status < 300; }
};

class HttpCaller {
 public:
  HttpCaller(const CallerOptions& options, core::Feedback& feedback, Spend* spend, std::string what);
  ~HttpCaller();
  HttpCaller(const HttpCaller&) = delete;
  HttpCaller& operator=(const HttpCaller&) = delete;

  // Sends every call; `done(i, outcome)` runs on this thread as call i ends for good and returns the
  // call's real cost (settled against the budget). Returns when all calls ended. Throws
  // RunError(Budget) once in-flight calls have ended if the budget stopped a call from being sent
  // (those calls get no `done`), RunError(Cancelled) when the feedback is cancelled.
  void run(const std::vector<Call>& calls, const std::function<double(size_t, CallOutcome&)>& done);

  int64_t retries() const { return m_retries; }

 private:
  CallerOptions m_options;
  core::Feedback& m_feedback;
  Spend* m_spend;
  std::string m_what;  // "node 'describe' (openai gpt-4o-mini)" for messages
  RateLimiter m_limiter;
  CURLM* m_multi = nullptr;
  int64_t m_retries = 0;
};

}  // namespace loom::inference

#include "inference/http_caller.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <deque>
#include <map>
#include <queue>
#include <random>

#include "core/result.h"
#include "storage/http_client.h"
#include "storage/net_guard.h"

namespace loom::inference {

using core::ErrorKind;
using core::RunError;

namespace {

struct Transfer {
  size_t index = 0;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
  Headers responseHeaders;
  char errbuf[CURL_ERROR_SIZE] = {0};
  storage::net::Guard guard;  // which addresses the model server may be at (loopback yes, private no)
  ~Transfer() {
    if (headers) curl_slist_free_all(headers);
    if (easy) curl_easy_cleanup(easy);
  }
};

size_t onBody(char* data, size_t size, size_t n, void* user) {
  static_cast<Transfer*>(user)->body.append(data, size * n);
  return size * n;
}

size_t onHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    t->responseHeaders.clear();  // a new response (after 100 Continue or a redirect)
    return size * n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
  t->responseHeaders[name] = std::string(value);
  return size * n;
}

bool retryableStatus(long s) { return s == 408 || s == 409 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504 || s == 529; }

struct State {
  int attempts = 0;
  Clock::time_point firstSent{};
  bool started = false;
};

}  // namespace

HttpCaller::HttpCaller(const CallerOptions& options, core::Feedback& feedback, Spend* spend, std::string what)
    : m_options(options), m_feedback(feedback), m_spend(spend), m_what(std::move(what)),
      m_limiter(options.rpm, options.tpm) {
  // libcurl's global setup is not thread-safe: once per process, before the first handle.
  static std::once_flag curlReady;
  std::call_once(curlReady, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  m_multi = curl_multi_init();
  curl_multi_setopt(m_multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(m_multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(std::max(1, m_options.concurrency)));
  curl_multi_setopt(m_multi, CURLMOPT_MAX_CONCURRENT_STREAMS, static_cast<long>(std::max(1, m_options.concurrency)));
}

HttpCaller::~HttpCaller() {
  if (m_multi) curl_multi_cleanup(m_multi);
}

void HttpCaller::run(const std::vector<Call>& calls, const std::function<double(size_t, CallOutcome&)>& done) {
  std::vector<State> state(calls.size());
  std::deque<size_t> ready;
  for (size_t i = 0; i < calls.size(); ++i) ready.push_back(i);
  using Due = std::pair<Clock::time_point, size_t>;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> waiting;  // retries, by when they are due
  std::vector<std::unique_ptr<Transfer>> inflight;
  std::mt19937_64 rng(std::random_device{}());
  bool budgetStop = false;
  size_t finished = 0;

  // Whatever happens (cancel, an exception from `done`), no transfer outlives this call.
  struct Cleanup {
    CURLM* multi;
    std::vector<std::unique_ptr<Transfer>>& list;
    ~Cleanup() {
      for (auto& t : list) curl_multi_remove_handle(multi, t->easy);
      list.clear();
    }
  } cleanup{m_multi, inflight};

  // Behind a proxy the open-socket check sees only the proxy: the model server's own addresses are
  // checked here, once per URL, and calls to a refused server end at once with the reason.
  {
    std::map<std::string, std::string> refusedUrls;
    std::deque<size_t> allowed;
    for (size_t i : ready) {
      auto [it, fresh] = refusedUrls.try_emplace(calls[i].url);
      if (fresh) it->second = storage::net::checkBeforeProxy(storage::net::Purpose::ModelServer, calls[i].url);
      if (it->second.empty()) {
        allowed.push_back(i);
        continue;
      }
      CallOutcome out;
      out.transportError = it->second;
      out.attempts = 0;
      ++finished;
      double actual = done(i, out);
      if (m_spend) m_spend->settle(0, actual);
    }
    ready = std::move(allowed);
  }

  auto start = [&](size_t i) {
    auto t = std::make_unique<Transfer>();
    t->index = i;
    t->easy = curl_easy_init();
    if (!t->easy) throw RunError(ErrorKind::Internal, "curl_easy_init failed");
    for (const auto& h : calls[i].headers) t->headers = curl_slist_append(t->headers, h.c_str());
    t->headers = curl_slist_append(t->headers, "Expect:");
    CURL* e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, calls[i].url.c_str());
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, calls[i].body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(calls[i].body.size()));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &onBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &onHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 15000L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(m_options.timeoutSeconds * 1000));
    curl_easy_setopt(e, CURLOPT_USERAGENT, "loom/" LOOM_VERSION);
    storage::http::applyTransportRules(e);
    t->guard.purpose = storage::net::Purpose::ModelServer;
    t->guard.easy = e;
    t->guard.url = calls[i].url;
    storage::net::install(t->guard);
    auto& st = state[i];
    if (!st.started) {
      st.started = true;
      st.firstSent = Clock::now();
    }
    ++st.attempts;
    curl_multi_add_handle(m_multi, e);
    inflight.push_back(std::move(t));
  };

  while (finished < calls.size()) {
    if (m_feedback.isCancelled())
      throw RunError(ErrorKind::Cancelled, "cancelled while calling the model in " + m_what);
    auto now = Clock::now();
    while (!waiting.empty() && waiting.top().first <= now) {
      ready.push_front(waiting.top().second);  // retries before calls never sent
      waiting.pop();
    }
    Clock::time_point wake = now + std::chrono::milliseconds(200);
    while (!budgetStop && !ready.empty() && static_cast<int>(inflight.size()) < m_options.concurrency) {
      size_t i = ready.front();
      Clock::time_point limiterWake;
      if (!m_limiter.tryAcquire(now, calls[i].estimatedTokens, limiterWake)) {
        wake = std::min(wake, limiterWake);
        break;
      }
      // A retry keeps the reservation its first attempt made.
      if (!state[i].started && m_spend && !m_spend->reserve(calls[i].reserveUsd)) {
        budgetStop = true;
        break;
      }
      ready.pop_front();
      start(i);
    }
    if (inflight.empty()) {
      if (budgetStop || (ready.empty() && waiting.empty())) break;
    }
    if (!waiting.empty()) wake = std::min(wake, waiting.top().first);
    auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(wake - Clock::now()).count();
    timeout = std::clamp<long long>(timeout, 0, 200);
    int running = 0;
    curl_multi_perform(m_multi, &running);
    curl_multi_poll(m_multi, nullptr, 0, static_cast<int>(timeout), nullptr);
    curl_multi_perform(m_multi, &running);

    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(m_multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      auto it = std::find_if(inflight.begin(), inflight.end(), [&](const auto& t) { return t->easy == msg->easy_handle; });
      if (it == inflight.end()) continue;
      std::unique_ptr<Transfer> t = std::move(*it);
      inflight.erase(it);
      curl_multi_remove_handle(m_multi, t->easy);
      const size_t i = t->index;
      CURLcode code = msg->data.result;
      long status = 0;
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
      auto at = Clock::now();
      m_limiter.observe(t->responseHeaders, at);
      auto ra = retryAfter(t->responseHeaders);
      if (ra && (status == 429 || status == 503 || status == 529)) m_limiter.pauseUntil(at + *ra);
      bool transport = code != CURLE_OK;
      // A disallowed address or an untrusted certificate: asking again cannot help.
      const std::string tls = transport ? storage::http::tlsFailure(code, t->errbuf[0] ? t->errbuf : curl_easy_strerror(code)) : "";
      const bool refused = !t->guard.refused.empty() || !tls.empty();
      bool retry = !refused && (transport || retryableStatus(status)) && state[i].attempts < m_options.maxAttempts;
      if (retry) {
        ++m_retries;
        double cap = std::min(30.0, m_options.retryBaseSeconds * std::pow(2.0, state[i].attempts - 1));
        double delay = std::uniform_real_distribution<double>(0.0, cap)(rng);  // full jitter
        auto due = at + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay));
        if (ra) due = std::max(due, at + std::chrono::duration_cast<Clock::duration>(*ra));
        waiting.push({due, i});
        continue;
      }
      CallOutcome out;
      out.status = transport ? 0 : status;
      out.body = std::move(t->body);
      out.headers = std::move(t->responseHeaders);
      if (transport) {
        out.transportError = !t->guard.refused.empty() ? t->guard.refused
                             : !tls.empty()            ? tls
                             : t->errbuf[0]            ? t->errbuf
                                                       : curl_easy_strerror(code);
      }
      out.attempts = state[i].attempts;
      out.latencyMs = std::chrono::duration<double, std::milli>(at - state[i].firstSent).count();
      ++finished;
      double actual = done(i, out);
      if (m_spend) m_spend->settle(calls[i].reserveUsd, actual);
    }
  }
  if (budgetStop) {
    char spent[64];
    std::snprintf(spent, sizeof spent, "%.4f", m_spend ? m_spend->spent() : 0.0);
    char budget[64];
    std::snprintf(budget, sizeof budget, "%.4f", m_spend && m_spend->budget() ? *m_spend->budget() : 0.0);
    throw RunError(ErrorKind::Budget, "budget of $" + std::string(budget) + " reached in " + m_what + " after $" + spent +
                                          " was spent: the next call could cost more than is left. Answers already "
                                          "paid for are kept; run again with a larger --budget-usd to go on");
  }
}

}  // namespace loom::inference

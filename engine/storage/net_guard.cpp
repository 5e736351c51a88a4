#include "storage/net_guard.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

namespace loom::storage::net {

namespace {

std::string lowerTrimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool inRange(std::span<const uint8_t> a, std::span<const uint8_t> net, int prefix) {
  if (a.size() != net.size() || prefix < 0 || static_cast<size_t>(prefix) > a.size() * 8) return false;
  for (int bit = 0; bit < prefix; ++bit) {
    const uint8_t mask = static_cast<uint8_t>(0x80u >> (bit % 8));
    if ((a[bit / 8] & mask) != (net[bit / 8] & mask)) return false;
  }
  return true;
}

bool v4In(std::span<const uint8_t> a, uint8_t b0, uint8_t b1, int prefix) {
  const uint8_t net[4] = {b0, b1, 0, 0};
  return inRange(a, net, prefix);
}

AddressKind classifyV4(std::span<const uint8_t> a) {
  if (a[0] == 127) return AddressKind::Loopback;
  if (a[0] == 10 || v4In(a, 172, 16, 12) || v4In(a, 192, 168, 16) || v4In(a, 100, 64, 10) || v4In(a, 198, 18, 15)) {
    return AddressKind::Private;
  }
  if (v4In(a, 169, 254, 16)) return AddressKind::LinkLocal;
  // 0.0.0.0/8 (on Linux 0.0.0.0 reaches this machine), IETF assignments, documentation ranges,
  // multicast, reserved and broadcast.
  if (a[0] == 0 || (a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2)) || (a[0] == 198 && a[1] == 51 && a[2] == 100) ||
      (a[0] == 203 && a[1] == 0 && a[2] == 113) || a[0] >= 224) {
    return AddressKind::Reserved;
  }
  return AddressKind::Public;
}

std::string envValue(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// Whether libcurl will send `url` through a proxy taken from the environment (its own rules:
// http_proxy in lower case only, https_proxy/HTTPS_PROXY, all_proxy/ALL_PROXY, minus no_proxy).
bool proxyCarries(const std::string& url, const std::string& host) {
  const bool https = url.rfind("https://", 0) == 0;
  std::string proxy = https ? envValue("https_proxy") : envValue("http_proxy");
  if (proxy.empty() && https) proxy = envValue("HTTPS_PROXY");
  if (proxy.empty()) proxy = envValue("all_proxy");
  if (proxy.empty()) proxy = envValue("ALL_PROXY");
  if (proxy.empty()) return false;
  std::string noProxy = envValue("no_proxy");
  if (noProxy.empty()) noProxy = envValue("NO_PROXY");
  size_t pos = 0;
  while (pos <= noProxy.size()) {
    size_t comma = noProxy.find(',', pos);
    if (comma == std::string::npos) comma = noProxy.size();
    std::string e = lowerTrimmed(std::string_view(noProxy).substr(pos, comma - pos));
    pos = comma + 1;
    if (e.empty()) continue;
    if (e == "*") return false;
    if (e.front() == '.') e.erase(0, 1);
    if (host == e || (host.size() > e.size() && host.compare(host.size() - e.size(), e.size(), e) == 0 &&
                      host[host.size() - e.size() - 1] == '.')) {
      return false;
    }
  }
  return true;
}

std::vector<uint8_t> sockaddrBytes(const sockaddr* sa, long& port) {
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    port = ntohs(in->sin_port);
    const auto* b = reinterpret_cast<const uint8_t*>(&in->sin_addr);
    return {b, b + 4};
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    port = ntohs(in6->sin6_port);
    const auto* b = reinterpret_cast<const uint8_t*>(&in6->sin6_addr);
    return {b, b + 16};
  }
  return {};
}

curl_socket_t openSocket(void* clientp, curlsocktype kind, curl_sockaddr* address) {
  auto* guard = static_cast<Guard*>(clientp);
  if (kind == CURLSOCKTYPE_IPCXN && guard->purpose != Purpose::Configured) {
    std::string url = guard->url;
    char* effective = nullptr;
    if (guard->easy && curl_easy_getinfo(static_cast<CURL*>(guard->easy), CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK &&
        effective && *effective) {
      url = effective;
    }
    const auto hostPort = urlHostPort(url);
    if (!hostPort) {
      guard->refused = "refused to connect: the URL cannot be read";
      return CURL_SOCKET_BAD;
    }
    const auto& [host, urlPort] = *hostPort;
    // Through a proxy the connection goes to the proxy (the person's own configuration); the target
    // was checked by checkBeforeProxy.
    if (!proxyCarries(url, host)) {
      long port = 0;
      const auto bytes = sockaddrBytes(&address->addr, port);
      std::string why = bytes.empty() ? std::string("refused to connect: not an IP address")
                                      : refusal(guard->purpose, host, urlPort, bytes);
      if (!why.empty()) {
        guard->refused = std::move(why);
        return CURL_SOCKET_BAD;
      }
    }
  }
  return socket(address->family, address->socktype, address->protocol);
}

}  // namespace

std::optional<std::pair<std::string, long>> urlHostPort(const std::string& url) {
  CURLU* u = curl_url();
  if (!u) return std::nullopt;
  std::optional<std::pair<std::string, long>> out;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    char* h = nullptr;
    char* p = nullptr;
    if (curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && h) {
      std::string host = lowerTrimmed(h);
      if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
      if (const size_t zone = host.find('%'); zone != std::string::npos) host.resize(zone);
      long port = 0;
      if (curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK && p) port = std::strtol(p, nullptr, 10);
      out = std::make_pair(std::move(host), port);
    }
    curl_free(h);
    curl_free(p);
  }
  curl_url_cleanup(u);
  return out;
}

const char* kindName(AddressKind kind) {
  switch (kind) {
    case AddressKind::Public: return "public";
    case AddressKind::Loopback: return "loopback";
    case AddressKind::Private: return "private";
    case AddressKind::LinkLocal: return "link-local";
    case AddressKind::Reserved: return "reserved";
  }
  return "reserved";
}

AddressKind classify(std::span<const uint8_t> a) {
  if (a.size() == 4) return classifyV4(a);
  if (a.size() != 16) return AddressKind::Reserved;
  static constexpr uint8_t zero[16] = {};
  const bool first10Zero = std::memcmp(a.data(), zero, 10) == 0;
  if (first10Zero && a[10] == 0xff && a[11] == 0xff) return classifyV4(a.subspan(12, 4));  // ::ffff:a.b.c.d
  if (first10Zero && a[10] == 0 && a[11] == 0) {
    if (std::memcmp(a.data() + 12, zero, 3) == 0 && a[15] <= 1) {
      return a[15] == 1 ? AddressKind::Loopback : AddressKind::Reserved;  // ::1 and ::
    }
    return classifyV4(a.subspan(12, 4));  // ::a.b.c.d (IPv4-compatible, deprecated but routable by some stacks)
  }
  static constexpr uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(a.data(), nat64, 12) == 0) return classifyV4(a.subspan(12, 4));
  if (a[0] == 0x20 && a[1] == 0x02) return classifyV4(a.subspan(2, 4));  // 6to4
  if (a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && a[4] == 0 && a[5] == 1) return AddressKind::Private;
  if ((a[0] & 0xfe) == 0xfc) return AddressKind::Private;                     // fc00::/7 unique local (fd00:ec2::254 too)
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return AddressKind::LinkLocal;   // fe80::/10
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) return AddressKind::Private;     // fec0::/10 site-local
  if (a[0] == 0xff) return AddressKind::Reserved;                             // multicast
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) return AddressKind::Reserved;  // documentation
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0) return AddressKind::Reserved;        // Teredo
  if (a[0] == 0x01 && a[1] == 0 && std::memcmp(a.data() + 2, zero, 6) == 0) return AddressKind::Reserved;  // discard
  if (first10Zero) return AddressKind::Reserved;
  return AddressKind::Public;
}

std::optional<std::vector<uint8_t>> parseAddress(std::string_view hostView) {
  std::string host(hostView);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (const size_t zone = host.find('%'); zone != std::string::npos) host.resize(zone);
  if (host.find(':') != std::string::npos) {
    in6_addr a6{};
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) return std::nullopt;
    const auto* b = reinterpret_cast<const uint8_t*>(&a6);
    return std::vector<uint8_t>(b, b + 16);
  }
  // inet_aton reads every spelling the C library (and so a resolver) accepts: 127.1, 2852039166,
  // 0x7f.0.0.1, 0177.0.0.1.
  in_addr a4{};
  if (host.empty() || inet_aton(host.c_str(), &a4) == 0) return std::nullopt;
  const auto* b = reinterpret_cast<const uint8_t*>(&a4);
  return std::vector<uint8_t>(b, b + 4);
}

std::string addressText(std::span<const uint8_t> address) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (address.size() == 4) inet_ntop(AF_INET, address.data(), buf, sizeof buf);
  if (address.size() == 16) inet_ntop(AF_INET6, address.data(), buf, sizeof buf);
  return buf;
}

HostList HostList::parse(std::string_view list) {
  HostList out;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    std::string e = lowerTrimmed(list.substr(pos, comma - pos));
    pos = comma + 1;
    if (e.empty()) continue;
    if (e == "*") {
      out.m_all = true;
      continue;
    }
    Entry entry;
    if (const size_t slash = e.find('/'); slash != std::string::npos) {
      auto net = parseAddress(e.substr(0, slash));
      char* end = nullptr;
      const long prefix = std::strtol(e.c_str() + slash + 1, &end, 10);
      if (!net || end == e.c_str() + slash + 1 || *end || prefix < 0 || static_cast<size_t>(prefix) > net->size() * 8) continue;
      entry.net = std::move(*net);
      entry.prefix = static_cast<int>(prefix);
      out.m_entries.push_back(std::move(entry));
      continue;
    }
    // host:port, [v6]:port; a bare IPv6 address has several colons and no port.
    if (e.front() == '[') {
      const size_t close = e.find(']');
      if (close == std::string::npos) continue;
      if (close + 1 < e.size() && e[close + 1] == ':') entry.port = std::strtol(e.c_str() + close + 2, nullptr, 10);
      e = e.substr(1, close - 1);
    } else if (std::count(e.begin(), e.end(), ':') == 1) {
      const size_t colon = e.find(':');
      entry.port = std::strtol(e.c_str() + colon + 1, nullptr, 10);
      e.resize(colon);
    }
    if (auto a = parseAddress(e); a && e.rfind("*.", 0) != 0) {
      entry.net = std::move(*a);
      entry.prefix = static_cast<int>(entry.net.size() * 8);
    } else {
      entry.host = e;
    }
    out.m_entries.push_back(std::move(entry));
  }
  return out;
}

bool HostList::matchesHost(std::string_view host, long port) const {
  if (m_all) return true;
  if (auto literal = parseAddress(host); literal && matchesAddress(*literal, port)) return true;
  for (const auto& e : m_entries) {
    if (e.host.empty() || (e.port != 0 && e.port != port)) continue;
    if (e.host.rfind("*.", 0) == 0) {
      const std::string_view suffix = std::string_view(e.host).substr(1);  // ".example.com"
      if (host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix) return true;
    } else if (host == e.host) {
      return true;
    }
  }
  return false;
}

bool HostList::matchesAddress(std::span<const uint8_t> address, long port) const {
  if (m_all) return true;
  for (const auto& e : m_entries) {
    if (e.prefix < 0 || (e.port != 0 && e.port != port)) continue;
    if (inRange(address, e.net, e.prefix)) return true;
  }
  return false;
}

HostList allowedPrivateHosts() { return HostList::parse(envValue("LOOM_ALLOW_PRIVATE_HOSTS")); }

std::string refusal(Purpose purpose, std::string_view host, long port, std::span<const uint8_t> address) {
  if (purpose == Purpose::Configured) return {};
  const AddressKind kind = classify(address);
  if (kind == AddressKind::Public) return {};
  if (kind == AddressKind::Loopback && purpose == Purpose::ModelServer) return {};
  const HostList allowed = allowedPrivateHosts();
  if (allowed.matchesHost(host, port) || allowed.matchesAddress(address, port)) return {};
  const std::string shownHost = host.find(':') != std::string_view::npos ? "[" + std::string(host) + "]" : std::string(host);
  const std::string text = addressText(address);
  std::string why = "refused to connect to " + text;
  if (text != host) why += " (the address of " + std::string(host) + ")";
  why += ", a " + std::string(kindName(kind)) + " address";
  if (kind == AddressKind::LinkLocal) why += " (where cloud metadata services answer)";
  why += purpose == Purpose::ModelServer
             ? ": a model server named in a flow may be public or on this machine (loopback), not on the private network"
             : ": URLs from flows and URL lists may reach public addresses only";
  why += ". If you trust it, allow it with LOOM_ALLOW_PRIVATE_HOSTS=" + shownHost +
         (port ? ":" + std::to_string(port) : std::string()) + " (or in the desktop's settings)";
  return why;
}

void install(Guard& guard) {
  auto* e = static_cast<CURL*>(guard.easy);
  guard.refused.clear();
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &openSocket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &guard);
}

std::string checkBeforeProxy(Purpose purpose, const std::string& url) {
  if (purpose == Purpose::Configured) return {};
  const auto hostPort = urlHostPort(url);
  if (!hostPort || !proxyCarries(url, hostPort->first)) return {};
  const auto& [host, port] = *hostPort;
  if (auto literal = parseAddress(host)) return refusal(purpose, host, port, *literal);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  // A name this machine cannot resolve is left to the proxy, which may know names we do not (split
  // DNS); the proxy's own rules apply to it.
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return {};
  std::string why;
  for (addrinfo* a = found; a && why.empty(); a = a->ai_next) {
    long unused = 0;
    const auto bytes = sockaddrBytes(a->ai_addr, unused);
    if (!bytes.empty()) why = refusal(purpose, host, port, bytes);
  }
  freeaddrinfo(found);
  return why;
}

}  // namespace loom::storage::net

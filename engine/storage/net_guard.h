#pragma once
// Which network addresses a request may reach. Flows are data and may come from anyone, and so may
// the URL lists a flow reads: a URL in either must not turn Loom into a way to reach the person's
// private network or the cloud metadata service (169.254.169.254) — server-side request forgery.
//
// The check runs where the connection is made (libcurl's open-socket hook), on the address actually
// connected to, so every spelling of an address (decimal 2852039166, octal, IPv4-mapped IPv6), DNS
// names that resolve to private addresses, DNS rebinding and redirects are all covered. Behind an
// HTTP proxy (http_proxy/https_proxy/all_proxy), where the proxy resolves the name, the name is
// resolved here first and every address it has is checked.
//
// The person allows more with LOOM_ALLOW_PRIVATE_HOSTS (the desktop's settings write the same
// list): comma-separated host names (`minio.lan`), `host:port`, `*.domain`, IP addresses and CIDR
// ranges (`10.0.0.0/8`, `fd00::/8`), or `*` for everything.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loom::storage::net {

// Where a request's destination came from, which decides the addresses it may reach.
enum class Purpose {
  UrlSource,    // a URL from a flow or a URL list (http(s):// storage, storage.urls): public addresses only
  ModelServer,  // a model server a flow names (base_url): public addresses and loopback (local servers)
  Configured,   // an endpoint from the person's own configuration (S3/Azure endpoints): not checked
};

enum class AddressKind { Public, Loopback, Private, LinkLocal, Reserved };

// "loopback", "private", "link-local", "reserved" or "public".
const char* kindName(AddressKind kind);

// Classifies an IPv4 (4 bytes) or IPv6 (16 bytes) address in network byte order. IPv6 forms that
// carry an IPv4 address (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4
// 2002::/16) are classified by that address.
AddressKind classify(std::span<const uint8_t> address);

// The address of a numeric host as libcurl and the C library read it ("127.1", "2852039166",
// "0x7f.1", "[::1]", "::ffff:169.254.169.254"); nullopt for a name.
std::optional<std::vector<uint8_t>> parseAddress(std::string_view host);

// Host (lower case, IPv6 without brackets or zone, IPv4 numbers as libcurl normalises them) and
// port (the scheme's default when none is written) of a URL; nullopt when it is not one.
std::optional<std::pair<std::string, long>> urlHostPort(const std::string& url);

// "10.0.0.5" or "fd00::1" for an address of 4 or 16 bytes.
std::string addressText(std::span<const uint8_t> address);

// Entries of a host list: names (exact or `*.domain`), optional `:port`, IP addresses and CIDR ranges.
class HostList {
 public:
  static HostList parse(std::string_view list);
  // `host` as in the URL, lower case; a numeric host also matches address and range entries.
  bool matchesHost(std::string_view host, long port) const;
  bool matchesAddress(std::span<const uint8_t> address, long port) const;
  bool empty() const { return m_entries.empty() && !m_all; }

 private:
  struct Entry {
    std::string host;        // lower case; "*.example.com" matches subdomains; empty for a range
    std::vector<uint8_t> net;  // a range's address (4 or 16 bytes)
    int prefix = -1;         // range prefix length; -1 for a name
    long port = 0;           // 0: any port
  };
  std::vector<Entry> m_entries;
  bool m_all = false;
};

// The person's allowances from LOOM_ALLOW_PRIVATE_HOSTS (read anew each time: cheap, and tests
// change it).
HostList allowedPrivateHosts();

// Empty when a connection to `address`, resolved for the URL host `host`:`port`, is allowed for
// `purpose`; otherwise why not and what to do, fit for an error message.
std::string refusal(Purpose purpose, std::string_view host, long port, std::span<const uint8_t> address);

// Ties the check to a libcurl easy handle: every connection libcurl opens for it, redirects
// included, is checked against `purpose` for the URL being fetched. The refusal reason, if any,
// lands in `refused`; the transfer then fails with CURLE_COULDNT_CONNECT, which the caller should
// report with `refused` and not retry. The Guard must outlive the transfer.
struct Guard {
  Purpose purpose = Purpose::UrlSource;
  void* easy = nullptr;  // CURL*
  std::string url;       // the URL asked for (redirect targets are read from the handle)
  std::string refused;   // why the last connection was refused; empty when none was
};
void install(Guard& guard);

// When an HTTP proxy will carry `url` (the proxy resolves names, so the open-socket check sees only
// the proxy), resolves the URL's host here and checks each of its addresses. Empty when allowed or
// no proxy is in use; otherwise the refusal.
std::string checkBeforeProxy(Purpose purpose, const std::string& url);

}  // namespace loom::storage::net

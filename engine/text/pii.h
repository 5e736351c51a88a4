#pragma once
// Personal data in text: hand-written scanners (linear in the text, no regex backtracking) for e-mail
// addresses, phone numbers, payment card numbers, IBANs, IP and MAC addresses, US social security
// numbers and a user's deny-list. Used by pii.detect and pii.redact. Pure functions, thread-safe.
//
// Confidence (0-1) says how sure a finding is:
//   0.95  checksum-validated: a card number passing Luhn with a known issuer prefix; an IBAN of its
//         country's length passing mod-97
//   0.9   a deny-list term, matched as a whole word
//   0.85  strict structure: an e-mail address (name@domain.tld)
//   0.7   structure that other text can share: IPv4 (four octets 0-255; version numbers such as
//         "1.2.3.4" are found too unless "v", "version", "release" or "build" precedes them), IPv6,
//         MAC addresses, international phone numbers (+ and 8-15 digits)
//   0.6   pattern and range rules without a checksum: US SSNs (AAA-GG-SSSS, never-issued ranges
//         refused), North-American phone numbers written (NXX) NXX-XXXX, NXX-NXX-XXXX or NXX.NXX.XXXX

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loom::text {

enum class PiiType { Email, Phone, CreditCard, Iban, Ipv4, Ipv6, Mac, UsSsn, DenyList };
constexpr int kPiiTypeCount = 9;

const char* piiTypeName(PiiType t);  // "email", "phone", "credit_card", "iban", "ipv4", "ipv6", "mac", "us_ssn", "deny_list"
std::optional<PiiType> piiTypeFromName(std::string_view name);
std::string piiTypeNames();  // every name, comma-separated, for messages

struct PiiFinding {
  PiiType type;
  size_t start = 0, end = 0;  // bytes of the UTF-8 text
  double confidence = 0;
};

struct PiiOptions {
  bool enabled[kPiiTypeCount] = {true, true, true, true, true, true, true, true, true};
  std::vector<std::string> denyTerms;  // matched case-insensitively as whole words
  double minConfidence = 0;
};

// Findings in `text`, ordered by start and never overlapping (of two that overlap, one inside the
// other gives the outer one; otherwise the more confident one stays, then the longer).
std::vector<PiiFinding> findPii(std::string_view text, const PiiOptions& options);

// The finding's value in a canonical form, so that equal values written differently hash alike:
// e-mail and deny-list terms lower-cased, card/phone/SSN digits only (a phone keeps its '+'), IBAN
// upper-case without spaces, MAC lower-case hex without separators, IPs lower-case as written.
std::string piiCanonical(PiiType type, std::string_view value);

// A preview that does not give the value away: first character, "***", last two characters (only
// "***" for values shorter than 8 bytes).
std::string piiPreview(std::string_view value);

// Lower-cases ASCII, Latin-1, Greek and Cyrillic letters in UTF-8 without changing byte offsets.
std::string foldCaseUtf8(std::string_view s);

}  // namespace loom::text

// Personal-data scanners (see pii.h). Each scanner walks the text once; candidates are checked
// against the format's own rules (checksums, ranges, country lengths) before they count.

#include "text/pii.h"

#include <algorithm>
#include <cstring>

#include "text/encoding.h"

namespace loom::text {

namespace {

constexpr const char* kNames[kPiiTypeCount] = {"email", "phone", "credit_card", "iban", "ipv4",
                                               "ipv6",  "mac",   "us_ssn",      "deny_list"};

bool digit(char c) { return c >= '0' && c <= '9'; }
bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool upper(char c) { return c >= 'A' && c <= 'Z'; }
bool alnum(char c) { return digit(c) || alpha(c); }
bool hex(char c) { return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
// Part of a word: ASCII letters and digits, '_', and any byte of a non-ASCII character.
bool wordByte(char c) { return alnum(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80; }

struct Scan {
  std::string_view t;
  std::vector<PiiFinding>& out;
  char at(size_t i) const { return i < t.size() ? t[i] : '\0'; }
  char before(size_t i) const { return i > 0 ? t[i - 1] : '\0'; }
  void add(PiiType type, size_t s, size_t e, double c) { out.push_back({type, s, e, c}); }
};

// --- e-mail -------------------------------------------------------------------------------------

bool localChar(char c) { return alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; }

void scanEmail(Scan& s) {
  const auto& t = s.t;
  for (size_t a = t.find('@'); a != std::string_view::npos; a = t.find('@', a + 1)) {
    size_t k = a;
    while (k > 0 && localChar(t[k - 1]) && a - k < 64) --k;
    while (k < a && (t[k] == '.' || t[k] == '-')) ++k;  // a name does not start with a dot
    if (k == a || (k > 0 && localChar(t[k - 1])) || t.substr(k, a - k).find("..") != std::string_view::npos) continue;
    size_t e = a + 1;
    while (e < t.size() && (alnum(t[e]) || t[e] == '.' || t[e] == '-')) ++e;
    while (e > a + 1 && (t[e - 1] == '.' || t[e - 1] == '-')) --e;  // the sentence's full stop
    std::string_view domain = t.substr(a + 1, e - a - 1);
    if (domain.empty() || domain.size() > 253) continue;
    bool ok = true;
    size_t labels = 0, lastStart = 0;
    for (size_t p = 0; p <= domain.size(); ++p) {
      if (p < domain.size() && domain[p] != '.') continue;
      std::string_view label = domain.substr(lastStart, p - lastStart);
      ok = ok && !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-';
      ++labels;
      if (p == domain.size()) {
        ok = ok && label.size() >= 2 && std::all_of(label.begin(), label.end(), alpha);
      }
      lastStart = p + 1;
    }
    if (!ok || labels < 2 || wordByte(s.at(e))) continue;
    s.add(PiiType::Email, k, e, 0.85);
  }
}

// --- phone numbers ------------------------------------------------------------------------------

void scanPhone(Scan& s) {
  const auto& t = s.t;
  // International: '+', a country code, 8-15 digits in all, single separators (space - . ( )).
  for (size_t p = t.find('+'); p != std::string_view::npos; p = t.find('+', p + 1)) {
    if (wordByte(s.before(p)) || s.before(p) == '+' || !digit(s.at(p + 1)) || s.at(p + 1) == '0') continue;
    size_t e = p + 1, digits = 0, lastDigit = p;
    char prev = '+';
    while (e < t.size() && e - p < 26) {
      const char c = t[e];
      if (digit(c)) {
        ++digits;
        lastDigit = e;
      } else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') {
        const bool pairOk = (prev == ')' && c == ' ') || (prev == ' ' && c == '(') || (prev == '-' && c == '(') ||
                            (prev == ')' && c == '-');
        if (!digit(prev) && !pairOk) break;
      } else {
        break;
      }
      prev = c;
      ++e;
    }
    e = lastDigit + 1;
    if (digits < 8 || digits > 15 || wordByte(s.at(e)) || (s.at(e) == '.' && digit(s.at(e + 1)))) continue;
    s.add(PiiType::Phone, p, e, 0.7);
  }
  // North American: (NXX) NXX-XXXX, (NXX)NXX-XXXX, NXX-NXX-XXXX, NXX.NXX.XXXX, optionally 1- / 1 first.
  auto nxx = [&](size_t i) { return i + 3 <= t.size() && t[i] >= '2' && t[i] <= '9' && digit(t[i + 1]) && digit(t[i + 2]); };
  auto digitsAt = [&](size_t i, size_t n) {
    if (i + n > t.size()) return false;
    for (size_t k = 0; k < n; ++k)
      if (!digit(t[i + k])) return false;
    return true;
  };
  for (size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (!(digit(c) || c == '(')) continue;
    const char b = s.before(i);
    if (wordByte(b) || b == '+' || b == '-' || b == '.' || b == '/' || b == ')' ||
        (b == ' ' && i >= 2 && digit(t[i - 2])))
      continue;
    size_t p = i;
    if (t[p] == '1' && (s.at(p + 1) == '-' || s.at(p + 1) == ' ' || s.at(p + 1) == '.')) p += 2;
    size_t e = 0;
    if (s.at(p) == '(' && nxx(p + 1) && s.at(p + 4) == ')') {
      size_t q = p + 5;
      if (s.at(q) == ' ' || s.at(q) == '-') ++q;
      if (nxx(q) && s.at(q + 3) == '-' && digitsAt(q + 4, 4)) e = q + 8;
    } else if (nxx(p) && (s.at(p + 3) == '-' || s.at(p + 3) == '.')) {
      const char sep = t[p + 3];
      if (nxx(p + 4) && s.at(p + 7) == sep && digitsAt(p + 8, 4)) e = p + 12;
    }
    if (e == 0 || wordByte(s.at(e)) || ((s.at(e) == '-' || s.at(e) == '.') && digit(s.at(e + 1)))) continue;
    s.add(PiiType::Phone, i, e, 0.6);
    i = e - 1;
  }
}

// --- payment cards ------------------------------------------------------------------------------

bool luhn(const std::string& d) {
  int sum = 0;
  bool dbl = false;
  for (size_t k = d.size(); k-- > 0;) {
    int v = d[k] - '0';
    if (dbl && (v *= 2) > 9) v -= 9;
    sum += v;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

// Known issuer prefixes and their lengths: Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay, Maestro.
bool knownIssuer(const std::string& d) {
  auto pre = [&](size_t n) { return std::stoi(d.substr(0, n)); };
  const size_t len = d.size();
  if (d[0] == '4') return len == 13 || len == 16 || len == 19;
  const int p2 = pre(2), p3 = pre(3), p4 = pre(4), p6 = pre(6);
  if ((p2 >= 51 && p2 <= 55) || (p6 >= 222100 && p6 <= 272099)) return len == 16;
  if (p2 == 34 || p2 == 37) return len == 15;
  if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649) || (p6 >= 622126 && p6 <= 622925))
    return len >= 16 && len <= 19;
  if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) return len >= 14 && len <= 19;
  if (p4 >= 3528 && p4 <= 3589) return len >= 16 && len <= 19;
  if (p2 == 62) return len >= 16 && len <= 19;
  if (p2 == 50 || (p2 >= 56 && p2 <= 69)) return len >= 12 && len <= 19;
  return false;
}

void scanCards(Scan& s) {
  const auto& t = s.t;
  for (size_t i = 0; i < t.size(); ++i) {
    if (!digit(t[i]) || wordByte(s.before(i)) || ((s.before(i) == '-' || s.before(i) == '.') && digit(s.before(i - 1))))
      continue;
    std::string d;
    size_t e = i;
    char sep = 0;
    while (e < t.size() && d.size() <= 19) {
      if (digit(t[e])) {
        d += t[e++];
      } else if ((t[e] == ' ' || t[e] == '-') && (sep == 0 || sep == t[e]) && digit(s.at(e + 1)) && digit(t[e - 1])) {
        sep = t[e++];
      } else {
        break;
      }
    }
    const size_t runEnd = e;
    if (d.size() >= 13 && d.size() <= 19 && !wordByte(s.at(runEnd)) && luhn(d) && knownIssuer(d) &&
        d.find_first_not_of(d[0]) != std::string::npos) {
      s.add(PiiType::CreditCard, i, runEnd, 0.95);
    }
    // Skip the rest of this digit run: a card starts where a number starts.
    while (i + 1 < t.size() && (digit(t[i + 1]) || ((t[i + 1] == ' ' || t[i + 1] == '-') && digit(s.at(i + 2)))))
      ++i;
  }
}

// --- IBAN ---------------------------------------------------------------------------------------

struct IbanCountry {
  const char* code;
  int length;
};
constexpr IbanCountry kIban[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22}, {"BH", 22},
    {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"DO", 28},
    {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23},
    {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26},
    {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30},
    {"NL", 18}, {"NO", 15}, {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22},
    {"SA", 24}, {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"ST", 25}, {"SV", 28},
    {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}};

int ibanLength(std::string_view cc) {
  for (const auto& c : kIban)
    if (cc == c.code) return c.length;
  return 0;
}

bool mod97(const std::string& iban) {
  const std::string r = iban.substr(4) + iban.substr(0, 4);
  int m = 0;
  for (char c : r) {
    const int v = digit(c) ? c - '0' : c - 'A' + 10;
    m = v >= 10 ? (m * 100 + v) % 97 : (m * 10 + v) % 97;
  }
  return m == 1;
}

void scanIban(Scan& s) {
  const auto& t = s.t;
  for (size_t i = 0; i + 4 < t.size(); ++i) {
    // Letters of either case (the checksum guards against chance), converted to upper case for it.
    if (!alpha(t[i]) || !alpha(t[i + 1]) || !digit(t[i + 2]) || !digit(t[i + 3]) || wordByte(s.before(i))) continue;
    auto up = [](char c) { return static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c); };
    const int len = ibanLength(std::string{up(t[i]), up(t[i + 1])});
    if (len == 0) continue;
    std::string v{up(t[i]), up(t[i + 1]), t[i + 2], t[i + 3]};
    size_t e = i + 4;
    while (e < t.size() && static_cast<int>(v.size()) < len) {
      if (alnum(t[e])) {
        v += up(t[e++]);
      } else if (t[e] == ' ' && alnum(s.at(e + 1)) && t[e - 1] != ' ') {
        ++e;
      } else {
        break;
      }
    }
    if (static_cast<int>(v.size()) != len || wordByte(s.at(e)) || !mod97(v)) continue;
    s.add(PiiType::Iban, i, e, 0.95);
    i = e - 1;
  }
}

// --- IP and MAC addresses -----------------------------------------------------------------------

bool versionWordBefore(std::string_view t, size_t i) {
  size_t k = i;
  while (k > 0 && (t[k - 1] == ' ' || t[k - 1] == ':')) --k;
  size_t w = k;
  while (w > 0 && alpha(t[w - 1])) --w;
  std::string word = foldCaseUtf8(t.substr(w, k - w));
  return word == "v" || word == "ver" || word == "version" || word == "release" || word == "build" ||
         word == "firmware" || word == "rev";
}

void scanIpv4(Scan& s) {
  const auto& t = s.t;
  for (size_t i = 0; i < t.size(); ++i) {
    if (!digit(t[i]) || wordByte(s.before(i)) || s.before(i) == '.') continue;
    size_t p = i;
    bool ok = true;
    for (int octet = 0; octet < 4 && ok; ++octet) {
      if (octet > 0) {
        if (s.at(p) != '.') {
          ok = false;
          break;
        }
        ++p;
      }
      size_t q = p;
      int v = 0;
      while (q < t.size() && digit(t[q]) && q - p < 4) v = v * 10 + (t[q++] - '0');
      const size_t n = q - p;
      ok = n >= 1 && n <= 3 && v <= 255 && !(n > 1 && t[p] == '0');
      p = q;
    }
    const bool more = wordByte(s.at(p)) || (s.at(p) == '.' && digit(s.at(p + 1)));
    if (ok && !more && !versionWordBefore(t, i)) s.add(PiiType::Ipv4, i, p, 0.7);
    while (i + 1 < t.size() && (digit(t[i + 1]) || t[i + 1] == '.')) ++i;  // past this dotted run
  }
}

bool validIpv6(std::string_view v) {
  if (v.find(":::") != std::string_view::npos) return false;
  const size_t dbl = v.find("::");
  if (dbl != std::string_view::npos && v.find("::", dbl + 1) != std::string_view::npos) return false;
  int groups = 0;
  size_t start = 0;
  while (start <= v.size()) {
    size_t end = v.find(':', start);
    if (end == std::string_view::npos) end = v.size();
    std::string_view g = v.substr(start, end - start);
    if (!g.empty()) {
      if (g.find('.') != std::string_view::npos) {  // an IPv4 tail: ::ffff:192.0.2.1
        if (end != v.size()) return false;
        int parts = 0, val = 0, digits = 0;
        for (size_t k = 0; k <= g.size(); ++k) {
          if (k == g.size() || g[k] == '.') {
            if (digits == 0 || digits > 3 || val > 255) return false;
            ++parts;
            val = digits = 0;
          } else if (digit(g[k])) {
            val = val * 10 + (g[k] - '0');
            ++digits;
          } else {
            return false;
          }
        }
        if (parts != 4) return false;
        groups += 2;
      } else {
        if (g.size() > 4 || !std::all_of(g.begin(), g.end(), hex)) return false;
        ++groups;
      }
    }
    start = end + 1;
  }
  if (dbl == std::string_view::npos) {
    // Without '::' no group may be empty.
    if (v.front() == ':' || v.back() == ':') return false;
    return groups == 8;
  }
  if (groups < 1 || groups > 7) return false;
  // Code such as "a::b" or "Foo::Bar" is valid IPv6 in form; with two groups or fewer, ask for one group
  // of three or more digits (fe80::1, 2001:db8::) or the loopback ::1.
  if (groups <= 2 && v != "::1") {
    size_t longest = 0, run = 0;
    for (char c : v) {
      run = hex(c) ? run + 1 : 0;
      longest = std::max(longest, run);
    }
    if (longest < 3) return false;
  }
  return true;
}

void scanIpv6(Scan& s) {
  const auto& t = s.t;
  auto ipChar = [](char c) { return hex(c) || c == ':' || c == '.'; };
  for (size_t i = 0; i < t.size(); ++i) {
    if (!(hex(t[i]) || t[i] == ':') || wordByte(s.before(i)) || s.before(i) == ':' || s.before(i) == '.') continue;
    size_t e = i;
    while (e < t.size() && ipChar(t[e])) ++e;
    const size_t runEnd = e;
    while (e > i && t[e - 1] == '.') --e;
    std::string_view v = t.substr(i, e - i);
    if (std::count(v.begin(), v.end(), ':') >= 2 && !wordByte(s.at(runEnd)) && validIpv6(v))
      s.add(PiiType::Ipv6, i, e, 0.7);
    i = runEnd > i ? runEnd - 1 : i;
  }
}

void scanMac(Scan& s) {
  const auto& t = s.t;
  for (size_t i = 0; i < t.size(); ++i) {
    if (!hex(t[i]) || wordByte(s.before(i)) || s.before(i) == ':' || s.before(i) == '-' || s.before(i) == '.') continue;
    size_t e = 0;
    const char sep = s.at(i + 2);
    if ((sep == ':' || sep == '-') && i + 17 <= t.size()) {
      bool ok = true;
      for (int g = 0; g < 6 && ok; ++g) {
        const size_t p = i + static_cast<size_t>(g) * 3;
        ok = hex(t[p]) && hex(t[p + 1]) && (g == 5 || t[p + 2] == sep);
      }
      if (ok) e = i + 17;
    } else if (s.at(i + 4) == '.' && i + 14 <= t.size()) {  // Cisco: 0011.2233.4455
      bool ok = true;
      for (int g = 0; g < 3 && ok; ++g) {
        const size_t p = i + static_cast<size_t>(g) * 5;
        ok = hex(t[p]) && hex(t[p + 1]) && hex(t[p + 2]) && hex(t[p + 3]) && (g == 2 || t[p + 4] == '.');
      }
      if (ok) e = i + 14;
    }
    if (e == 0 || wordByte(s.at(e)) || ((s.at(e) == ':' || s.at(e) == '-' || s.at(e) == '.') && hex(s.at(e + 1))))
      continue;
    const std::string_view v = t.substr(i, e - i);
    if (v.find_first_not_of("0:-.") == std::string_view::npos) continue;  // all zero: no device
    s.add(PiiType::Mac, i, e, 0.7);
    i = e - 1;
  }
}

// --- US social security numbers -----------------------------------------------------------------

void scanSsn(Scan& s) {
  const auto& t = s.t;
  for (size_t i = 0; i + 11 <= t.size(); ++i) {
    if (!digit(t[i]) || wordByte(s.before(i)) || ((s.before(i) == '-' || s.before(i) == '.') && digit(s.before(i - 1))))
      continue;
    const std::string_view v = t.substr(i, 11);
    bool shape = v[3] == '-' && v[6] == '-';
    for (size_t k : {0, 1, 2, 4, 5, 7, 8, 9, 10}) shape = shape && digit(v[k]);
    if (!shape || wordByte(s.at(i + 11)) || ((s.at(i + 11) == '-' || s.at(i + 11) == '.') && digit(s.at(i + 12))))
      continue;
    const int area = std::stoi(std::string(v.substr(0, 3))), group = std::stoi(std::string(v.substr(4, 2))),
              serial = std::stoi(std::string(v.substr(7, 4)));
    // Never issued: area 000, 666, 900-999; group 00; serial 0000; and two numbers printed in ads.
    if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 || v == "078-05-1120" ||
        v == "219-09-9999")
      continue;
    s.add(PiiType::UsSsn, i, i + 11, 0.6);
    i += 10;
  }
}

// --- deny-list ----------------------------------------------------------------------------------

void scanDenyList(Scan& s, const std::string& folded, const std::vector<std::string>& terms) {
  for (const auto& term : terms) {
    if (term.empty()) continue;
    const bool wordStart = wordByte(term.front()), wordEnd = wordByte(term.back());
    for (size_t p = folded.find(term); p != std::string::npos; p = folded.find(term, p + 1)) {
      const size_t e = p + term.size();
      if (wordStart && p > 0 && wordByte(folded[p - 1])) continue;
      if (wordEnd && e < folded.size() && wordByte(folded[e])) continue;
      // Not inside a multi-byte character.
      if ((static_cast<unsigned char>(folded[p]) & 0xC0) == 0x80) continue;
      s.add(PiiType::DenyList, p, e, 0.9);
    }
  }
}

}  // namespace

const char* piiTypeName(PiiType t) { return kNames[static_cast<int>(t)]; }

std::optional<PiiType> piiTypeFromName(std::string_view name) {
  for (int k = 0; k < kPiiTypeCount; ++k)
    if (name == kNames[k]) return static_cast<PiiType>(k);
  return std::nullopt;
}

std::string piiTypeNames() {
  std::string out;
  for (const char* n : kNames) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

std::string foldCaseUtf8(std::string_view in) {
  std::string s(in);
  for (size_t i = 0; i < s.size(); ++i) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b >= 'A' && b <= 'Z') {
      s[i] = static_cast<char>(b + 32);
      continue;
    }
    if (i + 1 >= s.size()) break;
    auto c = static_cast<unsigned char>(s[i + 1]);
    if (b == 0xC3 && c >= 0x80 && c <= 0x9E && c != 0x97) {  // À-Þ
      s[i + 1] = static_cast<char>(c + 0x20);
    } else if (b == 0xCE && c >= 0x91 && c <= 0x9F) {  // Α-Ο
      s[i + 1] = static_cast<char>(c + 0x20);
    } else if (b == 0xCE && c >= 0xA0 && c <= 0xA9 && c != 0xA2) {  // Π-Ω
      s[i] = static_cast<char>(0xCF);
      s[i + 1] = static_cast<char>(c - 0x20);
    } else if (b == 0xD0 && c >= 0x90 && c <= 0x9F) {  // А-П
      s[i + 1] = static_cast<char>(c + 0x20);
    } else if (b == 0xD0 && c >= 0xA0 && c <= 0xAF) {  // Р-Я
      s[i] = static_cast<char>(0xD1);
      s[i + 1] = static_cast<char>(c - 0x20);
    } else if (b == 0xD0 && c >= 0x80 && c <= 0x8F) {  // Ѐ-Џ
      s[i] = static_cast<char>(0xD1);
      s[i + 1] = static_cast<char>(c + 0x10);
    }
    if (b >= 0xC0) ++i;  // the second byte was handled (or is not a letter)
  }
  return s;
}

std::vector<PiiFinding> findPii(std::string_view text, const PiiOptions& o) {
  std::vector<PiiFinding> all;
  Scan s{text, all};
  auto on = [&](PiiType t) { return o.enabled[static_cast<int>(t)]; };
  if (on(PiiType::Email)) scanEmail(s);
  if (on(PiiType::Phone)) scanPhone(s);
  if (on(PiiType::CreditCard)) scanCards(s);
  if (on(PiiType::Iban)) scanIban(s);
  if (on(PiiType::Ipv4)) scanIpv4(s);
  if (on(PiiType::Ipv6)) scanIpv6(s);
  if (on(PiiType::Mac)) scanMac(s);
  if (on(PiiType::UsSsn)) scanSsn(s);
  if (on(PiiType::DenyList) && !o.denyTerms.empty()) {
    std::vector<std::string> terms;
    for (const auto& term : o.denyTerms) terms.push_back(foldCaseUtf8(term));
    scanDenyList(s, foldCaseUtf8(text), terms);
  }
  all.erase(std::remove_if(all.begin(), all.end(), [&](const PiiFinding& f) { return f.confidence < o.minConfidence; }),
            all.end());
  std::sort(all.begin(), all.end(), [](const PiiFinding& a, const PiiFinding& b) {
    return a.start != b.start ? a.start < b.start : a.end > b.end;
  });
  std::vector<PiiFinding> kept;
  for (const auto& f : all) {
    if (!kept.empty() && f.start < kept.back().end) {
      // One inside the other: the outer one (an e-mail around a deny-list name, an IBAN around card-like
      // digits), so redaction covers all of it. Partly overlapping: the more confident one.
      auto& k = kept.back();
      const bool inside = f.end <= k.end;
      const bool better = !inside && (f.confidence > k.confidence ||
                                      (f.confidence == k.confidence && f.end - f.start > k.end - k.start));
      if (better) k = f;
      continue;
    }
    kept.push_back(f);
  }
  // A replaced finding may now overlap the one before it; one more pass keeps the list disjoint.
  std::vector<PiiFinding> out;
  for (const auto& f : kept)
    if (out.empty() || f.start >= out.back().end) out.push_back(f);
  return out;
}

std::string piiCanonical(PiiType type, std::string_view v) {
  std::string out;
  switch (type) {
    case PiiType::Email:
    case PiiType::DenyList:
    case PiiType::Ipv4:
    case PiiType::Ipv6: return foldCaseUtf8(v);
    case PiiType::Phone:
      for (char c : v)
        if (digit(c) || c == '+') out += c;
      return out;
    case PiiType::CreditCard:
    case PiiType::UsSsn:
      for (char c : v)
        if (digit(c)) out += c;
      return out;
    case PiiType::Iban:
      for (char c : v)
        if (alnum(c)) out += static_cast<char>(alpha(c) && !upper(c) ? c - 32 : c);
      return out;
    case PiiType::Mac:
      for (char c : v)
        if (hex(c)) out += static_cast<char>(upper(c) ? c + 32 : c);
      return out;
  }
  return std::string(v);
}

std::string piiPreview(std::string_view value) {
  std::vector<size_t> offsets;
  const std::u32string cps = utf8ToCodePoints(value, &offsets);
  if (value.size() < 8 || cps.size() < 4) return "***";
  return std::string(value.substr(0, offsets[1])) + "***" + std::string(value.substr(offsets[cps.size() - 2]));
}

}  // namespace loom::text

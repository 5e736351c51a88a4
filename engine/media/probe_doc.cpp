// PDF and text probing.

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "media/probe_detail.h"
#include "text/encoding.h"

namespace loom::media::detail {

namespace {

// Text is read up to this much for its line count; longer files get an estimate from this prefix.
constexpr int64_t kTextReadBytes = 4 * 1024 * 1024;

}  // namespace

bool looksLikeUtf16(std::string_view head) { return text::looksLikeUtf16(head); }

void probeText(ObjectReader& reader, std::string_view head, ProbeResult& out) {
  out.format = "text";
  auto size = reader.size();
  if (!size.ok()) {
    out.error = size.error().message;
    return;
  }
  std::string more;
  std::string_view data = head;
  const int64_t want = std::min<int64_t>(*size, kTextReadBytes);
  if (want > static_cast<int64_t>(head.size())) {
    auto r = reader.read(0, want);
    if (!r.ok()) {
      out.error = r.error().message;
      return;
    }
    more = std::move(r).value();
    data = more;
  }
  const bool cut = static_cast<int64_t>(data.size()) < *size;

  std::string_view body = data;
  out.encoding = text::detectEncoding(body, cut);
  body.remove_prefix(text::bomLength(body, out.encoding));

  const bool wide = out.encoding.rfind("utf-16", 0) == 0;
  const size_t step = wide ? 2 : 1;
  const size_t lowByte = out.encoding == "utf-16be" ? 1 : 0;
  int64_t newlines = 0, returns = 0;
  bool endsWithNewline = false;
  for (size_t i = 0; i + step <= body.size(); i += step) {
    const char c = body[i + lowByte];
    const bool unit = !wide || body[i + 1 - lowByte] == '\0';
    if (!unit) {
      endsWithNewline = false;
      continue;
    }
    newlines += c == '\n';
    returns += c == '\r';
    endsWithNewline = c == '\n' || (c == '\r');
  }
  // Classic Mac text ends lines with CR alone.
  int64_t lines = newlines > 0 ? newlines : returns;
  if (!body.empty() && !endsWithNewline) ++lines;
  if (cut && !data.empty()) {
    const double perByte = static_cast<double>(lines) / static_cast<double>(data.size());
    out.lines = std::llround(perByte * static_cast<double>(*size));
    out.linesEstimated = 1;
  } else {
    out.lines = lines;
    out.linesEstimated = 0;
  }
}

}  // namespace loom::media::detail

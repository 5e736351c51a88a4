// PDF probing through poppler-cpp. Part of the media codecs module (see media/codecs.h): poppler is
// loaded only when a PDF is probed.

#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "media/native/native.h"

namespace loom::media::native {

namespace {

// poppler prints syntax warnings about damaged PDFs to stderr; the row's error column says what matters.
void quietPoppler() {
  static std::once_flag once;
  std::call_once(once, [] { poppler::set_debug_error_function([](const std::string&, void*) {}, nullptr); });
}

std::string mib(int64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

}  // namespace

void probePdf(ObjectReader& reader, const MediaLimits& limits, ProbeResult& out) {
  out.format = "pdf";
  auto size = reader.size();
  if (!size.ok()) {
    out.error = size.error().message;
    return;
  }
  // poppler needs the whole file (its cross-reference table is at the end and objects anywhere), so a
  // PDF is read into memory, bounded by the probe budget.
  if (*size > limits.maxProbeBytes || *size > INT32_MAX) {
    out.error = reader.uri() + " is a PDF of " + mib(*size) + ", over the " + mib(limits.maxProbeBytes) +
                " read limit for probing; its page count was not read";
    return;
  }
  auto bytes = reader.read(0, *size);
  if (!bytes.ok()) {
    out.error = bytes.error().message;
    return;
  }
  quietPoppler();
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(bytes->data(), static_cast<int>(bytes->size())));
  if (!doc) {
    out.error = reader.uri() + " is not a readable PDF (damaged, truncated, or not a PDF despite its header)";
    return;
  }
  if (doc->is_locked()) {
    out.error = reader.uri() + " is a password-protected PDF; Loom cannot read its pages without the password";
    return;
  }
  const int pages = doc->pages();
  if (pages <= 0) {
    out.error = reader.uri() + " is a PDF without readable pages (damaged or truncated?)";
    return;
  }
  out.pages = pages;
  std::unique_ptr<poppler::page> first(doc->create_page(0));
  if (first) {
    poppler::rectf box = first->page_rect(poppler::media_box);
    double w = std::fabs(box.width()), h = std::fabs(box.height());
    if (first->orientation() == poppler::page::landscape || first->orientation() == poppler::page::seascape)
      std::swap(w, h);
    if (w > 0 && h > 0 && std::isfinite(w) && std::isfinite(h)) {
      out.pageWidth = std::round(w * 100) / 100;
      out.pageHeight = std::round(h * 100) / 100;
    }
  }
}

}  // namespace loom::media::native

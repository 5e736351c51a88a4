// The media codecs module's DocOpsApi (media/doc_ops.h): PDF text through poppler-cpp.

#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include <climits>
#include <memory>
#include <mutex>

#include "media/native/native.h"

namespace loom::media::native {

namespace {

using core::ErrorKind;
using core::makeError;

std::string mib(int64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

core::Result<PdfPages> pdfText(ObjectReader& reader, int maxPages, int64_t maxBytes) {
  auto size = reader.size();
  if (!size.ok()) return size.error();
  if (*size > maxBytes || *size > INT_MAX)
    return makeError(ErrorKind::InvalidInput, reader.uri() + " is a PDF of " + mib(*size) + ", over the " +
                                                  mib(maxBytes) + " limit (max_mib); its text was not read");
  auto bytes = reader.read(0, *size);
  if (!bytes.ok()) return bytes.error();
  // poppler prints syntax warnings about damaged PDFs to stderr; the row's error says what matters.
  static std::once_flag quiet;
  std::call_once(quiet, [] { poppler::set_debug_error_function([](const std::string&, void*) {}, nullptr); });
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(bytes->data(), static_cast<int>(bytes->size())));
  if (!doc)
    return makeError(ErrorKind::Corrupt,
                     reader.uri() + " is not a readable PDF (damaged, truncated, or not a PDF despite its name)");
  if (doc->is_locked())
    return makeError(ErrorKind::Unsupported, reader.uri() +
                                                 " is a password-protected PDF; Loom cannot read its text without "
                                                 "the password (remove the protection and run again)");
  PdfPages out;
  out.pageCount = doc->pages();
  if (out.pageCount <= 0)
    return makeError(ErrorKind::Corrupt, reader.uri() + " is a PDF without readable pages (damaged or truncated?)");
  const int n = std::min(out.pageCount, maxPages);
  for (int i = 0; i < n; ++i) {
    if (reader.pastDeadline())
      return makeError(ErrorKind::InvalidInput, reader.uri() + ": reading its text took too long; stopped after " +
                                                    std::to_string(i) + " of " + std::to_string(n) +
                                                    " pages (lower max_pages or split the PDF)");
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    if (!page) {
      out.texts.emplace_back();
      continue;
    }
    const poppler::byte_array utf8 = page->text().to_utf8();
    out.texts.emplace_back(utf8.begin(), utf8.end());
  }
  return out;
}

}  // namespace

const DocOpsApi* docOps() {
  static const DocOpsApi api{&pdfText};
  return &api;
}

}  // namespace loom::media::native

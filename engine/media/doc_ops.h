#pragma once
// Document operations of the media codecs module (poppler): text per PDF page.
// Reached through media::codecs()->doc; see media/codecs.h.

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "media/object_reader.h"

namespace loom::media {

struct PdfPages {
  int pageCount = 0;               // pages in the document
  std::vector<std::string> texts;  // UTF-8 text of pages 1..texts.size() (at most the pages asked for)
};

struct DocOpsApi {
  // The text of the first `maxPages` pages of a PDF, in reading order as poppler lays it out (a page
  // with no text layer, e.g. a scan, gives ""). The whole file is read (poppler needs its
  // cross-reference table at the end), at most `maxBytes`. Errors name reader.uri(): not a PDF or
  // damaged (Corrupt), password-protected (Unsupported), over maxBytes or past the reader's deadline
  // between pages (InvalidInput).
  core::Result<PdfPages> (*pdfText)(ObjectReader& reader, int maxPages, int64_t maxBytes);
};

}  // namespace loom::media

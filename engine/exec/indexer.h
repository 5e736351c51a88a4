#pragma once
// `loom-cli index`: lists a source into the catalog's objects table and probes what is new or changed
// (unchanged etag: the earlier probe is kept). Listing runs on its own thread and streams into the
// catalog in batches while probing uses the worker pool, so neither waits for the other.
// Threading: blocks the calling thread; cancel through the Feedback.

#include <string>

#include "catalog/catalog.h"
#include "core/feedback.h"
#include "core/result.h"

namespace loom::exec {

struct IndexOptions {
  std::string uri;
  std::string glob;
  bool probe = true;
  int threads = 0;
  size_t batch = 4096;  // objects per catalog transaction
};

struct IndexResult {
  std::string source;      // normalised URI
  int64_t sourceId = 0;
  int64_t objects = 0;     // listed this time (errors included)
  int64_t added = 0;       // not in the catalog before
  int64_t changed = 0;     // etag differs from the catalog's
  int64_t unchanged = 0;
  int64_t probed = 0;
  int64_t errors = 0;      // entries that could not be listed or probed
  int64_t missing = 0;     // in the catalog from an earlier index of this source, not listed now
  double seconds = 0;
};

core::Result<IndexResult> indexSource(catalog::Catalog& catalog, const IndexOptions& options, core::Feedback& feedback);

}  // namespace loom::exec

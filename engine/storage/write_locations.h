#pragma once
// Where a flow may write (the export nodes). A flow is data and may come from anyone, so the places
// it writes to are the person's choice, not the flow's: inside the folder that holds the flow file,
// and inside each location listed in LOOM_EXPORT_ROOTS (comma-separated folders and object-store
// prefixes such as s3://bucket/exports/; the desktop's settings write the same list). A local target
// is resolved before the check — relative to the flow's folder, `..` collapsed, symbolic links
// followed — so neither `../` nor a link inside an allowed folder can lead out of it.

#include <string>
#include <vector>

#include "core/result.h"

namespace loom::storage {

// The allowed locations: `flowDir` (may be empty: a flow that is not a file has no folder of its
// own) and the entries of LOOM_EXPORT_ROOTS; local ones resolved, remote ones ending in '/'.
std::vector<std::string> exportRoots(const std::string& flowDir);

// The target as it will be written — file:///resolved/path or the object URI — when it lies inside
// one of `roots`; otherwise an error (PermissionDenied) naming the target, where it leads, the
// allowed locations and how to allow another.
core::Result<std::string> checkExportTarget(const std::string& uri, const std::vector<std::string>& roots);

}  // namespace loom::storage

#pragma once
// Small helpers every part of the media codecs module uses: row errors that name the object, and the
// size an image is scaled to.

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <string>

#include "core/result.h"
#include "media/object_reader.h"

namespace loom::media::native {

// "<who>: <what>", the form of every per-row error.
inline core::Error rowError(core::ErrorKind kind, const std::string& who, const std::string& what) {
  return core::makeError(kind, who + ": " + what);
}
inline core::Error rowError(core::ErrorKind kind, const ObjectReader& reader, const std::string& what) {
  return rowError(kind, reader.uri(), what);
}

// A reader error already names the object; a storage error may not.
inline core::Error named(const ObjectReader& reader, const core::Error& e) {
  if (e.message.find(reader.uri()) != std::string::npos) return e;
  return core::makeError(e.kind, reader.uri() + ": " + e.message);
}

// Size that fits in maxSide x maxSide with the aspect kept (maxSide <= 0: the size itself); never
// enlarges unless `enlarge`.
inline cv::Size fitSize(double w, double h, int maxSide, bool enlarge = false) {
  double scale = maxSide > 0 ? static_cast<double>(maxSide) / std::max(w, h) : 1.0;
  if (!enlarge) scale = std::min(scale, 1.0);
  return {std::max(1, static_cast<int>(std::lround(w * scale))), std::max(1, static_cast<int>(std::lround(h * scale)))};
}

}  // namespace loom::media::native

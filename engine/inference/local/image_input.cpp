// The image path of media.thumbnail (media/native/thumbnail_native.cpp), minus the thumbnail: both
// modules need it and neither may link the other, so the few checks are repeated here.

#include "inference/local/image_input.h"
#include "media/jpeg_checks.h"

#include <algorithm>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <string_view>

#include "media/probe.h"

namespace loom::inference::local {

using core::ErrorKind;

namespace {

constexpr int64_t kImageHeadBytes = 256 * 1024;  // enough for the size header of any image we parse

core::Error named(const media::ObjectReader& reader, const core::Error& e) {
  if (e.message.find(reader.uri()) != std::string::npos) return e;
  return core::makeError(e.kind, reader.uri() + ": " + e.message);
}

std::string mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}


}  // namespace

core::Error rowError(ErrorKind kind, const media::ObjectReader& reader, const std::string& what) {
  return core::makeError(kind, reader.uri() + ": " + what);
}

std::string cvMessage(const cv::Exception& e) {
  std::string s = e.err.empty() ? std::string(e.what()) : e.err;
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

core::Result<DecodedImage> decodeImage(media::ObjectReader& reader, const media::MediaLimits& limits,
                                       const DecodeRequest& request) {
  auto size = reader.size();
  if (!size.ok()) return named(reader, size.error());
  if (*size == 0) return rowError(ErrorKind::Corrupt, reader, "is empty, not an image");
  if (*size > limits.maxPreviewBytes)
    return rowError(ErrorKind::Corrupt, reader,
                    "is " + mib(*size) + ", over the " + mib(limits.maxPreviewBytes) + " read limit for images");
  auto head = reader.read(0, std::min(*size, kImageHeadBytes));
  if (!head.ok()) return named(reader, head.error());
  std::string bytes = std::move(head).value();
  auto dims = media::imageSize(bytes);
  if (!dims.ok()) return named(reader, dims.error());
  auto readAll = [&]() -> core::Result<void> {
    const auto have = static_cast<int64_t>(bytes.size());
    if (have >= *size) return {};
    auto rest = reader.read(have, *size - have);
    if (!rest.ok()) return named(reader, rest.error());
    bytes += *rest;
    return {};
  };
  if (!dims->has_value()) {
    // The size header lies further in (a JPEG with large metadata before its frame header).
    if (auto r = readAll(); !r.ok()) return r.error();
    dims = media::imageSize(bytes);
    if (!dims.ok()) return named(reader, dims.error());
    if (!dims->has_value())
      return rowError(ErrorKind::Unsupported, reader,
                      "is not an image local models read (JPEG, PNG, WebP, BMP or TIFF), or its header is damaged");
  }
  const auto [w, h] = **dims;
  if (w <= 0 || h <= 0) return rowError(ErrorKind::Corrupt, reader, "image header gives a size of zero");
  if (w > limits.maxPixels / h)
    return rowError(ErrorKind::Corrupt, reader,
                    "image header claims " + std::to_string(w) + " x " + std::to_string(h) +
                        " pixels, over the limit of " + std::to_string(limits.maxPixels) +
                        " pixels per image; not decoded (the file may be hostile)");
  if (bytes.size() >= 4 && bytes.compare(0, 4, "GIF8") == 0)
    return rowError(ErrorKind::Unsupported, reader, "is a GIF, which OpenCV 4.6 cannot decode; convert it to PNG");
  if (auto r = readAll(); !r.ok()) return r.error();
  const bool jpeg = bytes.size() > 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
                    static_cast<unsigned char>(bytes[1]) == 0xD8;
  if (jpeg && media::jpegLooksTruncated(bytes))
    return rowError(ErrorKind::Corrupt, reader, "is a truncated JPEG (its image data has no end marker)");

  // IMREAD_COLOR (not UNCHANGED) makes OpenCV apply EXIF orientation and gives 8-bit BGR for any input.
  int flags = cv::IMREAD_COLOR;
  if (jpeg && request.reduce) {
    // Copies, not the structured bindings: clang 14 (the fuzz build) cannot capture those in a lambda.
    auto fits = [&, width = w, height = h](int64_t f) {
      return width / f >= request.minWidth && height / f >= request.minHeight &&
             std::max(width, height) / f >= request.minLongest;
    };
    if (fits(8)) flags = cv::IMREAD_REDUCED_COLOR_8;
    else if (fits(4)) flags = cv::IMREAD_REDUCED_COLOR_4;
    else if (fits(2)) flags = cv::IMREAD_REDUCED_COLOR_2;
  }
  DecodedImage out;
  try {
    cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8U, bytes.data());
    out.bgr = cv::imdecode(raw, flags);
  } catch (const cv::Exception& e) {
    return rowError(ErrorKind::Corrupt, reader, "cannot be decoded as an image: " + cvMessage(e));
  }
  if (out.bgr.empty())
    return rowError(ErrorKind::Corrupt, reader, "cannot be decoded as an image (damaged, truncated or not an image)");
  out.width = static_cast<int>(w);
  out.height = static_cast<int>(h);
  // The header parser and OpenCV may disagree on orientation tags outside JPEG's EXIF; the decoded
  // image's shape is what the pixels say.
  if (w != h && (out.bgr.cols > out.bgr.rows) != (w > h)) std::swap(out.width, out.height);
  return out;
}

}  // namespace loom::inference::local

#include "media/native/image_decode.h"

#include <algorithm>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "media/jpeg_checks.h"
#include "media/native/native_util.h"
#include "media/probe.h"

namespace loom::media::native {

using core::ErrorKind;
using core::makeError;

namespace {

constexpr int64_t kImageHeadBytes = 256 * 1024;  // enough for the size header of any image we parse

std::string mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

}  // namespace

core::Result<std::string> readRest(ObjectReader& reader, std::string head, int64_t size, const MediaLimits& limits) {
  if (size > limits.maxPreviewBytes)
    return rowError(ErrorKind::Corrupt, reader,
                    "is " + mib(size) + ", over the " + mib(limits.maxPreviewBytes) + " read limit for previews");
  const int64_t have = static_cast<int64_t>(head.size());
  if (have >= size) return head;
  auto rest = reader.read(have, size - have);
  if (!rest.ok()) return named(reader, rest.error());
  head += *rest;
  return head;
}

cv::Mat to8Bit(const cv::Mat& m) {
  if (m.depth() == CV_8U) return m;
  cv::Mat out;
  switch (m.depth()) {
    case CV_16U: m.convertTo(out, CV_8U, 1.0 / 257.0); break;
    case CV_16S: m.convertTo(out, CV_8U, 1.0 / 128.0, 128); break;
    case CV_32F:
    case CV_64F: m.convertTo(out, CV_8U, 255.0); break;
    default: m.convertTo(out, CV_8U); break;
  }
  return out;
}

core::Result<DecodedImage> decodeImage(ObjectReader& reader, std::string head, int64_t size, std::string_view mime,
                                       const ImageDecodeOptions& options, const MediaLimits& limits) {
  if (static_cast<int64_t>(head.size()) < std::min(size, kImageHeadBytes)) {
    auto more = reader.read(static_cast<int64_t>(head.size()), std::min(size, kImageHeadBytes) - static_cast<int64_t>(head.size()));
    if (!more.ok()) return named(reader, more.error());
    head += *more;
  }
  auto dims = imageSize(head);
  if (!dims.ok()) return named(reader, dims.error());
  std::string bytes;
  if (!dims->has_value()) {
    // The size header lies further in (a JPEG with large metadata before its frame header).
    auto all = readRest(reader, std::move(head), size, limits);
    if (!all.ok()) return all.error();
    bytes = std::move(all).value();
    dims = imageSize(bytes);
    if (!dims.ok()) return named(reader, dims.error());
    if (!dims->has_value())
      return rowError(ErrorKind::Unsupported, reader,
                      "cannot read the image size from its header (" + std::string(mime.empty() ? "unknown type" : mime) +
                          "), so it is not decoded; Loom previews JPEG, PNG, WebP, BMP and TIFF images");
  }
  const auto [w, h] = **dims;
  if (w <= 0 || h <= 0) return rowError(ErrorKind::Corrupt, reader, "image header gives a size of zero");
  if (w > limits.maxPixels / h)
    return rowError(ErrorKind::Corrupt, reader,
                    "image header claims " + std::to_string(w) + " x " + std::to_string(h) + " pixels, over the limit of " +
                        std::to_string(limits.maxPixels) + " pixels per image; not decoded (the file may be hostile)");
  if (bytes.empty()) {
    auto all = readRest(reader, std::move(head), size, limits);
    if (!all.ok()) return all.error();
    bytes = std::move(all).value();
  }
  const bool jpeg = bytes.size() > 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
                    static_cast<unsigned char>(bytes[1]) == 0xD8;
  if (jpeg && jpegLooksTruncated(bytes))
    return rowError(ErrorKind::Corrupt, reader, "is a truncated JPEG (its image data has no end marker)");

  // IMREAD_UNCHANGED keeps alpha and palette transparency of PNG/WebP/TIFF (and ignores orientation).
  int flags = options.gray ? cv::IMREAD_GRAYSCALE : options.keepAlpha ? cv::IMREAD_UNCHANGED : cv::IMREAD_COLOR;
  if (jpeg) {
    // libjpeg scales by 1/2, 1/4 or 1/8 inside the inverse DCT: the full-size image never exists.
    const int64_t longest = std::max(w, h);
    const int want = options.minLongSideFor ? options.minLongSideFor(w, h) : options.minLongSide;
    flags = options.gray ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR;
    if (want > 0 && longest / 8 >= want)
      flags = options.gray ? cv::IMREAD_REDUCED_GRAYSCALE_8 : cv::IMREAD_REDUCED_COLOR_8;
    else if (want > 0 && longest / 4 >= want)
      flags = options.gray ? cv::IMREAD_REDUCED_GRAYSCALE_4 : cv::IMREAD_REDUCED_COLOR_4;
    else if (want > 0 && longest / 2 >= want)
      flags = options.gray ? cv::IMREAD_REDUCED_GRAYSCALE_2 : cv::IMREAD_REDUCED_COLOR_2;
    if (!options.orientation) flags |= cv::IMREAD_IGNORE_ORIENTATION;
  }
  cv::Mat img;
  try {
    cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8U, bytes.data());
    img = cv::imdecode(raw, flags);
  } catch (const cv::Exception& e) {
    return rowError(ErrorKind::Corrupt, reader, std::string("cannot be decoded as an image: ") + e.what());
  }
  std::string().swap(bytes);  // the encoded bytes are not needed beside the decoded image
  if (img.empty())
    return rowError(ErrorKind::Corrupt, reader, "cannot be decoded as an image (damaged, truncated or not an image)");

  img = to8Bit(img);
  if (img.channels() == 2) {  // grey + alpha
    std::vector<cv::Mat> planes;
    cv::split(img, planes);
    cv::Mat bgr;
    cv::cvtColor(planes[0], bgr, cv::COLOR_GRAY2BGR);
    cv::merge(std::vector<cv::Mat>{bgr, planes[1]}, img);
  }
  if (img.channels() == 4) {
    // An alpha channel that is opaque everywhere is dropped, so callers can tell real transparency.
    cv::Mat a;
    cv::extractChannel(img, a, 3);
    double lo = 0;
    cv::minMaxLoc(a, &lo);
    if (lo >= 255) cv::cvtColor(img, img, cv::COLOR_BGRA2BGR);
  }
  return DecodedImage{std::move(img), w, h};
}

}  // namespace loom::media::native

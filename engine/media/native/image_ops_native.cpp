// The media codecs module's ImageOpsApi (media/image_ops.h): OpenCV does the decoding (through
// image_decode.h, shared with thumbnails), resampling, the DCT and the Laplacian.

#include <algorithm>
#include <cmath>
#include <mutex>
#include <tuple>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "media/native/image_decode.h"
#include "media/native/native_util.h"
#include "media/native/native.h"
#include "media/probe.h"

namespace loom::media::native {

using core::ErrorKind;
using core::makeError;

namespace {

void quietOpenCv() {
  static std::once_flag once;
  std::call_once(once, [] { cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT); });
}

// Reads the first bytes, checks that the object is an image OpenCV decodes, and decodes it.
core::Result<DecodedImage> open(ObjectReader& reader, std::string_view mime, std::string_view name,
                                const ImageDecodeOptions& options, const MediaLimits& limits) {
  quietOpenCv();
  auto size = reader.size();
  if (!size.ok()) return named(reader, size.error());
  if (*size == 0) return rowError(ErrorKind::Corrupt, reader, "is empty (0 bytes)");
  auto head = reader.read(0, std::min(*size, kProbeHeadBytes));
  if (!head.ok()) return named(reader, head.error());
  if (head->empty()) return rowError(ErrorKind::Corrupt, reader, "is empty (0 bytes)");
  std::string type(mime);
  if (type.empty() || type == "application/octet-stream") type = probeBytes(*head, name).mime;
  if (head->substr(0, 4) == "GIF8")
    return rowError(ErrorKind::Unsupported, reader,
                    "is a GIF, which the image nodes do not decode (OpenCV has no GIF decoder); media.thumbnail "
                    "previews GIFs, or convert them to PNG first");
  if (!type.empty() && type.rfind("image/", 0) != 0)
    return rowError(ErrorKind::Unsupported, reader,
                    "is " + type + ", not an image; the image nodes read JPEG, PNG, WebP, BMP and TIFF");
  return decodeImage(reader, std::move(head).value(), *size, type, options, limits);
}

// Runs `body`, turning OpenCV's exceptions and allocation failures into row errors.
template <typename T, typename F>
core::Result<T> guarded(const ObjectReader& reader, F&& body) {
  try {
    return body();
  } catch (const cv::Exception& e) {
    return rowError(ErrorKind::Corrupt, reader, std::string("cannot be processed: ") + e.what());
  } catch (const std::bad_alloc&) {
    return rowError(ErrorKind::Corrupt, reader, "needs more memory than is available");
  }
}

// BGRA composited over white; other images unchanged.
cv::Mat flattenAlpha(const cv::Mat& img) {
  if (img.channels() != 4) return img;
  cv::Mat out(img.size(), CV_8UC3);
  for (int y = 0; y < img.rows; ++y) {
    const auto* in = img.ptr<cv::Vec4b>(y);
    auto* o = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < img.cols; ++x) {
      const int a = in[x][3];
      for (int c = 0; c < 3; ++c) o[x][c] = static_cast<uchar>((in[x][c] * a + 255 * (255 - a) + 127) / 255);
    }
  }
  return out;
}

cv::Mat resized(const cv::Mat& img, cv::Size to) {
  if (to == img.size()) return img;
  const bool shrink = to.width <= img.cols && to.height <= img.rows;
  cv::Mat out;
  cv::resize(img, out, to, 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

cv::Size scaledSize(double w, double h, double scale) {
  return {std::max(1, static_cast<int>(std::lround(w * scale))), std::max(1, static_cast<int>(std::lround(h * scale)))};
}

// The (width, height) a centred crop to `aspect` keeps of a w x h image.
std::pair<double, double> aspectCropped(double w, double h, double aspect) {
  if (aspect <= 0) return {w, h};
  if (w / h > aspect) return {std::max(1.0, std::round(h * aspect)), h};
  return {w, std::max(1.0, std::round(w / aspect))};
}

// The scale the resize step applies to a w x h image (for Exact: the larger of the two axes' scales).
double resizeScale(const ImageTransformSpec& s, double w, double h) {
  using R = ImageTransformSpec::Resize;
  using F = ImageTransformSpec::Fit;
  switch (s.resize) {
    case R::None: return 1.0;
    case R::MaxSide: return std::min(1.0, s.maxSide / std::max(w, h));
    case R::Scale: return s.scale;
    case R::Exact: {
      const double sx = s.width / w, sy = s.height / h;
      return s.fit == F::Contain || s.fit == F::Pad ? std::min(sx, sy) : std::max(sx, sy);
    }
  }
  return 1.0;
}

// Stretches the colour channels linearly so that the darkest and brightest 0.5% of luma values map to
// 0 and 255 (one gain for every channel, so hues stay).
void autoContrast(cv::Mat& img) {
  cv::Mat luma;
  if (img.channels() == 1) luma = img;
  else cv::cvtColor(img, luma, img.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
  int hist[256] = {};
  for (int y = 0; y < luma.rows; ++y) {
    const uchar* row = luma.ptr<uchar>(y);
    for (int x = 0; x < luma.cols; ++x) ++hist[row[x]];
  }
  const double total = static_cast<double>(luma.total()), cut = total * 0.005;
  int lo = 0, hi = 255;
  for (double n = 0; lo < 255 && n + hist[lo] <= cut; ++lo) n += hist[lo];
  for (double n = 0; hi > 0 && n + hist[hi] <= cut; --hi) n += hist[hi];
  if (hi - lo < 2) return;  // flat image: nothing to stretch
  uchar lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = cv::saturate_cast<uchar>((v - lo) * 255.0 / (hi - lo));
  cv::Mat table(1, 256, CV_8U, lut);
  if (img.channels() == 4) {
    std::vector<cv::Mat> planes;
    cv::split(img, planes);
    for (int c = 0; c < 3; ++c) cv::LUT(planes[static_cast<size_t>(c)], table, planes[static_cast<size_t>(c)]);
    cv::merge(planes, img);
  } else {
    cv::LUT(img, table, img);
  }
}

// Histogram equalisation of luma (colour images through YCrCb, alpha kept).
void equalize(cv::Mat& img) {
  if (img.channels() == 1) {
    cv::equalizeHist(img, img);
    return;
  }
  cv::Mat alpha, bgr = img;
  if (img.channels() == 4) {
    cv::extractChannel(img, alpha, 3);
    cv::cvtColor(img, bgr, cv::COLOR_BGRA2BGR);
  }
  cv::Mat ycc;
  cv::cvtColor(bgr, ycc, cv::COLOR_BGR2YCrCb);
  std::vector<cv::Mat> planes;
  cv::split(ycc, planes);
  cv::equalizeHist(planes[0], planes[0]);
  cv::merge(planes, ycc);
  cv::cvtColor(ycc, bgr, cv::COLOR_YCrCb2BGR);
  if (alpha.empty()) {
    img = bgr;
  } else {
    cv::merge(std::vector<cv::Mat>{bgr, alpha}, img);  // merge keeps the order B, G, R, A
  }
}

core::Result<EncodedImage> transformImpl(ObjectReader& reader, std::string_view mime, std::string_view name,
                                         const ImageTransformSpec& s, const MediaLimits& limits) {
  using R = ImageTransformSpec::Resize;
  using F = ImageTransformSpec::Fit;
  if (s.rotate % 90 != 0 || s.rotate < 0 || s.rotate > 270)
    return makeError(ErrorKind::InvalidInput, "rotate " + std::to_string(s.rotate) + ": use 0, 90, 180 or 270");
  if (s.quality < 1 || s.quality > 100)
    return makeError(ErrorKind::InvalidInput, "quality " + std::to_string(s.quality) + ": use 1 to 100");
  if ((s.resize == R::MaxSide && s.maxSide < 1) || (s.resize == R::Exact && (s.width < 1 || s.height < 1)) ||
      (s.resize == R::Scale && !(s.scale > 0)))
    return makeError(ErrorKind::InvalidInput, "resize needs a positive size or scale");

  ImageDecodeOptions options;
  options.orientation = s.exifOrientation;
  // libjpeg may decode at a fraction of the size when the result is that small anyway; not with a crop
  // box (its coordinates are in full-size pixels) nor a scale factor (relative to the full size).
  if (s.cropW == 0 && s.exifOrientation && (s.resize == R::MaxSide || s.resize == R::Exact)) {
    options.minLongSideFor = [&s](int64_t w, int64_t h) {
      double cw = static_cast<double>(w), ch = static_cast<double>(h);
      if (s.rotate == 90 || s.rotate == 270) std::swap(cw, ch);
      std::tie(cw, ch) = aspectCropped(cw, ch, s.cropAspect);
      const double scale = std::min(1.0, resizeScale(s, cw, ch));
      return static_cast<int>(std::ceil(scale * static_cast<double>(std::max(w, h)))) + 1;
    };
  }
  auto decoded = open(reader, mime, name, options, limits);
  if (!decoded.ok()) return decoded.error();
  cv::Mat img = std::move(decoded->pixels);
  // How much smaller than the header's size libjpeg decoded (1 without DCT scaling).
  const double decodedScale = static_cast<double>(std::max(img.cols, img.rows)) /
                              static_cast<double>(std::max(decoded->headerWidth, decoded->headerHeight));

  if (s.rotate == 90) cv::rotate(img, img, cv::ROTATE_90_CLOCKWISE);
  else if (s.rotate == 180) cv::rotate(img, img, cv::ROTATE_180);
  else if (s.rotate == 270) cv::rotate(img, img, cv::ROTATE_90_COUNTERCLOCKWISE);

  if (s.cropW > 0) {
    const cv::Rect box = cv::Rect(s.cropX, s.cropY, s.cropW, s.cropH) & cv::Rect(0, 0, img.cols, img.rows);
    if (box.empty())
      return rowError(ErrorKind::InvalidInput, reader,
                      "the crop box (x " + std::to_string(s.cropX) + ", y " + std::to_string(s.cropY) + ", " +
                          std::to_string(s.cropW) + " x " + std::to_string(s.cropH) + ") lies outside the " +
                          std::to_string(img.cols) + " x " + std::to_string(img.rows) + " image");
    img = img(box).clone();
  }
  if (s.cropAspect > 0) {
    auto [cw, ch] = aspectCropped(img.cols, img.rows, s.cropAspect);
    const cv::Rect box((img.cols - static_cast<int>(cw)) / 2, (img.rows - static_cast<int>(ch)) / 2,
                       static_cast<int>(cw), static_cast<int>(ch));
    img = img(box).clone();
  }

  cv::Size target = img.size(), padTo, coverTo;
  switch (s.resize) {
    case R::None: break;
    case R::MaxSide: target = scaledSize(img.cols, img.rows, std::min(1.0, s.maxSide / static_cast<double>(std::max(img.cols, img.rows)))); break;
    case R::Scale: target = scaledSize(img.cols, img.rows, s.scale / decodedScale); break;
    case R::Exact:
      if (s.fit == F::Stretch) target = {s.width, s.height};
      else target = scaledSize(img.cols, img.rows, resizeScale(s, img.cols, img.rows));
      if (s.fit == F::Pad) padTo = {s.width, s.height};
      if (s.fit == F::Cover) coverTo = {s.width, s.height};
      break;
  }
  const cv::Size finalSize = !padTo.empty() ? padTo : !coverTo.empty() ? coverTo : target;
  if (static_cast<int64_t>(target.width) * target.height > limits.maxPixels ||
      static_cast<int64_t>(finalSize.width) * finalSize.height > limits.maxPixels)
    return rowError(ErrorKind::InvalidInput, reader,
                    "the result would be " + std::to_string(target.width) + " x " + std::to_string(target.height) +
                        " pixels, over the limit of " + std::to_string(limits.maxPixels) + " pixels per image");
  img = resized(img, target);
  if (!coverTo.empty()) {
    const cv::Rect box((img.cols - coverTo.width) / 2, (img.rows - coverTo.height) / 2, coverTo.width, coverTo.height);
    img = img(box & cv::Rect(0, 0, img.cols, img.rows)).clone();
  }
  if (!padTo.empty() && padTo != img.size()) {
    const int left = (padTo.width - img.cols) / 2, top = (padTo.height - img.rows) / 2;
    cv::copyMakeBorder(img, img, top, padTo.height - img.rows - top, left, padTo.width - img.cols - left,
                       cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0, 0));  // black, or transparent with alpha
  }

  using C = ImageTransformSpec::Colour;
  if (s.colour == C::Rgb) {
    img = flattenAlpha(img);
    if (img.channels() == 1) cv::cvtColor(img, img, cv::COLOR_GRAY2BGR);
  } else if (s.colour == C::Gray && img.channels() != 1) {
    img = flattenAlpha(img);
    cv::cvtColor(img, img, cv::COLOR_BGR2GRAY);
  }
  using N = ImageTransformSpec::Normalize;
  if (s.normalize == N::AutoContrast) autoContrast(img);
  else if (s.normalize == N::Equalize) equalize(img);

  using Fmt = ImageTransformSpec::Format;
  Fmt format = s.format;
  if (format == Fmt::Auto) format = img.channels() == 4 ? Fmt::Png : Fmt::Jpeg;
  if (format == Fmt::Jpeg) img = flattenAlpha(img);
  std::vector<uchar> buf;
  bool ok = false;
  EncodedImage out;
  switch (format) {
    case Fmt::Png:
      ok = cv::imencode(".png", img, buf, {cv::IMWRITE_PNG_COMPRESSION, 6});
      out.mime = "image/png";
      break;
    case Fmt::Webp:
      ok = cv::imencode(".webp", img, buf, {cv::IMWRITE_WEBP_QUALITY, s.quality});
      out.mime = "image/webp";
      break;
    case Fmt::Auto:
    case Fmt::Jpeg:
      ok = cv::imencode(".jpg", img, buf, {cv::IMWRITE_JPEG_QUALITY, s.quality});
      out.mime = "image/jpeg";
      break;
  }
  if (!ok) return rowError(ErrorKind::Internal, reader, "could not encode the result as " + out.mime);
  out.bytes.assign(reinterpret_cast<const char*>(buf.data()), buf.size());
  out.width = img.cols;
  out.height = img.rows;
  return out;
}

// Grey pixels with the long side at most `side`, decoded at a reduced size where libjpeg can.
core::Result<cv::Mat> greyAtMost(ObjectReader& reader, std::string_view mime, std::string_view name, int side,
                                 const MediaLimits& limits) {
  ImageDecodeOptions options;
  options.gray = true;
  options.keepAlpha = false;
  options.minLongSide = side;
  auto decoded = open(reader, mime, name, options, limits);
  if (!decoded.ok()) return decoded.error();
  cv::Mat img = std::move(decoded->pixels);
  const int longest = std::max(img.cols, img.rows);
  if (longest > side) img = resized(img, scaledSize(img.cols, img.rows, static_cast<double>(side) / longest));
  return img;
}

core::Result<uint64_t> phashImpl(ObjectReader& reader, std::string_view mime, std::string_view name,
                                 const MediaLimits& limits) {
  auto grey = greyAtMost(reader, mime, name, 128, limits);
  if (!grey.ok()) return grey.error();
  cv::Mat small = resized(*grey, {32, 32}), f, dct;
  small.convertTo(f, CV_32F);
  cv::dct(f, dct);
  float coeff[64];
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) coeff[r * 8 + c] = dct.at<float>(r + 1, c + 1);
  float sorted[64];
  std::copy(coeff, coeff + 64, sorted);
  std::nth_element(sorted, sorted + 31, sorted + 64);
  const float lower = sorted[31];
  const float upper = *std::min_element(sorted + 32, sorted + 64);
  const float median = (lower + upper) / 2;
  uint64_t hash = 0;
  for (int k = 0; k < 64; ++k)
    if (coeff[k] > median) hash |= uint64_t{1} << (63 - k);
  return hash;
}

core::Result<double> blurImpl(ObjectReader& reader, std::string_view mime, std::string_view name,
                              const MediaLimits& limits) {
  auto grey = greyAtMost(reader, mime, name, kQualityLongSide, limits);
  if (!grey.ok()) return grey.error();
  cv::Mat lap;
  cv::Laplacian(*grey, lap, CV_64F);
  cv::Scalar mean, stddev;
  cv::meanStdDev(lap, mean, stddev);
  return stddev[0] * stddev[0];
}

core::Result<ExposureStats> exposureImpl(ObjectReader& reader, std::string_view mime, std::string_view name,
                                         int darkLevel, int brightLevel, const MediaLimits& limits) {
  auto grey = greyAtMost(reader, mime, name, kQualityLongSide, limits);
  if (!grey.ok()) return grey.error();
  const cv::Mat& g = *grey;
  const double total = static_cast<double>(g.total());
  ExposureStats st;
  st.meanLuma = cv::mean(g)[0];
  st.darkFraction = cv::countNonZero(g <= darkLevel) / total;
  st.brightFraction = cv::countNonZero(g >= brightLevel) / total;
  return st;
}

}  // namespace

const ImageOpsApi* imageOps() {
  static const ImageOpsApi api{
      [](ObjectReader& reader, std::string_view mime, std::string_view name, const ImageTransformSpec& spec,
         const MediaLimits& limits) {
        return guarded<EncodedImage>(reader, [&] { return transformImpl(reader, mime, name, spec, limits); });
      },
      [](ObjectReader& reader, std::string_view mime, std::string_view name, const MediaLimits& limits) {
        return guarded<uint64_t>(reader, [&] { return phashImpl(reader, mime, name, limits); });
      },
      [](ObjectReader& reader, std::string_view mime, std::string_view name, const MediaLimits& limits) {
        return guarded<double>(reader, [&] { return blurImpl(reader, mime, name, limits); });
      },
      [](ObjectReader& reader, std::string_view mime, std::string_view name, int darkLevel, int brightLevel,
         const MediaLimits& limits) {
        return guarded<ExposureStats>(
            reader, [&] { return exposureImpl(reader, mime, name, darkLevel, brightLevel, limits); });
      },
  };
  return &api;
}

}  // namespace loom::media::native

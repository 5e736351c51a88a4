// OpenCV cascade classifiers (Haar/LBP, e.g. Debian opencv-data's frontal-face cascade). A
// CascadeClassifier keeps per-detection buffers and is not thread-safe: one per worker thread, each
// parsed from the XML held in memory.

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "inference/local/image_input.h"
#include "inference/local/local.h"
#include "inference/local/per_thread.h"

namespace loom::inference::local {

using core::ErrorKind;
using core::makeError;

namespace {

// Detection runs on the image scaled to at most this longest side (JPEGs are decoded reduced when
// they allow): a cascade's cost grows with the pixel count, and faces smaller than
// min_size x (longest side / 1600) are not what this node is for. Boxes are given in the original
// image's pixels.
constexpr int kMaxAnalysedSide = 1600;

class CascadeModel final : public LocalModel {
 public:
  explicit CascadeModel(CascadeConfig config)
      : m_config(std::move(config)), m_cascades([this] { return makeCascade(); }) {}

  core::Result<void> tryOut() {
    auto c = makeCascade();
    if (!c.ok()) return c.error();
    m_cascades.adopt(std::move(c).value());
    return {};
  }

  core::Result<LocalResult> run(media::ObjectReader& reader, const media::MediaLimits& limits) const override {
    DecodeRequest req;
    req.reduce = true;
    req.minLongest = kMaxAnalysedSide;
    auto img = decodeImage(reader, limits, req);
    if (!img.ok()) return img.error();
    auto cascade = m_cascades.get();
    if (!cascade.ok()) return cascade.error();
    try {
      cv::Mat grey;
      cv::cvtColor(img->bgr, grey, cv::COLOR_BGR2GRAY);
      const int longest = std::max(grey.cols, grey.rows);
      if (longest > kMaxAnalysedSide) {
        const double s = static_cast<double>(kMaxAnalysedSide) / longest;
        cv::resize(grey, grey, cv::Size(), s, s, cv::INTER_AREA);
      }
      cv::equalizeHist(grey, grey);
      const double sx = static_cast<double>(img->width) / grey.cols, sy = static_cast<double>(img->height) / grey.rows;
      const int minSide = std::max(1, static_cast<int>(std::lround(m_config.minSize / std::max(sx, sy))));
      std::vector<cv::Rect> found;
      (*cascade)->detectMultiScale(grey, found, m_config.scaleFactor, m_config.minNeighbors, 0,
                                   cv::Size(minSide, minSide));
      std::sort(found.begin(), found.end(),
                [](const cv::Rect& a, const cv::Rect& b) { return a.y != b.y ? a.y < b.y : a.x < b.x; });
      LocalResult result;
      for (const auto& r : found) {
        Box b;
        b.x = static_cast<int>(std::lround(r.x * sx));
        b.y = static_cast<int>(std::lround(r.y * sy));
        b.w = static_cast<int>(std::lround(r.width * sx));
        b.h = static_cast<int>(std::lround(r.height * sy));
        result.boxes.push_back(b);
      }
      return result;
    } catch (const cv::Exception& e) {
      return rowError(ErrorKind::Internal, reader, "detection failed: " + cvMessage(e));
    }
  }

 private:
  core::Result<std::unique_ptr<cv::CascadeClassifier>> makeCascade() const {
    try {
      cv::FileStorage fs(m_config.xml, cv::FileStorage::READ | cv::FileStorage::MEMORY);
      auto c = std::make_unique<cv::CascadeClassifier>();
      if (!fs.isOpened() || !c->read(fs.getFirstTopLevelNode()) || c->empty())
        return makeError(ErrorKind::Unsupported,
                         m_config.name + " is not a cascade OpenCV 4.6 can read (an XML file written by "
                                         "opencv_traincascade, like those in /usr/share/opencv4/haarcascades)");
      return c;
    } catch (const cv::Exception& e) {
      return makeError(ErrorKind::Unsupported, m_config.name + " is not a cascade OpenCV 4.6 can read: " + cvMessage(e));
    }
  }

  CascadeConfig m_config;
  PerThread<cv::CascadeClassifier> m_cascades;
};

}  // namespace

core::Result<std::shared_ptr<const LocalModel>> loadCascade(const CascadeConfig& config) {
  setUpLibraries();
  auto model = std::make_shared<CascadeModel>(config);
  if (auto r = model->tryOut(); !r.ok()) return r.error();
  return std::shared_ptr<const LocalModel>(std::move(model));
}

}  // namespace loom::inference::local

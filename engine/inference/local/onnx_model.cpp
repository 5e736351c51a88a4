// ONNX models through OpenCV 4.6 DNN: preprocessing as declared by the node, one net per worker
// thread (a cv::dnn::Net keeps per-forward state and is not thread-safe), softmax when the model's
// outputs are not already probabilities.

#include <algorithm>
#include <cmath>
#include <numeric>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

#include "inference/local/image_input.h"
#include "inference/local/local.h"
#include "inference/local/per_thread.h"

namespace loom::inference::local {

using core::ErrorKind;
using core::makeError;

namespace {

// Outputs that are each in [0, 1] and sum to 1 within this are taken as probabilities already.
constexpr double kProbabilitySumTolerance = 1e-3;

class OnnxModel final : public LocalModel {
 public:
  explicit OnnxModel(OnnxConfig config)
      : m_config(std::move(config)), m_nets([this] { return makeNet(); }) {}

  // Loads a net on this thread and runs it once on a blank image, so that a model OpenCV cannot
  // import or run at the declared size fails now, naming the file, rather than on every row.
  core::Result<void> tryOut() {
    auto net = makeNet();
    if (!net.ok()) return net.error();
    cv::Mat blank(m_config.height, m_config.width, CV_8UC3, cv::Scalar(0, 0, 0));
    auto out = forward(**net, blank);
    if (!out.ok())
      return makeError(ErrorKind::Unsupported,
                       m_config.name + " cannot run on a " + std::to_string(m_config.width) + " x " +
                           std::to_string(m_config.height) + " image: " + out.error().message +
                           "; check width and height against the model's input size");
    if (out->empty()) return makeError(ErrorKind::Unsupported, m_config.name + " gives an empty output");
    if (m_config.task == OnnxTask::Classify && !m_config.labels.empty() && m_config.labels.size() != out->size())
      return makeError(ErrorKind::InvalidInput, "the labels file has " + std::to_string(m_config.labels.size()) +
                                                    " labels but " + m_config.name + " gives " +
                                                    std::to_string(out->size()) + " scores; give one label per class");
    m_nets.adopt(std::move(net).value());
    return {};
  }

  core::Result<LocalResult> run(media::ObjectReader& reader, const media::MediaLimits& limits) const override {
    DecodeRequest req;
    req.reduce = true;
    req.minWidth = m_config.width;
    req.minHeight = m_config.height;
    auto img = decodeImage(reader, limits, req);
    if (!img.ok()) return img.error();
    auto net = m_nets.get();
    if (!net.ok()) return net.error();
    auto out = forward(**net, img->bgr);
    if (!out.ok()) return rowError(out.error().kind, reader, m_config.name + " failed: " + out.error().message);
    LocalResult result;
    if (m_config.task == OnnxTask::Embed) {
      result.embedding = std::move(out).value();
      return result;
    }
    result.top = topK(probabilities(*out));
    return result;
  }

 private:
  core::Result<std::unique_ptr<cv::dnn::Net>> makeNet() const {
    try {
      auto net = std::make_unique<cv::dnn::Net>(
          cv::dnn::readNetFromONNX(m_config.modelBytes.data(), m_config.modelBytes.size()));
      if (net->empty()) return makeError(ErrorKind::Corrupt, m_config.name + " holds no network OpenCV DNN can load");
      net->setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
      net->setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
      return net;
    } catch (const cv::Exception& e) {
      return makeError(ErrorKind::Unsupported,
                       m_config.name + " cannot be loaded by OpenCV 4.6 DNN (a damaged file, or an operator or opset "
                                       "it does not support): " + cvMessage(e));
    }
  }

  // Resize to the declared size, channel order, (pixel * scale - mean) / std, NCHW float32.
  core::Result<std::vector<float>> forward(cv::dnn::Net& net, const cv::Mat& bgr) const {
    try {
      cv::Mat img;
      const cv::Size target(m_config.width, m_config.height);
      if (bgr.size() != target) {
        const bool shrink = bgr.cols >= target.width && bgr.rows >= target.height;
        cv::resize(bgr, img, target, 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
      } else {
        img = bgr;
      }
      if (m_config.rgb) cv::cvtColor(img, img, cv::COLOR_BGR2RGB);
      cv::Mat f;
      img.convertTo(f, CV_32F, m_config.scale);
      std::vector<cv::Mat> planes;
      cv::split(f, planes);
      for (size_t c = 0; c < 3; ++c) {
        planes[c] -= m_config.mean[c];
        planes[c] /= m_config.std[c];
      }
      cv::merge(planes, f);
      cv::Mat blob = cv::dnn::blobFromImage(f, 1.0, cv::Size(), cv::Scalar(), false, false, CV_32F);
      net.setInput(blob);
      cv::Mat out = net.forward();
      if (out.depth() != CV_32F) out.convertTo(out, CV_32F);
      if (!out.isContinuous()) out = out.clone();
      const float* p = out.ptr<float>();
      return std::vector<float>(p, p + out.total());
    } catch (const cv::Exception& e) {
      return makeError(ErrorKind::Unsupported, cvMessage(e));
    }
  }

  // One output: a probability when in [0, 1], else a logit (sigmoid). Several: probabilities when
  // each is in [0, 1] and they sum to 1, else logits (softmax).
  static std::vector<double> probabilities(const std::vector<float>& out) {
    std::vector<double> p(out.begin(), out.end());
    const bool inUnit = std::all_of(p.begin(), p.end(), [](double v) { return v >= 0 && v <= 1; });
    if (p.size() == 1) {
      if (!inUnit) p[0] = 1.0 / (1.0 + std::exp(-p[0]));
      return p;
    }
    const double sum = std::accumulate(p.begin(), p.end(), 0.0);
    if (inUnit && std::abs(sum - 1.0) <= kProbabilitySumTolerance) return p;
    const double top = *std::max_element(p.begin(), p.end());
    double total = 0;
    for (double& v : p) total += (v = std::exp(v - top));
    for (double& v : p) v /= total;
    return p;
  }

  std::vector<std::pair<std::string, double>> topK(const std::vector<double>& p) const {
    std::vector<size_t> idx(p.size());
    std::iota(idx.begin(), idx.end(), size_t{0});
    const size_t k = std::min(idx.size(), static_cast<size_t>(std::max(1, m_config.topK)));
    // Ties go to the lower class index, so results are stable.
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
                      [&](size_t a, size_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    std::vector<std::pair<std::string, double>> out;
    for (size_t i = 0; i < k; ++i)
      out.emplace_back(m_config.labels.empty() ? std::to_string(idx[i]) : m_config.labels[idx[i]], p[idx[i]]);
    return out;
  }

  OnnxConfig m_config;
  PerThread<cv::dnn::Net> m_nets;
};

}  // namespace

core::Result<std::shared_ptr<const LocalModel>> loadOnnx(const OnnxConfig& config) {
  setUpLibraries();
  for (double s : config.std)
    if (s == 0) return makeError(ErrorKind::InvalidInput, "std: a channel's std is 0; every value must be non-zero");
  auto model = std::make_shared<OnnxModel>(config);
  if (auto r = model->tryOut(); !r.ok()) return r.error();
  return std::shared_ptr<const LocalModel>(std::move(model));
}

}  // namespace loom::inference::local

#pragma once
// The local models module: ONNX models through OpenCV DNN, OpenCV Haar cascades and Tesseract OCR,
// built into libloom_local_models.so and loaded the first time a model.* node runs. Like the media
// codecs module (media/codecs.h), it keeps OpenCV's dnn/objdetect and Tesseract (~60 shared
// libraries) out of every process that runs no local model.
// Thread-safety: localModels() may be called from any thread; the module is loaded once per process.
// A LocalModel is immutable after loading and run() may be called from many threads at once: it
// keeps one OpenCV net / cascade / Tesseract handle per calling thread (none of them is thread-safe),
// each made on the thread's first call and freed with the LocalModel.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "media/object_reader.h"

namespace loom::inference {

// Bumped when LocalModelsApi or the types it passes change, so an engine never calls a module built
// from other sources.
constexpr int kLocalModelsAbi = 1;

enum class OnnxTask { Classify, Embed };

// An ONNX model and how images are prepared for it. Each image is decoded (EXIF orientation applied),
// resized to width x height (aspect not kept), put in `rgb` or BGR channel order, and each value
// becomes (pixel * scale - mean[c]) / std[c], laid out as one NCHW float32 tensor.
struct OnnxConfig {
  std::string name;        // the model file's URI, for messages
  std::string modelBytes;  // the .onnx file's content
  OnnxTask task = OnnxTask::Classify;
  int width = 224, height = 224;
  std::array<double, 3> mean{0, 0, 0};
  std::array<double, 3> std{1, 1, 1};
  double scale = 1.0 / 255.0;
  bool rgb = true;
  int topK = 1;
  std::vector<std::string> labels;  // empty: classes are named by their index
};

// An OpenCV cascade classifier (the XML written by opencv_traincascade).
struct CascadeConfig {
  std::string name;      // the cascade file's URI, for messages
  std::string xml;       // its content
  double scaleFactor = 1.1;
  int minNeighbors = 5;
  int minSize = 24;      // smallest object side, in the original image's pixels
};

struct OcrConfig {
  std::string lang = "eng";  // Tesseract language(s), "eng" or "eng+deu"
  int psm = 3;               // page segmentation mode
};

struct Box {
  int x = 0, y = 0, w = 0, h = 0;
};

// What one image gave; only the fields of the model's kind are set.
struct LocalResult {
  std::vector<std::pair<std::string, double>> top;  // classify: (label, probability), best first, top_k long
  std::vector<float> embedding;                     // embed: the output tensor, flattened
  std::vector<Box> boxes;                           // cascade: in the original image's pixels
  std::string text;                                 // OCR: UTF-8
  double confidence = 0;                            // OCR: mean word confidence, 0..100
};

class LocalModel {
 public:
  virtual ~LocalModel() = default;
  // Reads the image behind `reader` (its byte budget and deadline apply; an image over
  // limits.maxPixels is refused before decoding) and runs the model on it. Errors name the object
  // and the reason. Thread-safe.
  virtual core::Result<LocalResult> run(media::ObjectReader& reader, const media::MediaLimits& limits) const = 0;
};

struct LocalModelsApi {
  int abi;
  // Each loads the model once on the calling thread and tries it, so a model that cannot be read or
  // run fails here (at run start) with the file named, not on every row.
  core::Result<std::shared_ptr<const LocalModel>> (*loadOnnx)(const OnnxConfig& config);
  core::Result<std::shared_ptr<const LocalModel>> (*loadCascade)(const CascadeConfig& config);
  // Fails with Unsupported when the module was built without Tesseract, and with NotFound naming the
  // language and its Debian package when its data is not installed.
  core::Result<std::shared_ptr<const LocalModel>> (*loadOcr)(const OcrConfig& config);
  // Tesseract's version, or "" when the module was built without it.
  const char* (*tesseractVersion)();
  // Where Tesseract looks for <lang>.traineddata ("" without Tesseract).
  std::string (*tesseractDataDir)();
};

// The loaded module, or an error saying where it was looked for and how to point Loom at it
// ($LOOM_LOCAL_MODELS). Looked for: $LOOM_LOCAL_MODELS, <executable>/../lib/loom/, the build tree.
core::Result<const LocalModelsApi*> localModels();

}  // namespace loom::inference

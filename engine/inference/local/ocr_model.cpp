// Tesseract OCR. A TessBaseAPI is not thread-safe and loading a language takes ~0.1 s, so each worker
// thread initialises one on its first image and keeps it for the node run. Without Tesseract at build
// time (pkg-config found no `tesseract`), the node still exists and each run fails saying how to get it.

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "inference/local/image_input.h"
#include "inference/local/local.h"
#include "inference/local/per_thread.h"

#if LOOM_HAVE_TESSERACT
#include <omp.h>
#include <tesseract/baseapi.h>

#include <opencv2/imgproc.hpp>
#endif

namespace loom::inference::local {

using core::ErrorKind;
using core::makeError;

std::string tesseractDataDir() {
#if LOOM_HAVE_TESSERACT
  // Where Tesseract 5 looks when given no data path: $TESSDATA_PREFIX, else the folder it was built
  // with, which the library does not tell before a language is loaded; these are the distributions'.
  if (const char* env = std::getenv("TESSDATA_PREFIX"); env && *env) return env;
  for (const char* dir : {"/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata",
                          "/usr/share/tessdata", "/usr/local/share/tessdata"}) {
    std::error_code ec;
    if (std::filesystem::is_directory(dir, ec)) return dir;
  }
#endif
  return {};
}

#if LOOM_HAVE_TESSERACT

const char* tesseractVersion() { return tesseract::TessBaseAPI::Version(); }

namespace {

std::vector<std::string> splitLanguages(const std::string& lang) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= lang.size()) {
    size_t plus = lang.find('+', start);
    if (plus == std::string::npos) plus = lang.size();
    if (plus > start) out.push_back(lang.substr(start, plus - start));
    start = plus + 1;
  }
  return out;
}

// Debian names a language's data package tesseract-ocr-<lang>, lower case with '-' for '_'
// (chi_sim -> tesseract-ocr-chi-sim).
std::string packageFor(const std::string& lang) {
  std::string p = "tesseract-ocr-";
  for (char c : lang) p += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return p;
}

std::string packagesFor(const std::vector<std::string>& langs) {
  std::string s;
  for (const auto& l : langs) s += (s.empty() ? "" : " ") + packageFor(l);
  return s;
}

// A Tesseract handle that releases its language data when dropped.
struct Tess {
  tesseract::TessBaseAPI api;
  ~Tess() { api.End(); }
};

std::string quotedList(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "'" : ", '") + i + "'";
  return s;
}

class OcrModel final : public LocalModel {
 public:
  explicit OcrModel(OcrConfig config) : m_config(std::move(config)), m_tess([this] { return makeTess(); }) {}

  core::Result<void> tryOut() {
    auto t = makeTess();
    if (!t.ok()) return t.error();
    m_tess.adopt(std::move(t).value());
    return {};
  }

  core::Result<LocalResult> run(media::ObjectReader& reader, const media::MediaLimits& limits) const override {
    // Text needs every pixel: no reduced decoding.
    auto img = decodeImage(reader, limits, DecodeRequest{});
    if (!img.ok()) return img.error();
    auto tess = m_tess.get();
    if (!tess.ok()) return tess.error();
    cv::Mat grey;
    try {
      cv::cvtColor(img->bgr, grey, cv::COLOR_BGR2GRAY);
    } catch (const cv::Exception& e) {
      return rowError(ErrorKind::Internal, reader, "cannot convert to grey: " + cvMessage(e));
    }
    tesseract::TessBaseAPI& t = (*tess)->api;
    t.SetImage(grey.data, grey.cols, grey.rows, 1, static_cast<int>(grey.step));
    if (t.Recognize(nullptr) != 0) {
      t.Clear();
      return rowError(ErrorKind::Corrupt, reader, "Tesseract could not recognise the image");
    }
    LocalResult result;
    std::unique_ptr<char[]> text(t.GetUTF8Text());
    if (text) result.text = text.get();
    while (!result.text.empty() && std::isspace(static_cast<unsigned char>(result.text.back()))) result.text.pop_back();
    result.confidence = result.text.empty() ? 0 : t.MeanTextConf();
    t.Clear();  // drops the image and its results; the language stays loaded
    return result;
  }

 private:
  // Called once on each thread that reads pages.
  core::Result<std::unique_ptr<Tess>> makeTess() const {
    // Debian's Tesseract runs parts of its LSTM on OpenMP teams of 4 threads. Pages are already spread
    // over one worker per core, so those teams only oversubscribe the CPU (a page took 6.7 s instead
    // of 1.0 s here) and their CPU time escapes the ledger's per-thread measurement. With no active
    // parallel level every team is one thread, the caller. The setting belongs to this thread's
    // OpenMP data environment; only Tesseract uses OpenMP in Loom (OpenCV uses TBB).
    omp_set_max_active_levels(0);
    auto tess = std::make_unique<Tess>();
    tesseract::TessBaseAPI& api = tess->api;
    // Tesseract talks on stderr; what matters (a missing language) is reported below, in words.
    api.SetVariable("debug_file", "/dev/null");
    const auto langs = splitLanguages(m_config.lang);
    if (langs.empty()) return makeError(ErrorKind::InvalidInput, "lang: name a Tesseract language, e.g. eng or eng+deu");
    const std::string dir = tesseractDataDir();
    const std::string where = dir.empty() ? "Tesseract's data folder" : dir;
    if (api.Init(nullptr, m_config.lang.c_str(), tesseract::OEM_DEFAULT) != 0) {
      // Init fails only when the first language is missing; later ones are checked below.
      return makeError(ErrorKind::NotFound, "Tesseract has no data for language '" + langs.front() + "' in " + where +
                                                ": install the Debian package " + packageFor(langs.front()) +
                                                " (or set TESSDATA_PREFIX to a folder holding " + langs.front() +
                                                ".traineddata)");
    }
    std::vector<std::string> loaded;
    api.GetLoadedLanguagesAsVector(&loaded);
    std::vector<std::string> missing;
    for (const auto& l : langs)
      if (std::find(loaded.begin(), loaded.end(), l) == loaded.end()) missing.push_back(l);
    if (!missing.empty())
      return makeError(ErrorKind::NotFound, "Tesseract has no data for language" +
                                                std::string(missing.size() > 1 ? "s " : " ") + quotedList(missing) +
                                                " in " + where + ": install the Debian package" +
                                                (missing.size() > 1 ? "s " : " ") + packagesFor(missing));
    api.SetPageSegMode(static_cast<tesseract::PageSegMode>(m_config.psm));
    return tess;
  }

  OcrConfig m_config;
  PerThread<Tess> m_tess;
};

}  // namespace

#else  // built without Tesseract

const char* tesseractVersion() { return ""; }

#endif

core::Result<std::shared_ptr<const LocalModel>> loadOcr(const OcrConfig& config) {
#if LOOM_HAVE_TESSERACT
  setUpLibraries();
  auto model = std::make_shared<OcrModel>(config);
  if (auto r = model->tryOut(); !r.ok()) return r.error();
  return std::shared_ptr<const LocalModel>(std::move(model));
#else
  (void)config;
  return makeError(ErrorKind::Unsupported,
                   "built without Tesseract: install libtesseract-dev tesseract-ocr-eng and rebuild");
#endif
}

}  // namespace loom::inference::local

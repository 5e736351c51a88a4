// model.onnx, model.faces, model.ocr: local models run in-process on each row's image (ONNX through
// OpenCV DNN, Haar cascades, Tesseract), in the local models module (inference/local_models.h).
// Every image is one model call recorded in the ledger (provider "local", CPU seconds, cost at the
// node's cost_per_hour); a row whose image cannot be read or decoded fails alone. The node's cache key
// covers the content of the files it reads (model, labels, cascade, language data), so a changed model
// re-runs the node and an unchanged one is served from the node's output table.

#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "catalog/catalog.h"
#include "core/hash.h"
#include "inference/ledger.h"
#include "inference/local_models.h"
#include "media/object_reader.h"
#include "nodes/builtin_provider.h"
#include "storage/storage.h"
#include "storage/uri.h"

namespace loom::nodes {

using core::ColumnType;
using core::ErrorKind;
using core::makeError;

namespace {

constexpr const char* kDefaultCascade = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";

using core::textOf;

std::string stringParam(const Params& p, const std::string& key, const std::string& fallback = {}) {
  auto it = p.find(key);
  return it != p.end() && it->is_string() ? it->get<std::string>() : fallback;
}

double numberParam(const Params& p, const std::string& key, double fallback) {
  auto it = p.find(key);
  return it != p.end() && it->is_number() ? it->get<double>() : fallback;
}

int intParam(const Params& p, const std::string& key, int fallback) {
  auto it = p.find(key);
  return it != p.end() && it->is_number_integer() ? static_cast<int>(it->get<int64_t>()) : fallback;
}

double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string lastSegment(const std::string& uri) {
  auto name = uri.substr(uri.find_last_of('/') + 1);
  if (auto path = storage::pathFromFileUri(uri)) name = std::filesystem::path(*path).filename().string();
  return name;
}

// Validation is cheap: a local file must exist and be readable; other storage is only reached when
// the node runs (no network while a person edits a flow). "param: message" lets the validator name
// the parameter.
core::Result<void> checkReadableFile(const Params& p, const std::string& param, const std::string& what) {
  const std::string uri = stringParam(p, param);
  if (uri.empty()) return {};
  auto path = storage::pathFromFileUri(uri);
  if (!path) return {};
  std::error_code ec;
  auto st = std::filesystem::status(*path, ec);
  if (ec || !std::filesystem::exists(st))
    return makeError(ErrorKind::InvalidFlow, param + ": " + *path + " does not exist; give the path of " + what +
                                                 " (a relative path is read from the flow's folder)");
  if (!std::filesystem::is_regular_file(st))
    return makeError(ErrorKind::InvalidFlow, param + ": " + *path + " is not a file; give the path of " + what);
  if (::access(path->c_str(), R_OK) != 0)
    return makeError(ErrorKind::InvalidFlow, param + ": " + *path + " cannot be read (permission denied)");
  return {};
}

// The whole content of a parameter's file, through the storage layer.
core::Result<std::string> readParamFile(const Params& p, const std::string& param) {
  const std::string uri = stringParam(p, param);
  auto backend = storage::storageFor(uri);
  if (!backend.ok()) return makeError(backend.error().kind, param + ": " + backend.error().message);
  auto bytes = backend.value()->read(uri, 0, -1);
  if (!bytes.ok()) return makeError(bytes.error().kind, param + ": " + bytes.error().message);
  return bytes;
}

// sha256 of an object's content, remembered per (uri, etag) for the life of the process, so a cache
// check of an unchanged 100 MB model costs a stat, not a read.
core::Result<std::string> contentDigest(const std::string& uri, const std::string& param) {
  static std::mutex mutex;
  static std::map<std::pair<std::string, std::string>, std::string> known;
  auto backend = storage::storageFor(uri);
  if (!backend.ok()) return makeError(backend.error().kind, param + ": " + backend.error().message);
  auto info = backend.value()->stat(uri);
  if (!info.ok()) return makeError(info.error().kind, param + ": " + info.error().message);
  const auto key = std::make_pair(uri, info->etag);
  if (!info->etag.empty()) {
    std::lock_guard lock(mutex);
    if (auto it = known.find(key); it != known.end()) return it->second;
  }
  auto bytes = backend.value()->read(uri, 0, -1);
  if (!bytes.ok()) return makeError(bytes.error().kind, param + ": " + bytes.error().message);
  std::string digest = core::sha256Hex(*bytes);
  if (!info->etag.empty()) {
    std::lock_guard lock(mutex);
    known[key] = digest;
  }
  return digest;
}

core::Result<const inference::LocalModelsApi*> moduleFor(const ExecContext& ctx) {
  auto api = inference::localModels();
  if (!api.ok()) return makeError(api.error().kind, "node '" + ctx.nodeId() + "': " + api.error().message);
  return api;
}

// A model that cannot be read or loaded ends the run: every row would fail the same way.
[[noreturn]] void failRun(const ExecContext& ctx, const core::Error& e) {
  throw core::RunError(e.kind, "node '" + ctx.nodeId() + "': " + e.message);
}

// What a node hands to runLocalModel().
struct LocalRun {
  std::shared_ptr<const inference::LocalModel> model;
  std::string modelName;    // the ledger's model: a file name, "tesseract:eng"
  std::string keyMaterial;  // content hashes and parameters, for each call's request hash
  std::string column;       // the column holding each row's object URI
  double costPerHour = 0;   // USD per compute hour
  // Writes a result into the row's output columns; returns the response kept in the ledger.
  std::function<nlohmann::json(const inference::LocalResult&, std::vector<core::Value>&)> fill;
};

// The per-row loop shared by the three nodes: each image on a worker thread, timed (wall and thread
// CPU time), one ledger record per image written with the batch.
void runLocalModel(const LocalRun& run, const std::string& nodeType, ExecContext& ctx) {
  const core::Schema& out = ctx.outputSchema();
  const int iCol = out.indexOf(run.column), iEtag = out.indexOf("etag"), iErr = out.indexOf("error");
  const int iSize = run.column == "uri" ? out.indexOf("size") : -1;
  const media::MediaLimits limits;
  const double rate = run.costPerHour / 3600.0;

  std::vector<std::optional<inference::CallRecord>> calls;  // per row of the batch, filled by workers
  const RowBuffer* batchBase = nullptr;
  std::atomic<int64_t> done{0}, failed{0};
  std::mutex totalsMutex;
  double cpuTotal = 0, costTotal = 0;

  MapSpec spec;
  spec.beforeBatch = [&](std::vector<RowBuffer>& batch) {
    batchBase = batch.data();
    calls.assign(batch.size(), std::nullopt);
    for (auto& row : batch)
      if (!core::isNull(row.values[static_cast<size_t>(iErr)])) row.done = true;  // keep the upstream error
  };
  spec.perRow = [&](RowBuffer& row) {
    auto& v = row.values;
    auto fail = [&](const std::string& msg) {
      v[static_cast<size_t>(iErr)] = msg;
      failed.fetch_add(1);
    };
    const std::string uri = textOf(v[static_cast<size_t>(iCol)]);
    if (uri.empty()) return fail("no object URI in column '" + run.column + "'");
    auto backend = storage::storageFor(uri);
    if (!backend.ok()) return fail(uri + ": " + backend.error().message);
    int64_t size = -1;
    if (iSize >= 0 && std::holds_alternative<int64_t>(v[static_cast<size_t>(iSize)]))
      size = std::get<int64_t>(v[static_cast<size_t>(iSize)]);
    const std::string etag = iEtag >= 0 ? textOf(v[static_cast<size_t>(iEtag)]) : std::string();
    media::ObjectReader reader(backend.value(), uri, size, limits.maxPreviewBytes, limits.maxSeconds);

    const auto wall0 = std::chrono::steady_clock::now();
    const double cpu0 = threadCpuSeconds();
    auto result = run.model->run(reader, limits);
    const double cpu = threadCpuSeconds() - cpu0;
    const double wallMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall0).count();

    inference::CallRecord rec;
    rec.provider = "local";
    rec.model = run.modelName;
    core::Hasher h;
    h.field("local").field(run.modelName).field(run.keyMaterial).field(uri).field(etag);
    rec.requestHash = h.hex();
    rec.computeSeconds = cpu;
    rec.latencyMs = wallMs;
    rec.costUsd = cpu * rate;
    rec.requestJson = nlohmann::json{{"uri", uri}, {"etag", etag}}.dump();
    if (result.ok()) {
      rec.status = "ok";
      rec.responseJson = run.fill(*result, v).dump();
      done.fetch_add(1);
    } else {
      rec.status = "error";
      rec.error = result.error().message;
      fail(result.error().message);
    }
    {
      std::lock_guard lock(totalsMutex);
      cpuTotal += rec.computeSeconds;
      costTotal += rec.costUsd;
    }
    calls[static_cast<size_t>(&row - batchBase)] = std::move(rec);
  };
  spec.afterBatch = [&](std::vector<RowBuffer>&) {
    std::vector<inference::CallRecord> records;
    for (auto& c : calls)
      if (c) records.push_back(std::move(*c));
    inference::recordCalls(ctx.catalog(), ctx.runId(), ctx.nodeId(), nodeType, records);
  };
  ctx.mapRows(spec);
  std::ostringstream msg;
  msg << ctx.nodeId() << ": " << done.load() << " images through " << run.modelName << ", " << failed.load()
      << " failed; " << cpuTotal << " s CPU, $" << costTotal;
  ctx.feedback().info(msg.str());
}

// Common parameters and checks of the three nodes.
class LocalModelNode : public NodeType {
 public:
  std::string category() const override { return "Models"; }

 protected:
  static ParamSpec columnParam() {
    return {"column", ParamType::String, "column holding each row's image URI", false, "uri"};
  }
  static ParamSpec costParam() {
    ParamSpec s{"cost_per_hour", ParamType::Number,
                "USD per hour of CPU time, to cost each call in the ledger (0: free)", false, 0.0};
    s.minimum = 0;
    return s;
  }
  // The input has the image column; adds `error`.
  static core::Result<core::Schema> baseSchema(const Params& p, const std::vector<core::Schema>& in) {
    const std::string column = stringParam(p, "column", "uri");
    if (!in[0].has(column))
      return makeError(ErrorKind::InvalidFlow,
                       "column: the input has no column '" + column +
                           "'; connect this node after storage.list or a dataset of objects, or name the column "
                           "that holds image URIs");
    core::Schema s = in[0];
    s.set({"error", ColumnType::Text, "why the image gave no result (or failed upstream); null when fine"});
    return s;
  }
  static core::Result<void> checkColumnName(const std::string& param, const std::string& name) {
    if (!core::isValidColumnName(name) || name == "error")
      return makeError(ErrorKind::InvalidFlow, param + ": '" + name +
                                                   "' is not a usable column name: use letters, digits and '_' (not "
                                                   "first), and not 'error'");
    return {};
  }
};

// ---------------------------------------------------------------------------------------------------

// "0.485,0.456,0.406" (one value: the same for every channel).
core::Result<std::array<double, 3>> parseTriple(const Params& p, const std::string& param) {
  const std::string text = stringParam(p, param);
  std::vector<double> values;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      double d = std::stod(item, &used);
      if (item.find_first_not_of(" \t", used) != std::string::npos) throw std::invalid_argument(item);
      values.push_back(d);
    } catch (const std::exception&) {
      return makeError(ErrorKind::InvalidFlow,
                       param + ": '" + text + "' is not a list of numbers; write one per channel, e.g. 0.485,0.456,0.406");
    }
  }
  if (values.size() == 1) values.assign(3, values[0]);
  if (values.size() != 3)
    return makeError(ErrorKind::InvalidFlow, param + ": give 3 numbers (one per channel, in channel_order) or 1 for "
                                                     "all, separated by commas; got '" + text + "'");
  return std::array<double, 3>{values[0], values[1], values[2]};
}

class ModelOnnx : public LocalModelNode {
 public:
  std::string id() const override { return "model.onnx"; }
  std::string title() const override { return "ONNX model"; }
  std::string doc() const override {
    return "Runs an ONNX model (OpenCV DNN, on the CPU) on each row's image. Each image is decoded with its EXIF "
           "orientation, resized to width x height (the aspect ratio is not kept), put in channel_order, and each "
           "value becomes (pixel x scale - mean) / std. classify gives the best class (its label from the labels "
           "file, else its index) and its probability, and the top_k classes as JSON when top_k > 1; outputs that "
           "are not already probabilities (each in 0..1, summing to 1) go through a softmax (a sigmoid for a "
           "single output). embed gives the output as a blob of little-endian float32 and its length. Each image "
           "is one call in the ledger, costed at cost_per_hour of CPU time.";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec model{"model", ParamType::Uri, "the .onnx file (a path is read from the flow's folder)", true, nullptr};
    ParamSpec task{"task", ParamType::Enum, "classify (label and score) or embed (a float32 vector)", false,
                   "classify"};
    task.choices = {"classify", "embed"};
    ParamSpec width{"width", ParamType::Integer, "model input width in pixels", false, 224};
    ParamSpec height{"height", ParamType::Integer, "model input height in pixels", false, 224};
    for (auto* s : {&width, &height}) {
      s->minimum = 1;
      s->maximum = 8192;
    }
    ParamSpec mean{"mean", ParamType::String,
                   "per-channel mean subtracted after scaling, comma-separated, e.g. 0.485,0.456,0.406", false,
                   "0,0,0"};
    ParamSpec stdv{"std", ParamType::String,
                   "per-channel standard deviation divided by, comma-separated, e.g. 0.229,0.224,0.225", false,
                   "1,1,1"};
    ParamSpec scale{"scale", ParamType::Number, "pixel values (0..255) are multiplied by this first", false,
                    1.0 / 255.0};
    ParamSpec order{"channel_order", ParamType::Enum, "the model's channel order", false, "rgb"};
    order.choices = {"rgb", "bgr"};
    ParamSpec labels{"labels", ParamType::Uri, "classify: a text file with one class label per line", false,
                     nullptr};
    ParamSpec topK{"top_k", ParamType::Integer, "classify: how many best classes to list in <output>_top", false, 1};
    topK.minimum = 1;
    topK.maximum = 1000;
    ParamSpec output{"output", ParamType::String,
                     "output column (and prefix of the others); default 'label' (classify) or 'embedding' (embed)",
                     false, nullptr};
    return {model, columnParam(), task, width, height, mean, stdv, scale, order, labels, topK, output, costParam()};
  }

  static std::string outputName(const Params& p) {
    return stringParam(p, "output", stringParam(p, "task", "classify") == "embed" ? "embedding" : "label");
  }

  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    auto s = baseSchema(p, in);
    if (!s.ok()) return s;
    for (const char* param : {"mean", "std"})
      if (auto t = parseTriple(p, param); !t.ok()) return t.error();
    if (auto t = parseTriple(p, "std"); t.ok())
      for (double d : *t)
        if (d == 0) return makeError(ErrorKind::InvalidFlow, "std: every channel's std must be non-zero");
    if (auto r = checkReadableFile(p, "model", "an .onnx model file"); !r.ok()) return r.error();
    if (auto r = checkReadableFile(p, "labels", "a labels file (one label per line)"); !r.ok()) return r.error();
    const std::string output = outputName(p);
    if (auto r = checkColumnName("output", output); !r.ok()) return r.error();
    if (stringParam(p, "task") == "embed") {
      s->set({output, ColumnType::Blob, "the model's output, little-endian float32"});
      s->set({output + "_dim", ColumnType::Integer, "number of floats in " + output});
    } else {
      s->set({output, ColumnType::Text, "best class: its label, or its index when there is no labels file"});
      s->set({output + "_score", ColumnType::Real, "probability of the best class"});
      if (intParam(p, "top_k", 1) > 1)
        s->set({output + "_top", ColumnType::Text, "JSON list of the top_k classes: [{\"label\", \"score\"}]"});
    }
    return s;
  }

  core::Result<std::string> runtimeKey(const Params& p, catalog::Catalog&) const override {
    auto model = contentDigest(stringParam(p, "model"), "model");
    if (!model.ok()) return model.error();
    std::string key = "model:" + *model;
    if (!stringParam(p, "labels").empty()) {
      auto labels = contentDigest(stringParam(p, "labels"), "labels");
      if (!labels.ok()) return labels.error();
      key += " labels:" + *labels;
    }
    return key;
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    auto api = moduleFor(ctx);
    if (!api.ok()) throw core::RunError(api.error());
    inference::OnnxConfig config;
    config.name = stringParam(p, "model");
    auto bytes = readParamFile(p, "model");
    if (!bytes.ok()) failRun(ctx, bytes.error());
    config.modelBytes = std::move(bytes).value();
    const std::string modelHash = core::sha256Hex(config.modelBytes);
    config.task = stringParam(p, "task") == "embed" ? inference::OnnxTask::Embed : inference::OnnxTask::Classify;
    config.width = intParam(p, "width", 224);
    config.height = intParam(p, "height", 224);
    config.mean = parseTriple(p, "mean").orThrow();
    config.std = parseTriple(p, "std").orThrow();
    config.scale = numberParam(p, "scale", 1.0 / 255.0);
    config.rgb = stringParam(p, "channel_order", "rgb") == "rgb";
    config.topK = intParam(p, "top_k", 1);
    std::string labelsHash;
    if (!stringParam(p, "labels").empty()) {
      auto labels = readParamFile(p, "labels");
      if (!labels.ok()) failRun(ctx, labels.error());
      labelsHash = core::sha256Hex(*labels);
      std::istringstream in(*labels);
      for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        config.labels.push_back(line);
      }
      while (!config.labels.empty() && config.labels.back().empty()) config.labels.pop_back();
    }
    auto model = (*api)->loadOnnx(config);
    if (!model.ok()) failRun(ctx, model.error());
    std::string().swap(config.modelBytes);  // the model keeps its own copy

    LocalRun run;
    run.model = *model;
    run.modelName = lastSegment(config.name);
    run.keyMaterial = modelHash + ":" + labelsHash + ":" + p.dump();
    run.column = stringParam(p, "column", "uri");
    run.costPerHour = numberParam(p, "cost_per_hour", 0);
    const std::string output = outputName(p);
    const core::Schema& out = ctx.outputSchema();
    const auto iOut = static_cast<size_t>(out.indexOf(output));
    if (config.task == inference::OnnxTask::Embed) {
      const auto iDim = static_cast<size_t>(out.indexOf(output + "_dim"));
      run.fill = [=](const inference::LocalResult& r, std::vector<core::Value>& v) {
        core::BlobValue blob;
        blob.bytes.resize(r.embedding.size() * sizeof(float));
        for (size_t i = 0; i < r.embedding.size(); ++i) {
          uint32_t bits = std::bit_cast<uint32_t>(r.embedding[i]);
          for (int b = 0; b < 4; ++b) blob.bytes[i * 4 + static_cast<size_t>(b)] = static_cast<char>(bits >> (8 * b));
        }
        v[iOut] = std::move(blob);
        v[iDim] = static_cast<int64_t>(r.embedding.size());
        return nlohmann::json{{"dim", r.embedding.size()}};
      };
    } else {
      const auto iScore = static_cast<size_t>(out.indexOf(output + "_score"));
      const int iTop = out.indexOf(output + "_top");
      const int topK = config.topK;
      run.fill = [=](const inference::LocalResult& r, std::vector<core::Value>& v) {
        nlohmann::json top = nlohmann::json::array();
        for (const auto& [label, score] : r.top) top.push_back({{"label", label}, {"score", score}});
        if (!r.top.empty()) {
          v[iOut] = r.top.front().first;
          v[iScore] = r.top.front().second;
        }
        if (iTop >= 0 && topK > 1) v[static_cast<size_t>(iTop)] = top.dump();
        return nlohmann::json{{"top", top}};
      };
    }
    runLocalModel(run, id(), ctx);
  }
};

// ---------------------------------------------------------------------------------------------------

class ModelFaces : public LocalModelNode {
 public:
  std::string id() const override { return "model.faces"; }
  std::string title() const override { return "Detect faces"; }
  std::string doc() const override {
    return "Counts the faces in each row's image with an OpenCV Haar cascade (by default Debian opencv-data's "
           "frontal-face cascade; cascade picks another, e.g. for eyes or profiles), and lists their boxes in the "
           "original image's pixels. Images are analysed at most 1600 pixels on their longest side. Each image is "
           "one call in the ledger, costed at cost_per_hour of CPU time.";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec cascade{"cascade", ParamType::Uri, "the cascade XML file (opencv_traincascade format)", false,
                      kDefaultCascade};
    ParamSpec scale{"scale_factor", ParamType::Number, "how much the search window grows per step (> 1)", false, 1.1};
    scale.minimum = 1.01;
    scale.maximum = 3;
    ParamSpec neighbors{"min_neighbors", ParamType::Integer,
                        "overlapping detections needed to keep a face (higher: fewer false faces)", false, 5};
    neighbors.minimum = 0;
    neighbors.maximum = 100;
    ParamSpec minSize{"min_size", ParamType::Integer, "smallest face side kept, in the image's pixels", false, 24};
    minSize.minimum = 1;
    minSize.maximum = 100000;
    return {columnParam(), cascade, scale, neighbors, minSize, costParam()};
  }

  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    auto s = baseSchema(p, in);
    if (!s.ok()) return s;
    if (auto r = checkReadableFile(p, "cascade",
                                   "a cascade XML file (install Debian's opencv-data for the stock cascades)");
        !r.ok())
      return r.error();
    s->set({"faces", ColumnType::Integer, "number of faces found"});
    s->set({"faces_json", ColumnType::Text, "JSON list of face boxes {x, y, w, h} in the image's pixels"});
    return s;
  }

  core::Result<std::string> runtimeKey(const Params& p, catalog::Catalog&) const override {
    auto digest = contentDigest(stringParam(p, "cascade"), "cascade");
    if (!digest.ok()) return digest.error();
    return "cascade:" + *digest;
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    auto api = moduleFor(ctx);
    if (!api.ok()) throw core::RunError(api.error());
    inference::CascadeConfig config;
    config.name = stringParam(p, "cascade");
    auto xml = readParamFile(p, "cascade");
    if (!xml.ok()) failRun(ctx, xml.error());
    config.xml = std::move(xml).value();
    config.scaleFactor = numberParam(p, "scale_factor", 1.1);
    config.minNeighbors = intParam(p, "min_neighbors", 5);
    config.minSize = intParam(p, "min_size", 24);
    const std::string digest = core::sha256Hex(config.xml);
    auto model = (*api)->loadCascade(config);
    if (!model.ok()) failRun(ctx, model.error());

    LocalRun run;
    run.model = *model;
    std::string name = lastSegment(config.name);
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".xml") == 0) name.resize(name.size() - 4);
    run.modelName = name;
    run.keyMaterial = digest + ":" + p.dump();
    run.column = stringParam(p, "column", "uri");
    run.costPerHour = numberParam(p, "cost_per_hour", 0);
    const core::Schema& out = ctx.outputSchema();
    const auto iFaces = static_cast<size_t>(out.indexOf("faces")), iJson = static_cast<size_t>(out.indexOf("faces_json"));
    run.fill = [=](const inference::LocalResult& r, std::vector<core::Value>& v) {
      nlohmann::json boxes = nlohmann::json::array();
      for (const auto& b : r.boxes) boxes.push_back({{"x", b.x}, {"y", b.y}, {"w", b.w}, {"h", b.h}});
      v[iFaces] = static_cast<int64_t>(r.boxes.size());
      v[iJson] = boxes.dump();
      return nlohmann::json{{"faces", boxes}};
    };
    runLocalModel(run, id(), ctx);
  }
};

// ---------------------------------------------------------------------------------------------------

bool validLanguages(const std::string& lang) {
  if (lang.empty() || lang.front() == '+' || lang.back() == '+' || lang.find("++") != std::string::npos) return false;
  for (char c : lang)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+')) return false;
  return true;
}

class ModelOcr : public LocalModelNode {
 public:
  std::string id() const override { return "model.ocr"; }
  std::string title() const override { return "Read text (OCR)"; }
  std::string doc() const override {
    return "Reads the text in each row's image with Tesseract, and its mean word confidence (0..100). lang names "
           "Tesseract languages (eng, or several as eng+deu), each needing its Debian package tesseract-ocr-<lang>; "
           "psm is Tesseract's page segmentation mode (3: automatic; 6: one block of text; 7: one line). Each "
           "image is one call in the ledger, costed at cost_per_hour of CPU time.";
  }
  std::vector<ParamSpec> params() const override {
    ParamSpec lang{"lang", ParamType::String, "Tesseract language(s): eng, deu, eng+deu, ...", false, "eng"};
    ParamSpec psm{"psm", ParamType::Integer, "page segmentation mode, as tesseract --psm (0..13)", false, 3};
    psm.minimum = 0;
    psm.maximum = 13;
    return {columnParam(), lang, psm, costParam()};
  }

  core::Result<core::Schema> outputSchema(const Params& p, const std::vector<core::Schema>& in,
                                          const ValidationContext&) const override {
    auto s = baseSchema(p, in);
    if (!s.ok()) return s;
    if (!validLanguages(stringParam(p, "lang")))
      return makeError(ErrorKind::InvalidFlow, "lang: '" + stringParam(p, "lang") +
                                                   "' is not a Tesseract language list; write e.g. eng or eng+deu");
    s->set({"text", ColumnType::Text, "the text read, lines separated by newlines"});
    s->set({"ocr_confidence", ColumnType::Real, "mean word confidence, 0..100"});
    return s;
  }

  // Tesseract's version and its language files, so new language data re-runs the node.
  core::Result<std::string> runtimeKey(const Params& p, catalog::Catalog&) const override {
    auto api = inference::localModels();
    if (!api.ok()) return std::string();  // the run will fail and say why
    std::string key = std::string("tesseract:") + (*api)->tesseractVersion();
    const std::string dir = (*api)->tesseractDataDir();
    std::stringstream langs(stringParam(p, "lang", "eng"));
    for (std::string lang; std::getline(langs, lang, '+');) {
      const auto file = storage::fileUriFromPath(dir + "/" + lang + ".traineddata");
      auto digest = contentDigest(file, "lang");
      key += " " + lang + ":" + (digest.ok() ? *digest : std::string("missing"));
    }
    return key;
  }

  void execute(const Params& p, ExecContext& ctx) const override {
    auto api = moduleFor(ctx);
    if (!api.ok()) throw core::RunError(api.error());
    inference::OcrConfig config;
    config.lang = stringParam(p, "lang", "eng");
    config.psm = intParam(p, "psm", 3);
    auto model = (*api)->loadOcr(config);
    if (!model.ok()) failRun(ctx, model.error());

    LocalRun run;
    run.model = *model;
    run.modelName = "tesseract:" + config.lang;
    run.keyMaterial = runtimeKey(p, ctx.catalog()).value() + ":" + p.dump();
    run.column = stringParam(p, "column", "uri");
    run.costPerHour = numberParam(p, "cost_per_hour", 0);
    const core::Schema& out = ctx.outputSchema();
    const auto iText = static_cast<size_t>(out.indexOf("text")), iConf = static_cast<size_t>(out.indexOf("ocr_confidence"));
    run.fill = [=](const inference::LocalResult& r, std::vector<core::Value>& v) {
      v[iText] = r.text;
      v[iConf] = r.confidence;
      return nlohmann::json{{"text", r.text}, {"confidence", r.confidence}};
    };
    runLocalModel(run, id(), ctx);
  }
};

}  // namespace

void addLocalModelNodes(NodeRegistry& registry) {
  registry.add(std::make_shared<ModelOnnx>());
  registry.add(std::make_shared<ModelFaces>());
  registry.add(std::make_shared<ModelOcr>());
}

}  // namespace loom::nodes

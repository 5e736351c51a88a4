// Local models in flows: ONNX models written by tests/support/make_onnx_model.py (python3-onnx, nothing
// downloaded) whose answer is the image's mean colour, a face drawn for the stock Haar cascade, text
// rendered for Tesseract; broken files beside good ones, the ledger, and the node cache.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "exec/executor.h"
#include "flow/flow.h"
#include "flow/validate.h"
#include "inference/local_models.h"
#include "nodes/registry.h"
#include "test_support.h"

using namespace loom;

namespace {

namespace fs = std::filesystem;
using Row = std::map<std::string, core::Value>;

// The Python that has Debian's python3-onnx (a pyenv or venv python3 first on PATH may not).
const std::string& pythonWithOnnx() {
  static const std::string found = [] {
    for (std::string py : {"/usr/bin/python3", "python3"})
      if (std::system((py + " -c 'import onnx' >/dev/null 2>&1").c_str()) == 0) return py;
    return std::string();
  }();
  return found;
}

#define REQUIRE_ONNX()                                                                                  \
  if (pythonWithOnnx().empty()) GTEST_SKIP() << "python3-onnx is missing: cannot write the test models " \
                                                "(scripts/install-deps.sh installs it)"

void makeModel(const std::string& kind, const fs::path& out, int size = 32) {
  fs::create_directories(out.parent_path());
  const std::string cmd = pythonWithOnnx() + " " + LOOM_SOURCE_DIR + "/tests/support/make_onnx_model.py " + kind +
                          " '" + out.string() + "' " + std::to_string(size);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

void writeImage(const fs::path& p, const cv::Mat& img) {
  fs::create_directories(p.parent_path());
  ASSERT_TRUE(cv::imwrite(p.string(), img)) << p;
}

cv::Mat solid(int w, int h, cv::Scalar bgr) { return cv::Mat(h, w, CV_8UC3, bgr); }

// A face drawn the way the frontal-face cascade sees one: a skin oval under dark hair, brows, eyes
// with whites and irises, a nose and a mouth, slightly blurred like a photo. `features` false draws
// the same oval without eyes, nose and mouth (which the cascade must not call a face).
void drawFace(cv::Mat& img, cv::Point centre, int side, bool features = true) {
  auto P = [&](double x, double y) {
    return centre + cv::Point(static_cast<int>(side * (x - 0.5)), static_cast<int>(side * (y - 0.5)));
  };
  auto Z = [&](double w, double h) { return cv::Size(static_cast<int>(side * w), static_cast<int>(side * h)); };
  cv::ellipse(img, P(0.5, 0.42), Z(0.30, 0.30), 0, 180, 360, cv::Scalar(30, 40, 60), -1);
  cv::ellipse(img, P(0.5, 0.52), Z(0.26, 0.34), 0, 0, 360, cv::Scalar(150, 175, 215), -1);
  if (!features) return;
  for (double x : {0.39, 0.61}) {
    cv::ellipse(img, P(x, 0.40), Z(0.07, 0.02), 0, 180, 360, cv::Scalar(40, 50, 70), -1);
    cv::ellipse(img, P(x, 0.46), Z(0.055, 0.028), 0, 0, 360, cv::Scalar(235, 235, 235), -1);
    cv::circle(img, P(x, 0.46), static_cast<int>(side * 0.025), cv::Scalar(40, 30, 30), -1);
  }
  cv::ellipse(img, P(0.5, 0.60), Z(0.04, 0.02), 0, 0, 360, cv::Scalar(110, 130, 170), -1);
  cv::ellipse(img, P(0.5, 0.71), Z(0.09, 0.025), 0, 0, 360, cv::Scalar(70, 70, 150), -1);
}

cv::Mat faceImage(int w, int h, const std::vector<std::pair<cv::Point, int>>& faces, bool features = true) {
  cv::Mat img = solid(w, h, cv::Scalar(60, 70, 80));
  for (const auto& [c, side] : faces) drawFace(img, c, side, features);
  cv::GaussianBlur(img, img, cv::Size(), 2.0);
  return img;
}

std::string be16(unsigned v) { return {static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)}; }

// The JPEG with an EXIF APP1 segment saying orientation 6 (turn 90° clockwise to display).
std::string withOrientation6(const std::string& jpg) {
  std::string tiff = std::string("MM\0\x2a\0\0\0\x08", 8) + std::string("\0\x01", 2) +
                     std::string("\x01\x12\0\x03\0\0\0\x01\0\x06\0\0", 12) + std::string(4, '\0');
  std::string app1 = std::string("Exif\0\0", 6) + tiff;
  return jpg.substr(0, 2) + "\xFF\xE1" + be16(static_cast<unsigned>(app1.size() + 2)) + app1 + jpg.substr(2);
}

std::string jpegBytes(const cv::Mat& img) {
  std::vector<uchar> buf;
  cv::imencode(".jpg", img, buf, {cv::IMWRITE_JPEG_QUALITY, 92});
  return std::string(buf.begin(), buf.end());
}

class Infos : public core::Feedback {
 public:
  void info(const std::string& m) override { messages.push_back(m); }
  std::vector<std::string> messages;
};

class LocalModels : public ::testing::Test {
 protected:
  void SetUp() override { cat = catalog::Catalog::open((dir / "catalog.db").string()).orThrow(); }

  // storage.list over data/ -> the model node -> dataset.save `name`.
  flow::Flow flowWith(const std::string& type, const nlohmann::json& params, const std::string& name = "out") {
    nlohmann::json j = {
        {"format", "loom.flow/1"},
        {"name", "local-models"},
        {"nodes",
         {{{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", (dir / "data").string()}}}},
          {{"id", "m"}, {"type", type}, {"params", params}},
          {{"id", "save"}, {"type", "dataset.save"}, {"params", {{"name", name}}}}}},
        {"edges", {{{"from", "src"}, {"to", "m"}}, {{"from", "m"}, {"to", "save"}}}}};
    return flow::parseFlow(j.dump(), "test").orThrow();
  }

  exec::RunResult run(const flow::Flow& f) {
    exec::Executor ex(*cat, nodes::NodeRegistry::builtin());
    exec::RunOptions opts;
    opts.flowPath = (dir / "test.loomflow").string();
    return ex.run(f, opts, feedback);
  }

  // The saved dataset's rows, by file name.
  std::map<std::string, Row> rows(const std::string& name = "out") {
    auto v = cat->resolveDataset(name).orThrow();
    std::map<std::string, Row> out;
    cat->readRows(v, 0, -1, [&](const std::vector<core::Value>& row) {
      Row r;
      for (size_t i = 0; i < v.schema.size(); ++i) r[v.schema[i].name] = row[i + 1];
      out[std::get<std::string>(r["name"])] = r;
    });
    return out;
  }

  static std::string text(const Row& r, const std::string& col) {
    auto it = r.find(col);
    return it != r.end() && std::holds_alternative<std::string>(it->second) ? std::get<std::string>(it->second) : "";
  }
  static bool isNull(const Row& r, const std::string& col) { return core::isNull(r.at(col)); }

  int64_t ledgerCount(const std::string& where = "1") {
    auto s = cat->db().prepare("SELECT count(*) FROM model_calls WHERE " + where);
    EXPECT_TRUE(s.step());
    return s.int64(0);
  }

  std::string nodeStatus(const exec::RunResult& r, const std::string& id) {
    for (const auto& n : r.nodes)
      if (n.id == id) return n.status;
    return "";
  }

  test::TempDir dir;
  std::unique_ptr<catalog::Catalog> cat;
  Infos feedback;
};

// ------------------------------------------------------------------------------------------------
// model.onnx

TEST_F(LocalModels, OnnxClassifierNamesEachImagesColourFromTheLabelsFile) {
  REQUIRE_ONNX();
  makeModel("colour-logits", dir / "models/colour.onnx");
  test::writeFile(dir / "models/labels.txt", "red\ngreen\nblue\n");
  writeImage(dir / "data/red.jpg", solid(640, 480, cv::Scalar(0, 0, 255)));
  writeImage(dir / "data/blue.png", solid(50, 70, cv::Scalar(255, 0, 0)));
  writeImage(dir / "data/green.png", solid(300, 300, cv::Scalar(0, 255, 0)));
  // Mostly red with a blue stripe: the mean is still red.
  cv::Mat mixed = solid(200, 200, cv::Scalar(0, 0, 255));
  mixed(cv::Rect(0, 0, 200, 40)).setTo(cv::Scalar(255, 0, 0));
  writeImage(dir / "data/mostly_red.png", mixed);

  auto r = run(flowWith("model.onnx", {{"model", (dir / "models/colour.onnx").string()},
                                       {"labels", (dir / "models/labels.txt").string()},
                                       {"width", 32},
                                       {"height", 32},
                                       {"top_k", 2}}));
  EXPECT_EQ(r.status, "succeeded");
  EXPECT_EQ(r.rowsFailed, 0);
  auto out = rows();
  ASSERT_EQ(out.size(), 4u);
  for (auto [file, want] : std::vector<std::pair<std::string, std::string>>{
           {"red.jpg", "red"}, {"blue.png", "blue"}, {"green.png", "green"}, {"mostly_red.png", "red"}}) {
    const Row& row = out[file];
    EXPECT_TRUE(isNull(row, "error")) << text(row, "error");
    EXPECT_EQ(text(row, "label"), want) << file;
    const double score = std::get<double>(row.at("label_score"));
    EXPECT_GT(score, 0.5) << file;
    EXPECT_LE(score, 1.0) << file;
    auto top = nlohmann::json::parse(text(row, "label_top"));
    ASSERT_EQ(top.size(), 2u) << file;
    EXPECT_EQ(top[0]["label"], want);
    EXPECT_DOUBLE_EQ(top[0]["score"].get<double>(), score);
    EXPECT_LE(top[1]["score"].get<double>(), score);
  }
  // A solid colour is certain: softmax of (5, -5, -5).
  EXPECT_NEAR(std::get<double>(out["blue.png"].at("label_score")), 1.0 / (1.0 + 2.0 * std::exp(-10.0)), 1e-4);
}

TEST_F(LocalModels, SoftmaxIsAppliedOnlyWhenOutputsAreNotProbabilities) {
  REQUIRE_ONNX();
  makeModel("colour-logits", dir / "models/logits.onnx");
  makeModel("colour-probs", dir / "models/probs.onnx");
  writeImage(dir / "data/red.png", solid(64, 64, cv::Scalar(0, 0, 255)));
  const double expected = 1.0 / (1.0 + 2.0 * std::exp(-10.0));
  for (auto model : {"logits.onnx", "probs.onnx"}) {
    auto f = flowWith("model.onnx", {{"model", (dir / "models" / model).string()}, {"width", 32}, {"height", 32}},
                      std::string("out_") + model[0]);
    run(f);
    auto out = rows(std::string("out_") + model[0]);
    // No labels file: the class index. A second softmax over probabilities would give 0.576.
    EXPECT_EQ(text(out["red.png"], "label"), "0") << model;
    EXPECT_NEAR(std::get<double>(out["red.png"].at("label_score")), expected, 1e-4) << model;
    EXPECT_FALSE(out["red.png"].count("label_top")) << "top_k 1 adds no _top column";
  }
}

TEST_F(LocalModels, EmbeddingIsABlobOfLittleEndianFloat32) {
  REQUIRE_ONNX();
  makeModel("embed", dir / "models/embed.onnx", 16);
  writeImage(dir / "data/red.png", solid(40, 30, cv::Scalar(0, 0, 255)));
  writeImage(dir / "data/grey.png", solid(40, 30, cv::Scalar(51, 51, 51)));
  run(flowWith("model.onnx", {{"model", (dir / "models/embed.onnx").string()},
                              {"task", "embed"},
                              {"width", 16},
                              {"height", 16},
                              {"output", "vec"}}));
  auto out = rows();
  auto floats = [&](const Row& r) {
    const auto& blob = std::get<core::BlobValue>(r.at("vec")).bytes;
    std::vector<float> v(blob.size() / 4);
    for (size_t i = 0; i < v.size(); ++i) {
      uint32_t bits = 0;
      for (int b = 0; b < 4; ++b) bits |= static_cast<uint32_t>(static_cast<unsigned char>(blob[i * 4 + b])) << (8 * b);
      std::memcpy(&v[i], &bits, 4);
    }
    return v;
  };
  ASSERT_TRUE(isNull(out["red.png"], "error")) << text(out["red.png"], "error");
  EXPECT_EQ(std::get<int64_t>(out["red.png"].at("vec_dim")), 4);
  auto red = floats(out["red.png"]);
  ASSERT_EQ(red.size(), 4u);
  EXPECT_NEAR(red[0], 1.0, 1e-5);
  EXPECT_NEAR(red[1], 0.0, 1e-5);
  EXPECT_NEAR(red[2], 0.0, 1e-5);
  EXPECT_NEAR(red[3], 1.0 / 3.0, 1e-5);
  auto grey = floats(out["grey.png"]);
  for (float x : grey) EXPECT_NEAR(x, 0.2, 1e-5);

  // The same model with declared preprocessing: BGR order, mean 0.5 and std 0.25 per channel.
  run(flowWith("model.onnx",
               {{"model", (dir / "models/embed.onnx").string()},
                {"task", "embed"},
                {"width", 16},
                {"height", 16},
                {"output", "vec"},
                {"channel_order", "bgr"},
                {"mean", "0.5"},
                {"std", "0.25,0.25,0.25"}},
               "pre"));
  auto pre = rows("pre");
  auto v = floats(pre["red.png"]);
  ASSERT_EQ(v.size(), 4u);
  EXPECT_NEAR(v[0], (0.0 - 0.5) / 0.25, 1e-4);  // blue
  EXPECT_NEAR(v[2], (1.0 - 0.5) / 0.25, 1e-4);  // red, last in BGR
}

TEST_F(LocalModels, BrokenAndHostileImagesFailTheirRowNotTheRun) {
  REQUIRE_ONNX();
  makeModel("colour-logits", dir / "models/colour.onnx");
  writeImage(dir / "data/good.png", solid(64, 64, cv::Scalar(0, 255, 0)));
  std::mt19937 rng(3);
  std::string noise(4096, '\0');
  for (auto& c : noise) c = static_cast<char>(rng());
  test::writeFile(dir / "data/noise.jpg", noise);
  std::string jpg = jpegBytes(solid(400, 300, cv::Scalar(0, 0, 255)));
  test::writeFile(dir / "data/truncated.jpg", jpg.substr(0, jpg.size() / 2));
  test::writeFile(dir / "data/empty.png", "");
  test::writeFile(dir / "data/bomb.png", test::pngBytes(50000, 50000));  // 2.5 gigapixels claimed
  test::writeFile(dir / "data/notes.txt", "not an image\n");

  auto r = run(flowWith("model.onnx", {{"model", (dir / "models/colour.onnx").string()}, {"width", 32}, {"height", 32}}));
  EXPECT_EQ(r.status, "succeeded");
  EXPECT_EQ(r.rowsFailed, 5);
  auto out = rows();
  EXPECT_EQ(text(out["good.png"], "label"), "1");
  for (auto [file, why] : std::vector<std::pair<std::string, std::string>>{{"noise.jpg", "image"},
                                                                          {"truncated.jpg", "truncated"},
                                                                          {"empty.png", "empty"},
                                                                          {"bomb.png", "limit"},
                                                                          {"notes.txt", "image"}}) {
    const std::string err = text(out[file], "error");
    EXPECT_NE(err.find(file), std::string::npos) << err;
    EXPECT_NE(err.find(why), std::string::npos) << file << ": " << err;
    EXPECT_TRUE(isNull(out[file], "label")) << file;
  }
}

TEST_F(LocalModels, MissingModelOrLabelsFileIsAValidationErrorNamingNodeAndParameter) {
  REQUIRE_ONNX();
  makeModel("colour-logits", dir / "models/colour.onnx");
  writeImage(dir / "data/a.png", solid(8, 8, cv::Scalar(0, 0, 255)));
  auto issues = [&](const nlohmann::json& params) {
    nodes::ValidationContext ctx;
    ctx.baseDir = dir.str();
    return flow::validateFlow(flowWith("model.onnx", params), nodes::NodeRegistry::builtin(), ctx);
  };
  auto v = issues({{"model", "models/missing.onnx"}});
  ASSERT_FALSE(v.ok());
  ASSERT_EQ(v.issues.size(), 1u) << v.message();
  EXPECT_EQ(v.issues[0].nodeId, "m");
  EXPECT_EQ(v.issues[0].param, "model");
  EXPECT_NE(v.issues[0].message.find("missing.onnx"), std::string::npos) << v.message();
  EXPECT_NE(v.message().find("does not exist"), std::string::npos) << v.message();

  // A relative path is read from the flow's folder.
  EXPECT_TRUE(issues({{"model", "models/colour.onnx"}}).ok()) << issues({{"model", "models/colour.onnx"}}).message();

  v = issues({{"model", "models/colour.onnx"}, {"labels", "models/labels.txt"}});
  ASSERT_EQ(v.issues.size(), 1u) << v.message();
  EXPECT_EQ(v.issues[0].param, "labels");
  EXPECT_NE(v.issues[0].message.find("labels.txt"), std::string::npos);

  v = issues({{"model", "models/colour.onnx"}, {"mean", "0.5,x"}});
  ASSERT_EQ(v.issues.size(), 1u) << v.message();
  EXPECT_EQ(v.issues[0].param, "mean");

  // The executor refuses the run with the same words.
  try {
    run(flowWith("model.onnx", {{"model", (dir / "models/missing.onnx").string()}}));
    FAIL() << "the run should not start";
  } catch (const core::RunError& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::InvalidFlow);
    EXPECT_NE(std::string(e.what()).find("node 'm', parameter 'model'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(ledgerCount(), 0);
}

TEST_F(LocalModels, AModelOpenCvCannotLoadFailsTheRunAtStartNamingTheFile) {
  REQUIRE_ONNX();
  makeModel("broken", dir / "models/broken.onnx");
  makeModel("colour-logits", dir / "models/colour.onnx");
  makeModel("fixed-colour", dir / "models/fixed.onnx", 32);
  test::writeFile(dir / "models/two.txt", "red\ngreen\n");
  writeImage(dir / "data/a.png", solid(8, 8, cv::Scalar(0, 0, 255)));
  auto failure = [&](const nlohmann::json& params) {
    try {
      run(flowWith("model.onnx", params));
    } catch (const core::RunError& e) {
      return std::string(e.what());
    }
    return std::string("(the run succeeded)");
  };
  std::string e = failure({{"model", (dir / "models/broken.onnx").string()}});
  EXPECT_NE(e.find("node 'm'"), std::string::npos) << e;
  EXPECT_NE(e.find("broken.onnx"), std::string::npos) << e;
  EXPECT_NE(e.find("cannot be loaded"), std::string::npos) << e;
  // Fixed 32 x 32 input, declared 64 x 64: refused before any row, naming the sizes.
  e = failure({{"model", (dir / "models/fixed.onnx").string()}, {"width", 64}, {"height", 64}});
  EXPECT_NE(e.find("64 x 64"), std::string::npos) << e;
  EXPECT_NE(e.find("fixed.onnx"), std::string::npos) << e;
  // Two labels for three classes.
  e = failure({{"model", (dir / "models/colour.onnx").string()},
               {"width", 32},
               {"height", 32},
               {"labels", (dir / "models/two.txt").string()}});
  EXPECT_NE(e.find("2 labels"), std::string::npos) << e;
  EXPECT_NE(e.find("3 scores"), std::string::npos) << e;
  EXPECT_EQ(ledgerCount(), 0);
}

TEST_F(LocalModels, LedgerHasOneLocalRecordPerImageCostedAtTheHourlyRate) {
  REQUIRE_ONNX();
  makeModel("colour-logits", dir / "models/colour.onnx");
  for (int i = 0; i < 6; ++i)
    writeImage(dir / ("data/img" + std::to_string(i) + ".jpg"), solid(1200, 900, cv::Scalar(i * 40, 0, 255 - i * 40)));
  test::writeFile(dir / "data/broken.jpg", "\xFF\xD8\xFF garbage");
  auto r = run(flowWith("model.onnx",
                        {{"model", (dir / "models/colour.onnx").string()}, {"width", 32}, {"height", 32},
                         {"cost_per_hour", 36.0}}));
  EXPECT_EQ(r.rowsFailed, 1);
  EXPECT_EQ(ledgerCount(), 7);
  EXPECT_EQ(ledgerCount("provider = 'local' AND model = 'colour.onnx' AND node_id = 'm' AND node_type = 'model.onnx'"),
            7);
  EXPECT_EQ(ledgerCount("status = 'ok'"), 6);
  EXPECT_EQ(ledgerCount("status = 'error' AND error LIKE '%broken.jpg%'"), 1);
  EXPECT_EQ(ledgerCount("run_id = " + std::to_string(r.runId)), 7);
  auto s = cat->db().prepare(
      "SELECT cost_usd, compute_seconds, latency_ms, request_hash FROM model_calls WHERE status = 'ok'");
  std::set<std::string> hashes;
  while (s.step()) {
    const double cost = s.real(0), seconds = s.real(1), latency = s.real(2);
    EXPECT_GT(seconds, 0);
    EXPECT_GT(latency, 0);
    EXPECT_NEAR(cost, seconds * 36.0 / 3600.0, 1e-12);
    hashes.insert(s.text(3));
  }
  EXPECT_EQ(hashes.size(), 6u) << "one request hash per image";
  for (const auto& h : hashes) EXPECT_EQ(h.size(), 64u);
}

TEST_F(LocalModels, RerunComputesNothingAndAChangedModelRunsAgain) {
  REQUIRE_ONNX();
  makeModel("colour-logits", dir / "models/colour.onnx");
  for (auto [name, c] : std::vector<std::pair<std::string, cv::Scalar>>{{"r.png", {0, 0, 255}}, {"b.png", {255, 0, 0}}})
    writeImage(dir / "data" / name, solid(32, 32, c));
  const nlohmann::json params = {{"model", (dir / "models/colour.onnx").string()}, {"width", 32}, {"height", 32}};
  auto first = run(flowWith("model.onnx", params));
  EXPECT_EQ(nodeStatus(first, "m"), "done");
  EXPECT_EQ(ledgerCount(), 2);

  auto second = run(flowWith("model.onnx", params));
  EXPECT_EQ(nodeStatus(second, "m"), "cached");
  EXPECT_EQ(ledgerCount(), 2) << "a cached node makes no call";

  // Same path, new content (a model with a softmax inside): the node runs again.
  makeModel("colour-probs", dir / "models/colour.onnx");
  auto third = run(flowWith("model.onnx", params));
  EXPECT_EQ(nodeStatus(third, "m"), "done");
  EXPECT_EQ(ledgerCount(), 4);
}

// ------------------------------------------------------------------------------------------------
// model.faces

TEST_F(LocalModels, FacesAreFoundOnADrawnFaceAndNotOnPlainOrFacelessImages) {
  writeImage(dir / "data/face.png", faceImage(400, 400, {{{200, 200}, 300}}));
  // Two faces in a large photo-sized JPEG: analysed at 1600 px, boxes given in its own pixels.
  writeImage(dir / "data/two.jpg", faceImage(3200, 1800, {{{900, 900}, 800}, {{2300, 900}, 800}}));
  writeImage(dir / "data/plain.png", solid(400, 400, cv::Scalar(90, 120, 150)));
  writeImage(dir / "data/faceless.png", faceImage(400, 400, {{{200, 200}, 300}}, false));
  // Stored turned 90° anticlockwise, with EXIF orientation 6: found only if the orientation is applied.
  cv::Mat turned;
  cv::rotate(faceImage(400, 400, {{{200, 200}, 300}}), turned, cv::ROTATE_90_COUNTERCLOCKWISE);
  test::writeFile(dir / "data/rotated6.jpg", withOrientation6(jpegBytes(turned)));
  test::writeFile(dir / "data/broken.jpg", "\xFF\xD8\xFF\xE0 not really");

  auto r = run(flowWith("model.faces", {{"cost_per_hour", 1.0}}));
  EXPECT_EQ(r.status, "succeeded");
  auto out = rows();
  auto faces = [&](const std::string& f) {
    EXPECT_TRUE(isNull(out[f], "error")) << f << ": " << text(out[f], "error");
    return std::get<int64_t>(out[f].at("faces"));
  };
  EXPECT_EQ(faces("face.png"), 1);
  EXPECT_EQ(faces("two.jpg"), 2);
  EXPECT_EQ(faces("plain.png"), 0);
  EXPECT_EQ(faces("faceless.png"), 0);
  EXPECT_EQ(faces("rotated6.jpg"), 1);
  EXPECT_EQ(text(out["plain.png"], "faces_json"), "[]");
  auto boxes = nlohmann::json::parse(text(out["two.jpg"], "faces_json"));
  ASSERT_EQ(boxes.size(), 2u);
  // Each box surrounds its face's centre, in the original 3200 x 1800 pixels.
  std::vector<int> centres;
  for (const auto& b : boxes) {
    const int cx = b["x"].get<int>() + b["w"].get<int>() / 2, cy = b["y"].get<int>() + b["h"].get<int>() / 2;
    EXPECT_NEAR(cy, 900, 150);
    EXPECT_GT(b["w"].get<int>(), 400);
    centres.push_back(cx);
  }
  std::sort(centres.begin(), centres.end());
  EXPECT_NEAR(centres[0], 900, 150);
  EXPECT_NEAR(centres[1], 2300, 150);
  EXPECT_NE(text(out["broken.jpg"], "error").find("broken.jpg"), std::string::npos);
  EXPECT_EQ(ledgerCount("model = 'haarcascade_frontalface_default' AND provider = 'local'"), 6);
}

TEST_F(LocalModels, MissingCascadeIsAValidationErrorNamingTheParameter) {
  writeImage(dir / "data/a.png", solid(8, 8, cv::Scalar(0, 0, 255)));
  nodes::ValidationContext ctx;
  ctx.baseDir = dir.str();
  auto v = flow::validateFlow(flowWith("model.faces", {{"cascade", "nowhere/cascade.xml"}}),
                              nodes::NodeRegistry::builtin(), ctx);
  ASSERT_EQ(v.issues.size(), 1u) << v.message();
  EXPECT_EQ(v.issues[0].nodeId, "m");
  EXPECT_EQ(v.issues[0].param, "cascade");
  EXPECT_NE(v.issues[0].message.find("cascade.xml"), std::string::npos);
}

// ------------------------------------------------------------------------------------------------
// model.ocr

bool haveTesseract() {
  auto api = inference::localModels();
  return api.ok() && *(*api)->tesseractVersion() != '\0';
}

TEST_F(LocalModels, OcrReadsRenderedText) {
  if (!haveTesseract()) GTEST_SKIP() << "built without Tesseract";
  cv::Mat img = solid(900, 260, cv::Scalar(255, 255, 255));
  cv::putText(img, "LOOM 2026", cv::Point(60, 170), cv::FONT_HERSHEY_SIMPLEX, 3.5, cv::Scalar(0, 0, 0), 9, cv::LINE_AA);
  writeImage(dir / "data/sign.png", img);
  writeImage(dir / "data/blank.png", solid(300, 200, cv::Scalar(255, 255, 255)));
  auto r = run(flowWith("model.ocr", {{"psm", 6}}));
  EXPECT_EQ(r.status, "succeeded");
  auto out = rows();
  ASSERT_TRUE(isNull(out["sign.png"], "error")) << text(out["sign.png"], "error");
  EXPECT_EQ(text(out["sign.png"], "text"), "LOOM 2026");
  EXPECT_GT(std::get<double>(out["sign.png"].at("ocr_confidence")), 60);
  EXPECT_LE(std::get<double>(out["sign.png"].at("ocr_confidence")), 100);
  EXPECT_EQ(text(out["blank.png"], "text"), "");
  EXPECT_EQ(ledgerCount("model = 'tesseract:eng' AND provider = 'local' AND status = 'ok'"), 2);
}

TEST_F(LocalModels, OcrWithoutTheLanguageDataFailsTheRunNamingThePackage) {
  if (!haveTesseract()) GTEST_SKIP() << "built without Tesseract";
  writeImage(dir / "data/a.png", solid(8, 8, cv::Scalar(0, 0, 255)));
  try {
    run(flowWith("model.ocr", {{"lang", "eng+qqq"}}));
    FAIL() << "the run should fail";
  } catch (const core::RunError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("node 'm'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'qqq'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tesseract-ocr-qqq"), std::string::npos) << msg;
  }
  try {
    run(flowWith("model.ocr", {{"lang", "chi_zzz"}}));
    FAIL() << "the run should fail";
  } catch (const core::RunError& e) {
    EXPECT_NE(std::string(e.what()).find("tesseract-ocr-chi-zzz"), std::string::npos) << e.what();
  }
}

}  // namespace

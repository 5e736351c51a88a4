// Image transforms, perceptual hashes, near-duplicate groups, blur and exposure scores: on pictures
// drawn by OpenCV at run time (shapes, gradients, noise), resized/recompressed/blurred/darkened copies,
// and broken files beside them (truncated, random bytes, empty, a hostile header, a GIF); the nodes in
// flows run twice; near-duplicate grouping checked against all-pairs comparison.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "catalog/blob_store.h"
#include "catalog/catalog.h"
#include "exec/executor.h"
#include "flow/flow.h"
#include "flow/validate.h"
#include "media/codecs.h"
#include "media/image_ops.h"
#include "media/near_duplicates.h"
#include "nodes/registry.h"
#include "test_support.h"

using namespace loom;

namespace {

namespace fs = std::filesystem;

// A picture: a gradient, filled shapes placed by `seed`, a little noise.
cv::Mat scene(int seed, int w = 480, int h = 360) {
  cv::Mat img(h, w, CV_8UC3);
  cv::RNG rng(static_cast<uint64_t>(seed) * 7919 + 1);
  const cv::Scalar a(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255));
  const cv::Scalar b(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255));
  for (int y = 0; y < h; ++y) {
    const double t = static_cast<double>(y) / h;
    img.row(y).setTo(a * (1 - t) + b * t);
  }
  for (int i = 0; i < 12; ++i) {
    const cv::Scalar c(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255));
    const cv::Point p(rng.uniform(0, w), rng.uniform(0, h));
    if (i % 2) cv::circle(img, p, rng.uniform(h / 20, h / 4), c, cv::FILLED, cv::LINE_AA);
    else cv::rectangle(img, p, p + cv::Point(rng.uniform(w / 20, w / 3), rng.uniform(h / 20, h / 3)), c, cv::FILLED);
  }
  for (int i = 0; i < 30; ++i) {  // thin lines: the edges a photo has
    const cv::Scalar c(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255));
    cv::line(img, {rng.uniform(0, w), rng.uniform(0, h)}, {rng.uniform(0, w), rng.uniform(0, h)}, c, rng.uniform(1, 3),
             cv::LINE_AA);
  }
  cv::Mat noise(img.size(), CV_8UC3);
  cv::randn(noise, cv::Scalar::all(0), cv::Scalar::all(4));
  img += noise;
  return img;
}

std::string encode(const cv::Mat& img, const std::string& ext, std::vector<int> params = {}) {
  std::vector<uchar> buf;
  EXPECT_TRUE(cv::imencode(ext, img, buf, params));
  return std::string(buf.begin(), buf.end());
}

cv::Mat decode(const std::string& bytes, int flags = cv::IMREAD_UNCHANGED) {
  return cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data())), flags);
}

const media::ImageOpsApi& ops() { return *media::codecs().orThrow()->image; }

media::ObjectReader reader(std::string bytes, const std::string& name = "mem://picture") {
  return media::ObjectReader(std::move(bytes), name, 512LL << 20, 20.0);
}

core::Result<media::EncodedImage> transform(const std::string& bytes, const media::ImageTransformSpec& s) {
  auto r = reader(bytes);
  return ops().transform(r, "", "", s, media::MediaLimits{});
}

uint64_t phash(const std::string& bytes) {
  auto r = reader(bytes);
  return ops().phash(r, "", "", media::MediaLimits{}).orThrow();
}

double blur(const std::string& bytes) {
  auto r = reader(bytes);
  return ops().blurScore(r, "", "", media::MediaLimits{}).orThrow();
}

std::string jpeg(const cv::Mat& img, int quality = 90) { return encode(img, ".jpg", {cv::IMWRITE_JPEG_QUALITY, quality}); }

cv::Mat resizedBy(const cv::Mat& img, double f) {
  cv::Mat out;
  cv::resize(img, out, {}, f, f, f < 1 ? cv::INTER_AREA : cv::INTER_CUBIC);
  return out;
}

// EXIF orientation 6 (turn 90° clockwise to display) in an APP1 segment right after SOI.
std::string withOrientation6(const std::string& jpg) {
  auto be16 = [](unsigned v) { return std::string{static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)}; };
  std::string tiff = std::string("MM\0\x2a\0\0\0\x08", 8) + std::string("\0\x01", 2) +
                     std::string("\x01\x12\0\x03\0\0\0\x01\0\x06\0\0", 12) + std::string(4, '\0');
  std::string app1 = std::string("Exif\0\0", 6) + tiff;
  return jpg.substr(0, 2) + "\xFF\xE1" + be16(static_cast<unsigned>(app1.size() + 2)) + app1 + jpg.substr(2);
}

class Infos : public core::Feedback {
 public:
  void info(const std::string& m) override { messages.push_back(m); }
  std::vector<std::string> messages;
};

using Row = std::map<std::string, core::Value>;

std::vector<Row> readDataset(catalog::Catalog& cat, const std::string& name) {
  auto v = cat.resolveDataset(name).orThrow();
  std::vector<Row> rows;
  cat.readRows(v, 0, -1, [&](const std::vector<core::Value>& values) {
    Row r;
    for (size_t i = 0; i < v.schema.size(); ++i) r[v.schema[i].name] = values[i + 1];
    rows.push_back(std::move(r));
  });
  return rows;
}

std::string str(const Row& r, const std::string& c) {
  auto it = r.find(c);
  return it != r.end() && std::holds_alternative<std::string>(it->second) ? std::get<std::string>(it->second) : "";
}
int64_t num(const Row& r, const std::string& c) {
  auto it = r.find(c);
  return it != r.end() && std::holds_alternative<int64_t>(it->second) ? std::get<int64_t>(it->second) : -999;
}
double real(const Row& r, const std::string& c) {
  auto it = r.find(c);
  if (it == r.end()) return -999;
  if (std::holds_alternative<double>(it->second)) return std::get<double>(it->second);
  if (std::holds_alternative<int64_t>(it->second)) return static_cast<double>(std::get<int64_t>(it->second));
  return -999;
}
bool isNull(const Row& r, const std::string& c) {
  auto it = r.find(c);
  return it == r.end() || core::isNull(it->second);
}

// storage.list over `data` → the given nodes in a chain → dataset.save "out".
flow::Flow chainFlow(const fs::path& data, const nlohmann::json& middle) {
  nlohmann::json nodes = nlohmann::json::array();
  nodes.push_back({{"id", "src"}, {"type", "storage.list"}, {"params", {{"uri", data.string()}}}});
  for (const auto& n : middle) nodes.push_back(n);
  nodes.push_back({{"id", "out"}, {"type", "dataset.save"}, {"params", {{"name", "out"}}}});
  nlohmann::json edges = nlohmann::json::array();
  for (size_t i = 0; i + 1 < nodes.size(); ++i) edges.push_back({{"from", nodes[i]["id"]}, {"to", nodes[i + 1]["id"]}});
  nlohmann::json j = {{"format", "loom.flow/1"}, {"name", "images"}, {"nodes", nodes}, {"edges", edges}};
  return flow::parseFlow(j.dump(), "t").orThrow();
}

exec::RunResult run(catalog::Catalog& cat, const flow::Flow& f, Infos& fb) {
  exec::Executor ex(cat, nodes::NodeRegistry::builtin());
  return ex.run(f, exec::RunOptions{}, fb);
}

std::string validationMessage(const fs::path& data, const nlohmann::json& middle) {
  auto f = chainFlow(data, middle);
  static flow::Flow keep;
  keep = f;
  return flow::validateFlow(keep, nodes::NodeRegistry::builtin(), {}).message();
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Near-duplicate grouping

TEST(NearDuplicates, SameGroupsAsAllPairsOnPlantedClusters) {
  std::mt19937_64 rng(42);
  std::vector<uint64_t> hashes;
  // 40 clusters of 2..6 hashes within 1..8 bit flips of a centre, plus 300 unrelated hashes, some equal.
  for (int c = 0; c < 40; ++c) {
    const uint64_t centre = rng();
    const int members = 2 + static_cast<int>(rng() % 5);
    for (int m = 0; m < members; ++m) {
      uint64_t h = centre;
      const int flips = static_cast<int>(rng() % 9);
      for (int f = 0; f < flips; ++f) h ^= uint64_t{1} << (rng() % 64);
      hashes.push_back(h);
    }
  }
  for (int i = 0; i < 300; ++i) hashes.push_back(rng());
  for (int i = 0; i < 20; ++i) hashes.push_back(hashes[static_cast<size_t>(rng() % hashes.size())]);
  std::shuffle(hashes.begin(), hashes.end(), rng);
  for (int d : {0, 1, 3, 6, 8, 12, 20}) {
    media::NearDuplicateStats stats;
    auto fast = media::groupNearDuplicates(hashes, d, &stats);
    auto slow = media::groupNearDuplicatesAllPairs(hashes, d);
    EXPECT_EQ(fast, slow) << "max distance " << d;
    if (d == 6) {
      std::set<uint32_t> groups(fast.begin(), fast.end());
      EXPECT_LT(groups.size(), hashes.size() - 50);  // the clusters did group
    }
  }
}

TEST(NearDuplicates, HundredThousandHashesWithoutAllPairs) {
  std::mt19937_64 rng(7);
  std::vector<uint64_t> hashes(100000);
  for (auto& h : hashes) h = rng();
  // Plant 1000 copies at distance 1..6 of random earlier hashes.
  for (int i = 0; i < 1000; ++i) {
    uint64_t h = hashes[static_cast<size_t>(rng() % 50000)];
    const int flips = 1 + static_cast<int>(rng() % 6);
    for (int f = 0; f < flips; ++f) h ^= uint64_t{1} << (rng() % 64);
    hashes[50000 + static_cast<size_t>(i)] = h;
  }
  media::NearDuplicateStats stats;
  auto labels = media::groupNearDuplicates(hashes, 6, &stats);
  // Far fewer comparisons than the 5e9 pairs, and every planted copy found (random 64-bit hashes are
  // ~32 bits apart: a chance pair within 6 bits is rare).
  EXPECT_LT(stats.comparisons, 50'000'000);
  int grouped = 0;
  for (size_t i = 50000; i < 51000; ++i) grouped += labels[i] != i ? 1 : 0;
  EXPECT_GE(grouped, 990);
}

// ---------------------------------------------------------------------------------------------------
// Perceptual hash, blur, exposure (the codecs module's operations)

TEST(ImageOps, PhashSurvivesResizeAndRecompressionAndSeparatesUnrelatedPictures) {
  int worstSame = 0, closestOther = 64;
  std::vector<uint64_t> originals;
  for (int seed = 0; seed < 6; ++seed) {
    const cv::Mat img = scene(seed, 640, 480);
    originals.push_back(phash(encode(img, ".png")));
    const uint64_t small = phash(jpeg(resizedBy(img, 0.4), 60));
    const uint64_t big = phash(jpeg(resizedBy(img, 1.7), 80));
    worstSame = std::max({worstSame, media::hammingDistance(originals.back(), small),
                          media::hammingDistance(originals.back(), big)});
  }
  for (size_t i = 0; i < originals.size(); ++i)
    for (size_t j = i + 1; j < originals.size(); ++j)
      closestOther = std::min(closestOther, media::hammingDistance(originals[i], originals[j]));
  EXPECT_LE(worstSame, 6);
  EXPECT_GE(closestOther, 20);  // measured: 26 (worst same-picture distance: 2)
  RecordProperty("worst_same", worstSame);
  RecordProperty("closest_other", closestOther);
}

TEST(ImageOps, BlurScoreDropsForABlurredCopyAndIsComparableAcrossSizes) {
  const cv::Mat img = scene(3, 1024, 768);
  cv::Mat soft;
  cv::GaussianBlur(img, soft, {0, 0}, 4);
  const double sharp = blur(jpeg(img, 95)), blurred = blur(jpeg(soft, 95));
  EXPECT_GT(sharp, 10 * blurred) << sharp << " vs " << blurred;
  EXPECT_LT(blurred, 100);   // under the default threshold
  EXPECT_GT(sharp, 100);
  // The same picture at twice the size scores about the same (both are measured at 512 px).
  const double twice = blur(jpeg(resizedBy(img, 2.0), 95));
  EXPECT_GT(twice, sharp / 3) << twice << " vs " << sharp;
  EXPECT_LT(twice, sharp * 3) << twice << " vs " << sharp;
}

// ---------------------------------------------------------------------------------------------------
// image.transform operations

TEST(ImageTransform, ResizeModesGiveTheSizesAUserAskedFor) {
  const std::string src = jpeg(scene(1, 640, 480));
  using S = media::ImageTransformSpec;
  auto size = [&](S s) {
    auto r = transform(src, s);
    EXPECT_TRUE(r.ok()) << r.error().message;
    cv::Mat m = decode(r->bytes);
    EXPECT_EQ(m.cols, r->width);
    EXPECT_EQ(m.rows, r->height);
    return std::make_pair(r->width, r->height);
  };
  S s;
  s.resize = S::Resize::MaxSide;
  s.maxSide = 160;
  EXPECT_EQ(size(s), std::make_pair(160, 120));
  s.maxSide = 2000;  // never enlarges
  EXPECT_EQ(size(s), std::make_pair(640, 480));
  s = S{};
  s.resize = S::Resize::Scale;
  s.scale = 0.25;
  EXPECT_EQ(size(s), std::make_pair(160, 120));
  s = S{};
  s.resize = S::Resize::Exact;
  s.width = 100;
  s.height = 100;
  s.fit = S::Fit::Contain;
  EXPECT_EQ(size(s), std::make_pair(100, 75));
  s.fit = S::Fit::Cover;
  EXPECT_EQ(size(s), std::make_pair(100, 100));
  s.fit = S::Fit::Stretch;
  EXPECT_EQ(size(s), std::make_pair(100, 100));
  s.fit = S::Fit::Pad;
  s.format = S::Format::Png;
  auto padded = transform(src, s).orThrow();
  cv::Mat m = decode(padded.bytes);
  ASSERT_EQ(m.size(), cv::Size(100, 100));
  EXPECT_EQ(m.at<cv::Vec3b>(2, 50), cv::Vec3b(0, 0, 0));  // the band above the picture is black
  EXPECT_EQ(padded.mime, "image/png");
}

TEST(ImageTransform, CropRotateAndExifOrientationPutPixelsWhereExpected) {
  // Left half red, right half blue, 200 x 100.
  cv::Mat img(100, 200, CV_8UC3, cv::Scalar(255, 0, 0));
  img(cv::Rect(0, 0, 100, 100)).setTo(cv::Scalar(0, 0, 255));
  const std::string png = encode(img, ".png");
  using S = media::ImageTransformSpec;
  S s;
  s.format = S::Format::Png;
  s.rotate = 90;  // clockwise: the red left half ends on top
  cv::Mat r = decode(transform(png, s).orThrow().bytes);
  ASSERT_EQ(r.size(), cv::Size(100, 200));
  EXPECT_EQ(r.at<cv::Vec3b>(10, 50), cv::Vec3b(0, 0, 255));
  EXPECT_EQ(r.at<cv::Vec3b>(190, 50), cv::Vec3b(255, 0, 0));

  s = S{};
  s.format = S::Format::Png;
  s.cropX = 150;
  s.cropY = 10;
  s.cropW = 100;  // clipped to the image: 50 wide
  s.cropH = 20;
  auto box = transform(png, s).orThrow();
  EXPECT_EQ(box.width, 50);
  EXPECT_EQ(box.height, 20);
  EXPECT_EQ(decode(box.bytes).at<cv::Vec3b>(5, 5), cv::Vec3b(255, 0, 0));
  s.cropX = 500;  // wholly outside
  auto outside = transform(png, s);
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message.find("lies outside the 200 x 100 image"), std::string::npos) << outside.error().message;

  s = S{};
  s.cropAspect = 1.0;
  auto square = transform(png, s).orThrow();
  EXPECT_EQ(square.width, 100);
  EXPECT_EQ(square.height, 100);

  // A landscape JPEG tagged "rotate 90° to display" comes out portrait unless told otherwise.
  const std::string tagged = withOrientation6(jpeg(scene(2, 320, 240)));
  s = S{};
  auto upright = transform(tagged, s).orThrow();
  EXPECT_EQ(upright.width, 240);
  EXPECT_EQ(upright.height, 320);
  s.exifOrientation = false;
  auto raw = transform(tagged, s).orThrow();
  EXPECT_EQ(raw.width, 320);
  EXPECT_EQ(raw.height, 240);
  // With a resize that lets libjpeg decode at 1/4 size, the orientation is still applied.
  s = S{};
  s.resize = S::Resize::MaxSide;
  s.maxSide = 64;
  auto smallUpright = transform(tagged, s).orThrow();
  EXPECT_EQ(smallUpright.width, 48);
  EXPECT_EQ(smallUpright.height, 64);
}

TEST(ImageTransform, ColourFormatsAndNormalisation) {
  using S = media::ImageTransformSpec;
  // Transparency: auto keeps it in a PNG; jpeg flattens it onto white; webp keeps it.
  cv::Mat rgba(60, 80, CV_8UC4, cv::Scalar(0, 0, 255, 0));
  rgba(cv::Rect(20, 20, 40, 20)).setTo(cv::Scalar(0, 0, 255, 255));
  const std::string png = encode(rgba, ".png");
  S s;
  auto kept = transform(png, s).orThrow();
  EXPECT_EQ(kept.mime, "image/png");
  EXPECT_EQ(decode(kept.bytes).channels(), 4);
  s.format = S::Format::Jpeg;
  auto flat = transform(png, s).orThrow();
  EXPECT_EQ(flat.mime, "image/jpeg");
  cv::Mat f = decode(flat.bytes);
  ASSERT_EQ(f.channels(), 3);
  EXPECT_GT(f.at<cv::Vec3b>(2, 2)[0], 240);  // transparent corner → white
  s.format = S::Format::Webp;
  auto webp = transform(png, s).orThrow();
  EXPECT_EQ(webp.mime, "image/webp");
  EXPECT_EQ(webp.bytes.substr(8, 4), "WEBP");

  s = S{};
  s.colour = S::Colour::Gray;
  auto gray = transform(jpeg(scene(4)), s).orThrow();
  EXPECT_EQ(decode(gray.bytes).channels(), 1);

  // A dull picture (values 100..140) is stretched to nearly the full range.
  cv::Mat dull;
  scene(5).convertTo(dull, CV_8UC3, 40.0 / 255.0, 100);
  s = S{};
  s.format = S::Format::Png;
  s.normalize = S::Normalize::AutoContrast;
  cv::Mat stretched = decode(transform(encode(dull, ".png"), s).orThrow().bytes);
  double lo = 0, hi = 0;
  cv::minMaxLoc(stretched.reshape(1), &lo, &hi);
  EXPECT_LT(lo, 5);
  EXPECT_GT(hi, 250);
  s.normalize = S::Normalize::Equalize;
  cv::Mat eq = decode(transform(encode(dull, ".png"), s).orThrow().bytes, cv::IMREAD_GRAYSCALE);
  cv::minMaxLoc(eq, &lo, &hi);
  EXPECT_GT(hi - lo, 200);
}

TEST(ImageTransform, BrokenAndHostileFilesAreErrorsNamingTheFile) {
  const std::string good = jpeg(scene(6, 800, 600));
  std::mt19937 rng(3);
  std::string noise(4096, '\0');
  for (auto& c : noise) c = static_cast<char>(rng());
  const std::map<std::string, std::pair<std::string, std::string>> cases = {
      {"truncated.jpg", {good.substr(0, good.size() / 2), "truncated"}},
      {"noise.jpg", {noise, "not"}},
      {"empty.png", {"", "empty"}},
      {"huge.png", {test::pngBytes(50000, 50000), "over the limit"}},
      {"anim.gif", {std::string("GIF89a") + std::string(64, '\0'), "GIF"}},
  };
  for (const auto& [name, c] : cases) {
    for (int op = 0; op < 4; ++op) {
      auto r = reader(c.first, "file:///data/" + name);
      std::string message;
      switch (op) {
        case 0: {
          auto t = ops().transform(r, "", name, media::ImageTransformSpec{}, media::MediaLimits{});
          ASSERT_FALSE(t.ok()) << name;
          message = t.error().message;
          break;
        }
        case 1: {
          auto t = ops().phash(r, "", name, media::MediaLimits{});
          ASSERT_FALSE(t.ok()) << name;
          message = t.error().message;
          break;
        }
        case 2: {
          auto t = ops().blurScore(r, "", name, media::MediaLimits{});
          ASSERT_FALSE(t.ok()) << name;
          message = t.error().message;
          break;
        }
        case 3: {
          auto t = ops().exposure(r, "", name, 10, 245, media::MediaLimits{});
          ASSERT_FALSE(t.ok()) << name;
          message = t.error().message;
          break;
        }
      }
      EXPECT_NE(message.find(name), std::string::npos) << message;
      EXPECT_NE(message.find(c.second), std::string::npos) << name << ": " << message;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The nodes in flows

TEST(ImageNodes, PhashAndNearDuplicatesGroupCopiesAndKeepThePreferredOne) {
  test::TempDir dir;
  const fs::path data = dir / "data";
  fs::create_directories(data);
  // a: a picture, its smaller recompressed copy and a larger copy; b: another picture and its copy;
  // c..e: unrelated pictures; plus a broken file.
  const cv::Mat a = scene(10, 640, 480), b = scene(11, 640, 480);
  test::writeFile(data / "a.png", encode(a, ".png"));
  test::writeFile(data / "a_small.jpg", jpeg(resizedBy(a, 0.5), 70));
  test::writeFile(data / "a_big.jpg", jpeg(resizedBy(a, 1.5), 85));
  test::writeFile(data / "b.jpg", jpeg(b));
  test::writeFile(data / "b_copy.jpg", jpeg(b, 60));
  for (int i = 0; i < 3; ++i) test::writeFile(data / ("other" + std::to_string(i) + ".jpg"), jpeg(scene(20 + i)));
  const std::string good = jpeg(scene(30));
  test::writeFile(data / "broken.jpg", good.substr(0, good.size() / 3));

  const nlohmann::json middle = {
      {{"id", "hash"}, {"type", "image.phash"}, {"params", nlohmann::json::object()}},
      {{"id", "dups"}, {"type", "image.near_duplicates"}, {"params", {{"prefer", "size DESC"}}}}};
  auto f = chainFlow(data, middle);
  auto cat = catalog::Catalog::open((dir / "catalog.db").string()).orThrow();
  Infos fb;
  auto r1 = run(*cat, f, fb);
  EXPECT_EQ(r1.status, "succeeded");
  EXPECT_EQ(r1.rowsFailed, 1);
  auto rows = readDataset(*cat, "out");
  ASSERT_EQ(rows.size(), 9u);
  std::map<std::string, Row> byName;
  for (auto& r : rows) byName[str(r, "name")] = r;

  const Row& broken = byName["broken.jpg"];
  EXPECT_NE(str(broken, "error").find("broken.jpg"), std::string::npos) << str(broken, "error");
  EXPECT_TRUE(isNull(broken, "phash"));
  EXPECT_TRUE(isNull(broken, "dup_group"));
  EXPECT_EQ(num(broken, "dup_keep"), 1);

  for (auto& [name, r] : byName) {
    if (name == "broken.jpg") continue;
    EXPECT_TRUE(isNull(r, "error")) << name << ": " << str(r, "error");
    EXPECT_EQ(str(r, "phash").size(), 16u) << name;
  }
  // The three a's are one group, represented by the largest file (prefer size DESC); same for b.
  const int64_t ga = num(byName["a.png"], "dup_group");
  EXPECT_EQ(num(byName["a_small.jpg"], "dup_group"), ga);
  EXPECT_EQ(num(byName["a_big.jpg"], "dup_group"), ga);
  EXPECT_EQ(num(byName["a.png"], "dup_size"), 3);
  int keptA = 0;
  std::string keptName;
  for (const char* n : {"a.png", "a_small.jpg", "a_big.jpg"}) {
    keptA += static_cast<int>(num(byName[n], "dup_keep"));
    if (num(byName[n], "dup_keep") == 1) keptName = n;
    EXPECT_LE(num(byName[n], "dup_distance"), 6) << n;
  }
  EXPECT_EQ(keptA, 1);
  EXPECT_EQ(keptName, "a.png");  // the PNG is the largest file
  EXPECT_EQ(num(byName["a.png"], "dup_rank"), 0);
  EXPECT_EQ(num(byName["b.jpg"], "dup_group"), num(byName["b_copy.jpg"], "dup_group"));
  EXPECT_NE(num(byName["b.jpg"], "dup_group"), ga);
  for (int i = 0; i < 3; ++i) {
    const Row& o = byName["other" + std::to_string(i) + ".jpg"];
    EXPECT_EQ(num(o, "dup_size"), 1);
    EXPECT_EQ(num(o, "dup_keep"), 1);
    EXPECT_EQ(num(o, "dup_distance"), 0);
  }
  // Group numbers are 1.. in order of first appearance (storage.list lists by name).
  std::set<int64_t> groups;
  for (auto& r : rows)
    if (!isNull(r, "dup_group")) groups.insert(num(r, "dup_group"));
  EXPECT_EQ(groups.size(), 5u);
  EXPECT_EQ(*groups.begin(), 1);
  EXPECT_EQ(*groups.rbegin(), 5);

  Infos fb2;
  auto r2 = run(*cat, f, fb2);
  for (const auto& n : r2.nodes) EXPECT_EQ(n.status, "cached") << n.id;
  EXPECT_EQ(readDataset(*cat, "out").size(), 9u);
}

TEST(ImageNodes, TransformStoresBlobsAndLaterNodesReadThemThroughSource) {
  test::TempDir dir;
  const fs::path data = dir / "data";
  test::writeFile(data / "one.jpg", jpeg(scene(40, 800, 600)));
  test::writeFile(data / "two.png", encode(scene(41, 300, 500), ".png"));
  test::writeFile(data / "zero.jpg", "");
  const nlohmann::json middle = {
      {{"id", "crop"},
       {"type", "image.transform"},
       {"params", {{"crop_aspect", "1:1"}, {"resize", "exact"}, {"width", 128}, {"height", 128}, {"format", "png"}}}},
      {{"id", "gray"},
       {"type", "image.transform"},
       {"params", {{"source", "image"}, {"column", "gray"}, {"colour", "gray"}, {"format", "jpeg"}, {"quality", 80}}}},
      {{"id", "hash"}, {"type", "image.phash"}, {"params", {{"source", "gray"}}}}};
  auto f = chainFlow(data, middle);
  auto cat = catalog::Catalog::open((dir / "catalog.db").string()).orThrow();
  Infos fb;
  auto r = run(*cat, f, fb);
  EXPECT_EQ(r.status, "succeeded");
  EXPECT_EQ(r.rowsFailed, 1);
  auto blobs = catalog::BlobStore::forCatalog(*cat);
  auto rows = readDataset(*cat, "out");
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& row : rows) {
    if (str(row, "name") == "zero.jpg") {
      EXPECT_NE(str(row, "error").find("zero.jpg"), std::string::npos) << str(row, "error");
      EXPECT_NE(str(row, "error").find("empty"), std::string::npos) << str(row, "error");
      EXPECT_TRUE(isNull(row, "image"));
      EXPECT_TRUE(isNull(row, "phash"));  // the upstream error is kept, not replaced
      continue;
    }
    ASSERT_TRUE(isNull(row, "error")) << str(row, "error");
    EXPECT_EQ(num(row, "image_width"), 128);
    EXPECT_EQ(num(row, "image_height"), 128);
    EXPECT_EQ(str(row, "image_mime"), "image/png");
    const std::string bytes = blobs.get(str(row, "image")).orThrow();
    EXPECT_EQ(num(row, "image_bytes"), static_cast<int64_t>(bytes.size()));
    EXPECT_EQ(decode(bytes).size(), cv::Size(128, 128));
    cv::Mat g = decode(blobs.get(str(row, "gray")).orThrow());
    EXPECT_EQ(g.channels(), 1);
    EXPECT_EQ(g.size(), cv::Size(128, 128));
    EXPECT_EQ(str(row, "gray_mime"), "image/jpeg");
    EXPECT_EQ(str(row, "phash").size(), 16u);
  }
  auto count = cat->db().prepare("SELECT count(*) FROM blobs");
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.int64(0), 4);  // two crops, two grey copies
}

TEST(ImageNodes, BlurAndExposureLabelWhatAPersonWouldSee) {
  test::TempDir dir;
  const fs::path data = dir / "data";
  const cv::Mat img = scene(50, 800, 600);
  cv::Mat soft, dark, bright;
  cv::GaussianBlur(img, soft, {0, 0}, 5);
  img.convertTo(dark, CV_8UC3, 0.12, 0);
  img.convertTo(bright, CV_8UC3, 0.3, 200);
  test::writeFile(data / "sharp.jpg", jpeg(img));
  test::writeFile(data / "soft.jpg", jpeg(soft));
  test::writeFile(data / "dark.jpg", jpeg(dark));
  test::writeFile(data / "bright.jpg", jpeg(bright));
  test::writeFile(data / "junk.jpg", "not an image at all");
  const nlohmann::json middle = {{{"id", "blur"}, {"type", "quality.blur"}, {"params", nlohmann::json::object()}},
                                 {{"id", "exp"}, {"type", "quality.exposure"}, {"params", nlohmann::json::object()}}};
  auto cat = catalog::Catalog::open((dir / "catalog.db").string()).orThrow();
  Infos fb;
  auto r = run(*cat, chainFlow(data, middle), fb);
  EXPECT_EQ(r.status, "succeeded");
  EXPECT_EQ(r.rowsFailed, 1);
  std::map<std::string, Row> byName;
  for (auto& row : readDataset(*cat, "out")) byName[str(row, "name")] = row;
  EXPECT_EQ(num(byName["sharp.jpg"], "is_blurry"), 0) << real(byName["sharp.jpg"], "blur_score");
  EXPECT_EQ(num(byName["soft.jpg"], "is_blurry"), 1) << real(byName["soft.jpg"], "blur_score");
  EXPECT_GT(real(byName["sharp.jpg"], "blur_score"), 10 * real(byName["soft.jpg"], "blur_score"));
  EXPECT_EQ(str(byName["sharp.jpg"], "exposure"), "ok") << real(byName["sharp.jpg"], "luma_mean");
  EXPECT_EQ(str(byName["soft.jpg"], "exposure"), "ok");
  EXPECT_EQ(str(byName["dark.jpg"], "exposure"), "under") << real(byName["dark.jpg"], "luma_mean");
  EXPECT_EQ(str(byName["bright.jpg"], "exposure"), "over") << real(byName["bright.jpg"], "luma_mean");
  EXPECT_LT(real(byName["dark.jpg"], "luma_mean"), 40);
  EXPECT_GT(real(byName["bright.jpg"], "luma_mean"), 200);
  EXPECT_GT(real(byName["bright.jpg"], "clipped_bright"), 0.05);
  EXPECT_GT(real(byName["dark.jpg"], "clipped_dark"), 0.3);
  EXPECT_NE(str(byName["junk.jpg"], "error").find("junk.jpg"), std::string::npos);
  EXPECT_TRUE(isNull(byName["junk.jpg"], "exposure"));
}

TEST(ImageNodes, NearDuplicatesReportsMalformedHashesPerRow) {
  test::TempDir dir;
  const fs::path data = dir / "data";
  // File names stand in for hashes: table.derive turns them into the hash column.
  for (const char* n : {"00000000000000ff.x", "00000000000000fe.x", "zz.x", "f0f0f0f0f0f0f0f0.x"})
    test::writeFile(data / n, "x");
  const nlohmann::json middle = {
      {{"id", "h"}, {"type", "table.derive"}, {"params", {{"columns", {{"phash", "substr(name, 1, length(name) - 2)"}}}}}},
      {{"id", "dups"}, {"type", "image.near_duplicates"}, {"params", {{"max_distance", 2}}}}};
  auto cat = catalog::Catalog::open((dir / "catalog.db").string()).orThrow();
  Infos fb;
  auto r = run(*cat, chainFlow(data, middle), fb);
  ASSERT_EQ(r.status, "succeeded");
  std::map<std::string, Row> byName;
  for (auto& row : readDataset(*cat, "out")) byName[str(row, "phash")] = row;
  EXPECT_EQ(num(byName["00000000000000ff"], "dup_group"), num(byName["00000000000000fe"], "dup_group"));
  // fe is listed first, so it represents the group; ff is one bit from it.
  EXPECT_EQ(num(byName["00000000000000fe"], "dup_keep"), 1);
  EXPECT_EQ(num(byName["00000000000000ff"], "dup_distance"), 1);
  EXPECT_EQ(num(byName["00000000000000ff"], "dup_rank"), 1);
  EXPECT_EQ(num(byName["00000000000000ff"], "dup_keep"), 0);
  EXPECT_EQ(num(byName["f0f0f0f0f0f0f0f0"], "dup_size"), 1);
  EXPECT_NE(str(byName["zz"], "error").find("not a 64-bit hash"), std::string::npos) << str(byName["zz"], "error");
  EXPECT_TRUE(isNull(byName["zz"], "dup_group"));
}

TEST(ImageNodes, BadParametersAndMissingColumnsAreValidationErrorsNamingTheParameter) {
  test::TempDir dir;
  auto msg = [&](const nlohmann::json& node) { return validationMessage(dir.path(), nlohmann::json::array({node})); };
  auto node = [](const std::string& type, nlohmann::json params) {
    return nlohmann::json{{"id", "n"}, {"type", type}, {"params", std::move(params)}};
  };
  std::string m = msg(node("image.phash", {{"source", "thumbnail"}}));
  EXPECT_NE(m.find("source"), std::string::npos) << m;
  EXPECT_NE(m.find("thumbnail"), std::string::npos) << m;
  m = msg(node("image.near_duplicates", nlohmann::json::object()));
  EXPECT_NE(m.find("column"), std::string::npos) << m;
  EXPECT_NE(m.find("phash"), std::string::npos) << m;
  m = msg(node("image.near_duplicates", {{"column", "name"}, {"max_distance", 40}}));
  EXPECT_NE(m.find("max_distance"), std::string::npos) << m;
  m = msg(node("image.near_duplicates", {{"column", "name"}, {"prefer", "widht DESC"}}));
  EXPECT_NE(m.find("prefer"), std::string::npos) << m;
  EXPECT_NE(m.find("widht"), std::string::npos) << m;
  m = msg(node("image.transform", {{"resize", "exact"}, {"width", 100}}));
  EXPECT_NE(m.find("width"), std::string::npos) << m;
  m = msg(node("image.transform", {{"crop_aspect", "wide"}}));
  EXPECT_NE(m.find("crop_aspect"), std::string::npos) << m;
  m = msg(node("image.transform", {{"rotate", "45"}}));
  EXPECT_NE(m.find("rotate"), std::string::npos) << m;
  m = msg(node("image.transform", {{"format", "gif"}}));
  EXPECT_NE(m.find("format"), std::string::npos) << m;
  m = msg(node("quality.exposure", {{"dark_level", 200}, {"bright_level", 100}}));
  EXPECT_NE(m.find("dark_level"), std::string::npos) << m;
  m = msg(node("quality.blur", {{"threshold", "high"}}));
  EXPECT_NE(m.find("threshold"), std::string::npos) << m;
  // The same nodes with sound parameters validate.
  EXPECT_EQ(msg(node("quality.blur", nlohmann::json::object())), "");
  EXPECT_EQ(msg(node("image.transform", {{"resize", "exact"}, {"width", 100}, {"height", 50}, {"crop_aspect", "16:9"}})), "");
}

TEST(ImageNodes, SourceColumnsThatHoldNoBlobAreRowErrorsAndAnEmptyTableIsFine) {
  test::TempDir dir;
  const fs::path data = dir / "data";
  test::writeFile(data / "a.txt", "x");
  test::writeFile(data / "b.txt", "x");
  // a: a well-formed hash of a blob this catalog does not have; b: not a hash at all.
  const nlohmann::json middle = {
      {{"id", "h"},
       {"type", "table.derive"},
       {"params", {{"columns", {{"thumb", "CASE name WHEN 'a.txt' THEN '" + std::string(64, 'a') + "' ELSE 'nope' END"}}}}}},
      {{"id", "hash"}, {"type", "image.phash"}, {"params", {{"source", "thumb"}}}}};
  auto cat = catalog::Catalog::open((dir / "catalog.db").string()).orThrow();
  Infos fb;
  auto r = run(*cat, chainFlow(data, middle), fb);
  ASSERT_EQ(r.status, "succeeded");
  EXPECT_EQ(r.rowsFailed, 2);
  std::map<std::string, Row> byName;
  for (auto& row : readDataset(*cat, "out")) byName[str(row, "name")] = row;
  EXPECT_NE(str(byName["a.txt"], "error").find("not in this catalog's blob store"), std::string::npos)
      << str(byName["a.txt"], "error");
  EXPECT_NE(str(byName["a.txt"], "error").find("a.txt"), std::string::npos) << str(byName["a.txt"], "error");
  EXPECT_NE(str(byName["b.txt"], "error").find("not a blob hash"), std::string::npos) << str(byName["b.txt"], "error");

  // No rows at all: every node runs and saves an empty dataset.
  const fs::path empty = dir / "empty";
  fs::create_directories(empty);
  const nlohmann::json all = {{{"id", "t"}, {"type", "image.transform"}, {"params", nlohmann::json::object()}},
                              {{"id", "p"}, {"type", "image.phash"}, {"params", nlohmann::json::object()}},
                              {{"id", "d"}, {"type", "image.near_duplicates"}, {"params", nlohmann::json::object()}},
                              {{"id", "b"}, {"type", "quality.blur"}, {"params", nlohmann::json::object()}},
                              {{"id", "e"}, {"type", "quality.exposure"}, {"params", nlohmann::json::object()}}};
  auto other = catalog::Catalog::open((dir / "other.db").string()).orThrow();
  Infos fb2;
  auto r2 = run(*other, chainFlow(empty, all), fb2);
  EXPECT_EQ(r2.status, "succeeded");
  EXPECT_TRUE(readDataset(*other, "out").empty());
}

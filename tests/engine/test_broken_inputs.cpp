// The broken-input corpus (tests/corpus/), part two: model API answers and storage listing pages
// that servers get wrong, read by the parsers the model nodes and the s3:// / az:// backends use.
// Each case's expected outcome is in tests/corpus/model.json or listing.json; every file in the
// folders must have one. Broken flows and media go through loom-cli (tests/corpus/run_corpus.py).

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>

#include "inference/pricing.h"
#include "inference/providers.h"
#include "storage/azure_storage.h"
#include "storage/s3_storage.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace loom;

const fs::path kCorpus = fs::path(LOOM_SOURCE_DIR) / "tests/corpus";

using loom::test::readFile;

json manifest(const std::string& name) {
  json j = json::parse(readFile(kCorpus / name));
  j.erase("_doc");
  return j;
}

// Every file in `dir` has an expectation, and every expectation a file.
void expectOneCaseEach(const json& cases, const std::string& dir) {
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(kCorpus / dir)) {
    ++files;
    EXPECT_TRUE(cases.contains(entry.path().filename().string()))
        << dir << "/" << entry.path().filename().string() << " has no expected outcome";
  }
  EXPECT_EQ(files, cases.size()) << "an expected outcome without its file in " << dir;
}

void expectFragments(const std::string& message, const json& fragments) {
  EXPECT_FALSE(message.empty());
  for (const auto& f : fragments) EXPECT_NE(message.find(f.get<std::string>()), std::string::npos) << message;
}

TEST(BrokenInputs, ModelAnswersAreReadOrRefusedWithTheReason) {
  const json cases = manifest("model.json");
  expectOneCaseEach(cases, "model");
  for (const auto& [file, c] : cases.items()) {
    SCOPED_TRACE(file);
    const std::string body = readFile(kCorpus / "model" / file);
    const std::string as = c.at("as");
    std::string message;
    if (as == "error") {
      message = inference::providerErrorMessage(body);
    } else if (as.rfind("embed:", 0) == 0) {
      auto a = inference::parseEmbedAnswer(body, std::stoul(as.substr(6)));
      ASSERT_EQ(a.ok(), c.contains("ok"));
      if (!a.ok()) message = a.error().message;
    } else {
      auto a = inference::parseChatAnswer(as == "openai" ? inference::Provider::OpenAI : inference::Provider::Anthropic,
                                          body);
      ASSERT_EQ(a.ok(), c.contains("ok")) << (a.ok() ? a->text : a.error().message);
      if (a.ok()) {
        const json& ok = c["ok"];
        EXPECT_EQ(a->text, ok.at("text"));
        EXPECT_EQ(a->usage.inputTokens, ok.at("input_tokens").get<int64_t>());
        EXPECT_EQ(a->usage.outputTokens, ok.at("output_tokens").get<int64_t>());
        EXPECT_EQ(a->usage.cachedTokens, ok.at("cached_tokens").get<int64_t>());
        continue;
      }
      message = a.error().message;
    }
    expectFragments(message, c.at("error"));
    for (const auto& absent : c.value("absent", json::array()))
      EXPECT_EQ(message.find(absent.get<std::string>()), std::string::npos) << message;
  }
}

// An error body of any size is shown with its key-like parts redacted; a long one once overflowed
// the stack of the regex that did the redacting.
TEST(BrokenInputs, AHugeKeyLikeErrorIsRedactedNotACrash) {
  const std::string key = "sk-" + std::string(500'000, 'a');
  const std::string shown = inference::providerErrorMessage(json{{"error", {{"message", "bad key " + key}}}}.dump());
  EXPECT_EQ(shown, "bad key [redacted]");
  EXPECT_EQ(inference::redactSecrets("Authorization: Bearer " + std::string(300'000, 'x') + " end"),
            "Authorization: [redacted] end");
  // A key that is part of "[redacted]" once made the replacing loop find its own output forever.
  EXPECT_EQ(inference::redactSecrets("key reda, reda", "reda"), "key [redacted], [redacted]");
}

// A value of the wrong type where a string belongs is a refusal, not a json::type_error thrown out
// of a parser documented never to throw (found by the model fuzz target).
TEST(BrokenInputs, WrongTypesWhereStringsBelongAreRefusedNotThrown) {
  auto chat = inference::parseChatAnswer(inference::Provider::Anthropic,
                                         R"({"content": [{"type": 7}, {"type": "text", "text": "a"}], "stop_reason": 1})");
  ASSERT_TRUE(chat.ok());
  EXPECT_EQ(chat->text, "a");
  auto openai = inference::parseChatAnswer(inference::Provider::OpenAI,
                                           R"({"choices": [{"message": {"content": "b"}, "finish_reason": null}]})");
  ASSERT_TRUE(openai.ok());
  EXPECT_FALSE(openai->cutShort);
  auto prices = inference::PriceTable::parse(R"({"format": 1, "models": []})", "prices.json");
  ASSERT_FALSE(prices.ok());
  EXPECT_NE(prices.error().message.find("prices.json: \"format\" must be \"loom.pricing/1\""), std::string::npos);
  auto unversioned = inference::PriceTable::parse(R"({"format": "loom.pricing/1", "version": 2, "models": []})", "p");
  ASSERT_TRUE(unversioned.ok());
  EXPECT_EQ(unversioned->version(), "unversioned");
}

TEST(BrokenInputs, ListingPagesAreReadOrRefusedWithTheReason) {
  const json cases = manifest("listing.json");
  expectOneCaseEach(cases, "listing");
  for (const auto& [file, c] : cases.items()) {
    SCOPED_TRACE(file);
    const std::string body = readFile(kCorpus / "listing" / file);
    // key -> (uri, size, mtime known), and the continuation, whichever parser read it.
    std::map<std::string, std::tuple<std::string, int64_t, bool>> objects;
    std::string next, message;
    bool ok = false;
    if (c.at("as") == "s3") {
      auto page = storage::parseListObjectsV2Page(body, "s3://b/");
      if ((ok = page.ok())) {
        for (const auto& e : page->entries) objects[e.key] = {e.object.uri, e.object.size, e.object.mtimeNs != 0};
        next = page->nextToken;
      } else {
        message = page.error().message;
      }
    } else {
      auto page = storage::parseListBlobsPage(body, "c");
      if ((ok = page.ok())) {
        for (const auto& b : page->blobs) objects[b.name] = {b.object.uri, b.object.size, b.object.mtimeNs != 0};
        next = page->nextMarker;
      } else {
        message = page.error().message;
      }
    }
    ASSERT_EQ(ok, c.contains("ok")) << message;
    if (!ok) {
      expectFragments(message, c.at("error"));
      continue;
    }
    EXPECT_EQ(next, c.at("next"));
    EXPECT_EQ(objects.size(), c["ok"].size());
    for (const auto& [key, want] : c["ok"].items()) {
      SCOPED_TRACE(key);
      ASSERT_TRUE(objects.count(key));
      EXPECT_EQ(std::get<0>(objects[key]), want[0]);
      EXPECT_EQ(std::get<1>(objects[key]), want[1].get<int64_t>());
      EXPECT_EQ(std::get<2>(objects[key]), want[2].get<bool>());
    }
  }
}

}  // namespace

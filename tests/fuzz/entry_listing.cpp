// listing: any body a storage server answers a listing with goes through the parser the backend
// uses (S3 ListObjectsV2 or Azure List Blobs). Properties: every object's URI is under the listed
// bucket or container and decodes back to the key, its name is valid UTF-8, and its size is a size
// or unknown (-1).

#include "fuzz_targets.h"
#include "storage/azure_storage.h"
#include "storage/s3_storage.h"
#include "storage/uri.h"

namespace loom::fuzz {

namespace {

// "" when the object is sound, else what is wrong with it.
std::string checkObject(const storage::ObjectInfo& o, const std::string& uriPrefix, const std::string& key) {
  if (o.uri.rfind(uriPrefix, 0) != 0) return "an object outside the listed place: " + o.uri;
  const auto decoded = storage::percentDecode(std::string_view(o.uri).substr(uriPrefix.size()));
  if (!decoded || *decoded != key) return "an object's URI does not decode to its key: " + o.uri;
  if (storage::sanitizeUtf8(o.name) != o.name) return "an object's name is not valid UTF-8";
  if (o.size < -1) return "a negative object size: " + std::to_string(o.size);
  return {};
}

}  // namespace

Outcome fuzzListing(std::string_view input) {
  Outcome out;
  if (input.empty()) input = std::string_view("\0", 1);
  const bool azure = (static_cast<unsigned char>(input[0]) & 1) != 0;
  const std::string_view xml = input.substr(1);
  if (!azure) {
    const std::string prefix = "s3://fuzz-bucket/";
    auto page = storage::parseListObjectsV2Page(xml, prefix);
    if (!page.ok()) {
      out.error = page.error().message;
      return out;
    }
    out.accepted = true;
    for (const auto& e : page->entries) {
      if (e.key.empty()) out.broken = "an entry without a key";
      if (auto bad = checkObject(e.object, prefix, e.key); !bad.empty()) out.broken = bad;
    }
    if (page->rawCount < static_cast<int64_t>(page->entries.size() + page->prefixes.size()))
      out.broken = "fewer raw elements than entries";
    return out;
  }
  const std::string container = "fuzz-container";
  auto page = storage::parseListBlobsPage(xml, container);
  if (!page.ok()) {
    out.error = page.error().message;
    return out;
  }
  out.accepted = true;
  for (const auto& b : page->blobs) {
    if (auto bad = checkObject(b.object, "az://" + container + "/", b.name); !bad.empty()) out.broken = bad;
  }
  return out;
}

}  // namespace loom::fuzz

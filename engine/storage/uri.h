#pragma once
// file:// URI <-> local path conversion (RFC 8089 / RFC 3986 percent-encoding). Hand-written:
// curl's URL API does not round-trip arbitrary non-UTF-8 path bytes.

#include <optional>
#include <string>
#include <string_view>

namespace loom::storage {

// RFC 3986 percent-encoding of every byte outside the unreserved set; '/' is kept when keepSlash
// (paths, object keys) and encoded otherwise (query values, single segments).
std::string percentEncode(std::string_view s, bool keepSlash);
// Percent-encodes every byte except unreserved characters and '/': percentEncode(path, true).
std::string percentEncodePath(std::string_view path);
// Decodes %XX sequences; nullopt on a malformed sequence.
std::optional<std::string> percentDecode(std::string_view s);
// "/a b/c" -> "file:///a%20b/c"
std::string fileUriFromPath(std::string_view absolutePath);
// "file:///a%20b/c" -> "/a b/c"; nullopt if not a file URI or malformed.
std::optional<std::string> pathFromFileUri(std::string_view uri);
// Makes a display-safe UTF-8 string: invalid sequences become U+FFFD.
std::string sanitizeUtf8(std::string_view bytes);

}  // namespace loom::storage

#include "storage/storage.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <vector>

#include "storage/backends.h"
#include "storage/file_storage.h"
#include "storage/uri.h"

namespace loom::storage {

using core::Error;
using core::ErrorKind;
using core::Result;

namespace {

bool isAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// The lower-cased scheme of "scheme:rest" (RFC 3986 section 3.1), or nullopt when there is none.
std::optional<std::string> schemeOf(std::string_view uri) {
  if (uri.empty() || !isAsciiAlpha(uri[0])) return std::nullopt;
  for (size_t i = 1; i < uri.size(); ++i) {
    const char c = uri[i];
    if (c == ':') {
      std::string scheme(uri.substr(0, i));
      for (char& ch : scheme) {
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
      }
      return scheme;
    }
    if (!isAsciiAlpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return std::nullopt;
  }
  return std::nullopt;
}

// Resolves "." and ".." by text alone, like std::filesystem::path::lexically_normal: the path
// need not exist, and symlinks are deliberately not resolved so the URI keeps the typed names.
std::string lexicallyNormal(std::string_view absolutePath) {
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (pos <= absolutePath.size()) {
    size_t slash = absolutePath.find('/', pos);
    if (slash == std::string_view::npos) slash = absolutePath.size();
    const std::string_view part = absolutePath.substr(pos, slash - pos);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    pos = slash + 1;
  }
  if (parts.empty()) return "/";
  std::string out;
  out.reserve(absolutePath.size());
  for (std::string_view part : parts) {
    out.push_back('/');
    out.append(part);
  }
  return out;
}

std::optional<std::string> homeDirectory() {
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home);
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &found) == 0 && found && found->pw_dir) {
    return std::string(found->pw_dir);
  }
  return std::nullopt;
}

std::string_view trimmed(std::string_view s) {
  const auto isSpace = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<std::shared_ptr<Storage>> storageFor(std::string_view uri) {
  const auto scheme = schemeOf(uri);
  if (!scheme) {
    return Error{ErrorKind::InvalidInput,
                 "'" + sanitizeUtf8(uri) +
                     "' is not a URI (expected a scheme such as file:///data/images; a typed path is turned into "
                     "one by normalizeUri)"};
  }
  if (*scheme == "file") {
    static const std::shared_ptr<Storage> fileStorage = std::make_shared<FileStorage>();
    return fileStorage;
  }
  if (*scheme == "s3" || *scheme == "gs") return s3Storage(*scheme);
  if (*scheme == "http" || *scheme == "https") return httpStorage();
  if (*scheme == "az") return azureStorage();
  return Error{ErrorKind::Unsupported, "no storage backend for " + sanitizeUtf8(*scheme) + ":// (in '" +
                                           sanitizeUtf8(uri) +
                                           "'): Loom reads file://, s3://, gs://, az://, http:// and https://"};
}

Result<std::string> normalizeUri(std::string_view userInput) {
  const std::string_view input = trimmed(userInput);
  if (input.empty()) {
    return Error{ErrorKind::InvalidInput,
                 "no location given (type a folder or file path such as /data/images, or a file:// URI)"};
  }
  if (input.find('\0') != std::string_view::npos) {
    return Error{ErrorKind::InvalidInput, "the location contains a NUL byte, which no path can hold"};
  }

  const auto scheme = schemeOf(input);
  if (scheme && *scheme == "file") {
    const auto path = pathFromFileUri(input);
    if (!path) {
      return Error{ErrorKind::InvalidInput,
                   "'" + sanitizeUtf8(input) +
                       "' is not a valid file URI (expected file:///absolute/path on this machine, with '%' "
                       "followed by two hex digits; or type the plain path instead)"};
    }
    return fileUriFromPath(lexicallyNormal(*path));
  }
  // Only "scheme://" counts as a URI: "notes:v2.txt" is far more likely a relative file name.
  if (scheme && input.substr(scheme->size() + 1).starts_with("//")) {
    return *scheme + std::string(input.substr(scheme->size()));
  }

  std::string path(input);
  if (path == "~" || path.starts_with("~/")) {
    const auto home = homeDirectory();
    if (!home) {
      return Error{ErrorKind::InvalidInput,
                   "cannot expand '~' in '" + sanitizeUtf8(input) + "': no home folder is known (type the full path)"};
    }
    path = *home + path.substr(1);
  }
  if (!path.starts_with('/')) {
    // glibc allocates the buffer when given nullptr, so no length guess is needed.
    std::unique_ptr<char, decltype(&std::free)> cwd(::getcwd(nullptr, 0), &std::free);
    if (!cwd) {
      return Error{ErrorKind::Io, "cannot resolve the relative path '" + sanitizeUtf8(input) +
                                      "': the current folder is unavailable (type an absolute path)"};
    }
    path = std::string(cwd.get()) + "/" + path;
  }
  return fileUriFromPath(lexicallyNormal(path));
}

}  // namespace loom::storage

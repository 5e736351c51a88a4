#include "storage/write_locations.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "storage/storage.h"
#include "storage/uri.h"

namespace loom::storage {

namespace fs = std::filesystem;
using core::Error;
using core::ErrorKind;

namespace {

bool isRemote(const std::string& uri) { return uri.find("://") != std::string::npos && uri.rfind("file://", 0) != 0; }

// Follows every symbolic link of the part that exists, a dangling link at the end included (writing
// there would create its target); the rest is taken as written, `..` collapsed.
fs::path resolved(const fs::path& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(p, ec);
  if (ec) return p.lexically_normal();
  for (int hops = 0; hops < 40 && fs::is_symlink(fs::symlink_status(r, ec)); ++hops) {
    const fs::path link = fs::read_symlink(r, ec);
    if (ec) break;
    r = fs::weakly_canonical(link.is_absolute() ? link : r.parent_path() / link, ec);
    if (ec) break;
  }
  return r;
}

bool inside(const fs::path& path, const fs::path& root) {
  auto [r, p] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  // A root written with a trailing slash ends in an empty element.
  return r == root.end() || (std::next(r) == root.end() && r->empty());
}

std::string listed(const std::vector<std::string>& roots) {
  if (roots.empty()) return "none";
  std::string out;
  for (const auto& r : roots) out += (out.empty() ? "" : ", ") + r;
  return out;
}

}  // namespace

std::vector<std::string> exportRoots(const std::string& flowDir) {
  std::vector<std::string> roots;
  if (!flowDir.empty()) roots.push_back(resolved(flowDir).string());
  const char* env = std::getenv("LOOM_EXPORT_ROOTS");
  const std::string list = env ? env : "";
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    std::string e = list.substr(pos, comma - pos);
    pos = comma + 1;
    e.erase(0, e.find_first_not_of(" \t"));
    e.erase(e.find_last_not_of(" \t") + 1);
    if (e.empty()) continue;
    if (isRemote(e)) {
      if (e.back() != '/') e += '/';
      roots.push_back(e);
    } else if (auto path = e.rfind("file://", 0) == 0 ? pathFromFileUri(e) : std::optional<std::string>(e)) {
      roots.push_back(resolved(fs::absolute(*path)).string());
    }
  }
  return roots;
}

core::Result<std::string> checkExportTarget(const std::string& uri, const std::vector<std::string>& roots) {
  const std::string how =
      ". Flows are data: they write only inside the flow file's folder and the locations in LOOM_EXPORT_ROOTS "
      "(allowed now: " + listed(roots) + "); add the location there (or in the desktop's settings) if you mean it";
  if (isRemote(uri)) {
    const size_t scheme = uri.find("://");
    const std::string rest = uri.substr(scheme + 3);
    // Object keys have no `..`, but a reader or a later copy to disk may treat them as paths.
    for (size_t s = 0; s <= rest.size();) {
      size_t slash = rest.find('/', s);
      if (slash == std::string::npos) slash = rest.size();
      const std::string seg = rest.substr(s, slash - s);
      if (seg == ".." || seg == ".") return Error{ErrorKind::PermissionDenied, uri + ": '.' and '..' are not allowed in an export URI"};
      s = slash + 1;
    }
    for (const auto& r : roots) {
      if (isRemote(r) && uri.rfind(r, 0) == 0) return uri;
    }
    return Error{ErrorKind::PermissionDenied, uri + " is outside the locations allowed for exports" + how};
  }
  std::optional<std::string> path = uri.rfind("file://", 0) == 0 ? pathFromFileUri(uri) : std::optional<std::string>(uri);
  if (!path || path->empty() || (*path)[0] != '/') {
    return Error{ErrorKind::InvalidInput, uri + ": an export target must be an absolute path or a URI"};
  }
  const fs::path target = resolved(*path);
  if (target.filename().empty() || fs::is_directory(target)) {
    return Error{ErrorKind::InvalidInput, uri + ": names a folder; name the file to write"};
  }
  for (const auto& r : roots) {
    if (!isRemote(r) && inside(target, fs::path(r))) return fileUriFromPath(target.string());
  }
  std::string leads = target.string() != fs::path(*path).lexically_normal().string() ? " (it leads to " + target.string() + ")" : "";
  return Error{ErrorKind::PermissionDenied, uri + leads + " is outside the locations allowed for exports" + how};
}

}  // namespace loom::storage

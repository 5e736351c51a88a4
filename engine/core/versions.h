#pragma once
// Versions of Loom and of the libraries the engine runs on, for About dialogs and `--version`.

#include <string>
#include <utility>
#include <vector>

namespace loom::core {

// ("Loom", "0.1.0"), ("SQLite", "3.40.1"), ("libcurl", …), ("OpenSSL", …), ("libmagic", …).
std::vector<std::pair<std::string, std::string>> componentVersions();

}  // namespace loom::core

#include "core/versions.h"

#include <curl/curl.h>
#include <magic.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

namespace loom::core {

std::vector<std::pair<std::string, std::string>> componentVersions() {
  int magic = magic_version();
  return {
      {"Loom", LOOM_VERSION},
      {"SQLite", sqlite3_libversion()},
      {"libcurl", curl_version_info(CURLVERSION_NOW)->version},
      {"OpenSSL", OpenSSL_version(OPENSSL_VERSION_STRING)},
      {"libmagic", std::to_string(magic / 100) + "." + std::to_string(magic % 100)},
  };
}

}  // namespace loom::core

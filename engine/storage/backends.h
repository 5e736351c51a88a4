#pragma once
// The network backends behind storageFor(). Each returns the process-wide instance for its scheme.

#include <memory>
#include <string_view>

#include "storage/storage.h"

namespace loom::storage {

// s3:// (AWS and any S3-compatible endpoint) and gs:// (Google Cloud Storage's S3-compatible XML
// API with HMAC keys); see s3_storage.h.
std::shared_ptr<Storage> s3Storage(std::string_view scheme);

// http:// and https:// (any web server or CDN; a URL is one object); see http_storage.h.
std::shared_ptr<Storage> httpStorage();

// az:// (Azure Blob Storage, Shared Key / SAS / anonymous); see azure_storage.h.
std::shared_ptr<Storage> azureStorage();

}  // namespace loom::storage

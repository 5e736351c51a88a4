#pragma once
// The az:// backend: Azure Blob Storage through its REST API (List Blobs, Get Blob Properties, Get
// Blob with ranges, Put Blob / Put Block / Put Block List), signed with Shared Key or carrying a SAS
// token, or anonymous for public containers. Works against Azure and the azurite emulator.
//
// URIs are az://<container>/<blob name>, the name %-encoded like file:// paths. The account, its
// endpoint and the credential follow Azure's own conventions (see azureAccountFromEnvironment).
// Neither the account key nor a SAS token ever reaches an error message, an ObjectInfo or a URI:
// messages name the credential by kind and by where it came from.
//
// Thread-safety: an AzureStorage may be used from any number of threads at once; HTTP connections
// are per thread (http_client.h), the version and read caches are RemoteStorage's.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/http_client.h"
#include "storage/remote.h"

namespace loom::storage {

struct AzureAccount {
  enum class Auth { SharedKey, Sas, Anonymous };
  std::string name;      // storage account name ("devstoreaccount1" for azurite)
  std::string endpoint;  // blob endpoint without a trailing '/': https://<name>.blob.core.windows.net
  Auth auth = Auth::Anonymous;
  std::string key;  // SharedKey: the decoded account key (secret)
  std::string sas;  // Sas: the token's query string without a leading '?' (secret)
  // Where the credential came from, for messages: "AZURE_STORAGE_KEY",
  // "AccountKey in AZURE_STORAGE_CONNECTION_STRING", ... ("" when anonymous). Never the secret.
  std::string source;

  // "Shared Key (AZURE_STORAGE_KEY)", "SAS token (AZURE_STORAGE_SAS_TOKEN)", "anonymous access".
  std::string describeCredential() const;
};

// Reads a variable; nullopt when unset. Tests pass a map instead of the process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
std::optional<std::string> processEnv(const std::string& name);

// The account az:// URIs refer to, in this order:
//  1. AZURE_STORAGE_CONNECTION_STRING: AccountName, AccountKey, SharedAccessSignature, BlobEndpoint,
//     DefaultEndpointsProtocol, EndpointSuffix; or UseDevelopmentStorage=true (azurite's well-known
//     account on 127.0.0.1:10000, or DevelopmentStorageProxyUri).
//  2. AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY (Shared Key) or else AZURE_STORAGE_SAS_TOKEN;
//     neither: anonymous. The endpoint is AZURE_STORAGE_BLOB_ENDPOINT when set (the account name
//     may then be left out: it is taken from the endpoint), else https://<account>.blob.core.windows.net.
// Errors (InvalidInput) say which variable is wrong and never quote a secret.
core::Result<AzureAccount> azureAccountFromEnvironment(const EnvLookup& env = processEnv);

struct AzureOptions {
  int pageSize = 5000;                         // maxresults of one List Blobs page (Azure's maximum)
  int64_t singlePutLimit = int64_t{64} << 20;  // larger writes go up in blocks
  int64_t blockSize = int64_t{8} << 20;
  http::RetryPolicy retry;
};

class AzureStorage final : public RemoteStorage {
 public:
  // The account is fixed for the instance's life (its endpoint also keys the read cache). An error
  // (a malformed connection string, no account configured) is returned by every call instead.
  explicit AzureStorage(core::Result<AzureAccount> account, AzureOptions options = {});

  std::string scheme() const override { return "az"; }
  // List Blobs under <prefix>/ (with delimiter '/' when not recursive), following NextMarker, in
  // Azure's order (lexicographic by name). az://c/dir with no blob under dir/ lists the blob named
  // exactly "dir" when there is one; neither is NotFound. Names ending in '/' (folder markers some
  // tools create) are not objects and are skipped.
  core::Result<void> list(const std::string& prefixUri, const ListOptions& options, const ListSink& sink,
                          core::Feedback* feedback = nullptr) override;
  // Get Blob Properties (HEAD).
  core::Result<ObjectInfo> stat(const std::string& uri) override;
  // Put Blob up to singlePutLimit bytes, else Put Block in blockSize pieces + Put Block List: both
  // replace the blob atomically. The container must exist.
  core::Result<void> write(const std::string& uri, std::string_view bytes) override;

 protected:
  core::Result<Fetched> fetch(const std::string& uri, const std::string& etag, int64_t offset, int64_t length) override;

 private:
  core::Result<AzureAccount> m_account;
  AzureOptions m_options;
};

// One List Blobs answer page (a 200 body), parsed. Pure, so the fuzz target (tests/fuzz) and the
// tests reach exactly what list() uses.
struct ListBlobsEntry {
  std::string name;   // decoded blob name (Encoded="true" names are %-decoded)
  ObjectInfo object;  // uri = az://<container>/<%-encoded name>
};
struct ListBlobsPage {
  std::vector<ListBlobsEntry> blobs;  // <Blob> elements with a readable <Name>, in the answer's order
  std::vector<std::string> prefixes;  // <BlobPrefix><Name> (with a delimiter listing)
  std::string nextMarker;             // empty when this was the last page
};
// Error (Corrupt): a body that is not an EnumerationResults document; the caller adds which listing.
core::Result<ListBlobsPage> parseListBlobsPage(std::string_view xml, const std::string& container);

// The process-wide az:// backend, its account resolved from the environment on first use; what
// storageFor() hands out.
std::shared_ptr<Storage> azureStorage();

namespace azure_detail {
// Exposed for unit tests of the pure parts.
struct Location {
  std::string container;
  std::string blob;  // decoded; "" for the container itself
};
core::Result<Location> parseUri(const std::string& uri);
std::string uriFor(const std::string& container, const std::string& blob);
// Shared Key string-to-sign for one request (2009-09-19+ rules). `path` is the request path as sent
// (%-encoded); `query` holds decoded names and values; `headers` are "Name: value".
std::string stringToSign(const std::string& method, const std::string& accountName, const std::string& path,
                         const std::vector<std::pair<std::string, std::string>>& query,
                         const std::vector<std::string>& headers, int64_t contentLength);
}  // namespace azure_detail

}  // namespace loom::storage

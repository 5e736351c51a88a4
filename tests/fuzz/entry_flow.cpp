// flow: any text given as a .loomflow file goes through what `loom-cli run` does before it runs
// anything: parseFlow, then validateFlow against the built-in node types with a catalog (empty here).
// Properties: a refusal says why; a parsed flow saves and loads back to the same document; a valid
// flow orders every node.

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "catalog/catalog.h"
#include "flow/validate.h"
#include "fuzz_targets.h"

namespace loom::fuzz {

namespace {

// One empty catalog for the process, in a folder of its own, removed at exit.
catalog::Catalog* emptyCatalog() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "loom-fuzz-flow-XXXXXX").string();
    const char* made = ::mkdtemp(tmpl.data());
    return std::filesystem::path(made ? made : tmpl);
  }();
  static const std::unique_ptr<catalog::Catalog> cat = [] {
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    auto opened = catalog::Catalog::open((dir / "catalog.db").string(), true);
    return opened.ok() ? std::move(opened).value() : nullptr;
  }();
  return cat.get();
}

}  // namespace

Outcome fuzzFlow(std::string_view input) {
  Outcome out;
  const std::string origin = "fuzz.loomflow";
  auto parsed = flow::parseFlow(std::string(input), origin);
  if (!parsed.ok()) {
    out.error = parsed.error().message;
    if (out.error.rfind(origin + ": ", 0) != 0) out.broken = "a load error that does not name the file: " + out.error;
    return out;
  }
  // What the editor saves must load back as the same document.
  const std::string saved = flow::serializeFlow(*parsed);
  auto reloaded = flow::parseFlow(saved, origin);
  if (!reloaded.ok()) {
    out.broken = "a saved flow does not load back: " + reloaded.error().message;
    return out;
  }
  if (flow::serializeFlow(*reloaded) != saved) {
    out.broken = "a saved flow loads back different";
    return out;
  }

  nodes::ValidationContext ctx;
  ctx.catalog = emptyCatalog();
  ctx.baseDir = "/nonexistent/loom-fuzz";
  const flow::Validation v = flow::validateFlow(*parsed, nodes::NodeRegistry::builtin(), ctx);
  out.accepted = v.ok();
  out.error = v.message();
  if (v.ok() && v.order.size() != parsed->nodes.size()) out.broken = "a valid flow's run order misses nodes";
  for (const auto& issue : v.issues) {
    if (issue.message.empty()) out.broken = "an issue without a message";
  }
  return out;
}

}  // namespace loom::fuzz

#include <sqlite3.h>

#include "catalog/catalog.h"
#include "test_support.h"

using namespace loom;

TEST(Catalog, CreatesSchemaWithWalAndVersion) {
  test::TempDir dir;
  auto cat = catalog::Catalog::open((dir / "sub/catalog.db").string()).orThrow();
  auto s = cat->db().prepare("PRAGMA user_version");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.int64(0), catalog::kSchemaVersion);
  auto j = cat->db().prepare("PRAGMA journal_mode");
  ASSERT_TRUE(j.step());
  EXPECT_EQ(j.text(0), "wal");
  for (const char* t : {"sources", "objects", "datasets", "dataset_versions", "runs", "node_runs", "node_outputs",
                        "model_calls", "call_cache", "blobs", "run_inputs"})
    EXPECT_TRUE(cat->db().tableExists(t)) << t;
}

TEST(Catalog, ReopenKeepsData) {
  test::TempDir dir;
  std::string path = (dir / "c.db").string();
  {
    auto cat = catalog::Catalog::open(path).orThrow();
    cat->db().exec("INSERT INTO datasets(name, created_at) VALUES('x', 'now')");
  }
  auto cat = catalog::Catalog::open(path).orThrow();
  ASSERT_EQ(cat->datasets().size(), 1u);
  EXPECT_EQ(cat->datasets()[0].name, "x");
}

// Undoes migration 4 on a fresh catalog (the ledger's attempts, compute seconds, node type and price
// version; the call cache's latency and cost), so older schemas can be rebuilt from a fresh one.
static void dropSchema4(catalog::Db& db) {
  db.exec("DROP INDEX model_calls_created");
  for (const char* c : {"attempts", "compute_seconds", "node_type", "price_version"})
    db.exec(std::string("ALTER TABLE model_calls DROP COLUMN ") + c);
  for (const char* c : {"latency_ms", "cost_usd"}) db.exec(std::string("ALTER TABLE call_cache DROP COLUMN ") + c);
}

TEST(Catalog, MigratesAFirstReleaseCatalogKeepingItsData) {
  test::TempDir dir;
  std::string path = (dir / "v1.db").string();
  {
    // Turn a fresh catalog back into what the first release wrote: schema 1 had no node_outputs.run_id.
    auto cat = catalog::Catalog::open(path).orThrow();
    dropSchema4(cat->db());
    cat->db().exec("ALTER TABLE node_outputs DROP COLUMN run_id");
    for (const char* c : {"format", "duration", "fps", "sample_rate", "channels", "pages", "probe_version"})
      cat->db().exec(std::string("ALTER TABLE objects DROP COLUMN ") + c);
    cat->db().exec("PRAGMA user_version=1");
    cat->db().exec("INSERT INTO datasets(name, created_at) VALUES('kept', 'now')");
    cat->db().exec("INSERT INTO node_outputs(hash, node_type, table_name, status, columns_json, created_at) "
                   "VALUES('h', 'media.probe', 'n_h', 'complete', '[]', 'now')");
  }
  auto cat = catalog::Catalog::open(path).orThrow();
  auto v = cat->db().prepare("PRAGMA user_version");
  ASSERT_TRUE(v.step());
  EXPECT_EQ(v.int64(0), catalog::kSchemaVersion);
  auto s = cat->db().prepare("SELECT hash, run_id IS NULL FROM node_outputs");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.text(0), "h");
  EXPECT_EQ(s.int64(1), 1);
  ASSERT_EQ(cat->datasets().size(), 1u);
  EXPECT_EQ(cat->datasets()[0].name, "kept");
}

TEST(Catalog, MigratesASchema2CatalogSoOldProbesAreProbedAgain) {
  test::TempDir dir;
  std::string path = (dir / "v2.db").string();
  {
    // Schema 2 had no typed probe columns beyond width/height and no probe_version.
    auto cat = catalog::Catalog::open(path).orThrow();
    dropSchema4(cat->db());
    for (const char* c : {"format", "duration", "fps", "sample_rate", "channels", "pages", "probe_version"})
      cat->db().exec(std::string("ALTER TABLE objects DROP COLUMN ") + c);
    cat->db().exec("PRAGMA user_version=2");
    cat->db().exec("INSERT INTO objects(uri, etag, mime, width, height, probed_etag, seen_at) "
                   "VALUES('file:///a.jpg', 'e1', 'image/jpeg', 640, 480, 'e1', 'now')");
  }
  auto cat = catalog::Catalog::open(path).orThrow();
  auto v = cat->db().prepare("PRAGMA user_version");
  ASSERT_TRUE(v.step());
  EXPECT_EQ(v.int64(0), catalog::kSchemaVersion);
  auto s = cat->db().prepare(
      "SELECT uri, mime, width, height, probed_etag, probe_version IS NULL, duration IS NULL, pages IS NULL FROM objects");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.text(0), "file:///a.jpg");
  EXPECT_EQ(s.text(1), "image/jpeg");
  EXPECT_EQ(s.int64(2), 640);
  EXPECT_EQ(s.int64(3), 480);
  EXPECT_EQ(s.text(4), "e1");
  EXPECT_EQ(s.int64(5), 1) << "an old probe has no version, so the next index probes it again";
  EXPECT_EQ(s.int64(6), 1);
  EXPECT_EQ(s.int64(7), 1);
}

TEST(Catalog, RefusesNewerSchemaWithClearMessage) {
  test::TempDir dir;
  std::string path = (dir / "c.db").string();
  {
    auto cat = catalog::Catalog::open(path).orThrow();
    cat->db().exec("PRAGMA user_version=99");
  }
  auto r = catalog::Catalog::open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("newer than this Loom"), std::string::npos) << r.error().message;
}

TEST(Catalog, RefusesForeignSqliteFile) {
  test::TempDir dir;
  std::string path = (dir / "other.db").string();
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto r = catalog::Catalog::open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not a Loom catalog"), std::string::npos) << r.error().message;
  // And the foreign file is untouched.
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &s, nullptr);
  sqlite3_step(s);
  EXPECT_EQ(sqlite3_column_int(s, 0), 1);
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST(Catalog, RefusesGarbageFile) {
  test::TempDir dir;
  test::writeFile(dir / "junk.db", std::string(4096, 'x'));
  auto r = catalog::Catalog::open((dir / "junk.db").string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, core::ErrorKind::Catalog);
}

TEST(Catalog, ResolveDatasetErrorsNameWhatExists) {
  test::TempDir dir;
  auto cat = catalog::Catalog::open((dir / "c.db").string()).orThrow();
  auto r = cat->resolveDataset("nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, core::ErrorKind::NotFound);
  EXPECT_NE(r.error().message.find("no datasets yet"), std::string::npos);
  auto bad = cat->resolveDataset("x@zero");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, core::ErrorKind::InvalidInput);
}

#include "core/feedback.h"

TEST(Time, IsoUtcMatchesTheCalendar) {
  EXPECT_EQ(core::isoTimeUtc(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(core::isoTimeUtc(951782400123456789LL), "2000-02-29T00:00:00.123Z");  // leap day
  EXPECT_EQ(core::isoTimeUtc(1795316760500000000LL), "2026-11-22T03:06:00.500Z");
  EXPECT_EQ(core::isoTimeUtc(-1000000LL), "1969-12-31T23:59:59.999Z");  // before the epoch
  EXPECT_EQ(core::isoTimeUtc(4102444799999000000LL), "2099-12-31T23:59:59.999Z");
}

#pragma once
// The GUI's window on one catalog. All catalog reads run on a worker thread that owns its own engine
// Catalog (a Catalog is not thread-safe, and SQLite work must never block the GUI thread); results
// come back as signals delivered on the thread that owns the service.
//
// Threading: create, call and destroy on the GUI thread. Requests are served one at a time in the
// order they were made, so a request made right after open() is served by the new catalog. Every
// request returns a ticket that its reply (…Ready or requestFailed) carries; several models share
// one service and each keeps the replies to its own tickets.

#include <QObject>
#include <QString>
#include <QThread>
#include <functional>
#include <memory>

#include "catalog_types.h"

namespace loom::models {

class CatalogService : public QObject {
  Q_OBJECT

 public:
  using Ticket = quint64;

  explicit CatalogService(QObject* parent = nullptr);
  // Waits for the request being served (reads are paged, so this is short) and closes the catalog.
  ~CatalogService() override;

  // Opens (creating when missing) the catalog at `path`. On success the previous catalog is closed
  // and opened() follows; on failure the previous catalog stays open and openFailed() follows.
  // Requests made after this call are served by the new catalog when it opens.
  Ticket open(const QString& path);
  // The ticket of the open() that succeeded last (0 before): a reply to a request with a smaller
  // ticket came from an earlier catalog.
  Ticket openTicket() const { return m_openTicket; }
  // The catalog opened last with success; empty before.
  QString catalogPath() const { return m_path; }
  bool isOpen() const { return !m_path.isEmpty(); }

  Ticket requestDatasets();                         // -> datasetsReady
  Ticket requestVersions(const QString& dataset);   // -> versionsReady, oldest first
  Ticket requestVersion(const QString& spec);       // "name" (latest) or "name@3" -> versionReady
  // Rows ordered by _row, `limit` from `offset` -> rowsReady
  Ticket requestRows(const QString& dataset, qint64 version, qint64 offset, qint64 limit);

 signals:
  void opened(const QString& path);
  void openFailed(const QString& path, const QString& message);
  void datasetsReady(quint64 ticket, const QList<loom::models::DatasetInfo>& datasets);
  void versionsReady(quint64 ticket, const QString& dataset, const QList<loom::models::VersionInfo>& versions);
  void versionReady(quint64 ticket, const loom::models::VersionInfo& version);
  void rowsReady(quint64 ticket, const loom::models::RowPage& page);
  void requestFailed(quint64 ticket, const QString& message);

 private:
  struct WorkerState;
  // Runs `work` on the worker thread with the worker's state.
  void post(std::function<void(WorkerState&)> work);
  // Runs `reply` on this object's thread, unless this object is gone by then.
  void reply(std::function<void()> reply);
  Ticket request(std::function<void(WorkerState&, Ticket)> work);

  QThread m_thread;
  std::unique_ptr<QObject> m_workerContext;  // lives on m_thread: posted work runs there
  std::unique_ptr<WorkerState> m_worker;     // touched only on m_thread
  QString m_path;
  Ticket m_openTicket = 0;
  Ticket m_nextTicket = 1;
};

}  // namespace loom::models

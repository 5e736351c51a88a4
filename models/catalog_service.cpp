#include "catalog_service.h"

#include <QMetaObject>
#include <algorithm>

#include "core/result.h"

namespace loom::models {

struct CatalogService::WorkerState {
  std::unique_ptr<catalog::Catalog> catalog;
};

CatalogService::CatalogService(QObject* parent)
    : QObject(parent), m_workerContext(std::make_unique<QObject>()), m_worker(std::make_unique<WorkerState>()) {
  m_thread.setObjectName(QStringLiteral("loom-catalog"));
  m_workerContext->moveToThread(&m_thread);
  m_thread.start();
}

CatalogService::~CatalogService() {
  // Close the catalog on the thread that used it, after the requests already queued, then stop.
  post([](WorkerState& w) {
    w.catalog.reset();
    QThread::currentThread()->quit();
  });
  m_thread.wait();
  m_workerContext.reset();
}

void CatalogService::post(std::function<void(WorkerState&)> work) {
  WorkerState* state = m_worker.get();
  QMetaObject::invokeMethod(
      m_workerContext.get(), [state, work = std::move(work)] { work(*state); }, Qt::QueuedConnection);
}

void CatalogService::reply(std::function<void()> fn) {
  // Queued on this object: Qt drops the call if the service is destroyed before it runs.
  QMetaObject::invokeMethod(this, std::move(fn), Qt::QueuedConnection);
}

CatalogService::Ticket CatalogService::request(std::function<void(WorkerState&, Ticket)> work) {
  const Ticket ticket = m_nextTicket++;
  post([this, ticket, work = std::move(work)](WorkerState& w) {
    QString error;
    if (!w.catalog) {
      error = tr("No catalog is open.");
    } else {
      // The engine throws RunError when SQLite fails (a locked or corrupt file); a reader reports it
      // and the next request tries again.
      try {
        work(w, ticket);
        return;
      } catch (const std::exception& e) {
        error = QString::fromStdString(e.what());
      }
    }
    reply([this, ticket, error] { emit requestFailed(ticket, error); });
  });
  return ticket;
}

CatalogService::Ticket CatalogService::open(const QString& path) {
  const Ticket ticket = m_nextTicket++;
  post([this, path, ticket](WorkerState& w) {
    auto result = catalog::Catalog::open(path.toStdString(), true);
    if (!result.ok()) {
      QString message = QString::fromStdString(result.error().message);
      reply([this, path, message] { emit openFailed(path, message); });
      return;
    }
    w.catalog = std::move(result).value();
    QString actual = QString::fromStdString(w.catalog->path());
    reply([this, actual, ticket] {
      m_path = actual;
      m_openTicket = ticket;
      emit opened(actual);
    });
  });
  return ticket;
}

CatalogService::Ticket CatalogService::requestDatasets() {
  return request([this](WorkerState& w, Ticket ticket) {
    QList<DatasetInfo> list;
    for (const auto& d : w.catalog->datasets()) list.push_back(toDatasetInfo(d));
    reply([this, ticket, list] { emit datasetsReady(ticket, list); });
  });
}

CatalogService::Ticket CatalogService::requestVersions(const QString& dataset) {
  return request([this, dataset](WorkerState& w, Ticket ticket) {
    QList<VersionInfo> list;
    for (const auto& v : w.catalog->versions(dataset.toStdString())) list.push_back(toVersionInfo(v));
    reply([this, ticket, dataset, list] { emit versionsReady(ticket, dataset, list); });
  });
}

CatalogService::Ticket CatalogService::requestVersion(const QString& spec) {
  return request([this, spec](WorkerState& w, Ticket ticket) {
    auto v = w.catalog->resolveDataset(spec.toStdString());
    if (!v.ok()) {
      QString message = QString::fromStdString(v.error().message);
      reply([this, ticket, message] { emit requestFailed(ticket, message); });
      return;
    }
    VersionInfo info = toVersionInfo(v.value());
    reply([this, ticket, info] { emit versionReady(ticket, info); });
  });
}

CatalogService::Ticket CatalogService::requestRows(const QString& dataset, qint64 version, qint64 offset,
                                                   qint64 limit) {
  return request([this, dataset, version, offset, limit](WorkerState& w, Ticket ticket) {
    const QString spec = dataset + QLatin1Char('@') + QString::number(version);
    auto v = w.catalog->resolveDataset(spec.toStdString());
    if (!v.ok()) {
      QString message = QString::fromStdString(v.error().message);
      reply([this, ticket, message] { emit requestFailed(ticket, message); });
      return;
    }
    RowPage page{dataset, version, offset, {}};
    page.rows.reserve(static_cast<qsizetype>(std::clamp<qint64>(limit, 0, 4096)));
    w.catalog->readRows(v.value(), offset, limit, [&page](const std::vector<core::Value>& values) {
      QVariantList row;
      row.reserve(static_cast<qsizetype>(values.size()));
      for (const auto& value : values) row.push_back(toVariant(value));
      page.rows.push_back(std::move(row));
    });
    reply([this, ticket, page = std::move(page)] { emit rowsReady(ticket, page); });
  });
}

}  // namespace loom::models

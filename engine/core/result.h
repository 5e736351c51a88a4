#pragma once
// Expected-or-error results for failures that happen in normal use (a corrupt file, a missing
// dataset, a bad parameter). Run-ending failures are thrown as RunError instead.

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace loom::core {

// Machine-readable kind of an error; the UI may translate by kind, the message stays English.
enum class ErrorKind {
  InvalidInput,      // bad argument or parameter value
  InvalidFlow,       // the flow file or graph is wrong
  NotFound,          // a named object, dataset or file does not exist
  PermissionDenied,  // the OS refused access
  Io,                // read/write failure
  Corrupt,           // the input exists but cannot be decoded
  Unsupported,       // a format or feature Loom does not handle
  Catalog,           // the catalog cannot be opened or written
  Budget,            // a spending limit was reached
  Cancelled,         // the user asked to stop
  Internal,          // a bug in Loom
};

const char* errorKindName(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::Internal;
  std::string message;
};

// Thrown only for errors that end a whole run (invalid flow, unwritable catalog, cancel, budget).
class RunError : public std::runtime_error {
 public:
  RunError(ErrorKind kind, const std::string& message) : std::runtime_error(message), m_kind(kind) {}
  explicit RunError(const Error& e) : RunError(e.kind, e.message) {}
  ErrorKind kind() const { return m_kind; }

 private:
  ErrorKind m_kind;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : m_v(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : m_v(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return m_v.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(m_v); }
  const T& value() const& { return std::get<0>(m_v); }
  T&& value() && { return std::get<0>(std::move(m_v)); }
  T* operator->() { return &std::get<0>(m_v); }
  const T* operator->() const { return &std::get<0>(m_v); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const { return std::get<1>(m_v); }
  // Returns the value, or throws RunError carrying the error.
  T& orThrow() & {
    if (!ok()) throw RunError(error());
    return value();
  }
  T orThrow() && {
    if (!ok()) throw RunError(error());
    return std::move(value());
  }

 private:
  std::variant<T, Error> m_v;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : m_error(std::move(error)) {}  // NOLINT
  bool ok() const { return !m_error.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *m_error; }
  void orThrow() const {
    if (m_error) throw RunError(*m_error);
  }

 private:
  std::optional<Error> m_error;
};

inline Error makeError(ErrorKind kind, std::string message) { return Error{kind, std::move(message)}; }

}  // namespace loom::core

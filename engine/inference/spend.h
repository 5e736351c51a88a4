#pragma once
// A run's model spending against its budget. Before a call is sent its worst-case cost (estimated
// input tokens plus max output tokens at the model's price) is reserved; when the answer arrives the
// reservation is replaced by the real cost. A call whose reservation would pass the budget is not
// sent, so a run never spends past its budget as long as the estimate bounds the real cost.
// Thread-safe.

#include <mutex>
#include <optional>

namespace loom::inference {

class Spend {
 public:
  explicit Spend(std::optional<double> budgetUsd = std::nullopt) : m_budget(budgetUsd) {}
  const std::optional<double>& budget() const { return m_budget; }
  // Reserves `usd`; false (nothing reserved) when that would pass the budget.
  bool reserve(double usd);
  // Replaces a reservation by what the call really cost.
  void settle(double reservedUsd, double actualUsd);
  double spent() const;
  bool reached() const;  // a reservation was refused

 private:
  mutable std::mutex m_mutex;
  std::optional<double> m_budget;
  double m_spent = 0, m_reserved = 0;
  bool m_reached = false;
};

}  // namespace loom::inference

#include "inference/spend.h"

namespace loom::inference {

bool Spend::reserve(double usd) {
  std::lock_guard lock(m_mutex);
  if (m_budget && m_spent + m_reserved + usd > *m_budget) {
    m_reached = true;
    return false;
  }
  m_reserved += usd;
  return true;
}

void Spend::settle(double reservedUsd, double actualUsd) {
  std::lock_guard lock(m_mutex);
  m_reserved -= reservedUsd;
  if (m_reserved < 0) m_reserved = 0;
  m_spent += actualUsd;
}

double Spend::spent() const {
  std::lock_guard lock(m_mutex);
  return m_spent;
}

bool Spend::reached() const {
  std::lock_guard lock(m_mutex);
  return m_reached;
}

}  // namespace loom::inference

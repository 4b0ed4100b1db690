// util/metrics.h — counters for /metrics that any module can keep without knowing Prometheus'
// transport: a histogram of durations and counts by reason. Thread-safe. The rpc layer writes
// them out (Prometheus text) next to its own.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace peerchain::util {

// Durations in seconds in fixed buckets (0.5 ms .. 5 s and above).
class DurationHistogram {
 public:
  static constexpr std::array<double, 9> kBounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5};

  void observe(double seconds) {
    size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
  }
  // `name`'s _bucket, _sum and _count lines with HELP and TYPE.
  std::string prometheus(const std::string& name, const std::string& help) const {
    std::string m = "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= kBounds.size(); ++i) {
      cumulative += counts_[i].load(std::memory_order_relaxed);
      std::string le = i < kBounds.size() ? std::to_string(kBounds[i]) : "+Inf";
      m += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
    }
    m += name + "_sum " + std::to_string(static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6) + "\n";
    m += name + "_count " + std::to_string(cumulative) + "\n";
    return m;
  }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> counts_{};
  std::atomic<uint64_t> sum_us_{0};
};

// Events counted by a reason token ("bad-signature", "nonce-too-low", ...). Reasons are the
// stable tokens of a closed set, so the map stays small.
class ReasonCounter {
 public:
  void add(std::string_view reason) {
    std::lock_guard lock(mu_);
    ++counts_[std::string(reason)];
  }
  std::map<std::string, uint64_t> snapshot() const {
    std::lock_guard lock(mu_);
    return counts_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> counts_;  // GUARDED_BY(mu_)
};

}  // namespace peerchain::util

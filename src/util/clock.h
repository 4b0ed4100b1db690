// util/clock.h — the time source seam. Nothing outside apps/ and this file reads the system
// clock directly, so tests (and the chaos tool's clock offsets) can drive time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace peerchain::util {

// The node's two kinds of time. Thread-safe.
// - now_ms(): milliseconds since the Unix epoch, as the node believes it (block timestamps, bans,
//   the future-block limit). It can jump and be skewed.
// - steady_ns(): a monotonic count for measuring durations (sync pacing, processing times). Its
//   origin means nothing.
// The real programs pass SystemClock; the simulator passes a clock of simulated time, so nothing
// in node logic reads the machine's clocks itself.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ms() const = 0;
  virtual int64_t steady_ns() const = 0;
  int64_t steady_ms() const { return steady_ns() / 1'000'000; }
};

// Wall clock plus an adjustable offset (the chaos test skews a node's clock with it).
class SystemClock final : public Clock {
 public:
  explicit SystemClock(int64_t offset_ms = 0) : offset_ms_(offset_ms) {}
  int64_t now_ms() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() +
           offset_ms_.load(std::memory_order_relaxed);
  }
  int64_t steady_ns() const override {
    using namespace std::chrono;
    return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
  }
  void set_offset_ms(int64_t off) { offset_ms_.store(off, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> offset_ms_;
};

// A clock that only moves when told to. For tests.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms) : now_(start_ms) {}
  int64_t now_ms() const override { return now_.load(); }
  // Moves with now_ms() (forward steps only matter to the callers that measure durations).
  int64_t steady_ns() const override { return now_.load() * 1'000'000; }
  void set(int64_t ms) { now_.store(ms); }
  void advance(int64_t ms) { now_.fetch_add(ms); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace peerchain::util

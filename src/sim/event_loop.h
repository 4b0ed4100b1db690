// sim/event_loop.h — simulated time and the one queue of everything that happens in a run.
//
// A run is a function of (seed, options, code): every event has a time and a sequence number
// given when it was scheduled, and events run strictly in (time, sequence) order on one thread,
// so the same schedule always runs the same way (rippled's csf::Scheduler, stellar-core's
// VirtualClock). Time is in microseconds from the start of the run and only moves when the next
// event is taken.
//
// Each event belongs to an owner: the world (-1) or a node's incarnation. Events of a node that
// crashed since they were scheduled are dropped (its timers and deliveries died with it); events
// of a paused node wait, in order, until it resumes (SIGSTOP: the kernel keeps its bytes).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <queue>
#include <unordered_set>
#include <vector>

namespace peerchain::sim {

using Micros = int64_t;
inline constexpr Micros kMs = 1000;
inline constexpr Micros kSecond = 1'000'000;

struct Owner {
  int node = -1;             // -1: the world (nemesis, clients, checks)
  uint64_t incarnation = 0;  // the node's life the event belongs to
};

class EventLoop {
 public:
  using EventId = uint64_t;
  // What the loop asks about a node before running one of its events.
  struct NodeGate {
    std::function<uint64_t(int node)> incarnation;  // current incarnation
    std::function<bool(int node)> paused;
  };

  explicit EventLoop(NodeGate gate) : gate_(std::move(gate)) {}

  Micros now() const { return now_; }
  uint64_t events_run() const { return events_run_; }

  EventId at(Micros when, Owner owner, std::function<void()> fn);
  EventId after(Micros delay, Owner owner, std::function<void()> fn) { return at(now_ + delay, owner, std::move(fn)); }
  void cancel(EventId id);
  // A paused node resumed: its waiting events run from now on, in their original order.
  void release(int node);

  // Runs events until none is due at or before `until`, `stop()` is called or none is left.
  // Returns false when stopped.
  bool run_until(Micros until);
  void stop() { stopped_ = true; }
  size_t pending() const { return queue_.size(); }

 private:
  struct Event {
    Micros when;
    uint64_t seq;
    EventId id;
    Owner owner;
    std::function<void()> fn;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.when != b.when ? a.when > b.when : a.seq > b.seq;
    }
  };

  NodeGate gate_;
  Micros now_ = 0;
  uint64_t next_seq_ = 0;
  EventId next_id_ = 0;
  uint64_t events_run_ = 0;
  bool stopped_ = false;
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
  std::unordered_set<EventId> cancelled_;
  std::map<int, std::vector<Event>> held_;  // paused node -> its due events, in order
};

}  // namespace peerchain::sim

// node/services.h — everything through which a node touches the world, passed in as one bundle.
//
// The node's logic runs unchanged in two worlds (DESIGN.md, "The node as a library of the world
// it runs in"; ADR 0013): the real one, wired by real_world_services() (the wall clock, a timer
// thread, worker threads, Asio over TCP, RocksDB, the OS's randomness, the process logger), and
// the simulator's (sim/), which passes a clock of simulated time, its event queue as the
// scheduler, no threads (all work inline, in the order its seeded event queue gives), a simulated
// network, in-memory storage that a power cut can roll back, a seeded generator and a log sink per
// node. Nothing in node/, chain/ or net/ reads a clock, opens a socket or a database, sleeps or
// starts a thread except through these.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "net/transport.h"
#include "storage/database.h"
#include "util/clock.h"
#include "util/result.h"

namespace spdlog {
class logger;
}

namespace peerchain::chain {
class VerifyPool;
}

namespace peerchain::node {

// Timers. Tasks of one scheduler never run concurrently with each other.
class Scheduler {
 public:
  using TaskId = uint64_t;
  virtual ~Scheduler() = default;
  // Runs `task` once, `delay_ms` (>= 0) from now.
  virtual TaskId after(int64_t delay_ms, std::function<void()> task) = 0;
  // After it returns the task does not start (one already running finishes first, unless
  // cancel is called from inside it).
  virtual void cancel(TaskId id) = 0;
};

// Opens the node's database given its data directory.
using StorageFactory = std::function<util::Result<std::unique_ptr<storage::Database>>(const std::string& data_dir)>;

struct Services {
  // Required: wall time (block timestamps, bans) and steady time (durations).
  const util::Clock* clock = nullptr;
  // Required: the node's periodic work (its 100 ms tick) is scheduled here.
  Scheduler* scheduler = nullptr;
  // true (real): peers' transactions and blocks wait in queues that worker threads drain, and a
  // miner (NodeOptions::mine) hashes on a thread. false (simulation): everything runs inline
  // on the caller's thread as it arrives; the simulator decides when a node finds a block.
  bool worker_threads = true;
  // Spreads a block's signature checks over cores; nullptr: checked on the calling thread.
  chain::VerifyPool* verify_pool = nullptr;
  net::TransportFactory transport;  // required
  StorageFactory storage;           // required
  // Protocol randomness (the node nonce in its hello). Keys never come from here.
  std::function<uint64_t()> random;  // required
  // The node's log sink: util::log() is routed to it while the node's code runs (util::LogScope).
  // nullptr: the process logger.
  spdlog::logger* logger = nullptr;
  // Called once when the node finds its storage corrupt and must stop (the reason says what to
  // run). The real world sends SIGTERM to the process, whose signal wait shuts down cleanly.
  std::function<void(const std::string& reason)> on_fatal;  // required
};

// The real world's services: `clock`, a timer thread, worker threads, a verification pool over
// the machine's cores, net::NetManager (Asio, TCP), RocksDB in DATA_DIR/chain, the OS's
// randomness, the process logger, SIGTERM on a fatal storage error. The object owns the thread
// and the pool; it must outlive the node.
class RealWorld {
 public:
  explicit RealWorld(const util::Clock& clock);
  ~RealWorld();
  RealWorld(const RealWorld&) = delete;
  RealWorld& operator=(const RealWorld&) = delete;
  const Services& services() const { return services_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Services services_;
};

}  // namespace peerchain::node

// sim/simulation.h — a whole peerchain network in one process and one thread: N nodes of the real
// node code (node::Node with its chain state, mempool, peer protocol and sans-IO peer sessions)
// under a simulated clock and network, in-memory storage with power-cut semantics, wallet-like
// clients, a seeded nemesis and invariants checked during and after the run. A run is a function
// of (seed, options, code); its trace hash says so (docs/spec/sim-trace.md, ADR 0013).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "node/node.h"
#include "sim/event_loop.h"
#include "sim/network.h"
#include "sim/trace.h"

namespace peerchain::sim {

// The nemesis' repertoire (--faults). Each kind starts and, for lasting ones, ends a fault.
inline const std::vector<std::string>& all_fault_kinds() {
  static const std::vector<std::string> kinds = {
      "crash",      "powercut", "pause",    "partition", "oneway",     "isolate",   "bridge",    "latency",
      "bandwidth",  "reset",    "clog",     "skew",      "skew-far",   "disk-full", "disk-io",   "disk-sync",
      "disk-corrupt", "hashpower"};
  return kinds;
}

struct SimOptions {
  uint64_t seed = 1;
  int nodes = 5;                     // at least 2; 100 and more work
  int peers = 0;                     // outbound peers dialled per node; 0: every other node when nodes <= 8, else 8
  double duration_s = 300;           // simulated seconds with the nemesis active
  double settle_s = 300;             // after the heal, the bound for one tip and every acknowledged transfer
  double block_interval_s = 1;       // the chain's target spacing
  double hash_rate = 200;            // simulated hashes per second per node (the block itself is real)
  double latency_ms = 20;            // one-way link latency
  double jitter_ms = 10;             // added per message, uniform in [0, jitter]
  double fault_interval_s = 2;       // mean simulated time between faults; 0: no nemesis
  std::set<std::string> faults;      // empty: every kind
  int clients = 4;                   // wallets sending transfers
  double tx_rate = 2;                // transfers per simulated second, over all clients
  double invalid_share = 0.05;       // share of deliberately invalid transfers (must be refused)
  std::string record;                // trace file (JSON lines); empty: none
  bool verbose = false;              // node log lines to stderr
  int planted_bug = 0;               // test builds only: which planted bug is live (0: none)
  double check_every_s = 5;          // invariants on every running node this often; 0: only at the end
  bool compact_relay = true;         // nodes relay blocks as sketches (issue 15); false: whole blocks
  // The miners' templates hold only transfers that reached their mempool at least this long ago
  // (simulated ms), as a node's --template-min-age-ms (ADR 0025); the node's default.
  int64_t template_min_tx_age_ms = node::NodeOptions{}.template_min_tx_age_ms;
};

struct SimReport {
  bool ok = true;
  std::string violation;             // what broke, one line
  std::string repro;                 // the command that replays it
  std::vector<std::string> context;  // the recorded events before it, and the node's log lines
  uint64_t faults = 0;
  std::map<std::string, uint64_t> faults_by_kind;
  double simulated_s = 0;
  double real_s = 0;
  uint64_t events = 0;
  std::string trace_hash;
  uint64_t blocks_found = 0;
  uint64_t blocks_final = 0;         // height of the final tip
  uint64_t stale_blocks = 0;         // found, not in the final chain
  uint64_t reorgs = 0;
  uint32_t max_reorg_depth = 0;
  uint64_t transfers_acked = 0;
  uint64_t transfers_rejected = 0;   // invalid ones, refused as they must be
  uint64_t resends = 0;
  double propagation_p50_ms = 0;     // block found -> on every node's active chain
  double propagation_p99_ms = 0;
  double converge_s = 0;             // heal -> one tip
  std::string to_json() const;
};

std::string options_to_args(const SimOptions& o);
SimReport run_simulation(const SimOptions& opts);

}  // namespace peerchain::sim

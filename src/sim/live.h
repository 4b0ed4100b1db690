// sim/live.h — a simulated network driven step by step from outside (peerchain-sim --serve, and
// --commands to run a recorded session again). The driver decides how far simulated time moves
// (paced to the wall clock by the server, or straight to each recorded command by a re-run) and
// applies a viewer's commands between steps, at the instant the last step ended. Each command
// goes through the code the nemesis and the wallets use (stop_node/start_node, the network's cut
// and link conditions, the hash-power split, a wallet's submit) and is written to the trace as a
// `command` event, followed by the `fault`/`fault_end`/`tx_submitted` events it caused. A run is
// still a function of (seed, options, commands with their times, code): running the commands of
// a recording again at their recorded times gives the same trace, byte for byte
// (docs/spec/sim-trace.md, tests/functional/web_live.py).
//
// Single-threaded like the rest of the simulation: every call from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sim/event_loop.h"
#include "sim/simulation.h"
#include "util/result.h"

namespace peerchain::sim {

// What a viewer can do. Fields a command does not use are ignored (and not recorded).
struct LiveCommand {
  // crash (kill -9; `powercut` true: the machine loses power), restart, pause, resume: `node`.
  // cut / heal_link: the link between `a` and `b`, both ways. partition: `side` against the rest.
  // latency: every link `latency_ms` one way (0: back to the run's default). hashpower: `node`
  // gets `share` (0..1) of the network's hash power (0: balanced again). transfer: wallet `from`
  // pays wallet `to` `amount` through node `node`. end: ends lasting fault `fault`. heal: ends
  // every fault.
  std::string cmd;
  int node = -1;
  bool powercut = false;
  int a = -1, b = -1;
  std::vector<int> side;
  double latency_ms = 0;
  double share = 0;
  int from = -1, to = -1;
  int64_t amount = 0;
  int64_t fault = 0;
};

struct LiveResult {
  bool ok = false;
  std::string why;       // when !ok: what was wrong, in words for the viewer
  int64_t fault = 0;     // the fault the command started, if any
  std::string txid;      // the transfer it sent, if any
  int64_t command = 0;   // the command's number in this run (its `command` event's `id`)
};

// The budget of one command (docs/design/limits.md): the parser refuses anything larger.
inline constexpr size_t kMaxCommandBytes = 4096;
inline constexpr int64_t kMaxTransferAmount = 1'000'000'000;

class LiveSimulation {
 public:
  // `tap` sees every trace line as it is written (the header first).
  LiveSimulation(const SimOptions& opts, std::function<void(const std::string& line)> tap);
  ~LiveSimulation();
  LiveSimulation(const LiveSimulation&) = delete;
  LiveSimulation& operator=(const LiveSimulation&) = delete;

  // Opens the trace, writes the header and starts the nodes, the wallets and the checks.
  // Errors: "io" (the record file).
  util::Status start();
  Micros now() const;
  // Runs every event due at or before `t` (a violation stops the run: false from then on).
  bool run_until(Micros t);
  bool failed() const;
  const std::string& violation() const;
  int nodes() const;
  int clients() const;
  // Applies a command at now(); refused commands are recorded too (a re-run refuses them alike).
  LiveResult command(const LiveCommand& c);
  // Writes what the trace file buffers (the recording is read while the run goes on).
  void flush();
  // Writes the `end` event and flushes the trace; the report of the run so far.
  SimReport finish();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace peerchain::sim

// apps/sim_serve.h — peerchain-sim --serve: a simulated network paced to the wall clock times a
// speed the viewer picks, the web view's live page (web/live.html) and its HTTP API, and
// peerchain-sim --commands: a recorded live session run again from its commands
// (docs/simulation.md "Drive a network from the page").
//
// Threads: the simulation runs on the caller's thread, alone (sim/live.h is single-threaded and
// deterministic); the HTTP server (rpc::HttpServer) answers on its own threads and hands commands
// over a bounded queue, each applied between two simulated steps and answered when applied.
// Wall time only decides how far each step goes, never what happens in it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sim/live.h"
#include "sim/simulation.h"
#include "util/result.h"

namespace peerchain::apps {

struct ServeOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;
  double speed = 1;  // simulated seconds per wall second, 0.1..100
};

// The live API's budgets (docs/design/limits.md).
inline constexpr double kMinSpeed = 0.1;
inline constexpr double kMaxSpeed = 100;
inline constexpr size_t kMaxLiveTraceBytes = 256u << 20;  // the recording kept in memory and served
inline constexpr size_t kMaxEventsPerPoll = 5000;         // trace lines in one /live/events answer
inline constexpr size_t kMaxPollBytes = 4u << 20;         // and bytes
inline constexpr size_t kMaxQueuedCommands = 32;          // commands waiting for the simulation
inline constexpr int kMaxCommandsPerSecond = 20;          // over all viewers
inline constexpr int kCommandAnswerMs = 5000;             // a command not applied by then: 503

// "ADDRESS:PORT" or "PORT" (then 127.0.0.1). Errors: "usage".
util::Result<ServeOptions> parse_serve_address(std::string_view s);

// A command (a JSON object, at most sim::kMaxCommandBytes): {"cmd":"crash","node":2}, ... the
// fields of sim::LiveCommand. Numbers are checked and rounded as the trace records them (latency
// in whole ms, a share in thousandths), so a re-run applies exactly what was recorded.
// Errors: "invalid".
util::Result<sim::LiveCommand> parse_command(std::string_view json);

// Runs until SIGINT/SIGTERM; 0 on a clean stop, 1 on a violation, 2 when it cannot start.
int serve_simulation(const sim::SimOptions& o, const ServeOptions& s);

// Runs the `command` events of a recorded live session (FILE) at their recorded times with `o`
// (the recording's header `args`), up to its `end`; prints the report line with the trace hash.
int rerun_commands(const sim::SimOptions& o, const std::string& file, bool json);

}  // namespace peerchain::apps

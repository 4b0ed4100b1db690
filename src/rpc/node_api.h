// rpc/node_api.h — the client API of a node: JSON-RPC methods (bitcoin-cli style names) and the
// REST reads, over rpc::HttpServer. docs/api.md lists every method with an example.
#pragma once

#include "node/node.h"
#include "rpc/http_server.h"
#include "rpc/json_rpc.h"
#include "util/clock.h"
#include "util/metrics.h"

#include <array>
#include <atomic>

namespace peerchain::rpc {

// Shared state of the API: admin token, waiter cap, counters for /metrics. Thread-safe.
struct ApiState {
  std::string admin_token;        // empty: admin methods need no token (API on loopback only)
  int max_waiters = 8;            // default: concurrent waitfortransaction calls
  std::atomic<int> waiters{0};
  std::atomic<uint64_t> rpc_requests{0};
  std::atomic<uint64_t> rpc_errors{0};
  util::DurationHistogram rpc_latency;  // every HTTP request route() answers
  util::ReasonCounter txs_rejected;      // transfers submitted over the API, by reason
  std::atomic<uint64_t> tx_accepted{0};
  std::atomic<uint64_t> reorgs{0};
  std::atomic<uint64_t> blocks_connected{0};
  // The node's clock, when the API may skew it (`setclockoffset`, dev network only, for the
  // chaos test). Default (null): the method answers code::kNotAllowed.
  util::SystemClock* clock = nullptr;
  // Asks the process to shut down cleanly (`stop`). Default (unset): the method answers
  // code::kNotAllowed.
  std::function<void()> request_stop;
};

// Admin methods (addpeer, removepeer, generate, setclockoffset, stop) need the token when
// ApiState::admin_token is set.
inline const char* const kAdminMethods[] = {"addpeer", "removepeer", "generate", "setclockoffset", "stop"};

// The node process's own resource use, from /proc/self (Linux). Zero where unreadable.
struct ProcessStats {
  double cpu_seconds = 0;
  uint64_t rss_bytes = 0;
  uint64_t peak_rss_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t threads = 0;
};
ProcessStats read_process_stats();

// Registers every method on `d`; `node` and `state` must outlive it. With admin=false, admin
// methods answer code::kUnauthorized.
void register_node_methods(Dispatcher& d, node::Node& node, ApiState& state, bool admin);

// Routes an HTTP request: POST / is JSON-RPC (through `admin` when the request carries the
// token, or no token is configured and the request has no Origin header, i.e. is not from a
// browser page; else through `pub`); GET /status, /health, /metrics, /blocks/{height|id},
// /tx/{id}, /accounts/{address} are REST reads; GET / and the web view's files
// (rpc/web_assets.h) serve the page. CORS: GET reads and public JSON-RPC answers carry
// Access-Control-Allow-Origin: *, and OPTIONS answers the preflight.
// POST / alone (the JSON-RPC part of route(), needing no node: the fuzz target drives it). A
// request with an Origin header (from a web page) must be Content-Type: application/json, else
// 415 and nothing runs.
HttpResponse route_json_rpc(const HttpRequest& req, const Dispatcher& pub, const Dispatcher& admin, ApiState& state);

HttpResponse route(const HttpRequest& req, const Dispatcher& pub, const Dispatcher& admin, node::Node& node,
                   ApiState& state, const HttpServer* http = nullptr);

}  // namespace peerchain::rpc

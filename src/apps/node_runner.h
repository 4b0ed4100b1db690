// apps/node_runner.h — runs a node with its client API until SIGINT/SIGTERM (shared by
// peerchaind and the seed's `server`).
#pragma once

#include "node/node.h"

namespace peerchain::apps {

struct ApiOptions {
  // Admin methods (addpeer, removepeer, generate) need `Authorization: Bearer TOKEN`. Empty:
  // on loopback no token is needed; listening beyond loopback, a random token is written to
  // HOME/api.token (mode 0600) and required.
  std::string token;
};

// Returns the process exit code. clock_offset_ms skews the node's clock (dev network only; the
// chaos test's seam, also adjustable at run time through the `setclockoffset` admin method).
int run_node(node::NodeOptions opts, ApiOptions api = {}, int64_t clock_offset_ms = 0);

// "host:port" -> PeerAddress; nullopt when malformed (port must be 1..65535).
std::optional<node::PeerAddress> parse_peer(const std::string& s);

}  // namespace peerchain::apps

// apps/local_node.h — helpers for programs that start nodes on this machine (peerchain-cli
// testnet, peerchain-bench).
#pragma once

#include <cstdint>
#include <string>

namespace peerchain::apps {

// Whether a node could bind `port` on 127.0.0.1 now (the probe sets SO_REUSEADDR, as the node's
// listener does, so a port left in TIME_WAIT counts as free).
bool loopback_port_free(uint16_t port);

// The last non-empty line of a log file ("" if none or unreadable): why a node died.
std::string last_log_line(const std::string& path);

}  // namespace peerchain::apps

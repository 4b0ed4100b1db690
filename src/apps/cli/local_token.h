// apps/cli/local_token.h — finds the API token of a node running on this machine, so the CLI's
// admin commands work against a local node listening beyond loopback (which writes a token to
// HOME/api.token) without the user copying it by hand.
//
// Linux only, and only what the user may read anyway: the process that listens on the port is
// found through /proc/net/tcp{,6} and /proc/PID/fd, its home from its command line (--home DIR,
// default ./peerchain-home for peerchaind and ./peerchain-PORT for the seed's server) relative to
// its working directory, and the token read from HOME/api.token (mode 0600: its owner only).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace peerchain::apps::cli {

struct LocalToken {
  std::string token;
  std::string path;  // where it was read, for messages
};

// The token of the peerchaind (or server) process listening on TCP `port` on this machine;
// nullopt when there is none, it has no token file, or it cannot be read.
std::optional<LocalToken> find_local_api_token(uint16_t port);

}  // namespace peerchain::apps::cli

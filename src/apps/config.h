// apps/config.h — the node's TOML config file (HOME/peerchain.toml) and `peerchaind init`.
// Flags given on the command line override the file; the file overrides the defaults.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "net/secure.h"
#include "util/result.h"

namespace peerchain::apps {

// The ranges of the node's numeric settings, the same on the command line and in the file
// (docs/design/limits.md). Past them the program refuses to start: one line, exit 2.
inline constexpr double kMaxHashRate = 1e12;                         // hashes/s; 0 = no cap
inline constexpr int64_t kMaxBanSeconds = 10LL * 365 * 24 * 3600;    // ten years
inline constexpr int64_t kMaxTemplateMinAgeMs = 10'000;              // ChainState keeps 10 s of arrivals
inline constexpr int64_t kMaxTemplateRefreshMs = 1'000;              // the miner refreshes every second anyway (timestamp)
inline constexpr int64_t kMaxClockOffsetMs = 365LL * 24 * 3600 * 1000;  // a year either way

// Every setting the file may hold; unset ones keep the flag's default.
struct FileConfig {
  std::optional<std::string> network, listen, miner, log_level, api_token, log_file;
  std::optional<int64_t> port, ban_seconds;
  std::optional<double> hash_rate;
  std::optional<bool> mine, discover;
  std::vector<std::string> peers;  // "HOST:PORT" or "NODEID@HOST:PORT"
  // A private network: node ids allowed to connect (either way), listed here and/or in the file
  // allow_list names (one id per line, '#' comments). Neither set: anyone may connect.
  std::optional<std::vector<std::string>> allow_nodes;
  std::optional<std::string> allow_list;
  std::optional<std::string> p2p_encryption;  // "on" (default) or "off" (test-only)
};

// Reads the config at `path` (default HOME/peerchain.toml). A missing file is an empty config
// unless `must_exist` (a --config the user named); a path that is not a regular file
// (a directory, a device), a file over 1 MiB, a malformed one, an unknown key or a value of the
// wrong type or out of range is an error naming the file, line and key.
util::Result<FileConfig> load_config(const std::string& path, bool must_exist = false);

// Writes HOME/peerchain.toml (commented) and HOME/node_key (a fresh secret key, mode 0600,
// whose address is the default miner). Refuses to overwrite an existing config or key.
util::Result<std::string> init_home(const std::string& home, const std::string& network);

// The node's identity key for encrypted peer links: HOME/node_id_key (the hex of a 32-byte
// Ed25519 seed, mode 0600), made when missing (by init or on first start). A malformed file
// is an error naming it, never replaced.
util::Result<net::NodeIdentity> load_or_create_node_identity(const std::string& home);

// An allow-list file: one node id per line; blank lines and '#' comments ignored; at most
// 10,000 ids and 1 MiB. Errors name the file and line.
util::Result<std::vector<net::NodeId>> load_allow_list(const std::string& path);

}  // namespace peerchain::apps

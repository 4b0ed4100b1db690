// apps/config.h — the node's TOML config file (HOME/peerchain.toml) and `peerchaind init`.
// Flags given on the command line override the file; the file overrides the defaults.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "util/result.h"

namespace peerchain::apps {

// The ranges of the node's numeric settings, the same on the command line and in the file
// (docs/design/limits.md). Past them the program refuses to start: one line, exit 2.
inline constexpr double kMaxHashRate = 1e12;                         // hashes/s; 0 = no cap
inline constexpr int64_t kMaxBanSeconds = 10LL * 365 * 24 * 3600;    // ten years
inline constexpr int64_t kMaxClockOffsetMs = 365LL * 24 * 3600 * 1000;  // a year either way

// Every setting the file may hold; unset ones keep the flag's default.
struct FileConfig {
  std::optional<std::string> network, listen, miner, log_level, api_token, log_file;
  std::optional<int64_t> port, ban_seconds;
  std::optional<double> hash_rate;
  std::optional<bool> mine, discover;
  std::vector<std::string> peers;
};

// Reads the config at `path` (default HOME/peerchain.toml). A missing file is an empty config
// unless `must_exist` (a --config the user named); a path that is not a regular file
// (a directory, a device), a file over 1 MiB, a malformed one, an unknown key or a value of the
// wrong type or out of range is an error naming the file, line and key.
util::Result<FileConfig> load_config(const std::string& path, bool must_exist = false);

// Writes HOME/peerchain.toml (commented) and HOME/node_key (a fresh secret key, mode 0600,
// whose address is the default miner). Refuses to overwrite an existing config or key.
util::Result<std::string> init_home(const std::string& home, const std::string& network);

}  // namespace peerchain::apps

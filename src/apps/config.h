// apps/config.h — the node's TOML config file (HOME/peerchain.toml) and `peerchaind init`.
// Flags given on the command line override the file; the file overrides the defaults.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "util/result.h"

namespace peerchain::apps {

// Every setting the file may hold; unset ones keep the flag's default.
struct FileConfig {
  std::optional<std::string> network, listen, miner, log_level, api_token;
  std::optional<int64_t> port, ban_seconds;
  std::optional<double> hash_rate;
  std::optional<bool> mine, discover;
  std::vector<std::string> peers;
};

// Reads HOME/peerchain.toml. A missing file is an empty config; a malformed one, an unknown key
// or a value of the wrong type is an error naming the file, line and key.
util::Result<FileConfig> load_config(const std::string& home);

// Writes HOME/peerchain.toml (commented) and HOME/node_key (a fresh secret key, mode 0600,
// whose address is the default miner). Refuses to overwrite an existing config or key.
util::Result<std::string> init_home(const std::string& home, const std::string& network);

}  // namespace peerchain::apps

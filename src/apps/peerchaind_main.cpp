// peerchaind — the peerchain node.
//   peerchaind init --home DIR [--network dev|main]   write a commented config and a node key
//   peerchaind nodeid --home DIR                      print the node id (made if missing)
//   peerchaind [--home DIR] [flags]                   run; flags override DIR/peerchain.toml
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>

#include "apps/config.h"
#include "apps/flags.h"
#include "apps/node_runner.h"
#include "primitives/address.h"
#include "util/log.h"
#include "util/version.h"

using namespace peerchain;

int main(int argc, char** argv) {
  CLI::App app{"peerchaind: a peerchain node (proof-of-work chain, peer network, client API on one port)"};
  node::NodeOptions o;
  std::string home = "./peerchain-home", log_level = "info", miner, network = "dev";
  std::vector<std::string> peers;
  bool mine = false, no_discover = false;
  int64_t ban_seconds = 600;
  uint16_t port = 0;
  int64_t clock_offset_ms = 0;
  apps::ApiOptions api;
  app.add_option("--home", home, "data directory (config: HOME/peerchain.toml)")->capture_default_str();
  std::string config_path;
  app.add_option("--config", config_path, "config file to read instead of HOME/peerchain.toml (must exist)");
  auto* init = app.add_subcommand("init", "write a commented config and a node key into --home");
  init->fallthrough();  // `init --home DIR`: the options are the main command's
  auto* nodeid = app.add_subcommand("nodeid", "print this node's id (HOME/node_id_key's public key; made if missing)");
  nodeid->fallthrough();
  app.add_option("--network", network, "main or dev")->capture_default_str();
  app.add_option("--listen", o.listen_host, "address to listen on (IP literal)")->capture_default_str();
  app.add_option("--port", port, "port for peers and clients, 1..65535 (omit it for the network's default)")
      ->check(CLI::Range(1, 65535));
  app.add_option("--peer", peers,
                 "HOST:PORT or NODEID@HOST:PORT (pins the peer's identity) of a peer to keep connected to (repeatable)");
  std::vector<std::string> allow_nodes;
  std::string allow_list, p2p_encryption = "on";
  app.add_option("--allow-node", allow_nodes,
                 "private network: a node id allowed to connect, either way (repeatable; with --allow-list, both count)");
  app.add_option("--allow-list", allow_list, "private network: a file of allowed node ids, one per line");
  app.add_option("--p2p-encryption", p2p_encryption,
                 "on (default) or off: TEST-ONLY plaintext peer links, for measuring encryption's cost")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_flag("--no-discover", no_discover, "connect only to the --peer addresses (no address gossip dialling)");
  app.add_flag("--mine", mine, "mine blocks");
  app.add_option("--miner", miner, "address paid for mined blocks (dev default: dev account 0)");
  app.add_option("--hash-rate", o.hash_rate, "miner cap in hashes/s (0 = none; default: the network's)")
      ->check(CLI::Range(0.0, apps::kMaxHashRate));
  app.add_option("--ban-seconds", ban_seconds, "how long a misbehaving peer is banned")
      ->check(CLI::Range(int64_t{0}, apps::kMaxBanSeconds))
      ->capture_default_str();
  std::string compact_relay = "on";
  app.add_option("--compact-relay", compact_relay,
                 "relay blocks to peers as sketches of short transfer ids (BIP152-like); off: whole blocks")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--block-validation-share", o.block_validation_share,
                 "block-size policy: a mined block holds at most the transfers this node validates in this share "
                 "of the block interval (measured on peers' blocks); 0 = up to the consensus limit")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--template-min-age-ms", o.template_min_tx_age_ms,
                 "a mined block holds only transfers that reached this node at least this long ago (its peers "
                 "hold them verified by then: no round trip or signature check on the block's path); 0 = any")
      ->check(CLI::Range(int64_t{0}, apps::kMaxTemplateMinAgeMs))
      ->capture_default_str();
  app.add_option("--template-refresh-ms", o.template_refresh_ms,
                 "while transfers arrive, the miner takes a new template this often (a transfer waits up to this "
                 "long, after the minimum age, to be mined; each refresh copies the template)")
      ->check(CLI::Range(int64_t{10}, apps::kMaxTemplateRefreshMs))
      ->capture_default_str();
  app.add_option("--api-token", api.token, "token admin API methods require (default: none on loopback, else generated into HOME/api.token)");
  app.add_option("--clock-offset-ms", clock_offset_ms,
                 "skew this node's clock by N ms (dev network only; for the chaos test)")
      ->check(CLI::Range(-apps::kMaxClockOffsetMs, apps::kMaxClockOffsetMs));
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  util::LogFileOptions log_file;
  uint64_t log_rotate_size = log_file.max_bytes;
  app.add_option("--log-file", log_file.path,
                 "write the log to this file instead of stdout, rotated by size; SIGHUP reopens it (logrotate)");
  app.add_option("--log-rotate-size", log_rotate_size, "rotate the log file past this many bytes")
      ->check(CLI::Range(uint64_t{4096}, uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--log-rotate-files", log_file.max_files, "rotated log files kept (node.log: node.1.log .. node.N.log)")
      ->check(CLI::Range(size_t{1}, size_t{1000}))
      ->capture_default_str();
  app.set_version_flag("--version", util::version_line("peerchaind"));
  apps::strict_numbers(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; a bad flag is refused with CLI11's one-line message and 2.
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (*init) {
    auto r = apps::init_home(home, network);
    if (!r) {
      std::fprintf(stderr, "error: %s\n", r.error().message.c_str());
      return 1;
    }
    std::printf("initialised %s: config %s/peerchain.toml, node key %s/node_key (miner address %s)\n", home.c_str(),
                home.c_str(), home.c_str(), r->c_str());
    return 0;
  }

  if (*nodeid) {
    auto id = apps::load_or_create_node_identity(home);
    if (!id) {
      std::fprintf(stderr, "error: %s\n", id.error().to_string().c_str());
      return 1;
    }
    std::printf("%s\n", id->id().hex().c_str());
    return 0;
  }

  // The config file fills what the command line left unset.
  auto cfg = config_path.empty() ? apps::load_config(home + "/peerchain.toml") : apps::load_config(config_path, true);
  if (!cfg) {
    std::fprintf(stderr, "error: %s\n", cfg.error().message.c_str());
    return 2;
  }
  auto unset = [&](const char* flag) { return app.count(flag) == 0; };
  if (unset("--network") && cfg->network) network = *cfg->network;
  if (unset("--listen") && cfg->listen) o.listen_host = *cfg->listen;
  if (unset("--port") && cfg->port) port = static_cast<uint16_t>(*cfg->port);
  if (unset("--peer")) peers = cfg->peers;
  if (unset("--no-discover") && cfg->discover) no_discover = !*cfg->discover;
  if (unset("--mine") && cfg->mine) mine = *cfg->mine;
  if (unset("--miner") && cfg->miner) miner = *cfg->miner;
  if (unset("--hash-rate") && cfg->hash_rate) o.hash_rate = *cfg->hash_rate;
  if (unset("--ban-seconds") && cfg->ban_seconds) ban_seconds = *cfg->ban_seconds;
  if (unset("--log-level") && cfg->log_level) log_level = *cfg->log_level;
  if (unset("--log-file") && cfg->log_file) log_file.path = *cfg->log_file;
  if (unset("--api-token") && cfg->api_token) api.token = *cfg->api_token;
  if (unset("--allow-node") && cfg->allow_nodes) allow_nodes = *cfg->allow_nodes;
  if (unset("--allow-list") && cfg->allow_list) allow_list = *cfg->allow_list;
  if (unset("--p2p-encryption") && cfg->p2p_encryption) p2p_encryption = *cfg->p2p_encryption;

  if (!util::set_log_level(log_level)) {
    std::fprintf(stderr, "error: invalid log level '%s'\n", log_level.c_str());
    return 2;
  }
  if (!log_file.path.empty()) {
    log_file.max_bytes = static_cast<size_t>(log_rotate_size);
    if (auto st = util::log_to_file(log_file); !st) {
      std::fprintf(stderr, "error: %s\n", st.error().message.c_str());
      return 2;
    }
  }
  auto params = consensus::params_for(network);
  if (!params) {
    std::fprintf(stderr, "error: unknown network '%s' (main or dev)\n", network.c_str());
    return 2;
  }
  if (clock_offset_ms != 0 && network != "dev") {
    std::fprintf(stderr, "error: --clock-offset-ms is only allowed on the dev network\n");
    return 2;
  }
  o.network = network;
  o.port = port;
  o.data_dir = home;
  o.mine = mine;
  o.discover = !no_discover;
  o.ban_ms = ban_seconds * 1000;
  o.compact_relay = compact_relay == "on";
  for (const auto& p : peers) {
    auto a = apps::parse_peer(p);
    if (!a) {
      std::fprintf(stderr, "error: peer '%s' is not HOST:PORT or NODEID@HOST:PORT (64 hex digits)\n", p.c_str());
      return 2;
    }
    o.peers.push_back(*a);
  }
  o.p2p_encryption = p2p_encryption == "on";
  if (!allow_nodes.empty() || !allow_list.empty() || (cfg->allow_nodes && unset("--allow-node"))) {
    std::vector<net::NodeId> ids;
    for (const auto& s : allow_nodes) {
      auto id = net::parse_node_id(s);
      if (!id) {
        std::fprintf(stderr, "error: --allow-node: %s\n", id.error().message.c_str());
        return 2;
      }
      ids.push_back(*id);
    }
    if (!allow_list.empty()) {
      auto more = apps::load_allow_list(allow_list);
      if (!more) {
        std::fprintf(stderr, "error: %s\n", more.error().message.c_str());
        return 2;
      }
      ids.insert(ids.end(), more->begin(), more->end());
    }
    o.allow_list = std::move(ids);
  }
  if (!o.p2p_encryption && (o.allow_list || std::any_of(o.peers.begin(), o.peers.end(), [](const auto& p) {
                              return p.node_id.has_value();
                            }))) {
    std::fprintf(stderr, "error: pinned peers and an allow-list need --p2p-encryption=on\n");
    return 2;
  }
  if (!miner.empty()) {
    auto key = primitives::decode_address(params->address_prefix, miner);
    if (!key) {
      std::fprintf(stderr, "error: miner address: %s\n", key.error().message.c_str());
      return 2;
    }
    o.miner_key = *key;
  }
  return apps::run_node(o, api, clock_offset_ms);
}

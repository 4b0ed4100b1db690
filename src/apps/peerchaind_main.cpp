// peerchaind — the peerchain node.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "apps/node_runner.h"
#include "primitives/address.h"
#include "util/log.h"

using namespace peerchain;

int main(int argc, char** argv) {
  CLI::App app{"peerchaind: a peerchain node (proof-of-work chain, peer network, client API on one port)"};
  node::NodeOptions o;
  std::string home = "./peerchain-home", log_level = "info", miner;
  std::vector<std::string> peers;
  bool mine = false;
  int64_t ban_seconds = 600;
  app.add_option("--home", home, "data directory")->capture_default_str();
  app.add_option("--network", o.network, "main or dev")->capture_default_str();
  app.add_option("--listen", o.listen_host, "address to listen on (IP literal)")->capture_default_str();
  app.add_option("--port", o.port, "port for peers and clients (default: the network's)");
  app.add_option("--peer", peers, "HOST:PORT of a peer to keep connected to (repeatable)");
  bool no_discover = false;
  app.add_flag("--no-discover", no_discover, "connect only to the --peer addresses (no address gossip dialling)");
  app.add_flag("--mine", mine, "mine blocks");
  app.add_option("--miner", miner, "address paid for mined blocks (dev default: dev account 0)");
  app.add_option("--hash-rate", o.hash_rate, "miner cap in hashes/s (0 = none; default: the network's)");
  app.add_option("--ban-seconds", ban_seconds, "how long a misbehaving peer is banned")->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (!util::set_log_level(log_level)) {
    std::fprintf(stderr, "error: invalid --log-level '%s'\n", log_level.c_str());
    return 2;
  }
  o.data_dir = home;
  o.mine = mine;
  o.discover = !no_discover;
  o.ban_ms = ban_seconds * 1000;
  for (const auto& p : peers) {
    auto a = apps::parse_peer(p);
    if (!a) {
      std::fprintf(stderr, "error: --peer '%s' is not HOST:PORT\n", p.c_str());
      return 2;
    }
    o.peers.push_back(*a);
  }
  if (!miner.empty()) {
    auto params = consensus::params_for(o.network);
    if (!params) {
      std::fprintf(stderr, "error: unknown network '%s'\n", o.network.c_str());
      return 2;
    }
    auto key = primitives::decode_address(params->address_prefix, miner);
    if (!key) {
      std::fprintf(stderr, "error: --miner: %s\n", key.error().message.c_str());
      return 2;
    }
    o.miner_key = *key;
  }
  return apps::run_node(o);
}

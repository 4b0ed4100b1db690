// apps/cli/testnet.h — a local development network of peerchaind processes on 127.0.0.1.
//
// `start` launches N nodes (each with its own home DIR/nodeK, port base+K, log DIR/nodeK.log,
// every node peered with every other, dev network), records them in DIR/testnet.json and waits
// until each answers RPC; `status` shows the nodes side by side; `stop` sends SIGTERM, waits for
// each process to exit (SIGKILL after a grace period) and removes DIR/testnet.json.
// A recorded pid is only signalled while /proc shows it is still that node (peerchaind with that
// home), so a reused pid is never touched.
#pragma once

#include <cstdint>
#include <string>

namespace peerchain::apps::cli {

struct TestnetOptions {
  std::string dir;              // default (chosen by the caller): $HOME/.peerchain/testnet
  std::string peerchaind;       // path of the node binary
  int nodes = 3;                // 1..16
  uint16_t base_port = 19400;   // node K listens on base_port + K
  bool mine = false;            // every node mines
  bool json = false;            // machine output
};

// Each returns the process exit code (0 ok, 1 failure) and prints the one-line reason on failure.
int testnet_start(const TestnetOptions& o);
int testnet_status(const TestnetOptions& o);
int testnet_stop(const TestnetOptions& o);

// `record FILE`: polls every node of the testnet (getblockchaininfo, getblocktree, getpeerinfo)
// every `interval_ms` and writes what it sees in the simulation's trace format
// (docs/spec/sim-trace.md) until SIGINT/SIGTERM or `duration_s` (0: no limit): each block once
// (block_found, by the node whose miner key it pays), each node's tip changes with the reorg depth
// from the fork to its previous tip (or the node's own, from its /ws reorg events, when it
// reorganised deeper between two polls), a node not answering as a crash and its return as a start,
// a pair of nodes no longer connected as a cut link. The replay page opens the file.
struct RecordOptions {
  std::string file;
  double duration_s = 0;
  int interval_ms = 250;
};
int testnet_record(const TestnetOptions& o, const RecordOptions& r);

}  // namespace peerchain::apps::cli

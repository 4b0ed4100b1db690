// apps/load/cluster.h — a local network of peerchaind processes on loopback for the load tool:
// each node its own data directory and port, every node a persistent peer of every other.
// The destructor stops whatever still runs (SIGTERM, then SIGKILL after a grace period).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "util/result.h"

namespace peerchain::apps::load {

struct ClusterOptions {
  std::string peerchaind;               // path of the node binary
  std::string dir;                      // parent of the nodes' data directories and logs
  int nodes = 3;
  bool mine = true;
  std::vector<std::string> extra_args;  // appended to every node's command line
};

struct LocalNode {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string home;
  std::string log;
  pid_t pid = 0;
};

class LocalCluster {
 public:
  explicit LocalCluster(ClusterOptions o) : opts_(std::move(o)) {}
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  // Picks free ports below the ephemeral range and starts every node; waits until each answers
  // JSON-RPC and has a peer. Error: the node that failed and the last line of its log.
  util::Status start();
  util::Status start_node(size_t i);  // (re)start one node with its data directory
  void stop_node(size_t i);           // SIGTERM and wait (SIGKILL after 30 s)
  // Blocks until node i answers JSON-RPC, or the deadline.
  util::Status wait_ready(size_t i, int timeout_ms);

  const std::vector<LocalNode>& nodes() const { return nodes_; }

 private:
  ClusterOptions opts_;
  std::vector<LocalNode> nodes_;
};

}  // namespace peerchain::apps::load

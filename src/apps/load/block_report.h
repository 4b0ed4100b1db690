// The block side of peerchain-bench's report, from the nodes' block events and the final chain:
// when each node first held each final height, block propagation, and stale blocks by cause.
// Pure (no I/O), so that the counting is unit-tested (block_report_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace peerchain::apps::load {

// A node's "block" event: the block became its tip at `t` (seconds since the run's start).
struct BlockEvent {
  std::string id;
  uint32_t height = 0;
  double t = 0;
};

struct BlockReport {
  // [node][height]: when the node first held every final block up to `height` (-1: never seen).
  std::vector<std::vector<double>> held_at;
  // For every final block every node reported: each other node's delay after the first (ms).
  std::vector<double> propagation_ms;
  // Blocks at or below the final tip that are not in the final chain, by why they lost:
  //   raced:      reported before any node held the winner (a simultaneous find);
  //   in flight:  the winner existed but had not reached its miner's tip yet (relay + validation);
  //   old tip:    its miner already held the winner (the template lagged the tip).
  uint64_t stale = 0, stale_raced = 0, stale_in_flight = 0, stale_old_tip = 0;
  // Blocks above the final tip (found after the final chain was read: the network keeps mining
  // while the report is made). Not judged: whether they win is not known yet.
  uint64_t after_final_read = 0;
};

// `per_node`: each node's events in arrival order. `final_height`: the final chain's block ids
// from `start_height` + 1 up to `tip_height`, with their heights.
BlockReport analyse_blocks(const std::vector<std::vector<BlockEvent>>& per_node,
                           const std::unordered_map<std::string, uint32_t>& final_height, uint32_t start_height,
                           uint32_t tip_height);

}  // namespace peerchain::apps::load

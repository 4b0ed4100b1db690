#include "apps/load/block_report.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace peerchain::apps::load {

BlockReport analyse_blocks(const std::vector<std::vector<BlockEvent>>& per_node,
                           const std::unordered_map<std::string, uint32_t>& final_height, uint32_t start_height,
                           uint32_t tip_height) {
  const size_t n_nodes = per_node.size();
  BlockReport r;
  // A block event for a final-chain block at height h means the node held every final block up
  // to h at that moment.
  r.held_at.assign(n_nodes, std::vector<double>(tip_height + 1, -1));
  std::set<std::string> beyond;
  std::map<std::string, std::vector<double>> first_seen;                    // final id -> per-node arrival
  std::map<std::string, std::pair<size_t, const BlockEvent*>> first_stale;  // stale id -> (node, first event)
  for (size_t i = 0; i < n_nodes; ++i) {
    uint32_t covered = start_height;
    for (const auto& e : per_node[i]) {
      if (e.height <= start_height) continue;  // before the measured window
      if (e.height > tip_height) {
        beyond.insert(e.id);
        continue;
      }
      auto f = final_height.find(e.id);
      if (f == final_height.end()) {
        auto [it, fresh] = first_stale.try_emplace(e.id, i, &e);
        if (!fresh && e.t < it->second.second->t) it->second = {i, &e};
        continue;
      }
      auto& fs = first_seen[e.id];
      if (fs.size() < n_nodes) fs.resize(n_nodes, -1);
      if (fs[i] < 0) fs[i] = e.t;
      for (uint32_t h = covered + 1; h <= f->second && h <= tip_height; ++h) r.held_at[i][h] = e.t;
      covered = std::max(covered, f->second);
    }
  }
  r.after_final_read = beyond.size();
  for (const auto& [id, fs] : first_seen) {
    if (std::count_if(fs.begin(), fs.end(), [](double t) { return t >= 0; }) < static_cast<long>(n_nodes)) continue;
    const double first = *std::min_element(fs.begin(), fs.end());
    for (double t : fs)
      if (t != first) r.propagation_ms.push_back((t - first) * 1000);
  }
  // Each stale block's miner is the node that reported it first; the winner is the final
  // chain's block at its height.
  for (const auto& [id, first] : first_stale) {
    const auto [miner, ev] = first;
    ++r.stale;
    double winner_first = -1;  // the first moment any node held the final chain up to this height
    for (size_t i = 0; i < n_nodes; ++i)
      if (double t = r.held_at[i][ev->height]; t >= 0 && (winner_first < 0 || t < winner_first)) winner_first = t;
    const double at_miner = r.held_at[miner][ev->height];
    if (winner_first < 0 || ev->t <= winner_first)
      ++r.stale_raced;
    else if (at_miner < 0 || ev->t < at_miner)
      ++r.stale_in_flight;
    else
      ++r.stale_old_tip;
  }
  return r;
}

}  // namespace peerchain::apps::load

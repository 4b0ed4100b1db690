#include "net/address_book.h"

#include <algorithm>

namespace peerchain::net {

const AddressBook::Entry* AddressBook::find(const NetAddress& a) const {
  auto it = entries_.find(a);
  return it == entries_.end() ? nullptr : &it->second;
}

size_t AddressBook::add(const std::vector<NetAddress>& addrs, int64_t wall_ms) {
  // Evictable entries, worst first, collected at most once per call.
  std::vector<NetAddress> evictable;
  bool collected = false;
  size_t added = 0;
  for (const auto& a : addrs) {
    if (!a.is_dialable()) continue;
    if (auto it = entries_.find(a); it != entries_.end()) {
      it->second.last_seen_ms = std::max(it->second.last_seen_ms, wall_ms);
      continue;
    }
    if (entries_.size() >= capacity_) {
      if (!collected) {
        collected = true;
        for (const auto& [addr, e] : entries_)
          if (!e.connected_once && e.failures > 0) evictable.push_back(addr);
        // Pop from the back: most failures last.
        std::sort(evictable.begin(), evictable.end(), [this](const NetAddress& x, const NetAddress& y) {
          return entries_.at(x).failures < entries_.at(y).failures;
        });
      }
      while (!evictable.empty() && entries_.size() >= capacity_) {
        entries_.erase(evictable.back());
        evictable.pop_back();
      }
      if (entries_.size() >= capacity_) continue;
    }
    entries_[a] = Entry{0, 0, wall_ms, false};
    ++added;
  }
  return added;
}

void AddressBook::on_dial_failed(const NetAddress& a, int64_t now_ms, uint64_t random) {
  auto it = entries_.find(a);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  ++e.failures;
  if (!e.connected_once && e.failures >= max_failures_) {
    entries_.erase(it);
    return;
  }
  e.next_dial_ms = now_ms + backoff_.delay_ms(e.failures, random);
}

void AddressBook::on_connected(const NetAddress& a, int64_t wall_ms) {
  if (!a.is_dialable()) return;
  auto it = entries_.find(a);
  if (it == entries_.end()) {
    if (add({a}, wall_ms) == 0) return;
    it = entries_.find(a);
  }
  it->second.failures = 0;
  it->second.connected_once = true;
  it->second.last_seen_ms = std::max(it->second.last_seen_ms, wall_ms);
}

void AddressBook::on_disconnected(const NetAddress& a, int64_t now_ms) {
  if (auto it = entries_.find(a); it != entries_.end()) it->second.next_dial_ms = now_ms + backoff_.min_ms;
}

std::vector<NetAddress> AddressBook::dial_candidates(
    int64_t now_ms, size_t max, const std::function<bool(const NetAddress&)>& skip) const {
  std::vector<NetAddress> good, fresh;
  for (const auto& [a, e] : entries_) {
    if (good.size() >= max) break;
    if (e.next_dial_ms > now_ms || skip(a)) continue;
    (e.connected_once ? good : fresh).push_back(a);
  }
  for (const auto& a : fresh) {
    if (good.size() >= max) break;
    good.push_back(a);
  }
  return good;
}

std::vector<NetAddress> AddressBook::sample(size_t max,
                                            const std::function<bool(const NetAddress&)>& skip) const {
  std::vector<std::pair<const NetAddress*, const Entry*>> v;
  v.reserve(entries_.size());
  for (const auto& [a, e] : entries_)
    if (!skip(a)) v.emplace_back(&a, &e);
  std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) {
    if (x.second->connected_once != y.second->connected_once) return x.second->connected_once;
    if (x.second->last_seen_ms != y.second->last_seen_ms)
      return x.second->last_seen_ms > y.second->last_seen_ms;
    return *x.first < *y.first;
  });
  std::vector<NetAddress> out;
  for (size_t i = 0; i < v.size() && i < max; ++i) out.push_back(*v[i].first);
  return out;
}

std::vector<NetAddress> AddressBook::all() const {
  std::vector<NetAddress> out;
  out.reserve(entries_.size());
  for (const auto& [a, e] : entries_) out.push_back(a);
  return out;
}

}  // namespace peerchain::net

// net/address_book.h — the bounded set of peer addresses learned by gossip, with per-address
// dial backoff.
//
// Learned addresses come from addr messages and from the listen ports announced in inbound
// peers' hellos. The book never holds more than `capacity` entries. When it is full a new
// address replaces the entry that failed most often among those never connected; if every
// entry has either connected once or never failed, the newcomer is dropped, so a flood of
// gossip cannot push out addresses that are known to work. An address that was never
// connected is forgotten after `max_failures` consecutive failed dials.
//
// Times: `now_ms` for dialling decisions is a monotonic clock (steady), `wall_ms` a
// timestamp only used to order answers to getaddr.
//
// Not thread-safe: the owner (NetManager) serialises access.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "net/backoff.h"
#include "net/messages.h"

namespace peerchain::net {

class AddressBook {
 public:
  struct Entry {
    uint32_t failures = 0;        // consecutive failed dials
    int64_t next_dial_ms = 0;     // steady ms; not dialled before this
    int64_t last_seen_ms = 0;     // wall ms when learned, re-announced or connected
    bool connected_once = false;  // a handshake with this address succeeded once
  };

  AddressBook(size_t capacity, Backoff backoff, uint32_t max_failures = 5)
      : capacity_(capacity), backoff_(backoff), max_failures_(max_failures) {}

  // Adds dialable addresses not yet known (refreshing last_seen of known ones). Returns how
  // many were added. Costs O(size) once per call when the book is full, plus O(log size) per
  // address.
  size_t add(const std::vector<NetAddress>& addrs, int64_t wall_ms);

  void remove(const NetAddress& a) { entries_.erase(a); }
  bool contains(const NetAddress& a) const { return entries_.count(a) != 0; }
  const Entry* find(const NetAddress& a) const;
  size_t size() const { return entries_.size(); }

  // A dial failed: backs off (`random` feeds the jitter) or forgets the address.
  void on_dial_failed(const NetAddress& a, int64_t now_ms, uint64_t random);
  // A handshake succeeded (inserting the address if it was not known and there is room).
  void on_connected(const NetAddress& a, int64_t wall_ms);
  // After a connection that had succeeded ends: next dial not before now + min backoff.
  void on_disconnected(const NetAddress& a, int64_t now_ms);

  // Up to `max` addresses whose backoff has expired and for which `skip` is false, those that
  // connected once first.
  std::vector<NetAddress> dial_candidates(int64_t now_ms, size_t max,
                                          const std::function<bool(const NetAddress&)>& skip) const;

  // Up to `max` addresses to answer a getaddr: connected-once first, then most recently seen.
  std::vector<NetAddress> sample(size_t max, const std::function<bool(const NetAddress&)>& skip) const;

  std::vector<NetAddress> all() const;

 private:
  size_t capacity_;
  Backoff backoff_;
  uint32_t max_failures_;
  std::map<NetAddress, Entry> entries_;
};

}  // namespace peerchain::net

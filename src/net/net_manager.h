// net/net_manager.h — the peer-to-peer transport: listens, dials, handshakes, keeps peers
// alive and moves framed node messages between them (docs/spec/p2p.md).
//
// net knows nothing of blocks or transactions. The node layer defines message types >= 16
// with their payload caps (NetOptions::limits) and receives them through NetEvents; net owns
// types 0..15 (handshake, keepalive, disconnect with reason, address gossip).
//
// What it guarantees
// - One port serves peers and HTTP: an inbound connection whose first 4 bytes are the network
//   magic is a peer; any other is handed to NetEvents::on_foreign_connection.
// - A peer is reported (on_connected) only after both hellos passed check_hello and both
//   hello_acks were exchanged. For each peer: on_connected, then its on_message calls in
//   arrival order, then exactly one on_disconnected. A connection that ends before its
//   handshake completed is reported through on_connection_failed instead, with the reason
//   (our refusal, or "remote: <reason>" when the peer refused us, or a dial error).
// - Garbled, oversize or unknown frames, protocol violations, silence for idle_timeout and
//   send queues above max_send_queue_bytes close the connection with a reason
//   ("bad-frame: checksum: ...", "protocol: ...", "timeout", "slow-peer: ...").
// - Persistent peers are redialled forever with capped exponential backoff and jitter while
//   no connection to them exists; learned addresses fill outbound slots up to max_outbound.
//   At most one dial per address is pending; the manager uses one timer for dialling and one
//   per connection, so a peer that stays down for hours costs nothing that grows.
// - Nothing a peer sends can make this module throw or allocate beyond the caps.
//
// Threading: an io_context run by NetOptions::threads threads. Each connection's state is
// owned by its strand; the manager's registry (peers, address book, bans, dial targets) is
// guarded by one mutex that is never held while calling NetEvents. Every public method is
// thread-safe, and may be called from NetEvents callbacks except stop() and the destructor.
// Callbacks run on net threads, concurrently for different peers when threads > 1; they must
// not block for long.
//
// Time: durations (timeouts, pings, backoff) use a monotonic clock; the util::Clock given to
// create() stamps PeerInfo::connected_at_ms and decides ban expiry.
#pragma once

#include <utility>  // before any Boost.Asio header (Boost 1.74 under C++20)

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/frame.h"
#include "net/handshake.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/result.h"

namespace peerchain::net {

using PeerId = uint64_t;  // unique per manager, never reused

struct PeerInfo {
  PeerId id = 0;
  std::string address;  // remote "ip:port" (for inbound peers the port is the ephemeral one)
  bool inbound = false;
  Hello hello;                  // what the peer announced
  int64_t connected_at_ms = 0;  // util::Clock time when the handshake completed
  uint64_t bytes_sent = 0;      // all frames, net's included
  uint64_t bytes_received = 0;
  int64_t last_ping_rtt_ms = -1;  // -1 until the first pong
};

// Counts for monitoring (and for checking that nothing grows while peers are down).
struct NetStats {
  size_t connections = 0;  // every open connection: dialling, sniffing, handshaking, connected
  size_t peers = 0;        // handshake completed
  size_t inbound_peers = 0;
  size_t outbound_peers = 0;
  size_t known_addresses = 0;  // address book size (<= max_known_addresses)
  size_t persistent_peers = 0;
  size_t bans = 0;  // active bans
};

struct NetOptions {
  Magic magic;  // required: the network's frame magic
  // The hello we send. The node fills chain_id, genesis_id, best_height and user_agent. net
  // sets magic from `magic`, node_nonce to a random value when 0, and listen_port to the bound
  // port when 0 and listening. protocol_version defaults to kProtocolVersion.
  Hello local_hello_template;
  // default: all IPv4 interfaces; must be an IP literal. A specific address is also used as the
  // source address of outbound connections (like bitcoind's -bind).
  std::string listen_host = "0.0.0.0";
  // nullopt (default): do not listen. 0: a port chosen by the kernel (tests), see listen_port().
  std::optional<uint16_t> listen_port;
  size_t threads = 1;        // default: 1 thread runs every socket
  size_t max_inbound = 64;   // default: 64 inbound peers (handshaking ones count)
  // default: 8 inbound peers from one IP address (handshaking ones count), so one address cannot
  // take every inbound slot; past it the connection is refused with "too-many-from-address"
  size_t max_inbound_per_address = 8;
  size_t max_outbound = 16;  // default: learned addresses are dialled while outbound < 16
  // The node's message types (>= 16) and payload caps (<= kMaxFramePayload). net adds its own.
  MessageLimits limits;
  std::vector<uint16_t> low_priority_types;  // default: none; sent after every other queued frame
  size_t max_send_queue_bytes = 32 << 20;  // default: 32 MiB queued to one peer, then "slow-peer"
  int64_t handshake_timeout_ms = 10'000;   // default: 10 s for TCP connect + hello exchange
  int64_t idle_timeout_ms = 90'000;        // default: 90 s without a frame -> "timeout"
  int64_t ping_interval_ms = 30'000;       // default: ping every 30 s
  int64_t redial_min_ms = 500;             // default: first redial after ~0.5 s
  int64_t redial_max_ms = 30'000;          // default: redials at least every 30 s
  size_t max_known_addresses = 1000;       // default: address book capacity
};

struct NetEvents {
  // After a successful handshake.
  std::function<void(const PeerInfo&)> on_connected;
  // A node message (type >= 16) from a connected peer.
  std::function<void(PeerId, uint16_t type, util::Bytes payload)> on_message;
  // A connected peer is gone; once per on_connected.
  std::function<void(PeerId, const std::string& reason)> on_disconnected;
  // A connection ended before its handshake completed: dial failure, refusal by either side
  // ("wrong-genesis: ...", "remote: wrong-genesis: ...", "banned", "self-connection: ..."),
  // handshake timeout. `address` is "host:port".
  std::function<void(const std::string& address, bool inbound, const std::string& reason)>
      on_connection_failed;
  // The first bytes of an inbound connection were not the magic: the socket and the bytes
  // already read are handed over (to the HTTP server). Unset: such connections are closed.
  // The socket's executor belongs to this manager's io_context: use it only until stop(), or
  // move it to another context with socket.release().
  std::function<void(boost::asio::ip::tcp::socket, util::Bytes already_read)> on_foreign_connection;
};

class NetManager {
 public:
  // Validates the options (error code "bad-options": unknown-to-net reserved types, caps above
  // kMaxFramePayload, non-positive timeouts, a listen_host that is not an IP literal, ...).
  // `clock` must outlive the manager.
  static util::Result<std::unique_ptr<NetManager>> create(NetOptions opts, NetEvents events,
                                                          const util::Clock& clock);
  ~NetManager();  // stop()s
  NetManager(const NetManager&) = delete;
  NetManager& operator=(const NetManager&) = delete;

  // Binds the listener (if any) and starts the threads. Error code "listen-failed" when the
  // port cannot be bound, "bad-state" when called twice. A manager starts at most once.
  util::Status start();
  // Closes every connection (telling peers "shutdown"), stops dialling and listening, and joins
  // the threads: no callback runs after it returns. Idempotent.
  // REQUIRES: not called from a NetEvents callback.
  void stop();

  // The bound port after start() (0 when not listening).
  uint16_t listen_port() const;
  // The nonce this node sends in its hello.
  uint64_t node_nonce() const;

  // Dials host:port (host name or IP literal) now and whenever no connection to it exists,
  // forever, with capped exponential backoff. Stops only if the address turns out to be this
  // node ("self-connection").
  void add_persistent_peer(const std::string& host, uint16_t port);
  // Stops redialling; an existing connection stays.
  void remove_persistent_peer(const std::string& host, uint16_t port);

  // Queues a node message. false if the peer is not connected, the type is not one of the
  // node's types in NetOptions::limits, the payload is over its cap, or the peer's send queue
  // is full (the peer is then disconnected as "slow-peer").
  bool send(PeerId peer, uint16_t type, util::Bytes payload);
  // Bytes queued to the peer and not yet written; 0 if it is not connected.
  size_t queued_bytes(PeerId peer) const;
  // send() to every connected peer but `except`; the frame is encoded once.
  void broadcast(uint16_t type, const util::Bytes& payload, std::optional<PeerId> except = {});
  // Tells the peer `reason` and closes the connection.
  void disconnect(PeerId peer, const std::string& reason);
  // Disconnects every connection from `host` (an IP literal, as in PeerInfo::address) with
  // "banned: <reason>", refuses its inbound peer connections and does not dial it until the
  // clock passes now + duration_ms.
  void ban(const std::string& host, int64_t duration_ms, const std::string& reason);
  bool is_banned(const std::string& host) const;

  // Connected (handshake completed) peers, by id.
  std::vector<PeerInfo> peers() const;
  // The address book: learned addresses as "ip:port", sorted.
  std::vector<std::string> known_addresses() const;
  NetStats stats() const;

  // Announced in hellos sent from now on.
  void set_best_height(uint32_t height);

 private:
  class Impl;
  explicit NetManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace peerchain::net

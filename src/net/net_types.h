// net/net_types.h — the options, events and figures of a peer network (net::Transport), shared
// by the Asio implementation (NetManager) and the simulator's.
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
#include "net/secure.h"
#include "util/bytes.h"

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
  std::optional<NodeId> node_id;  // the peer's authenticated identity (encrypted links)
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
  // Encrypted, authenticated links (docs/spec/p2p.md, "Encrypted links"). false is test-only
  // (--p2p-encryption=off, for measuring what encryption costs): plaintext frames, no node ids;
  // both ends must agree.
  bool encrypt = true;
  // The node's long-lived identity. Null: a fresh random one (its node id changes every start).
  std::shared_ptr<const NodeIdentity> identity;
  // A private network: when set, only these node ids may connect, inbound or outbound; others
  // are told "not-allowed: ..." and not banned. Needs encrypt.
  std::optional<std::vector<NodeId>> allow_list;
};

struct NetEvents {
  // After a successful handshake.
  std::function<void(const PeerInfo&)> on_connected;
  // A node message (type >= 16) from a connected peer.
  std::function<void(PeerId, uint16_t type, util::Bytes payload)> on_message;
  // Asked after the messages of each read from a peer were delivered: true stops reading from
  // that peer until Transport::resume_reading(peer) (the receiver's queue for it is full, so
  // the peer's bytes wait in TCP, not in our memory). Unset: always reading.
  std::function<bool(PeerId)> hold_reading;
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

}  // namespace peerchain::net

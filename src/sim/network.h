// sim/network.h — the simulated network: links with latency, jitter and bandwidth between
// simulated hosts, one-way and two-way cuts, clogging and resets, and SimTransport, the
// net::Transport a simulated node is given in place of net::NetManager.
//
// Each connection runs two net::PeerSession objects (the node's own sans-IO session code), one per
// end; the bytes one session writes reach the other after the link's delay, in order, as TCP
// would deliver them. A cut or clogged direction holds its bytes (TCP retransmitting) and delivers
// them when healed, unless the sessions gave up first (idle timeout). A node killed (kill -9)
// makes its kernel reset its connections; a node that loses power goes silent and its peers find
// out by their own timeouts. Dialling a host that is down is refused at once; dialling across a
// cut times out.
//
// What the real transport does that this one does not: address gossip (getaddr is answered with
// nothing; the simulator gives each node its peers), the per-address and total inbound caps, and
// the duplicate-connection rule (the simulator's topology dials each pair one way).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "net/session.h"
#include "net/transport.h"
#include "sim/event_loop.h"
#include "sim/trace.h"
#include "util/clock.h"

namespace peerchain::sim {

class SimTransport;

struct LinkConditions {
  Micros latency = 20 * kMs;  // one way
  Micros jitter = 0;          // added, uniform in [0, jitter]; order is kept
  double bytes_per_second = 0;  // 0: unlimited
};

// How a node leaves the network.
enum class Departure {
  kGraceful,  // its transport closes every connection, telling peers
  kKill,      // process killed: its kernel resets every connection (peers see it at once)
  kPowerCut,  // machine gone: silence; peers time out
};

class Network {
 public:
  Network(EventLoop& loop, Trace& trace, std::mt19937_64& rng, size_t nodes, const LinkConditions& defaults);

  static std::string host_of(int node);      // "10.0.0.N" (N = node + 1)
  static std::optional<int> node_of(const std::string& host);
  static constexpr uint16_t kPort = 8333;

  // Conditions, per direction.
  LinkConditions& link(int from, int to) { return links_[from * n_ + to]; }
  void set_all_links(const LinkConditions& c);
  // Cuts from -> to (bytes held, dials time out). A two-way cut is two calls.
  void set_cut(int from, int to, bool cut);
  bool cut(int from, int to) const { return cut_[from * n_ + to]; }
  void heal_all();
  // Holds every byte on from -> to until `until` (a clogged link: FoundationDB's swizzle-clog).
  void clog(int from, int to, Micros until);
  // Resets every connection between a and b (both ends see "connection reset").
  void reset_links(int a, int b);

  // A node's transport comes and goes with its process.
  void attach(int node, SimTransport* t);
  void detach(int node, Departure how);
  SimTransport* transport(int node) const { return transports_[node]; }
  // The node's events run under this owner (its current incarnation).
  std::function<Owner(int node)> owner_of;

  uint64_t bytes_delivered() const { return bytes_delivered_; }
  uint64_t messages_delivered() const { return messages_delivered_; }

  // Internal to the transports.
  struct Conn;
  void dial(SimTransport* from, int to_node);
  void write(Conn* c, int side, std::vector<net::SharedFrame> frames);
  void close_stream(Conn* c, int side, const std::string& reason);
  void forget(Conn* c);

 private:
  void deliver_held(int from, int to);
  Micros arrival(int from, int to, size_t bytes, Micros& last);

  EventLoop& loop_;
  Trace& trace_;
  std::mt19937_64& rng_;
  const size_t n_;
  std::vector<LinkConditions> links_;
  std::vector<bool> cut_;
  std::vector<Micros> clogged_until_;
  std::vector<SimTransport*> transports_;
  std::map<uint64_t, std::shared_ptr<Conn>> conns_;
  uint64_t next_conn_ = 0;
  std::set<int> down_silent_;  // nodes gone by power cut: dials to them time out
  uint64_t bytes_delivered_ = 0;
  uint64_t messages_delivered_ = 0;
  friend class SimTransport;
};

// The transport of one simulated node.
class SimTransport final : public net::Transport {
 public:
  SimTransport(Network& net, int node, net::NetOptions opts, net::NetEvents events, const util::Clock& clock,
               std::function<uint64_t()> random);
  ~SimTransport() override;

  util::Status start() override;
  void stop() override;
  uint16_t listen_port() const override { return Network::kPort; }
  void add_persistent_peer(const std::string& host, uint16_t port) override;
  void remove_persistent_peer(const std::string& host, uint16_t port) override;
  bool send(net::PeerId peer, uint16_t type, util::Bytes payload) override;
  size_t queued_bytes(net::PeerId peer) const override;
  void broadcast(uint16_t type, const util::Bytes& payload, std::optional<net::PeerId> except = {}) override;
  void disconnect(net::PeerId peer, const std::string& reason) override;
  void ban(const std::string& host, int64_t duration_ms, const std::string& reason) override;
  bool is_banned(const std::string& host) const override;
  std::vector<net::PeerInfo> peers() const override;
  std::vector<std::string> known_addresses() const override;
  net::NetStats stats() const override;
  void set_best_height(uint32_t height) override { hello_.best_height = height; }

  int node() const { return node_; }
  uint64_t bans_made() const { return bans_made_; }
  // How the node's process will leave (set by the simulator before it destroys the node).
  void set_departure(Departure d) { departure_ = d; }

 private:
  friend class Network;
  struct Endpoint;  // one end of a connection, owned by this transport
  class Host;

  // Network side.
  Endpoint* open_endpoint(Network::Conn* c, int side, bool inbound, int remote_node);
  void on_bytes(Endpoint* e, util::Bytes bytes);
  void on_stream_closed(Endpoint* e, const std::string& reason);
  void on_dial_failed(int to_node, const std::string& reason);

  void pump(Endpoint* e);
  net::PeerInfo info(const Endpoint& e) const;
  void finish(Endpoint* e, const std::string& reason);
  void schedule_redial(int to_node);
  void post(std::function<void()> fn);
  int64_t now_ms() const;

  Network& net_;
  const int node_;
  const net::NetOptions opts_;
  const net::NetEvents events_;
  const util::Clock& clock_;
  std::function<uint64_t()> random_;
  std::shared_ptr<const net::SessionConfig> cfg_;
  net::Hello hello_;
  bool started_ = false;
  bool stopped_ = false;
  Departure departure_ = Departure::kGraceful;
  net::PeerId next_peer_ = 0;
  std::map<net::PeerId, std::unique_ptr<Endpoint>> endpoints_;
  struct Target {
    bool connected = false;  // a connection dialled to it is open (any state)
    bool dialling = false;
    int failures = 0;
    EventLoop::EventId redial = 0;
  };
  std::map<int, Target> persistent_;
  std::map<std::string, int64_t> bans_;  // host -> until (wall ms)
  uint64_t bans_made_ = 0;
};

}  // namespace peerchain::sim

#include "net/connection.h"

#include <algorithm>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

#include "crypto/random.h"

namespace peerchain::net {

Connection::Connection(ConnectionHost& host, std::shared_ptr<const ConnectionConfig> cfg, PeerId id,
                       tcp::socket socket)
    : host_(host),
      cfg_(std::move(cfg)),
      id_(id),
      inbound_(true),
      strand_(socket.get_executor()),
      dial_port_(0),
      socket_(std::move(socket)),
      resolver_(strand_),
      timer_(strand_),
      state_(State::kSniffing),
      decoder_(cfg_->magic, cfg_->limits) {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  address_ = ec ? "unknown" : endpoint_string(ep);
}

Connection::Connection(ConnectionHost& host, std::shared_ptr<const ConnectionConfig> cfg, PeerId id,
                       asio::any_io_executor strand, std::string host_name, uint16_t port)
    : host_(host),
      cfg_(std::move(cfg)),
      id_(id),
      inbound_(false),
      strand_(std::move(strand)),
      dial_host_(std::move(host_name)),
      dial_port_(port),
      socket_(strand_),
      resolver_(strand_),
      timer_(strand_),
      state_(State::kConnecting),
      address_(format_host_port(dial_host_, dial_port_)),
      decoder_(cfg_->magic, cfg_->limits) {}

void Connection::start() {
  asio::post(strand_, [self = shared_from_this()] { self->do_start(); });
}

bool Connection::send(SharedFrame frame) {
  if (closed_.load()) return false;
  size_t n = frame->size();
  if (queued_bytes_.fetch_add(n) + n > cfg_->max_send_queue_bytes) {
    queued_bytes_.fetch_sub(n);
    close("slow-peer: send queue over " + std::to_string(cfg_->max_send_queue_bytes) + " bytes", false);
    return false;
  }
  asio::post(strand_, [self = shared_from_this(), frame = std::move(frame)]() mutable {
    if (self->state_ != State::kActive) {
      self->queued_bytes_.fetch_sub(frame->size());
      return;
    }
    self->push(std::move(frame));
  });
  return true;
}

void Connection::close(std::string reason, bool tell_remote) {
  closed_.store(true);
  asio::post(strand_, [self = shared_from_this(), reason = std::move(reason), tell_remote]() mutable {
    self->do_close(std::move(reason), tell_remote);
  });
}

void Connection::do_start() {
  if (state_ == State::kClosed || state_ == State::kClosing) return;
  handshake_deadline_ = Clock::now() + cfg_->handshake_timeout;
  arm_timer();
  if (inbound_) {
    do_read();
    return;
  }
  resolver_.async_resolve(dial_host_, std::to_string(dial_port_), tcp::resolver::numeric_service,
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      const tcp::resolver::results_type& results) {
                            self->on_resolved(ec, results);
                          });
}

void Connection::on_resolved(const boost::system::error_code& ec,
                             const tcp::resolver::results_type& results) {
  if (state_ != State::kConnecting) return;
  if (ec) return do_close("connect-failed: resolve " + dial_host_ + ": " + ec.message(), false);
  if (cfg_->outbound_source) {
    // Bind the source address first; async_connect over a range would reopen the socket.
    for (const auto& entry : results) {
      const tcp::endpoint ep = entry.endpoint();
      if (ep.address().is_v4() != cfg_->outbound_source->is_v4()) continue;
      boost::system::error_code e;
      socket_.open(ep.protocol(), e);
      if (!e) socket_.bind(tcp::endpoint(*cfg_->outbound_source, 0), e);
      if (e) return do_close("connect-failed: bind " + cfg_->outbound_source->to_string() + ": " + e.message(), false);
      socket_.async_connect(ep, [self = shared_from_this(), ep](const boost::system::error_code& err) {
        self->on_connect(err, ep);
      });
      return;
    }
    return do_close("connect-failed: no " + std::string(cfg_->outbound_source->is_v4() ? "IPv4" : "IPv6") +
                        " address for " + dial_host_, false);
  }
  asio::async_connect(socket_, results,
                      [self = shared_from_this()](const boost::system::error_code& e,
                                                  const tcp::endpoint& ep) { self->on_connect(e, ep); });
}

void Connection::on_connect(const boost::system::error_code& ec, const tcp::endpoint& ep) {
  if (state_ != State::kConnecting) return;
  if (ec) return do_close("connect-failed: " + ec.message(), false);
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  address_ = endpoint_string(ep);
  state_ = State::kHandshake;
  if (auto st = host_.on_socket_connected(*this, ep); !st) return do_close(st.error().to_string(), true);
  queue(msg::kHello, encode_hello(host_.local_hello()));
  do_read();
}

void Connection::do_read() {
  socket_.async_read_some(
      asio::buffer(read_buf_),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t n) { self->on_read(ec, n); });
}

void Connection::on_read(const boost::system::error_code& ec, size_t n) {
  if (state_ == State::kClosed || state_ == State::kClosing) return;
  if (ec) {
    if (ec == asio::error::eof || ec == asio::error::connection_reset)
      return do_close(state_ == State::kSniffing ? "closed before sending anything" : "closed-by-peer",
                      false);
    return do_close("read-error: " + ec.message(), false);
  }
  bytes_received_.fetch_add(n, std::memory_order_relaxed);
  ByteSpan in(read_buf_.data(), n);
  if (state_ == State::kSniffing)
    sniff(in);
  else
    process(in);
  if (state_ == State::kSniffing || state_ == State::kHandshake || state_ == State::kActive) do_read();
}

void Connection::sniff(ByteSpan in) {
  sniffed_.insert(sniffed_.end(), in.begin(), in.end());
  size_t cmp = std::min<size_t>(sniffed_.size(), 4);
  if (std::memcmp(sniffed_.data(), cfg_->magic.data.data(), cmp) != 0) {
    // Not the peer protocol: the socket leaves net with what was read.
    state_ = State::kClosed;
    closed_.store(true);
    ++timer_generation_;
    timer_.cancel();
    host_.on_foreign(*this, std::move(socket_), std::move(sniffed_));
    return;
  }
  if (sniffed_.size() < 4) return;
  state_ = State::kHandshake;
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  if (auto st = host_.on_peer_detected(*this); !st) return do_close(st.error().to_string(), true);
  queue(msg::kHello, encode_hello(host_.local_hello()));
  Bytes first = std::move(sniffed_);
  sniffed_ = Bytes();
  process(first);
}

void Connection::process(ByteSpan in) {
  while (!in.empty() && (state_ == State::kHandshake || state_ == State::kActive)) {
    auto r = decoder_.next(in);
    if (!r) return do_close("bad-frame: " + r.error().to_string(), true);
    if (!*r) break;
    last_recv_ = Clock::now();
    handle_frame(std::move(**r));
  }
}

void Connection::handle_frame(Frame f) {
  switch (f.type) {
    case msg::kDisconnect: {
      auto reason = decode_reason(f.payload);
      return do_close("remote: " + (reason ? *reason : "(unreadable reason)"), false);
    }
    case msg::kHello:
      return handle_hello(f);
    case msg::kHelloAck:
      if (state_ != State::kHandshake || !remote_hello_ || got_ack_)
        return do_close("protocol: unexpected hello_ack", true);
      got_ack_ = true;
      return become_active();
    default:
      break;
  }
  if (state_ != State::kActive)
    return do_close("protocol: message type " + std::to_string(f.type) + " before the handshake completed",
                    true);

  switch (f.type) {
    case msg::kPing: {
      auto nonce = decode_nonce(f.payload);
      if (!nonce) return do_close("bad-payload: ping: " + nonce.error().to_string(), true);
      return queue(msg::kPong, encode_nonce(*nonce));
    }
    case msg::kPong: {
      auto nonce = decode_nonce(f.payload);
      if (!nonce) return do_close("bad-payload: pong: " + nonce.error().to_string(), true);
      if (ping_nonce_ && *nonce == *ping_nonce_) {
        auto rtt = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - ping_sent_);
        rtt_ms_.store(static_cast<int64_t>(rtt.count()), std::memory_order_relaxed);
        ping_nonce_.reset();
      }
      return;
    }
    case msg::kGetAddr: {
      if (answered_getaddr_) return;  // once per connection: no amplification
      answered_getaddr_ = true;
      auto addrs = host_.on_getaddr(*this);
      if (addrs.size() > kMaxAddrPerMessage) addrs.resize(kMaxAddrPerMessage);
      return queue(msg::kAddr, encode_addr(addrs));
    }
    case msg::kAddr: {
      auto addrs = decode_addr(f.payload);
      if (!addrs) return do_close("bad-payload: addr: " + addrs.error().to_string(), true);
      return host_.on_addr(*this, *addrs);
    }
    default:
      // Types 7..15 never get here: they are not in the limits table, so the decoder refuses them.
      if (f.type >= msg::kFirstNodeType) host_.on_message(*this, f.type, std::move(f.payload));
      return;
  }
}

void Connection::handle_hello(const Frame& f) {
  if (remote_hello_) return do_close("protocol: duplicate hello", true);
  auto hello = decode_hello(f.payload);
  if (!hello) return do_close("bad-hello: " + hello.error().to_string(), true);
  if (auto st = host_.on_hello(*this, *hello); !st) return do_close(st.error().to_string(), true);
  remote_hello_ = std::move(*hello);
  queue(msg::kHelloAck, {});
}

void Connection::become_active() {
  state_ = State::kActive;
  if (!host_.on_established(*this, *remote_hello_, address_)) return do_close("shutdown", true);
  if (state_ != State::kActive) return;  // closed from within the callback
  auto now = Clock::now();
  last_recv_ = now;
  next_ping_ = now + cfg_->ping_interval;
  queue(msg::kGetAddr, {});
  arm_timer();
}

void Connection::queue(uint16_t type, const Bytes& payload) {
  auto frame = std::make_shared<const Bytes>(encode_frame(cfg_->magic, type, payload));
  size_t n = frame->size();
  // net's own frames count too: a peer that floods pings but never reads is a slow peer.
  if (queued_bytes_.fetch_add(n) + n > cfg_->max_send_queue_bytes && state_ != State::kClosing) {
    queued_bytes_.fetch_sub(n);
    return do_close("slow-peer: send queue over " + std::to_string(cfg_->max_send_queue_bytes) + " bytes",
                    false);
  }
  push(std::move(frame));
}

void Connection::push(SharedFrame frame) {
  if (state_ == State::kClosed) {
    queued_bytes_.fetch_sub(frame->size());
    return;
  }
  bool low = false;
  if (!cfg_->low_priority_types.empty() && frame->size() >= 6) {
    auto type = static_cast<uint16_t>((*frame)[4] | ((*frame)[5] << 8));  // after the 4-byte magic, LE
    low = std::find(cfg_->low_priority_types.begin(), cfg_->low_priority_types.end(), type) !=
          cfg_->low_priority_types.end();
  }
  (low ? out_low_ : out_).push_back(std::move(frame));
  do_write();
}

void Connection::do_write() {
  if (writing_ || (out_.empty() && out_low_.empty()) || state_ == State::kClosed) return;
  constexpr size_t kMaxGather = 64;
  in_flight_ = std::min(out_.size(), kMaxGather);
  in_flight_low_ = std::min(out_low_.size(), kMaxGather - in_flight_);
  write_bufs_.clear();
  for (size_t i = 0; i < in_flight_; ++i) write_bufs_.push_back(asio::buffer(*out_[i]));
  for (size_t i = 0; i < in_flight_low_; ++i) write_bufs_.push_back(asio::buffer(*out_low_[i]));
  writing_ = true;
  asio::async_write(
      socket_, write_bufs_,
      [self = shared_from_this()](const boost::system::error_code& ec, size_t n) { self->on_write(ec, n); });
}

void Connection::on_write(const boost::system::error_code& ec, size_t n) {
  writing_ = false;
  bytes_sent_.fetch_add(n, std::memory_order_relaxed);
  size_t done = 0;
  for (size_t i = 0; i < in_flight_; ++i) {
    done += out_.front()->size();
    out_.pop_front();
  }
  for (size_t i = 0; i < in_flight_low_; ++i) {
    done += out_low_.front()->size();
    out_low_.pop_front();
  }
  in_flight_ = in_flight_low_ = 0;
  queued_bytes_.fetch_sub(done);
  if (state_ == State::kClosed) {
    out_.clear();
    out_low_.clear();
    return;
  }
  if (ec) {
    if (state_ == State::kClosing) return finish();
    return do_close("write-error: " + ec.message(), false);
  }
  if (!out_.empty() || !out_low_.empty())
    do_write();
  else if (state_ == State::kClosing)
    finish();
}

void Connection::arm_timer() {
  Clock::time_point deadline;
  switch (state_) {
    case State::kSniffing:
    case State::kConnecting:
    case State::kHandshake:
      deadline = handshake_deadline_;
      break;
    case State::kActive:
      deadline = std::min(last_recv_ + cfg_->idle_timeout, next_ping_);
      break;
    case State::kClosing:
      deadline = linger_deadline_;
      break;
    case State::kClosed:
      return;
  }
  timer_.expires_at(deadline);
  uint64_t generation = ++timer_generation_;
  timer_.async_wait([self = shared_from_this(), generation](const boost::system::error_code& ec) {
    self->on_timer(ec, generation);
  });
}

void Connection::on_timer(const boost::system::error_code& ec, uint64_t generation) {
  if (generation != timer_generation_ || state_ == State::kClosed) return;
  (void)ec;  // a superseded wait is recognised by its generation, a fired one by the clock
  auto now = Clock::now();
  switch (state_) {
    case State::kSniffing:
    case State::kConnecting:
    case State::kHandshake:
      if (now >= handshake_deadline_) {
        const char* phase = state_ == State::kConnecting ? "connect"
                            : state_ == State::kSniffing ? "first bytes"
                                                         : "handshake";
        return do_close(std::string("timeout: ") + phase, state_ == State::kHandshake);
      }
      break;
    case State::kActive:
      if (now >= last_recv_ + cfg_->idle_timeout) return do_close("timeout", true);
      if (now >= next_ping_) {
        ping_nonce_ = crypto::random_u64();
        ping_sent_ = now;
        queue(msg::kPing, encode_nonce(*ping_nonce_));
        next_ping_ = now + cfg_->ping_interval;
      }
      break;
    case State::kClosing:
      return finish();
    case State::kClosed:
      return;
  }
  arm_timer();
}

void Connection::do_close(std::string reason, bool tell_remote) {
  if (state_ == State::kClosing || state_ == State::kClosed) return;
  closed_.store(true);
  close_reason_ = std::move(reason);
  bool speaking_protocol = state_ == State::kHandshake || state_ == State::kActive;
  if (tell_remote && speaking_protocol && socket_.is_open()) {
    // Only the goodbye follows what is already being written.
    size_t dropped = 0;
    while (out_.size() > in_flight_) {
      dropped += out_.back()->size();
      out_.pop_back();
    }
    while (out_low_.size() > in_flight_low_) {
      dropped += out_low_.back()->size();
      out_low_.pop_back();
    }
    queued_bytes_.fetch_sub(dropped);
    state_ = State::kClosing;
    linger_deadline_ = Clock::now() + cfg_->linger;
    queue(msg::kDisconnect, encode_reason(close_reason_));
    arm_timer();
    return;
  }
  finish();
}

void Connection::finish() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  closed_.store(true);
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  resolver_.cancel();
  ++timer_generation_;
  timer_.cancel();
  // Frames being written stay alive until their handler runs.
  while (out_.size() > in_flight_) out_.pop_back();
  while (out_low_.size() > in_flight_low_) out_low_.pop_back();
  host_.on_closed(*this, close_reason_);
}

}  // namespace peerchain::net

#include "net/session.h"

#include <algorithm>

namespace peerchain::net {

namespace {
// The type of an encoded frame: after the 4-byte magic, little-endian.
uint16_t frame_type(const Bytes& frame) {
  return frame.size() >= 6 ? static_cast<uint16_t>(frame[4] | (frame[5] << 8)) : 0xffff;
}
}  // namespace

PeerSession::PeerSession(std::shared_ptr<const SessionConfig> cfg, SessionHost& host, bool inbound,
                         std::function<uint64_t()> nonce_source)
    : cfg_(std::move(cfg)),
      host_(host),
      inbound_(inbound),
      nonce_source_(std::move(nonce_source)),
      decoder_(cfg_->magic, cfg_->limits) {}

void PeerSession::start(int64_t now_ms) { start(now_ms, now_ms + cfg_->handshake_timeout_ms); }

KeySeed PeerSession::random_seed() {
  KeySeed seed;
  for (size_t i = 0; i < seed.size(); i += 8) {
    uint64_t v = nonce_source_();
    for (size_t j = 0; j < 8; ++j) seed[i + j] = static_cast<uint8_t>(v >> (8 * j));
  }
  return seed;
}

void PeerSession::start(int64_t now_ms, int64_t handshake_deadline_ms) {
  if (started_ || state_ != State::kHandshake) return;
  started_ = true;
  handshake_deadline_ = handshake_deadline_ms;
  if (!cfg_->encrypt) {
    queue(msg::kHello, encode_hello(host_.local_hello()), now_ms);
    return;
  }
  identity_ = cfg_->identity ? cfg_->identity
                             : std::make_shared<const NodeIdentity>(NodeIdentity::from_seed(random_seed()));
  ephemeral_ = EphemeralKey::from_seed(random_seed());
  secure_ = Secure::kAwaitKeyExchange;
  queue(msg::kKeyExchange, encode_key_exchange(KeyExchange{kSecureVersion, true, ephemeral_.public_key}), now_ms);
}

void PeerSession::on_bytes(util::ByteSpan in, int64_t now_ms) {
  // Before start() nothing of ours was said; the transport only feeds a started session.
  while (!in.empty() && speaking() && started_) {
    if (opener_) {
      // Everything after the key exchange is sealed: open a record, then read its frames.
      auto r = opener_->next(in);
      if (!r) return close("bad-record: " + r.error().to_string(), true, now_ms);
      if (!*r) break;
      feed_frames(**r, now_ms);
      continue;
    }
    auto r = decoder_.next(in);
    if (!r) return close("bad-frame: " + r.error().to_string(), true, now_ms);
    if (!*r) break;
    last_recv_ = now_ms;
    handle_frame(std::move(**r), now_ms);
  }
}

void PeerSession::feed_frames(ByteSpan in, int64_t now_ms) {
  while (!in.empty() && speaking()) {
    auto r = decoder_.next(in);
    if (!r) return close("bad-frame: " + r.error().to_string(), true, now_ms);
    if (!*r) break;
    last_recv_ = now_ms;
    handle_frame(std::move(**r), now_ms);
  }
}

void PeerSession::handle_frame(Frame f, int64_t now_ms) {
  if (f.type == msg::kDisconnect) {
    auto reason = decode_reason(f.payload);
    return close("remote: " + (reason ? *reason : "(unreadable reason)"), false, now_ms);
  }
  switch (secure_) {
    case Secure::kOff:
      if (f.type == msg::kKeyExchange)
        return close("encryption-mismatch: the peer encrypts its links; this node runs with --p2p-encryption=off",
                     true, now_ms);
      if (f.type == msg::kAuth) return close("protocol: unexpected auth", true, now_ms);
      break;
    case Secure::kAwaitKeyExchange:
      if (f.type == msg::kKeyExchange) return handle_key_exchange(f, now_ms);
      if (f.type == msg::kHello)
        return close("encryption-mismatch: the peer speaks plaintext (--p2p-encryption=off); this node encrypts "
                     "its links",
                     true, now_ms);
      return close("protocol: message type " + std::to_string(f.type) + " before the key exchange", true, now_ms);
    case Secure::kAwaitAuth:
      if (f.type == msg::kAuth) return handle_auth(f, now_ms);
      return close("protocol: message type " + std::to_string(f.type) + " before the peer's auth", true, now_ms);
    case Secure::kDone:
      if (f.type == msg::kKeyExchange || f.type == msg::kAuth)
        return close("protocol: repeated secure handshake message " + std::to_string(f.type), true, now_ms);
      break;
  }
  switch (f.type) {
    case msg::kHello:
      return handle_hello(f, now_ms);
    case msg::kHelloAck:
      if (state_ != State::kHandshake || !remote_hello_ || got_ack_)
        return close("protocol: unexpected hello_ack", true, now_ms);
      got_ack_ = true;
      return become_active(now_ms);
    default:
      break;
  }
  if (state_ != State::kActive)
    return close("protocol: message type " + std::to_string(f.type) + " before the handshake completed",
                 true, now_ms);

  switch (f.type) {
    case msg::kPing: {
      auto nonce = decode_nonce(f.payload);
      if (!nonce) return close("bad-payload: ping: " + nonce.error().to_string(), true, now_ms);
      return queue(msg::kPong, encode_nonce(*nonce), now_ms);
    }
    case msg::kPong: {
      auto nonce = decode_nonce(f.payload);
      if (!nonce) return close("bad-payload: pong: " + nonce.error().to_string(), true, now_ms);
      if (ping_nonce_ && *nonce == *ping_nonce_) {
        rtt_ms_ = now_ms - ping_sent_;
        ping_nonce_.reset();
      }
      return;
    }
    case msg::kGetAddr: {
      if (answered_getaddr_) return;  // once per connection: no amplification
      answered_getaddr_ = true;
      auto addrs = host_.on_getaddr();
      if (state_ != State::kActive) return;  // closed from within the callback
      if (addrs.size() > kMaxAddrPerMessage) addrs.resize(kMaxAddrPerMessage);
      return queue(msg::kAddr, encode_addr(addrs), now_ms);
    }
    case msg::kAddr: {
      auto addrs = decode_addr(f.payload);
      if (!addrs) return close("bad-payload: addr: " + addrs.error().to_string(), true, now_ms);
      return host_.on_addr(*addrs);
    }
    default:
      // Types 9..15 never get here: they are not in the limits table, so the decoder refuses them.
      if (f.type >= msg::kFirstNodeType) host_.on_message(f.type, std::move(f.payload));
      return;
  }
}

void PeerSession::handle_key_exchange(const Frame& f, int64_t now_ms) {
  auto kx = decode_key_exchange(f.payload);
  if (!kx) return close("bad-key-exchange: " + kx.error().to_string(), true, now_ms);
  if (!kx->encrypt)
    return close("encryption-mismatch: the peer asks for plaintext; this node encrypts its links", true, now_ms);
  auto keys = derive_session_keys(!inbound_, ephemeral_, kx->ephemeral);
  if (!keys) return close(keys.error().to_string(), true, now_ms);
  remote_ephemeral_ = kx->ephemeral;
  // Our key exchange may not be written yet: it stays in plain_out_, ahead of every sealed frame.
  sealer_.emplace(keys->tx);
  opener_.emplace(keys->rx);
  secure_ = Secure::kAwaitAuth;
  const auto& init_eph = inbound_ ? remote_ephemeral_ : ephemeral_.public_key;
  const auto& resp_eph = inbound_ ? ephemeral_.public_key : remote_ephemeral_;
  Auth auth{identity_->id(), identity_->sign(auth_transcript(cfg_->magic, !inbound_, init_eph, resp_eph))};
  queue(msg::kAuth, encode_auth(auth), now_ms);
}

void PeerSession::handle_auth(const Frame& f, int64_t now_ms) {
  auto auth = decode_auth(f.payload);
  if (!auth) return close("bad-auth: " + auth.error().to_string(), true, now_ms);
  const auto& init_eph = inbound_ ? remote_ephemeral_ : ephemeral_.public_key;
  const auto& resp_eph = inbound_ ? ephemeral_.public_key : remote_ephemeral_;
  // The remote signed in its own role: the initiator iff we are the inbound side.
  if (!verify_node_signature(auth->node_id, auth_transcript(cfg_->magic, inbound_, init_eph, resp_eph),
                             auth->signature))
    return close("bad-auth: the signature does not match node id " + auth->node_id.hex(), true, now_ms);
  // The host hears of it first (it may know the target it dialled is us, and stop dialling it).
  if (auto st = host_.on_authenticated(auth->node_id); !st) return close(st.error().to_string(), true, now_ms);
  if (!speaking()) return;  // closed from within the callback
  if (auth->node_id == identity_->id())
    return close("self-connection: connected to ourselves (node id " + auth->node_id.hex() + ")", true, now_ms);
  remote_id_ = auth->node_id;
  secure_ = Secure::kDone;
  queue(msg::kHello, encode_hello(host_.local_hello()), now_ms);
}

void PeerSession::handle_hello(const Frame& f, int64_t now_ms) {
  if (remote_hello_) return close("protocol: duplicate hello", true, now_ms);
  auto hello = decode_hello(f.payload);
  if (!hello) return close("bad-hello: " + hello.error().to_string(), true, now_ms);
  if (auto st = host_.on_hello(*hello); !st) return close(st.error().to_string(), true, now_ms);
  if (!speaking()) return;  // closed from within the callback
  remote_hello_ = std::move(*hello);
  queue(msg::kHelloAck, {}, now_ms);
}

void PeerSession::become_active(int64_t now_ms) {
  state_ = State::kActive;
  if (!host_.on_established(*remote_hello_)) return close("shutdown", true, now_ms);
  if (state_ != State::kActive) return;  // closed from within the callback
  last_recv_ = now_ms;
  next_ping_ = now_ms + cfg_->ping_interval_ms;
  queue(msg::kGetAddr, {}, now_ms);
}

void PeerSession::on_timer(int64_t now_ms) {
  switch (state_) {
    case State::kHandshake:
      if (now_ms >= handshake_deadline_) close("timeout: handshake", true, now_ms);
      return;
    case State::kActive:
      if (now_ms >= last_recv_ + cfg_->idle_timeout_ms) return close("timeout", true, now_ms);
      if (now_ms >= next_ping_) {
        ping_nonce_ = nonce_source_();
        ping_sent_ = now_ms;
        next_ping_ = now_ms + cfg_->ping_interval_ms;
        queue(msg::kPing, encode_nonce(*ping_nonce_), now_ms);
      }
      return;
    case State::kClosing:
      if (now_ms >= linger_deadline_) finish();
      return;
    case State::kClosed:
      return;
  }
}

void PeerSession::on_stream_closed(std::string reason) {
  if (state_ == State::kClosed) return;
  if (close_reason_.empty()) close_reason_ = std::move(reason);
  finish();
}

std::string PeerSession::slow_peer_reason() const {
  return "slow-peer: send queue over " + std::to_string(cfg_->max_send_queue_bytes) + " bytes";
}

bool PeerSession::send(SharedFrame frame, int64_t now_ms) {
  if (state_ != State::kActive) return false;
  if (queued_bytes() + frame->size() > cfg_->max_send_queue_bytes) {
    close(slow_peer_reason(), false, now_ms);
    return false;
  }
  push(std::move(frame));
  return true;
}

void PeerSession::queue(uint16_t type, const Bytes& payload, int64_t now_ms) {
  auto frame = std::make_shared<const Bytes>(encode_frame(cfg_->magic, type, payload));
  // The goodbye always goes: it replaced everything not yet taken.
  if (state_ != State::kClosing && queued_bytes() + frame->size() > cfg_->max_send_queue_bytes)
    return close(slow_peer_reason(), false, now_ms);
  push(std::move(frame));
}

void PeerSession::push(SharedFrame frame) {
  if (secure_ == Secure::kAwaitKeyExchange) {
    queued_bytes_ += frame->size();
    plain_out_.push_back(std::move(frame));
    return;
  }
  bool low = false;
  if (!cfg_->low_priority_types.empty()) {
    uint16_t type = frame_type(*frame);
    low = std::find(cfg_->low_priority_types.begin(), cfg_->low_priority_types.end(), type) !=
          cfg_->low_priority_types.end();
  }
  queued_bytes_ += frame->size();
  (low ? out_low_ : out_).push_back(std::move(frame));
}

std::vector<SharedFrame> PeerSession::take_writes(size_t max_frames) {
  std::vector<SharedFrame> taken;
  if (state_ == State::kClosed) return taken;
  while (taken.size() < max_frames && !plain_out_.empty()) {
    queued_bytes_ -= plain_out_.front()->size();
    taken_bytes_ += plain_out_.front()->size();
    taken.push_back(std::move(plain_out_.front()));
    plain_out_.pop_front();
  }
  while (taken.size() < max_frames && (!out_.empty() || !out_low_.empty())) {
    auto& q = out_.empty() ? out_low_ : out_;
    SharedFrame f = std::move(q.front());
    q.pop_front();
    queued_bytes_ -= f->size();
    if (sealer_) {
      // Sealed as it is taken, so the record counter follows the order of the bytes on the wire.
      auto sealed = std::make_shared<Bytes>();
      sealed->reserve(sealed_size(f->size()));
      if (auto st = sealer_->seal(*f, *sealed); !st) {
        close(st.error().to_string(), false, 0);
        return taken;
      }
      f = std::move(sealed);
    }
    taken_bytes_ += f->size();
    taken.push_back(std::move(f));
  }
  return taken;
}

void PeerSession::on_written(size_t bytes) {
  taken_bytes_ -= std::min(bytes, taken_bytes_);
  if (state_ == State::kClosing && queued_bytes() == 0) finish();
}

int64_t PeerSession::deadline_ms() const {
  switch (state_) {
    case State::kHandshake:
      return handshake_deadline_;
    case State::kActive:
      return std::min(last_recv_ + cfg_->idle_timeout_ms, next_ping_);
    case State::kClosing:
      return linger_deadline_;
    case State::kClosed:
      break;
  }
  return kNoDeadline;
}

void PeerSession::drop_queued() {
  out_.clear();
  out_low_.clear();
  queued_bytes_ = 0;
  // Our key exchange, if not yet written, still goes: a goodbye sealed after it can be opened.
  for (const auto& f : plain_out_) queued_bytes_ += f->size();
}

void PeerSession::close(std::string reason, bool tell_remote, int64_t now_ms) {
  if (state_ == State::kClosing || state_ == State::kClosed) return;
  close_reason_ = std::move(reason);
  if (tell_remote && speaking()) {
    // Only the goodbye follows what was taken for writing, and our hello: a peer refused on
    // its hello still learns who refused it (a self-connection is seen as such at both ends).
    bool hello_pending = !out_.empty() && frame_type(*out_.front()) == msg::kHello;
    auto hello = hello_pending ? out_.front() : nullptr;
    drop_queued();
    if (hello) push(std::move(hello));
    state_ = State::kClosing;
    linger_deadline_ = now_ms + cfg_->linger_ms;
    queue(msg::kDisconnect, encode_reason(close_reason_), now_ms);
    return;
  }
  finish();
}

void PeerSession::finish() {
  state_ = State::kClosed;
  drop_queued();
  plain_out_.clear();
  queued_bytes_ = 0;
}

}  // namespace peerchain::net

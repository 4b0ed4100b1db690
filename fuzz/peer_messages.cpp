// Fuzz: sequences of peer messages into the peer protocol (node::PeerManager) over an in-memory
// network, on a real ChainState (RocksDB in a temporary directory, easy dev target so fuzzed
// headers often carry valid proof of work). Three peers connect, send messages of any type and
// payload (and headers/blocks built on known blocks with fuzzed fields), disconnect and
// reconnect, and timers tick. Whatever they send must end in a reply, a penalty or nothing:
// never a crash, a sanitizer report, or unbounded queues (checked after every input).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <set>

#include "chain/miner.h"
#include "chain/test_util.h"
#include "node/compact.h"
#include "node/peer_manager.h"
#include "node/protocol.h"
#include "util/log.h"

namespace {

using namespace peerchain;

// Records what the manager sends; nothing is delivered anywhere.
class SinkNet final : public node::PeerNetwork {
 public:
  bool send(node::PeerId peer, uint16_t, util::Bytes payload) override {
    if (!connected.count(peer)) return false;
    sent_bytes += payload.size();
    return !full;
  }
  void disconnect(node::PeerId peer, const std::string&) override { connected.erase(peer); }
  void ban(node::PeerId peer, int64_t, const std::string&) override { connected.erase(peer); }
  size_t queued_bytes(node::PeerId) const override { return full ? SIZE_MAX / 2 : 0; }

  std::set<node::PeerId> connected;
  size_t sent_bytes = 0;
  bool full = false;  // the peer's send queue is full: sends fail, serving pauses
};

struct World {
  World() : params((util::set_log_level("off"), chain::testing::easy_params())), node(params) {
    // A short chain, so getdata, getheaders and headers find real blocks.
    chain::Miner::generate(node.chain(), consensus::dev_account_key(0).pubkey(), 8);
  }
  consensus::Params params;
  chain::testing::TestNode node;
};

// Shared across inputs (opening RocksDB per input would dominate), and made afresh every 500
// inputs so the headers and blocks fuzzed inputs get accepted do not pile up. Deleted by an
// atexit handler registered after the first database opened, so it runs before RocksDB's own
// statics are destroyed (a static World was destroyed after them: a crash at exit).
World* g_world = nullptr;

World& world() {
  static int uses = 0;
  if (g_world && ++uses % 500 == 0) {
    delete g_world;
    g_world = nullptr;
  }
  if (!g_world) {
    static bool registered = false;
    g_world = new World();
    if (!registered) {
      registered = true;
      std::atexit([] {
        delete g_world;
        g_world = nullptr;
      });
    }
  }
  return *g_world;
}

primitives::BlockHeader fuzzed_header(FuzzedDataProvider& in, chain::ChainState& chain) {
  primitives::BlockHeader h;
  auto parent_height = in.ConsumeIntegralInRange<uint32_t>(0, chain.tip().height);
  auto parent = chain.block_id_at(parent_height);
  auto ph = chain.header(*parent);
  h.version = in.ConsumeBool() ? 1 : in.ConsumeIntegral<uint16_t>();
  h.height = in.ConsumeBool() ? ph->height + 1 : in.ConsumeIntegral<uint32_t>();
  h.prev_id = *parent;
  h.time_ms = ph->time_ms + in.ConsumeIntegralInRange<uint64_t>(0, 100'000);
  h.bits = in.ConsumeBool() ? ph->bits : in.ConsumeIntegral<uint32_t>();
  h.nonce = in.ConsumeIntegral<uint32_t>();
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  World& w = world();
  SinkNet net;
  node::PeerManagerOptions opts;
  opts.max_pending_getdata_blocks = 4;
  opts.serve_bytes_per_turn = 1 << 12;
  node::PeerManager pm(w.node.chain(), net, w.node.clock(), opts);
  for (node::PeerId p = 0; p < 3; ++p) {
    net.connected.insert(p);
    pm.on_connected(p, "fuzz" + std::to_string(p), p == 0, 0);
  }
  int steps = 0;
  while (in.remaining_bytes() > 0 && ++steps < 200) {
    node::PeerId peer = in.ConsumeIntegralInRange<node::PeerId>(0, 2);
    switch (in.ConsumeIntegralInRange<int>(0, 9)) {
      case 0:
        pm.tick();
        break;
      case 1:
        w.node.clock().advance(in.ConsumeIntegralInRange<int64_t>(-5'000, 60'000));
        break;
      case 2:
        if (net.connected.count(peer)) {
          pm.on_disconnected(peer);
          net.connected.erase(peer);
        } else {
          net.connected.insert(peer);
          pm.on_connected(peer, "fuzz" + std::to_string(peer), false, in.ConsumeIntegral<uint32_t>());
        }
        break;
      case 3:
        net.full = in.ConsumeBool();
        break;
      case 4: {  // headers built on a known block (a few chained), fuzzed fields
        std::vector<primitives::BlockHeader> hs;
        hs.push_back(fuzzed_header(in, w.node.chain()));
        size_t more = in.ConsumeIntegralInRange<size_t>(0, 3);
        for (size_t i = 0; i < more; ++i) {
          auto h = hs.back();
          h.prev_id = hs.back().id();
          h.height += 1;
          h.time_ms += in.ConsumeIntegralInRange<uint64_t>(0, 5'000);
          h.nonce = in.ConsumeIntegral<uint32_t>();
          hs.push_back(h);
        }
        pm.on_message(peer, node::msg::kHeaders, node::encode_headers(hs));
        break;
      }
      case 5: {  // a block on a known block, no transactions
        primitives::Block b;
        b.header = fuzzed_header(in, w.node.chain());
        b.header.merkle_root = primitives::compute_merkle_root(std::vector<primitives::TxId>{});
        pm.on_message(peer, node::msg::kBlock, primitives::encode_block(b));
        break;
      }
      case 6: {  // getdata/inv/notfound naming known blocks, repeated
        std::vector<node::InvItem> items;
        size_t n = in.ConsumeIntegralInRange<size_t>(0, 64);
        for (size_t i = 0; i < n; ++i) {
          auto h = in.ConsumeIntegralInRange<uint32_t>(0, w.node.chain().tip().height + 1);
          auto id = w.node.chain().block_id_at(h);
          items.push_back({in.ConsumeBool() ? node::InvKind::kBlock : node::InvKind::kTx, id ? *id : crypto::Hash256{}});
        }
        static constexpr uint16_t kTypes[] = {node::msg::kGetData, node::msg::kInv, node::msg::kNotFound};
        pm.on_message(peer, kTypes[in.ConsumeIntegralInRange<int>(0, 2)], node::encode_inv(items));
        break;
      }
      case 7: {  // a sketch on a known block: short ids that match nothing, then maybe a blocktxn
        node::CompactBlock cb;
        cb.header = fuzzed_header(in, w.node.chain());
        cb.salt = in.ConsumeIntegral<uint64_t>();
        size_t n = in.ConsumeIntegralInRange<size_t>(0, 4);
        for (size_t i = 0; i < n; ++i) cb.short_ids.push_back(in.ConsumeIntegral<uint64_t>() & node::kShortIdMask);
        if (n == 0) cb.header.merkle_root = primitives::compute_merkle_root(std::vector<primitives::TxId>{});
        pm.on_message(peer, node::msg::kCmpctBlock, node::encode_cmpctblock(cb));
        if (in.ConsumeBool()) {
          node::BlockTxn t{cb.header.id(), {}};
          t.txs.resize(in.ConsumeIntegralInRange<size_t>(0, 4));
          pm.on_message(peer, node::msg::kBlockTxn, node::encode_blocktxn(t));
        }
        break;
      }
      default: {  // any message type with any payload
        auto type = static_cast<uint16_t>(in.ConsumeBool() ? in.ConsumeIntegralInRange<int>(16, 28)
                                                           : in.ConsumeIntegral<uint16_t>());
        auto len = in.ConsumeIntegralInRange<size_t>(0, 4096);
        auto bytes = in.ConsumeBytes<uint8_t>(len);
        pm.on_message(peer, type, util::Bytes(bytes.begin(), bytes.end()));
        break;
      }
    }
  }
  net.full = false;
  pm.tick();
  for (const auto& s : pm.stats())
    if (s.blocks_in_flight > opts.max_blocks_in_flight) __builtin_trap();
  return 0;
}

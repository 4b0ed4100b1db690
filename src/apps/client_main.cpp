// client — the seed's client command lines, on top of the JSON-RPC API:
//   client HOST PORT ID 0 COUNT AMOUNT   sends COUNT signed transfers of AMOUNT from development
//                                        account ID (to account ID+1), prints their ids
//   client HOST PORT ID 1                prints the node's chain: "height H tip ID", then per
//                                        block "block H ID txs N" and one line per transaction
// Keys are derived locally (dev accounts are public test keys); nothing secret leaves here.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "consensus/params.h"
#include "crypto/schnorr.h"
#include "primitives/address.h"
#include "rpc/http_client.h"
#include "util/version.h"

using namespace peerchain;

namespace {

int usage(const std::string& why) {
  std::fprintf(stderr,
               "error: %s\nusage: client HOST PORT ID 0 COUNT AMOUNT   (send COUNT transfers of AMOUNT)\n"
               "       client HOST PORT ID 1                (print the chain)\n",
               why.c_str());
  return 2;
}

bool parse_u64(const std::string& s, uint64_t& out, uint64_t max) {
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  try {
    out = std::stoull(s);
  } catch (...) {
    return false;
  }
  return out <= max;
}

int fail(const util::Error& e) {
  std::fprintf(stderr, "error: %s\n", e.message.empty() ? e.code.c_str() : e.message.c_str());
  return 1;
}

// Signs a run of one sender's transfers (consecutive nonces) in order, in chunks, on every core,
// at most kAhead chunks ahead of the sender: the node admits one chunk while the next is signed,
// and memory stays flat for any COUNT.
class SigningPipeline {
 public:
  SigningPipeline(const consensus::Params& p, const crypto::SecretKey& key, const primitives::AccountKey& to,
                  uint64_t amount, uint64_t nonce, uint64_t count, uint64_t chunk)
      : signer_(key), chain_id_(p.chain_id), to_(to), amount_(amount), nonce_(nonce), count_(count),
        chunk_(chunk), producer_([this] { run(); }) {}
  ~SigningPipeline() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    producer_.join();
  }

  // The next chunk's hex encodings, in nonce order; empty once the run is signed.
  std::vector<std::string> next() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !ready_.empty() || done_; });
    if (ready_.empty()) return {};
    auto out = std::move(ready_.front());
    ready_.pop_front();
    cv_.notify_all();
    return out;
  }

 private:
  static constexpr size_t kAhead = 2;

  void run() {
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    for (uint64_t first = 0; first < count_; first += chunk_) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return ready_.size() < kAhead || stop_; });
        if (stop_) break;
      }
      const uint64_t n = std::min(chunk_, count_ - first);
      std::vector<std::string> hexes(n);
      auto sign_range = [&](uint64_t lo, uint64_t hi) {
        for (uint64_t i = lo; i < hi; ++i) {
          auto tx = primitives::make_transfer(chain_id_, signer_, to_, amount_, 1, nonce_ + first + i);
          hexes[i] = util::to_hex(primitives::encode_transaction(tx));
        }
      };
      std::vector<std::thread> pool;
      const uint64_t per = (n + threads - 1) / threads;
      for (uint64_t lo = per; lo < n; lo += per) pool.emplace_back(sign_range, lo, std::min(n, lo + per));
      sign_range(0, std::min(n, per));
      for (auto& t : pool) t.join();
      std::lock_guard lock(mu_);
      ready_.push_back(std::move(hexes));
      cv_.notify_all();
    }
    std::lock_guard lock(mu_);
    done_ = true;
    cv_.notify_all();
  }

  const crypto::Signer signer_;
  const uint32_t chain_id_;
  const primitives::AccountKey to_;
  const uint64_t amount_, nonce_, count_, chunk_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<std::string>> ready_;
  bool done_ = false, stop_ = false;
  std::thread producer_;  // last: starts once everything above is built
};

// Sends COUNT transfers of consecutive nonces in batches small enough for the node's body cap
// (5,000 signed transfers are ~1.6 MB of hex; the cap is 8 MiB), so any COUNT works as it did in
// the seed. Signing runs on every core, a batch ahead of the node (SigningPipeline). A batch the
// node cannot take yet (mempool full, too many pending for this sender) is resent from its first
// refused transfer once blocks have made room; any other rejection is printed and ends the run
// with exit 1.
int send(rpc::RpcClient& c, const consensus::Params& p, uint32_t id, uint64_t count, uint64_t amount) {
  constexpr uint64_t kBatch = 5'000;
  constexpr auto kRetryEvery = std::chrono::milliseconds(500);
  constexpr auto kGiveUpAfter = std::chrono::minutes(10);  // no progress at all for this long
  auto key = consensus::dev_account_key(id);
  auto to = consensus::dev_account_key((id + 1) % consensus::kDevAccounts).pubkey();
  auto acc = c.call("getaccount", rpc::Json::array({primitives::encode_address(p.address_prefix, key.pubkey())}));
  if (!acc) return fail(acc.error());
  const uint64_t nonce = (*acc)["next_nonce"].get<uint64_t>();
  SigningPipeline signing(p, key, to, amount, nonce, count, kBatch);
  auto last_progress = std::chrono::steady_clock::now();
  std::vector<std::string> pending;  // signed, not yet accepted, in nonce order
  for (uint64_t sent = 0; sent < count;) {
    if (pending.empty()) pending = signing.next();
    rpc::Json hexes = rpc::Json::array();
    for (const auto& h : pending) hexes.push_back(h);  // kept: a refused suffix is resent
    const uint64_t n = pending.size();
    auto r = c.call("sendtransactions", rpc::Json::array({std::move(hexes)}));
    if (!r) return fail(r.error());
    uint64_t accepted = 0;
    for (const auto& item : *r) {
      if (!item.contains("id")) break;
      std::printf("%s\n", item["id"].get<std::string>().c_str());
      ++accepted;
    }
    sent += accepted;
    if (accepted == n) {
      pending.clear();
      last_progress = std::chrono::steady_clock::now();
      continue;
    }
    const auto& first_refused = (*r)[accepted]["error"];
    const std::string reason = first_refused.value("reason", std::string());
    if (reason == "mempool-full" || reason == "too-many-pending") {
      pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(accepted));
      if (accepted) last_progress = std::chrono::steady_clock::now();
      if (std::chrono::steady_clock::now() - last_progress > kGiveUpAfter)
        return fail(util::Error{"stalled", "the node took no transfer for 10 minutes: " +
                                               first_refused.value("message", reason)});
      std::fflush(stdout);
      std::this_thread::sleep_for(kRetryEvery);  // blocks make room; resend from the refused one
      continue;
    }
    for (size_t k = accepted; k < r->size(); ++k)
      std::fprintf(stderr, "rejected: %s\n", (*r)[k]["error"].value("message", std::string("?")).c_str());
    return 1;
  }
  return 0;
}

int print_chain(rpc::RpcClient& c) {
  auto info = c.call("getblockchaininfo");
  if (!info) return fail(info.error());
  uint64_t height = (*info)["height"].get<uint64_t>();
  std::printf("height %llu tip %s\n", static_cast<unsigned long long>(height), (*info)["tip"].get<std::string>().c_str());
  for (uint64_t start = 0, next = 0; start <= height; start = next) {
    rpc::Json batch = rpc::Json::array();
    for (uint64_t h = start; h <= height && h < start + 200; ++h)
      batch.push_back({{"jsonrpc", "2.0"}, {"id", h}, {"method", "getblock"}, {"params", {h}}});
    auto res = c.batch(batch);
    if (!res) return fail(res.error());
    next = start;
    for (const auto& r : *res) {
      // Past the node's response budget (big blocks): the rest was not run; ask again from there.
      if (r.contains("error") && r["error"].value("code", 0) == rpc::code::kResponseTooLarge) break;
      ++next;
      if (!r.contains("result")) return fail(util::Error{"rpc", r["error"].value("message", std::string("?"))});
      const auto& b = r["result"];
      std::printf("block %llu %s txs %zu\n", static_cast<unsigned long long>(b["height"].get<uint64_t>()),
                  b["id"].get<std::string>().c_str(), b["txs"].size());
      for (const auto& tx : b["txs"])
        std::printf("  tx %s from %s to %s amount %llu fee %llu\n", tx["id"].get<std::string>().c_str(),
                    tx["from"].get<std::string>().c_str(), tx["to"].get<std::string>().c_str(),
                    static_cast<unsigned long long>(tx["amount"].get<uint64_t>()),
                    static_cast<unsigned long long>(tx["fee"].get<uint64_t>()));
    }
    if (next == start) return fail(util::Error{"rpc", "the node answered no block of the batch"});
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--version") {
    std::printf("%s\n", util::version_line("client").c_str());
    return 0;
  }
  if (argc < 5) return usage("missing arguments");
  std::string host = argv[1];
  uint64_t port = 0, id = 0, mode = 0;
  if (!parse_u64(argv[2], port, 65535) || port == 0) return usage("PORT must be 1..65535");
  if (!parse_u64(argv[3], id, consensus::kDevAccounts - 1))
    return usage("ID must be a development account 0.." + std::to_string(consensus::kDevAccounts - 1));
  if (!parse_u64(argv[4], mode, 1)) return usage("the 4th argument must be 0 (send) or 1 (print)");
  auto params = consensus::dev_params();
  rpc::RpcClient client(host, static_cast<uint16_t>(port));
  if (mode == 1) {
    if (argc != 5) return usage("print takes no further arguments");
    return print_chain(client);
  }
  if (argc != 7) return usage("send needs COUNT and AMOUNT");
  uint64_t count = 0, amount = 0;
  if (!parse_u64(argv[5], count, 100'000'000) || count == 0) return usage("COUNT must be 1..100000000");
  if (!parse_u64(argv[6], amount, primitives::kMaxMoney) || amount == 0) return usage("AMOUNT must be a positive amount");
  return send(client, params, static_cast<uint32_t>(id), count, amount);
}

// peerchain-bench: the load benchmark. Starts (or targets) a local dev network, funds M
// accounts, pre-signs N transfers, submits them at full speed or at a fixed open-loop rate, and
// reports throughput until every node's chain holds them, inclusion latency, block propagation,
// stale blocks, each node's CPU and peak memory, and the signature limit of this machine
// measured in the same run. `--sync-blocks K` measures a restarted node's catch-up instead.
// docs/performance.md explains the figures and how to reproduce them.
#include <CLI/CLI.hpp>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include "apps/load/block_report.h"
#include "apps/load/cluster.h"
#include "apps/load/event_stream.h"
#include "apps/flags.h"
#include "consensus/params.h"
#include "crypto/schnorr.h"
#include "primitives/address.h"
#include "primitives/transaction.h"
#include "rpc/http_client.h"
#include "util/bytes.h"
#include "util/host_port.h"
#include "util/version.h"

namespace {

using namespace peerchain;
using rpc::Json;
using Clock = std::chrono::steady_clock;
using primitives::AccountKey;
using primitives::Transaction;

struct Options {
  int nodes = 3;
  std::vector<std::string> connect;
  std::string bin;
  std::string dir;
  uint32_t accounts = 1000;
  uint64_t transfers = 100'000;
  double rate = 0;  // 0: full speed
  size_t batch = 500;
  std::string json_path;
  int timeout_s = 300;
  uint64_t seed = 1;
  uint32_t sync_blocks = 0;
  uint32_t sync_txs_per_block = 10;
  double hash_rate = -1;  // < 0: the network's default cap
  bool keep = false;
  std::vector<std::string> node_args;
  int progress_s = 5;  // a progress line this often while submitting and waiting
};

int g_progress_s = 5;  // Options::progress_s, for the tickers below

struct Target {
  std::string host;
  uint16_t port = 0;
};

double seconds_since(Clock::time_point t0, Clock::time_point t) { return std::chrono::duration<double>(t - t0).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size()))) ;
  return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
}

// The network this run started, stopped on every exit path (die() included).
apps::load::LocalCluster* g_cluster = nullptr;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "error: %s\n", why.c_str());
  if (g_cluster)
    for (size_t i = 0; i < g_cluster->nodes().size(); ++i) g_cluster->stop_node(i);
  std::exit(1);
}

crypto::SecretKey account_key(uint64_t seed, uint32_t i) {
  static const crypto::TaggedHash hasher("peerchain/bench-account");
  util::Writer w;
  w.u64(seed);
  w.u32(i);
  for (uint32_t attempt = 0;; ++attempt) {
    w.u32(attempt);
    if (auto k = crypto::SecretKey::from_bytes(hasher(w.data()))) return *k;
  }
}

Json call_or_die(rpc::RpcClient& c, const std::string& method, const Json& params = Json::array()) {
  auto r = c.call(method, params);
  if (!r) die(method + ": " + r.error().to_string());
  return *r;
}

// Batched JSON-RPC: one HTTP request, the results in order (errors as null).
std::vector<Json> batch_call(rpc::RpcClient& c, const std::string& method, const std::vector<Json>& params) {
  std::vector<Json> out(params.size());
  for (size_t off = 0; off < params.size(); off += 500) {
    Json reqs = Json::array();
    for (size_t i = off; i < std::min(params.size(), off + 500); ++i)
      reqs.push_back({{"jsonrpc", "2.0"}, {"id", i}, {"method", method}, {"params", params[i]}});
    auto r = c.batch(reqs);
    if (!r) die(method + " (batch): " + r.error().to_string());
    for (const auto& resp : *r)
      if (resp.contains("result") && resp.contains("id")) out.at(resp["id"].get<size_t>()) = resp["result"];
  }
  return out;
}

// Node-side resource figures from /metrics (Prometheus text).
struct NodeStats {
  double cpu_seconds = 0;
  double rss_bytes = 0;
  double peak_rss_bytes = 0;
  double verifications = 0;
  std::map<std::string, double> compact;  // getnetworkinfo's compact_blocks counters (issue 15)
};

NodeStats node_stats(const Target& t) {
  NodeStats s;
  rpc::RpcClient c(t.host, t.port, 10'000);
  // The client speaks JSON-RPC; /metrics is a GET, so read it with a tiny raw request.
  auto text = [&]() -> std::string {
    std::string cmd = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
    int fd = -1;
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(t.host.c_str(), std::to_string(t.port).c_str(), &hints, &res) != 0) return {};
    fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
      if (fd >= 0) ::close(fd);
      freeaddrinfo(res);
      return {};
    }
    freeaddrinfo(res);
    if (::write(fd, cmd.data(), cmd.size()) != static_cast<ssize_t>(cmd.size())) {
      ::close(fd);
      return {};
    }
    std::string out;
    char buf[4096];
    ssize_t k;
    while ((k = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(k));
    ::close(fd);
    return out;
  }();
  auto value = [&](const std::string& name) {
    auto pos = text.find("\n" + name + " ");
    return pos == std::string::npos ? 0.0 : std::strtod(text.c_str() + pos + name.size() + 2, nullptr);
  };
  s.cpu_seconds = value("process_cpu_seconds_total");
  s.rss_bytes = value("process_resident_memory_bytes");
  s.peak_rss_bytes = value("process_resident_memory_peak_bytes");
  s.verifications = value("peerchain_signature_verifications_total");
  if (auto info = c.call("getnetworkinfo", Json::array()); info && info->contains("compact_blocks"))
    for (const auto& [k, v] : (*info)["compact_blocks"].items())
      if (v.is_number()) s.compact[k] = v.get<double>();
  return s;
}

// libsecp256k1 verifications per second on one thread, measured now (the key-cache-warm path a
// node takes for every transaction).
double measure_verify_rate() {
  auto key = account_key(0, 0);
  crypto::Hash256 msg = crypto::TaggedHash("peerchain/bench-verify")(util::ByteSpan{});
  auto sig = key.sign(msg);
  auto pub = key.pubkey();
  size_t n = 0;
  auto t0 = Clock::now();
  while (Clock::now() - t0 < std::chrono::milliseconds(600)) {
    for (int i = 0; i < 50; ++i) n += crypto::schnorr_verify(pub, msg.span(), sig);
  }
  return static_cast<double>(n) / seconds_since(t0, Clock::now());
}

// The same check in batches of 256 (ADR 0022: how the nodes check transfers in bulk), per second
// on one thread: for the report beside the limit, which stays single verifications.
double measure_batch_verify_rate() {
  struct One {
    crypto::XOnlyPubKey pubkey;
    crypto::Hash256 msg;
    crypto::SchnorrSig sig;
  };
  std::vector<One> sigs;
  for (uint32_t i = 0; i < 256; ++i) {
    auto key = account_key(0, i % 64);
    auto msg = crypto::TaggedHash("peerchain/bench-verify")(util::as_bytes(std::to_string(i)));
    sigs.push_back({key.pubkey(), msg, key.sign(msg)});
  }
  std::vector<crypto::SchnorrCheck> checks;
  for (const auto& s : sigs) checks.push_back({&s.pubkey, s.msg, &s.sig});
  size_t n = 0;
  auto t0 = Clock::now();
  while (Clock::now() - t0 < std::chrono::milliseconds(600))
    if (crypto::schnorr_verify_batch(checks)) n += checks.size();
  return static_cast<double>(n) / seconds_since(t0, Clock::now());
}

// Signs `count` transfers on every core. Transfer k: sender k % senders (nonce = base + k / senders).
struct Signed {
  std::vector<std::string> hex;
  std::vector<primitives::TxId> ids;
  std::vector<uint32_t> sender;
};

Signed presign(uint32_t chain_id, const std::vector<crypto::SecretKey>& keys, const std::vector<AccountKey>& pubs,
               const std::vector<uint64_t>& base_nonce, uint64_t count, uint64_t seed) {
  Signed s;
  s.hex.resize(count);
  s.ids.resize(count);
  s.sender.resize(count);
  size_t threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 1000 + t);
      const auto m = static_cast<uint32_t>(keys.size());
      for (uint64_t k = t; k < count; k += threads) {
        auto from = static_cast<uint32_t>(k % m);
        uint32_t to = m > 1 ? static_cast<uint32_t>((from + 1 + rng() % (m - 1)) % m) : from;
        auto tx = primitives::make_transfer(chain_id, keys[from], pubs[to], 1, 1, base_nonce[from] + k / m);
        s.hex[k] = util::to_hex(primitives::encode_transaction(tx));
        s.ids[k] = tx.id();
        s.sender[k] = from;
      }
    });
  for (auto& th : pool) th.join();
  return s;
}

using Event = apps::load::BlockEvent;  // t: seconds since the run's t0

// Block events of every node, timestamped on arrival.
struct EventLog {
  std::mutex mu;
  std::vector<std::vector<Event>> per_node;  // GUARDED_BY(mu)
  std::vector<std::unique_ptr<apps::load::EventStream>> streams;
};

void open_streams(EventLog& log, const std::vector<Target>& targets, Clock::time_point t0) {
  log.per_node.resize(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    auto s = apps::load::EventStream::open(targets[i].host, targets[i].port, "block",
                                           [&log, i, t0](const Json& e, Clock::time_point at) {
                                             if (e.value("type", "") != "block") return;
                                             std::lock_guard lock(log.mu);
                                             log.per_node[i].push_back({e.value("id", ""), e.value("height", 0u),
                                                                        seconds_since(t0, at)});
                                           });
    if (!s) die("event stream of node" + std::to_string(i) + ": " + s.error().to_string());
    log.streams.push_back(std::move(*s));
  }
}

std::string fmt_mb(double bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.0f MB", bytes / 1e6);
  return b;
}

// Funds `m` fresh accounts from the dev accounts, enough for `per_account` transfers each, and
// waits until every node's chain holds the funding. Returns the accounts' next nonces.
std::vector<uint64_t> fund_accounts(const consensus::Params& params, const std::vector<Target>& targets,
                                    const std::vector<AccountKey>& pubs, uint64_t per_account, bool generate = false) {
  rpc::RpcClient c0(targets[0].host, targets[0].port, 60'000);
  const uint32_t dev = consensus::kDevAccounts;
  std::vector<crypto::SecretKey> dev_keys;
  std::vector<Json> dev_params;
  for (uint32_t d = 0; d < dev; ++d) {
    dev_keys.push_back(consensus::dev_account_key(d));
    dev_params.push_back(Json::array({primitives::encode_address(params.address_prefix, dev_keys.back().pubkey())}));
  }
  auto dev_accounts = batch_call(c0, "getaccount", dev_params);
  std::vector<uint64_t> dev_nonce(dev);
  for (uint32_t d = 0; d < dev; ++d) dev_nonce[d] = dev_accounts[d].value("next_nonce", uint64_t{0});
  const primitives::Amount amount = per_account * 2 + 1000;
  Json hexes = Json::array();
  for (size_t i = 0; i < pubs.size(); ++i) {
    auto d = static_cast<uint32_t>(i % dev);
    auto tx = primitives::make_transfer(params.chain_id, dev_keys[d], pubs[i], amount, 1, dev_nonce[d]++);
    hexes.push_back(util::to_hex(primitives::encode_transaction(tx)));
  }
  auto res = call_or_die(c0, "sendtransactions", Json::array({hexes}));
  for (const auto& r : res)
    if (r.contains("error")) die("funding transfer rejected: " + r["error"].dump());
  if (generate) call_or_die(c0, "generate", Json::array({1}));  // the nodes are not mining
  // Funded once every node sees every account's balance.
  std::vector<Json> acct_params;
  for (const auto& p : pubs) acct_params.push_back(Json::array({primitives::encode_address(params.address_prefix, p)}));
  auto deadline = Clock::now() + std::chrono::seconds(120);
  for (const auto& t : targets) {
    rpc::RpcClient c(t.host, t.port, 60'000);
    for (;;) {
      auto accts = batch_call(c, "getaccount", acct_params);
      bool all = std::all_of(accts.begin(), accts.end(), [&](const Json& a) {
        return a.is_object() && a.value("balance", primitives::Amount{0}) >= amount && a.value("pending", 0) == 0;
      });
      if (all) break;
      if (Clock::now() > deadline) die("funding transfers not in every node's chain after 120 s (is a node mining?)");
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }
  std::vector<uint64_t> nonces;
  for (const auto& a : batch_call(c0, "getaccount", acct_params)) nonces.push_back(a.value("next_nonce", uint64_t{0}));
  return nonces;
}

// A progress line every few seconds while the tool submits and waits, so a long run shows it is
// moving (and where it is stuck). due() is true once per period.
class ProgressTicker {
 public:
  explicit ProgressTicker(std::chrono::seconds period = std::chrono::seconds(g_progress_s))
      : period_(period), next_(Clock::now() + period) {}
  bool due() {
    if (Clock::now() < next_) return false;
    next_ = Clock::now() + period_;
    return true;
  }

 private:
  std::chrono::seconds period_;
  Clock::time_point next_;
};

struct SubmitStats {
  std::map<std::string, uint64_t> rejected;  // reason -> count
  uint64_t accepted = 0;
};

// Submits node `node_index`'s share of `s` (its senders' transfers, in nonce order). rate <= 0:
// back to back batches; else open loop at `rate` transfers/s, each stamped with its scheduled time.
void submit_share(const Target& t, const Signed& s, const std::vector<size_t>& share, double rate, size_t batch,
                  Clock::time_point t0, Clock::time_point start, std::vector<double>& submit_t,
                  std::vector<uint8_t>& accepted, SubmitStats& stats, std::atomic<uint64_t>& sent) {
  rpc::RpcClient c(t.host, t.port, 120'000);
  size_t next = 0;
  while (next < share.size()) {
    size_t end = std::min(share.size(), next + batch);
    if (rate > 0) {
      auto due = static_cast<size_t>(seconds_since(start, Clock::now()) * rate) + 1;
      if (due <= next) {
        auto wake = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                static_cast<double>(next) / rate));
        std::this_thread::sleep_until(wake);
        continue;
      }
      end = std::min(end, due);
    }
    std::string body;
    body.reserve((end - next) * (Transaction::kEncodedSize * 2 + 3) + 128);
    body += R"({"jsonrpc":"2.0","id":1,"method":"sendtransactions","params":[[)";
    for (size_t k = next; k < end; ++k) {
      if (k != next) body += ',';
      body += '"';
      body += s.hex[share[k]];
      body += '"';
    }
    body += "]]}";
    double now = seconds_since(t0, Clock::now());
    for (size_t k = next; k < end; ++k)
      submit_t[share[k]] = rate > 0 ? seconds_since(t0, start) + static_cast<double>(k) / rate : now;
    auto r = c.call("sendtransactions", Json::array({Json::parse(body)["params"][0]}));
    if (!r) die("sendtransactions to " + t.host + ":" + std::to_string(t.port) + ": " + r.error().to_string());
    for (size_t k = next; k < end; ++k) {
      const Json& one = (*r)[k - next];
      if (one.contains("id")) {
        accepted[share[k]] = 1;
        ++stats.accepted;
      } else {
        ++stats.rejected[one["error"].value("reason", "unknown")];
      }
    }
    sent.fetch_add(end - next);
    next = end;
  }
}

int run_load(const Options& o, const std::vector<Target>& targets) {
  auto params = consensus::dev_params();
  const size_t n_nodes = targets.size();
  std::printf("peerchain-bench: %zu nodes, %u accounts, %llu transfers, %s\n", n_nodes, o.accounts,
              static_cast<unsigned long long>(o.transfers),
              o.rate > 0 ? ("open loop at " + std::to_string(static_cast<long long>(o.rate)) + " transfers/s").c_str()
                         : "full speed");
  double verify_rate = measure_verify_rate();
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  double sig_limit = verify_rate * cores / static_cast<double>(n_nodes);
  std::printf("signature limit: %.0f verifications/s per core x %u cores / %zu nodes = %.0f transfers/s\n",
              verify_rate, cores, n_nodes, sig_limit);
  double batch_rate = measure_batch_verify_rate();
  std::printf("  (single verifications; the nodes check in batches, %.0f/s per core in batches of 256: %.2f x)\n",
              batch_rate, verify_rate > 0 ? batch_rate / verify_rate : 0);

  std::vector<crypto::SecretKey> keys;
  std::vector<AccountKey> pubs;
  for (uint32_t i = 0; i < o.accounts; ++i) {
    keys.push_back(account_key(o.seed, i));
    pubs.push_back(keys.back().pubkey());
  }
  auto t_fund = Clock::now();
  auto nonces = fund_accounts(params, targets, pubs, o.transfers / o.accounts + 1);
  std::printf("funded %u accounts in %.1f s\n", o.accounts, seconds_since(t_fund, Clock::now()));
  auto t_sign = Clock::now();
  Signed s = presign(params.chain_id, keys, pubs, nonces, o.transfers, o.seed);
  std::printf("signed %llu transfers in %.1f s\n", static_cast<unsigned long long>(o.transfers),
              seconds_since(t_sign, Clock::now()));

  // Each sender's transfers go to one node, in nonce order (a node refuses a nonce gap).
  std::vector<std::vector<size_t>> share(n_nodes);
  for (size_t k = 0; k < s.hex.size(); ++k) share[s.sender[k] % n_nodes].push_back(k);

  rpc::RpcClient c0(targets[0].host, targets[0].port, 60'000);
  auto start_height = call_or_die(c0, "getblockchaininfo")["height"].get<uint32_t>();
  std::vector<NodeStats> before;
  for (const auto& t : targets) before.push_back(node_stats(t));

  auto t0 = Clock::now();
  EventLog events;
  open_streams(events, targets, t0);
  std::vector<double> submit_t(s.hex.size(), 0);
  std::vector<uint8_t> accepted(s.hex.size(), 0);
  std::vector<SubmitStats> stats(n_nodes);
  // RSS of every node every 2 s while the run lasts ("flat as the chain grows").
  std::atomic<bool> sampling{true};
  std::vector<std::vector<std::pair<double, double>>> rss_samples(n_nodes);
  std::thread sampler([&] {
    while (sampling.load()) {
      for (size_t i = 0; i < n_nodes; ++i)
        rss_samples[i].emplace_back(seconds_since(t0, Clock::now()), node_stats(targets[i]).rss_bytes);
      for (int k = 0; k < 20 && sampling.load(); ++k) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  auto start = Clock::now();
  {
    std::atomic<uint64_t> sent{0};
    std::atomic<size_t> senders_left{n_nodes};
    std::vector<std::thread> senders;
    for (size_t i = 0; i < n_nodes; ++i)
      senders.emplace_back([&, i] {
        submit_share(targets[i], s, share[i], o.rate / static_cast<double>(n_nodes), o.batch, t0, start, submit_t,
                     accepted, stats[i], sent);
        senders_left.fetch_sub(1);
      });
    ProgressTicker progress;
    while (senders_left.load() > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (progress.due())
        std::printf("submitting: %llu of %zu sent (%.0f/s)\n", static_cast<unsigned long long>(sent.load()),
                    s.hex.size(), static_cast<double>(sent.load()) / seconds_since(start, Clock::now()));
    }
    for (auto& th : senders) th.join();
  }
  double submit_end = seconds_since(t0, Clock::now());
  uint64_t n_accepted = 0;
  std::map<std::string, uint64_t> rejected;
  for (const auto& st : stats) {
    n_accepted += st.accepted;
    for (const auto& [k, v] : st.rejected) rejected[k] += v;
  }
  std::printf("submitted %llu in %.2f s (%.0f/s offered): %llu accepted\n", static_cast<unsigned long long>(s.hex.size()),
              submit_end - seconds_since(t0, start), static_cast<double>(s.hex.size()) / (submit_end - seconds_since(t0, start)),
              static_cast<unsigned long long>(n_accepted));

  // Done when every mempool is empty and every node has the same tip, twice in a row.
  auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);
  int stable = 0;
  std::vector<std::unique_ptr<rpc::RpcClient>> clients;
  for (const auto& t : targets) clients.push_back(std::make_unique<rpc::RpcClient>(t.host, t.port, 60'000));
  ProgressTicker waiting;
  while (stable < 2) {
    if (Clock::now() > deadline) {
      std::printf("timed out after %d s waiting for every node to include everything\n", o.timeout_s);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    std::set<std::string> tips;
    bool empty = true;
    for (auto& c : clients) {
      auto info = c->call("getblockchaininfo");
      auto mem = c->call("getmempoolinfo");
      if (!info || !mem) die("a node stopped answering");
      tips.insert((*info)["tip"].get<std::string>());
      empty = empty && (*mem)["size"].get<uint64_t>() == 0;
    }
    stable = (tips.size() == 1 && empty) ? stable + 1 : 0;
    if (waiting.due()) {
      std::string line;
      for (auto& c : clients) {
        auto info = c->call("getblockchaininfo");
        if (info) line += " h" + std::to_string((*info)["height"].get<uint64_t>()) + "/mempool " +
                          std::to_string((*info).value("mempool_size", uint64_t{0}));
      }
      std::printf("waiting for every node to include everything:%s; %zu tip(s)\n", line.c_str(), tips.size());
    }
  }
  sampling = false;
  sampler.join();
  std::vector<NodeStats> after;
  for (const auto& t : targets) after.push_back(node_stats(t));

  // The final chain, from node 0: block ids and txids by height.
  auto tip_height = call_or_die(c0, "getblockchaininfo")["height"].get<uint32_t>();
  std::vector<Json> heights;
  for (uint32_t h = start_height + 1; h <= tip_height; ++h) heights.push_back(Json::array({h, 1}));
  std::vector<Json> blocks;
  for (size_t off = 0; off < heights.size(); off += 20) {
    std::vector<Json> part(heights.begin() + static_cast<std::ptrdiff_t>(off),
                           heights.begin() + static_cast<std::ptrdiff_t>(std::min(heights.size(), off + 20)));
    for (auto& b : batch_call(c0, "getblock", part)) blocks.push_back(std::move(b));
  }
  std::unordered_map<std::string, uint32_t> final_height;  // block id -> height
  std::unordered_map<primitives::TxId, uint32_t, util::FixedBytesHasher> tx_height;
  uint64_t duplicates = 0;
  for (const auto& b : blocks) {
    if (!b.is_object()) die("could not read the final chain");
    auto h = b["height"].get<uint32_t>();
    final_height[b["id"].get<std::string>()] = h;
    for (const auto& id : b["txids"]) {
      auto txid = crypto::Hash256::from_hex(id.get<std::string>());
      if (txid && !tx_height.emplace(*txid, h).second) ++duplicates;
    }
  }

  apps::load::BlockReport blocks_seen;
  {
    std::lock_guard lock(events.mu);
    blocks_seen = apps::load::analyse_blocks(events.per_node, final_height, start_height, tip_height);
  }
  const auto& incl = blocks_seen.held_at;
  const auto& propagation = blocks_seen.propagation_ms;
  const uint64_t stale = blocks_seen.stale;

  uint64_t found = 0, lost = 0;
  std::vector<double> latency;
  double last_included = 0, first_submit = 1e300;
  for (size_t k = 0; k < s.hex.size(); ++k) {
    if (!accepted[k]) continue;
    first_submit = std::min(first_submit, submit_t[k]);
    auto it = tx_height.find(s.ids[k]);
    if (it == tx_height.end()) {
      ++lost;
      continue;
    }
    ++found;
    double when = 0;
    for (size_t i = 0; i < n_nodes; ++i) {
      double t = incl[i][it->second];
      when = std::max(when, t < 0 ? seconds_since(t0, Clock::now()) : t);
    }
    last_included = std::max(last_included, when);
    latency.push_back((when - submit_t[k]) * 1000);
  }
  double tps = found && last_included > first_submit ? static_cast<double>(found) / (last_included - first_submit) : 0;
  double block_interval_ms = static_cast<double>(params.target_spacing_ms);

  Json report{{"nodes", n_nodes},
              {"accounts", o.accounts},
              {"mode", o.rate > 0 ? "open-loop" : "full-speed"},
              {"offered_rate", o.rate},
              {"submitted", s.hex.size()},
              {"accepted", n_accepted},
              {"rejected", rejected},
              {"in_final_chain", found},
              {"lost", lost},
              {"duplicates", duplicates},
              {"transfers_per_second", tps},
              {"seconds_until_all_included", last_included - first_submit},
              {"inclusion_latency_ms", {{"p50", percentile(latency, 50)}, {"p90", percentile(latency, 90)}, {"p99", percentile(latency, 99)}}},
              {"block_interval_ms", block_interval_ms},
              {"blocks", tip_height - start_height},
              {"block_propagation_ms", {{"p50", percentile(propagation, 50)}, {"p99", percentile(propagation, 99)}, {"samples", propagation.size()}}},
              {"stale_blocks", stale},
              {"blocks_after_final_read", blocks_seen.after_final_read},
              {"stale_per_hundred", tip_height > start_height ? 100.0 * static_cast<double>(stale) / (tip_height - start_height) : 0},
              {"stale_by_cause", {{"raced", blocks_seen.stale_raced}, {"winner_in_flight", blocks_seen.stale_in_flight}, {"old_tip", blocks_seen.stale_old_tip}}},
              {"signature_limit", {{"verify_per_second_per_core", verify_rate}, {"batch_verify_per_second_per_core", batch_rate}, {"cores", cores}, {"transfers_per_second", sig_limit}}},
              {"fraction_of_signature_limit", sig_limit > 0 ? tps / sig_limit : 0}};
  // Compact relay over the run, all nodes together: bytes per relayed block as a sketch (and
  // the blocktxn answers it needed) against the same blocks whole, and how sketches ended.
  auto compact_delta = [&](const std::string& k) {
    double d = 0;
    for (size_t i = 0; i < n_nodes; ++i) {
      auto a = after[i].compact.find(k);
      auto b = before[i].compact.find(k);
      d += (a == after[i].compact.end() ? 0 : a->second) - (b == before[i].compact.end() ? 0 : b->second);
    }
    return d;
  };
  {
    const double sent = compact_delta("sketches_sent"), whole = compact_delta("blocks_sent_whole");
    const double no_rt = compact_delta("rebuilt_without_round_trip"), rt = compact_delta("rebuilt_with_round_trip"),
                 fb = compact_delta("fell_back_to_block");
    const double sketch_bytes = compact_delta("sketch_bytes_sent") + compact_delta("blocktxn_bytes_sent");
    const double ended = no_rt + rt + fb;
    report["compact_relay"] = {
        {"sketches_sent", sent},
        {"sketch_bytes_per_block", sent > 0 ? sketch_bytes / sent : 0},
        {"full_bytes_per_sketched_block", sent > 0 ? compact_delta("sketched_block_bytes") / sent : 0},
        {"sketch_fraction_of_block", compact_delta("sketched_block_bytes") > 0 ? sketch_bytes / compact_delta("sketched_block_bytes") : 0},
        {"blocks_sent_whole", whole},
        {"bytes_per_block_sent_whole", whole > 0 ? compact_delta("block_bytes_sent_whole") / whole : 0},
        {"rebuilt_without_round_trip", no_rt},
        {"rebuilt_with_round_trip", rt},
        {"fell_back_to_block", fb},
        {"fraction_without_round_trip", ended > 0 ? no_rt / ended : 0}};
  }
  Json per_node = Json::array();
  // RSS at a quarter, half, three quarters and the end of the run: flat or growing.
  auto rss_quarters = [&](size_t i) {
    Json q = Json::array();
    const auto& v = rss_samples[i];
    for (int k = 1; k <= 4 && !v.empty(); ++k) q.push_back(v[std::min(v.size() - 1, v.size() * k / 4)].second);
    return q;
  };
  for (size_t i = 0; i < n_nodes; ++i)
    per_node.push_back({{"address", targets[i].host + ":" + std::to_string(targets[i].port)},
                        {"rss_quarters", rss_quarters(i)},
                        {"cpu_seconds", after[i].cpu_seconds - before[i].cpu_seconds},
                        {"signature_verifications", after[i].verifications - before[i].verifications},
                        {"rss_bytes", after[i].rss_bytes},
                        {"peak_rss_bytes", after[i].peak_rss_bytes}});
  report["per_node"] = per_node;

  std::printf("\n== peerchain-bench report ==\n");
  std::printf("transfers: %llu submitted, %llu accepted, %llu in the final chain, %llu lost, %llu duplicated\n",
              static_cast<unsigned long long>(s.hex.size()), static_cast<unsigned long long>(n_accepted),
              static_cast<unsigned long long>(found), static_cast<unsigned long long>(lost),
              static_cast<unsigned long long>(duplicates));
  for (const auto& [reason, count] : rejected) std::printf("  rejected %s: %llu\n", reason.c_str(), static_cast<unsigned long long>(count));
  std::printf("throughput: %.0f transfers/s until every node's chain held them (%.2f s)\n", tps, last_included - first_submit);
  std::printf("signature limit: %.0f transfers/s; achieved %.2f of it\n", sig_limit, sig_limit > 0 ? tps / sig_limit : 0);
  std::printf("inclusion latency (submitted -> in a block on every node): p50 %.0f ms, p90 %.0f ms, p99 %.0f ms (%.1f block intervals)\n",
              percentile(latency, 50), percentile(latency, 90), percentile(latency, 99), percentile(latency, 99) / block_interval_ms);
  std::printf("blocks: %u; propagation p50 %.1f ms, p99 %.1f ms (%zu samples); stale %llu (%.1f per hundred); "
              "%llu found after the final read, not judged\n",
              tip_height - start_height, percentile(propagation, 50), percentile(propagation, 99), propagation.size(),
              static_cast<unsigned long long>(stale), report["stale_per_hundred"].get<double>(),
              static_cast<unsigned long long>(blocks_seen.after_final_read));
  if (stale)
    std::printf("stale by cause: raced (mined before the winner existed) %llu, winner in flight (mined while the winner "
                "was relayed or validated) %llu, old tip (mined after its miner held the winner) %llu\n",
                static_cast<unsigned long long>(blocks_seen.stale_raced),
                static_cast<unsigned long long>(blocks_seen.stale_in_flight),
                static_cast<unsigned long long>(blocks_seen.stale_old_tip));
  {
    const auto& cr = report["compact_relay"];
    std::printf("block relay: %.0f sketches of %.0f bytes (with blocktxn answers) for blocks of %.0f bytes (%.1f%%); "
                "%.0f blocks sent whole (%.0f bytes each); rebuilt without a round trip %.0f, with one %.0f, fell back %.0f "
                "(%.2f without a round trip)\n",
                cr["sketches_sent"].get<double>(), cr["sketch_bytes_per_block"].get<double>(),
                cr["full_bytes_per_sketched_block"].get<double>(), 100 * cr["sketch_fraction_of_block"].get<double>(),
                cr["blocks_sent_whole"].get<double>(), cr["bytes_per_block_sent_whole"].get<double>(),
                cr["rebuilt_without_round_trip"].get<double>(), cr["rebuilt_with_round_trip"].get<double>(),
                cr["fell_back_to_block"].get<double>(), cr["fraction_without_round_trip"].get<double>());
  }
  for (size_t i = 0; i < n_nodes; ++i) {
    std::string q;
    for (const auto& v : per_node[i]["rss_quarters"]) q += (q.empty() ? "" : " -> ") + fmt_mb(v.get<double>());
    std::printf("node%zu rss over the run: %s\n", i, q.c_str());
  }
  for (size_t i = 0; i < n_nodes; ++i)
    std::printf("node%zu %s: cpu %.1f s, %.0f signature verifications, rss %s, peak rss %s\n", i,
                per_node[i]["address"].get<std::string>().c_str(), after[i].cpu_seconds - before[i].cpu_seconds,
                after[i].verifications - before[i].verifications, fmt_mb(after[i].rss_bytes).c_str(),
                fmt_mb(after[i].peak_rss_bytes).c_str());
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << report.dump(2) << "\n";
  } else {
    std::printf("%s\n", report.dump().c_str());
  }
  return lost == 0 && duplicates == 0 ? 0 : 3;
}

// Sync mode: the last node misses K blocks (with transactions) while down, then restarts.
int run_sync(const Options& o, apps::load::LocalCluster& cluster, const std::vector<Target>& targets) {
  auto params = consensus::dev_params();
  const size_t down = targets.size() - 1;
  rpc::RpcClient c0(targets[0].host, targets[0].port, 600'000);
  std::vector<crypto::SecretKey> keys;
  std::vector<AccountKey> pubs;
  for (uint32_t i = 0; i < o.accounts; ++i) {
    keys.push_back(account_key(o.seed, i));
    pubs.push_back(keys.back().pubkey());
  }
  uint64_t total = static_cast<uint64_t>(o.sync_blocks) * o.sync_txs_per_block;
  auto nonces = fund_accounts(params, targets, pubs, total / o.accounts + 1, true);
  Signed s = presign(params.chain_id, keys, pubs, nonces, total, o.seed);
  cluster.stop_node(down);
  auto base = call_or_die(c0, "getblockchaininfo")["height"].get<uint32_t>();
  std::printf("node%zu stopped at height %u; making %u blocks of %u transfers on node0\n", down, base, o.sync_blocks,
              o.sync_txs_per_block);
  auto t_make = Clock::now();
  const uint32_t chunk_blocks = std::max<uint32_t>(1, 20'000 / std::max<uint32_t>(1, o.sync_txs_per_block));
  size_t next = 0;
  for (uint32_t made = 0; made < o.sync_blocks;) {
    uint32_t blocks = std::min(chunk_blocks, o.sync_blocks - made);
    size_t end = std::min(s.hex.size(), next + static_cast<size_t>(blocks) * o.sync_txs_per_block);
    if (end > next) {
      Json hexes = Json::array();
      for (size_t k = next; k < end; ++k) hexes.push_back(s.hex[k]);
      call_or_die(c0, "sendtransactions", Json::array({hexes}));
      next = end;
    }
    auto ids = call_or_die(c0, "generate", Json::array({blocks, primitives::encode_address(params.address_prefix, pubs[0]),
                                                        o.sync_txs_per_block}));
    made += static_cast<uint32_t>(ids.size());
  }
  auto target_height = call_or_die(c0, "getblockchaininfo")["height"].get<uint32_t>();
  auto target_tip = call_or_die(c0, "getblockchaininfo")["tip"].get<std::string>();
  std::printf("made %u blocks in %.1f s; restarting node%zu\n", target_height - base, seconds_since(t_make, Clock::now()), down);
  auto t0 = Clock::now();
  if (auto st = cluster.start_node(down); !st) die(st.error().to_string());
  if (auto st = cluster.wait_ready(down, 60'000); !st) die(st.error().to_string());
  double ready = seconds_since(t0, Clock::now());
  rpc::RpcClient c(targets[down].host, targets[down].port, 10'000);
  auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);
  uint32_t h = 0;
  ProgressTicker progress;
  for (;;) {
    auto info = call_or_die(c, "getblockchaininfo");
    h = info["height"].get<uint32_t>();
    if (progress.due())
      std::printf("catching up: height %u of %u (%.0f blocks/s)\n", h, target_height,
                  (h > base ? h - base : 0) / seconds_since(t0, Clock::now()));
    if (h >= target_height && info["tip"].get<std::string>() == target_tip) break;
    if (Clock::now() > deadline) die("node did not catch up within the timeout (height " + std::to_string(h) + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  double secs = seconds_since(t0, Clock::now());
  uint32_t k = target_height - base;
  uint64_t txs = static_cast<uint64_t>(k) * o.sync_txs_per_block;
  Json report{{"mode", "sync"},
              {"blocks", k},
              {"transfers", txs},
              {"seconds_from_restart", secs},
              {"seconds_until_api_answered", ready},
              {"blocks_per_second", k / secs},
              {"transfers_per_second", static_cast<double>(txs) / secs},
              {"node_stats", {{"peak_rss_bytes", node_stats(targets[down]).peak_rss_bytes}}}};
  std::printf("\n== peerchain-bench sync report ==\n");
  std::printf("node%zu caught up %u blocks (%llu transfers) in %.2f s from restart (API answered after %.2f s): "
              "%.0f blocks/s, %.0f transfers/s\n",
              down, k, static_cast<unsigned long long>(txs), secs, ready, k / secs, static_cast<double>(txs) / secs);
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << report.dump(2) << "\n";
  } else {
    std::printf("%s\n", report.dump().c_str());
  }
  return 0;
}

std::string self_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.rfind('/'));
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines appear as they happen, also in logs
  Options o;
  CLI::App app{"peerchain-bench: load and catch-up benchmark of a local peerchain network (docs/performance.md)"};
  app.add_option("--nodes", o.nodes, "nodes to start on 127.0.0.1 (default 3)")->check(CLI::Range(1, 16));
  app.add_option("--connect", o.connect, "HOST:PORT of running dev nodes to load instead of starting a network")
      ->delimiter(',');
  app.add_option("--bin", o.bin, "directory holding peerchaind (default: this program's)");
  app.add_option("--dir", o.dir, "where the started nodes keep their data (default: a new /tmp directory)");
  app.add_option("--accounts", o.accounts, "funded accounts sending transfers (default 1000)")->check(CLI::Range(1u, 100'000u));
  app.add_option("--transfers", o.transfers, "transfers to submit (default 100000)")->check(CLI::Range(uint64_t{1}, uint64_t{10'000'000}));
  app.add_option("--rate", o.rate, "open-loop submission rate in transfers/s (default 0: full speed)")->check(CLI::Range(0.0, 1e7));
  app.add_option("--batch", o.batch, "transfers per sendtransactions call (default 500)")->check(CLI::Range(size_t{1}, size_t{50'000}));
  app.add_option("--json", o.json_path, "write the JSON report here (default: printed)");
  app.add_option("--timeout", o.timeout_s, "seconds to wait for inclusion / catch-up (default 300)")->check(CLI::Range(1, 86'400));
  app.add_option("--seed", o.seed, "account and workload seed (default 1)");
  app.add_option("--sync-blocks", o.sync_blocks, "sync mode: blocks the restarted node missed (K)")->check(CLI::Range(0u, 1'000'000u));
  app.add_option("--sync-txs-per-block", o.sync_txs_per_block, "sync mode: transfers per block (default 10)")->check(CLI::Range(0u, 50'000u));
  app.add_option("--hash-rate", o.hash_rate, "miner cap passed to started nodes (default: the network's)")->check(CLI::Range(0.0, 1e12));
  app.add_flag("--keep", o.keep, "keep the started nodes' data directory");
  app.add_option("--progress-seconds", o.progress_s, "a progress line this often while submitting and waiting (default 5)")
      ->check(CLI::Range(1, 3600));
  std::string compact_relay = "on";
  app.add_option("--compact-relay", compact_relay, "started nodes relay blocks as sketches (on) or whole (off)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--node-arg", o.node_args, "extra argument for every started node (repeatable), e.g. --node-arg=--log-level=debug");
  app.set_version_flag("--version", util::version_line("peerchain-bench"));
  apps::strict_numbers(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; a bad flag is refused with CLI11's one-line message and 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  g_progress_s = o.progress_s;
  if (o.sync_blocks && !o.connect.empty()) die("--sync-blocks needs a network this tool starts (not --connect)");
  if (o.sync_blocks && o.nodes < 2) die("--sync-blocks needs at least 2 nodes");

  std::vector<Target> targets;
  std::unique_ptr<apps::load::LocalCluster> cluster;
  if (!o.connect.empty()) {
    for (const auto& c : o.connect) {
      auto hp = util::parse_host_port(c);
      if (!hp) die("--connect " + c + ": expected HOST:PORT");
      targets.push_back({hp->host, hp->port});
    }
  } else {
    apps::load::ClusterOptions co;
    co.peerchaind = (o.bin.empty() ? self_dir() : o.bin) + "/peerchaind";
    if (o.dir.empty()) {
      char tmpl[] = "/tmp/peerchain-bench-XXXXXX";
      if (!::mkdtemp(tmpl)) die("cannot create a temporary directory");
      o.dir = tmpl;
    }
    co.dir = o.dir;
    co.nodes = o.nodes;
    co.mine = o.sync_blocks == 0;
    if (o.hash_rate >= 0) co.extra_args = {"--hash-rate", std::to_string(o.hash_rate)};
    co.extra_args.insert(co.extra_args.end(), o.node_args.begin(), o.node_args.end());
    co.extra_args.insert(co.extra_args.end(), {"--compact-relay", compact_relay});
    cluster = std::make_unique<apps::load::LocalCluster>(co);
    g_cluster = cluster.get();
    if (auto st = cluster->start(); !st) die(st.error().to_string());
    for (const auto& n : cluster->nodes()) targets.push_back({n.host, n.port});
    std::printf("started %d nodes in %s\n", o.nodes, o.dir.c_str());
  }
  int rc = o.sync_blocks ? run_sync(o, *cluster, targets) : run_load(o, targets);
  if (cluster) {
    g_cluster = nullptr;
    cluster.reset();
    if (!o.keep) std::filesystem::remove_all(o.dir);
  }
  return rc;
}

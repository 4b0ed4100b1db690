// peerchain-cli — the user's client: keys kept locally, transactions signed locally, the node
// spoken to over JSON-RPC, and a local development network (`testnet`).
// Every failure exits non-zero with one line on stderr ("error: ..."): 1 failure, 2 usage.
// docs/cli.md lists every subcommand with an example.
#include <CLI/CLI.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "apps/cli/keystore.h"
#include "apps/cli/local_token.h"
#include "apps/cli/testnet.h"
#include "apps/load/event_stream.h"
#include "apps/flags.h"
#include "consensus/params.h"
#include "consensus/pow.h"
#include "primitives/address.h"
#include "rpc/http_client.h"
#include "util/host_port.h"
#include "util/version.h"

using namespace peerchain;
using rpc::Json;
namespace cli = apps::cli;

namespace {

using Clock = std::chrono::steady_clock;

struct Globals {
  std::string node = "127.0.0.1:19333";
  std::string api_token;  // admin methods; default: $PEERCHAIN_API_TOKEN
  bool json = false;
  std::string home;
  std::string network = "dev";
  uint64_t timeout_s = 5;  // each call to the node (plus what a call waits for on purpose)
  // Derived.
  std::string host;
  uint16_t port = 0;
  consensus::Params params;
};

int fail(const std::string& why) {
  std::fprintf(stderr, "error: %s\n", why.c_str());
  return 1;
}
int fail(const util::Error& e) {
  if (e.code == "rpc:-26") return fail("rejected: " + e.message);
  return fail(e.message.empty() ? e.code : e.message);
}
int usage(const std::string& why) {
  std::fprintf(stderr, "error: %s (see peerchain-cli --help)\n", why.c_str());
  return 2;
}

void print_json(const Json& j) { std::printf("%s\n", j.dump(2).c_str()); }

std::string u64s(const Json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "-";
  if (j[key].is_number_unsigned()) return std::to_string(j[key].get<uint64_t>());
  if (j[key].is_number_integer()) return std::to_string(j[key].get<int64_t>());
  if (j[key].is_string()) return j[key].get<std::string>();
  return j[key].dump();
}

// "2026-11-30T17:35:13Z (12 s ago)" from a time in ms since the epoch, for people (--json keeps
// the raw number).
std::string human_time(const Json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number_unsigned()) return u64s(j, key);
  const uint64_t ms = j[key].get<uint64_t>();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char iso[32];
  std::strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  const int64_t age = (now_ms - static_cast<int64_t>(ms)) / 1000;
  std::string rel;
  const int64_t a = age < 0 ? -age : age;
  if (a < 120) rel = std::to_string(a) + " s";
  else if (a < 7200) rel = std::to_string(a / 60) + " min";
  else if (a < 172800) rel = std::to_string(a / 3600) + " h";
  else rel = std::to_string(a / 86400) + " days";
  return std::string(iso) + " (" + rel + (age < 0 ? " in the future)" : " ago)");
}

// "1 confirmation", "3 confirmations".
std::string plural(const Json& j, const char* key, const char* noun) {
  std::string n = u64s(j, key);
  return n + " " + noun + (n == "1" ? "" : "s");
}

// The difficulty of compact target `bits`: the easiest target over this one (1 at the limit).
std::string difficulty(const Json& j, const consensus::Params& p) {
  if (!j.contains("bits") || !j["bits"].is_number_unsigned()) return "-";
  auto target = consensus::decode_compact(static_cast<uint32_t>(j["bits"].get<uint64_t>()));
  if (!target || target->is_zero()) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", consensus::difficulty(p.pow_limit, *target));
  return buf;
}

std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  auto slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

struct Cli {
  Globals g;

  // A client whose calls each get --timeout, plus `wait_ms` for calls that wait on purpose
  // (generate, waitfortransaction).
  rpc::RpcClient client(int64_t wait_ms = 0) const {
    return rpc::RpcClient(g.host, g.port, static_cast<int64_t>(g.timeout_s) * 1000 + wait_ms, g.api_token);
  }

  // An admin method. Without --api-token, a node that wants its token (it listens beyond
  // loopback) is looked up on this machine and its HOME/api.token used; failing that, the error
  // says where the token is and how to pass it.
  util::Result<Json> admin_call(const std::string& method, const Json& params, int64_t wait_ms = 0) const {
    auto c = client(wait_ms);
    if (auto info = check_network(c); !info) return info;
    auto r = c.call(method, params);
    if (r || r.error().code != "rpc:" + std::to_string(rpc::code::kUnauthorized) || !g.api_token.empty()) return r;
    if (auto local = cli::find_local_api_token(g.port)) {
      rpc::RpcClient with_token(g.host, g.port, static_cast<int64_t>(g.timeout_s) * 1000 + wait_ms, local->token);
      return with_token.call(method, params);
    }
    return util::fail(r.error().code, r.error().message +
                                          "; the node wrote its token to HOME/api.token (HOME: its --home, default "
                                          "./peerchain-home): pass it with --api-token or PEERCHAIN_API_TOKEN");
  }

  std::string address(const crypto::SecretKey& k) const { return primitives::encode_address(g.params.address_prefix, k.pubkey()); }

  util::Result<cli::KeyStore> keys() const { return cli::KeyStore::open(g.home); }

  // The node must be on the network we sign for.
  util::Result<Json> check_network(rpc::RpcClient& c) const {
    auto info = c.call("getblockchaininfo");
    if (!info) return info;
    std::string net = (*info).value("network", std::string());
    if (net != g.network)
      return util::fail("network", "the node at " + g.node + " is on the '" + net + "' network, not '" + g.network +
                                       "' (--network); refusing to sign for it");
    if ((*info).contains("chain_id") && (*info)["chain_id"].is_number() &&
        (*info)["chain_id"].get<uint64_t>() != g.params.chain_id)
      return util::fail("network", "the node's chain id " + u64s(*info, "chain_id") + " differs from the " + g.network +
                                       " network's " + std::to_string(g.params.chain_id) + "; refusing to sign");
    return info;
  }

  // ---- keys ----
  int key_show_line(const cli::StoredKey& k, bool secret) const {
    if (g.json) {
      Json j{{"name", k.name}, {"address", address(k.secret)}, {"dev", k.dev}};
      if (secret) j["secret"] = k.secret.bytes().hex();
      print_json(j);
    } else if (secret) {
      std::printf("%s\n", k.secret.bytes().hex().c_str());
    } else {
      std::printf("%s\n", address(k.secret).c_str());
    }
    return 0;
  }

  int key_add(const std::string& name, const crypto::SecretKey& sk, bool dev) const {
    auto ks = keys();
    if (!ks) return fail(ks.error());
    if (auto r = ks->add(cli::StoredKey{name, sk, dev}); !r) return fail(r.error());
    return key_show_line(*ks->find(name), false);
  }

  int key_new(const std::string& name) const { return key_add(name, crypto::SecretKey::generate(), false); }

  int key_import(const std::string& name, const std::string& hex) const {
    auto bytes = util::FixedBytes<32>::from_hex(hex);
    if (!bytes) return usage("the secret must be 64 hex characters");
    auto sk = crypto::SecretKey::from_bytes(*bytes);
    if (!sk) return usage("the secret is not a valid secp256k1 secret key");
    return key_add(name, *sk, false);
  }

  int key_dev(const std::string& name, uint32_t id) const {
    if (g.network != "dev") return fail("development accounts are public keys: only for --network dev");
    if (id >= consensus::kDevAccounts)
      return usage("ID must be a development account 0.." + std::to_string(consensus::kDevAccounts - 1));
    return key_add(name, consensus::dev_account_key(id), true);
  }

  int key_list() const {
    auto ks = keys();
    if (!ks) return fail(ks.error());
    if (g.json) {
      Json arr = Json::array();
      for (const auto& k : ks->keys()) arr.push_back({{"name", k.name}, {"address", address(k.secret)}, {"dev", k.dev}});
      print_json(arr);
      return 0;
    }
    for (const auto& k : ks->keys())
      std::printf("%-20s %s%s\n", k.name.c_str(), address(k.secret).c_str(), k.dev ? "  (dev)" : "");
    return 0;
  }

  int key_show(const std::string& name, bool secret) const {
    auto ks = keys();
    if (!ks) return fail(ks.error());
    const auto* k = ks->find(name);
    if (!k) return fail("unknown key '" + name + "' (see peerchain-cli key list)");
    return key_show_line(*k, secret);
  }

  // ---- reads ----
  int status() const {
    auto c = client();
    auto r = c.call("getblockchaininfo");
    if (!r) return fail(r.error());
    if (g.json) return print_json(*r), 0;
    const Json& j = *r;
    std::printf("network       %s (chain id %s)\n", u64s(j, "network").c_str(), u64s(j, "chain_id").c_str());
    std::printf("height        %s\n", u64s(j, "height").c_str());
    std::printf("tip           %s\n", u64s(j, "tip").c_str());
    std::printf("tip time      %s\n", human_time(j, "tip_time_ms").c_str());
    std::printf("best header   %s%s\n", u64s(j, "best_header_height").c_str(),
                j.value("syncing", false) ? " (syncing)" : "");
    std::printf("work          %s\n", u64s(j, "cumulative_work").c_str());
    std::printf("mempool       %s transactions\n", u64s(j, "mempool_size").c_str());
    std::printf("peers         %s\n", u64s(j, "peers").c_str());
    std::printf("mining        %s\n", j.value("mining", false) ? "yes" : "no");
    return 0;
  }

  static Json block_ref(const std::string& s) {
    if (!s.empty() && s.size() <= 10 && s.find_first_not_of("0123456789") == std::string::npos)
      return Json(std::stoull(s));
    return Json(s);
  }

  int block(const std::string& ref) const {
    bool height = !ref.empty() && ref.size() <= 10 && ref.find_first_not_of("0123456789") == std::string::npos;
    if (!height && (ref.size() != 64 || !util::from_hex(ref)))
      return usage("block must be a height or a 64-hex block id");
    auto c = client();
    auto r = c.call("getblock", Json::array({block_ref(ref)}));
    if (!r) return fail(r.error());
    if (g.json) return print_json(*r), 0;
    const Json& b = *r;
    std::printf("block %s height %s\n", u64s(b, "id").c_str(), u64s(b, "height").c_str());
    std::printf("  prev %s\n  time %s\n  difficulty %s  nonce %s\n  miner %s\n  %s%s  txs %s  size %s\n",
                u64s(b, "prev_id").c_str(), human_time(b, "time_ms").c_str(), difficulty(b, g.params).c_str(),
                u64s(b, "nonce").c_str(), u64s(b, "miner").c_str(), plural(b, "confirmations", "confirmation").c_str(),
                b.value("in_active_chain", true) ? "" : " (not in the active chain)", u64s(b, "tx_count").c_str(),
                u64s(b, "size").c_str());
    if (b.contains("txs"))
      for (const auto& tx : b["txs"])
        std::printf("  tx %s %s -> %s amount %s fee %s\n", u64s(tx, "id").c_str(), u64s(tx, "from").c_str(),
                    u64s(tx, "to").c_str(), u64s(tx, "amount").c_str(), u64s(tx, "fee").c_str());
    return 0;
  }

  int tx(const std::string& id) const {
    if (id.size() != 64 || !util::from_hex(id)) return usage("a transaction id is 64 hex characters");
    auto c = client();
    auto r = c.call("gettransaction", Json::array({id}));
    if (!r) return fail(r.error());
    if (g.json) return print_json(*r), 0;
    const Json& t = *r;
    std::printf("tx %s\n  from %s\n  to %s\n  amount %s fee %s nonce %s\n  status %s", id.c_str(),
                u64s(t, "from").c_str(), u64s(t, "to").c_str(), u64s(t, "amount").c_str(), u64s(t, "fee").c_str(),
                u64s(t, "nonce").c_str(), u64s(t, "status").c_str());
    if (t.value("status", std::string()) == "confirmed")
      std::printf(" in block %s at height %s, %s%s", u64s(t, "block").c_str(), u64s(t, "height").c_str(),
                  plural(t, "confirmations", "confirmation").c_str(), t.value("final", false) ? " (final)" : "");
    std::printf("\n");
    return 0;
  }

  // ADDRESS or KEYNAME -> address; a mistyped address is refused, never sent.
  util::Result<std::string> resolve_account(const std::string& s) const {
    if (primitives::decode_address(g.params.address_prefix, s)) return s;
    if (cli::KeyStore::valid_name(s) && s.rfind(g.params.address_prefix + "1", 0) != 0) {
      auto ks = keys();
      if (!ks) return util::unexpected(ks.error());
      if (const auto* k = ks->find(s)) return address(k->secret);
      return util::fail("unknown", "'" + s + "' is neither a " + g.network + " address nor a stored key name");
    }
    auto e = primitives::decode_address(g.params.address_prefix, s);
    return util::fail("address", "invalid " + g.network + " address '" + s + "': " + e.error().message);
  }

  int account(const std::string& who) const {
    auto a = resolve_account(who);
    if (!a) return fail(a.error());
    auto c = client();
    auto r = c.call("getaccount", Json::array({*a}));
    if (!r) return fail(r.error());
    if (g.json) return print_json(*r), 0;
    const Json& j = *r;
    std::printf("address     %s\nbalance     %s\nnonce       %s\npending     %s (cost %s)\nnext nonce  %s\n", a->c_str(),
                u64s(j, "balance").c_str(), u64s(j, "nonce").c_str(), u64s(j, "pending").c_str(),
                u64s(j, "pending_cost").c_str(), u64s(j, "next_nonce").c_str());
    return 0;
  }

  // `rpc METHOD [PARAMS...]`: any JSON-RPC method, like bitcoin-cli. Each PARAM is JSON when it
  // parses as JSON (numbers, true, [..], {..}, "quoted") and a string otherwise. Admin methods
  // find a local node's token as admin commands do. The result is printed as JSON.
  int rpc(const std::string& method, const std::vector<std::string>& args) const {
    Json params = Json::array();
    for (const auto& a : args) {
      Json v = Json::parse(a, nullptr, /*allow_exceptions=*/false);
      params.push_back(v.is_discarded() ? Json(a) : v);
    }
    auto c = client(600'000);  // a method may wait on purpose (generate, waitfortransaction)
    auto r = c.call(method, params);
    if (!r && r.error().code == "rpc:" + std::to_string(rpc::code::kUnauthorized) && g.api_token.empty())
      r = admin_call(method, params, 600'000);
    if (!r) return fail(r.error());
    print_json(*r);
    return 0;
  }

  // addpeer / removepeer (admin): `peer add|remove HOST:PORT`.
  int peer_change(const char* method, const std::string& address) const {
    if (!util::parse_host_port(address)) return usage("peer address must be HOST:PORT");
    auto r = admin_call(method, Json::array({address}));
    if (!r) return fail(r.error());
    if (g.json) return print_json(*r), 0;
    std::printf("%s %s\n", method == std::string("addpeer") ? "added" : "removed", address.c_str());
    return 0;
  }

  // `stop` (admin): the node shuts down cleanly, as on SIGTERM.
  int stop_node() const {
    auto r = admin_call("stop", Json::array());
    if (!r) return fail(r.error());
    if (g.json) return print_json(*r), 0;
    std::printf("%s\n", r->is_string() ? r->get<std::string>().c_str() : r->dump().c_str());
    return 0;
  }

  // The tips of every branch the node knows (getchaintips): where forks are.
  int tips() const {
    auto c = client();
    auto r = c.call("getchaintips");
    if (!r) return fail(r.error());
    if (g.json) return print_json(*r), 0;
    std::printf("%-8s %-18s %-10s %s\n", "height", "tip", "branchlen", "status");
    const Json& list = r->is_object() && r->contains("tips") ? (*r)["tips"] : *r;
    for (const auto& t : list)
      std::printf("%-8s %-18s %-10s %s\n", u64s(t, "height").c_str(), u64s(t, "id").substr(0, 16).c_str(),
                  u64s(t, "branchlen").c_str(), u64s(t, "status").c_str());
    return 0;
  }

  int simple(const char* method) const {
    auto c = client();
    auto r = c.call(method);
    if (!r) return fail(r.error());
    if (g.json) return print_json(*r), 0;
    if (std::string(method) == "getmempoolinfo") {
      std::printf("transactions %s\nbytes        %s\n", u64s(*r, "size").c_str(), u64s(*r, "bytes").c_str());
    } else {
      std::printf("%-5s %-24s %-8s %-8s %-6s %-8s %s\n", "id", "address", "dir", "height", "score", "ping_ms", "agent");
      for (const auto& p : *r)
        std::printf("%-5s %-24s %-8s %-8s %-6s %-8s %s\n", u64s(p, "id").c_str(), u64s(p, "address").c_str(),
                    p.value("inbound", false) ? "inbound" : "outbound", u64s(p, "best_height").c_str(),
                    u64s(p, "score").c_str(), u64s(p, "ping_ms").c_str(), u64s(p, "user_agent").c_str());
      if (r->empty()) std::printf("(no peers)\n");
    }
    return 0;
  }

  int generate(uint64_t n, const std::string& to) const {
    if (g.network != "dev") return fail("generate is only available on the dev network");
    if (n == 0 || n > 10'000) return usage("N must be 1..10000");
    Json params = Json::array({n});
    if (!to.empty()) {
      auto a = resolve_account(to);
      if (!a) return fail(a.error());
      params.push_back(*a);
    }
    auto r = admin_call("generate", params, 600'000);
    if (!r) return fail(r.error());
    if (g.json) return print_json(*r), 0;
    for (const auto& id : *r) std::printf("%s\n", id.get<std::string>().c_str());
    return 0;
  }

  // ---- send ----
  // Waits until `id` has `conf` confirmations or the deadline passes; the gettransaction object.
  util::Result<Json> wait_tx(rpc::RpcClient& c, const std::string& id, uint64_t conf, Clock::time_point deadline,
                             bool& use_wait_method) const {
    while (use_wait_method) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left < 0) left = 0;
      auto r = c.call("waitfortransaction", Json::array({id, conf, std::min<int64_t>(left, 600'000)}));
      if (r) return r;
      if (r.error().code == "rpc:-32601") {
        use_wait_method = false;  // an older node: poll instead
        break;
      }
      if (r.error().code == "rpc:-10" && Clock::now() < deadline) continue;  // capped wait ended early
      if (r.error().code == "rpc:-9") {  // too many waiters: poll this one
        break;
      }
      if (r.error().code == "rpc:-10") break;
      return r;
    }
    for (;;) {
      auto r = c.call("gettransaction", Json::array({id}));
      if (!r && r.error().code != "rpc:-5") return r;
      if (r && (*r).value("confirmations", uint64_t{0}) >= conf && (*r).value("status", std::string()) == "confirmed")
        return r;
      if (Clock::now() >= deadline) {
        std::string have = r ? u64s(*r, "confirmations") + " confirmations" : "not known to the node";
        return util::fail("timeout", "timeout: transaction " + id + " has " + have + ", wanted " + std::to_string(conf));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  int send(const std::string& from, const std::string& to, uint64_t amount, uint64_t fee, uint64_t count,
           std::optional<uint64_t> wait_conf, uint64_t timeout_s) const {
    if (amount == 0 || amount > primitives::kMaxMoney) return usage("--amount must be a positive amount");
    if (fee > primitives::kMaxMoney) return usage("--fee is too large");
    if (count == 0 || count > 50'000) return usage("--count must be 1..50000");
    if (timeout_s == 0 || timeout_s > 86'400) return usage("--timeout must be 1..86400 seconds");
    if (wait_conf && *wait_conf == 0) return usage("--wait needs at least 1 confirmation");
    auto to_key = primitives::decode_address(g.params.address_prefix, to);
    if (!to_key) return fail("invalid " + g.network + " address '" + to + "': " + to_key.error().message);
    auto ks = keys();
    if (!ks) return fail(ks.error());
    const auto* k = ks->find(from);
    if (!k) return fail("unknown key '" + from + "' (see peerchain-cli key list)");
    if (k->dev && g.network != "dev")
      return fail("key '" + from + "' is a public development key; refusing to use it on the " + g.network + " network");
    if (k->secret.pubkey() == *to_key) return fail("--to is the sender's own address");
    auto c = client(static_cast<int64_t>(timeout_s) * 1000);
    if (auto info = check_network(c); !info) return fail(info.error());
    std::string from_addr = address(k->secret);
    auto acc = c.call("getaccount", Json::array({from_addr}));
    if (!acc) return fail(acc.error());
    uint64_t nonce = (*acc).value("next_nonce", uint64_t{0});
    // In calls of at most 5,000 transfers (~1.6 MB of hex), well under the node's 8 MiB body cap.
    constexpr uint64_t kPerCall = 5'000;
    auto r = util::Result<Json>(Json::array());
    for (uint64_t first = 0; first < count; first += kPerCall) {
      const uint64_t n = std::min(kPerCall, count - first);
      Json hexes = Json::array();
      for (uint64_t i = first; i < first + n; ++i) {
        auto t = primitives::make_transfer(g.params.chain_id, k->secret, *to_key, amount, fee, nonce + i);
        hexes.push_back(util::to_hex(primitives::encode_transaction(t)));
      }
      auto part = c.call("sendtransactions", Json::array({hexes}));
      if (!part) return fail(part.error());
      if (!part->is_array() || part->size() != n) return fail("the node answered sendtransactions with a malformed result");
      for (auto& item : *part) r->push_back(std::move(item));
    }
    int rejected = 0;
    Json out = Json::array();
    std::vector<std::string> ids;
    for (const auto& item : *r) {
      if (item.contains("id")) {
        ids.push_back(item["id"].get<std::string>());
        out.push_back({{"id", ids.back()}});
        if (!g.json) std::printf("%s\n", ids.back().c_str());
      } else {
        ++rejected;
        std::string reason = item.contains("error") ? item["error"].value("reason", std::string("rejected")) : "rejected";
        std::string msg = item.contains("error") ? item["error"].value("message", std::string()) : "";
        std::string line = msg.rfind(reason, 0) == 0 ? msg : reason + (msg.empty() ? "" : ": " + msg);
        out.push_back({{"error", item.value("error", Json::object())}});
        std::fprintf(stderr, "error: rejected: %s\n", line.c_str());
      }
    }
    std::fflush(stdout);
    int rc = rejected ? 1 : 0;
    if (wait_conf && !ids.empty()) {
      auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
      bool use_wait = true;
      size_t idx = 0;
      for (auto& o : out) {
        if (!o.contains("id")) continue;
        auto w = wait_tx(c, ids[idx++], *wait_conf, deadline, use_wait);
        if (!w) {
          rc = fail(w.error());
          break;
        }
        o["tx"] = *w;
        if (!g.json)
          std::printf("confirmed %s in block %s at height %s (%s)\n", u64s(*w, "id").c_str(),
                      u64s(*w, "block").c_str(), u64s(*w, "height").c_str(),
                      plural(*w, "confirmations", "confirmation").c_str());
        std::fflush(stdout);
      }
    }
    if (g.json) print_json(out);
    return rc;
  }

  // ---- watch ----
  int watch(uint64_t count) const;
};

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }

// Reorg events from the node's /ws stream, queued for the polling loop. The depth watch prints
// is the node's own number: counting the blocks watch itself printed (as watch once did) gives
// less whenever the node's old branch started before watch did or between two polls.
class ReorgFeed {
 public:
  ReorgFeed(const std::string& host, uint16_t port) {
    auto s = apps::load::EventStream::open(host, port, "reorg", [this](const Json& ev, auto) {
      if (ev.value("type", std::string()) != "reorg") return;
      std::lock_guard lock(mu_);
      if (events_.size() < 64) events_.push_back(ev);  // watch drains it every poll
      cv_.notify_all();
    });
    if (s) stream_ = std::move(*s);
  }
  bool connected() const { return stream_ && stream_->connected(); }
  // The events queued so far, waiting up to `wait` for a first one (the poll may see the new tip
  // a moment before the node's event arrives).
  std::vector<Json> take(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    if (connected()) cv_.wait_for(lock, wait, [this] { return !events_.empty(); });
    std::vector<Json> out;
    out.swap(events_);
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Json> events_;
  std::unique_ptr<apps::load::EventStream> stream_;  // last: stopped before the queue goes
};

int Cli::watch(uint64_t count) const {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  auto c = client();
  auto info = c.call("getblockchaininfo");
  if (!info) return fail(info.error());
  ReorgFeed feed(g.host, g.port);  // before the first poll: no reorg slips between the two
  uint64_t tip_h = (*info)["height"].get<uint64_t>();
  std::string tip = (*info)["tip"].get<std::string>();
  if (!g.json) std::printf("watching %s: height %llu tip %s\n", g.node.c_str(), static_cast<unsigned long long>(tip_h), tip.c_str());
  std::fflush(stdout);
  feed.take(std::chrono::milliseconds(0));  // reorgs before watch started are not watch's
  uint64_t printed = 0;
  constexpr int kMaxWalk = 1000;  // blocks walked back per poll, either branch
  while (!g_stop && (count == 0 || printed < count)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    auto now = c.call("getblockchaininfo");
    if (!now) {
      if (g_stop) break;
      return fail(now.error());
    }
    std::string new_tip = (*now)["tip"].get<std::string>();
    if (new_tip == tip) continue;
    // The fork point: walk back from the old tip until a block of the node's active chain.
    uint64_t fork_h = tip_h;
    std::string cur = tip;
    for (int steps = 0; steps < kMaxWalk; ++steps) {
      auto b = c.call("getblock", Json::array({cur, 1}));
      if (!b) return fail(b.error());
      fork_h = (*b)["height"].get<uint64_t>();
      if ((*b)["in_active_chain"].get<bool>() || fork_h == 0) break;
      cur = (*b)["prev_id"].get<std::string>();
    }
    if (fork_h < tip_h) {
      uint64_t depth = tip_h - fork_h;
      Json node_events = Json::array();
      for (auto& ev : feed.take(std::chrono::milliseconds(2000))) node_events.push_back(std::move(ev));
      // One node event for this change: its count is the depth. Several (reorgs between two
      // polls): the deepest reached back to the fork watch sees, so print the largest.
      for (const auto& ev : node_events) depth = std::max<uint64_t>(depth, ev.value("disconnected", uint64_t{0}));
      if (g.json)
        std::printf("%s\n", Json{{"reorg", {{"replaced", depth}, {"depth", depth}, {"fork_height", fork_h},
                                            {"from_height", fork_h + 1}, {"old_tip", tip},
                                            {"node_events", node_events}}}}.dump().c_str());
      else
        std::printf("reorg: %llu block%s replaced from height %llu (fork at height %llu, old tip %s)\n",
                    static_cast<unsigned long long>(depth), depth == 1 ? "" : "s",
                    static_cast<unsigned long long>(fork_h + 1), static_cast<unsigned long long>(fork_h),
                    tip.substr(0, 16).c_str());
    } else {
      feed.take(std::chrono::milliseconds(0));
    }
    // The new blocks: from the new tip back to the fork point (or the old tip).
    std::vector<Json> fresh;
    cur = new_tip;
    for (int steps = 0; steps < kMaxWalk; ++steps) {
      auto b = c.call("getblock", Json::array({cur, 1}));
      if (!b) return fail(b.error());
      uint64_t h = (*b)["height"].get<uint64_t>();
      if (h <= fork_h) break;
      fresh.push_back(*b);
      cur = (*b)["prev_id"].get<std::string>();
    }
    for (auto it = fresh.rbegin(); it != fresh.rend(); ++it) {
      const Json& b = *it;
      uint64_t h = b["height"].get<uint64_t>();
      if (g.json)
        std::printf("%s\n", Json{{"height", h}, {"id", b["id"]}, {"tx_count", b.value("tx_count", uint64_t{0})}}.dump().c_str());
      else
        std::printf("block %llu %s txs %s\n", static_cast<unsigned long long>(h), b["id"].get<std::string>().c_str(),
                    u64s(b, "tx_count").c_str());
      ++printed;
    }
    std::fflush(stdout);
    tip = new_tip;
    tip_h = (*now)["height"].get<uint64_t>();
  }
  return 0;
}

// Edit distance, for "did you mean".
size_t distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The first word that is not a global option or its value must name a command: otherwise
// "unknown command 'stauts' (did you mean 'status'?)" instead of CLI11's "arguments were not
// expected".
std::optional<std::string> unknown_command(CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("-", 0) == 0) {
      if (a.find('=') == std::string::npos) {
        auto* opt = app.get_option_no_throw(a);
        if (opt && opt->get_items_expected_min() > 0 && i + 1 < argc) ++i;  // its value (flags have none)
      }
      continue;
    }
    std::vector<std::string> names;
    for (auto* s : app.get_subcommands({})) names.push_back(s->get_name());
    if (std::find(names.begin(), names.end(), a) != names.end()) return std::nullopt;
    std::string best;
    size_t best_d = 3;  // suggest only what is a typo away
    for (const auto& n : names)
      if (size_t d = distance(a, n); d < best_d) best = n, best_d = d;
    return "unknown command '" + a + "'" + (best.empty() ? "" : " (did you mean '" + best + "'?)");
  }
  return std::nullopt;
}

bool parse_node(const std::string& s, std::string& host, uint16_t& port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  auto p = s.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) return false;
  unsigned long v = std::stoul(p);
  if (v == 0 || v > 65535) return false;
  host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  port = static_cast<uint16_t>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Cli runner;
  Globals& g = runner.g;
  CLI::App app{"peerchain-cli: keys, transfers and queries against a peerchain node; local test networks"};
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--node", g.node, "HOST:PORT of the node's API")->capture_default_str();
  app.add_flag("--json", g.json, "machine output: the raw JSON result");
  app.add_option("--api-token", g.api_token, "token for admin methods (generate, addpeer); default: $PEERCHAIN_API_TOKEN")
      ->envname("PEERCHAIN_API_TOKEN");
  app.add_option("--home", g.home, "client directory with keys.json (default: $HOME/.peerchain)");
  app.add_option("--network", g.network, "dev or main: address prefix and chain id to sign for")->capture_default_str();
  app.add_option("--timeout", g.timeout_s, "seconds each call to a node may take before it counts as not answering")
      ->check(CLI::Range(uint64_t{1}, uint64_t{3'600}))
      ->capture_default_str();

  auto* key = app.add_subcommand("key", "manage local keys")->require_subcommand(1);
  std::string name, hex, ref;
  uint32_t dev_id = 0;
  bool show_secret = false;
  auto* key_new = key->add_subcommand("new", "generate a key, store it, print its address");
  key_new->add_option("NAME", name, "name for the key (1-64 of A-Z a-z 0-9 _ . -)")->required();
  auto* key_list = key->add_subcommand("list", "list stored keys");
  auto* key_show = key->add_subcommand("show", "print a key's address (or secret)");
  key_show->add_option("NAME", name, "the stored key's name")->required();
  key_show->add_flag("--secret", show_secret, "print the secret key hex instead");
  auto* key_import = key->add_subcommand("import", "store a secret key given as hex");
  key_import->add_option("NAME", name, "name for the key")->required();
  key_import->add_option("HEX", hex, "the secret key: 64 hex characters")->required();
  auto* key_dev = key->add_subcommand("dev", "store development account ID's key (dev network only)");
  key_dev->add_option("NAME", name, "name for the key")->required();
  key_dev->add_option("ID", dev_id, "development account number (the dev genesis funds 0..99)")->required();

  std::string from, to;
  uint64_t amount = 0, fee = 1, count = 1, timeout_s = 60;
  std::string wait_s;
  auto* send = app.add_subcommand("send", "sign transfers locally and submit them");
  send->add_option("--from", from, "name of the sending key")->required();
  send->add_option("--to", to, "recipient address")->required();
  send->add_option("--amount", amount, "amount per transfer")->required();
  send->add_option("--fee", fee, "fee per transfer")->capture_default_str();
  send->add_option("--count", count, "number of transfers (consecutive nonces)")->capture_default_str();
  auto* wait_opt = send->add_option("--wait", wait_s, "wait for CONFIRMATIONS (default 1)")->expected(0, 1);
  send->add_option("--timeout", timeout_s, "seconds --wait waits (this command's --timeout)")->capture_default_str();

  auto* status = app.add_subcommand("status", "the node's chain status");
  auto* block = app.add_subcommand("block", "a block by height or id");
  block->add_option("REF", ref, "HEIGHT or ID")->required();
  auto* tx = app.add_subcommand("tx", "a transaction by id");
  tx->add_option("ID", ref, "transaction id: 64 hex characters")->required();
  auto* account = app.add_subcommand("account", "an account's balance, nonce and pending");
  account->add_option("WHO", ref, "ADDRESS or KEYNAME")->required();
  auto* peers = app.add_subcommand("peers", "the node's peers");
  auto* mempool = app.add_subcommand("mempool", "the node's mempool");
  uint64_t gen_n = 0;
  std::string gen_to;
  auto* generate = app.add_subcommand("generate", "mine N blocks now (dev network)");
  generate->add_option("N", gen_n, "blocks to mine (1..10000)")->required();
  generate->add_option("--to", gen_to, "address or key name paid (default: the node's miner address, else dev account 0)");
  uint64_t watch_count = 0;
  auto* watch = app.add_subcommand("watch", "follow new blocks until Ctrl-C");
  watch->add_option("--count", watch_count, "exit after this many new blocks");

  std::string rpc_method;
  std::vector<std::string> rpc_args;
  auto* rpc_cmd = app.add_subcommand("rpc", "call any JSON-RPC method: rpc METHOD [PARAMS...] (each PARAM JSON or a string)");
  rpc_cmd->add_option("METHOD", rpc_method, "the method, e.g. getblockchaininfo")->required();
  rpc_cmd->add_option("PARAMS", rpc_args, "positional parameters: JSON (5, true, [..], {..}) or plain strings");
  std::string peer_address;
  auto* peer = app.add_subcommand("peer", "add or remove a peer the node keeps connected to (admin)")->require_subcommand(1);
  auto* peer_add = peer->add_subcommand("add", "connect to HOST:PORT and keep redialling it");
  auto* peer_remove = peer->add_subcommand("remove", "stop redialling HOST:PORT and disconnect it");
  for (auto* s : {peer_add, peer_remove}) s->add_option("ADDRESS", peer_address, "HOST:PORT of the peer")->required();
  auto* tips = app.add_subcommand("tips", "the tip of every branch the node knows (forks)");
  auto* stop = app.add_subcommand("stop", "stop the node cleanly (admin)");
  std::string help_topic;
  auto* help = app.add_subcommand("help", "this help, or a command's: help [COMMAND]");
  help->add_option("COMMAND", help_topic, "the command to explain");
  auto* version = app.add_subcommand("version", "the version, git commit and build type");

  cli::TestnetOptions tn;
  auto* testnet = app.add_subcommand("testnet", "a local dev network of peerchaind processes")->require_subcommand(1);
  auto* tn_start = testnet->add_subcommand("start", "start N nodes peered with each other");
  tn_start->add_option("--nodes", tn.nodes, "number of nodes (1..16)")->required()->check(CLI::Range(1, 16));
  auto* tn_status = testnet->add_subcommand("status", "each node's height, tip and peers");
  auto* tn_stop = testnet->add_subcommand("stop", "stop the nodes and forget the testnet");
  cli::RecordOptions rec;
  auto* tn_record = testnet->add_subcommand("record", "record the running testnet into FILE (the simulation's trace format: "
                                            "open it in the web view's replay page) until Ctrl-C");
  tn_record->add_option("FILE", rec.file, "the trace to write (JSON lines)")->required();
  tn_record->add_option("--duration", rec.duration_s, "stop after this many seconds (default: at Ctrl-C)")->check(CLI::Range(0.0, 1e7));
  tn_record->add_option("--interval", rec.interval_ms, "milliseconds between polls of every node (default 250)")
      ->check(CLI::Range(50, 60'000));
  for (auto* s : {tn_start, tn_status, tn_stop, tn_record})
    s->add_option("--dir", tn.dir, "testnet directory (default: $HOME/.peerchain/testnet)");
  tn_start->add_option("--base-port", tn.base_port, "node K listens on BASE+K")->capture_default_str();
  tn_start->add_flag("--mine", tn.mine, "every node mines");
  for (auto* s : app.get_subcommands({})) {
    s->fallthrough();
    // A command's help also names the global options it accepts (CLI11 lists only its own).
    s->footer("Global options (before or after the command): --node HOST:PORT, --json, --home DIR, "
              "--network dev|main, --timeout SECONDS, --api-token TOKEN; see peerchain-cli --help");
  }
  for (auto* s : {key, testnet, peer})
    for (auto* sub : s->get_subcommands({})) sub->fallthrough();

  send->get_option("--timeout")->check(CLI::Range(uint64_t{1}, uint64_t{86'400}));
  tn_start->get_option("--base-port")->check(CLI::Range(1, 65535 - 16));
  app.set_version_flag("--version", util::version_line("peerchain-cli"));
  apps::strict_numbers(app);
  if (auto bad = unknown_command(app, argc, argv)) return usage(*bad);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage(e.what());
  }

  if (*version) {
    std::printf("%s\n", util::version_line("peerchain-cli").c_str());
    return 0;
  }
  if (*help) {
    // The formatter directly: App::help() would describe the selected subcommand (`help`).
    if (help_topic.empty())
      return std::printf("%s", app.get_formatter()->make_help(&app, "peerchain-cli", CLI::AppFormatMode::Normal).c_str()), 0;
    CLI::App* topic = nullptr;
    for (auto* s : app.get_subcommands({}))
      if (s->get_name() == help_topic) topic = s;
    if (!topic) return usage("unknown command '" + help_topic + "'");
    std::printf("%s", topic->help().c_str());
    return 0;
  }
  if (!parse_node(g.node, g.host, g.port)) return usage("--node must be HOST:PORT");
  auto params = consensus::params_for(g.network);
  if (!params) return usage("--network must be dev or main");
  g.params = *params;
  const char* home_env = std::getenv("HOME");
  if (g.home.empty()) {
    if (!home_env || !*home_env) return usage("HOME is not set: pass --home DIR");
    g.home = std::string(home_env) + "/.peerchain";
  }

  if (*key_new) return runner.key_new(name);
  if (*key_list) return runner.key_list();
  if (*key_show) return runner.key_show(name, show_secret);
  if (*key_import) return runner.key_import(name, hex);
  if (*key_dev) return runner.key_dev(name, dev_id);
  if (*send) {
    std::optional<uint64_t> wait_conf;
    if (wait_opt->count() > 0) {
      if (wait_s.empty()) {
        wait_conf = 1;
      } else {
        if (wait_s.size() > 6 || wait_s.find_first_not_of("0123456789") != std::string::npos)
          return usage("--wait takes a number of confirmations");
        wait_conf = std::stoull(wait_s);
      }
    }
    return runner.send(from, to, amount, fee, count, wait_conf, timeout_s);
  }
  if (*status) return runner.status();
  if (*block) return runner.block(ref);
  if (*tx) return runner.tx(ref);
  if (*account) return runner.account(ref);
  if (*peers) return runner.simple("getpeerinfo");
  if (*mempool) return runner.simple("getmempoolinfo");
  if (*generate) return runner.generate(gen_n, gen_to);
  if (*watch) return runner.watch(watch_count);
  if (*rpc_cmd) return runner.rpc(rpc_method, rpc_args);
  if (*peer_add) return runner.peer_change("addpeer", peer_address);
  if (*peer_remove) return runner.peer_change("removepeer", peer_address);
  if (*tips) return runner.tips();
  if (*stop) return runner.stop_node();
  if (*testnet) {
    if (tn.dir.empty()) tn.dir = g.home + "/testnet";
    tn.peerchaind = self_dir() + "/peerchaind";
    tn.json = g.json;
    if (*tn_start) return cli::testnet_start(tn);
    if (*tn_status) return cli::testnet_status(tn);
    if (*tn_stop) return cli::testnet_stop(tn);
    if (*tn_record) return cli::testnet_record(tn, rec);
  }
  return usage("unknown command");
}

// peerchain-ledger — the ledger core on its own, without the network: open a node's data
// directory, mine blocks carrying development transfers, print, verify or reindex the chain.
// `make demo` runs it until the peer network lands; the crash-consistency test drives it.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

#include "apps/config.h"
#include "apps/flags.h"
#include "chain/chainstate.h"
#include "chain/miner.h"
#include "chain/parallel_verify.h"
#include "consensus/params.h"
#include "primitives/address.h"
#include "storage/database.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/version.h"

using namespace peerchain;

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

void print_chain(const chain::ChainState& cs) {
  const auto& p = cs.params();
  auto tip = cs.tip();
  std::printf("height %u tip %s\n", tip.height, tip.id.hex().c_str());
  for (uint32_t h = 0; h <= tip.height; ++h) {
    auto id = cs.block_id_at(h);
    if (!id) break;
    auto b = cs.block(*id);
    if (!b) break;
    std::printf("block %u %s txs %zu\n", h, id->hex().c_str(), b->txs.size());
    for (const auto& tx : b->txs)
      std::printf("  tx %s from %s to %s amount %llu fee %llu\n", tx.id().hex().c_str(),
                  primitives::encode_address(p.address_prefix, tx.sender).c_str(),
                  primitives::encode_address(p.address_prefix, tx.recipient).c_str(),
                  static_cast<unsigned long long>(tx.amount), static_cast<unsigned long long>(tx.fee));
  }
}

// Sends `count` transfers of `amount` from dev account `from` to dev account `from + 1`.
int send_dev_transfers(chain::ChainState& cs, uint32_t from, uint32_t count, primitives::Amount amount) {
  auto key = consensus::dev_account_key(from);
  auto to = consensus::dev_account_key(from + 1).pubkey();
  auto acc = cs.account(key.pubkey());
  auto [pending, cost] = cs.mempool_pending(key.pubkey());
  int accepted = 0;
  for (uint32_t i = 0; i < count; ++i) {
    auto tx = primitives::make_transfer(cs.params().chain_id, key, to, amount, 1, acc.nonce + pending + i);
    auto r = cs.submit_transaction(tx);
    if (r) {
      ++accepted;
      std::printf("sent %s\n", r->hex().c_str());
    } else {
      std::fprintf(stderr, "transfer refused: %s\n", r.error().to_string().c_str());
    }
  }
  return accepted;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"peerchain-ledger: the peerchain ledger core without the network"};
  app.require_subcommand(1);
  std::string datadir = "./peerchain-data";
  std::string network = "dev";
  std::string log_level = "warn";
  app.add_option("--datadir", datadir, "data directory (RocksDB)")->capture_default_str();
  app.add_option("--network", network, "main or dev")->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();

  uint32_t blocks = 5, transfers = 10, from = 1;
  uint64_t amount = 500;
  double hash_rate = -1;
  auto* demo = app.add_subcommand("demo", "mine blocks on a miner thread while sending dev transfers, then print the chain");
  demo->add_option("--blocks", blocks, "blocks to mine")->capture_default_str();
  demo->add_option("--transfers", transfers, "transfers to send (dev account --from to --from+1)")->capture_default_str();
  demo->add_option("--from", from, "dev account that sends")->capture_default_str();
  demo->add_option("--amount", amount, "amount per transfer")->capture_default_str();
  demo->add_option("--hash-rate", hash_rate, "miner hash-rate cap in hashes/s (0 = none; default: the network's)");

  uint32_t mine_blocks = 1, per_block = 0;
  auto* mine = app.add_subcommand("mine", "mine blocks at full speed on this thread, each carrying dev transfers");
  mine->add_option("--blocks", mine_blocks, "blocks to mine")->capture_default_str();
  mine->add_option("--transfers-per-block", per_block, "dev transfers put in each block")->capture_default_str();

  auto* print = app.add_subcommand("print", "print the active chain");
  auto* verify = app.add_subcommand("verify", "re-validate the chain from genesis and compare with the stored state");
  auto* reindex = app.add_subcommand("reindex", "rebuild the state from the stored blocks");
  demo->get_option("--blocks")->check(CLI::Range(1u, 1'000'000u));
  demo->get_option("--transfers")->check(CLI::Range(0u, 10'000'000u));
  demo->get_option("--hash-rate")->check(CLI::Range(0.0, apps::kMaxHashRate));
  mine->get_option("--blocks")->check(CLI::Range(1u, 1'000'000u));
  mine->get_option("--transfers-per-block")->check(CLI::Range(0u, 50'000u));
  app.set_version_flag("--version", util::version_line("peerchain-ledger"));
  apps::strict_numbers(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; a bad flag is refused with CLI11's one-line message and 2.
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (!util::set_log_level(log_level)) {
    std::fprintf(stderr, "error: invalid --log-level '%s'\n", log_level.c_str());
    return 2;
  }
  auto params = consensus::params_for(network);
  if (!params) {
    std::fprintf(stderr, "error: unknown network '%s' (main or dev)\n", network.c_str());
    return 2;
  }
  if (amount == 0 || amount > primitives::kMaxMoney) {
    std::fprintf(stderr, "error: --amount must be between 1 and %llu\n", static_cast<unsigned long long>(primitives::kMaxMoney));
    return 2;
  }
  // Only demo and mine may create a chain. print, verify and reindex read one that exists and
  // never create anything: pointed at an empty path or into a node's database directory
  // (HOME/chain instead of HOME) they refuse and say what to give instead.
  std::error_code ec;
  namespace fs = std::filesystem;
  if (!*demo && !*mine && !fs::exists(fs::path(datadir) / "chain" / "CURRENT", ec)) {
    if (fs::exists(fs::path(datadir) / "CURRENT", ec))
      std::fprintf(stderr, "error: %s is a database directory itself; give --datadir the directory that holds it (%s)\n",
                   datadir.c_str(), [&] {
                     auto dir = fs::path(datadir).lexically_normal();
                     if (!dir.has_filename()) dir = dir.parent_path();  // "home/chain/"
                     return dir.parent_path().empty() ? std::string(".") : dir.parent_path().string();
                   }().c_str());
    else
      std::fprintf(stderr, "error: no chain in %s (expected %s/chain); nothing was created\n", datadir.c_str(),
                   datadir.c_str());
    return 1;
  }
  fs::create_directories(datadir, ec);
  auto db = storage::Database::open(datadir + "/chain");
  if (!db) {
    std::fprintf(stderr, "error: %s\n", db.error().to_string().c_str());
    return 1;
  }
  util::SystemClock clock;
  // Declared before the chain, so it outlives it. Only the demo and mine commands take
  // transfers and blocks whose signatures the pool checks (verify and reindex check them in
  // consensus, one by one): the others start no threads.
  std::optional<chain::VerifyPool> verify_pool;
  if (*demo || *mine) verify_pool.emplace(chain::VerifyPool::default_workers());
  chain::ChainOptions chain_opts;
  chain_opts.verify_pool = verify_pool ? &*verify_pool : nullptr;
  // verify and reindex look at the stored state as it is: nothing is connected on open.
  chain_opts.activate_on_open = !*verify && !*reindex;
  auto cs = chain::ChainState::open(*params, std::move(*db), clock, chain_opts);
  if (!cs) {
    std::fprintf(stderr, "error: %s\n", cs.error().to_string().c_str());
    return 1;
  }
  chain::ChainState& chain = **cs;
  auto miner_key = consensus::dev_account_key(0).pubkey();

  if (*demo) {
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::printf("data directory %s, network %s, starting at height %u\n", datadir.c_str(), network.c_str(),
                chain.tip().height);
    send_dev_transfers(chain, from, transfers, amount);
    chain::MinerOptions mo = chain::default_miner_options(*params, miner_key);
    if (hash_rate >= 0) mo.max_hashes_per_second = hash_rate;
    std::printf("mining at up to %s hashes/s at idle priority\n",
                mo.max_hashes_per_second > 0 ? std::to_string(static_cast<long>(mo.max_hashes_per_second)).c_str() : "unlimited");
    chain::Miner miner(chain, mo);
    uint32_t target = chain.tip().height + blocks;
    miner.start();
    while (!g_stop.load() && chain.tip().height < target) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    miner.stop();
    std::printf("mined %llu blocks, %llu hashes; mempool now %zu\n",
                static_cast<unsigned long long>(miner.blocks_found()), static_cast<unsigned long long>(miner.hashes()),
                chain.mempool_size());
    print_chain(chain);
    return 0;
  }
  if (*mine) {
    for (uint32_t i = 0; i < mine_blocks; ++i) {
      if (per_block) {
        uint32_t sender = 1 + chain.tip().height % (consensus::kDevAccounts - 2);
        auto key = consensus::dev_account_key(sender);
        auto acc = chain.account(key.pubkey());
        auto [pending, cost] = chain.mempool_pending(key.pubkey());
        for (uint32_t t = 0; t < per_block; ++t)
          (void)chain.submit_transaction(primitives::make_transfer(
              params->chain_id, key, consensus::dev_account_key(sender + 1).pubkey(), 500, 1, acc.nonce + pending + t));
      }
      auto ids = chain::Miner::generate(chain, miner_key, 1);
      if (ids.empty()) {
        std::fprintf(stderr, "error: mining failed\n");
        return 1;
      }
      std::printf("block %u %s\n", chain.tip().height, ids[0].hex().c_str());
      std::fflush(stdout);
    }
    return 0;
  }
  if (*print) {
    print_chain(chain);
    return 0;
  }
  if (*verify) {
    auto st = chain.verify();
    if (!st) {
      std::fprintf(stderr, "verify failed: %s\n", st.error().to_string().c_str());
      return 1;
    }
    std::printf("ok height %u tip %s\n", chain.tip().height, chain.tip().id.hex().c_str());
    return 0;
  }
  if (*reindex) {
    auto st = chain.reindex();
    if (!st) {
      std::fprintf(stderr, "reindex failed: %s\n", st.error().to_string().c_str());
      return 1;
    }
    std::printf("reindexed to height %u tip %s\n", chain.tip().height, chain.tip().id.hex().c_str());
    return 0;
  }
  return 0;
}

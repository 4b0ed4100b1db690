// peerchain-sim: a whole peerchain network in one process and one thread, under a simulated
// clock and network, with a seeded nemesis and invariants (docs/simulation.md, ADR 0013).
//
//   peerchain-sim --seed 7                     one run; exit 1 on a violation, with its repro line
//   peerchain-sim --seeds 1..40 --jobs 2       a sweep: seeds on all cores, a line per seed, a total
//   peerchain-sim --seed 7 --record run.jsonl  the trace of every event (docs/spec/sim-trace.md)
//   peerchain-sim --serve 127.0.0.1:8080       a live network paced to the wall clock, driven from
//                                              the web page (web/live.html, apps/sim_serve.h)
//   peerchain-sim ARGS --commands live.jsonl   a recorded live session run again from its commands
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "apps/config.h"
#include "apps/flags.h"
#ifndef PEERCHAIN_PLANTED_BUGS
#include "apps/sim_serve.h"
#endif
#include "sim/simulation.h"
#include "util/version.h"

namespace {

using peerchain::sim::SimOptions;
using peerchain::sim::SimReport;

void print_report(std::FILE* out, uint64_t seed, const SimReport& r) {
  std::fprintf(out, "seed %llu: %s faults %llu simulated %.0f s real %.2f s speed-up %.0fx blocks %llu stale %llu reorgs %llu "
              "(deepest %u) transfers %llu refused %llu trace %s\n",
              static_cast<unsigned long long>(seed), r.ok ? "ok" : "FAIL", static_cast<unsigned long long>(r.faults),
              r.simulated_s, r.real_s, r.real_s > 0 ? r.simulated_s / r.real_s : 0.0,
              static_cast<unsigned long long>(r.blocks_found), static_cast<unsigned long long>(r.stale_blocks),
              static_cast<unsigned long long>(r.reorgs), r.max_reorg_depth,
              static_cast<unsigned long long>(r.transfers_acked), static_cast<unsigned long long>(r.transfers_rejected),
              r.trace_hash.substr(0, 16).c_str());
  if (!r.ok) {
    std::fprintf(out, "  violation: %s\n  reproduce: %s\n", r.violation.c_str(), r.repro.c_str());
    for (const auto& l : r.context) std::fprintf(out, "    %s\n", l.c_str());
  }
  std::fflush(out);
}

// One seed in a child process; its report comes back as one JSON-ish line on a pipe. A crash of
// the node code is a failure of that seed, not of the sweep.
struct Child {
  pid_t pid;
  uint64_t seed;
  int fd;
};

}  // namespace

int main(int argc, char** argv) {
  SimOptions o;
  std::string seeds, faults;
  unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  bool json = false, expect_fail = false;
  CLI::App app{"peerchain-sim: a simulated peerchain network running the node's own code (docs/simulation.md)"};
  app.set_version_flag("--version", peerchain::util::version_line("peerchain-sim"));
  app.add_option("--seed", o.seed, "the run's seed (default 1)");
  app.add_option("--seeds", seeds, "a sweep A..B (inclusive), seeds run in parallel child processes");
  app.add_option("--jobs", jobs, "sweep processes at once (default: one per core)")->check(CLI::Range(1u, 64u));
  app.add_option("--nodes", o.nodes, "nodes (default 5)")->check(CLI::Range(2, 500));
  app.add_option("--peers", o.peers, "peers each node dials (default: all when <= 8 nodes, else 8)")->check(CLI::Range(0, 64));
  app.add_option("--duration", o.duration_s, "simulated seconds with faults (default 300)")->check(CLI::Range(1.0, 1e7));
  app.add_option("--settle", o.settle_s, "simulated seconds after the heal for one tip (default 300)")->check(CLI::Range(1.0, 1e6));
  app.add_option("--interval", o.block_interval_s, "block interval in seconds (default 1)")->check(CLI::Range(0.05, 3600.0));
  app.add_option("--hash-rate", o.hash_rate, "simulated hashes/s per node (default 200)")->check(CLI::Range(1.0, 1e7));
  app.add_option("--latency", o.latency_ms, "one-way link latency in ms (default 20)")->check(CLI::Range(0.0, 10000.0));
  app.add_option("--jitter", o.jitter_ms, "added latency per message, 0..this ms (default 10)")->check(CLI::Range(0.0, 10000.0));
  std::string compact_relay = "on";
  app.add_option("--compact-relay", compact_relay, "nodes relay blocks as sketches (on) or whole (off); default on")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--template-min-age-ms", o.template_min_tx_age_ms,
                 "miners' templates hold only transfers at least this old, simulated ms (default: the node's, 200)")
      ->check(CLI::Range(int64_t{0}, peerchain::apps::kMaxTemplateMinAgeMs));
  app.add_option("--fault-interval", o.fault_interval_s, "mean seconds between faults; 0: none (default 2)")->check(CLI::Range(0.0, 1e6));
  app.add_option("--faults", faults, "comma-separated fault kinds (default: all)");
  app.add_option("--clients", o.clients, "wallets sending transfers (default 4)")->check(CLI::Range(0, 100));
  app.add_option("--tx-rate", o.tx_rate, "transfers per simulated second (default 2)")->check(CLI::Range(0.0, 10000.0));
  app.add_option("--invalid-share", o.invalid_share, "share of invalid transfers (default 0.05)")->check(CLI::Range(0.0, 1.0));
  app.add_option("--check-every", o.check_every_s, "seconds between invariant checks during the run; 0: only at the end (default 5)")
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--record", o.record, "write the trace to FILE (JSON lines, docs/spec/sim-trace.md)");
  app.add_flag("--verbose", o.verbose, "node log lines to stderr");
  app.add_flag("--json", json, "one JSON report per seed instead of a line");
#ifdef PEERCHAIN_PLANTED_BUGS
  app.add_option("--plant", o.planted_bug, "make planted bug N live (chain/planted.h)")->check(CLI::Range(0, 3));
  app.add_flag("--expect-fail", expect_fail, "succeed when some seed finds a violation (the planted-bug checks)");
#endif
#ifndef PEERCHAIN_PLANTED_BUGS
  // Live mode (the planted-bug build has none: it only hunts its bugs).
  std::string serve, commands;
  double speed = 1;
  auto* serve_opt = app.add_option("--serve", serve, "serve the live page and its API on ADDRESS:PORT (or PORT: 127.0.0.1) "
                                   "and run until stopped, paced to the wall clock; no faults unless --fault-interval");
  app.add_option("--speed", speed, "--serve: simulated seconds per wall second at the start, 0.1..100 (default 1)")
      ->check(CLI::Range(0.1, 100.0));
  app.add_option("--commands", commands, "run the commands of a recorded live session (FILE) again at their times, "
                 "with the options of its header's args");
  auto* fault_interval_opt = app.get_option("--fault-interval");
#endif
  peerchain::apps::strict_numbers(app);
  CLI11_PARSE(app, argc, argv);
  o.compact_relay = compact_relay == "on";
  if (!faults.empty()) {
    size_t start = 0;
    while (start <= faults.size()) {
      size_t comma = faults.find(',', start);
      std::string k = faults.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      const auto& all = peerchain::sim::all_fault_kinds();
      if (std::find(all.begin(), all.end(), k) == all.end()) {
        std::fprintf(stderr, "error: unknown fault kind '%s'\n", k.c_str());
        return 2;
      }
      o.faults.insert(k);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
#ifndef PEERCHAIN_PLANTED_BUGS
  if (!serve.empty() || !commands.empty()) {
    if (!seeds.empty()) {
      std::fprintf(stderr, "error: --serve and --commands run one network; use them with --seed\n");
      return 2;
    }
    if (!serve.empty() && !commands.empty()) {
      std::fprintf(stderr, "error: --serve or --commands, not both\n");
      return 2;
    }
    if (!commands.empty()) return peerchain::apps::rerun_commands(o, commands, json);
    auto addr = peerchain::apps::parse_serve_address(serve);
    if (!addr) {
      std::fprintf(stderr, "error: %s\n", addr.error().message.c_str());
      return 2;
    }
    addr->speed = speed;
    if (serve_opt->count() && fault_interval_opt->count() == 0) o.fault_interval_s = 0;  // the viewer is the nemesis
    return peerchain::apps::serve_simulation(o, *addr);
  }
#endif
  if (seeds.empty()) {
    auto r = peerchain::sim::run_simulation(o);
    if (json)
      std::printf("%s\n", r.to_json().c_str());
    else
      print_report(stdout, o.seed, r);
    return expect_fail ? (r.ok ? 1 : 0) : (r.ok ? 0 : 1);
  }
  unsigned long long a = 0, b = 0;
  char tail = 0;
  if (std::sscanf(seeds.c_str(), "%llu..%llu%c", &a, &b, &tail) != 2 || b < a || b - a > 1'000'000) {
    std::fprintf(stderr, "error: --seeds wants A..B with A <= B (at most 1,000,000 seeds)\n");
    return 2;
  }
  if (!o.record.empty()) {
    std::fprintf(stderr, "error: --record records one run; use it with --seed\n");
    return 2;
  }
  std::vector<Child> running;
  uint64_t next = a, passed = 0, failed = 0, faults_total = 0;
  double simulated = 0, real = 0;
  std::vector<uint64_t> failing;
  auto reap = [&]() {
    int status = 0;
    pid_t pid = ::wait(&status);
    if (pid <= 0) return;
    auto it = std::find_if(running.begin(), running.end(), [&](const Child& c) { return c.pid == pid; });
    if (it == running.end()) return;
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(it->fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(it->fd);
    SimReport r;
    bool ok_exit = WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 1);
    unsigned long long f = 0;
    double sim_s = 0, real_s = 0;
    if (ok_exit && std::sscanf(out.c_str(), "%llu %lf %lf", &f, &sim_s, &real_s) == 3) {
      faults_total += f;
      simulated += sim_s;
      real += real_s;
    }
    auto nl = out.find('\n');
    std::string text = nl == std::string::npos ? std::string() : out.substr(nl + 1);
    std::fputs(text.c_str(), stdout);
    if (ok_exit && WEXITSTATUS(status) == 0) {
      ++passed;
    } else {
      ++failed;
      failing.push_back(it->seed);
      if (!ok_exit) std::printf("seed %llu: FAIL the run ended abnormally (status %d)\n", static_cast<unsigned long long>(it->seed), status);
    }
    std::fflush(stdout);
    running.erase(it);
  };
  while (next <= b || !running.empty()) {
    while (next <= b && running.size() < jobs) {
      int fds[2];
      if (::pipe(fds) != 0) return 2;
      std::fflush(stdout);
      pid_t pid = ::fork();
      if (pid == 0) {
        ::close(fds[0]);
        SimOptions mine = o;
        mine.seed = next;
        auto r = peerchain::sim::run_simulation(mine);
        std::string line = std::to_string(r.faults) + " " + std::to_string(r.simulated_s) + " " + std::to_string(r.real_s) + "\n";
        std::FILE* f = ::fdopen(fds[1], "w");
        std::fputs(line.c_str(), f);
        if (json)
          std::fprintf(f, "%s\n", r.to_json().c_str());
        else
          print_report(f, mine.seed, r);
        std::fflush(f);
        ::_exit(r.ok ? 0 : 1);
      }
      ::close(fds[1]);
      running.push_back({pid, next, fds[0]});
      ++next;
    }
    reap();
  }
  std::printf("total: seeds %llu..%llu passed %llu failed %llu faults %llu simulated %.0f s real %.1f s (cpu) speed-up %.0fx\n",
              a, b, static_cast<unsigned long long>(passed), static_cast<unsigned long long>(failed),
              static_cast<unsigned long long>(faults_total), simulated, real, real > 0 ? simulated / real : 0.0);
  if (!failing.empty()) {
    std::printf("failing seeds:");
    for (auto s : failing) std::printf(" %llu", static_cast<unsigned long long>(s));
    std::printf("\n");
  }
  if (expect_fail) return failed > 0 ? 0 : 1;
  return failed > 0 ? 1 : 0;
}

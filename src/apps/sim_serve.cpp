// apps/sim_serve.cpp — see sim_serve.h.
#include "apps/sim_serve.h"

#include <signal.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "rpc/http_server.h"
#include "rpc/web_assets.h"

namespace peerchain::apps {

namespace {

using nlohmann::json;
using sim::LiveCommand;
using sim::Micros;

std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) { g_signal.store(sig); }

// A command on its way from an HTTP thread to the simulation's thread, and its answer back.
struct Queued {
  LiveCommand c;
  std::promise<std::string> answer;  // the JSON answer
};

// What the HTTP threads and the simulation's thread share.
struct Shared {
  std::mutex mu;
  std::condition_variable wake;  // a command arrived, or stop
  // The recording: every trace line so far (line 0: the header), as written to --record.
  std::vector<std::string> lines;
  size_t bytes = 0;
  bool full = false;  // kMaxLiveTraceBytes reached: the clock stopped
  std::deque<std::shared_ptr<Queued>> queue;
  std::deque<std::chrono::steady_clock::time_point> recent;  // commands accepted in the last second
  double speed = 1;
  bool running = true;
  bool clock_changed = false;
  Micros now = 0;
  bool behind = false;  // the simulation cannot keep up with this speed
  bool failed = false;
  std::string violation;
  int nodes = 0;
  int clients = 0;
  std::string record;
  uint16_t port = 0;
};

rpc::HttpResponse json_response(int status, const json& j) {
  rpc::HttpResponse r;
  r.status = status;
  r.body = j.dump();
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

rpc::HttpResponse error(int status, const std::string& why) { return json_response(status, json{{"ok", false}, {"why", why}}); }

std::string query_param(const std::string& target, const std::string& key) {
  auto q = target.find('?');
  if (q == std::string::npos) return {};
  std::string rest = target.substr(q + 1);
  size_t start = 0;
  while (start <= rest.size()) {
    size_t amp = rest.find('&', start);
    std::string kv = rest.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    if (kv.rfind(key + "=", 0) == 0) return kv.substr(key.size() + 1);
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  return {};
}

rpc::HttpResponse state_of(Shared& sh) {
  std::lock_guard lock(sh.mu);
  return json_response(200, json{{"speed", sh.speed}, {"running", sh.running}, {"t", sh.now}, {"behind", sh.behind},
                                 {"failed", sh.failed}, {"violation", sh.violation}, {"lines", sh.lines.size()},
                                 {"bytes", sh.bytes}, {"full", sh.full}, {"nodes", sh.nodes}, {"clients", sh.clients},
                                 {"record", sh.record}, {"max_speed", kMaxSpeed}, {"min_speed", kMinSpeed}});
}

// The trace lines from `since` on, as one JSON object: {"from":N,"next":M,"lines":[...]}.
rpc::HttpResponse events_since(Shared& sh, const std::string& target) {
  std::string s = query_param(target, "since");
  size_t since = 0;
  if (!s.empty()) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (*end || s.size() > 19) return error(400, "since: a line number");
    since = static_cast<size_t>(v);
  }
  std::string body;
  size_t next = since;
  {
    std::lock_guard lock(sh.mu);
    if (since > sh.lines.size()) return error(400, "since: past the last line (" + std::to_string(sh.lines.size()) + ")");
    body.reserve(std::min<size_t>(kMaxPollBytes, sh.bytes) + 64);
    body = "{\"from\":" + std::to_string(since) + ",\"lines\":[";
    for (; next < sh.lines.size() && next - since < kMaxEventsPerPoll; ++next) {
      if (next > since && body.size() + sh.lines[next].size() > kMaxPollBytes) break;
      if (next > since) body += ',';
      body += sh.lines[next];
    }
    body += "],\"next\":" + std::to_string(next) + ",\"total\":" + std::to_string(sh.lines.size()) + "}";
  }
  rpc::HttpResponse r;
  r.body = std::move(body);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

// The whole recording, byte for byte what --record writes (so far).
rpc::HttpResponse record_of(Shared& sh) {
  rpc::HttpResponse r;
  r.content_type = "application/x-ndjson";
  {
    std::lock_guard lock(sh.mu);
    r.body.reserve(sh.bytes);
    for (const auto& l : sh.lines) {
      r.body += l;
      r.body += '\n';
    }
  }
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"peerchain-live.jsonl\"");
  return r;
}

bool origin_ok(const rpc::HttpRequest& r, const Shared& sh, const std::string& address) {
  // A browser sends Origin with a POST: only this page's own origin may drive the network (another
  // site the viewer visits must not).
  if (r.origin.empty()) return true;
  const std::string port = ":" + std::to_string(sh.port);
  return r.origin == "http://" + address + port || r.origin == "http://127.0.0.1" + port || r.origin == "http://localhost" + port;
}

rpc::HttpResponse post_command(Shared& sh, const rpc::HttpRequest& r, const std::string& address) {
  if (r.content_type.rfind("application/json", 0) != 0) return error(415, "a command is a JSON object (Content-Type: application/json)");
  if (!origin_ok(r, sh, address)) return error(403, "commands come from this server's own page");
  auto c = parse_command(r.body);
  if (!c) return error(400, c.error().message);
  auto q = std::make_shared<Queued>();
  q->c = std::move(*c);
  auto answer = q->answer.get_future();
  {
    std::lock_guard lock(sh.mu);
    const auto now = std::chrono::steady_clock::now();
    while (!sh.recent.empty() && now - sh.recent.front() > std::chrono::seconds(1)) sh.recent.pop_front();
    if (static_cast<int>(sh.recent.size()) >= kMaxCommandsPerSecond)
      return error(429, "more than " + std::to_string(kMaxCommandsPerSecond) + " commands a second");
    if (sh.queue.size() >= kMaxQueuedCommands) return error(503, "too many commands waiting");
    if (q->c.cmd == "clock") {
      // The pace is the viewer's, not the run's: applied here, not recorded.
      if (q->c.share > 0) sh.speed = q->c.share;
      if (q->c.node >= 0) sh.running = q->c.node != 0;
      sh.clock_changed = true;
      sh.wake.notify_all();
      return json_response(200, json{{"ok", true}, {"speed", sh.speed}, {"running", sh.running}});
    }
    sh.recent.push_back(now);
    sh.queue.push_back(q);
    sh.wake.notify_all();
  }
  if (answer.wait_for(std::chrono::milliseconds(kCommandAnswerMs)) != std::future_status::ready)
    return error(503, "the simulation did not take the command in time");
  rpc::HttpResponse resp;
  resp.body = answer.get();
  resp.headers.emplace_back("Cache-Control", "no-store");
  return resp;
}

rpc::HttpResponse route(Shared& sh, const rpc::HttpRequest& r, const std::string& address) {
  std::string path = r.target.substr(0, r.target.find('?'));
  if (path == "/live/command") {
    if (r.method != "POST") return error(405, "POST a command");
    return post_command(sh, r, address);
  }
  if (r.method != "GET" && r.method != "HEAD") return error(405, "GET only");
  if (path == "/live/state") return state_of(sh);
  if (path == "/live/events") return events_since(sh, r.target);
  if (path == "/live/record") return record_of(sh);
  if (path == "/") path = "/live.html";
  auto a = rpc::find_web_asset(path);
  if (!a) return error(404, "no such page");
  rpc::HttpResponse resp;
  resp.content_type = std::string(a->content_type);
  resp.body = std::string(a->body);
  resp.headers.emplace_back("Content-Security-Policy", std::string(rpc::kWebCsp));
  resp.headers.emplace_back("Cache-Control", "no-cache");
  return resp;
}

int get_int(const json& j, const char* key, int64_t lo, int64_t hi, int64_t* out, std::string* why) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (!it->is_number_integer()) {
    *why = std::string(key) + ": an integer";
    return -1;
  }
  int64_t v = it->get<int64_t>();
  if (v < lo || v > hi) {
    *why = std::string(key) + ": " + std::to_string(lo) + ".." + std::to_string(hi);
    return -1;
  }
  *out = v;
  return 1;
}

}  // namespace

util::Result<ServeOptions> parse_serve_address(std::string_view s) {
  ServeOptions o;
  std::string text(s);
  std::string port = text;
  auto colon = text.rfind(':');
  if (colon != std::string::npos) {
    o.address = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (o.address.size() > 2 && o.address.front() == '[' && o.address.back() == ']') o.address = o.address.substr(1, o.address.size() - 2);
  }
  boost::system::error_code ec;
  boost::asio::ip::make_address(o.address, ec);
  if (ec) return util::fail("usage", "--serve: '" + o.address + "' is not an IP address");
  char* end = nullptr;
  unsigned long v = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end || v > 65535) return util::fail("usage", "--serve: a port 0..65535, as ADDRESS:PORT or PORT");
  o.port = static_cast<uint16_t>(v);
  return o;
}

util::Result<LiveCommand> parse_command(std::string_view text) {
  if (text.size() > sim::kMaxCommandBytes)
    return util::fail("invalid", "a command is at most " + std::to_string(sim::kMaxCommandBytes) + " bytes");
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return util::fail("invalid", "a command is a JSON object");
  LiveCommand c;
  auto cmd = j.find("cmd");
  if (cmd == j.end() || !cmd->is_string() || cmd->get<std::string>().size() > 32)
    return util::fail("invalid", "\"cmd\": the command's name");
  c.cmd = cmd->get<std::string>();
  std::string why;
  int64_t v = 0;
  const int64_t kNodes = 1000;
  if (get_int(j, "node", -1, kNodes, &v, &why) > 0) c.node = static_cast<int>(v);
  if (get_int(j, "a", -1, kNodes, &v, &why) > 0) c.a = static_cast<int>(v);
  if (get_int(j, "b", -1, kNodes, &v, &why) > 0) c.b = static_cast<int>(v);
  if (get_int(j, "from", -1, kNodes, &v, &why) > 0) c.from = static_cast<int>(v);
  if (get_int(j, "to", -1, kNodes, &v, &why) > 0) c.to = static_cast<int>(v);
  if (get_int(j, "amount", 0, sim::kMaxTransferAmount, &v, &why) > 0) c.amount = v;
  if (get_int(j, "fault", 0, INT64_MAX, &v, &why) > 0) c.fault = v;
  if (!why.empty()) return util::fail("invalid", why);
  if (auto p = j.find("powercut"); p != j.end()) {
    if (!p->is_boolean()) return util::fail("invalid", "powercut: true or false");
    c.powercut = p->get<bool>();
  }
  if (auto s = j.find("side"); s != j.end()) {
    if (!s->is_array() || s->size() > static_cast<size_t>(kNodes)) return util::fail("invalid", "side: an array of nodes");
    for (const auto& x : *s) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() >= kNodes)
        return util::fail("invalid", "side: node numbers");
      c.side.push_back(static_cast<int>(x.get<int64_t>()));
    }
  }
  // Rounded as recorded: a re-run reads back exactly the value applied.
  if (auto l = j.find("latency_ms"); l != j.end()) {
    if (!l->is_number() || !(l->get<double>() >= 0 && l->get<double>() <= 10'000)) return util::fail("invalid", "latency_ms: 0..10000");
    c.latency_ms = std::round(l->get<double>());
  }
  if (auto s = j.find("share"); s != j.end()) {
    if (!s->is_number() || !(s->get<double>() >= 0 && s->get<double>() <= 1)) return util::fail("invalid", "share: 0..1");
    c.share = std::round(s->get<double>() * 1000) / 1000;
  }
  if (c.cmd == "clock") {
    // The page's pace: {"cmd":"clock","speed":2,"running":true} (carried in share and node).
    auto sp = j.find("speed");
    if (sp != j.end()) {
      if (!sp->is_number() || !(sp->get<double>() >= kMinSpeed && sp->get<double>() <= kMaxSpeed))
        return util::fail("invalid", "speed: 0.1..100");
      c.share = sp->get<double>();
    } else {
      c.share = 0;
    }
    auto run = j.find("running");
    if (run != j.end() && !run->is_boolean()) return util::fail("invalid", "running: true or false");
    c.node = run == j.end() ? -1 : run->get<bool>() ? 1 : 0;  // -1: as it is
  }
  return c;
}

int serve_simulation(const sim::SimOptions& o, const ServeOptions& s) {
  Shared sh;
  sh.speed = std::clamp(s.speed, kMinSpeed, kMaxSpeed);
  sh.record = o.record;
  sim::LiveSimulation live(o, [&sh](const std::string& line) {
    std::lock_guard lock(sh.mu);
    if (sh.full) return;
    sh.lines.push_back(line);
    sh.bytes += line.size() + 1;
    if (sh.bytes > kMaxLiveTraceBytes) {
      sh.full = true;
      sh.running = false;
    }
  });
  if (auto st = live.start(); !st) {
    std::fprintf(stderr, "error: %s\n", st.error().to_string().c_str());
    return 2;
  }
  {
    std::lock_guard lock(sh.mu);
    sh.nodes = live.nodes();
    sh.clients = live.clients();
  }

  // The listening socket: its own small io_context and thread, handing each connection to the
  // HTTP server (which owns the connection budgets).
  rpc::HttpOptions ho;
  ho.threads = 2;
  ho.max_body_bytes = sim::kMaxCommandBytes;
  ho.max_connections = 32;
  ho.max_connections_per_address = 16;
  ho.max_ws_sessions = 1;
  ho.ws_topics = {"none"};  // no WebSocket topics: the page polls /live/events
  const std::string address = s.address;
  rpc::HttpServer http(ho, [&sh, address](const rpc::HttpRequest& r) { return route(sh, r, address); });
  boost::asio::io_context accept_ctx;
  boost::asio::ip::tcp::acceptor acceptor(accept_ctx);
  boost::system::error_code ec;
  boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address(s.address), s.port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(64, ec);
  if (ec) {
    std::fprintf(stderr, "error: --serve %s:%u: %s\n", s.address.c_str(), s.port, ec.message().c_str());
    return 2;
  }
  sh.port = acceptor.local_endpoint().port();
  if (!ep.address().is_loopback())
    std::fprintf(stderr, "peerchain-sim: warning: --serve %s is not a loopback address: anyone who reaches it can drive "
                 "the simulation (commands need no token)\n", s.address.c_str());
  http.start();
  std::function<void()> accept_next = [&] {
    acceptor.async_accept([&](boost::system::error_code e, boost::asio::ip::tcp::socket sock) {
      if (e == boost::asio::error::operation_aborted) return;
      if (!e) http.adopt(std::move(sock), {});
      accept_next();
    });
  };
  accept_next();
  std::thread accept_thread([&] { accept_ctx.run(); });

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  std::printf("peerchain-sim: serving the live page at http://%s:%u/ (%d nodes, speed %gx%s%s)\n",
              s.address.find(':') != std::string::npos ? ("[" + s.address + "]").c_str() : s.address.c_str(), sh.port,
              live.nodes(), sh.speed, o.record.empty() ? "" : ", recording to ", o.record.c_str());
  std::fflush(stdout);

  using Clock = std::chrono::steady_clock;
  auto wall0 = Clock::now();
  Micros sim0 = live.now();
  auto last_flush = wall0;
  while (!g_signal.load()) {
    std::vector<std::shared_ptr<Queued>> todo;
    double speed;
    bool running;
    {
      std::unique_lock lock(sh.mu);
      todo.assign(sh.queue.begin(), sh.queue.end());
      sh.queue.clear();
      if (sh.clock_changed) {
        // A new pace starts from here: simulated time never jumps.
        sh.clock_changed = false;
        wall0 = Clock::now();
        sim0 = live.now();
        sh.behind = false;
      }
      speed = sh.speed;
      running = sh.running && !sh.full;
    }
    // Commands apply at the instant the last step ended: a re-run applies them at the same one.
    for (auto& q : todo) {
      auto r = live.command(q->c);
      json a{{"ok", r.ok}, {"command", r.command}, {"t", live.now()}};
      if (!r.why.empty()) a["why"] = r.why;
      if (r.fault) a["fault"] = r.fault;
      if (!r.txid.empty()) a["txid"] = r.txid;
      q->answer.set_value(a.dump());
    }
    const auto now = Clock::now();
    bool caught_up = true;
    if (running && !live.failed()) {
      const double wall_us = std::chrono::duration<double, std::micro>(now - wall0).count();
      const Micros target = sim0 + static_cast<Micros>(wall_us * speed);
      // Small steps, so commands and the viewer's polls never wait long.
      const Micros chunk = std::max<Micros>(20 * sim::kMs, static_cast<Micros>(speed * 20 * sim::kMs));
      live.run_until(std::min(target, live.now() + chunk));
      caught_up = live.now() >= target;
      if (target - live.now() > static_cast<Micros>(speed * 2 * sim::kSecond)) {
        // More than 2 s behind: the machine cannot run this fast. Go on from here, slower.
        wall0 = now;
        sim0 = live.now();
        std::lock_guard lock(sh.mu);
        sh.behind = true;
      }
    } else {
      wall0 = now;
      sim0 = live.now();
    }
    {
      std::unique_lock lock(sh.mu);
      sh.now = live.now();
      if (live.failed() && !sh.failed) {
        sh.failed = true;
        sh.violation = live.violation();
        std::fprintf(stderr, "peerchain-sim: violation: %s (the clock stopped; the page still serves)\n", live.violation().c_str());
      }
      if (caught_up && sh.queue.empty() && !sh.clock_changed)
        sh.wake.wait_for(lock, std::chrono::milliseconds(10));
    }
    if (now - last_flush > std::chrono::seconds(1)) {
      live.flush();
      last_flush = now;
    }
  }
  // Answer whatever still waits, then stop taking connections before the run ends.
  {
    std::lock_guard lock(sh.mu);
    for (auto& q : sh.queue) q->answer.set_value(json{{"ok", false}, {"why", "the simulation stopped"}}.dump());
    sh.queue.clear();
  }
  acceptor.close(ec);
  accept_ctx.stop();
  accept_thread.join();
  http.stop();
  auto report = live.finish();
  std::printf("peerchain-sim: stopped at %.3f simulated s; trace %s\n", report.simulated_s, report.trace_hash.c_str());
  return report.ok ? 0 : 1;
}

int rerun_commands(const sim::SimOptions& o, const std::string& file, bool as_json) {
  std::ifstream in(file);
  if (!in) {
    std::fprintf(stderr, "error: cannot read %s\n", file.c_str());
    return 2;
  }
  std::vector<std::pair<Micros, LiveCommand>> commands;
  Micros end = -1;
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      std::fprintf(stderr, "error: %s line %zu: not JSON\n", file.c_str(), n);
      return 2;
    }
    if (n == 1) {
      if (j.value("format", "") != "peerchain-sim-trace") {
        std::fprintf(stderr, "error: %s: not a peerchain-sim trace\n", file.c_str());
        return 2;
      }
      continue;
    }
    const auto t = j.value("t", static_cast<Micros>(-1));
    const std::string ev = j.value("ev", "");
    if (ev == "end") end = t;
    if (ev != "command") continue;
    auto c = parse_command(line);
    if (!c) {
      std::fprintf(stderr, "error: %s line %zu: %s\n", file.c_str(), n, c.error().message.c_str());
      return 2;
    }
    commands.emplace_back(t, std::move(*c));
  }
  if (end < 0) {
    std::fprintf(stderr, "error: %s has no end event (a session cut short?)\n", file.c_str());
    return 2;
  }
  sim::LiveSimulation live(o, nullptr);
  if (auto st = live.start(); !st) {
    std::fprintf(stderr, "error: %s\n", st.error().to_string().c_str());
    return 2;
  }
  for (const auto& [t, c] : commands) {
    live.run_until(t);
    live.command(c);
  }
  live.run_until(end);
  auto r = live.finish();
  if (as_json)
    std::printf("%s\n", r.to_json().c_str());
  else
    std::printf("seed %llu: %s commands %zu simulated %.3f s trace %s\n", static_cast<unsigned long long>(o.seed),
                r.ok ? "ok" : "FAIL", commands.size(), r.simulated_s, r.trace_hash.c_str());
  return r.ok ? 0 : 1;
}

}  // namespace peerchain::apps

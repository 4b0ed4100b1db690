#include "sim/live.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace peerchain::sim {
namespace {

SimOptions small() {
  SimOptions o;
  o.seed = 11;
  o.nodes = 3;
  o.fault_interval_s = 0;
  o.tx_rate = 1;
  return o;
}

struct Session {
  std::vector<std::string> lines;
  LiveSimulation live{small(), [this](const std::string& l) { lines.push_back(l); }};
  Session() { EXPECT_TRUE(live.start()); }
  bool has(const std::string& needle) const {
    for (const auto& l : lines)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
};

LiveCommand cmd(std::string name, int node = -1) {
  LiveCommand c;
  c.cmd = std::move(name);
  c.node = node;
  return c;
}

TEST(LiveSimulation, CrashAndRestartGoThroughTheTraceAtTheStepsInstant) {
  Session s;
  ASSERT_TRUE(s.live.run_until(5 * kSecond));
  EXPECT_EQ(s.live.now(), 5 * kSecond);
  auto r = s.live.command(cmd("crash", 1));
  ASSERT_TRUE(r.ok) << r.why;
  EXPECT_GT(r.fault, 0);
  EXPECT_TRUE(s.has("{\"t\":5000000,\"ev\":\"command\",\"id\":1,\"cmd\":\"crash\",\"node\":1,\"powercut\":false,\"ok\":true}"));
  EXPECT_TRUE(s.has("{\"t\":5000000,\"ev\":\"fault\",\"fault\":" + std::to_string(r.fault) +
                    ",\"kind\":\"crash\",\"by\":\"viewer\",\"node\":1}"));
  // Down is down: a second crash is refused, and recorded as refused.
  auto again = s.live.command(cmd("crash", 1));
  EXPECT_FALSE(again.ok);
  EXPECT_EQ(again.why, "node 1 is not running");
  EXPECT_TRUE(s.has("\"cmd\":\"crash\",\"node\":1,\"powercut\":false,\"ok\":false,\"why\":\"node 1 is not running\""));
  ASSERT_TRUE(s.live.run_until(8 * kSecond));
  ASSERT_TRUE(s.live.command(cmd("restart", 1)).ok);
  EXPECT_TRUE(s.has("{\"t\":8000000,\"ev\":\"fault_end\",\"fault\":" + std::to_string(r.fault) + ",\"kind\":\"crash\"}"));
  EXPECT_TRUE(s.has("{\"t\":8000000,\"ev\":\"node_start\",\"node\":1"));
  ASSERT_TRUE(s.live.run_until(20 * kSecond));
  EXPECT_FALSE(s.live.failed()) << s.live.violation();
  auto report = s.live.finish();
  EXPECT_TRUE(report.ok);
  EXPECT_EQ(s.lines.back().rfind("{\"t\":20000000,\"ev\":\"end\"", 0), 0u) << s.lines.back();
}

TEST(LiveSimulation, RefusesWhatItCannotApplyWithTheReason) {
  Session s;
  ASSERT_TRUE(s.live.run_until(kSecond));
  EXPECT_EQ(s.live.command(cmd("explode")).why, "unknown command 'explode'");
  EXPECT_EQ(s.live.command(cmd("pause", 7)).why, "no node 7 (nodes 0..2)");
  EXPECT_EQ(s.live.command(cmd("resume", 0)).why, "node 0 is not paused");
  auto cut = cmd("cut");
  cut.a = cut.b = 1;
  EXPECT_EQ(s.live.command(cut).why, "a link needs two different nodes of 0..2");
  cut.b = 2;
  EXPECT_TRUE(s.live.command(cut).ok);
  EXPECT_EQ(s.live.command(cut).why, "the link 1-2 is already cut");
  auto heal = cut;
  heal.cmd = "heal_link";
  heal.a = 0;
  EXPECT_EQ(s.live.command(heal).why, "the link 0-2 is not cut by the viewer");
  heal.a = 2;  // either end names it
  heal.b = 1;
  EXPECT_TRUE(s.live.command(heal).ok);
  auto part = cmd("partition");
  part.side = {0, 1, 2};
  EXPECT_EQ(s.live.command(part).why, "a partition's side needs at least one node and not all");
  auto pay = cmd("transfer", 0);
  pay.from = pay.to = 1;
  pay.amount = 5;
  EXPECT_EQ(s.live.command(pay).why, "a transfer is between two different wallets of 0..3");
  pay.to = 2;
  auto sent = s.live.command(pay);
  EXPECT_TRUE(sent.ok && sent.why.empty()) << sent.why;
  EXPECT_EQ(sent.txid.size(), 64u);
  EXPECT_TRUE(s.has("\"ev\":\"tx_submitted\",\"node\":0,\"client\":1,\"txid\":\"" + sent.txid));
  auto end = cmd("end");
  end.fault = 99;
  EXPECT_EQ(s.live.command(end).why, "no fault 99 is active");
  ASSERT_TRUE(s.live.run_until(5 * kSecond));
  EXPECT_FALSE(s.live.failed()) << s.live.violation();
}

// The commands with their times are the session: applied again at the same instants, they give
// the same trace; at another instant, another one.
std::vector<std::string> session(Micros partition_at) {
  std::vector<std::string> lines;
  LiveSimulation live(small(), [&](const std::string& l) { lines.push_back(l); });
  EXPECT_TRUE(live.start());
  live.run_until(partition_at);
  auto part = cmd("partition");
  part.side = {0};
  auto p = live.command(part);
  EXPECT_TRUE(p.ok) << p.why;
  live.run_until(partition_at + 10 * kSecond);
  auto power = cmd("hashpower", 0);
  power.share = 0.8;
  EXPECT_TRUE(live.command(power).ok);
  auto end = cmd("end");
  end.fault = p.fault;
  EXPECT_TRUE(live.command(end).ok);
  live.run_until(partition_at + 20 * kSecond);
  EXPECT_TRUE(live.command(cmd("heal")).ok);
  live.run_until(partition_at + 30 * kSecond);
  EXPECT_FALSE(live.failed()) << live.violation();
  live.finish();
  return lines;
}

TEST(LiveSimulation, ASessionRunsAgainToTheSameTrace) {
  const auto a = session(3 * kSecond + 123);
  const auto b = session(3 * kSecond + 123);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, session(3 * kSecond + 124));
}

}  // namespace
}  // namespace peerchain::sim

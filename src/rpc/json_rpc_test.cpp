#include "rpc/json_rpc.h"

#include <gtest/gtest.h>

using namespace peerchain::rpc;

namespace {
Dispatcher make() {
  Dispatcher d;
  d.add("echo", [](const Json& p) { return param(p, 0, "value"); });
  d.add("fail", [](const Json&) -> Json { throw RpcError{code::kTxRejected, "nope", Json{{"reason", "bad-signature"}}}; });
  return d;
}
Json run(const std::string& body) { return Json::parse(make().handle(body)); }
}  // namespace

TEST(JsonRpc, SingleCallAndNamedParams) {
  auto r = run(R"({"jsonrpc":"2.0","id":7,"method":"echo","params":[42]})");
  EXPECT_EQ(r["result"], 42);
  EXPECT_EQ(r["id"], 7);
  r = run(R"({"jsonrpc":"2.0","id":"x","method":"echo","params":{"value":"hi"}})");
  EXPECT_EQ(r["result"], "hi");
}

TEST(JsonRpc, StandardErrors) {
  EXPECT_EQ(run("{not json")["error"]["code"], -32700);
  EXPECT_EQ(run("42")["error"]["code"], -32600);
  EXPECT_EQ(run(R"({"id":1})")["error"]["code"], -32600);
  EXPECT_EQ(run(R"({"id":1,"method":"nope"})")["error"]["code"], -32601);
  EXPECT_EQ(run(R"({"id":1,"method":"echo","params":[]})")["error"]["code"], -32602);
  EXPECT_EQ(run(R"({"id":1,"method":"echo","params":5})")["error"]["code"], -32600);
  EXPECT_EQ(run("[]")["error"]["code"], -32600);
  auto app = run(R"({"id":1,"method":"fail"})");
  EXPECT_EQ(app["error"]["code"], code::kTxRejected);
  EXPECT_EQ(app["error"]["data"]["reason"], "bad-signature");
}

TEST(JsonRpc, Batch) {
  auto r = run(R"([{"id":1,"method":"echo","params":[1]},{"id":2,"method":"nope"},3])");
  ASSERT_TRUE(r.is_array());
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0]["result"], 1);
  EXPECT_EQ(r[1]["error"]["code"], -32601);
  EXPECT_EQ(r[2]["error"]["code"], -32600);
}

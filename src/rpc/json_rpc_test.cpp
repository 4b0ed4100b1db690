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

TEST(JsonRpc, ScanCountsDepthValuesAndBatchItems) {
  auto s = scan_json(R"([{"a":[1,2,"x,]\"["]},{},3])", 64);
  EXPECT_FALSE(s.too_deep);
  EXPECT_EQ(s.depth, 3u);
  EXPECT_TRUE(s.top_is_array);
  EXPECT_EQ(s.top_items, 3u);
  EXPECT_EQ(s.values, 3u + 1u + 3u);  // batch items, the member "a", a's elements
  EXPECT_TRUE(scan_json(std::string(65, '['), 64).too_deep);
  EXPECT_FALSE(scan_json(std::string(64, '[') + std::string(64, ']'), 64).too_deep);
  EXPECT_EQ(scan_json("[]", 64).top_items, 0u);
}

TEST(JsonRpc, DeepNestingIsRefusedWithoutParsing) {
  // 200,000 levels overflowed the stack of the recursive parser; the scan refuses it first.
  std::string deep = R"({"id":1,"method":"echo","params":)" + std::string(200'000, '[') + std::string(200'000, ']') + "}";
  auto r = run(deep);
  EXPECT_EQ(r["error"]["code"], code::kParseError);
  EXPECT_EQ(run(std::string(200'000, '['))["error"]["code"], code::kParseError);
}

TEST(JsonRpc, OversizedBatchAndValueCountRefusedBeforeParse) {
  std::string batch = "[";
  for (int i = 0; i < 1001; ++i) batch += (i ? ",{}" : "{}");
  batch += "]";
  EXPECT_EQ(run(batch)["error"]["code"], code::kInvalidRequest);
  std::string many = R"({"id":1,"method":"echo","params":[[)";
  for (int i = 0; i < 100'001; ++i) many += (i ? ",{}" : "{}");
  many += "]]}";
  EXPECT_EQ(run(many)["error"]["code"], code::kParseError);
}

TEST(JsonRpc, ResponseBudgetStopsABatch) {
  DispatchLimits limits;
  limits.max_response_bytes = 1000;
  Dispatcher d(limits);
  int ran = 0;
  d.add("big", [&ran](const Json&) {
    ++ran;
    return Json(std::string(400, 'x'));
  });
  std::string batch = "[";
  for (int i = 0; i < 10; ++i) batch += (i ? "," : "") + std::string(R"({"id":)") + std::to_string(i) + R"(,"method":"big"})";
  batch += "]";
  auto r = Json::parse(d.handle(batch));
  ASSERT_EQ(r.size(), 10u);
  // Three answers pass 1,000 bytes: the third crosses the budget and is answered in full.
  EXPECT_EQ(ran, 3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(r[i].contains("result")) << i;
  for (int i = 3; i < 10; ++i) {
    EXPECT_EQ(r[i]["error"]["code"], code::kResponseTooLarge) << i;
    EXPECT_EQ(r[i]["id"], i);
  }
  // A single call is always answered, whatever its size.
  EXPECT_TRUE(Json::parse(d.handle(R"({"id":1,"method":"big"})")).contains("result"));
}

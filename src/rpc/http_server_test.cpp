#include "rpc/http_server.h"

#include <gtest/gtest.h>

using namespace peerchain::rpc;

namespace {
HttpResponse echo(const HttpRequest& r) { return HttpResponse{200, "text/plain", r.method + " " + r.target + " " + r.body, {}}; }
}  // namespace

TEST(HttpServer, AnswersARequestFromBytes) {
  HttpOptions o;
  auto a = answer_request_bytes("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi", o, echo);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, "POST /x hi");
  // Not all there yet: the server would wait for more.
  EXPECT_FALSE(answer_request_bytes("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", o, echo));
  EXPECT_FALSE(answer_request_bytes("GET / HT", o, echo));
}

TEST(HttpServer, RefusesOversizedAndMalformedRequests) {
  HttpOptions o;
  o.max_body_bytes = 100;
  o.max_header_bytes = 200;
  // The declared length is refused before a byte of the body arrives.
  auto big = answer_request_bytes("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", o, echo);
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  auto head = answer_request_bytes("GET / HTTP/1.1\r\nX: " + std::string(300, 'a') + "\r\n\r\n", o, echo);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 431);
  auto bad = answer_request_bytes("NOT HTTP\r\n\r\n", o, echo);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  auto thrown = answer_request_bytes("GET / HTTP/1.1\r\n\r\n", o, [](const HttpRequest&) -> HttpResponse {
    throw std::runtime_error("boom");
  });
  ASSERT_TRUE(thrown);
  EXPECT_EQ(thrown->status, 500);
}

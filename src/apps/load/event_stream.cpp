#include "apps/load/event_stream.h"

#include <utility>  // before asio (Boost 1.74 under C++20)

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <atomic>
#include <thread>

namespace peerchain::apps::load {

namespace beast = boost::beast;
using tcp = boost::asio::ip::tcp;

struct EventStream::Impl {
  boost::asio::io_context ioc;
  beast::websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
  Handler handler;
  std::atomic<bool> connected{false};
  std::thread thread;

  void read() {
    ws.async_read(buffer, [this](beast::error_code ec, size_t) {
      auto now = std::chrono::steady_clock::now();
      if (ec) {
        connected = false;
        return;
      }
      auto text = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      auto j = rpc::Json::parse(text, nullptr, false);
      if (!j.is_discarded()) handler(j, now);
      read();
    });
  }
};

util::Result<std::unique_ptr<EventStream>> EventStream::open(const std::string& host, uint16_t port,
                                                             const std::string& topics, Handler on_event) {
  auto impl = std::make_unique<Impl>();
  impl->handler = std::move(on_event);
  beast::error_code ec;
  tcp::resolver resolver(impl->ioc);
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec) return util::fail("unreachable", "resolving " + host + ": " + ec.message());
  beast::get_lowest_layer(impl->ws).expires_after(std::chrono::seconds(10));
  beast::get_lowest_layer(impl->ws).connect(results, ec);
  if (ec) return util::fail("unreachable", host + ":" + std::to_string(port) + ": " + ec.message());
  beast::get_lowest_layer(impl->ws).expires_never();
  std::string target = topics.empty() ? "/ws" : "/ws?topics=" + topics;
  impl->ws.handshake(host + ":" + std::to_string(port), target, ec);
  if (ec) return util::fail("http", "WebSocket handshake with " + host + ": " + ec.message());
  impl->connected = true;
  Impl* raw = impl.get();
  raw->read();
  raw->thread = std::thread([raw] { raw->ioc.run(); });
  return std::unique_ptr<EventStream>(new EventStream(std::move(impl)));
}

EventStream::EventStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EventStream::~EventStream() {
  boost::asio::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ec;
    beast::get_lowest_layer(impl->ws).socket().close(ec);
  });
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

bool EventStream::connected() const { return impl_->connected.load(); }

}  // namespace peerchain::apps::load

// apps/load/event_stream.h — a WebSocket client of a node's /ws event stream (the load tool
// timestamps block events with it: inclusion latency, propagation delay, stale blocks).
// One thread per stream; the handler runs on it, in arrival order.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "rpc/json_rpc.h"
#include "util/result.h"

namespace peerchain::apps::load {

class EventStream {
 public:
  using Handler = std::function<void(const rpc::Json& event, std::chrono::steady_clock::time_point arrived)>;

  // Connects to ws://host:port/ws?topics=TOPICS (comma-separated; empty: every event) and calls
  // `on_event` for each event until the stream is destroyed or the node closes it.
  static util::Result<std::unique_ptr<EventStream>> open(const std::string& host, uint16_t port,
                                                         const std::string& topics, Handler on_event);
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  bool connected() const;

 private:
  struct Impl;
  explicit EventStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace peerchain::apps::load

#include "sim/event_loop.h"

namespace peerchain::sim {

EventLoop::EventId EventLoop::at(Micros when, Owner owner, std::function<void()> fn) {
  if (when < now_) when = now_;
  const EventId id = ++next_id_;
  queue_.push(Event{when, next_seq_++, id, owner, std::move(fn)});
  return id;
}

void EventLoop::cancel(EventId id) {
  if (id != 0) cancelled_.insert(id);
}

void EventLoop::release(int node) {
  auto it = held_.find(node);
  if (it == held_.end()) return;
  auto events = std::move(it->second);
  held_.erase(it);
  for (auto& e : events) {
    e.when = now_;
    e.seq = next_seq_++;
    queue_.push(std::move(e));
  }
}

bool EventLoop::run_until(Micros until) {
  stopped_ = false;
  while (!queue_.empty() && !stopped_) {
    if (queue_.top().when > until) break;
    Event e = std::move(const_cast<Event&>(queue_.top()));
    queue_.pop();
    if (auto c = cancelled_.find(e.id); c != cancelled_.end()) {
      cancelled_.erase(c);
      continue;
    }
    now_ = e.when;
    if (e.owner.node >= 0) {
      if (gate_.incarnation(e.owner.node) != e.owner.incarnation) continue;  // died with its node
      if (gate_.paused(e.owner.node)) {
        held_[e.owner.node].push_back(std::move(e));
        continue;
      }
    }
    ++events_run_;
    e.fn();
  }
  if (!stopped_ && now_ < until) now_ = until;
  return !stopped_;
}

}  // namespace peerchain::sim

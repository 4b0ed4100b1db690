// util/result.h — the one error vocabulary of peerchain.
//
// Anything that can fail because of its input, the disk or the network returns a Result<T>
// (or a Result<T, E> with a typed error such as consensus::Rejection). Exceptions never cross a
// module boundary for such failures; they are reserved for bugs and std::bad_alloc.
// (docs/adr/0002-errors.md)
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace peerchain::util {

// A human-readable error. `code` is a short stable token (e.g. "truncated", "io") that callers
// may match on; `message` is for people.
struct Error {
  std::string code;
  std::string message;

  std::string to_string() const { return message.empty() ? code : code + ": " + message; }
};

template <typename E>
struct Unexpected {
  E error;
};

template <typename E>
Unexpected<std::decay_t<E>> unexpected(E&& e) {
  return {std::forward<E>(e)};
}

inline Unexpected<Error> fail(std::string code, std::string message = {}) {
  return {Error{std::move(code), std::move(message)}};
}

// A value or an error. Invariant: exactly one of the two is held.
template <typename T, typename E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  template <typename E2>
  Result(Unexpected<E2> u) : v_(std::in_place_index<1>, E(std::move(u.error))) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok()
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // REQUIRES: !ok()
  const E& error() const { assert(!ok()); return std::get<1>(v_); }
  E& error() { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

// Result of an operation with no value.
template <typename E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  template <typename E2>
  Result(Unexpected<E2> u) : err_(E(std::move(u.error))), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const E& error() const { assert(!ok_); return err_; }
  E& error() { assert(!ok_); return err_; }

 private:
  E err_{};
  bool ok_ = true;
};

using Status = Result<void, Error>;

}  // namespace peerchain::util

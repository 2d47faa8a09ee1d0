#pragma once
// Expected failures are values (style.md): Result<T, E> holds either a value or an error.
#include <type_traits>
#include <utility>
#include <variant>

namespace vpoint {

template <class E>
struct Unexpected {
  E error;
};
template <class E>
Unexpected(E) -> Unexpected<E>;

template <class T, class E>
class Result {
 public:
  // Default: an error (a default-constructed E), never a success: a Result that nobody set must not count as
  // one (issue 19). Exists so a Result can travel through co_spawn / use_awaitable, which want a default.
  Result()
    requires std::is_default_constructible_v<E>
      : v_(std::in_place_index<1>) {}
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  template <class G>
  Result(Unexpected<G> e) : v_(std::in_place_index<1>, std::move(e.error)) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  E& error() & { return std::get<1>(v_); }
  const E& error() const& { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

}  // namespace vpoint

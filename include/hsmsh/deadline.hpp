// SPDX-License-Identifier: Apache-2.0
// Runs one awaitable operation against a deadline.
#pragma once

#include "hsmsh/asio.hpp"

#include <chrono>
#include <stdexcept>

namespace hsm {

struct deadline_exceeded : std::runtime_error {
    deadline_exceeded() : std::runtime_error("deadline exceeded") {}
};

using duration = std::chrono::steady_clock::duration;

/// Awaits `op`; if `timeout` passes first, cancels it and throws deadline_exceeded.
/// Exceptions of `op` pass through.
template <typename T> awaitable<T> with_deadline(awaitable<T> op, duration timeout) {
    using namespace boost::asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
    auto result = co_await (std::move(op) || timer.async_wait(use_awaitable));
    if (result.index() == 1) throw deadline_exceeded();
    if constexpr (!std::is_void_v<T>) co_return std::get<0>(std::move(result));
}

} // namespace hsm

// SPDX-License-Identifier: Apache-2.0
// Runs one awaitable operation against a deadline.
#pragma once

#include "hsmsh/asio.hpp"
#include "hsmsh/duration.hpp"

#include <boost/asio/experimental/parallel_group.hpp>

#include <chrono>
#include <stdexcept>

namespace hsm {

/// A deadline passed: an error value (asio::error::timed_out) as much as an
/// exception type, so that callers can classify failures by code.
struct deadline_exceeded : boost::system::system_error {
    deadline_exceeded() : boost::system::system_error(asio::error::timed_out) {}
    const char* what() const noexcept override { return "deadline exceeded"; }
};

/// Awaits `op`; if `timeout` passes first, cancels it and throws
/// deadline_exceeded. Exceptions of `op` pass through at once.
// Not awaitable operator||: it waits for the first *success*, so a failing
// operation would only be reported when the timer fires.
template <typename T> awaitable<T> with_deadline(awaitable<T> op, duration timeout) {
    namespace ex = boost::asio::experimental;
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor, timeout);
    auto spawned = asio::co_spawn(executor, std::move(op), asio::deferred);
    auto waited = timer.async_wait(asio::deferred);
    if constexpr (std::is_void_v<T>) {
        auto [order, error, timer_ec] =
            co_await ex::make_parallel_group(std::move(spawned), std::move(waited))
                .async_wait(ex::wait_for_one(), use_awaitable);
        (void)timer_ec;
        if (order[0] != 0) throw deadline_exceeded();
        if (error) std::rethrow_exception(error);
    } else {
        auto [order, error, value, timer_ec] =
            co_await ex::make_parallel_group(std::move(spawned), std::move(waited))
                .async_wait(ex::wait_for_one(), use_awaitable);
        (void)timer_ec;
        if (order[0] != 0) throw deadline_exceeded();
        if (error) std::rethrow_exception(error);
        co_return std::move(value);
    }
}

} // namespace hsm

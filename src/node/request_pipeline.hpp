// SPDX-License-Identifier: Apache-2.0
// One connection's requests in flight and the replies waiting to leave.
#pragma once

#include "hsmsh/asio.hpp"
#include "hsmsh/deadline.hpp"

#include <deque>
#include <functional>
#include <string>

namespace hsm {

/// A connection's requests that run side by side
/// (node_service::side_by_side), and its replies. Replies leave in the order they
/// are ready; those that became ready while a write was on its way leave
/// together, in one write (and so mostly one TLS record). Single-threaded:
/// everything runs on the connection's executor.
class request_pipeline {
public:
    /// At most this many requests in flight on one connection, holding at
    /// most max_bytes of request frames between them (a connection held one
    /// frame before: sixteen small signatures hold less than one large frame).
    static constexpr std::size_t max_requests = 16;
    static constexpr std::size_t max_bytes = 256 * 1024;

    request_pipeline(tls_stream& stream, duration write_timeout);

    /// Nothing in flight, and no reply waiting or being written.
    bool idle() const noexcept { return running_ == 0 && !writing_ && outbox_.empty(); }

    /// Waits until a request of `size` bytes may run beside those running.
    awaitable<void> room_for(std::size_t size);
    /// Waits until idle().
    awaitable<void> drained();

    void started(std::size_t size) noexcept;
    void finished(std::size_t size) noexcept;

    /// Queues an encoded reply (wiped once written) and returns once it is
    /// written. The caller that finds no write on its way writes until no
    /// reply waits; the others wait for it. Throws if the write fails (the
    /// connection is then gone).
    awaitable<void> send(std::string body);

private:
    awaitable<void> until(std::function<bool()> ready);

    tls_stream& stream_;
    duration write_timeout_;
    asio::steady_timer changed_; // cancelled whenever the state above changes
    std::deque<std::string> outbox_;
    std::size_t running_ = 0;
    std::size_t bytes_ = 0;
    std::uint64_t queued_ = 0;  // replies queued so far
    std::uint64_t written_ = 0; // of those, the first written_ are written
    bool writing_ = false;
    bool failed_ = false;
};

} // namespace hsm

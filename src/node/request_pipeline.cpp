// SPDX-License-Identifier: Apache-2.0
// One connection's requests in flight and the replies waiting to leave.
#include "request_pipeline.hpp"

#include "hsmsh/protocol/frame_io.hpp"
#include "hsmsh/secret.hpp"

namespace hsm {

request_pipeline::request_pipeline(tls_stream& stream, duration write_timeout)
    : stream_(stream), write_timeout_(write_timeout),
      changed_(stream.get_executor(), asio::steady_timer::time_point::max()) {}

// Every waiter waits on the one timer, which never expires: a change
// cancels their waits, and each looks again.
awaitable<void> request_pipeline::until(std::function<bool()> ready) {
    while (!ready())
        co_await changed_.async_wait(asio::as_tuple(use_awaitable));
}

awaitable<void> request_pipeline::room_for(std::size_t size) {
    std::function<bool()> fits = [this, size] {
        return running_ == 0 || (running_ < max_requests && bytes_ + size <= max_bytes);
    };
    co_await until(std::move(fits));
}

awaitable<void> request_pipeline::drained() {
    std::function<bool()> done = [this] { return idle(); };
    co_await until(std::move(done));
}

void request_pipeline::started(std::size_t size) noexcept {
    ++running_;
    bytes_ += size;
}

void request_pipeline::finished(std::size_t size) noexcept {
    --running_;
    bytes_ -= size;
    changed_.cancel();
}

awaitable<void> request_pipeline::send(std::string body) {
    outbox_.push_back(std::move(body));
    auto mine = ++queued_;
    if (writing_) {
        // Written by the write on its way, or the next it makes: this
        // request counts as in flight until then, so a client that does not
        // read holds at most max_requests replies here.
        std::function<bool()> written = [this, mine] { return written_ >= mine || failed_; };
        co_await until(std::move(written));
        if (written_ < mine)
            throw frame_error("the connection failed before the reply was written");
        co_return;
    }
    writing_ = true;
    std::string batch;
    try {
        while (!outbox_.empty()) {
            auto last = queued_;
            for (auto& b : outbox_) {
                auto header = frame_header_for(b); // a reply too large ends the connection
                batch.append(reinterpret_cast<const char*>(header.data()), header.size());
                batch.append(b);
                wipe(b);
            }
            outbox_.clear();
            co_await with_deadline(asio::async_write(stream_, asio::buffer(batch), use_awaitable),
                                   write_timeout_);
            wipe(batch);
            batch.clear();
            written_ = last;
            changed_.cancel();
        }
    } catch (...) {
        failed_ = true;
        wipe(batch);
        for (auto& b : outbox_)
            wipe(b);
        outbox_.clear();
        writing_ = false;
        changed_.cancel();
        throw;
    }
    writing_ = false;
    changed_.cancel();
}

} // namespace hsm

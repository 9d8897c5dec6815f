// SPDX-License-Identifier: Apache-2.0
// A loopback TCP proxy that adds a fixed delay to every chunk a client sends
// to its server, keeping order, without serialising connections: a stand-in
// for network latency on a machine without netem. One thread serves every
// listener, so the harness costs the machine little next to what it measures.
//
//   delay_proxy DELAY_MS UPSTREAM_PORT...
//
// Prints one line per upstream port: the 127.0.0.1 port that proxies to it.
// Runs until its standard input closes.
#include "hsmsh/asio.hpp"

#include <chrono>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

struct chunk {
    clock_type::time_point due;
    std::vector<char> bytes;
};

// Copies `from` to `to`, each chunk held back until `delay` after it arrived.
asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to,
                           std::chrono::milliseconds delay) {
    auto executor = co_await asio::this_coro::executor;
    auto queue = std::make_shared<std::deque<chunk>>();
    auto ready = std::make_shared<asio::steady_timer>(executor, clock_type::time_point::max());
    auto reading = std::make_shared<bool>(true);

    // The writer: waits for each chunk's due time, then sends it.
    auto writer = [](std::shared_ptr<tcp::socket> to, std::shared_ptr<std::deque<chunk>> queue,
                     std::shared_ptr<asio::steady_timer> ready,
                     std::shared_ptr<bool> reading) -> asio::awaitable<void> {
        asio::steady_timer wait(co_await asio::this_coro::executor);
        for (;;) {
            if (queue->empty()) {
                if (!*reading) break;
                boost::system::error_code ec;
                co_await ready->async_wait(asio::redirect_error(asio::use_awaitable, ec));
                continue;
            }
            wait.expires_at(queue->front().due);
            co_await wait.async_wait(asio::use_awaitable);
            auto bytes = std::move(queue->front().bytes);
            queue->pop_front();
            co_await asio::async_write(*to, asio::buffer(bytes), asio::use_awaitable);
        }
        boost::system::error_code ignored;
        to->shutdown(tcp::socket::shutdown_send, ignored);
    };
    asio::co_spawn(executor, writer(to, queue, ready, reading), asio::detached);

    std::vector<char> buffer(65536);
    for (;;) {
        boost::system::error_code ec;
        auto n = co_await from->async_read_some(asio::buffer(buffer),
                                                asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
        queue->push_back({clock_type::now() + delay, {buffer.begin(), buffer.begin() + n}});
        ready->cancel();
    }
    *reading = false;
    ready->cancel();
}

asio::awaitable<void> serve(tcp::acceptor acceptor, std::uint16_t upstream,
                            std::chrono::milliseconds delay) {
    auto executor = co_await asio::this_coro::executor;
    for (;;) {
        auto client =
            std::make_shared<tcp::socket>(co_await acceptor.async_accept(asio::use_awaitable));
        auto server = std::make_shared<tcp::socket>(executor);
        boost::system::error_code ec;
        co_await server->async_connect({asio::ip::address_v4::loopback(), upstream},
                                       asio::redirect_error(asio::use_awaitable, ec));
        if (ec) continue;
        client->set_option(tcp::no_delay(true));
        server->set_option(tcp::no_delay(true));
        asio::co_spawn(executor, pump(client, server, delay), asio::detached);
        asio::co_spawn(executor, pump(server, client, std::chrono::milliseconds(0)),
                       asio::detached);
    }
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: delay_proxy DELAY_MS UPSTREAM_PORT...\n";
        return 2;
    }
    std::chrono::milliseconds delay(std::atoi(argv[1]));
    asio::io_context io(1);
    for (int i = 2; i < argc; ++i) {
        tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
        std::cout << acceptor.local_endpoint().port() << '\n';
        asio::co_spawn(
            io, serve(std::move(acceptor), static_cast<std::uint16_t>(std::atoi(argv[i])), delay),
            asio::detached);
    }
    std::cout.flush();
    // Stop when the harness closes our standard input.
    asio::posix::stream_descriptor input(io, ::dup(0));
    std::vector<char> sink(256);
    input.async_read_some(asio::buffer(sink),
                          [&](boost::system::error_code, std::size_t) { io.stop(); });
    io.run();
    return 0;
}

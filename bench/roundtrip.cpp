// SPDX-License-Identifier: Apache-2.0
// The cost of one bare request/response over mutual TLS to one node, with the
// client library alone: the bound the shell's per-command overhead is held to.
#include "hsmsh/client/client.hpp"
#include "hsmsh/files.hpp"
#include "hsmsh/tls.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>

using namespace hsm;

int main(int argc, char** argv) {
    if (argc != 7) {
        std::cerr << "usage: roundtrip CERT KEY ANCHOR PORT CLUSTER COUNT\n";
        return 2;
    }
    tls_identity id{
        read_file(argv[1], 65536), read_file(argv[2], 65536), {read_file(argv[3], 65536)}, {}, {}};
    auto ctx = make_client_context(id);
    asio::io_context io;
    node_client client(io.get_executor(), ctx);
    auto port = static_cast<std::uint16_t>(std::atoi(argv[4]));
    int count = std::atoi(argv[6]);
    double seconds = 0;
    auto run = [&]() -> awaitable<void> {
        co_await client.connect("127.0.0.1", port, argv[5], std::chrono::seconds(10));
        auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < count; ++i)
            co_await client.call(operation::list_users, json::object(), std::chrono::seconds(10));
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        co_await client.close(std::chrono::seconds(1));
    };
    auto done = asio::co_spawn(io, run(), asio::use_future);
    io.run();
    done.get();
    std::cout << seconds / count << '\n';
    return 0;
}

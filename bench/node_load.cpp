// SPDX-License-Identifier: Apache-2.0
// Node concurrency: CLIENTS connections to one node, each logged in as the
// crypto officer, run a mixed stream (listUsers, createUser, changePswd,
// deleteUser) for SECONDS, or with MODE "list" listUsers alone. Prints one
// JSON line: requests, throughput and latency percentiles. The officer's
// password is read from standard input, never from argv.
//
//   node_load CERT KEY ANCHOR PORT CLUSTER CLIENTS SECONDS MODE < password
#include "hsmsh/client/client.hpp"
#include "hsmsh/files.hpp"
#include "hsmsh/tls.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <span>
#include <string>
#include <vector>

using namespace hsm;
using clock_type = std::chrono::steady_clock;

namespace {

struct tally {
    std::vector<double> latencies;
    std::map<std::string, int> statuses;
};

awaitable<void> client_loop(asio::ssl::context& ctx, std::uint16_t port, std::string cluster,
                            std::string password, int index, bool list_only,
                            clock_type::time_point start_at, clock_type::time_point stop_at,
                            tally& out) {
    node_client client(co_await asio::this_coro::executor, ctx);
    const auto timeout = std::chrono::seconds(30);
    co_await client.connect("127.0.0.1", port, cluster, timeout);
    json login{{"type", "CO"}, {"name", "admin"}, {"password", password}};
    auto r = co_await client.call(operation::login, login, timeout);
    if (r.code != status::ok) throw std::runtime_error("login refused");
    asio::steady_timer wait(co_await asio::this_coro::executor, start_at);
    co_await wait.async_wait(use_awaitable);
    for (int k = 0; clock_type::now() < stop_at; ++k) {
        auto name = "load" + std::to_string(index) + "_" + std::to_string(k);
        json create{{"type", "CU"}, {"name", name}, {"password", "load-pass-" + name}};
        json change{{"type", "CU"}, {"name", name}, {"password", "pass-load-" + name}};
        json remove{{"type", "CU"}, {"name", name}};
        std::pair<operation, json> steps[] = {{operation::list_users, json::object()},
                                              {operation::create_user, create},
                                              {operation::change_password, change},
                                              {operation::delete_user, remove}};
        for (auto& [op, fields] : std::span(steps).first(list_only ? 1 : 4)) {
            auto t0 = clock_type::now();
            auto reply = co_await client.call(op, fields, timeout);
            out.latencies.push_back(std::chrono::duration<double>(clock_type::now() - t0).count());
            ++out.statuses[std::string(status_name(reply.code))];
        }
    }
    co_await client.close(std::chrono::seconds(2));
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 9) {
        std::cerr << "usage: node_load CERT KEY ANCHOR PORT CLUSTER CLIENTS SECONDS MODE "
                     "< password\n";
        return 2;
    }
    std::string password;
    std::getline(std::cin, password);
    tls_identity id{
        read_file(argv[1], 65536), read_file(argv[2], 65536), {read_file(argv[3], 65536)}, {}, {}};
    auto ctx = make_client_context(id);
    auto port = static_cast<std::uint16_t>(std::atoi(argv[4]));
    int clients = std::atoi(argv[6]);
    std::chrono::duration<double> seconds(std::atof(argv[7]));
    bool list_only = std::string_view(argv[8]) == "list";

    asio::io_context io(1);
    tally out;
    // Everyone connects and logs in first; the clock starts together.
    auto start_at = clock_type::now() + std::chrono::seconds(2);
    auto stop_at = start_at + std::chrono::duration_cast<clock_type::duration>(seconds);
    int failed = 0;
    for (int i = 0; i < clients; ++i)
        asio::co_spawn(
            io, client_loop(ctx, port, argv[5], password, i, list_only, start_at, stop_at, out),
            [&](std::exception_ptr e) {
                if (e) ++failed;
            });
    io.run();
    auto elapsed = std::chrono::duration<double>(clock_type::now() - start_at).count();
    auto& l = out.latencies;
    std::sort(l.begin(), l.end());
    auto pct = [&](double p) {
        return l.empty() ? 0.0 : l[std::min(l.size() - 1, static_cast<std::size_t>(p * l.size()))];
    };
    json result{{"clients", clients},          {"seconds", elapsed},      {"requests", l.size()},
                {"per_s", l.size() / elapsed}, {"p50_s", pct(0.50)},      {"p99_s", pct(0.99)},
                {"statuses", out.statuses},    {"failed_clients", failed}};
    std::cout << result.dump() << '\n';
    return failed == 0 ? 0 : 1;
}

// SPDX-License-Identifier: Apache-2.0
// Connections to every server of one cluster and the parallel fan-out, for the
// shell and the PKCS#11 module alike.
#pragma once

#include "hsmsh/client/client.hpp"
#include "hsmsh/client/config.hpp"
#include "hsmsh/outcome.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace hsm {

struct fan_progress; // one fan-out's completions (cluster_link.cpp)

/// Owns the network thread and one node_client per configured server. All
/// public calls are made from one thread (the terminal's); they block until
/// every server involved has answered or passed its own deadline.
class cluster_link {
public:
    /// Reads the certificates and key. Throws config_error naming the file.
    /// With `libctx`, TLS runs in that OpenSSL library context (the PKCS#11
    /// module's own); without, in the default one.
    cluster_link(const cluster_config& config, duration connect_timeout, duration request_timeout,
                 OSSL_LIB_CTX* libctx = nullptr);
    ~cluster_link();
    cluster_link(const cluster_link&) = delete;
    cluster_link& operator=(const cluster_link&) = delete;

    std::size_t size() const noexcept { return servers_.size(); }
    const server_entry& server(std::size_t i) const { return servers_.at(i); }
    const std::string& cluster_id() const noexcept { return cluster_id_; }
    bool connected(std::size_t i) const;
    /// Server `i`'s connection's TLS channel binding (empty when not connected).
    std::vector<std::uint8_t> channel(std::size_t i) const;

    /// Connects the given servers in parallel, each within the connect timeout.
    std::vector<connect_outcome> connect(const std::vector<std::size_t>& which);

    /// Sends the request to every target in parallel, each within the request
    /// timeout. If `*interrupt` becomes true, requests in flight are cut off
    /// and reported as cancelled. Results are in the order of `targets`.
    std::vector<server_outcome> call(const std::vector<std::size_t>& targets, operation op,
                                     const json& fields, const std::atomic<bool>* interrupt);

    /// Closes every connection with a TLS close_notify (bounded).
    void close_all();

    /// Once per connect or call that takes longer than `after`, `notice` is
    /// told (on the calling thread) which servers it still waits for: a
    /// stopped node is then named at once rather than after the timeout.
    void on_slow(duration after, std::function<void(const slow_servers&)> notice);

private:
    /// Runs one task per target; with a `deadline`, the targets still
    /// running when it passes are expired (one timer for the whole fan-out).
    template <typename T>
    std::vector<T> run_all(std::vector<awaitable<T>> tasks, const std::vector<std::size_t>& targets,
                           const std::atomic<bool>* interrupt,
                           std::optional<duration> deadline = std::nullopt);

    /// Without a pin, the nodes of one cluster must present one certificate:
    /// those whose certificate is not the one most present (the first
    /// listed, on a tie) fail as wrong_cluster, and the rest pin it.
    void agree_on_certificate(const std::vector<std::size_t>& which,
                              std::vector<connect_outcome>& outcomes);

    /// Expires the targets still running `after` from now (on the network thread).
    void expire_after(std::shared_ptr<fan_progress> progress,
                      const std::vector<std::size_t>& targets, duration after);

    /// Waits until every task of `progress` finished: names the slow
    /// servers once, and cuts off those in flight when `*interrupt` is set.
    void wait_for(const std::shared_ptr<fan_progress>& progress,
                  const std::vector<std::size_t>& targets, const std::atomic<bool>* interrupt,
                  std::optional<duration> deadline);

    /// Tells slow_notice_ which targets have not finished (see on_slow).
    void tell_slow(const std::vector<std::atomic<bool>>& finished,
                   const std::vector<std::size_t>& targets, std::optional<duration> deadline);

    std::string cluster_id_;
    std::string pin_;
    std::vector<server_entry> servers_;
    duration connect_timeout_;
    duration request_timeout_;
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    ssl::context tls_;
    std::vector<std::unique_ptr<node_client>> clients_;
    std::thread thread_;
    duration slow_after_{};
    std::function<void(const slow_servers&)> slow_notice_;
};

} // namespace hsm

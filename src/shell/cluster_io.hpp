// SPDX-License-Identifier: Apache-2.0
// The shell's connections to the open cluster: connecting, reconnecting
// lost servers, and sending one request to many servers at once.
#pragma once

#include "hsmsh/client/config.hpp"
#include "hsmsh/duration.hpp"
#include "hsmsh/outcome.hpp"
#include "session_state.hpp"
#include "shell_output.hpp"

#include <memory>
#include <string>
#include <vector>

namespace hsm {

class cluster_link;

/// After how long the shell names the servers it still waits for.
inline constexpr duration slow_notice_after = std::chrono::seconds(2);

/// Owns the link to the open cluster and keeps `session` in step with it
/// (connections made and lost, certificates seen). Lives on the terminal
/// thread; `config`, `session`, `output`, `input` and `options` outlive it.
class cluster_io {
public:
    struct timeouts {
        duration connect;
        duration request;
    };

    cluster_io(const client_config& config, timeouts limits, session_state& session,
               shell_output& output, line_input& input, const shell_options& options);
    ~cluster_io();
    cluster_io(const cluster_io&) = delete;
    cluster_io& operator=(const cluster_io&) = delete;

    /// Opens cluster `id` of the configuration (the default one when
    /// empty), closing the one open, and resets the session. Throws
    /// config_error when it is unknown or its certificates are unreadable.
    void open(const std::string& id);
    /// Closes every connection with a TLS close_notify (bounded).
    void disconnect();
    const std::string& cluster_id() const noexcept;
    cluster_link& link() noexcept { return *link_; }
    const cluster_link& link() const noexcept { return *link_; }
    /// `server N(name)` of server `i`.
    std::string label(std::size_t i) const;

    /// Connects every server in parallel and prints CMU's lines. Returns the
    /// number of servers connected.
    std::size_t connect_all();
    /// The servers a command addresses (after reconnecting lost ones),
    /// connected or not: those not connected report NOT_CONNECTED.
    std::vector<std::size_t> targets();
    /// How many of `servers` are connected.
    std::size_t live(const std::vector<std::size_t>& servers) const;
    /// Sends `op` to `targets` in parallel; Ctrl-C cuts it off when
    /// `interruptible`. A password in `fields` is wiped once sent.
    std::vector<server_report> fan_out(const std::vector<std::size_t>& targets, operation op,
                                       json fields, bool interruptible = true);

private:
    /// Names the servers a command still waits for (standard error).
    void tell_waiting(const slow_servers& slow);
    void print_connection(std::size_t i, const connect_outcome& result);
    void reconnect(const std::vector<std::size_t>& lost);

    const client_config& config_;
    timeouts limits_;
    session_state& session_;
    shell_output& output_;
    line_input& input_;
    const shell_options& options_;
    std::unique_ptr<cluster_link> link_;
};

} // namespace hsm

// SPDX-License-Identifier: Apache-2.0
// `hsmd serve`: loads a node's data directory and serves it until SIGTERM/SIGINT.
#pragma once

#include "node_server.hpp"
#include "store/node_data.hpp"

#include "hsmsh/protocol/keys.hpp"

#include <chrono>

#include <string>
#include <vector>

#include <sys/types.h>

namespace hsm {

struct serve_options {
    node_paths paths;
    std::string listen = "127.0.0.1:2225";
    std::vector<std::string> peers;
    /// HOST:PORT where the other nodes reach this one; empty: the bound
    /// address, unless it is a wildcard (then the node announces no address).
    std::string advertise;
    std::chrono::milliseconds announce_interval{30'000};
    std::uint32_t kdf_iterations = default_kdf_iterations;
    server_limits limits;
    std::chrono::milliseconds prepare_timeout{60'000};
    std::chrono::milliseconds token_timeout{600'000}; // a quorum token's life
    std::size_t key_quota = default_key_quota;        // keys one crypto user may own
    /// Stop (as on SIGTERM) when the process that started us exits: the
    /// demo's nodes live in their own process group, out of the terminal's
    /// reach, and must not outlive a shell that was killed.
    bool stop_with_parent = false;
    pid_t parent = 0; // the parent at start-up, for stop_with_parent
};

/// Runs the node; returns the process exit status. Throws on set-up failures.
int serve(const serve_options& options);

} // namespace hsm

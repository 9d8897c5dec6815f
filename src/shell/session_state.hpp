// SPDX-License-Identifier: Apache-2.0
// What the shell knows of its session with each server of the open
// cluster: who is logged in, what was last listed, the server mode.
#pragma once

#include "command_line.hpp"
#include "hsmsh/client/two_phase.hpp"
#include "hsmsh/protocol/quorum.hpp"
#include "hsmsh/protocol/user_rules.hpp"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace hsm {

/// A login the shell made on one server.
struct login_state {
    std::string name;
    user_type type;
    // The services whose m was above 1 there when an officer logged in
    // (or set it): where a change may be refused before its banner.
    std::set<quorum::service> under_quorum = {};
};

/// The session with each server, by the server's index in the cluster.
/// Plain data the commands read and keep up to date; lives on the
/// terminal thread.
struct session_state {
    std::optional<std::size_t> server_mode;
    std::vector<std::optional<login_state>> logins;
    std::vector<bool> ever_connected;
    std::vector<std::string> certificates; // each server's, as last verified (PEM)
    // Each server's users as last listed (nullopt: not listed since connecting).
    std::vector<std::optional<std::vector<user_summary>>> listed;
    // Key handles seen (findAllKeys, generateKey), for Tab; kept across clusters.
    std::set<std::int64_t> known_handles;

    /// A cluster of `servers` was opened: global mode, no login, nothing listed.
    void reset(std::size_t servers);
    /// The servers where the shell is logged in.
    std::vector<std::size_t> logged_in() const;
    /// The name of the login on `where` (the last server's that has one;
    /// empty when none has).
    std::string login_name(const std::vector<std::size_t>& where) const;
    /// Keeps the last listing in step with a change committed on `reports`.
    void note_committed(operation op, user_type type, const std::string& name,
                        const std::vector<phase_report>& reports);
    /// Changing the PRECO's own password activates it as CO.
    void note_activation(const parsed_command& cmd, const std::vector<std::size_t>& where);
    /// The user names of every last listing, each once, for Tab.
    std::vector<std::string> listed_names() const;
};

} // namespace hsm

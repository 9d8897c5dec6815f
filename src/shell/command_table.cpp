// SPDX-License-Identifier: Apache-2.0
// The shell's command table.
#include "command_table.hpp"

#include <array>

namespace hsm {
namespace {

using enum command_scope;

// Sorted by name. Argument counts include an optional password.
constexpr std::array commands{
    command_spec{command_id::abort_prepared, "abortPrepared", "abortPrepared <transaction-id>",
                 "Abort a prepared change that waits for its commit (our extension)", "CO", true, 1,
                 1, -1, false, anywhere, ""},
    command_spec{command_id::change_password, "changePswd",
                 "changePswd <user-type> <user-name> [<password> | -hpswd]",
                 "Change a user's password (your own, or any as CO); activates a PRECO",
                 "any logged-in user for their own password; CO for others", true, 2, 3, 2, true,
                 anywhere, "types"},
    command_spec{command_id::create_user, "createUser",
                 "createUser <user-type> <user-name> [<password> | -hpswd]",
                 "Create a user (CO, PCO, CU or AU) on every server", "CO", true, 2, 3, 2, true,
                 anywhere, "types"},
    command_spec{command_id::delete_user, "deleteUser", "deleteUser <user-type> <user-name>",
                 "Delete a user on every server", "CO", true, 2, 2, -1, false, anywhere, "types"},
    command_spec{command_id::exit_server, "exit", "exit", "Leave server mode", "everyone", false, 0,
                 0, -1, false, server_only, ""},
    command_spec{command_id::get_hsm_info, "getHSMInfo", "getHSMInfo",
                 "Show each HSM's model, ids, state and limits", "everyone, no login", false, 0, 0,
                 -1, false, anywhere, ""},
    command_spec{command_id::help, "help", "help [<command>]", "List commands or describe one",
                 "everyone", false, 0, 1, -1, false, anywhere, "commands"},
    command_spec{command_id::info, "info", "info server <server-number>",
                 "Show one server's connection and login state", "everyone, no login", false, 2, 2,
                 -1, false, anywhere, ""},
    command_spec{command_id::list_clusters, "listClusters", "listClusters",
                 "List the configured clusters (our extension)", "everyone", false, 0, 0, -1, false,
                 anywhere, ""},
    command_spec{command_id::list_prepared, "listPrepared", "listPrepared",
                 "List the changes prepared on each server and waiting for their commit "
                 "(our extension)",
                 "CO", false, 0, 0, -1, false, anywhere, ""},
    command_spec{command_id::list_users, "listUsers", "listUsers [--summary]",
                 "List the users on each server, and where servers disagree", "everyone, no login",
                 false, 0, 1, -1, false, anywhere, ""},
    command_spec{command_id::login, "loginHSM",
                 "loginHSM <user-type> <user-name> [<password> | -hpswd]", "Log in on every server",
                 "everyone", false, 2, 3, 2, false, anywhere, "types"},
    command_spec{command_id::logout, "logoutHSM", "logoutHSM", "Log out on every server",
                 "any logged-in user", false, 0, 0, -1, false, anywhere, ""},
    command_spec{command_id::quit, "quit", "quit", "Disconnect and leave the shell", "everyone",
                 false, 0, 0, -1, false, anywhere, ""},
    command_spec{command_id::server, "server", "server <server-number>",
                 "Enter server mode: commands go to that server only", "everyone", false, 1, 1, -1,
                 false, global_only, ""},
    command_spec{command_id::sync_user, "syncUser",
                 "syncUser <user-id|user-name> <server-number> [--force] | "
                 "syncUser <user-name> --all [--force]",
                 "Copy a user's record (never a password) from this server to another "
                 "(server mode), or make every server agree with the newest (--all)",
                 "CO", true, 2, 3, -1, false, anywhere, ""},
    command_spec{command_id::use_cluster, "useCluster", "useCluster <cluster-id>",
                 "Switch to another configured cluster (our extension)", "everyone", false, 1, 1,
                 -1, false, global_only, ""},
};

constexpr std::array<std::string_view, 6> user_types{"PRECO", "CO", "PCO", "CU", "AU", "preCO"};

} // namespace

std::span<const command_spec> command_table() noexcept {
    return commands;
}

std::span<const std::string_view> completion_user_types() noexcept {
    return std::span(user_types).first(5);
}

command_lookup find_command(std::string_view word) {
    command_lookup out;
    if (word.empty()) return out;
    for (const auto& c : commands) {
        if (c.name == word) {
            out.spec = &c;
            out.matches = {c.name};
            return out;
        }
        if (c.name.starts_with(word)) out.matches.push_back(c.name);
    }
    if (out.matches.size() == 1)
        for (const auto& c : commands)
            if (c.name == out.matches.front()) out.spec = &c;
    return out;
}

} // namespace hsm

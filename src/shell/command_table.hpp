// SPDX-License-Identifier: Apache-2.0
// The one declarative table of shell commands: parsing, help, completion and
// the confirmation policy all read it.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hsm {

enum class command_id {
    abort_prepared,
    change_password,
    create_user,
    delete_user,
    exit_server,
    get_hsm_info,
    help,
    info,
    list_clusters,
    list_prepared,
    list_users,
    login,
    logout,
    quit,
    server,
    sync_user,
    use_cluster,
};

/// Where a command may run.
enum class command_scope { anywhere, global_only, server_only };

struct command_spec {
    command_id id;
    std::string_view name;
    std::string_view synopsis;
    std::string_view summary;
    std::string_view who; // who may run it, in the man page's words
    bool critical;        // prints the banner and asks y/n
    std::size_t min_args;
    std::size_t max_args;
    int password_arg;  // index of a password argument, or -1
    bool new_password; // a new password: asked twice at a terminal
    command_scope scope;
    std::string_view completes; // what Tab offers for arguments: "types", "commands" or ""
};

/// All commands, sorted by name.
std::span<const command_spec> command_table() noexcept;

/// The outcome of looking up a command word.
struct command_lookup {
    const command_spec* spec = nullptr;    // set when exact or a unique prefix
    std::vector<std::string_view> matches; // all commands the word is a prefix of
};

/// Exact name, else unique prefix. Ambiguous or unknown: spec is null.
command_lookup find_command(std::string_view word);

/// The user types offered to Tab completion.
std::span<const std::string_view> completion_user_types() noexcept;

} // namespace hsm

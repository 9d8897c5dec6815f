// SPDX-License-Identifier: Apache-2.0
// The one declarative table of shell commands: parsing, help, completion and
// the confirmation policy all read it.
#pragma once

#include "hsmsh/protocol/wire.hpp"

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hsm {

enum class command_id {
    abort_prepared,
    approve_token,
    change_password,
    create_user,
    delete_token,
    delete_user,
    enable_e2e,
    exit_server,
    destroy_key,
    find_keys,
    generate_key,
    get_attribute,
    get_key_info,
    import_pem,
    list_attributes,
    set_attribute,
    share_key,
    sync_key,
    get_cert,
    get_hsm_info,
    get_m_value,
    get_token,
    help,
    info,
    list_clusters,
    list_prepared,
    list_tokens,
    list_users,
    login,
    logout,
    quit,
    quorum_status,
    register_quorum_key,
    server,
    set_key_quota,
    set_m_value,
    sync_user,
    use_cluster,
    unwrap_key,
    wrap_key,
};

/// Where a command may run.
enum class command_scope { anywhere, global_only, server_only };

/// What Tab offers for an argument.
enum class completion { none, user_types, user_names, commands, cluster_ids, key_handles };

struct shell_context;
struct parsed_command;
enum class line_result;

/// Runs one parsed command of its entry (the handlers, free functions
/// grouped by capability, are declared in *_commands.hpp).
using command_handler = line_result (*)(shell_context&, parsed_command&);

/// One command: everything the parser, help, completion, confirmation and
/// the executor know of it.
struct command_spec {
    command_id id;
    std::string_view name;
    std::string_view synopsis;
    std::string_view summary;
    std::string_view who; // who may run it, in the man page's words
    command_handler handler = nullptr;
    std::optional<operation> op = std::nullopt; // what it sends (user changes: what is prepared)
    bool critical = false;     // prints the banner and asks y/n before changing anything
    bool cmu_critical = false; // the same where CMU asks (--cmu-compat): CMU scripts answer there
    std::size_t min_args = 0;
    std::size_t max_args = 0;
    int password_arg = -1;     // index of a password argument, or -1
    bool new_password = false; // a new password: asked twice at a terminal
    bool two_factor = false;   // takes -2fa <authdata-file> after the user name
    bool revocable = false;    // takes -revoke: the user's sessions end with the change
    command_scope scope = command_scope::anywhere;
    std::array<completion, 2> completes = {}; // for the first two arguments
    std::string_view lead = {}; // user changes: CMU's line before the results: {0} user, {1} nodes
    std::string_view changes = "users"; // what the banner says a critical command changes
    std::string_view example = {};      // help <command> prints it: lines to run as they are
};

/// All commands, sorted by name.
std::span<const command_spec> command_table() noexcept;

/// Which commands ask before they change anything: hsmsh's own set, or CMU's.
enum class confirmation_set { hsmsh, cmu };

/// Whether `spec` asks for confirmation under `set`.
bool asks_confirmation(const command_spec& spec, confirmation_set set) noexcept;

/// The outcome of looking up a command word.
struct command_lookup {
    const command_spec* spec = nullptr;    // set when exact or a unique prefix
    std::vector<std::string_view> matches; // all commands the word is a prefix of
    std::string_view suggestion;           // unknown: the nearest name, if near enough
};

/// Exact name, else unique prefix, in any case (listusers is listUsers).
/// Ambiguous or unknown: spec is null; an unknown word within two edits of
/// a name gets that name as its suggestion.
command_lookup find_command(std::string_view word);

/// The user types offered to Tab completion.
std::span<const std::string_view> completion_user_types() noexcept;

/// What the shell knows that Tab may offer besides the table's own words.
struct completion_sources {
    std::vector<std::string> user_names;  // as last listed
    std::vector<std::string> cluster_ids; // of the configuration file
    std::vector<std::string> key_handles; // seen by findAllKeys and generateKey
};

/// The words Tab offers for `partial`, given the words before it: command
/// names first, then what the command's entry says of that argument.
std::vector<std::string> complete_words(const std::vector<std::string>& before,
                                        const std::string& partial,
                                        const completion_sources& known);

} // namespace hsm

// SPDX-License-Identifier: Apache-2.0
// The shell's command table.
#include "command_table.hpp"

#include "cluster_commands.hpp"
#include "key_commands.hpp"
#include "prepared_changes.hpp"
#include "quorum_commands.hpp"
#include "session_commands.hpp"
#include "user_commands.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace hsm {
namespace {

// Two-factor login with openssl alone (help prints it; the two-factor
// integration test runs it as printed): each Digest decoded, signed as a
// SHA-256 value, and its Signature added beside it.
constexpr std::string_view login_example =
    "# loginHSM CO officer1 -2fa authdata.json writes a Digest per HSM and waits;\n"
    "# in a system shell, in the same directory, sign them with officer1.key:\n"
    R"ex(for d in $(sed -n 's/.*"Digest": "\(.*\)".*/\1/p' authdata.json); do s=$(printf %s "$d" | openssl base64 -d -A | openssl pkeyutl -sign -inkey officer1.key -pkeyopt digest:sha256 | openssl base64 -A); sed -i "s|\"Digest\": \"$d\"|&, \"Signature\": \"$s\"|" authdata.json; done)ex"
    "\n# then press Enter in hsmsh";

constexpr std::string_view enroll_example =
    "# the officer's new key pair:\n"
    "openssl genrsa -out officer1.key 2048\n"
    "openssl rsa -in officer1.key -pubout -out officer1.pub\n"
    "# changePswd (or createUser) CO officer1 -2fa authdata.json writes a Digest per\n"
    "# HSM and waits: sign every Digest with officer1.key as help loginHSM shows,\n"
    "# then add the public key:\n"
    R"ex(sed -i "s|\"Version\"|\"PublicKey\": \"$(tr '\n' ' ' < officer1.pub)\", &|" authdata.json)ex"
    "\n# then press Enter in hsmsh";

using enum command_scope;

// Sorted by name. Argument counts include an optional password.
const std::array commands{
    command_spec{.id = command_id::abort_prepared,
                 .name = "abortPrepared",
                 .synopsis = "abortPrepared <transaction-id>",
                 .summary = "Abort a prepared change that waits for its commit (our extension)",
                 .who = "CO",
                 .handler = &run_abort_prepared,
                 .op = operation::abort,
                 .critical = true,
                 .min_args = 1,
                 .max_args = 1},
    command_spec{.id = command_id::approve_token,
                 .name = "approveToken",
                 .synopsis = "approveToken <approval-file>",
                 .summary = "Send officers' signatures over a token file to every HSM",
                 .who = "CO, for their own tokens",
                 .handler = &run_approve_token,
                 .op = operation::approve_token,
                 .min_args = 1,
                 .max_args = 1,
                 .example =
                     "# after getToken 3 officer1 t (officer1 logged in), in a system shell:\n"
                     "openssl dgst -sha256 -sign officer1.key -out t.sig1 t\n"
                     "openssl dgst -sha256 -sign officer2.key -out t.sig2 t\n"
                     "printf 'Multi Token File Path = t;\\nToken File Path = ;\\n"
                     "Number of Approvals = 2;\\nApprover Type = 2;\\nApprover Name = officer1;\\n"
                     "Approval File = t.sig1;\\nApprover Type = 2;\\nApprover Name = officer2;\\n"
                     "Approval File = t.sig2;\\n' > approval.txt\n"
                     "# then, in hsmsh, from the same directory:\n"
                     "approveToken approval.txt"},
    command_spec{.id = command_id::change_password,
                 .name = "changePswd",
                 .synopsis = "changePswd <user-type> <user-name> [<password> | -hpswd] "
                             "[-2fa <authdata-file>] [-revoke]",
                 .summary = "Change a user's password (your own, or any as CO); activates a PRECO",
                 .who = "any logged-in user for their own password; CO for others",
                 .handler = &run_user_change,
                 .op = operation::change_password,
                 .critical = true,
                 .cmu_critical = true,
                 .min_args = 2,
                 .max_args = 3,
                 .password_arg = 2,
                 .new_password = true,
                 .two_factor = true,
                 .revocable = true,
                 .completes = {completion::user_types, completion::user_names},
                 .lead = "Changing password for {0} on {1} nodes",
                 .example = enroll_example},
    command_spec{.id = command_id::create_user,
                 .name = "createUser",
                 .synopsis = "createUser <user-type> <user-name> [<password> | -hpswd] "
                             "[-2fa <authdata-file>]",
                 .summary = "Create a user (CO, PCO, CU or AU) on every server",
                 .who = "CO",
                 .handler = &run_user_change,
                 .op = operation::create_user,
                 .critical = true,
                 .cmu_critical = true,
                 .min_args = 2,
                 .max_args = 3,
                 .password_arg = 2,
                 .new_password = true,
                 .two_factor = true,
                 .completes = {completion::user_types},
                 .lead = "Creating User {0} on {1} nodes",
                 .example = enroll_example},
    command_spec{.id = command_id::delete_token,
                 .name = "delToken",
                 .synopsis = "delToken <token-file> | all",
                 .summary = "Delete your quorum tokens in a token file, or all of them",
                 .who = "CO, for their own tokens",
                 .handler = &run_delete_token,
                 .op = operation::delete_token,
                 .min_args = 1,
                 .max_args = 1},
    command_spec{.id = command_id::delete_user,
                 .name = "deleteUser",
                 .synopsis = "deleteUser <user-type> <user-name> [-revoke]",
                 .summary = "Delete a user on every server",
                 .who = "CO",
                 .handler = &run_user_change,
                 .op = operation::delete_user,
                 .critical = true,
                 .min_args = 2,
                 .max_args = 2,
                 .revocable = true,
                 .completes = {completion::user_types, completion::user_names},
                 .lead = "Deleting user {0} on {1} nodes"},
    command_spec{.id = command_id::destroy_key,
                 .name = "destroyKey",
                 .synopsis = "destroyKey <key-handle>",
                 .summary = "Destroy a key you own on every server (our extension)",
                 .who = "CU (owner)",
                 .handler = &run_destroy_key,
                 .op = operation::prepare,
                 .critical = true,
                 .min_args = 1,
                 .max_args = 1,
                 .completes = {completion::key_handles},
                 .changes = "keys"},
    command_spec{.id = command_id::enable_e2e,
                 .name = "enable_e2e",
                 .synopsis = "enable_e2e",
                 .summary =
                     "CMU's: say that every connection is end-to-end already (mutual TLS 1.3)",
                 .who = "everyone",
                 .handler = &run_enable_e2e},
    command_spec{.id = command_id::exit_server,
                 .name = "exit",
                 .synopsis = "exit",
                 .summary = "Leave server mode",
                 .who = "everyone",
                 .handler = &run_exit,
                 .scope = server_only},
    command_spec{.id = command_id::find_keys,
                 .name = "findAllKeys",
                 .synopsis = "findAllKeys <user-id> <key-hash 0|1> [<output-file>]",
                 .summary = "List the keys a user owns (o) or shares (s) on each server, with a "
                            "hash of them that agrees where the servers do",
                 .who = "CO, AU",
                 .handler = &run_find_keys,
                 .op = operation::find_keys,
                 .min_args = 2,
                 .max_args = 3},
    command_spec{.id = command_id::generate_key,
                 .name = "generateKey",
                 .synopsis = "generateKey <ec:p256|ec:p384|ed25519|rsa:BITS|aes:BITS|hmac:BITS> "
                             "[<label> [<id-hex>]]",
                 .summary = "Generate a key (a pair for EC, Ed25519 and RSA) you own, on every "
                            "server or none (our extension)",
                 .who = "CU",
                 .handler = &run_generate_key,
                 .op = operation::prepare,
                 .min_args = 1,
                 .max_args = 3,
                 .changes = "keys"},
    command_spec{.id = command_id::get_attribute,
                 .name = "getAttribute",
                 .synopsis = "getAttribute <key-handle> <attribute-id> [<output-file>]",
                 .summary = "Show a key's attribute (listAttributes names them; 512 is all)",
                 .who = "CU (keys it owns or shares), CO",
                 .handler = &run_get_attribute,
                 .op = operation::get_key,
                 .min_args = 2,
                 .max_args = 3,
                 .completes = {completion::key_handles}},
    command_spec{.id = command_id::get_cert,
                 .name = "getCert",
                 .synopsis = "getCert [<file-name> <certificate-type>]",
                 .summary = "Print each server's certificate; in server mode, write type 8 (the "
                            "node's) or 4 (the trust anchor) to a file, as CMU does",
                 .who = "everyone",
                 .handler = &run_get_cert,
                 .max_args = 2},
    command_spec{.id = command_id::get_hsm_info,
                 .name = "getHSMInfo",
                 .synopsis = "getHSMInfo",
                 .summary = "Show each HSM's model, ids, state and limits",
                 .who = "everyone, no login",
                 .handler = &run_query,
                 .op = operation::hsm_info},
    command_spec{.id = command_id::get_key_info,
                 .name = "getKeyInfo",
                 .synopsis = "getKeyInfo [-k] <key-handle> [<output-file>]",
                 .summary = "Show who owns a key and whom it is shared with, on each server",
                 .who = "CU (keys it owns or shares), CO",
                 .handler = &run_key_info,
                 .op = operation::get_key,
                 .min_args = 1,
                 .max_args = 3,
                 .completes = {completion::key_handles, completion::key_handles}},
    command_spec{.id = command_id::get_m_value,
                 .name = "getMValue",
                 .synopsis = "getMValue <service-number>",
                 .summary = "Show a quorum service's m value (3 USER_MGMT, 4 MISC_CO) on each HSM",
                 .who = "any logged-in user",
                 .handler = &run_get_m_value,
                 .op = operation::get_m_value,
                 .min_args = 1,
                 .max_args = 1},
    command_spec{.id = command_id::get_token,
                 .name = "getToken",
                 .synopsis = "getToken <service-number> <user-name> <token-file>",
                 .summary = "Get a quorum token from every HSM and write them to a file to sign",
                 .who = "CO, for themselves",
                 .handler = &run_get_token,
                 .op = operation::get_token,
                 .min_args = 3,
                 .max_args = 3,
                 .completes = {completion::none, completion::user_names}},
    command_spec{.id = command_id::help,
                 .name = "help",
                 .synopsis = "help [<command>]",
                 .summary = "List commands or describe one",
                 .who = "everyone",
                 .handler = &run_help,
                 .max_args = 1,
                 .completes = {completion::commands}},
    command_spec{.id = command_id::import_pem,
                 .name = "importPem",
                 .synopsis = "importPem <pem-file> [<label> [<id-hex>]]",
                 .summary = "Bring in a PEM certificate or public key you then own, on every "
                            "server or none (our extension)",
                 .who = "CU",
                 .handler = &run_import_pem,
                 .op = operation::prepare,
                 .min_args = 1,
                 .max_args = 3,
                 .changes = "keys",
                 .example = "importPem signer.crt signer-cert 01"},
    command_spec{.id = command_id::info,
                 .name = "info",
                 .synopsis = "info server <server-number>",
                 .summary = "Show one server's connection and login state",
                 .who = "everyone, no login",
                 .handler = &run_info,
                 .min_args = 2,
                 .max_args = 2},
    command_spec{.id = command_id::list_attributes,
                 .name = "listAttributes",
                 .synopsis = "listAttributes",
                 .summary = "List the key attributes and their ids",
                 .who = "everyone, no login",
                 .handler = &run_list_attributes},
    command_spec{.id = command_id::list_clusters,
                 .name = "listClusters",
                 .synopsis = "listClusters",
                 .summary = "List the configured clusters (our extension)",
                 .who = "everyone",
                 .handler = &run_list_clusters},
    command_spec{.id = command_id::list_prepared,
                 .name = "listPrepared",
                 .synopsis = "listPrepared",
                 .summary = "List the changes prepared on each server and waiting for their "
                            "commit (our extension)",
                 .who = "CO",
                 .handler = &run_list_prepared,
                 .op = operation::list_prepared},
    command_spec{.id = command_id::list_tokens,
                 .name = "listTokens",
                 .synopsis = "listTokens",
                 .summary = "List your quorum tokens, their approvals and validity, per HSM",
                 .who = "CO",
                 .handler = &run_list_tokens,
                 .op = operation::list_tokens},
    command_spec{.id = command_id::list_users,
                 .name = "listUsers",
                 .synopsis = "listUsers [--summary | --check]",
                 .summary = "List the users on each server, and where servers disagree",
                 .who = "everyone, no login",
                 .handler = &run_query,
                 .op = operation::list_users,
                 .max_args = 1},
    command_spec{.id = command_id::login,
                 .name = "loginHSM",
                 .synopsis = "loginHSM <user-type> <user-name> [<password> | -hpswd] "
                             "[-2fa <authdata-file>]",
                 .summary = "Log in on every server",
                 .who = "everyone",
                 .handler = &run_login,
                 .op = operation::login,
                 .min_args = 2,
                 .max_args = 3,
                 .password_arg = 2,
                 .two_factor = true,
                 .completes = {completion::user_types, completion::user_names},
                 .example = login_example},
    command_spec{.id = command_id::logout,
                 .name = "logoutHSM",
                 .synopsis = "logoutHSM",
                 .summary = "Log out on every server",
                 .who = "any logged-in user",
                 .handler = &run_logout,
                 .op = operation::logout},
    command_spec{.id = command_id::quit,
                 .name = "quit",
                 .synopsis = "quit",
                 .summary = "Disconnect and leave the shell",
                 .who = "everyone",
                 .handler = &run_quit},
    command_spec{.id = command_id::quorum_status,
                 .name = "quorum",
                 .synopsis = "quorum status",
                 .summary = "Per server: m values, officers with keys, your tokens and their "
                            "approvals (our extension)",
                 .who = "any logged-in user (tokens: CO)",
                 .handler = &run_quorum_status,
                 .min_args = 1,
                 .max_args = 1},
    command_spec{.id = command_id::register_quorum_key,
                 .name = "registerQuorumPubKey",
                 .synopsis = "registerQuorumPubKey <user-type> <user-name> <registration-token> "
                             "<signed-registration-token> <public-key>",
                 .summary = "Register your RSA-2048 public key for quorum approvals "
                            "(listUsers: MofnPubKey YES)",
                 .who = "CO, for their own key",
                 .handler = &run_register_quorum_key,
                 .op = operation::register_quorum_key,
                 .critical = true,
                 .cmu_critical = true,
                 .min_args = 5,
                 .max_args = 5,
                 .completes = {completion::user_types, completion::user_names},
                 .changes = "quorum keys"},
    command_spec{.id = command_id::server,
                 .name = "server",
                 .synopsis = "server <server-number>",
                 .summary = "Enter server mode: commands go to that server only",
                 .who = "everyone",
                 .handler = &run_server,
                 .min_args = 1,
                 .max_args = 1,
                 .scope = global_only},
    command_spec{.id = command_id::set_attribute,
                 .name = "setAttribute",
                 .synopsis = "setAttribute <key-handle> <attribute-id> <value>",
                 .summary = "Change a key's label (3) or a usage flag (0 or 1) on every server",
                 .who = "CU (owner); CO for OBJ_ATTR_TRUSTED (134) alone",
                 .handler = &run_set_attribute,
                 .op = operation::prepare,
                 .critical = true,
                 .cmu_critical = true,
                 .min_args = 3,
                 .max_args = 3,
                 .completes = {completion::key_handles},
                 .changes = "keys"},
    command_spec{.id = command_id::set_key_quota,
                 .name = "setKeyQuota",
                 .synopsis = "setKeyQuota <user-name> <keys | default>",
                 .summary = "Set how many keys a crypto user may own on each server (default: "
                            "the node's --key-quota) (our extension)",
                 .who = "CO; with an approved service-3 token once service 3's m is above 1",
                 .handler = &run_set_key_quota,
                 .op = operation::set_key_quota,
                 .critical = true,
                 .min_args = 2,
                 .max_args = 2,
                 .completes = {completion::user_names},
                 .lead = "Setting the key quota of {0} on {1} nodes",
                 .changes = "key quotas",
                 .example = "setKeyQuota app 1000\nsetKeyQuota app default"},
    command_spec{.id = command_id::set_m_value,
                 .name = "setMValue",
                 .synopsis = "setMValue <service-number> <m>",
                 .summary = "Set how many officers must approve a quorum service (1: off, 2-8)",
                 .who = "CO; with an approved service-4 token once service 4's m is above 1",
                 .handler = &run_set_m_value,
                 .op = operation::set_m_value,
                 .critical = true,
                 .cmu_critical = true,
                 .min_args = 2,
                 .max_args = 2,
                 .changes = "quorum m values"},
    command_spec{.id = command_id::share_key,
                 .name = "shareKey",
                 .synopsis = "shareKey <key-handle> <user-id>[,<user-id>...] <1 share | 0 unshare>",
                 .summary = "Share a key you own with crypto users, or stop sharing it",
                 .who = "CU (owner)",
                 .handler = &run_share_key,
                 .op = operation::prepare,
                 .critical = true,
                 .cmu_critical = true,
                 .min_args = 3,
                 .max_args = 3,
                 .completes = {completion::key_handles},
                 .changes = "keys"},
    command_spec{.id = command_id::sync_key,
                 .name = "syncKey",
                 .synopsis = "syncKey <key-handle> <server-number>",
                 .summary = "Copy a key, sealed, from this server to another (server mode)",
                 .who = "CO (any key), CU (its own)",
                 .handler = &run_sync_key,
                 .op = operation::prepare,
                 .critical = true,
                 .min_args = 2,
                 .max_args = 2,
                 .scope = server_only,
                 .completes = {completion::key_handles},
                 .changes = "keys"},
    command_spec{.id = command_id::sync_user,
                 .name = "syncUser",
                 .synopsis = "syncUser <user-id|user-name> <server-number> [--force] | "
                             "syncUser <user-name> --all [--force]",
                 .summary = "Copy a user's record (never a password) from this server to another "
                            "(server mode), or make every server agree with the newest (--all)",
                 .who = "CO",
                 .handler = &run_sync_user,
                 .op = operation::get_user,
                 .critical = true,
                 .min_args = 2,
                 .max_args = 3,
                 .completes = {completion::user_names}},
    command_spec{.id = command_id::unwrap_key,
                 .name = "unwrapKey",
                 .synopsis =
                     "unwrapKey <wrapping-key-handle> <aes-key-wrap-pad|aes-key-wrap|aes-gcm> "
                     "<file> <aes|hmac|ec|rsa> [<label> [<id-hex>]]",
                 .summary = "Bring in a wrapped key (a secret key's bytes, a private key's PKCS#8) "
                            "as a new key you own, on every server or none (our extension)",
                 .who = "CU",
                 .handler = &run_unwrap_key,
                 .op = operation::prepare,
                 .min_args = 4,
                 .max_args = 6,
                 .completes = {completion::key_handles},
                 .changes = "keys",
                 .example = "unwrapKey 8388609 aes-key-wrap-pad backup.kwp aes restored"},
    command_spec{.id = command_id::use_cluster,
                 .name = "useCluster",
                 .synopsis = "useCluster <cluster-id>",
                 .summary = "Switch to another configured cluster (our extension)",
                 .who = "everyone",
                 .handler = &run_use_cluster,
                 .min_args = 1,
                 .max_args = 1,
                 .scope = global_only,
                 .completes = {completion::cluster_ids}},
    command_spec{.id = command_id::wrap_key,
                 .name = "wrapKey",
                 .synopsis = "wrapKey <key-handle> <wrapping-key-handle> "
                             "<aes-key-wrap-pad|aes-key-wrap|aes-gcm> <file>",
                 .summary = "Write a key you own, if extractable, wrapped under a key-encryption "
                            "key, to a file (our extension)",
                 .who = "CU",
                 .handler = &run_wrap_key,
                 .op = operation::wrap_key,
                 .min_args = 4,
                 .max_args = 4,
                 .completes = {completion::key_handles, completion::key_handles},
                 .example = "wrapKey 8388610 8388609 aes-key-wrap-pad backup.kwp"}};

constexpr std::array<std::string_view, 6> user_types{"PRECO", "CO", "PCO", "CU", "AU", "preCO"};

} // namespace

std::span<const command_spec> command_table() noexcept {
    return commands;
}

bool asks_confirmation(const command_spec& spec, confirmation_set set) noexcept {
    return set == confirmation_set::cmu ? spec.cmu_critical : spec.critical;
}

std::span<const std::string_view> completion_user_types() noexcept {
    return std::span(user_types).first(5);
}

namespace {

char lower(char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

bool starts_with_any_case(std::string_view name, std::string_view word) {
    return word.size() <= name.size() &&
           std::ranges::equal(name.substr(0, word.size()), word,
                              [](char a, char b) { return lower(a) == lower(b); });
}

// Levenshtein distance, ignoring case; words are at most a line long.
std::size_t edits(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            auto above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                               diagonal + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

} // namespace

command_lookup find_command(std::string_view word) {
    command_lookup out;
    if (word.empty()) return out;
    for (const auto& c : commands) {
        if (c.name.size() == word.size() && starts_with_any_case(c.name, word)) {
            out.spec = &c;
            out.matches = {c.name};
            return out;
        }
        if (starts_with_any_case(c.name, word)) out.matches.push_back(c.name);
    }
    if (out.matches.size() == 1)
        for (const auto& c : commands)
            if (c.name == out.matches.front()) out.spec = &c;
    if (!out.matches.empty() || word.size() > 64) return out;
    std::size_t best = 3; // more than two edits away is no suggestion
    for (const auto& c : commands)
        if (auto d = edits(word, c.name); d < best) {
            best = d;
            out.suggestion = c.name;
        }
    return out;
}

namespace {

// Offers what `kind` of argument may be, each candidate once to `offer`.
template <typename Offer>
void offer_arguments(completion kind, const completion_sources& known, Offer offer) {
    switch (kind) {
    case completion::none:
        break;
    case completion::user_types:
        for (auto t : completion_user_types())
            offer(t);
        break;
    case completion::user_names:
        for (const auto& n : known.user_names)
            offer(n);
        break;
    case completion::commands:
        for (const auto& c : command_table())
            offer(c.name);
        break;
    case completion::cluster_ids:
        for (const auto& id : known.cluster_ids)
            offer(id);
        break;
    case completion::key_handles:
        for (const auto& h : known.key_handles)
            offer(h);
        break;
    }
}

} // namespace

std::vector<std::string> complete_words(const std::vector<std::string>& before,
                                        const std::string& partial,
                                        const completion_sources& known) {
    std::vector<std::string> out;
    auto offer = [&](std::string_view candidate) {
        if (candidate.starts_with(partial)) out.emplace_back(candidate);
    };
    if (before.empty()) {
        for (const auto& c : command_table())
            offer(c.name);
        return out;
    }
    auto found = find_command(before.front());
    std::size_t position = before.size() - 1; // of the argument being typed
    if (!found.spec || position >= found.spec->completes.size()) return out;
    offer_arguments(found.spec->completes[position], known, offer);
    return out;
}

} // namespace hsm

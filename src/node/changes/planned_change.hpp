// SPDX-License-Identifier: Apache-2.0
// A validated user change, ready to apply: what a prepare records and a
// commit applies, and how a node resolves a prepared change left in doubt.
#pragma once

#include "hsmsh/hex.hpp"
#include "hsmsh/kdf.hpp"
#include "hsmsh/protocol/user_rules.hpp"
#include "hsmsh/protocol/wire.hpp"
#include "hsmsh/sealing.hpp"
#include "quorum/approvers.hpp"

#include <optional>
#include <span>
#include <string>

namespace hsm {

struct planned_change {
    enum class kind {
        create_user,
        delete_user,
        change_password,
        sync_user,
        register_quorum_key,
        set_key_quota,
        nothing
    };
    kind what = kind::nothing;
    std::string name; // canonical user name
    user_type type = user_type::cu;
    std::optional<password_hash> hash;
    std::int64_t version = 0; // sync_user: the record's version
    int failures = 0;         // sync_user: its lock state
    bool activation = false;  // change_password of the PRECO
    bytes quorum_key;         // register_quorum_key, sync_user: the officer's key (or none)
    // set_key_quota, sync_user: the keys the user may own (none: the node's default)
    std::optional<std::int64_t> key_quota;
    approver_keys approvals; // quorum-protected changes: who approved the token used
    // Two-factor login: create_user and change_password turn it on (with
    // quorum_key, the key it proves) or, a password change of a 2FA user
    // without it, off (the key goes too); sync_user carries the record's.
    enum class second_factor { unchanged, on, off };
    second_factor two_fa = second_factor::unchanged;
    // An officer's revocation: the change passes while the user is logged
    // in, and ends its sessions (delete_user, change_password of another).
    bool revoke = false;
    // Who asked, as authenticated then: a commit re-checks that this user
    // still exists unchanged and still may make the change.
    std::int64_t actor_id = 0;
    std::int64_t actor_generation = 0;
    user_type actor_type = user_type::cu;
    // The user changed, as it was then (0: a user that does not exist yet).
    std::int64_t target_id = 0;
    std::int64_t target_generation = 0;

    /// Validated like user input: a canonical name, a lock count in
    /// [0, max_login_failures], a hash of the right sizes whose iteration
    /// count a node accepts, a quorum key of at most max_quorum_key_size bytes,
    /// a key quota in [0, max_keys_per_node].
    bool well_formed() const noexcept;

    /// The prepared row's subject: the user's name.
    std::string subject() const { return name; }
    std::string_view kind_name() const noexcept;
    json to_json() const;
    /// Nullopt for anything that is not a well-formed change.
    static std::optional<planned_change> from_json(const json& j);
    /// The change as a prepared row stores it (to_json's text).
    static std::optional<planned_change> from_stored(std::string_view text);
};

std::string_view change_kind_name(planned_change::kind k) noexcept;

/// The "kind" a stored change of any kind names; nullopt when it names none.
std::optional<std::string> stored_kind(const json& j);

/// What a peer said of a prepared change.
enum class peer_answer { committed, aborted, prepared, unknown, unreachable };

enum class resolution { commit, abort, wait };

/// The rule for a prepared change past its deadline: commit if any peer
/// committed it; wait while a peer that might have is unreachable (until
/// `give_up`); abort otherwise (the shell commits only once all prepared,
/// so no committed peer means nobody committed).
resolution resolve_prepared(std::span<const peer_answer> answers, bool give_up) noexcept;

/// A digest of a stored user record (type, version, lock state, salted
/// hash), keyed with the cluster's digest key: equal records give equal
/// digests on every node, and without the key a digest cannot be used to
/// test password guesses.
std::string record_digest(std::span<const std::uint8_t> key, std::string_view name, user_type type,
                          std::int64_t version, bool locked, const password_hash& hash,
                          std::span<const std::uint8_t> quorum_key, bool two_fa,
                          std::optional<std::int64_t> key_quota);

/// A quorum key is an RSA-2048 SubjectPublicKeyInfo: 294 bytes in DER.
inline constexpr std::size_t max_quorum_key_size = 1024;

} // namespace hsm

// SPDX-License-Identifier: Apache-2.0
// A node's quorum tokens: each one session's, in memory only, so that a
// logout, a closed connection or a restart ends it (docs/design.md, "Quorum
// tokens").
#pragma once

#include "hsmsh/protocol/quorum.hpp"
#include "hsmsh/sealing.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hsm {

/// An officer's approval of a token: who, and the key the signature was
/// checked with (a later change of that key voids the approval).
struct token_approval {
    std::string name;
    bytes key;
};

struct quorum_token {
    const void* owner = nullptr; // the session that asked for it
    std::int64_t user_id = 0;    // that session's user
    quorum::token_record record;
    std::int64_t expires_ms = 0;
    std::map<std::int64_t, token_approval> approvals; // by approver's user id
};

class quorum_tokens {
public:
    struct limits {
        std::size_t per_node = 1024; // CloudHSM's
        std::size_t per_session = 8; // so that one officer cannot take them all
        std::chrono::milliseconds lifetime{600'000};
    };

    quorum_tokens() = default;
    explicit quorum_tokens(limits l) : limits_(l) {}

    /// A new token of `service` for the session `owner` (user `user_id`,
    /// named `user`), made at `now_ms`; nullopt when the session or the
    /// node holds all it may (expired tokens are dropped first).
    const quorum_token* issue(const void* owner, std::int64_t user_id, quorum::service service,
                              const std::string& user, std::int64_t now_ms);

    /// The owner's unexpired token whose record is exactly `r`.
    quorum_token* find(const void* owner, const quorum::token_record& r, std::int64_t now_ms);

    /// Whether `r` is an unexpired token of this node, whoever's session holds it.
    bool live(const quorum::token_record& r, std::int64_t now_ms) const;

    /// The owner's unexpired token `id`.
    quorum_token* find(const void* owner, std::uint32_t id, std::int64_t now_ms);

    /// The owner's unexpired tokens, oldest first. Pointers into the
    /// registry are good until its next change.
    std::vector<const quorum_token*> of(const void* owner, std::int64_t now_ms) const;

    /// Removes the owner's token `id`; false when it has none by that id.
    bool remove(const void* owner, std::uint32_t id);
    /// Removes all the owner's tokens (logout, closed connection); how many.
    std::size_t drop(const void* owner);

    std::size_t size() const noexcept { return tokens_.size(); }
    std::chrono::milliseconds lifetime() const noexcept { return limits_.lifetime; }
    void set_lifetime(std::chrono::milliseconds t) noexcept { limits_.lifetime = t; }

private:
    void purge_expired(std::int64_t now_ms);

    limits limits_{};
    std::uint32_t last_id_ = 0;
    std::vector<quorum_token> tokens_;
};

} // namespace hsm

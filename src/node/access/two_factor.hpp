// SPDX-License-Identifier: Apache-2.0
// Two-factor login's challenges: what a node asks an officer to sign with
// its registered key (CloudHSM's authdata "Digest"), each for one purpose,
// one session and one user record, answered once (docs/design.md,
// "Two-factor login").
#pragma once

#include "hsmsh/protocol/requests.hpp"
#include "hsmsh/protocol/wire.hpp"
#include "hsmsh/sealing.hpp"
#include "hsmsh/second_factor.hpp"
#include "quorum/quorum_key.hpp"

#include <chrono>
#include <cstdint>
#include <span>

namespace hsm {

/// Where a challenge is given: the node, whose login it is (the user logging
/// in, or the officer whose session enrolls a key) and the connection.
struct two_factor_context {
    std::string_view hsm_id;
    std::string_view user; // canonical name
    std::span<const std::uint8_t> channel;
};

struct two_factor_challenge {
    using purpose = second_factor_purpose;
    purpose what = purpose::login;
    std::int64_t user_id = 0; // whose login, or which session's user
    std::int64_t generation = 0;
    bytes challenge; // random: what the node sends
    bytes digest;    // what an answer signs: second_factor_digest over challenge and context
    std::chrono::steady_clock::time_point expires;

    /// A fresh challenge of `digest_size` random bytes, for `where`.
    static two_factor_challenge issue(purpose p, std::int64_t user_id, std::int64_t generation,
                                      const two_factor_context& where,
                                      std::chrono::milliseconds lifetime);

    /// Whether `signature` by `key` answers this challenge, asked for `p` by
    /// user `user_id` as of `generation`, before it expired.
    bool answered(purpose p, std::int64_t user_id, std::int64_t generation, const quorum_key& key,
                  std::span<const std::uint8_t> signature) const;

    static constexpr std::size_t digest_size = 32;
    /// The signature for node `hsm_id` in a request's "signatures" object
    /// (HSM id -> hex: the shell sends every node the same fields). Nullopt
    /// when there is none, or the object is larger than any cluster's.
    static std::optional<bytes> signature_for(const node_signatures& all,
                                              const std::string& hsm_id);
    /// The same, from fields holding the "signatures" object.
    static std::optional<bytes> signature_for(const json& fields, const std::string& hsm_id) {
        return signature_for(decoded<second_factor_request>(fields).signatures, hsm_id);
    }
    /// An RSA-2048 signature is 256 bytes; anything longer is refused unread.
    static constexpr std::size_t max_signature_size = 512;
};

} // namespace hsm

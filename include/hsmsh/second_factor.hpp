// SPDX-License-Identifier: Apache-2.0
// What an officer's key signs to answer a two-factor challenge: a message
// that names its purpose, the HSM, the user, the node's random challenge and
// the TLS connection it was given on, so that a signature made for one
// server, user, purpose or connection never answers another, whoever chose
// the bytes (docs/design.md, "Two-factor login").
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

struct ssl_st;

namespace hsm {

enum class second_factor_purpose {
    login,  // the second step of a login whose password was right
    enroll, // proof that the officer holds the key it turns 2FA on with
};

/// "login", "enroll": the purpose as the signed message spells it.
std::string_view second_factor_purpose_name(second_factor_purpose p) noexcept;

/// The bytes of a TLS 1.3 exporter (RFC 8446, 7.5) under this label, no
/// context, 32 bytes: both ends of one connection compute the same; a relay
/// in between holds two connections with two bindings.
inline constexpr std::string_view channel_binding_label = "EXPORTER-hsmsh-two-factor";
inline constexpr std::size_t channel_binding_size = 32;

/// The binding of an established TLS connection. Throws std::runtime_error
/// when the handshake is not done.
std::vector<std::uint8_t> channel_binding(ssl_st* ssl);

/// The domain of every two-factor message; no other signature an hsmsh
/// officer key makes (quorum approvals sign CloudHSM token files, whose
/// first byte is 0; registrations refuse tokens that start so) begins so.
inline constexpr std::string_view second_factor_domain = "hsmsh two-factor v1";

/// What the officer signs as a SHA-256 value (PKCS#1 v1.5, `openssl
/// pkeyutl -sign -pkeyopt digest:sha256`): SHA-256 over the domain and a
/// NUL, then the purpose name, the HSM id, the user's canonical name, the
/// challenge and the channel binding, each as a 4-byte big-endian length
/// and its bytes.
std::vector<std::uint8_t> second_factor_digest(second_factor_purpose p, std::string_view hsm_id,
                                               std::string_view user,
                                               std::span<const std::uint8_t> challenge,
                                               std::span<const std::uint8_t> channel);

} // namespace hsm

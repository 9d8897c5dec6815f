// SPDX-License-Identifier: Apache-2.0
// CloudHSM's authdata file for two-factor login: the shell writes the
// challenges the nodes sent (a base64 "Digest" per HSM); the officer adds a
// "Signature" to each and, to turn 2FA on, the "PublicKey"; the shell reads
// the answers back, checked against what it asked.
#pragma once

#include "hsmsh/protocol/wire.hpp"

#include <span>
#include <string>
#include <string_view>

namespace hsm {

/// One node's challenge: its HSM id and the 32 raw bytes to sign.
struct authdata_challenge {
    std::string hsm_id;
    std::string digest;
};

/// The file the officer signs: {"Version":"1.0","Data":[{"HsmId","Digest"}...]}.
std::string authdata_request(std::span<const authdata_challenge> asked);

/// What the officer added.
struct authdata_answer {
    json signatures = json::object(); // HSM id -> the signature, in hex (what the nodes take)
    std::string public_key_pem;       // empty unless asked for
};

/// Reads the signed file back. Every challenge asked must be there with its
/// Digest unchanged and a Signature of at most 512 bytes; with `wants_key`,
/// a PublicKey too. Throws usage_error saying what is missing or wrong.
authdata_answer read_authdata(std::string_view text, std::span<const authdata_challenge> asked,
                              bool wants_key);

/// The largest authdata file read back: 32 servers' entries and a key.
inline constexpr std::size_t max_authdata_file = 64 * 1024;

std::string base64_encode(std::string_view data);
/// Nullopt unless `text` is standard base64 (padding required; spaces and
/// line breaks are ignored).
std::optional<std::string> base64_decode(std::string_view text);

} // namespace hsm

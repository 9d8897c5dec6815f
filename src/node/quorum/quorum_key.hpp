// SPDX-License-Identifier: Apache-2.0
// An officer's quorum key: the RSA-2048 public key whose signatures approve
// quorum tokens (and answer 2FA challenges), as CloudHSM takes it.
#pragma once

#include "crypto/key_crypto.hpp"

#include <optional>
#include <span>

namespace hsm {

class quorum_key {
public:
    /// Nullopt unless `spki` is exactly one DER SubjectPublicKeyInfo of an
    /// RSA key of 2048 bits (what `openssl rsa -pubout -outform DER` writes).
    static std::optional<quorum_key> from_der(std::span<const std::uint8_t> spki);

    /// Whether `signature` is this key's RSA PKCS#1 v1.5 signature over
    /// SHA-256(`data`): what `openssl dgst -sha256 -sign` makes.
    bool approves(std::span<const std::uint8_t> data,
                  std::span<const std::uint8_t> signature) const;

    /// Whether `signature` is this key's RSA PKCS#1 v1.5 signature of the
    /// SHA-256 value `digest` (what `openssl pkeyutl -sign -pkeyopt
    /// digest:sha256` makes of it): a 2FA challenge is signed so.
    bool approves_digest(std::span<const std::uint8_t> digest,
                         std::span<const std::uint8_t> signature) const;

    /// The key as registered (its SubjectPublicKeyInfo DER).
    std::span<const std::uint8_t> der() const noexcept { return der_; }

private:
    quorum_key(loaded_key key, bytes der) : key_(std::move(key)), der_(std::move(der)) {}
    loaded_key key_;
    bytes der_;
};

} // namespace hsm

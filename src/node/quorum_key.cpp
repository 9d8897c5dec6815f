// SPDX-License-Identifier: Apache-2.0
// An officer's quorum key, checked once when it is read.
#include "quorum_key.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>

namespace hsm {

std::optional<quorum_key> quorum_key::from_der(std::span<const std::uint8_t> spki) {
    // d2i_PUBKEY reads the first object and would ignore what follows it:
    // a registered key is exactly one, re-encoded to the same bytes.
    const auto* p = spki.data();
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
        d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())), EVP_PKEY_free);
    if (!pkey || p != spki.data() + spki.size() ||
        EVP_PKEY_get_base_id(pkey.get()) != EVP_PKEY_RSA || EVP_PKEY_get_bits(pkey.get()) != 2048)
        return std::nullopt;
    bytes der(spki.begin(), spki.end());
    auto key = loaded_key::load(key_class::public_key, key_type::rsa, key_material(bytes(der)));
    if (!key) return std::nullopt;
    return quorum_key(std::move(*key), std::move(der));
}

bool quorum_key::approves(std::span<const std::uint8_t> data,
                          std::span<const std::uint8_t> signature) const {
    return verify_data(mechanism::rsa_pkcs1_sha256, key_, data, signature) == status::ok;
}

} // namespace hsm

// SPDX-License-Identifier: Apache-2.0
// An officer's quorum key, checked once when it is read.
#include "quorum/quorum_key.hpp"

#include <openssl/evp.h>
#include <openssl/rsa.h>
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

bool quorum_key::approves_digest(std::span<const std::uint8_t> digest,
                                 std::span<const std::uint8_t> signature) const {
    if (digest.size() != 32 || !key_.pkey()) return false;
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
        EVP_PKEY_CTX_new(key_.pkey(), nullptr), EVP_PKEY_CTX_free);
    return ctx && EVP_PKEY_verify_init(ctx.get()) == 1 &&
           EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) == 1 &&
           EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1 &&
           EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(), digest.data(),
                           digest.size()) == 1;
}

} // namespace hsm

// SPDX-License-Identifier: Apache-2.0
// The module's mechanism table and the readers of its mechanisms' parameters.
#include "mechanism_table.hpp"

#include "hsmsh/hex.hpp"

#include <algorithm>
#include <cstring>

namespace hsm::p11 {
namespace {

// The mechanism's parameters, when they are a structure of that size.
template <typename P> std::optional<P> parameters(const CK_MECHANISM& m) {
    if (!m.pParameter || m.ulParameterLen != sizeof(P)) return std::nullopt;
    P p;
    std::memcpy(&p, m.pParameter, sizeof p);
    return p;
}

// RSA-PSS: the nodes salt with as many bytes as the digest has, MGF1 with the same hash.
template <CK_MECHANISM_TYPE Hash, CK_RSA_PKCS_MGF_TYPE Mgf, CK_ULONG SaltLength>
CK_RV pss_parameters(const CK_MECHANISM& m, key_operation, node_mechanism&) {
    auto p = parameters<CK_RSA_PKCS_PSS_PARAMS>(m);
    if (!p || p->hashAlg != Hash || p->mgf != Mgf || p->sLen != SaltLength)
        return CKR_MECHANISM_PARAM_INVALID;
    return CKR_OK;
}

// RSA-OAEP: SHA-1 or SHA-2 with MGF1 of the same hash, and a label (the
// node's "aad") of at most 16 KiB.
CK_RV oaep_parameters(const CK_MECHANISM& m, key_operation, node_mechanism& out) {
    struct oaep_hash {
        CK_MECHANISM_TYPE hash;
        CK_RSA_PKCS_MGF_TYPE mgf;
        mechanism which;
    };
    static constexpr oaep_hash hashes[]{{CKM_SHA_1, CKG_MGF1_SHA1, mechanism::rsa_oaep_sha1},
                                        {CKM_SHA224, CKG_MGF1_SHA224, mechanism::rsa_oaep_sha224},
                                        {CKM_SHA256, CKG_MGF1_SHA256, mechanism::rsa_oaep_sha256},
                                        {CKM_SHA384, CKG_MGF1_SHA384, mechanism::rsa_oaep_sha384},
                                        {CKM_SHA512, CKG_MGF1_SHA512, mechanism::rsa_oaep_sha512}};
    auto p = parameters<CK_RSA_PKCS_OAEP_PARAMS>(m);
    if (!p || (p->source != 0 && p->source != CKZ_DATA_SPECIFIED) ||
        p->ulSourceDataLen > max_associated_data || (p->ulSourceDataLen && !p->pSourceData))
        return CKR_MECHANISM_PARAM_INVALID;
    const auto* h = std::find_if(std::begin(hashes), std::end(hashes), [&](const oaep_hash& e) {
        return e.hash == p->hashAlg && e.mgf == p->mgf;
    });
    if (h == std::end(hashes)) return CKR_MECHANISM_PARAM_INVALID;
    out.which = h->which;
    const auto* label = static_cast<const CK_BYTE*>(p->pSourceData);
    if (p->ulSourceDataLen) out.fields["aad"] = to_hex(bytes(label, label + p->ulSourceDataLen));
    return CKR_OK;
}

// An HMAC's _GENERAL form: the MAC cut to the length asked, from
// min_mac_length bytes to the whole (Size).
template <std::size_t Size>
CK_RV mac_general_parameters(const CK_MECHANISM& m, key_operation, node_mechanism& out) {
    auto length = parameters<CK_ULONG>(m); // CK_MAC_GENERAL_PARAMS, which p11-kit does not name
    if (!length || *length < min_mac_length || *length > Size) return CKR_MECHANISM_PARAM_INVALID;
    out.fields["mac_length"] = *length;
    return CKR_OK;
}

// AES-CBC, padded or not: the caller's 16-byte IV, in front of the data
// either way.
CK_RV cbc_parameters(const CK_MECHANISM& m, key_operation, node_mechanism& out) {
    if (!m.pParameter || m.ulParameterLen != aes_block_size) return CKR_MECHANISM_PARAM_INVALID;
    const auto* iv = static_cast<const CK_BYTE*>(m.pParameter);
    out.iv.assign(iv, iv + aes_block_size);
    return CKR_OK;
}

// AES-CTR: the counter block, counted whole (128 bits, as OpenSSL and the
// nodes count it); a counter of fewer bits is CKR_MECHANISM_PARAM_INVALID.
CK_RV ctr_parameters(const CK_MECHANISM& m, key_operation, node_mechanism& out) {
    auto p = parameters<CK_AES_CTR_PARAMS>(m);
    if (!p || p->counter_bits != 128) return CKR_MECHANISM_PARAM_INVALID;
    out.iv.assign(std::begin(p->cb), std::end(p->cb));
    return CKR_OK;
}

// EdDSA: pure Ed25519, no parameters or CK_EDDSA_PARAMS (PKCS#11 3.0,
// which p11-kit's header lacks) saying no prehash and no context;
// Ed25519ph and Ed25519ctx are not offered.
CK_RV eddsa_parameters(const CK_MECHANISM& m, key_operation, node_mechanism&) {
    struct eddsa_params {
        CK_BBOOL prehash;
        CK_ULONG context_length;
        CK_BYTE_PTR context;
    };
    if (!m.pParameter && !m.ulParameterLen) return CKR_OK;
    auto p = parameters<eddsa_params>(m);
    if (!p || p->prehash || p->context_length) return CKR_MECHANISM_PARAM_INVALID;
    return CKR_OK;
}

// AES-GCM: a 12-byte IV buffer, 128-bit tags, bounded additional data.
CK_RV gcm_parameters(const CK_MECHANISM& m, key_operation op, node_mechanism& out) {
    auto p = parameters<CK_GCM_PARAMS>(m);
    if (!p || !p->pIv || p->ulIvLen != gcm_iv_size || p->ulTagBits != 128 ||
        p->ulAADLen > max_associated_data || (p->ulAADLen && !p->pAAD))
        return CKR_MECHANISM_PARAM_INVALID;
    out.fields["aad"] = to_hex(bytes(p->pAAD, p->pAAD + p->ulAADLen));
    if (op == key_operation::encrypt)
        out.iv_out = p->pIv; // the caller's buffer receives the node's IV
    else
        out.iv.assign(p->pIv, p->pIv + p->ulIvLen);
    return CKR_OK;
}

constexpr CK_FLAGS ec = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
constexpr CK_FLAGS ec_sign = CKF_HW | CKF_SIGN | CKF_VERIFY | ec;
constexpr CK_FLAGS rsa_sign = CKF_HW | CKF_SIGN | CKF_VERIFY;
constexpr CK_FLAGS crypt = CKF_HW | CKF_ENCRYPT | CKF_DECRYPT;
constexpr CK_FLAGS mac = CKF_HW | CKF_SIGN | CKF_VERIFY;
constexpr CK_FLAGS wraps = CKF_HW | CKF_WRAP | CKF_UNWRAP;
constexpr CK_FLAGS pair_gen = CKF_HW | CKF_GENERATE_KEY_PAIR;
// RFC 5649's number in PKCS#11 3.0, which p11-kit's header lacks (SoftHSM2
// 2.6 gives RFC 5649 0x210A, the standard's AES key wrap with PKCS#7 padding).
constexpr CK_MECHANISM_TYPE ckm_aes_key_wrap_kwp = 0x210BUL;

constexpr key_generation ec_pair{key_type::ec, key_class::private_key, CKK_EC};
constexpr key_generation rsa_pair{key_type::rsa, key_class::private_key, CKK_RSA};
constexpr key_generation ed25519_pair{key_type::ed25519, key_class::private_key, CKK_EC_EDWARDS};
constexpr key_generation aes_key{key_type::aes, key_class::secret_key, CKK_AES};
constexpr key_generation generic_key{key_type::generic_secret, key_class::secret_key,
                                     CKK_GENERIC_SECRET};

// Constants without destructors, as every static of the module (a host may
// call in while static destructors run at its exit).
constexpr mechanism_entry table[]{
    {CKM_EC_KEY_PAIR_GEN, 256, 384, CKF_HW | CKF_GENERATE_KEY_PAIR | ec, {}, nullptr, ec_pair},
    {CKM_ECDSA, 256, 384, ec_sign, "ecdsa", nullptr, {}},
    {CKM_ECDH1_DERIVE, 256, 384, CKF_HW | CKF_DERIVE | ec, {}, nullptr, {}},
    {CKM_ECDSA_SHA1, 256, 384, ec_sign, "ecdsa-sha1", nullptr, {}},
    {CKM_ECDSA_SHA224, 256, 384, ec_sign, "ecdsa-sha224", nullptr, {}},
    {CKM_ECDSA_SHA256, 256, 384, ec_sign, "ecdsa-sha256", nullptr, {}},
    {CKM_ECDSA_SHA384, 256, 384, ec_sign, "ecdsa-sha384", nullptr, {}},
    {CKM_ECDSA_SHA512, 256, 384, ec_sign, "ecdsa-sha512", nullptr, {}},
    {CKM_EC_EDWARDS_KEY_PAIR_GEN, 256, 256, pair_gen, {}, nullptr, ed25519_pair},
    {CKM_EDDSA, 256, 256, CKF_HW | CKF_SIGN | CKF_VERIFY, "eddsa", eddsa_parameters, {}},
    {CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, 4096, pair_gen, {}, nullptr, rsa_pair},
    {CKM_RSA_PKCS, 2048, 4096, rsa_sign | crypt, "rsa-pkcs1", nullptr, {}},
    {CKM_SHA256_RSA_PKCS, 2048, 4096, rsa_sign, "rsa-pkcs1-sha256", nullptr, {}},
    {CKM_SHA384_RSA_PKCS, 2048, 4096, rsa_sign, "rsa-pkcs1-sha384", nullptr, {}},
    {CKM_SHA512_RSA_PKCS, 2048, 4096, rsa_sign, "rsa-pkcs1-sha512", nullptr, {}},
    {CKM_SHA256_RSA_PKCS_PSS,
     2048,
     4096,
     rsa_sign,
     "rsa-pss-sha256",
     pss_parameters<CKM_SHA256, CKG_MGF1_SHA256, 32>,
     {}},
    {CKM_SHA384_RSA_PKCS_PSS,
     2048,
     4096,
     rsa_sign,
     "rsa-pss-sha384",
     pss_parameters<CKM_SHA384, CKG_MGF1_SHA384, 48>,
     {}},
    {CKM_SHA512_RSA_PKCS_PSS,
     2048,
     4096,
     rsa_sign,
     "rsa-pss-sha512",
     pss_parameters<CKM_SHA512, CKG_MGF1_SHA512, 64>,
     {}},
    {CKM_RSA_PKCS_OAEP, 2048, 4096, crypt | wraps, "rsa-oaep-sha256", oaep_parameters, {}},
    {CKM_AES_KEY_GEN, 16, 32, CKF_HW | CKF_GENERATE, {}, nullptr, aes_key},
    {CKM_AES_GCM, 16, 32, crypt | wraps, "aes-gcm", gcm_parameters, {}},
    {CKM_AES_KEY_WRAP, 16, 32, wraps, "aes-key-wrap", nullptr, {}},
    {ckm_aes_key_wrap_kwp, 16, 32, wraps, "aes-key-wrap-pad", nullptr, {}},
    {CKM_AES_CMAC, 16, 32, mac, "aes-cmac", nullptr, {}},
    {CKM_AES_CMAC_GENERAL, 16, 32, mac, "aes-cmac", mac_general_parameters<16>, {}},
    {CKM_AES_ECB, 16, 32, crypt, "aes-ecb", nullptr, {}},
    {CKM_AES_CBC, 16, 32, crypt, "aes-cbc", cbc_parameters, {}},
    {CKM_AES_CBC_PAD, 16, 32, crypt, "aes-cbc-pad", cbc_parameters, {}},
    {CKM_AES_CTR, 16, 32, crypt, "aes-ctr", ctr_parameters, {}},
    {CKM_GENERIC_SECRET_KEY_GEN, 16, 64, CKF_HW | CKF_GENERATE, {}, nullptr, generic_key},
    {CKM_SHA_1_HMAC, 16, 64, mac, "hmac-sha1", nullptr, {}},
    {CKM_SHA_1_HMAC_GENERAL, 16, 64, mac, "hmac-sha1", mac_general_parameters<20>, {}},
    {CKM_SHA224_HMAC, 16, 64, mac, "hmac-sha224", nullptr, {}},
    {CKM_SHA224_HMAC_GENERAL, 16, 64, mac, "hmac-sha224", mac_general_parameters<28>, {}},
    {CKM_SHA256_HMAC, 16, 64, mac, "hmac-sha256", nullptr, {}},
    {CKM_SHA256_HMAC_GENERAL, 16, 64, mac, "hmac-sha256", mac_general_parameters<32>, {}},
    {CKM_SHA384_HMAC, 16, 64, mac, "hmac-sha384", nullptr, {}},
    {CKM_SHA384_HMAC_GENERAL, 16, 64, mac, "hmac-sha384", mac_general_parameters<48>, {}},
    {CKM_SHA512_HMAC, 16, 64, mac, "hmac-sha512", nullptr, {}},
    {CKM_SHA512_HMAC_GENERAL, 16, 64, mac, "hmac-sha512", mac_general_parameters<64>, {}},
    {CKM_SHA_1, 0, 0, CKF_DIGEST, {}, nullptr, {}},
    {CKM_SHA224, 0, 0, CKF_DIGEST, {}, nullptr, {}},
    {CKM_SHA256, 0, 0, CKF_DIGEST, {}, nullptr, {}},
    {CKM_SHA384, 0, 0, CKF_DIGEST, {}, nullptr, {}},
    {CKM_SHA512, 0, 0, CKF_DIGEST, {}, nullptr, {}},
};

} // namespace

key_use use_of(key_operation op) noexcept {
    switch (op) {
    case key_operation::sign:
        return key_use::sign;
    case key_operation::verify:
        return key_use::verify;
    case key_operation::encrypt:
        return key_use::encrypt;
    case key_operation::decrypt:
        break;
    }
    return key_use::decrypt;
}

CK_FLAGS flag_of(key_operation op) noexcept {
    switch (op) {
    case key_operation::sign:
        return CKF_SIGN;
    case key_operation::verify:
        return CKF_VERIFY;
    case key_operation::encrypt:
        return CKF_ENCRYPT;
    case key_operation::decrypt:
        break;
    }
    return CKF_DECRYPT;
}

std::span<const mechanism_entry> mechanisms() noexcept {
    return table;
}

const mechanism_entry* find_mechanism(CK_MECHANISM_TYPE type) noexcept {
    const auto* it = std::find_if(std::begin(table), std::end(table),
                                  [&](const mechanism_entry& e) { return e.type == type; });
    return it == std::end(table) ? nullptr : it;
}

} // namespace hsm::p11

// SPDX-License-Identifier: Apache-2.0
// Template parts to a node's import form, through OpenSSL 3's EVP_PKEY_fromdata.
#include "key_import.hpp"

#include "hsmsh/der.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/pki.hpp"
#include "openssl_context.hpp"

#include <algorithm>
#include <array>
#include <memory>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

namespace hsm::p11 {
namespace {

using bytes = std::vector<std::uint8_t>;

struct clear_bn_free {
    void operator()(BIGNUM* b) const noexcept { BN_clear_free(b); }
};
struct param_bld_free {
    void operator()(OSSL_PARAM_BLD* b) const noexcept { OSSL_PARAM_BLD_free(b); }
};
struct params_free {
    void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
};
struct pkey_ctx_free {
    void operator()(EVP_PKEY_CTX* c) const noexcept { EVP_PKEY_CTX_free(c); }
};
struct group_free {
    void operator()(EC_GROUP* g) const noexcept { EC_GROUP_free(g); }
};
struct point_free {
    void operator()(EC_POINT* p) const noexcept { EC_POINT_clear_free(p); }
};
using clear_bn_ptr = std::unique_ptr<BIGNUM, clear_bn_free>;

// The RSA parts in OpenSSL's parameter names, the public ones first.
constexpr std::array<std::pair<CK_ATTRIBUTE_TYPE, const char*>, 8> rsa_parts{{
    {CKA_MODULUS, OSSL_PKEY_PARAM_RSA_N},
    {CKA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E},
    {CKA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D},
    {CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1},
    {CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2},
    {CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1},
    {CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2},
    {CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
}};
constexpr std::size_t rsa_public_parts = 2;

// A DER encoding by an i2d function, as hex in a wiped string.
template <typename Encode> std::variant<CK_RV, secret> hex_der(EVP_PKEY* key, Encode encode) {
    auto der = der_encoding(key, encode);
    if (der.empty()) return CKR_ATTRIBUTE_VALUE_INVALID;
    secret out(to_hex(der));
    wipe(der.data(), der.size());
    return out;
}

// The key `params` describe (`selection`: a key pair, or a public key alone).
pkey_ptr from_data(const char* algorithm, OSSL_PARAM_BLD* built, int selection) {
    std::unique_ptr<OSSL_PARAM, params_free> params(OSSL_PARAM_BLD_to_param(built));
    std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> ctx(
        EVP_PKEY_CTX_new_from_name(module_libctx(), algorithm, nullptr));
    EVP_PKEY* key = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &key, selection, params.get()) != 1)
        return nullptr;
    return pkey_ptr(key);
}

std::variant<CK_RV, secret> rsa_key(bool with_private, const key_parts& parts) {
    auto count = with_private ? rsa_parts.size() : rsa_public_parts;
    std::unique_ptr<OSSL_PARAM_BLD, param_bld_free> built(OSSL_PARAM_BLD_new());
    std::vector<clear_bn_ptr> numbers; // alive until the parameters are made
    for (std::size_t i = 0; i < count; ++i) {
        const auto* part = parts.find(rsa_parts[i].first);
        if (!part) return CKR_TEMPLATE_INCOMPLETE;
        numbers.emplace_back(BN_bin2bn(part->data(), static_cast<int>(part->size()), nullptr));
        if (!built || !numbers.back() ||
            OSSL_PARAM_BLD_push_BN(built.get(), rsa_parts[i].second, numbers.back().get()) != 1)
            return CKR_HOST_MEMORY;
    }
    // The nodes make and take 65537 alone.
    if (!BN_is_word(numbers[1].get(), 65537)) return CKR_ATTRIBUTE_VALUE_INVALID;
    auto key = from_data("RSA", built.get(), with_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
    if (!key) return CKR_ATTRIBUTE_VALUE_INVALID;
    if (with_private)
        return hex_der(key.get(),
                       [](EVP_PKEY* k, unsigned char** p) { return i2d_PrivateKey(k, p); });
    return hex_der(key.get(), [](EVP_PKEY* k, unsigned char** p) { return i2d_PUBKEY(k, p); });
}

// The public point of private scalar `d` on the curve.
std::optional<bytes> public_point(int nid, const BIGNUM* d) {
    std::unique_ptr<EC_GROUP, group_free> group(
        EC_GROUP_new_by_curve_name_ex(module_libctx(), nullptr, nid));
    if (!group) return std::nullopt;
    std::unique_ptr<EC_POINT, point_free> point(EC_POINT_new(group.get()));
    if (!point || EC_POINT_mul(group.get(), point.get(), d, nullptr, nullptr, nullptr) != 1)
        return std::nullopt;
    bytes out(EC_POINT_point2oct(group.get(), point.get(), POINT_CONVERSION_UNCOMPRESSED, nullptr,
                                 0, nullptr));
    if (out.empty() || EC_POINT_point2oct(group.get(), point.get(), POINT_CONVERSION_UNCOMPRESSED,
                                          out.data(), out.size(), nullptr) != out.size())
        return std::nullopt;
    return out;
}

std::variant<CK_RV, secret> ec_key(bool with_private, int curve_bits, const key_parts& parts) {
    if (curve_bits != 256 && curve_bits != 384) return CKR_TEMPLATE_INCOMPLETE;
    const char* curve = curve_bits == 384 ? SN_secp384r1 : SN_X9_62_prime256v1;
    int nid = curve_bits == 384 ? NID_secp384r1 : NID_X9_62_prime256v1;
    const auto* given = parts.find(with_private ? CKA_VALUE : CKA_EC_POINT);
    if (!given) return CKR_TEMPLATE_INCOMPLETE;
    std::unique_ptr<OSSL_PARAM_BLD, param_bld_free> built(OSSL_PARAM_BLD_new());
    if (!built ||
        OSSL_PARAM_BLD_push_utf8_string(built.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve, 0) != 1)
        return CKR_HOST_MEMORY;
    clear_bn_ptr d;
    std::optional<bytes> point;
    if (with_private) {
        // The scalar, as long as the curve's order at most.
        if (given->empty() || given->size() > static_cast<std::size_t>(curve_bits / 8))
            return CKR_ATTRIBUTE_VALUE_INVALID;
        d.reset(BN_bin2bn(given->data(), static_cast<int>(given->size()), nullptr));
        if (!d || OSSL_PARAM_BLD_push_BN(built.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get()) != 1)
            return CKR_HOST_MEMORY;
        point = public_point(nid, d.get());
    } else {
        point = bare_point(*given, curve_bits);
    }
    if (!point) return CKR_ATTRIBUTE_VALUE_INVALID;
    if (OSSL_PARAM_BLD_push_octet_string(built.get(), OSSL_PKEY_PARAM_PUB_KEY, point->data(),
                                         point->size()) != 1)
        return CKR_HOST_MEMORY;
    auto key = from_data("EC", built.get(), with_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
    if (!key) return CKR_ATTRIBUTE_VALUE_INVALID;
    if (with_private)
        return hex_der(key.get(),
                       [](EVP_PKEY* k, unsigned char** p) { return i2d_PrivateKey(k, p); });
    return hex_der(key.get(), [](EVP_PKEY* k, unsigned char** p) { return i2d_PUBKEY(k, p); });
}

// An Ed25519 key from its RFC 8032 bytes: the private key's 32 (CKA_VALUE),
// or the public key's (CKA_EC_POINT, bare or DER-wrapped as a point is).
std::variant<CK_RV, secret> edwards_key(bool with_private, const key_parts& parts) {
    constexpr std::size_t size = 32;
    const auto* given = parts.find(with_private ? CKA_VALUE : CKA_EC_POINT);
    if (!given) return CKR_TEMPLATE_INCOMPLETE;
    std::span<const std::uint8_t> raw(*given);
    if (!with_private && raw.size() == size + 2 && raw[0] == 0x04 && raw[1] == size)
        raw = raw.subspan(2);
    if (raw.size() != size) return CKR_ATTRIBUTE_VALUE_INVALID;
    pkey_ptr key(with_private ? EVP_PKEY_new_raw_private_key_ex(module_libctx(), "ED25519", nullptr,
                                                                raw.data(), raw.size())
                              : EVP_PKEY_new_raw_public_key_ex(module_libctx(), "ED25519", nullptr,
                                                               raw.data(), raw.size()));
    if (!key) return CKR_ATTRIBUTE_VALUE_INVALID;
    if (with_private)
        return hex_der(key.get(),
                       [](EVP_PKEY* k, unsigned char** p) { return i2d_PrivateKey(k, p); });
    return hex_der(key.get(), [](EVP_PKEY* k, unsigned char** p) { return i2d_PUBKEY(k, p); });
}

} // namespace

std::optional<bytes> bare_point(const bytes& given, int curve_bits) {
    auto size = 1 + 2 * static_cast<std::size_t>(curve_bits / 8);
    if (given.size() == size && given[0] == 0x04) return given;
    if (given.size() == size + 2 && given[0] == 0x04 && given[1] == size && given[2] == 0x04)
        return bytes(given.begin() + 2, given.end());
    return std::nullopt;
}

key_parts::~key_parts() {
    for (auto& [type, value] : parts_)
        wipe(value.data(), value.size());
}

bool key_parts::add(CK_ATTRIBUTE_TYPE type, std::span<const std::uint8_t> value) {
    if (find(type)) return false;
    parts_.emplace_back(type, bytes(value.begin(), value.end()));
    return true;
}

const std::vector<std::uint8_t>* key_parts::find(CK_ATTRIBUTE_TYPE type) const noexcept {
    auto it = std::ranges::find(parts_, type, &decltype(parts_)::value_type::first);
    return it == parts_.end() ? nullptr : &it->second;
}

bool is_key_part(key_class c, key_type t, CK_ATTRIBUTE_TYPE type) noexcept {
    switch (t) {
    case key_type::aes:
    case key_type::generic_secret:
        return type == CKA_VALUE;
    case key_type::ec:
    case key_type::ed25519:
        return type == (c == key_class::private_key ? CKA_VALUE : CKA_EC_POINT);
    case key_type::rsa: {
        auto it = std::ranges::find(rsa_parts, type, &decltype(rsa_parts)::value_type::first);
        auto index = static_cast<std::size_t>(it - rsa_parts.begin());
        return index < (c == key_class::private_key ? rsa_parts.size() : rsa_public_parts);
    }
    case key_type::x509: // certificates and data objects have their own readers
    case key_type::opaque:
        return false;
    }
    return false;
}

std::variant<CK_RV, secret> key_material_of(key_class c, key_type t, int curve_bits,
                                            const key_parts& parts) {
    openssl_scope scope;
    bool with_private = c == key_class::private_key;
    switch (t) {
    case key_type::aes:
    case key_type::generic_secret: {
        const auto* value = parts.find(CKA_VALUE);
        if (!value) return CKR_TEMPLATE_INCOMPLETE;
        return secret(to_hex(*value));
    }
    case key_type::rsa:
        return rsa_key(with_private, parts);
    case key_type::ec:
        return ec_key(with_private, curve_bits, parts);
    case key_type::ed25519:
        return edwards_key(with_private, parts);
    case key_type::x509:
    case key_type::opaque:
        break;
    }
    return CKR_ATTRIBUTE_VALUE_INVALID;
}

} // namespace hsm::p11

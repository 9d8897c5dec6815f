// SPDX-License-Identifier: Apache-2.0
// Attributes, templates and signature formats of key objects.
#include "key_object.hpp"

#include "certificate_object.hpp"
#include "data_object.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/pki.hpp"
#include "key_templates.hpp"
#include "mechanism_table.hpp"
#include "openssl_context.hpp"

#include <algorithm>
#include <cstring>
#include <memory>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

namespace hsm::p11 {

namespace {

struct bn_free {
    void operator()(BIGNUM* b) const noexcept { BN_free(b); }
};
struct sig_free {
    void operator()(ECDSA_SIG* s) const noexcept { ECDSA_SIG_free(s); }
};

template <typename T> bytes scalar(T v) {
    bytes b(sizeof(T));
    std::memcpy(b.data(), &v, sizeof(T));
    return b;
}

bytes boolean(bool v) {
    return {static_cast<std::uint8_t>(v ? CK_TRUE : CK_FALSE)};
}

pkey_ptr public_key(const key_summary& k) {
    auto der = from_hex(k.public_key);
    if (!der || der->empty()) return nullptr;
    const auto* p = der->data();
    return std::unique_ptr<EVP_PKEY, pkey_free>(
        d2i_PUBKEY_ex(nullptr, &p, static_cast<long>(der->size()), module_libctx(), nullptr));
}

std::optional<bytes> rsa_part(const key_summary& k, const char* name) {
    auto pkey = public_key(k);
    BIGNUM* raw = nullptr;
    if (!pkey || EVP_PKEY_get_bn_param(pkey.get(), name, &raw) != 1) return std::nullopt;
    std::unique_ptr<BIGNUM, bn_free> bn(raw);
    bytes out(static_cast<std::size_t>(BN_num_bytes(bn.get())));
    BN_bn2bin(bn.get(), out.data());
    return out;
}

// CKA_EC_POINT: the uncompressed point, DER-wrapped in an OCTET STRING.
std::optional<bytes> ec_point(const key_summary& k) {
    auto pkey = public_key(k);
    unsigned char point[133];
    std::size_t size = 0;
    if (!pkey ||
        EVP_PKEY_get_octet_string_param(pkey.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point,
                                        &size) != 1 ||
        size > 127)
        return std::nullopt;
    bytes out{0x04, static_cast<std::uint8_t>(size)};
    out.insert(out.end(), point, point + size);
    return out;
}

// The mechanism that made a key on a node; CK_UNAVAILABLE_INFORMATION for
// one that came from elsewhere (the specification's answer).
CK_MECHANISM_TYPE generated_by(const key_summary& k) {
    if (!k.flags.local) return CK_UNAVAILABLE_INFORMATION;
    for (const auto& m : mechanisms())
        if (m.generates && m.generates->type == k.type) return m.type;
    return CK_UNAVAILABLE_INFORMATION;
}

attribute_value of(bytes b) {
    return {CKR_OK, std::move(b)};
}

attribute_value invalid() {
    return {CKR_ATTRIBUTE_TYPE_INVALID, {}};
}

// The template a key holds for `type` (CKA_WRAP_TEMPLATE: secret and public
// keys; CKA_UNWRAP_TEMPLATE: secret and private keys), none when it holds
// none; nullopt when `type` is no template attribute of this key.
std::optional<std::optional<key_template>> template_of(const key_summary& k,
                                                       CK_ATTRIBUTE_TYPE type) {
    if (type == CKA_WRAP_TEMPLATE &&
        (k.cls == key_class::secret_key || k.cls == key_class::public_key))
        return k.flags.wrap_template;
    if (type == CKA_UNWRAP_TEMPLATE &&
        (k.cls == key_class::secret_key || k.cls == key_class::private_key))
        return k.flags.unwrap_template;
    return std::nullopt;
}

// What the object is and how it is named and kept; nullopt for other attributes.
std::optional<attribute_value> storage_attribute(const key_summary& k, CK_ATTRIBUTE_TYPE type) {
    const auto& f = k.flags;
    switch (type) {
    case CKA_CLASS:
        return of(scalar<CK_OBJECT_CLASS>(ck_class_of(k.cls)));
    case CKA_KEY_TYPE:
        return of(scalar<CK_KEY_TYPE>(ck_key_type_of(k.type)));
    case CKA_TOKEN:
        return of(boolean(k.token));
    case CKA_PRIVATE:
        return of(boolean(f.private_));
    case CKA_LABEL:
        return of(bytes(k.label.begin(), k.label.end()));
    case CKA_ID:
        return of(from_hex(k.id).value_or(bytes{}));
    case CKA_LOCAL:
        return of(boolean(f.local));
    case CKA_DESTROYABLE:
        return of(boolean(f.destroyable));
    default:
        return std::nullopt;
    }
}

// What the key may be used for and how it is protected; nullopt for other attributes.
std::optional<attribute_value> usage_attribute(const key_summary& k, CK_ATTRIBUTE_TYPE type) {
    const auto& f = k.flags;
    switch (type) {
    case CKA_SIGN:
        return of(boolean(f.sign));
    case CKA_VERIFY:
        return of(boolean(f.verify));
    case CKA_ENCRYPT:
        return of(boolean(f.encrypt));
    case CKA_DECRYPT:
        return of(boolean(f.decrypt));
    case CKA_WRAP:
        return of(boolean(f.wrap));
    case CKA_UNWRAP:
        return of(boolean(f.unwrap));
    case CKA_DERIVE:
        return of(boolean(f.derive));
    case CKA_TRUSTED:
        return of(boolean(f.trusted));
    case CKA_WRAP_WITH_TRUSTED:
        if (k.cls == key_class::public_key) return invalid();
        return of(boolean(f.wrap_with_trusted));
    case CKA_SENSITIVE:
    case CKA_EXTRACTABLE:
    case CKA_NEVER_EXTRACTABLE:
    case CKA_ALWAYS_SENSITIVE:
        if (k.cls == key_class::public_key) return invalid();
        return of(boolean(type == CKA_SENSITIVE           ? f.sensitive
                          : type == CKA_EXTRACTABLE       ? f.extractable
                          : type == CKA_NEVER_EXTRACTABLE ? f.never_extractable
                                                          : f.always_sensitive));
    default:
        return std::nullopt;
    }
}

// The key's value and the public parts it is made of; CKR_ATTRIBUTE_TYPE_INVALID
// for an attribute the key does not have.
attribute_value value_attribute(const key_summary& k, CK_ATTRIBUTE_TYPE type) {
    bool asymmetric = k.cls != key_class::secret_key;
    switch (type) {
    case CKA_VALUE:
        // No secret or private key leaves a node; a public key's value is
        // given by its own attributes (CKA_EC_POINT, CKA_MODULUS).
        return {k.cls == key_class::public_key ? CKR_ATTRIBUTE_TYPE_INVALID
                                               : CKR_ATTRIBUTE_SENSITIVE,
                {}};
    case CKA_VALUE_LEN:
        if (asymmetric) return invalid();
        return of(scalar<CK_ULONG>(static_cast<CK_ULONG>(k.bits / 8)));
    case CKA_EC_PARAMS:
        if (k.type == key_type::ed25519) return of(bytes(ed25519_oid.begin(), ed25519_oid.end()));
        if (k.type != key_type::ec) return invalid();
        return of(k.bits == 384 ? bytes(p384_oid.begin(), p384_oid.end())
                                : bytes(p256_oid.begin(), p256_oid.end()));
    case CKA_EC_POINT:
        // An Edwards key's is its 32 bytes (RFC 8032), DER-wrapped as a point is.
        if ((k.type != key_type::ec && k.type != key_type::ed25519) ||
            k.cls != key_class::public_key)
            return invalid();
        if (auto p = ec_point(k)) return of(std::move(*p));
        return {CKR_GENERAL_ERROR, {}};
    case CKA_MODULUS:
    case CKA_PUBLIC_EXPONENT:
        if (k.type != key_type::rsa) return invalid();
        if (auto p =
                rsa_part(k, type == CKA_MODULUS ? OSSL_PKEY_PARAM_RSA_N : OSSL_PKEY_PARAM_RSA_E))
            return of(std::move(*p));
        return {CKR_GENERAL_ERROR, {}};
    case CKA_MODULUS_BITS:
        if (k.type != key_type::rsa) return invalid();
        return of(scalar<CK_ULONG>(static_cast<CK_ULONG>(k.bits)));
    case CKA_KEY_GEN_MECHANISM:
        return of(scalar<CK_MECHANISM_TYPE>(generated_by(k)));
    default:
        return invalid();
    }
}

} // namespace

std::optional<bytes> fixed_attribute(key_class cls, CK_ATTRIBUTE_TYPE type) {
    bool asymmetric = cls != key_class::secret_key;
    switch (type) {
    case CKA_MODIFIABLE: // C_SetAttributeValue changes a label and the flags that may change
        return boolean(true);
    case CKA_COPYABLE: // a public key is copied; a secret or private key is not
        return boolean(cls == key_class::public_key);
    case CKA_START_DATE:
    case CKA_END_DATE:
        return bytes{};
    case CKA_SUBJECT:
        if (!asymmetric) return std::nullopt;
        return bytes{};
    case CKA_SIGN_RECOVER:
    case CKA_ALWAYS_AUTHENTICATE:
        if (cls != key_class::private_key) return std::nullopt;
        return boolean(false);
    case CKA_VERIFY_RECOVER:
        if (cls != key_class::public_key) return std::nullopt;
        return boolean(false);
    default:
        return std::nullopt;
    }
}

attribute_value attribute_of(const key_summary& k, CK_ATTRIBUTE_TYPE type) {
    if (k.cls == key_class::certificate) return certificate_attribute(k, type);
    if (k.cls == key_class::data) return data_attribute(k, type);
    if (auto v = fixed_attribute(k.cls, type)) return of(std::move(*v));
    if (auto v = storage_attribute(k, type)) return std::move(*v);
    if (auto v = usage_attribute(k, type)) return std::move(*v);
    return value_attribute(k, type);
}

CK_RV fill_attributes(const key_summary& k, CK_ATTRIBUTE* tmpl, CK_ULONG count) {
    CK_RV result = CKR_OK;
    for (CK_ULONG i = 0; i < count; ++i) {
        auto& a = tmpl[i];
        if (auto held = template_of(k, a.type)) {
            auto error = fill_key_template(*held, a);
            if (error != CKR_OK && (result == CKR_OK || result == CKR_BUFFER_TOO_SMALL))
                result = error;
            continue;
        }
        auto v = attribute_of(k, a.type);
        CK_RV error = v.error;
        if (error == CKR_OK && a.pValue && a.ulValueLen < v.value.size())
            error = CKR_BUFFER_TOO_SMALL;
        if (error != CKR_OK) {
            a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
            if (result == CKR_OK || result == CKR_BUFFER_TOO_SMALL) result = error;
            continue;
        }
        if (a.pValue && !v.value.empty()) std::memcpy(a.pValue, v.value.data(), v.value.size());
        a.ulValueLen = v.value.size();
    }
    return result;
}

bool matches(const key_summary& k, const CK_ATTRIBUTE* tmpl, CK_ULONG count) {
    for (CK_ULONG i = 0; i < count; ++i) {
        auto v = attribute_of(k, tmpl[i].type);
        if (v.error != CKR_OK || v.value.size() != tmpl[i].ulValueLen) return false;
        if (!v.value.empty() &&
            (!tmpl[i].pValue || std::memcmp(v.value.data(), tmpl[i].pValue, v.value.size()) != 0))
            return false;
    }
    return true;
}

std::optional<bytes> pkcs11_signature(const key_summary& k, const bytes& node_signature) {
    if (k.type != key_type::ec) return node_signature;
    const auto* p = node_signature.data();
    std::unique_ptr<ECDSA_SIG, sig_free> sig(
        d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(node_signature.size())));
    if (!sig) return std::nullopt;
    auto half = static_cast<std::size_t>(k.bits / 8);
    bytes out(2 * half);
    if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out.data(), static_cast<int>(half)) < 0 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out.data() + half, static_cast<int>(half)) < 0)
        return std::nullopt;
    return out;
}

std::optional<bytes> der_signature(const key_summary& k, const bytes& pkcs11_signature) {
    if (k.type != key_type::ec) return pkcs11_signature;
    auto half = static_cast<std::size_t>(k.bits / 8);
    if (pkcs11_signature.size() != 2 * half) return std::nullopt;
    std::unique_ptr<ECDSA_SIG, sig_free> sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(pkcs11_signature.data(), static_cast<int>(half), nullptr);
    BIGNUM* s = BN_bin2bn(pkcs11_signature.data() + half, static_cast<int>(half), nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return std::nullopt;
    }
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(sig.get(), &der);
    if (len <= 0) return std::nullopt;
    bytes out(der, der + len);
    OPENSSL_free(der);
    return out;
}

} // namespace hsm::p11

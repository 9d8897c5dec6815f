// SPDX-License-Identifier: Apache-2.0
// Certificates' attributes, read from their DER by OpenSSL in the module's
// library context.
#include "certificate_object.hpp"

#include "hsmsh/der.hpp"
#include "hsmsh/hex.hpp"
#include "openssl_context.hpp"

#include <cstring>
#include <memory>

#include <openssl/evp.h>
#include <openssl/x509.h>

namespace hsm::p11 {
namespace {

bytes ulong_bytes(CK_ULONG v) {
    bytes b(sizeof v);
    std::memcpy(b.data(), &v, sizeof v);
    return b;
}

bytes bool_bytes(bool v) {
    return {static_cast<std::uint8_t>(v ? CK_TRUE : CK_FALSE)};
}

// CKA_CHECK_VALUE: the first three bytes of the value's SHA-1.
bytes sha1_check_value(const bytes& der) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    std::size_t size = 0;
    if (EVP_Q_digest(module_libctx(), "SHA1", nullptr, der.data(), der.size(), digest, &size) !=
            1 ||
        size < 3)
        return {};
    return bytes(digest, digest + 3);
}

attribute_value found(bytes b) {
    return {CKR_OK, std::move(b)};
}

// The attributes its DER gives; nullopt for others.
std::optional<attribute_value> der_attribute(const bytes& der, CK_ATTRIBUTE_TYPE type) {
    switch (type) {
    case CKA_VALUE:
        return found(der);
    case CKA_CHECK_VALUE:
        return found(sha1_check_value(der));
    case CKA_SUBJECT:
    case CKA_ISSUER:
    case CKA_SERIAL_NUMBER:
    case CKA_PUBLIC_KEY_INFO: {
        auto names = names_of_certificate(der);
        if (!names) return attribute_value{CKR_GENERAL_ERROR, {}};
        return found(type == CKA_SUBJECT         ? names->subject
                     : type == CKA_ISSUER        ? names->issuer
                     : type == CKA_SERIAL_NUMBER ? names->serial_number
                                                 : names->public_key_info);
    }
    default:
        return std::nullopt;
    }
}

} // namespace

std::optional<certificate_names> names_of_certificate(std::span<const std::uint8_t> der) {
    openssl_scope scope;
    const auto* p = der.data();
    std::unique_ptr<X509, decltype(&X509_free)> cert(
        d2i_X509(nullptr, &p, static_cast<long>(der.size())), X509_free);
    if (!cert || p != der.data() + der.size()) return std::nullopt;
    certificate_names out;
    out.subject = der_encoding(X509_get_subject_name(cert.get()), i2d_X509_NAME);
    out.issuer = der_encoding(X509_get_issuer_name(cert.get()), i2d_X509_NAME);
    out.serial_number = der_encoding(X509_get0_serialNumber(cert.get()), i2d_ASN1_INTEGER);
    out.public_key_info = der_encoding(X509_get_X509_PUBKEY(cert.get()), i2d_X509_PUBKEY);
    if (out.subject.empty() || out.issuer.empty() || out.serial_number.empty()) return std::nullopt;
    return out;
}

attribute_value certificate_attribute(const key_summary& k, CK_ATTRIBUTE_TYPE type) {
    switch (type) {
    case CKA_CLASS:
        return found(ulong_bytes(CKO_CERTIFICATE));
    case CKA_CERTIFICATE_TYPE:
        return found(ulong_bytes(CKC_X_509));
    case CKA_CERTIFICATE_CATEGORY: // unspecified
    case CKA_JAVA_MIDP_SECURITY_DOMAIN:
        return found(ulong_bytes(0));
    case CKA_TOKEN:
        return found(bool_bytes(k.token));
    case CKA_PRIVATE:
        return found(bool_bytes(k.flags.private_));
    case CKA_MODIFIABLE: // its label and id change
        return found(bool_bytes(true));
    case CKA_COPYABLE: // C_CopyObject brings it in again
        return found(bool_bytes(true));
    case CKA_DESTROYABLE:
        return found(bool_bytes(k.flags.destroyable));
    case CKA_TRUSTED:
        return found(bool_bytes(k.flags.trusted));
    case CKA_LABEL:
        return found(bytes(k.label.begin(), k.label.end()));
    case CKA_ID:
        return found(from_hex(k.id).value_or(bytes{}));
    case CKA_START_DATE:
    case CKA_END_DATE:
    case CKA_URL:
    case CKA_HASH_OF_SUBJECT_PUBLIC_KEY:
    case CKA_HASH_OF_ISSUER_PUBLIC_KEY:
        return found({});
    default:
        break;
    }
    auto der = from_hex(k.public_key);
    if (!der) return {CKR_GENERAL_ERROR, {}};
    if (auto v = der_attribute(*der, type)) return std::move(*v);
    return {CKR_ATTRIBUTE_TYPE_INVALID, {}};
}

} // namespace hsm::p11

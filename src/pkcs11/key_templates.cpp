// SPDX-License-Identifier: Apache-2.0
// CKA_WRAP_TEMPLATE and CKA_UNWRAP_TEMPLATE as arrays of CK_ATTRIBUTE.
#include "key_templates.hpp"

#include <cstring>
#include <limits>
#include <vector>

namespace hsm::p11 {
namespace {

using element_bytes = std::vector<std::uint8_t>;

// An element of a template array as it is answered: its type and value.
struct template_element {
    CK_ATTRIBUTE_TYPE type;
    element_bytes value;
};

template <typename T> element_bytes scalar_bytes(T v) {
    element_bytes out(sizeof v);
    std::memcpy(out.data(), &v, sizeof v);
    return out;
}

std::vector<template_element> elements_of(const key_template& t) {
    std::vector<template_element> out;
    if (t.cls) out.push_back({CKA_CLASS, scalar_bytes<CK_OBJECT_CLASS>(ck_class_of(*t.cls))});
    if (t.type) out.push_back({CKA_KEY_TYPE, scalar_bytes<CK_KEY_TYPE>(ck_key_type_of(*t.type))});
    for (const auto& a : key_attributes()) {
        auto stated = a.flag ? t.flags.find(flag_name(a)) : t.flags.end();
        if (stated != t.flags.end())
            out.push_back(
                {static_cast<CK_ATTRIBUTE_TYPE>(a.id),
                 element_bytes{static_cast<std::uint8_t>(stated->second ? CK_TRUE : CK_FALSE)}});
    }
    return out;
}

} // namespace

std::optional<CK_ULONG> ulong_of(const CK_ATTRIBUTE& a) {
    if (!a.pValue || a.ulValueLen != sizeof(CK_ULONG)) return std::nullopt;
    CK_ULONG v = 0;
    std::memcpy(&v, a.pValue, sizeof v);
    return v;
}

CK_OBJECT_CLASS ck_class_of(key_class c) noexcept {
    switch (c) {
    case key_class::public_key:
        return CKO_PUBLIC_KEY;
    case key_class::private_key:
        return CKO_PRIVATE_KEY;
    case key_class::secret_key:
        return CKO_SECRET_KEY;
    case key_class::certificate:
        return CKO_CERTIFICATE;
    case key_class::data:
        return CKO_DATA;
    }
    return CKO_DATA;
}

CK_KEY_TYPE ck_key_type_of(key_type t) noexcept {
    switch (t) {
    case key_type::ec:
        return CKK_EC;
    case key_type::rsa:
        return CKK_RSA;
    case key_type::aes:
        return CKK_AES;
    case key_type::generic_secret:
        return CKK_GENERIC_SECRET;
    case key_type::ed25519:
        return CKK_EC_EDWARDS;
    case key_type::x509: // a certificate's or a data object's, which have no CKA_KEY_TYPE
    case key_type::opaque:
        break;
    }
    return CKK_VENDOR_DEFINED;
}

std::optional<key_class> key_class_of(CK_OBJECT_CLASS c) noexcept {
    if (c == CKO_SECRET_KEY) return key_class::secret_key;
    if (c == CKO_PUBLIC_KEY) return key_class::public_key;
    if (c == CKO_PRIVATE_KEY) return key_class::private_key;
    return std::nullopt;
}

std::optional<key_type> key_type_of(CK_KEY_TYPE t) noexcept {
    if (t == CKK_AES) return key_type::aes;
    if (t == CKK_GENERIC_SECRET) return key_type::generic_secret;
    if (t == CKK_RSA) return key_type::rsa;
    if (t == CKK_EC) return key_type::ec;
    if (t == CKK_EC_EDWARDS) return key_type::ed25519;
    return std::nullopt;
}

bool is_template_attribute(CK_ATTRIBUTE_TYPE type) noexcept {
    return type == CKA_WRAP_TEMPLATE || type == CKA_UNWRAP_TEMPLATE;
}

std::variant<CK_RV, key_template> read_key_template(const CK_ATTRIBUTE& a) {
    // A class, a type and each boolean attribute once: no template is longer.
    constexpr CK_ULONG most = 32;
    if (a.ulValueLen % sizeof(CK_ATTRIBUTE) != 0 || a.ulValueLen > most * sizeof(CK_ATTRIBUTE) ||
        (!a.pValue && a.ulValueLen))
        return CKR_ATTRIBUTE_VALUE_INVALID;
    const auto* elements = static_cast<const CK_ATTRIBUTE*>(a.pValue);
    key_template t;
    for (CK_ULONG i = 0; i < a.ulValueLen / sizeof(CK_ATTRIBUTE); ++i) {
        const auto& e = elements[i];
        if (e.type == CKA_CLASS || e.type == CKA_KEY_TYPE) {
            auto v = ulong_of(e);
            bool read = false;
            if (v && e.type == CKA_CLASS && !t.cls) read = bool(t.cls = key_class_of(*v));
            if (v && e.type == CKA_KEY_TYPE && !t.type) read = bool(t.type = key_type_of(*v));
            if (!read) return CKR_ATTRIBUTE_VALUE_INVALID;
            continue;
        }
        const auto* info = e.type <= std::numeric_limits<std::uint32_t>::max()
                               ? find_key_attribute(static_cast<std::uint32_t>(e.type))
                               : nullptr;
        if (!info || !info->flag || !e.pValue || e.ulValueLen != sizeof(CK_BBOOL))
            return CKR_ATTRIBUTE_VALUE_INVALID;
        auto stated =
            t.flags.emplace(flag_name(*info), *static_cast<const CK_BBOOL*>(e.pValue) != CK_FALSE);
        if (!stated.second) return CKR_ATTRIBUTE_VALUE_INVALID; // stated twice
    }
    return t;
}

CK_RV fill_key_template(const std::optional<key_template>& t, CK_ATTRIBUTE& a) {
    auto elements = t ? elements_of(*t) : std::vector<template_element>{};
    CK_ULONG length = elements.size() * sizeof(CK_ATTRIBUTE);
    if (!a.pValue) {
        a.ulValueLen = length;
        return CKR_OK;
    }
    if (a.ulValueLen < length) {
        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
        return CKR_BUFFER_TOO_SMALL;
    }
    auto* out = static_cast<CK_ATTRIBUTE*>(a.pValue);
    CK_RV result = CKR_OK;
    for (std::size_t i = 0; i < elements.size(); ++i) {
        auto& e = out[i];
        const auto& v = elements[i].value;
        e.type = elements[i].type;
        if (!e.pValue) {
            e.ulValueLen = v.size();
        } else if (e.ulValueLen < v.size()) {
            e.ulValueLen = CK_UNAVAILABLE_INFORMATION;
            result = CKR_BUFFER_TOO_SMALL;
        } else {
            std::memcpy(e.pValue, v.data(), v.size());
            e.ulValueLen = v.size();
        }
    }
    a.ulValueLen = length;
    return result;
}

} // namespace hsm::p11

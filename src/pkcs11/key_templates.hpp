// SPDX-License-Identifier: Apache-2.0
// CKA_WRAP_TEMPLATE and CKA_UNWRAP_TEMPLATE: the array of attributes an
// application gives a key-encryption key, read into the nodes' key_template,
// and answered back as an array (PKCS#11 2.40 section 4.8, "array
// attributes"). The nodes keep and enforce the template; the module only
// translates it, and merges an unwrapping key's into what C_UnwrapKey asks.
#pragma once

#include "hsmsh/protocol/keys.hpp"

#include <optional>
#include <variant>

#include <p11-kit/pkcs11.h>

namespace hsm::p11 {

/// A CK_ULONG attribute's value (CKA_CLASS, CKA_VALUE_LEN); nullopt when
/// it has no value of that size.
std::optional<CK_ULONG> ulong_of(const CK_ATTRIBUTE& a);

/// The standard's numbers for the nodes' classes and types, and back
/// (nullopt for what the nodes do not keep).
CK_OBJECT_CLASS ck_class_of(key_class c) noexcept;
CK_KEY_TYPE ck_key_type_of(key_type t) noexcept;
std::optional<key_class> key_class_of(CK_OBJECT_CLASS c) noexcept;
std::optional<key_type> key_type_of(CK_KEY_TYPE t) noexcept;

/// Whether `type` is CKA_WRAP_TEMPLATE or CKA_UNWRAP_TEMPLATE.
bool is_template_attribute(CK_ATTRIBUTE_TYPE type) noexcept;

/// Reads an array attribute: at most one CKA_CLASS, CKA_KEY_TYPE and each
/// boolean key attribute, each of its own size; CKR_ATTRIBUTE_VALUE_INVALID
/// for anything else (a length that is not a whole array, another
/// attribute, a nested template), never reading past what `a` says it holds.
std::variant<CK_RV, key_template> read_key_template(const CK_ATTRIBUTE& a);

/// C_GetAttributeValue of an array attribute: with no buffer, its length;
/// with one of at least that length, each element's type, and its value
/// where the element has a buffer that fits (else its length, or
/// CK_UNAVAILABLE_INFORMATION and CKR_BUFFER_TOO_SMALL). A key without the
/// template answers an empty array.
CK_RV fill_key_template(const std::optional<key_template>& t, CK_ATTRIBUTE& a);

} // namespace hsm::p11

// SPDX-License-Identifier: Apache-2.0
// Templates to generation requests, mechanisms to node mechanisms.
#include "requests.hpp"

#include "certificate_object.hpp"
#include "data_object.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/protocol/keys.hpp"
#include "key_import.hpp"
#include "key_templates.hpp"

#include <cstring>
#include <memory>
#include <span>

#include <fmt/format.h>

namespace hsm::p11 {
namespace {

// P-256 by name (PrintableString), which pkcs11-tool also sends.
constexpr std::array<std::uint8_t, 12> p256_name{0x13, 0x0a, 'p', 'r', 'i', 'm',
                                                 'e',  '2',  '5', '6', 'v', '1'};
// Ed25519 by name, as PKCS#11 3.0 allows for CKK_EC_EDWARDS.
constexpr std::array<std::uint8_t, 14> ed25519_name{0x13, 0x0c, 'e', 'd', 'w', 'a', 'r',
                                                    'd',  's',  '2', '5', '5', '1', '9'};

std::span<const std::uint8_t> value_of(const CK_ATTRIBUTE& a) {
    if (!a.pValue || a.ulValueLen == CK_UNAVAILABLE_INFORMATION) return {};
    return {static_cast<const std::uint8_t*>(a.pValue), a.ulValueLen};
}

bool equals(const CK_ATTRIBUTE& a, std::span<const std::uint8_t> b) {
    auto v = value_of(a);
    return v.size() == b.size() && std::equal(v.begin(), v.end(), b.begin());
}

std::optional<bool> bool_of(const CK_ATTRIBUTE& a) {
    if (!a.pValue || a.ulValueLen != sizeof(CK_BBOOL)) return std::nullopt;
    return *static_cast<const CK_BBOOL*>(a.pValue) != CK_FALSE;
}

// What one template says: the request's fields, and the error it makes.
struct template_reading {
    CK_RV error = CKR_OK;
    std::optional<std::string> label;
    std::optional<bytes> id;
    std::optional<CK_ULONG> modulus_bits;
    std::optional<CK_ULONG> value_len;
    std::optional<int> curve_bits;
    bool edwards = false; // CKA_EC_PARAMS named Ed25519
    key_flags flags;
    key_flags stated; // the flags the template names
    bool any_flag = false;
    std::optional<bool> token; // CKA_TOKEN as stated

    void fail(CK_RV rv) {
        if (error == CKR_OK) error = rv;
    }
};

// The attributes that say what the object is and how it is named; false
// when `a` is none of them.
bool read_identity(const CK_ATTRIBUTE& a, template_reading& r, CK_OBJECT_CLASS ck_class,
                   CK_KEY_TYPE ck_type) {
    switch (a.type) {
    case CKA_CLASS:
        if (ulong_of(a) != ck_class) r.fail(CKR_TEMPLATE_INCONSISTENT);
        return true;
    case CKA_KEY_TYPE:
        if (ulong_of(a) != ck_type) r.fail(CKR_TEMPLATE_INCONSISTENT);
        return true;
    case CKA_TOKEN:
        r.token = bool_of(a);
        if (!r.token) r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
        return true;
    case CKA_LABEL: {
        // Bounded before it is read, and a length without a value is none.
        if (a.ulValueLen > max_key_label || (!a.pValue && a.ulValueLen)) {
            r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
            return true;
        }
        auto v = value_of(a);
        r.label = std::string(v.begin(), v.end());
        if (!valid_key_label(*r.label)) r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
        return true;
    }
    case CKA_ID: {
        if (a.ulValueLen > max_key_id || (!a.pValue && a.ulValueLen)) {
            r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
            return true;
        }
        auto v = value_of(a);
        r.id = bytes(v.begin(), v.end());
        if (r.id->size() > max_key_id) r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
        return true;
    }
    default:
        return false;
    }
}

// The attributes that size the key (or choose its curve); false when `a`
// is none of them.
bool read_size(const CK_ATTRIBUTE& a, template_reading& r) {
    switch (a.type) {
    case CKA_MODULUS_BITS:
        r.modulus_bits = ulong_of(a);
        if (!r.modulus_bits) r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
        return true;
    case CKA_PUBLIC_EXPONENT: {
        // 65537 only, as the nodes make it (leading zeros allowed).
        auto v = value_of(a);
        bytes e(std::find_if(v.begin(), v.end(), [](auto b) { return b != 0; }), v.end());
        if (e != bytes{0x01, 0x00, 0x01}) r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
        return true;
    }
    case CKA_VALUE_LEN:
        r.value_len = ulong_of(a);
        if (!r.value_len) r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
        return true;
    case CKA_EC_PARAMS:
        if (equals(a, p256_oid) || equals(a, p256_name))
            r.curve_bits = 256;
        else if (equals(a, p384_oid))
            r.curve_bits = 384;
        else if (equals(a, ed25519_oid) || equals(a, ed25519_name))
            r.edwards = true;
        else
            r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
        return true;
    default:
        return false;
    }
}

// What every key of class `cls` answers alike (key_object's fixed_attribute),
// which a template may state when it agrees; false when `a` is none of them.
bool read_fixed(const CK_ATTRIBUTE& a, template_reading& r, key_class cls) {
    if (a.type == CKA_KEY_GEN_MECHANISM) {
        r.fail(CKR_ATTRIBUTE_READ_ONLY); // the node's to say
        return true;
    }
    auto fixed = fixed_attribute(cls, a.type);
    if (!fixed) return false;
    bool agrees = fixed->size() == sizeof(CK_BBOOL) ? bool_of(a) == ((*fixed)[0] != CK_FALSE)
                                                    : equals(a, *fixed);
    if (!agrees) r.fail(CKR_TEMPLATE_INCONSISTENT);
    return true;
}

// CKA_WRAP_TEMPLATE (of a secret or public key) and CKA_UNWRAP_TEMPLATE
// (of a secret or private key); false when `a` is neither.
bool read_key_templates(const CK_ATTRIBUTE& a, template_reading& r, key_class cls) {
    if (!is_template_attribute(a.type)) return false;
    bool wrap = a.type == CKA_WRAP_TEMPLATE;
    if (cls == (wrap ? key_class::private_key : key_class::public_key) || !is_key(cls)) {
        r.fail(CKR_ATTRIBUTE_TYPE_INVALID);
        return true;
    }
    auto read = read_key_template(a);
    if (auto* error = std::get_if<CK_RV>(&read)) {
        r.fail(*error);
        return true;
    }
    (wrap ? r.flags.wrap_template : r.flags.unwrap_template) = std::get<key_template>(read);
    r.any_flag = true;
    return true;
}

// A boolean flag of a key of class `cls` and type `type`.
void read_flag(const CK_ATTRIBUTE& a, template_reading& r, key_class cls, key_type type) {
    // A public key never derives, nor an Edwards key; tools ask for it on
    // both halves of a pair out of habit (pkcs11-tool does): an EC private
    // half derives.
    if (a.type == CKA_DERIVE && (cls == key_class::public_key || type == key_type::ed25519)) return;
    // No mechanism wraps with an EC or Edwards key, nor with an RSA private
    // key, nor unwraps with a public one: CKA_WRAP and CKA_UNWRAP do not
    // apply there (pkcs11-provider asks both, true, on every pair). Ignored,
    // as PKCS#11 lets a token ignore what does not apply.
    if ((a.type == CKA_WRAP || a.type == CKA_UNWRAP) && is_asymmetric(type) &&
        !(type == key_type::rsa &&
          cls == (a.type == CKA_WRAP ? key_class::public_key : key_class::private_key)))
        return;
    const auto* info = find_key_attribute(static_cast<std::uint32_t>(a.type));
    auto value = bool_of(a);
    // A public key is never wrapped, so has no CKA_WRAP_WITH_TRUSTED.
    bool known = a.type <= CKA_DESTROYABLE ||
                 (a.type == CKA_WRAP_WITH_TRUSTED && cls != key_class::public_key);
    if (!info || !info->flag || !known) return r.fail(CKR_ATTRIBUTE_TYPE_INVALID);
    if (!value) return r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
    // An officer alone trusts a key (CKA_TRUSTED), and officers make none.
    if (info->flag == &key_flags::trusted && *value) return r.fail(CKR_ATTRIBUTE_READ_ONLY);
    // Flags the node sets by itself are accepted when they agree.
    if (info->flag == &key_flags::local || info->flag == &key_flags::never_extractable ||
        info->flag == &key_flags::always_sensitive) {
        if (r.flags.*(info->flag) != *value) r.fail(CKR_TEMPLATE_INCONSISTENT);
        return;
    }
    r.flags.*(info->flag) = *value;
    r.stated.*(info->flag) = true;
    r.any_flag = true;
}

// The unwrapping key's template (CKA_UNWRAP_TEMPLATE) applied to what the
// application's template read, as if the key had been made from it first:
// false where the two disagree (the nodes refuse the same).
bool apply_unwrap_template(const key_template& t, key_class cls, key_type type,
                           template_reading& r) {
    if ((t.cls && *t.cls != cls) || (t.type && *t.type != type)) return false;
    for (const auto& [name, value] : t.flags) {
        auto flag = flag_named(name);
        if (r.stated.*flag && r.flags.*flag != value) return false;
        r.flags.*flag = value;
        r.stated.*flag = true;
        r.any_flag = true;
    }
    return flags_fit(r.flags, cls, type);
}

// Reads a template for an object of class `cls` and type `type` whose
// flags are `base` unless it says otherwise; an imported key's parts go to
// `parts` (and a template that makes a key gives none).
template_reading read_template(const CK_ATTRIBUTE* tmpl, CK_ULONG count, key_class cls,
                               key_type type, CK_OBJECT_CLASS ck_class, CK_KEY_TYPE ck_type,
                               const key_flags& base, key_parts* parts = nullptr) {
    template_reading r;
    r.flags = base;
    if (count && !tmpl) {
        r.fail(CKR_ARGUMENTS_BAD);
        return r;
    }
    for (CK_ULONG i = 0; i < count; ++i) {
        if (parts && is_key_part(cls, type, tmpl[i].type)) {
            // Bounded before it is read: no part of a key the nodes take
            // is longer (an RSA-4096 modulus is 512 bytes).
            if (tmpl[i].ulValueLen > max_key_part)
                r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
            else if (!parts->add(tmpl[i].type, value_of(tmpl[i])))
                r.fail(CKR_TEMPLATE_INCONSISTENT);
            continue;
        }
        if (!read_identity(tmpl[i], r, ck_class, ck_type) && !read_size(tmpl[i], r) &&
            !read_fixed(tmpl[i], r, cls) && !read_key_templates(tmpl[i], r, cls))
            read_flag(tmpl[i], r, cls, type);
    }
    // An AES key asked to MAC (CMAC) does nothing else: the cipher uses
    // the template does not name are off, not on by default.
    if (type == key_type::aes && (r.flags.sign || r.flags.verify))
        for (auto flag :
             {&key_flags::encrypt, &key_flags::decrypt, &key_flags::wrap, &key_flags::unwrap})
            if (!(r.stated.*flag)) r.flags.*flag = false;
    // An RSA half asked to wrap (or unwrap) and also, in so many words, to
    // encrypt (or decrypt), as tools ask every use of a pair, gets the
    // cipher use alone, as before RSA wrapped.
    if (type == key_type::rsa && r.stated.encrypt && r.flags.encrypt) r.flags.wrap = false;
    if (type == key_type::rsa && r.stated.decrypt && r.flags.decrypt) r.flags.unwrap = false;
    // A key asked to wrap or unwrap neither encrypts nor decrypts, unless
    // the template says so (and then flags_fit refuses it).
    if (r.flags.wrap || r.flags.unwrap)
        for (auto flag : {&key_flags::encrypt, &key_flags::decrypt})
            if (!(r.stated.*flag)) r.flags.*flag = false;
    // A key made here is never extractable exactly when it is not.
    if (r.flags.local) r.flags.never_extractable = !r.flags.extractable;
    if (r.error == CKR_OK && (!flags_fit(r.flags, cls, type) || !templates_belong(r.flags)))
        r.fail(CKR_TEMPLATE_INCONSISTENT);
    return r;
}

// The nodes' key spec ("ec:p256", "rsa:2048", "aes:256", "hmac:256") for
// a key of `type` as its templates size it (a pair's size on either half);
// CKR_TEMPLATE_INCOMPLETE when they do not.
std::variant<CK_RV, std::string> key_spec_of(key_type type, const template_reading& priv,
                                             const template_reading& pub) {
    switch (type) {
    case key_type::ec:
        if (pub.edwards || priv.edwards) return CKR_TEMPLATE_INCONSISTENT;
        if (auto bits = pub.curve_bits ? pub.curve_bits : priv.curve_bits)
            return fmt::format("ec:p{}", *bits);
        break;
    case key_type::ed25519:
        if (pub.curve_bits || priv.curve_bits) return CKR_TEMPLATE_INCONSISTENT;
        if (pub.edwards || priv.edwards) return std::string("ed25519");
        break;
    case key_type::rsa:
        if (auto bits = pub.modulus_bits ? pub.modulus_bits : priv.modulus_bits)
            return fmt::format("rsa:{}", *bits);
        break;
    case key_type::aes:
    case key_type::generic_secret:
        if (priv.value_len)
            return fmt::format("{}:{}", type == key_type::aes ? "aes" : "hmac",
                               *priv.value_len * 8);
        break;
    case key_type::x509: // no mechanism makes a certificate or data object
    case key_type::opaque:
        break;
    }
    return CKR_TEMPLATE_INCOMPLETE;
}

// What C_CreateObject is asked to make: a key's class and type, in the
// node's terms and the standard's.
struct object_kind {
    key_class cls;
    key_type type;
    CK_OBJECT_CLASS ck_class;
    CK_KEY_TYPE ck_type;
};

// The class and type a template names: CKR_TEMPLATE_INCOMPLETE without
// them, CKR_ATTRIBUTE_VALUE_INVALID for what the nodes do not keep,
// CKR_TEMPLATE_INCONSISTENT for a type of another class.
std::variant<CK_RV, object_kind> imported_kind(const CK_ATTRIBUTE* tmpl, CK_ULONG count) {
    std::optional<CK_ULONG> ck_class, ck_type;
    for (CK_ULONG i = 0; i < count; ++i) {
        if (tmpl[i].type == CKA_CLASS) ck_class = ulong_of(tmpl[i]);
        if (tmpl[i].type == CKA_KEY_TYPE) ck_type = ulong_of(tmpl[i]);
    }
    if (!ck_class) return CKR_TEMPLATE_INCOMPLETE;
    auto cls = key_class_of(*ck_class);
    if (!cls) return CKR_ATTRIBUTE_VALUE_INVALID; // a class the nodes do not keep
    if (!ck_type) return CKR_TEMPLATE_INCOMPLETE;
    auto type = key_type_of(*ck_type);
    if (!type) return CKR_ATTRIBUTE_VALUE_INVALID;
    bool secret_type = *type == key_type::aes || *type == key_type::generic_secret;
    if (secret_type != (*cls == key_class::secret_key)) return CKR_TEMPLATE_INCONSISTENT;
    return object_kind{*cls, *type, *ck_class, *ck_type};
}

// CKA_VALUE_LEN as a template states it.
std::optional<CK_ULONG> template_value_len(const CK_ATTRIBUTE* tmpl, CK_ULONG count) {
    for (CK_ULONG i = 0; i < count; ++i)
        if (tmpl[i].type == CKA_VALUE_LEN) return ulong_of(tmpl[i]);
    return std::nullopt;
}

// The import_key request of an object of class `cls` and type `type` whose
// template `r` read: its name, where it is kept, and its flags when stated
// (and its material, but for an unwrap_key request, which has none).
generation import_of(key_class cls, key_type type, std::string material_hex,
                     const template_reading& r) {
    json request{{"class", key_class_name(cls)}, {"type", key_type_name(type)}};
    if (!material_hex.empty()) request["material"] = std::move(material_hex);
    if (r.label) request["label"] = *r.label;
    if (r.id) request["id"] = to_hex(*r.id);
    bool token = r.token.value_or(false);
    if (!token) request["session"] = true;
    if (r.any_flag) request["attributes"] = flags_to_json(r.flags);
    return generation{std::move(request), token};
}

// CKA_PRIVATE of an object that is no key (a certificate, a data object).
void read_private(const CK_ATTRIBUTE& a, template_reading& r) {
    if (auto v = bool_of(a)) {
        r.flags.private_ = *v;
        r.any_flag = true;
    } else {
        r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
    }
}

// What a certificate's template gives besides its name and storage: its
// value and the names it states (each checked against the value).
struct certificate_reading {
    std::optional<CK_ULONG> certificate_type;
    std::optional<bytes> value;
    std::optional<bytes> subject, issuer, serial_number;
};

// One attribute of a certificate's template; false when it is none a
// certificate has (CKR_ATTRIBUTE_TYPE_INVALID).
bool read_certificate_attribute(const CK_ATTRIBUTE& a, template_reading& r,
                                certificate_reading& c) {
    auto keep = [&](std::optional<bytes>& into) {
        if (into) r.fail(CKR_TEMPLATE_INCONSISTENT);
        // Bounded before it is read: a length no certificate has is refused unread.
        if (a.ulValueLen > max_certificate) return r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
        auto v = value_of(a);
        into = bytes(v.begin(), v.end());
    };
    switch (a.type) {
    case CKA_CERTIFICATE_TYPE:
        c.certificate_type = ulong_of(a);
        if (!c.certificate_type) r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
        return true;
    case CKA_VALUE:
        keep(c.value);
        return true;
    case CKA_SUBJECT:
        keep(c.subject);
        return true;
    case CKA_ISSUER:
        keep(c.issuer);
        return true;
    case CKA_SERIAL_NUMBER:
        keep(c.serial_number);
        return true;
    case CKA_PRIVATE:
        read_private(a, r);
        return true;
    // An officer alone trusts a certificate; a crypto user states false or nothing.
    case CKA_TRUSTED:
        if (bool_of(a) != false) r.fail(CKR_ATTRIBUTE_READ_ONLY);
        return true;
    // What every certificate here answers alike, stated alike.
    case CKA_CERTIFICATE_CATEGORY:
    case CKA_JAVA_MIDP_SECURITY_DOMAIN:
        if (ulong_of(a) != CK_ULONG{0}) r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
        return true;
    case CKA_MODIFIABLE:
    case CKA_DESTROYABLE:
        if (bool_of(a) != true) r.fail(CKR_TEMPLATE_INCONSISTENT);
        return true;
    case CKA_COPYABLE:
        if (bool_of(a) != false) r.fail(CKR_TEMPLATE_INCONSISTENT);
        return true;
    case CKA_START_DATE:
    case CKA_END_DATE:
    case CKA_URL:
    case CKA_HASH_OF_SUBJECT_PUBLIC_KEY:
    case CKA_HASH_OF_ISSUER_PUBLIC_KEY:
        if (!value_of(a).empty()) r.fail(CKR_TEMPLATE_INCONSISTENT);
        return true;
    default:
        return false;
    }
}

// C_CreateObject of an X.509 certificate: an import_key request of class
// "certificate"; the names a template states must be the value's.
std::variant<CK_RV, generation> certificate_request(const CK_ATTRIBUTE* tmpl, CK_ULONG count) {
    template_reading r;
    r.flags = default_flags(key_class::certificate, key_type::x509);
    certificate_reading c;
    for (CK_ULONG i = 0; i < count; ++i)
        if (!read_identity(tmpl[i], r, CKO_CERTIFICATE, CK_UNAVAILABLE_INFORMATION) &&
            !read_certificate_attribute(tmpl[i], r, c))
            r.fail(CKR_ATTRIBUTE_TYPE_INVALID);
    if (r.error != CKR_OK) return r.error;
    if (!c.certificate_type || !c.value) return CKR_TEMPLATE_INCOMPLETE;
    if (*c.certificate_type != CKC_X_509 || c.value->size() > max_certificate)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    auto names = names_of_certificate(*c.value);
    if (!names) return CKR_ATTRIBUTE_VALUE_INVALID;
    if ((c.subject && *c.subject != names->subject) || (c.issuer && *c.issuer != names->issuer) ||
        (c.serial_number && *c.serial_number != names->serial_number))
        return CKR_TEMPLATE_INCONSISTENT;
    return import_of(key_class::certificate, key_type::x509, to_hex(*c.value), r);
}

// One attribute of a data object's template; false when it is none a data
// object has (CKR_ATTRIBUTE_TYPE_INVALID). Each is bounded before it is read.
bool read_data_attribute(const CK_ATTRIBUTE& a, template_reading& r, data_contents& d,
                         bool& has_value) {
    auto keep = [&](std::size_t limit) -> std::optional<bytes> {
        if (a.ulValueLen > limit || (!a.pValue && a.ulValueLen)) {
            r.fail(CKR_ATTRIBUTE_VALUE_INVALID);
            return std::nullopt;
        }
        auto v = value_of(a);
        return bytes(v.begin(), v.end());
    };
    switch (a.type) {
    case CKA_APPLICATION:
        if (auto v = keep(max_data_application)) d.application.assign(v->begin(), v->end());
        return true;
    case CKA_OBJECT_ID:
        if (auto v = keep(max_data_object_id)) d.object_id = std::move(*v);
        return true;
    case CKA_VALUE:
        if (has_value) r.fail(CKR_TEMPLATE_INCONSISTENT);
        has_value = true;
        if (auto v = keep(max_data_value)) d.value = std::move(*v);
        return true;
    case CKA_PRIVATE:
        read_private(a, r);
        return true;
    case CKA_MODIFIABLE:
    case CKA_COPYABLE:
    case CKA_DESTROYABLE:
        if (bool_of(a) != true) r.fail(CKR_TEMPLATE_INCONSISTENT);
        return true;
    default:
        return false;
    }
}

// C_CreateObject of a data object: an import_key request of class "data",
// its value packed with its names (data_object.hpp).
std::variant<CK_RV, generation> data_request(const CK_ATTRIBUTE* tmpl, CK_ULONG count) {
    template_reading r;
    r.flags = default_flags(key_class::data, key_type::opaque);
    data_contents d;
    bool has_value = false;
    for (CK_ULONG i = 0; i < count; ++i)
        if (tmpl[i].type == CKA_ID || tmpl[i].type == CKA_KEY_TYPE ||
            (!read_identity(tmpl[i], r, CKO_DATA, CK_UNAVAILABLE_INFORMATION) &&
             !read_data_attribute(tmpl[i], r, d, has_value)))
            r.fail(CKR_ATTRIBUTE_TYPE_INVALID);
    if (r.error != CKR_OK) return r.error;
    return import_of(key_class::data, key_type::opaque, to_hex(pack_data(d)), r);
}

// What C_CopyObject's copy will be, as its template changes it.
struct copy_state {
    std::string label;
    bytes id;
    bool token = true;
    key_flags flags;
};

// Whether attribute `type` of an object may differ in its copy: its name,
// where it is kept, and the usage flags C_SetAttributeValue changes.
bool changes_in_copy(CK_ATTRIBUTE_TYPE type) {
    const auto* info = find_key_attribute(static_cast<std::uint32_t>(type));
    return type == CKA_TOKEN || type == CKA_PRIVATE ||
           (info && info->flag && info->settable && type <= CKA_DESTROYABLE &&
            type != CKA_TRUSTED && type != CKA_DESTROYABLE);
}

// One attribute of C_CopyObject's template applied to `copy`.
CK_RV change_copy(const key_summary& original, const CK_ATTRIBUTE& a, copy_state& copy) {
    // Bounded before it is read (no attribute copied is longer than a
    // certificate), and a length without a value is none.
    if (a.ulValueLen > max_certificate || (!a.pValue && a.ulValueLen))
        return CKR_ATTRIBUTE_VALUE_INVALID;
    auto v = value_of(a);
    // An attribute the object does not have is no change (CKA_ID of a data object).
    auto now = attribute_of(original, a.type);
    if (now.error == CKR_ATTRIBUTE_TYPE_INVALID) return CKR_ATTRIBUTE_TYPE_INVALID;
    if (a.type == CKA_LABEL) {
        copy.label.assign(v.begin(), v.end());
        return valid_key_label(copy.label) ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    }
    if (a.type == CKA_ID) {
        copy.id.assign(v.begin(), v.end());
        return copy.id.size() <= max_key_id ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    }
    // What may not change may be stated as it is (SoftHSM2 says the same).
    if (!changes_in_copy(a.type))
        return now.error == CKR_OK && std::ranges::equal(v, now.value) ? CKR_OK
                                                                       : CKR_ATTRIBUTE_READ_ONLY;
    auto value = bool_of(a);
    if (!value || now.error != CKR_OK) return CKR_ATTRIBUTE_VALUE_INVALID;
    if (a.type == CKA_TOKEN)
        copy.token = *value;
    else if (a.type == CKA_PRIVATE)
        copy.flags.private_ = *value;
    else
        copy.flags.*(find_key_attribute(static_cast<std::uint32_t>(a.type))->flag) = *value;
    return CKR_OK;
}

} // namespace

std::variant<CK_RV, generation> generation_request(CK_MECHANISM_TYPE mechanism,
                                                   const CK_ATTRIBUTE* public_tmpl,
                                                   CK_ULONG public_count,
                                                   const CK_ATTRIBUTE* private_tmpl,
                                                   CK_ULONG private_count) {
    const auto* entry = find_mechanism(mechanism);
    if (!entry || !entry->generates) return CKR_MECHANISM_INVALID;
    auto [type, main, ck_type] = *entry->generates;
    bool pair = main == key_class::private_key;
    auto priv =
        read_template(private_tmpl, private_count, main, type,
                      pair ? CKO_PRIVATE_KEY : CKO_SECRET_KEY, ck_type, default_flags(main, type));
    if (priv.error != CKR_OK) return priv.error;
    template_reading pub;
    if (pair) {
        pub = read_template(public_tmpl, public_count, key_class::public_key, type, CKO_PUBLIC_KEY,
                            ck_type, default_flags(key_class::public_key, type));
        if (pub.error != CKR_OK) return pub.error;
        // The public key's flags are the node's (its class's defaults, or a
        // wrapping half when the private half unwraps): a template may ask
        // for them, never for others.
        if (pub.flags != public_half_flags(type, priv.flags)) return CKR_TEMPLATE_INCONSISTENT;
    }
    auto spec = key_spec_of(type, priv, pub);
    if (auto* error = std::get_if<CK_RV>(&spec)) return *error;
    if (!parse_key_spec(std::get<std::string>(spec))) return CKR_ATTRIBUTE_VALUE_INVALID;
    json request{{"spec", std::get<std::string>(spec)}};
    // Applications name a pair on either half; the nodes give both one.
    auto label = priv.label ? priv.label : pub.label;
    auto id = priv.id ? priv.id : pub.id;
    if (label) request["label"] = *label;
    if (id) request["id"] = to_hex(*id);
    // A session key unless the template says CKA_TOKEN true (the standard's
    // default); a pair is kept as its private half says, and a public half
    // that says otherwise is inconsistent (both live on one node or none).
    bool token = priv.token.value_or(false);
    if (pair && pub.token && *pub.token != token) return CKR_TEMPLATE_INCONSISTENT;
    if (!token) request["session"] = true;
    if (priv.any_flag) request["attributes"] = flags_to_json(priv.flags);
    return generation{std::move(request), token};
}

std::variant<CK_RV, generation> import_request(const CK_ATTRIBUTE* tmpl, CK_ULONG count) {
    if (count && !tmpl) return CKR_ARGUMENTS_BAD;
    for (CK_ULONG i = 0; i < count; ++i)
        if (tmpl[i].type == CKA_CLASS && ulong_of(tmpl[i]) == CK_ULONG{CKO_CERTIFICATE})
            return certificate_request(tmpl, count);
        else if (tmpl[i].type == CKA_CLASS && ulong_of(tmpl[i]) == CK_ULONG{CKO_DATA})
            return data_request(tmpl, count);
    auto kind = imported_kind(tmpl, count);
    if (auto* error = std::get_if<CK_RV>(&kind)) return *error;
    auto [cls, type, ck_class, ck_type] = std::get<object_kind>(kind);
    // Never made here: CKA_LOCAL, CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE false.
    auto base = default_flags(cls, type);
    base.local = base.always_sensitive = base.never_extractable = false;
    key_parts parts;
    auto r = read_template(tmpl, count, cls, type, ck_class, ck_type, base, &parts);
    if (r.error != CKR_OK) return r.error;
    // The curve a template names is the key type's.
    if ((type == key_type::ed25519 && r.curve_bits) || (type == key_type::ec && r.edwards))
        return CKR_TEMPLATE_INCONSISTENT;
    auto material = key_material_of(cls, type, r.curve_bits.value_or(0), parts);
    if (auto* error = std::get_if<CK_RV>(&material)) return *error;
    const auto& hex = std::get<secret>(material);
    // Sizes stated must be the key's: CKA_VALUE_LEN of a secret key.
    if (r.value_len && (cls != key_class::secret_key || *r.value_len * 2 != hex.size()))
        return CKR_TEMPLATE_INCONSISTENT;
    if (r.modulus_bits) return CKR_ATTRIBUTE_READ_ONLY; // the modulus says it
    return import_of(cls, type, std::string(hex.view()), r);
}

std::variant<CK_RV, generation> unwrap_request(const CK_ATTRIBUTE* tmpl, CK_ULONG count,
                                               const std::optional<key_template>& made_so) {
    if (count && !tmpl) return CKR_ARGUMENTS_BAD;
    auto kind = imported_kind(tmpl, count);
    if (auto* error = std::get_if<CK_RV>(&kind)) return *error;
    auto [cls, type, ck_class, ck_type] = std::get<object_kind>(kind);
    // A public key is no secret: it is imported, never unwrapped.
    if (cls == key_class::public_key) return CKR_TEMPLATE_INCONSISTENT;
    auto base = default_flags(cls, type);
    base.local = base.always_sensitive = base.never_extractable = false;
    auto r = read_template(tmpl, count, cls, type, ck_class, ck_type, base);
    if (r.error != CKR_OK) return r.error;
    if (made_so && !apply_unwrap_template(*made_so, cls, type, r)) return CKR_TEMPLATE_INCONSISTENT;
    // Its size is the wrapped key's, which the node reads.
    if (r.modulus_bits || r.curve_bits || r.edwards) return CKR_ATTRIBUTE_READ_ONLY;
    return import_of(cls, type, {}, r); // the material: what the node unwraps
}

std::variant<CK_RV, generation> derivation_request(const CK_ATTRIBUTE* tmpl, CK_ULONG count) {
    auto kind = imported_kind(tmpl, count);
    if (auto* error = std::get_if<CK_RV>(&kind)) return *error;
    if (std::get<object_kind>(kind).cls != key_class::secret_key) return CKR_TEMPLATE_INCONSISTENT;
    auto request = unwrap_request(tmpl, count, std::nullopt);
    if (auto* error = std::get_if<CK_RV>(&request)) return *error;
    // Its length is the template's to say (the secret has none of its own).
    auto length = template_value_len(tmpl, count);
    if (!length) return CKR_TEMPLATE_INCOMPLETE;
    if (*length < 1 || *length > 64) return CKR_ATTRIBUTE_VALUE_INVALID;
    std::get<generation>(request).request["value_len"] = *length;
    return request;
}

std::variant<CK_RV, generation> copy_request(const key_summary& original, const CK_ATTRIBUTE* tmpl,
                                             CK_ULONG count) {
    if (original.cls == key_class::secret_key || original.cls == key_class::private_key)
        return CKR_ACTION_PROHIBITED;
    // A data object's bytes: its owner's and its sharers' alone.
    if (original.public_key.empty()) return CKR_ACTION_PROHIBITED;
    if (count && !tmpl) return CKR_ARGUMENTS_BAD;
    copy_state copy{original.label, from_hex(original.id).value_or(bytes{}), original.token,
                    original.flags};
    for (CK_ULONG i = 0; i < count; ++i)
        if (auto rv = change_copy(original, tmpl[i], copy); rv != CKR_OK) return rv;
    if (!flags_fit(copy.flags, original.cls, original.type)) return CKR_TEMPLATE_INCONSISTENT;
    copy.flags.local = false; // a copy is brought in again
    json request{{"class", key_class_name(original.cls)},
                 {"type", key_type_name(original.type)},
                 {"material", original.public_key},
                 {"label", copy.label},
                 {"id", to_hex(copy.id)},
                 {"attributes", flags_to_json(copy.flags)}};
    if (!copy.token) request["session"] = true;
    return generation{std::move(request), copy.token};
}

std::variant<CK_RV, node_mechanism> node_mechanism_for(const CK_MECHANISM& m, const key_summary& k,
                                                       key_operation op) {
    const auto* entry = find_mechanism(m.mechanism);
    auto parsed = entry ? mechanism_from_name(entry->node_name) : std::nullopt;
    if (!parsed || (entry->flags & flag_of(op)) == 0) return CKR_MECHANISM_INVALID;
    // A key of another type, or of the other half of a pair (a public key
    // to sign with), is inconsistent with the mechanism (as SoftHSM says).
    if (!mechanism_fits(*parsed, use_of(op), k.type, k.cls)) return CKR_KEY_TYPE_INCONSISTENT;
    node_mechanism out;
    out.which = *parsed;
    if (entry->read_parameters) {
        if (auto rv = entry->read_parameters(m, op, out); rv != CKR_OK) return rv;
    } else if (m.pParameter || m.ulParameterLen) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    return out;
}

CK_RV input_fits(const node_mechanism& m, key_operation op, std::size_t input) {
    bool padded_decryption = m.which == mechanism::aes_cbc_pad && op == key_operation::decrypt;
    bool whole_blocks =
        m.which == mechanism::aes_ecb || m.which == mechanism::aes_cbc || padded_decryption;
    bool empty_padded = padded_decryption && input == 0;
    if ((whole_blocks && input % aes_block_size != 0) || empty_padded)
        return op == key_operation::decrypt ? CKR_ENCRYPTED_DATA_LEN_RANGE : CKR_DATA_LEN_RANGE;
    return CKR_OK;
}

std::size_t output_bound(const key_summary& k, const node_mechanism& m, key_operation op,
                         std::size_t input) {
    constexpr std::size_t tag = 16;
    switch (k.type) {
    case key_type::ec:
        return 2 * static_cast<std::size_t>(k.bits / 8);
    case key_type::ed25519:
        return 64; // RFC 8032: R and S, 32 bytes each
    case key_type::rsa:
        return static_cast<std::size_t>(k.bits / 8);
    case key_type::generic_secret: { // an HMAC, whole or cut (_GENERAL)
        auto cut = m.fields.find("mac_length");
        if (cut != m.fields.end() && cut->is_number_unsigned()) return cut->get<std::size_t>();
        return mac_size(m.which);
    }
    case key_type::aes:
        if (m.which == mechanism::aes_cmac) {
            auto cut = m.fields.find("mac_length");
            return cut != m.fields.end() && cut->is_number_unsigned() ? cut->get<std::size_t>()
                                                                      : 16;
        }
        if (m.which == mechanism::aes_gcm)
            return op == key_operation::encrypt ? input + tag : (input < tag ? 0 : input - tag);
        if (m.which == mechanism::aes_cbc_pad && op == key_operation::encrypt)
            return (input / aes_block_size + 1) * aes_block_size;
        return input;    // ECB, CBC, CTR; a padded decryption's at most
    case key_type::x509: // a certificate or data object computes nothing
    case key_type::opaque:
        return 0;
    }
    return 0;
}

} // namespace hsm::p11

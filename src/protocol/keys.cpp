// SPDX-License-Identifier: Apache-2.0
// Key classes, types, attributes, mechanisms and the rules of who may do what.
#include "hsmsh/protocol/keys.hpp"

#include "hsmsh/hex.hpp"
#include "hsmsh/log.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>

namespace hsm {
namespace {

template <typename E> struct named {
    E value;
    std::string_view name;
};

template <typename E, std::size_t N>
std::string_view name_in(const std::array<named<E>, N>& table, E value) noexcept {
    for (const auto& [v, n] : table)
        if (v == value) return n;
    return "unknown";
}

template <typename E, std::size_t N>
std::optional<E> value_in(const std::array<named<E>, N>& table, std::string_view name) noexcept {
    for (const auto& [v, n] : table)
        if (n == name) return v;
    return std::nullopt;
}

constexpr std::array<named<key_class>, 5> class_names{{
    {key_class::public_key, "public"},
    {key_class::private_key, "private"},
    {key_class::secret_key, "secret"},
    {key_class::certificate, "certificate"},
    {key_class::data, "data"},
}};

constexpr std::array<named<key_type>, 7> type_names{{
    {key_type::ec, "ec"},
    {key_type::rsa, "rsa"},
    {key_type::aes, "aes"},
    {key_type::generic_secret, "generic_secret"},
    {key_type::x509, "x509"},
    {key_type::opaque, "opaque"},
    {key_type::ed25519, "ed25519"},
}};

constexpr std::array<named<mechanism>, 32> mechanism_names{{
    {mechanism::ecdsa, "ecdsa"},
    {mechanism::ecdsa_sha1, "ecdsa-sha1"},
    {mechanism::ecdsa_sha224, "ecdsa-sha224"},
    {mechanism::ecdsa_sha256, "ecdsa-sha256"},
    {mechanism::ecdsa_sha384, "ecdsa-sha384"},
    {mechanism::ecdsa_sha512, "ecdsa-sha512"},
    {mechanism::rsa_pkcs1, "rsa-pkcs1"},
    {mechanism::rsa_pkcs1_sha256, "rsa-pkcs1-sha256"},
    {mechanism::rsa_pkcs1_sha384, "rsa-pkcs1-sha384"},
    {mechanism::rsa_pkcs1_sha512, "rsa-pkcs1-sha512"},
    {mechanism::rsa_pss_sha256, "rsa-pss-sha256"},
    {mechanism::rsa_pss_sha384, "rsa-pss-sha384"},
    {mechanism::rsa_pss_sha512, "rsa-pss-sha512"},
    {mechanism::hmac_sha1, "hmac-sha1"},
    {mechanism::hmac_sha224, "hmac-sha224"},
    {mechanism::hmac_sha256, "hmac-sha256"},
    {mechanism::hmac_sha384, "hmac-sha384"},
    {mechanism::hmac_sha512, "hmac-sha512"},
    {mechanism::aes_cmac, "aes-cmac"},
    {mechanism::aes_gcm, "aes-gcm"},
    {mechanism::aes_ecb, "aes-ecb"},
    {mechanism::aes_cbc, "aes-cbc"},
    {mechanism::aes_cbc_pad, "aes-cbc-pad"},
    {mechanism::aes_ctr, "aes-ctr"},
    {mechanism::rsa_oaep_sha1, "rsa-oaep-sha1"},
    {mechanism::rsa_oaep_sha224, "rsa-oaep-sha224"},
    {mechanism::rsa_oaep_sha256, "rsa-oaep-sha256"},
    {mechanism::rsa_oaep_sha384, "rsa-oaep-sha384"},
    {mechanism::rsa_oaep_sha512, "rsa-oaep-sha512"},
    {mechanism::aes_key_wrap, "aes-key-wrap"},
    {mechanism::aes_key_wrap_pad, "aes-key-wrap-pad"},
    {mechanism::eddsa, "eddsa"},
}};

using ka = key_attribute;
constexpr std::array<attribute_info, 29> attribute_table{{
    {ka::class_, "OBJ_ATTR_CLASS", nullptr, false},
    {ka::token, "OBJ_ATTR_TOKEN", &key_flags::token, false},
    {ka::private_, "OBJ_ATTR_PRIVATE", &key_flags::private_, false},
    {ka::label, "OBJ_ATTR_LABEL", nullptr, true},
    {ka::trusted, "OBJ_ATTR_TRUSTED", &key_flags::trusted, true},
    {ka::key_type, "OBJ_ATTR_KEY_TYPE", nullptr, false},
    {ka::id, "OBJ_ATTR_ID", nullptr, true},
    {ka::sensitive, "OBJ_ATTR_SENSITIVE", &key_flags::sensitive, false},
    {ka::encrypt, "OBJ_ATTR_ENCRYPT", &key_flags::encrypt, true},
    {ka::decrypt, "OBJ_ATTR_DECRYPT", &key_flags::decrypt, true},
    {ka::wrap, "OBJ_ATTR_WRAP", &key_flags::wrap, true},
    {ka::unwrap, "OBJ_ATTR_UNWRAP", &key_flags::unwrap, true},
    {ka::sign, "OBJ_ATTR_SIGN", &key_flags::sign, true},
    {ka::verify, "OBJ_ATTR_VERIFY", &key_flags::verify, true},
    {ka::derive, "OBJ_ATTR_DERIVE", &key_flags::derive, true},
    {ka::local, "OBJ_ATTR_LOCAL", &key_flags::local, false},
    {ka::modulus, "OBJ_ATTR_MODULUS", nullptr, false},
    {ka::modulus_bits, "OBJ_ATTR_MODULUS_BITS", nullptr, false},
    {ka::public_exponent, "OBJ_ATTR_PUBLIC_EXPONENT", nullptr, false},
    {ka::value_len, "OBJ_ATTR_VALUE_LEN", nullptr, false},
    {ka::extractable, "OBJ_ATTR_EXTRACTABLE", &key_flags::extractable, true},
    {ka::never_extractable, "OBJ_ATTR_NEVER_EXTRACTABLE", &key_flags::never_extractable, false},
    {ka::always_sensitive, "OBJ_ATTR_ALWAYS_SENSITIVE", &key_flags::always_sensitive, false},
    {ka::destroyable, "OBJ_ATTR_DESTROYABLE", &key_flags::destroyable, true},
    {ka::kcv, "OBJ_ATTR_KCV", nullptr, false},
    {ka::wrap_with_trusted, "OBJ_ATTR_WRAP_WITH_TRUSTED", &key_flags::wrap_with_trusted, true},
    {ka::wrap_template, "OBJ_ATTR_WRAP_TEMPLATE", nullptr, false},
    {ka::unwrap_template, "OBJ_ATTR_UNWRAP_TEMPLATE", nullptr, false},
    {ka::all, "OBJ_ATTR_ALL", nullptr, false},
}};

// What each kind of key may ever do.
key_flags usable_by(key_class c, key_type t) noexcept {
    key_flags f;
    if (!is_key(c) || t == key_type::x509 || t == key_type::opaque) return f; // used by nobody
    bool ciphers = t == key_type::aes || t == key_type::rsa; // no EC encryption here
    bool signs = true; // AES: CMAC, with a key that does nothing else (flags_fit)
    f.encrypt = ciphers && c != key_class::private_key;
    f.decrypt = ciphers && c != key_class::public_key;
    // AES keys wrap (key wraps, GCM); an RSA public key wraps and its
    // private half unwraps (OAEP), under the rule that joins the two halves
    // (rsa_wrapping_pair_holds, on the node).
    bool rsa = t == key_type::rsa;
    f.wrap = t == key_type::aes || (rsa && c == key_class::public_key);
    f.unwrap = t == key_type::aes || (rsa && c == key_class::private_key);
    f.verify = signs && c != key_class::private_key;
    f.sign = signs && c != key_class::public_key;
    f.derive = t == key_type::ec && c == key_class::private_key;
    return f;
}

std::optional<int> parse_bits(std::string_view text) {
    int bits = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), bits);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return bits;
}

} // namespace

bool is_key(key_class c) noexcept {
    return c == key_class::public_key || c == key_class::private_key || c == key_class::secret_key;
}

bool is_asymmetric(key_type t) noexcept {
    return t == key_type::ec || t == key_type::rsa || t == key_type::ed25519;
}

std::string_view key_class_name(key_class c) noexcept {
    return name_in(class_names, c);
}
std::optional<key_class> key_class_from_name(std::string_view n) noexcept {
    return value_in(class_names, n);
}
std::string_view key_type_name(key_type t) noexcept {
    return name_in(type_names, t);
}
std::optional<key_type> key_type_from_name(std::string_view n) noexcept {
    return value_in(type_names, n);
}
std::string_view mechanism_name(mechanism m) noexcept {
    return name_in(mechanism_names, m);
}
std::optional<mechanism> mechanism_from_name(std::string_view n) noexcept {
    return value_in(mechanism_names, n);
}

bool gives_the_cipher(mechanism m) noexcept {
    return m == mechanism::aes_ecb || caller_iv_size(m) != 0;
}

std::size_t caller_iv_size(mechanism m) noexcept {
    return m == mechanism::aes_cbc || m == mechanism::aes_cbc_pad || m == mechanism::aes_ctr ? 16
                                                                                             : 0;
}

bool is_mac(mechanism m) noexcept {
    return mac_size(m) != 0;
}

std::size_t mac_size(mechanism m) noexcept {
    switch (m) {
    case mechanism::aes_cmac:
        return 16;
    case mechanism::hmac_sha1:
        return 20;
    case mechanism::hmac_sha224:
        return 28;
    case mechanism::hmac_sha256:
        return 32;
    case mechanism::hmac_sha384:
        return 48;
    case mechanism::hmac_sha512:
        return 64;
    default:
        return 0;
    }
}

std::optional<key_spec> parse_key_spec(std::string_view text) {
    if (text == "ed25519" || text == "ec:edwards25519" || text == "ec:ed25519")
        return key_spec{key_type::ed25519, 256};
    auto colon = text.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto kind = text.substr(0, colon);
    auto size = text.substr(colon + 1);
    if (kind == "ec") {
        if (size == "p256" || size == "prime256v1" || size == "secp256r1")
            return key_spec{key_type::ec, 256};
        if (size == "p384" || size == "secp384r1") return key_spec{key_type::ec, 384};
        return std::nullopt;
    }
    auto bits = parse_bits(size);
    if (!bits) return std::nullopt;
    if (kind == "rsa" && (*bits == 2048 || *bits == 3072 || *bits == 4096))
        return key_spec{key_type::rsa, *bits};
    if (kind == "aes" && (*bits == 128 || *bits == 192 || *bits == 256))
        return key_spec{key_type::aes, *bits};
    if (kind == "hmac" && *bits >= 128 && *bits <= 512 && *bits % 8 == 0)
        return key_spec{key_type::generic_secret, *bits};
    return std::nullopt;
}

std::string key_spec_name(const key_spec& spec) {
    switch (spec.type) {
    case key_type::ec:
        return fmt::format("ec:p{}", spec.bits);
    case key_type::rsa:
        return fmt::format("rsa:{}", spec.bits);
    case key_type::aes:
        return fmt::format("aes:{}", spec.bits);
    case key_type::generic_secret:
        return fmt::format("hmac:{}", spec.bits);
    case key_type::x509:
        return "x509";
    case key_type::opaque:
        return "opaque";
    case key_type::ed25519:
        return "ed25519";
    }
    return "unknown";
}

std::span<const attribute_info> key_attributes() noexcept {
    return attribute_table;
}

const attribute_info* find_key_attribute(std::uint32_t id) noexcept {
    for (const auto& a : attribute_table)
        if (static_cast<std::uint32_t>(a.id) == id) return &a;
    return nullptr;
}

key_flags default_flags(key_class c, key_type t) noexcept {
    auto f = usable_by(c, t);
    // An AES key encrypts unless asked to MAC instead; a key wraps or
    // unwraps only when asked to (and then neither encrypts nor decrypts).
    if (t == key_type::aes) f.sign = f.verify = false;
    f.wrap = f.unwrap = false;
    // Certificates are no secret, and never made here; nor are data
    // objects, private to their owner (PKCS#11 leaves the default to the token).
    if (!is_key(c)) {
        f.private_ = c == key_class::data;
        f.sensitive = f.always_sensitive = f.never_extractable = false;
        f.local = f.extractable = false;
        return f;
    }
    // Public keys are no secret: readable by every crypto user, and exportable.
    if (c == key_class::public_key) {
        f.private_ = false;
        f.sensitive = false;
        f.always_sensitive = false;
        f.extractable = true;
        f.never_extractable = false;
    }
    return f;
}

bool templates_belong(const key_flags& f) noexcept {
    return (!f.wrap_template || f.wrap) && (!f.unwrap_template || f.unwrap);
}

key_flags public_half_flags(key_type t, const key_flags& private_half) noexcept {
    auto f = default_flags(key_class::public_key, t);
    if (t == key_type::rsa && private_half.unwrap) {
        f.wrap = true;
        f.encrypt = false;
    }
    return f;
}

bool flags_fit(const key_flags& f, key_class c, key_type t) noexcept {
    auto may = usable_by(c, t);
    for (const auto& a : attribute_table) {
        bool usage = a.flag && a.settable && a.flag != &key_flags::trusted &&
                     a.flag != &key_flags::destroyable && a.flag != &key_flags::wrap_with_trusted &&
                     a.flag != &key_flags::extractable;
        if (usage && f.*(a.flag) && !(may.*(a.flag))) return false;
    }
    if (c == key_class::public_key) return true;
    // A certificate is an X.509 one, a data object opaque; both brought
    // in, and neither sensitive.
    if (!is_key(c))
        return t == (c == key_class::certificate ? key_type::x509 : key_type::opaque) && !f.local &&
               !f.sensitive && !f.extractable && !f.always_sensitive && !f.never_extractable &&
               !f.trusted && !f.wrap_with_trusted;
    // An AES key that MACs does nothing else: CMAC's subkeys come from the
    // cipher on the zero block (GCM's hash key), and a CBC-MAC under an
    // encryption key is a known forgery.
    if (t == key_type::aes && (f.sign || f.verify) &&
        (f.encrypt || f.decrypt || f.wrap || f.unwrap))
        return false;
    // A key that wraps or unwraps neither encrypts nor decrypts: what it
    // wraps, a decryption under it would read (the Tookan attacks), and what
    // it unwraps, an encryption under it would have chosen.
    if ((f.wrap || f.unwrap) && (f.encrypt || f.decrypt)) return false;
    // No key leaves a node in the clear: secret and private keys stay
    // sensitive; an extractable one leaves wrapped alone (wrap_key).
    if (!f.sensitive) return false;
    // One made here was never anything else; one brought in (CKA_LOCAL
    // false) was in the clear before, and says so; never extractable is
    // a local key that never was.
    if (f.never_extractable && (f.extractable || !f.local)) return false;
    return f.always_sensitive == f.local;
}

namespace {

json template_to_json(const key_template& t) {
    json j = json::object();
    if (t.cls) j["class"] = key_class_name(*t.cls);
    if (t.type) j["type"] = key_type_name(*t.type);
    for (const auto& [name, value] : t.flags)
        j[name] = value;
    return j;
}

std::optional<key_template> template_from_json(const json& j) {
    if (!j.is_object()) return std::nullopt;
    key_template t;
    for (const auto& item : j.items()) {
        const auto& name = item.key();
        const auto& value = item.value();
        if (name == "class" || name == "type") {
            if (!value.is_string()) return std::nullopt;
            const auto& text = value.get_ref<const std::string&>();
            if (name == "class" ? !(t.cls = key_class_from_name(text))
                                : !(t.type = key_type_from_name(text)))
                return std::nullopt;
        } else if (flag_named(name) && value.is_boolean()) {
            t.flags.emplace(name, value.get<bool>());
        } else {
            return std::nullopt;
        }
    }
    return t;
}

} // namespace

// The JSON name of a flag: the attribute name without its prefix, lower case.
std::string flag_name(const attribute_info& a) {
    std::string name(a.name.substr(9));
    std::ranges::transform(name, name.begin(), [](char c) {
        return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    return name;
}

json flags_to_json(const key_flags& f) {
    json j = json::object();
    for (const auto& a : attribute_table)
        if (a.flag) j[flag_name(a)] = f.*(a.flag);
    // Only where held: a key without templates reads as it always did (its
    // stored row, its sealed description, its digest).
    if (f.wrap_template) j["wrap_template"] = template_to_json(*f.wrap_template);
    if (f.unwrap_template) j["unwrap_template"] = template_to_json(*f.unwrap_template);
    return j;
}

std::optional<key_flags> flags_from_json(const json& j, key_flags base) {
    if (!j.is_object()) return std::nullopt;
    for (const auto& item : j.items()) {
        const auto& name = item.key();
        const auto& value = item.value();
        if (name == "wrap_template" || name == "unwrap_template") {
            auto t = template_from_json(value);
            if (!t) return std::nullopt;
            (name == "wrap_template" ? base.wrap_template : base.unwrap_template) = std::move(*t);
            continue;
        }
        auto flag = flag_named(name);
        if (!flag || !value.is_boolean()) return std::nullopt;
        base.*flag = value.get<bool>();
    }
    return base;
}

bool key_flags::*flag_named(std::string_view name) noexcept {
    auto lower = [](char c) {
        return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    };
    for (const auto& a : attribute_table)
        if (a.flag && std::ranges::equal(a.name.substr(9), name, {}, lower)) return a.flag;
    return nullptr;
}

bool template_matches(const key_template& tmpl, key_class c, key_type t,
                      const key_flags& f) noexcept {
    if ((tmpl.cls && *tmpl.cls != c) || (tmpl.type && *tmpl.type != t)) return false;
    return std::ranges::all_of(tmpl.flags, [&](const auto& stated) {
        auto flag = flag_named(stated.first);
        return flag && f.*flag == stated.second;
    });
}

bool valid_key_label(std::string_view label) noexcept {
    // Well-formed UTF-8 as well: the wire is JSON, whose encoder would
    // otherwise put U+FFFD for a stray byte and store another label.
    return label.size() <= max_key_label && printable_text(label);
}

bool valid_key_id_hex(std::string_view id) noexcept {
    if (id.size() > 2 * max_key_id || id.size() % 2 != 0) return false;
    return std::ranges::all_of(
        id, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool valid_attribute_value(const attribute_info& a, std::string_view value) noexcept {
    if (a.id == key_attribute::label) return valid_key_label(value);
    if (a.id == key_attribute::id) return valid_key_id_hex(value);
    return value == "0" || value == "1";
}

bool mechanism_fits(mechanism m, key_use use, key_type t, key_class c) noexcept {
    using enum mechanism;
    bool signing = use == key_use::sign || use == key_use::verify;
    bool transport = use == key_use::wrap || use == key_use::unwrap;
    bool secret_side = use == key_use::sign || use == key_use::decrypt || use == key_use::unwrap;
    bool by_class = secret_side ? c != key_class::public_key : c != key_class::private_key;
    if (!by_class) return false;
    switch (m) {
    case ecdsa:
    case ecdsa_sha1:
    case ecdsa_sha224:
    case ecdsa_sha256:
    case ecdsa_sha384:
    case ecdsa_sha512:
        return signing && t == key_type::ec;
    case eddsa:
        return signing && t == key_type::ed25519;
    case rsa_pkcs1: // a DigestInfo's signature, or PKCS#1 v1.5 encryption
        return !transport && t == key_type::rsa;
    case rsa_pkcs1_sha256:
    case rsa_pkcs1_sha384:
    case rsa_pkcs1_sha512:
    case rsa_pss_sha256:
    case rsa_pss_sha384:
    case rsa_pss_sha512:
        return signing && t == key_type::rsa;
    case hmac_sha1:
    case hmac_sha224:
    case hmac_sha256:
    case hmac_sha384:
    case hmac_sha512:
        return signing && t == key_type::generic_secret;
    case aes_cmac:
        return signing && t == key_type::aes;
    case aes_gcm: // encrypts, and wraps
        return !signing && t == key_type::aes;
    case aes_ecb:
    case aes_cbc:
    case aes_cbc_pad:
    case aes_ctr:
        return !signing && !transport && t == key_type::aes;
    case rsa_oaep_sha1: // encrypts, and wraps
    case rsa_oaep_sha224:
    case rsa_oaep_sha256:
    case rsa_oaep_sha384:
    case rsa_oaep_sha512:
        return !signing && t == key_type::rsa;
    case aes_key_wrap:
    case aes_key_wrap_pad:
        return transport && t == key_type::aes;
    }
    return false;
}

bool is_oaep(mechanism m) noexcept {
    using enum mechanism;
    return m == rsa_oaep_sha1 || m == rsa_oaep_sha224 || m == rsa_oaep_sha256 ||
           m == rsa_oaep_sha384 || m == rsa_oaep_sha512;
}

bool is_key_wrap(mechanism m) noexcept {
    return m == mechanism::aes_key_wrap || m == mechanism::aes_key_wrap_pad;
}

bool flags_allow(const key_flags& f, mechanism m, key_use use) noexcept {
    if (!flags_allow(f, use)) return false;
    // Checked at every use too: a key made before the rule may hold both.
    if (use == key_use::wrap || use == key_use::unwrap) return !f.encrypt && !f.decrypt;
    if (gives_the_cipher(m)) return f.encrypt && f.decrypt;
    if (m == mechanism::rsa_pkcs1 && use == key_use::decrypt) return f.sign;
    return true;
}

bool flags_allow(const key_flags& f, key_use use) noexcept {
    switch (use) {
    case key_use::sign:
        return f.sign;
    case key_use::verify:
        return f.verify;
    case key_use::encrypt:
        return f.encrypt;
    case key_use::decrypt:
        return f.decrypt;
    case key_use::wrap:
        return f.wrap;
    case key_use::unwrap:
        return f.unwrap;
    }
    return false;
}

status may_wrap(key_class c, const key_flags& key, const key_flags& wrapping) noexcept {
    if (c != key_class::secret_key && c != key_class::private_key) return status::key_not_wrappable;
    if (!key.extractable) return status::key_unextractable;
    if (key.wrap_with_trusted && !wrapping.trusted) return status::key_not_wrappable;
    return status::ok;
}

bool may_turn(const attribute_info& a, key_type t, bool on) noexcept {
    if (!on || !a.flag) return true;
    bool narrows_only = a.flag == &key_flags::encrypt || a.flag == &key_flags::decrypt ||
                        a.flag == &key_flags::wrap || a.flag == &key_flags::unwrap ||
                        a.flag == &key_flags::extractable;
    bool aes_mac =
        t == key_type::aes && (a.flag == &key_flags::sign || a.flag == &key_flags::verify);
    return !narrows_only && !aes_mac;
}

bool flags_no_looser(const key_flags& copy, const key_flags& held) noexcept {
    constexpr std::array loosening{
        &key_flags::encrypt, &key_flags::decrypt,     &key_flags::wrap,
        &key_flags::unwrap,  &key_flags::sign,        &key_flags::verify,
        &key_flags::derive,  &key_flags::extractable, &key_flags::trusted};
    bool looser = std::ranges::any_of(loosening, [&](auto f) { return copy.*f && !(held.*f); });
    // Templates are fixed when a key is made: a copy holds the same.
    return !looser && (copy.sensitive || !held.sensitive) &&
           (copy.wrap_with_trusted || !held.wrap_with_trusted) &&
           copy.wrap_template == held.wrap_template && copy.unwrap_template == held.unwrap_template;
}

bool only_narrows(const attribute_info& a, bool on) noexcept {
    if (!a.flag || !a.settable) return false;
    if (a.flag == &key_flags::wrap_with_trusted) return on;
    bool use = a.flag != &key_flags::trusted && a.flag != &key_flags::destroyable;
    return use && !on;
}

status may_use_key(const key_actor& who, key_class c) noexcept {
    if (!who.type) return status::not_logged_in;
    if (*who.type != user_type::cu) return status::permission_denied;
    if (c == key_class::public_key || who.owner || who.shared) return status::ok;
    return status::key_not_found;
}

status may_read_key(const key_actor& who, key_class c) noexcept {
    if (who.type && is_officer(*who.type)) return status::ok;
    return may_use_key(who, c);
}

status may_share_key(const key_actor& who, key_class c) noexcept {
    if (auto seen = may_use_key(who, c); seen != status::ok) return seen;
    if (!who.owner) return who.shared ? status::permission_denied : status::key_not_found;
    return c == key_class::public_key ? status::key_not_shareable : status::ok;
}

status may_change_key(const key_actor& who, key_class c) noexcept {
    if (auto seen = may_use_key(who, c); seen != status::ok) return seen;
    return who.owner ? status::ok : status::permission_denied;
}

} // namespace hsm

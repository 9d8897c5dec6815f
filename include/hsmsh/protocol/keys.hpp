// SPDX-License-Identifier: Apache-2.0
// Keys as a node holds them and the shell shows them: classes, types and
// sizes, CMU's attribute ids, and who may use, share or destroy a key
// (docs/design.md, "Keys").
#pragma once

#include "hsmsh/protocol/status.hpp"
#include "hsmsh/protocol/user_rules.hpp"
#include "hsmsh/protocol/wire.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hsm {

/// At most this many keys on one node (CloudHSM's hsm2m.medium figure).
inline constexpr std::size_t max_keys_per_node = 3300;
/// The keys (objects: a pair is two) one crypto user may own by default:
/// one user alone never takes a node's places (hsmd --key-quota).
inline constexpr std::size_t default_key_quota = 256;
inline constexpr std::size_t max_key_label = 127; // bytes
/// A session key's handle has this bit (PKCS#11 CKA_TOKEN false, kept by one
/// node for one login); a token key's handle, 31 bits, never has it.
inline constexpr std::int64_t session_key_bit = std::int64_t{1} << 31;
inline constexpr bool is_session_handle(std::int64_t handle) noexcept {
    return (handle & session_key_bit) != 0;
}
inline constexpr std::size_t max_key_id = 64;             // bytes (CKA_ID), hex on the wire
inline constexpr std::size_t max_key_shares = 32;         // users one key is shared with
inline constexpr std::size_t max_crypto_data = 64 * 1024; // bytes one operation takes
/// A request's data: the caller's, with what travels in front of or behind
/// it (a CBC IV or CTR counter block of 16 bytes; a GCM IV of 12 and tag of 16).
inline constexpr std::size_t max_operation_data = max_crypto_data + 32;

/// A certificate (PKCS#11 CKO_CERTIFICATE, of type x509) and a data object
/// (CKO_DATA, of type opaque: an application's bytes, which the node never
/// reads) are kept, sealed, replicated and owned as a key is, and used by
/// nobody.
enum class key_class { public_key, private_key, secret_key, certificate, data };
/// `ed25519`: an Edwards-curve key (PKCS#11 3.0's CKK_EC_EDWARDS, RFC 8032),
/// which signs by EdDSA alone.
enum class key_type { ec, rsa, aes, generic_secret, x509, opaque, ed25519 };

/// The largest certificate a node keeps (DER).
inline constexpr std::size_t max_certificate = 16 * 1024;
/// The largest data object a node keeps (a 64 KiB value and the names the
/// module packs with it). Sealed, its material is its own bytes (not hex), so
/// the largest one travels in a frame as hex of about 130 KiB.
inline constexpr std::size_t max_data_object = 64 * 1024 + 512;

/// "public", "private", "secret", "certificate", "data"; "ec", "rsa",
/// "aes", "generic_secret", "x509", "opaque", "ed25519".
std::string_view key_class_name(key_class c) noexcept;
/// Whether objects of class `c` are keys (a certificate or data object is not).
bool is_key(key_class c) noexcept;
/// Whether keys of type `t` come in pairs, a private and a public half
/// (EC, RSA, Ed25519).
bool is_asymmetric(key_type t) noexcept;
std::optional<key_class> key_class_from_name(std::string_view name) noexcept;
std::string_view key_type_name(key_type t) noexcept;
std::optional<key_type> key_type_from_name(std::string_view name) noexcept;

/// What to generate: a type and its size in bits (EC: 256 is P-256, 384 is
/// P-384; Ed25519: 256, its keys' size).
struct key_spec {
    key_type type = key_type::ec;
    int bits = 256;

    friend bool operator==(const key_spec&, const key_spec&) = default;
};

/// Parses "ec:p256", "ec:prime256v1", "ec:p384", "ec:secp384r1", "rsa:2048"
/// (3072, 4096), "aes:128" (192, 256), "hmac:256" (generic secret, 128 to
/// 512 bits in whole bytes), "ed25519" (or "ec:edwards25519"). Nullopt for
/// anything else.
std::optional<key_spec> parse_key_spec(std::string_view text);
/// The canonical text of a spec ("ec:p256", "rsa:2048", "aes:256", "hmac:256",
/// "ed25519").
std::string key_spec_name(const key_spec& spec);

/// A template of key attributes that a key-encryption key holds (PKCS#11's
/// CKA_WRAP_TEMPLATE: what it wraps matches it; CKA_UNWRAP_TEMPLATE: what
/// it unwraps is made so): a class, a type and flags by their JSON names
/// ("extractable", ...), each stated once; what it does not state is free.
struct key_template {
    std::optional<key_class> cls;
    std::optional<key_type> type;
    std::map<std::string, bool, std::less<>> flags;

    friend bool operator==(const key_template&, const key_template&) = default;
};

/// The boolean attributes of a key (PKCS#11's CKA_* of the same names), and
/// the templates a key-encryption key holds, fixed when it is made.
struct key_flags {
    bool token = true;
    bool private_ = true;
    bool sensitive = true;
    bool extractable = false;
    bool never_extractable = true;
    bool always_sensitive = true;
    bool local = true; // generated on the HSM
    bool trusted = false;
    bool wrap_with_trusted = false;
    bool encrypt = false;
    bool decrypt = false;
    bool wrap = false;
    bool unwrap = false;
    bool sign = false;
    bool verify = false;
    bool derive = false;
    bool destroyable = true;
    std::optional<key_template> wrap_template;   // a key that wraps: what it may wrap
    std::optional<key_template> unwrap_template; // a key that unwraps: what it makes

    friend bool operator==(const key_flags&, const key_flags&) = default;
};

/// CMU's attribute ids (listAttributes), spelled once.
enum class key_attribute : std::uint32_t {
    class_ = 0,
    token = 1,
    private_ = 2,
    label = 3,
    trusted = 134,
    key_type = 256,
    id = 258,
    sensitive = 259,
    encrypt = 260,
    decrypt = 261,
    wrap = 262,
    unwrap = 263,
    sign = 264,
    verify = 266,
    derive = 268,
    modulus = 288,
    modulus_bits = 289,
    public_exponent = 290,
    value_len = 353,
    extractable = 354,
    local = 355,
    never_extractable = 356,
    always_sensitive = 357,
    destroyable = 370,
    kcv = 371,
    all = 512,
    wrap_with_trusted = 528,
    wrap_template = 1073742353,
    unwrap_template = 1073742354,
};

/// One row of listAttributes: the OBJ_ATTR_ name, its id, and whether
/// setAttribute may change it (CMU's settable ids).
struct attribute_info {
    key_attribute id;
    std::string_view name; // "OBJ_ATTR_CLASS"
    bool key_flags::*flag; // the flag it reads, or null
    bool settable;
};

/// Every attribute CMU lists, in its order.
std::span<const attribute_info> key_attributes() noexcept;
const attribute_info* find_key_attribute(std::uint32_t id) noexcept;

/// The flags a new key of class `c` and type `t` gets: every usage it can
/// have, sensitive and never extractable (public keys: neither).
key_flags default_flags(key_class c, key_type t) noexcept;

/// Whether a new key's templates belong to it: a wrap template to a key
/// that wraps, an unwrap template to one that unwraps. Checked when a key
/// is made alone: wrapping turned off later leaves the template, unused.
bool templates_belong(const key_flags& f) noexcept;

/// The flags of the public half of a pair of type `t` made with a private
/// half of flags `private_half`: its class's defaults, but for an RSA pair
/// made to carry keys (its private half unwraps), whose public half wraps
/// and does not encrypt.
key_flags public_half_flags(key_type t, const key_flags& private_half) noexcept;

/// Whether `f` only allows what such a key can do (a public key never
/// signs, a private key never verifies, an HMAC key never encrypts), an AES
/// key that MACs does nothing else, a key that wraps or unwraps neither
/// encrypts nor decrypts, every secret and private key is sensitive, is
/// always sensitive exactly when it is local (generated on the node; an
/// imported or unwrapped key was in the clear before), and is never
/// extractable only when it is local and not extractable.
bool flags_fit(const key_flags& f, key_class c, key_type t) noexcept;

/// Flags as an object of names to booleans ({"sign": true, ...}) and back,
/// with a template as an object under "wrap_template" or "unwrap_template"
/// ({"class": "secret", "type": "aes", "extractable": true}) when the key
/// holds one. from_json takes the defaults of `c` and applies the names
/// given; unknown names, non-boolean values or a malformed template give
/// nullopt.
json flags_to_json(const key_flags& f);
std::optional<key_flags> flags_from_json(const json& j, key_flags base);

/// The JSON name of a flag's attribute (OBJ_ATTR_SIGN: "sign").
std::string flag_name(const attribute_info& a);
/// The flag of JSON name `name` ("sign"), or nullptr.
bool key_flags::*flag_named(std::string_view name) noexcept;
/// Whether a key of class `c`, type `t` and flags `f` is what `t` states.
bool template_matches(const key_template& tmpl, key_class c, key_type t,
                      const key_flags& f) noexcept;

/// Labels: at most 127 bytes of well-formed UTF-8, no control characters
/// (C0, DEL or C1).
bool valid_key_label(std::string_view label) noexcept;
/// CKA_ID as hex: at most 64 bytes, even length.
bool valid_key_id_hex(std::string_view id) noexcept;
/// Whether setAttribute may set settable attribute `a` to `value`: a label,
/// an id in lower-case hex, or else "0" or "1".
bool valid_attribute_value(const attribute_info& a, std::string_view value) noexcept;

/// Mechanisms by name ("ecdsa-sha256", "rsa-pss-sha384", "aes-gcm", ...).
enum class mechanism {
    ecdsa, // the data is a digest already (PKCS#11 CKM_ECDSA)
    ecdsa_sha1,
    ecdsa_sha224,
    ecdsa_sha256,
    ecdsa_sha384,
    ecdsa_sha512,
    rsa_pkcs1, // a DigestInfo's signature, or PKCS#1 v1.5 encryption (CKM_RSA_PKCS)
    rsa_pkcs1_sha256,
    rsa_pkcs1_sha384,
    rsa_pkcs1_sha512,
    rsa_pss_sha256,
    rsa_pss_sha384,
    rsa_pss_sha512,
    hmac_sha1,
    hmac_sha224,
    hmac_sha256,
    hmac_sha384,
    hmac_sha512,
    aes_cmac, // sign and verify with an AES key that neither encrypts nor decrypts
    aes_gcm,
    aes_ecb,       // the data: whole blocks
    aes_cbc,       // the data: the caller's 16-byte IV, then whole blocks
    aes_cbc_pad,   // the data: the IV, then any bytes (PKCS#7 padding)
    aes_ctr,       // the data: the 16-byte counter block, then any bytes
    rsa_oaep_sha1, // OAEP with MGF1 of the same hash; the label is the request's "aad"
    rsa_oaep_sha224,
    rsa_oaep_sha256,
    rsa_oaep_sha384,
    rsa_oaep_sha512,
    aes_key_wrap,     // RFC 3394 (wrap_key and unwrap_key only): whole 8-byte blocks, 16 or more
    aes_key_wrap_pad, // RFC 5649, with padding: any length
    eddsa,            // Ed25519 of the data itself (RFC 8032, pure: no prehash, no context)
};

std::string_view mechanism_name(mechanism m) noexcept;
/// Whether `m` gives the block cipher itself to whoever may use it: ECB,
/// and CBC and CTR under the caller's IV or counter (one block of CBC
/// encryption with a chosen IV is the cipher on a chosen block, and the
/// cipher on counter blocks is the key stream of every CTR and GCM
/// message under that key). Such a mechanism takes a key that may both
/// encrypt and decrypt, either way: with it, encrypting is decrypting.
bool gives_the_cipher(mechanism m) noexcept;
/// The IV (or counter block) in front of the data of `m`: 16 for CBC and
/// CTR, 0 for the others (a GCM decryption's 12 are its own rule).
std::size_t caller_iv_size(mechanism m) noexcept;
/// Whether `m` is a MAC (an HMAC with a generic secret, or AES-CMAC).
bool is_mac(mechanism m) noexcept;
/// The bytes of a MAC of mechanism `m` (0 for the others).
std::size_t mac_size(mechanism m) noexcept;
/// The shortest MAC a truncated HMAC may have (PKCS#11's _GENERAL forms):
/// 96 bits, so that verifying truncated MACs one byte longer each time
/// never finds a MAC byte by byte (a key that may verify but not sign).
inline constexpr std::size_t min_mac_length = 12;
std::optional<mechanism> mechanism_from_name(std::string_view name) noexcept;

/// What a mechanism does with a key.
enum class key_use { sign, verify, encrypt, decrypt, wrap, unwrap };

/// Whether `m` can do `use` with a key of this type and class at all.
bool mechanism_fits(mechanism m, key_use use, key_type t, key_class c) noexcept;

/// Whether `f` allows `use` (CKA_SIGN for sign, ...).
bool flags_allow(const key_flags& f, key_use use) noexcept;
/// Whether `f` allows `use` with mechanism `m`: flags_allow, and what the
/// mechanism gives beyond its use. A mode that gives the cipher
/// (gives_the_cipher) takes a key that may encrypt and decrypt; a PKCS#1
/// v1.5 decryption, whose padding errors are Bleichenbacher's oracle (its
/// answers compute the key's private operation on any value, a signature
/// included), takes a key that may also sign.
bool flags_allow(const key_flags& f, mechanism m, key_use use) noexcept;
/// Whether `m` is RSA-OAEP (of any hash).
bool is_oaep(mechanism m) noexcept;
/// Whether `m` is an AES key wrap (RFC 3394 or RFC 5649).
bool is_key_wrap(mechanism m) noexcept;

/// The wrap policy for a key of class `c` with flags `key`, wrapped under a
/// key with flags `wrapping` (which flags_allow lets wrap): secret and
/// private keys alone, extractable ones (key_unextractable), and one that
/// asks CKA_WRAP_WITH_TRUSTED under a trusted key alone (key_not_wrappable).
status may_wrap(key_class c, const key_flags& key, const key_flags& wrapping) noexcept;
/// Whether setting flag `a` of a key of type `t` to `on` may happen at all:
/// cipher and wrapping uses (and an AES key's MAC uses) and CKA_EXTRACTABLE
/// are turned off, never on, once a key is made. Turned on between two
/// operations they would let a key wrap a key, then decrypt its blob (the
/// Tookan attacks); a key changes from cipher to MAC only by a new key.
bool may_turn(const attribute_info& a, key_type t, bool on) noexcept;
/// Whether a key with flags `copy` may do nothing a key with flags `held`
/// may not: no use, extractability or trust `held` lacks, and sensitivity
/// and CKA_WRAP_WITH_TRUSTED wherever `held` has them.
bool flags_no_looser(const key_flags& copy, const key_flags& held) noexcept;
/// Whether setting flag `a` to `on` only takes away (a use turned off, or
/// CKA_WRAP_WITH_TRUSTED turned on): such a change stands on any key, one
/// made before a rule included.
bool only_narrows(const attribute_info& a, bool on) noexcept;

/// Who asks about a key, as the node knows the session.
struct key_actor {
    std::optional<user_type> type; // nullopt: not logged in
    bool owner = false;            // the key's owner
    bool shared = false;           // the key is shared with it
};

/// Using a key (sign, verify, encrypt, decrypt): crypto users only (officers
/// manage keys and never use them), on keys they own or that are shared with
/// them, and on any public key. A key the user may not see is
/// RET_INVALID_HANDLE, as one that does not exist: a handle reveals nothing.
status may_use_key(const key_actor& who, key_class c) noexcept;
/// Reading a key's description (getKeyInfo, getAttribute): officers of any
/// key, crypto users as for use.
status may_read_key(const key_actor& who, key_class c) noexcept;
/// Sharing, destroying or changing attributes: the owner only; public keys
/// are never shared (every crypto user can use them).
status may_share_key(const key_actor& who, key_class c) noexcept;
status may_change_key(const key_actor& who, key_class c) noexcept;

} // namespace hsm

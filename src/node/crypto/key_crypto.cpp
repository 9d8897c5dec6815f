// SPDX-License-Identifier: Apache-2.0
// Key generation and use through OpenSSL 3's EVP interfaces.
#include "crypto/key_crypto.hpp"

#include "hsmsh/der.hpp"
#include "hsmsh/pki.hpp"
#include "hsmsh/secret.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <fmt/format.h>

namespace hsm {
namespace {

struct pkey_ctx_free {
    void operator()(EVP_PKEY_CTX* c) const noexcept { EVP_PKEY_CTX_free(c); }
};
struct md_ctx_free {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct cipher_ctx_free {
    void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_free>;
using cipher_ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_free>;

constexpr std::size_t gcm_iv_size = 12;
constexpr std::size_t gcm_tag_size = 16;

// A key's DER encoding by an i2d function; a key that does not encode is OpenSSL failing.
template <typename Encode> bytes der_of(EVP_PKEY* key, Encode encode) {
    auto out = der_encoding(key, encode);
    if (out.empty()) throw std::runtime_error("key encoding failed");
    return out;
}

const EVP_MD* digest_of(mechanism m) noexcept {
    using enum mechanism;
    switch (m) {
    case ecdsa_sha1:
    case hmac_sha1:
    case rsa_oaep_sha1:
        return EVP_sha1();
    case ecdsa_sha224:
    case hmac_sha224:
    case rsa_oaep_sha224:
        return EVP_sha224();
    case ecdsa_sha256:
    case rsa_pkcs1_sha256:
    case rsa_pss_sha256:
    case hmac_sha256:
    case rsa_oaep_sha256:
        return EVP_sha256();
    case ecdsa_sha384:
    case rsa_pkcs1_sha384:
    case rsa_pss_sha384:
    case hmac_sha384:
    case rsa_oaep_sha384:
        return EVP_sha384();
    case ecdsa_sha512:
    case rsa_pkcs1_sha512:
    case rsa_pss_sha512:
    case hmac_sha512:
    case rsa_oaep_sha512:
        return EVP_sha512();
    default:
        return nullptr;
    }
}

bool is_pss(mechanism m) noexcept {
    return m == mechanism::rsa_pss_sha256 || m == mechanism::rsa_pss_sha384 ||
           m == mechanism::rsa_pss_sha512;
}

bool is_rsa(mechanism m) noexcept {
    using enum mechanism;
    return m == rsa_pkcs1 || m == rsa_pkcs1_sha256 || m == rsa_pkcs1_sha384 ||
           m == rsa_pkcs1_sha512 || is_pss(m);
}

// PSS with a salt as long as the digest, as PKCS#11 applications expect.
bool set_padding(EVP_PKEY_CTX* ctx, mechanism m) {
    if (!is_rsa(m)) return true;
    if (is_pss(m))
        return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
               EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
}

// An HMAC over the mechanism's digest, or AES-CMAC (the cipher of the
// key's size), cut to `mac_length` bytes when that is not 0.
bytes secret_mac(mechanism m, const key_material& key, std::span<const std::uint8_t> data,
                 std::size_t mac_length) {
    bytes out(EVP_MAX_MD_SIZE);
    std::size_t size = 0;
    bool cmac = m == mechanism::aes_cmac;
    auto cipher = fmt::format("AES-{}-CBC", key.view().size() * 8);
    if (!EVP_Q_mac(nullptr, cmac ? "CMAC" : "HMAC", nullptr,
                   cmac ? cipher.c_str() : EVP_MD_get0_name(digest_of(m)), nullptr,
                   key.view().data(), key.view().size(), data.data(), data.size(), out.data(),
                   out.size(), &size))
        throw std::runtime_error("MAC failed");
    out.resize(mac_length ? std::min(mac_length, size) : size);
    return out;
}

// Signs: digest-and-sign for the hashing mechanisms, a raw sign for the
// ones whose input is a digest (or a DigestInfo) already.
crypto_result sign_asymmetric(mechanism m, EVP_PKEY* key, std::span<const std::uint8_t> data) {
    std::size_t size = 0;
    bytes out;
    // EdDSA hashes inside the signature, in one pass: no digest named.
    if (const auto* md = digest_of(m); md || m == mechanism::eddsa) {
        md_ctx_ptr ctx(EVP_MD_CTX_new());
        EVP_PKEY_CTX* pctx = nullptr;
        if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, key) != 1 ||
            !set_padding(pctx, m) ||
            EVP_DigestSign(ctx.get(), nullptr, &size, data.data(), data.size()) != 1)
            return status::mechanism_invalid;
        out.resize(size);
        if (EVP_DigestSign(ctx.get(), out.data(), &size, data.data(), data.size()) != 1)
            return status::mechanism_invalid;
    } else {
        pkey_ctx_ptr ctx(EVP_PKEY_CTX_new(key, nullptr));
        if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 || !set_padding(ctx.get(), m) ||
            EVP_PKEY_sign(ctx.get(), nullptr, &size, data.data(), data.size()) != 1)
            return status::mechanism_invalid;
        out.resize(size);
        if (EVP_PKEY_sign(ctx.get(), out.data(), &size, data.data(), data.size()) != 1)
            return status::mechanism_invalid; // e.g. a DigestInfo too long for the modulus
    }
    out.resize(size);
    return out;
}

status verify_asymmetric(mechanism m, EVP_PKEY* key, std::span<const std::uint8_t> data,
                         std::span<const std::uint8_t> signature) {
    int verdict = 0;
    if (const auto* md = digest_of(m); md || m == mechanism::eddsa) {
        md_ctx_ptr ctx(EVP_MD_CTX_new());
        EVP_PKEY_CTX* pctx = nullptr;
        if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key) != 1 ||
            !set_padding(pctx, m))
            return status::mechanism_invalid;
        verdict = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), data.data(),
                                   data.size());
    } else {
        pkey_ctx_ptr ctx(EVP_PKEY_CTX_new(key, nullptr));
        if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1 || !set_padding(ctx.get(), m))
            return status::mechanism_invalid;
        verdict = EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(), data.data(),
                                  data.size());
    }
    return verdict == 1 ? status::ok : status::signature_invalid;
}

const EVP_CIPHER* gcm_cipher(std::size_t key_size) noexcept {
    if (key_size == 16) return EVP_aes_128_gcm();
    if (key_size == 24) return EVP_aes_192_gcm();
    if (key_size == 32) return EVP_aes_256_gcm();
    return nullptr;
}

crypto_result gcm(const key_material& key, std::span<const std::uint8_t> iv,
                  std::span<const std::uint8_t> aad, std::span<const std::uint8_t> in,
                  bool encrypt) {
    const auto* cipher = gcm_cipher(key.view().size());
    if (!cipher || iv.size() != gcm_iv_size) return status::mechanism_invalid;
    if (!encrypt && in.size() < gcm_tag_size) return status::encrypted_data_invalid;
    auto body = encrypt ? in : in.first(in.size() - gcm_tag_size);
    cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    bytes out(iv.begin(), iv.end());
    out.resize(gcm_iv_size + body.size() + gcm_tag_size);
    auto* text = out.data() + gcm_iv_size;
    if (!ctx ||
        EVP_CipherInit_ex(ctx.get(), cipher, nullptr, key.view().data(), iv.data(), encrypt) != 1 ||
        EVP_CipherUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1 ||
        EVP_CipherUpdate(ctx.get(), text, &len, body.data(), static_cast<int>(body.size())) != 1)
        throw std::runtime_error("AES-GCM failed");
    auto* tag = text + body.size();
    if (!encrypt) {
        bytes expected(in.end() - gcm_tag_size, in.end());
        if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, gcm_tag_size, expected.data()) !=
                1 ||
            EVP_CipherFinal_ex(ctx.get(), tag, &len) != 1) {
            wipe(out.data(), out.size());
            return status::encrypted_data_invalid;
        }
        out.erase(out.begin(), out.begin() + gcm_iv_size);
        out.resize(body.size());
        return out;
    }
    if (EVP_CipherFinal_ex(ctx.get(), tag, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, gcm_tag_size, tag) != 1)
        throw std::runtime_error("AES-GCM failed");
    return out;
}

const EVP_CIPHER* block_cipher(mechanism m, std::size_t key_size) noexcept {
    using enum mechanism;
    auto by_size = [&](const EVP_CIPHER* c128, const EVP_CIPHER* c192, const EVP_CIPHER* c256) {
        return key_size == 16 ? c128 : key_size == 24 ? c192 : key_size == 32 ? c256 : nullptr;
    };
    switch (m) {
    case aes_ecb:
        return by_size(EVP_aes_128_ecb(), EVP_aes_192_ecb(), EVP_aes_256_ecb());
    case aes_cbc:
    case aes_cbc_pad:
        return by_size(EVP_aes_128_cbc(), EVP_aes_192_cbc(), EVP_aes_256_cbc());
    case aes_ctr:
        return by_size(EVP_aes_128_ctr(), EVP_aes_192_ctr(), EVP_aes_256_ctr());
    default:
        return nullptr;
    }
}

// The output of an initialised cipher over `in` (at most `extra` bytes
// longer), or nullopt when the cipher refuses it (a padding, an integrity
// check), nothing of it left in memory.
std::optional<bytes> cipher_through(EVP_CIPHER_CTX* ctx, std::span<const std::uint8_t> in,
                                    std::size_t extra) {
    bytes out(in.size() + extra);
    int len = 0;
    int last = 0;
    if (EVP_CipherUpdate(ctx, out.data(), &len, in.data(), static_cast<int>(in.size())) != 1 ||
        EVP_CipherFinal_ex(ctx, out.data() + len, &last) != 1) {
        wipe(out.data(), out.size());
        return std::nullopt;
    }
    std::size_t size = static_cast<std::size_t>(len + last);
    wipe(out.data() + size, out.size() - size);
    out.resize(size);
    return out;
}

// ECB, CBC (padded or not) and CTR: `data` is the caller's IV (none for
// ECB), then the text. ECB and CBC unpadded take whole blocks; a padded
// decryption whose padding is wrong is encrypted_data_invalid (whoever
// asks may decrypt: it is no oracle for anyone else).
crypto_result aes_block(mechanism m, const key_material& key, std::span<const std::uint8_t> data,
                        bool encrypt) {
    constexpr std::size_t block = 16;
    const auto* cipher = block_cipher(m, key.view().size());
    auto iv_size = caller_iv_size(m);
    if (!cipher || data.size() < iv_size) return status::mechanism_invalid;
    auto iv = data.first(iv_size);
    auto in = data.subspan(iv_size);
    bool whole_blocks = m == mechanism::aes_ecb || m == mechanism::aes_cbc ||
                        (m == mechanism::aes_cbc_pad && !encrypt);
    if (whole_blocks && in.size() % block != 0)
        return encrypt ? status::bad_request : status::encrypted_data_invalid;
    cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    if (!ctx ||
        EVP_CipherInit_ex(ctx.get(), cipher, nullptr, key.view().data(),
                          iv_size ? iv.data() : nullptr, encrypt) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx.get(), m == mechanism::aes_cbc_pad) != 1)
        throw std::runtime_error("AES failed");
    auto out = cipher_through(ctx.get(), in, block);
    if (!out) return status::encrypted_data_invalid; // a padded decryption's padding
    return std::move(*out);
}

const EVP_CIPHER* wrap_cipher(mechanism m, std::size_t key_size) noexcept {
    bool pad = m == mechanism::aes_key_wrap_pad;
    switch (key_size) {
    case 16:
        return pad ? EVP_aes_128_wrap_pad() : EVP_aes_128_wrap();
    case 24:
        return pad ? EVP_aes_192_wrap_pad() : EVP_aes_192_wrap();
    case 32:
        return pad ? EVP_aes_256_wrap_pad() : EVP_aes_256_wrap();
    default:
        return nullptr;
    }
}

// RFC 3394 (whole 8-byte blocks, at least two) and RFC 5649 (any length)
// under their standard initial values. An unwrap whose integrity check
// fails is encrypted_data_invalid.
crypto_result aes_key_wrap(mechanism m, const key_material& key, std::span<const std::uint8_t> in,
                           bool wrap) {
    constexpr std::size_t semiblock = 8;
    const auto* cipher = wrap_cipher(m, key.view().size());
    if (!cipher) return status::mechanism_invalid;
    bool whole = in.size() % semiblock == 0 && in.size() >= 2 * semiblock;
    if (!whole && (!wrap || m == mechanism::aes_key_wrap))
        return wrap ? status::key_not_wrappable : status::encrypted_data_invalid;
    cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    if (!ctx) throw std::runtime_error("AES key wrap failed");
    EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_CipherInit_ex(ctx.get(), cipher, nullptr, key.view().data(), nullptr, wrap) != 1)
        throw std::runtime_error("AES key wrap failed");
    auto out = cipher_through(ctx.get(), in, 2 * semiblock);
    if (!out) return wrap ? status::mechanism_invalid : status::encrypted_data_invalid;
    return std::move(*out);
}

// A private key as PKCS#8 PrivateKeyInfo DER, what other HSMs and openssl
// unwrap.
bytes pkcs8_of(EVP_PKEY* key) {
    std::unique_ptr<PKCS8_PRIV_KEY_INFO, decltype(&PKCS8_PRIV_KEY_INFO_free)> info(
        EVP_PKEY2PKCS8(key), PKCS8_PRIV_KEY_INFO_free);
    if (!info) throw std::runtime_error("PKCS#8 encoding failed");
    unsigned char* der = nullptr;
    int size = i2d_PKCS8_PRIV_KEY_INFO(info.get(), &der);
    if (size <= 0) throw std::runtime_error("PKCS#8 encoding failed");
    bytes out(der, der + size);
    OPENSSL_clear_free(der, static_cast<std::size_t>(size));
    return out;
}

// RSA encryption: OAEP with MGF1 of the mechanism's hash and `label` (the
// request's "aad"), or PKCS#1 v1.5 (rsa_pkcs1, no label).
crypto_result rsa_crypt(mechanism m, EVP_PKEY* pkey, std::span<const std::uint8_t> label,
                        std::span<const std::uint8_t> in, bool encrypt) {
    if (!pkey || (!is_oaep(m) && !label.empty())) return status::mechanism_invalid;
    pkey_ctx_ptr ctx(EVP_PKEY_CTX_new(pkey, nullptr));
    auto init = encrypt ? EVP_PKEY_encrypt_init : EVP_PKEY_decrypt_init;
    auto run = encrypt ? EVP_PKEY_encrypt : EVP_PKEY_decrypt;
    auto padded = [&](EVP_PKEY_CTX* c) {
        if (!is_oaep(m)) return EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1;
        // set0_rsa_oaep_label takes ownership of an OPENSSL_malloc'ed copy.
        void* copy = label.empty() ? nullptr : OPENSSL_memdup(label.data(), label.size());
        bool labelled =
            label.empty() || (copy && EVP_PKEY_CTX_set0_rsa_oaep_label(
                                          c, copy, static_cast<int>(label.size())) == 1);
        if (!labelled) OPENSSL_free(copy);
        return EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
               EVP_PKEY_CTX_set_rsa_oaep_md(c, digest_of(m)) == 1 &&
               EVP_PKEY_CTX_set_rsa_mgf1_md(c, digest_of(m)) == 1 && labelled;
    };
    std::size_t size = 0;
    if (!ctx || init(ctx.get()) != 1 || !padded(ctx.get()) ||
        run(ctx.get(), nullptr, &size, in.data(), in.size()) != 1)
        return status::mechanism_invalid;
    bytes out(size);
    if (run(ctx.get(), out.data(), &size, in.data(), in.size()) != 1)
        return encrypt ? status::mechanism_invalid : status::encrypted_data_invalid;
    out.resize(size);
    return out;
}

// A string parameter of `key` ("" when it has none).
std::string text_param(EVP_PKEY* key, const char* name) {
    std::array<char, 64> value{};
    std::size_t length = 0;
    if (EVP_PKEY_get_utf8_string_param(key, name, value.data(), value.size(), &length) != 1)
        return {};
    return std::string(value.data(), length);
}

// OpenSSL's algorithm for an asymmetric key type; 0 for the others.
int pkey_id_of(key_type t) noexcept {
    switch (t) {
    case key_type::ec:
        return EVP_PKEY_EC;
    case key_type::rsa:
        return EVP_PKEY_RSA;
    case key_type::ed25519:
        return EVP_PKEY_ED25519;
    default:
        return 0;
    }
}

// Whether an RSA key is one the node makes: exponent 65537, two primes.
bool generable_rsa(EVP_PKEY* key) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &raw) != 1) return false;
    std::unique_ptr<BIGNUM, decltype(&BN_free)> e(raw, BN_free);
    BIGNUM* third = nullptr;
    bool more_primes = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_FACTOR3, &third) == 1;
    BN_clear_free(third);
    return BN_is_word(e.get(), 65537) && !more_primes;
}

// Whether `key` is one the node could have made: its type's algorithm, a
// size the node generates; RSA as generable_rsa says, EC on a curve the
// node uses, named (never explicit parameters). Its size, or nullopt.
std::optional<int> generable_bits(EVP_PKEY* key, key_type t) {
    if (EVP_PKEY_get_base_id(key) != pkey_id_of(t)) return std::nullopt;
    // Ed25519's 253 bits are a 256-bit key's.
    key_spec spec{t, t == key_type::ed25519 ? 256 : EVP_PKEY_get_bits(key)};
    if (t == key_type::rsa && !generable_rsa(key)) return std::nullopt;
    if (t == key_type::ec &&
        (text_param(key, OSSL_PKEY_PARAM_EC_ENCODING) != OSSL_PKEY_EC_ENCODING_GROUP ||
         text_param(key, OSSL_PKEY_PARAM_GROUP_NAME) !=
             (spec.bits == 384 ? "secp384r1" : "prime256v1")))
        return std::nullopt;
    if (parse_key_spec(key_spec_name(spec)) != spec) return std::nullopt;
    return spec.bits;
}

// An Ed25519 public key that is not canonical (its y at least p) or has
// small order (a point of the 8-torsion, either sign): under one, R the
// identity and S zero verify any message. OpenSSL 3.0 checks the length
// alone; libsodium refuses the same points. A private key's public half,
// a clamped scalar times the base point, never is one.
bool weak_edwards_key(EVP_PKEY* key) {
    std::array<std::uint8_t, 32> a{};
    std::size_t size = a.size();
    if (EVP_PKEY_get_raw_public_key(key, a.data(), &size) != 1 || size != a.size()) return true;
    a[31] &= 0x7f; // the sign of x
    // y >= p = 2^255 - 19: 0x7f, thirty 0xff, then at least 0xed (little-endian).
    if (a[31] == 0x7f &&
        std::all_of(a.begin() + 1, a.begin() + 31, [](auto b) { return b == 0xff; }) &&
        a[0] >= 0xed)
        return true;
    // The y of the eight points of small order: 0 (order 4), 1 (the
    // identity), p - 1 (order 2) and the two of order 8.
    static constexpr std::array<std::array<std::uint8_t, 32>, 5> small_order{{
        {},
        {0x01},
        {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
        {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
         0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
         0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
        {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
         0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
         0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
    }};
    return std::ranges::find(small_order, a) != small_order.end();
}

std::optional<imported_key> import_secret(key_type t, std::span<const std::uint8_t> in) {
    if (t != key_type::aes && t != key_type::generic_secret) return std::nullopt;
    key_spec spec{t, static_cast<int>(in.size() * 8)};
    if (in.size() > 64 || parse_key_spec(key_spec_name(spec)) != spec) return std::nullopt;
    return imported_key{spec.bits,
                        {key_class::secret_key, key_material(bytes(in.begin(), in.end())), {}}};
}

// An X.509 certificate, wholly, at most max_certificate bytes, in its DER
// as OpenSSL writes it back; its size is its public key's.
std::optional<imported_key> import_certificate(key_type t, std::span<const std::uint8_t> in) {
    if (t != key_type::x509 || in.empty() || in.size() > max_certificate) return std::nullopt;
    const auto* p = in.data();
    std::unique_ptr<X509, decltype(&X509_free)> cert(
        d2i_X509(nullptr, &p, static_cast<long>(in.size())), X509_free);
    if (!cert || p != in.data() + in.size()) return std::nullopt;
    auto der = der_encoding(cert.get(), i2d_X509);
    // DER as it is written, never BER read into something else: what an
    // application reads back (CKA_VALUE) is what it brought.
    if (!std::ranges::equal(der, in)) return std::nullopt;
    const auto* key = X509_get0_pubkey(cert.get());
    int bits = key ? EVP_PKEY_get_bits(key) : 0;
    return imported_key{std::max(bits, 0), {key_class::certificate, key_material(bytes(der)), der}};
}

} // namespace

std::optional<imported_key> import_key_material(key_class c, key_type t,
                                                std::span<const std::uint8_t> in) {
    if (c == key_class::secret_key) return import_secret(t, in);
    if (c == key_class::certificate) return import_certificate(t, in);
    // A data object: an application's bytes, kept as they are.
    if (c == key_class::data) {
        if (t != key_type::opaque || in.empty() || in.size() > max_data_object) return std::nullopt;
        // Sealed alone: its bytes are no public part (get_key gives them to
        // its owner and sharers from the sealed material).
        return imported_key{0, {key_class::data, key_material(bytes(in.begin(), in.end())), {}}};
    }
    if (!pkey_id_of(t)) return std::nullopt;
    const auto* p = in.data();
    auto size = static_cast<long>(in.size());
    pkey_ptr key(c == key_class::public_key ? d2i_PUBKEY(nullptr, &p, size)
                                            : d2i_AutoPrivateKey(nullptr, &p, size));
    // Wholly a key: nothing after it.
    if (!key || p != in.data() + in.size()) return std::nullopt;
    auto bits = generable_bits(key.get(), t);
    if (!bits) return std::nullopt;
    if (t == key_type::ed25519 && c == key_class::public_key && weak_edwards_key(key.get()))
        return std::nullopt;
    pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!ctx) throw std::runtime_error("key check failed");
    // A public key: on its curve, a sound modulus; a private key, all of
    // that and its halves a pair.
    int checked =
        c == key_class::public_key ? EVP_PKEY_public_check(ctx.get()) : EVP_PKEY_check(ctx.get());
    if (checked != 1) return std::nullopt;
    // Points as the node writes them, uncompressed (CKA_EC_POINT's form).
    if (t == key_type::ec &&
        EVP_PKEY_set_utf8_string_param(key.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                       OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) != 1)
        throw std::runtime_error("key encoding failed");
    auto pub = der_of(key.get(), [](EVP_PKEY* k, unsigned char** q) { return i2d_PUBKEY(k, q); });
    if (c == key_class::public_key) return imported_key{*bits, {c, key_material(bytes(pub)), pub}};
    auto priv =
        der_of(key.get(), [](EVP_PKEY* k, unsigned char** q) { return i2d_PrivateKey(k, q); });
    return imported_key{*bits, {c, key_material(std::move(priv)), pub}};
}

key_material& key_material::operator=(key_material&& o) noexcept {
    if (this != &o) {
        wipe(bytes_.data(), bytes_.size());
        bytes_ = std::move(o.bytes_);
    }
    return *this;
}

key_material::~key_material() {
    wipe(bytes_.data(), bytes_.size());
}

bytes random_bytes(std::size_t n) {
    bytes out(n);
    if (n > 0 && RAND_priv_bytes(out.data(), static_cast<int>(n)) != 1)
        throw std::runtime_error("the random generator failed");
    return out;
}

std::vector<generated_key> generate_key_material(const key_spec& spec) {
    std::vector<generated_key> out;
    if (spec.type == key_type::aes || spec.type == key_type::generic_secret) {
        out.push_back({key_class::secret_key,
                       key_material(random_bytes(static_cast<std::size_t>(spec.bits / 8))),
                       {}});
        return out;
    }
    pkey_ptr key(
        spec.type == key_type::ec
            ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", spec.bits == 384 ? "P-384" : "P-256")
        : spec.type == key_type::ed25519
            ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
            : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(spec.bits)));
    if (!key) throw std::runtime_error("key generation failed");
    auto pub = der_of(key.get(), [](EVP_PKEY* k, unsigned char** p) { return i2d_PUBKEY(k, p); });
    auto priv =
        der_of(key.get(), [](EVP_PKEY* k, unsigned char** p) { return i2d_PrivateKey(k, p); });
    out.push_back({key_class::private_key, key_material(std::move(priv)), pub});
    out.push_back({key_class::public_key, key_material(bytes(pub)), pub});
    return out;
}

std::optional<loaded_key> loaded_key::load(key_class c, key_type t, key_material material) {
    loaded_key k;
    k.type_ = t;
    // A certificate or data object is kept as it is: no mechanism takes one.
    if (c == key_class::secret_key || !is_key(c)) {
        k.secret_ = std::make_shared<const key_material>(std::move(material));
        return k;
    }
    const auto* p = material.view().data();
    auto size = static_cast<long>(material.view().size());
    // The type is known: naming it spares OpenSSL trying every decoder.
    EVP_PKEY* pkey = c == key_class::public_key ? d2i_PUBKEY(nullptr, &p, size)
                                                : d2i_PrivateKey(pkey_id_of(t), nullptr, &p, size);
    if (!pkey) return std::nullopt;
    k.pkey_.reset(pkey, EVP_PKEY_free);
    return k;
}

crypto_result sign_data(mechanism m, const loaded_key& key, std::span<const std::uint8_t> data,
                        std::size_t mac_length) {
    if (is_mac(m)) return secret_mac(m, key.secret(), data, mac_length);
    if (!key.pkey()) return status::mechanism_invalid;
    return sign_asymmetric(m, key.pkey(), data);
}

status verify_data(mechanism m, const loaded_key& key, std::span<const std::uint8_t> data,
                   std::span<const std::uint8_t> signature, std::size_t mac_length) {
    if (is_mac(m)) {
        auto expected = secret_mac(m, key.secret(), data, mac_length);
        return expected.size() == signature.size() &&
                       CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) == 0
                   ? status::ok
                   : status::signature_invalid;
    }
    if (!key.pkey()) return status::mechanism_invalid;
    return verify_asymmetric(m, key.pkey(), data, signature);
}

crypto_result encrypt_data(mechanism m, const loaded_key& key, std::span<const std::uint8_t> aad,
                           std::span<const std::uint8_t> data) {
    if (is_oaep(m) || m == mechanism::rsa_pkcs1) return rsa_crypt(m, key.pkey(), aad, data, true);
    if (is_key_wrap(m)) return aes_key_wrap(m, key.secret(), data, true);
    if (m != mechanism::aes_gcm) return aes_block(m, key.secret(), data, true);
    auto fresh = random_bytes(gcm_iv_size);
    return gcm(key.secret(), fresh, aad, data, true);
}

crypto_result decrypt_data(mechanism m, const loaded_key& key, std::span<const std::uint8_t> aad,
                           std::span<const std::uint8_t> data) {
    if (is_oaep(m) || m == mechanism::rsa_pkcs1) return rsa_crypt(m, key.pkey(), aad, data, false);
    if (is_key_wrap(m)) return aes_key_wrap(m, key.secret(), data, false);
    if (m != mechanism::aes_gcm) return aes_block(m, key.secret(), data, false);
    if (data.size() < gcm_iv_size) return status::encrypted_data_invalid;
    return gcm(key.secret(), data.first(gcm_iv_size), aad, data.subspan(gcm_iv_size), false);
}

crypto_result wrap_material(mechanism m, const loaded_key& wrapping,
                            std::span<const std::uint8_t> aad, const loaded_key& key, key_class c) {
    bytes material = c == key_class::secret_key
                         ? bytes(key.secret().view().begin(), key.secret().view().end())
                         : pkcs8_of(key.pkey());
    auto out = encrypt_data(m, wrapping, aad, material);
    wipe(material.data(), material.size());
    return out;
}

namespace {

// The peer's public key: `point` (uncompressed) on the curve of `ours`,
// checked to lie on it (a point elsewhere would give away bits of the
// private key, one ECDH at a time).
pkey_ptr peer_key(EVP_PKEY* ours, std::span<const std::uint8_t> point) {
    std::array<char, 64> group{};
    std::size_t length = 0;
    if (point.empty() || point.front() != 0x04 ||
        EVP_PKEY_get_utf8_string_param(ours, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(),
                                       &length) != 1)
        return nullptr;
    std::array params{
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group.data(), length),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                          const_cast<std::uint8_t*>(point.data()), point.size()),
        OSSL_PARAM_construct_end()};
    pkey_ctx_ptr make(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* peer = nullptr;
    if (!make || EVP_PKEY_fromdata_init(make.get()) != 1 ||
        EVP_PKEY_fromdata(make.get(), &peer, EVP_PKEY_PUBLIC_KEY, params.data()) != 1)
        return nullptr;
    pkey_ptr out(peer);
    pkey_ctx_ptr check(EVP_PKEY_CTX_new(peer, nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
    return out;
}

// ANSI X9.63's KDF over `z` and `shared`, `length` bytes, with `digest`.
bytes x963_kdf(const char* digest, std::span<const std::uint8_t> z,
               std::span<const std::uint8_t> shared, std::size_t length) {
    std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(
        EVP_KDF_fetch(nullptr, "X963KDF", nullptr), EVP_KDF_free);
    std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(
        kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr, EVP_KDF_CTX_free);
    std::array params{
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(z.data()),
                                          z.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                          const_cast<std::uint8_t*>(shared.data()), shared.size()),
        OSSL_PARAM_construct_end()};
    bytes out(length);
    if (!ctx || EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()) != 1)
        throw std::runtime_error("X9.63 KDF failed");
    return out;
}

} // namespace

crypto_result ecdh_derive(const loaded_key& key, std::span<const std::uint8_t> point,
                          std::string_view kdf, std::span<const std::uint8_t> shared,
                          std::size_t length) {
    static constexpr std::array<std::pair<std::string_view, const char*>, 5> digests{
        {{"sha1", "SHA1"},
         {"sha224", "SHA224"},
         {"sha256", "SHA256"},
         {"sha384", "SHA384"},
         {"sha512", "SHA512"}}};
    const auto* digest =
        std::ranges::find(digests, kdf, &std::pair<std::string_view, const char*>::first);
    bool raw = kdf == "null";
    if ((!raw && digest == digests.end()) || (raw && !shared.empty()) || length == 0)
        return status::mechanism_invalid;
    if (!key.pkey()) return status::mechanism_invalid;
    auto peer = peer_key(key.pkey(), point);
    if (!peer) return status::bad_request;
    pkey_ctx_ptr ctx(EVP_PKEY_CTX_new(key.pkey(), nullptr));
    std::size_t size = 0;
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
        EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
        EVP_PKEY_derive(ctx.get(), nullptr, &size) != 1)
        throw std::runtime_error("ECDH failed");
    bytes z(size);
    if (EVP_PKEY_derive(ctx.get(), z.data(), &size) != 1) throw std::runtime_error("ECDH failed");
    z.resize(size);
    // CKD_NULL's truncation "removes bytes from the leading end of the
    // secret value" (PKCS#11 2.40, 2.3.9): its last bytes, as SoftHSM2 takes them.
    crypto_result out = status::mechanism_invalid; // a raw secret shorter than the key asked
    if (!raw)
        out = x963_kdf(digest->second, z, shared, length);
    else if (length <= z.size())
        out = bytes(z.end() - static_cast<std::ptrdiff_t>(length), z.end());
    wipe(z.data(), z.size());
    return out;
}

} // namespace hsm

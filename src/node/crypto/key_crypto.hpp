// SPDX-License-Identifier: Apache-2.0
// What a node does with key material, through OpenSSL's EVP interfaces:
// generate with the CSPRNG, sign, verify, encrypt and decrypt.
#pragma once

#include "hsmsh/protocol/keys.hpp"
#include "hsmsh/sealing.hpp"

#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <span>
#include <variant>
#include <vector>

namespace hsm {

/// Key material: a private key as PKCS#8 DER, a public key as
/// SubjectPublicKeyInfo DER, a secret key as its raw bytes. Wiped at the end.
class key_material {
public:
    key_material() = default;
    explicit key_material(bytes b) noexcept : bytes_(std::move(b)) {}
    key_material(const key_material&) = delete;
    key_material& operator=(const key_material&) = delete;
    key_material(key_material&& o) noexcept : bytes_(std::move(o.bytes_)) {}
    key_material& operator=(key_material&& o) noexcept;
    ~key_material();

    std::span<const std::uint8_t> view() const noexcept { return bytes_; }

private:
    bytes bytes_;
};

/// One object of a generation: a key pair gives its private then its public key.
struct generated_key {
    key_class cls = key_class::secret_key;
    key_material material;
    bytes public_der; // asymmetric keys: SubjectPublicKeyInfo; empty for secret keys
};

/// New key material for `spec`. Throws std::runtime_error when OpenSSL fails.
std::vector<generated_key> generate_key_material(const key_spec& spec);

/// Key material brought in from outside (import_key), put in the form
/// generate_key_material gives it, with its size in bits (EC: the curve's).
struct imported_key {
    int bits = 0;
    generated_key key;
};

/// Reads `in` as a key of class `c` and type `t`: a secret key's raw bytes,
/// a private key's DER (PKCS#8, PKCS#1 or SEC 1), a public key's
/// SubjectPublicKeyInfo DER, an X.509 certificate's DER (at most
/// max_certificate bytes; its size is its key's), a data object's bytes (1
/// to max_data_object, never read). Nullopt unless it is a
/// key the node could have generated (AES-128/192/256, HMAC of 128 to 512
/// bits, RSA-2048/3072/4096 with two primes and exponent 65537, P-256 and
/// P-384 on named curves), wholly, and passes OpenSSL's checks (a private
/// key's parts agree, a public point is on its curve); points are written
/// back uncompressed. Throws std::runtime_error when OpenSSL fails otherwise.
std::optional<imported_key> import_key_material(key_class c, key_type t,
                                                std::span<const std::uint8_t> in);

/// A key ready for use: parsed once (parsing a private key costs several
/// times a signature), then shared by the operations that use it, on any
/// thread. OpenSSL clears the private parts when the last user lets go.
class loaded_key {
public:
    /// Nullopt when the material is not a key of that class and type.
    static std::optional<loaded_key> load(key_class c, key_type t, key_material material);

    key_type type() const noexcept { return type_; }
    EVP_PKEY* pkey() const noexcept { return pkey_.get(); }
    const key_material& secret() const noexcept { return *secret_; }

private:
    key_type type_ = key_type::aes;
    std::shared_ptr<EVP_PKEY> pkey_;             // EC and RSA
    std::shared_ptr<const key_material> secret_; // AES and HMAC
};

/// The result of one operation: its output, or why it failed.
using crypto_result = std::variant<bytes, status>;

/// Signs `data` (mechanism_fits already checked). ECDSA signatures are DER.
/// An HMAC is cut to `mac_length` bytes when that is not 0 (checked against
/// min_mac_length by the caller).
crypto_result sign_data(mechanism m, const loaded_key& key, std::span<const std::uint8_t> data,
                        std::size_t mac_length = 0);
/// ok, signature_invalid, or mechanism_invalid. An HMAC is compared, in
/// constant time, cut to `mac_length` bytes when that is not 0.
status verify_data(mechanism m, const loaded_key& key, std::span<const std::uint8_t> data,
                   std::span<const std::uint8_t> signature, std::size_t mac_length = 0);

/// AES-GCM encrypts under a fresh random 12-byte IV of its own (never a
/// caller's) and returns IV || ciphertext || 16-byte tag; decrypt takes the
/// same layout. RSA-OAEP: SHA-256, MGF1-SHA-256. ECB, CBC, CBC with
/// padding and CTR take the caller's IV or counter block (16 bytes, none for
/// ECB) in front of the data and return the text alone.
crypto_result encrypt_data(mechanism m, const loaded_key& key, std::span<const std::uint8_t> aad,
                           std::span<const std::uint8_t> data);
crypto_result decrypt_data(mechanism m, const loaded_key& key, std::span<const std::uint8_t> aad,
                           std::span<const std::uint8_t> data);

/// Key `key` (of class `c`: a secret key's bytes, a private key's PKCS#8
/// DER) encrypted under `wrapping` by `m`: an AES key wrap, or AES-GCM (IV
/// || ciphertext || tag, as encrypt_data). key_not_wrappable when RFC 3394
/// cannot take its length (not whole 8-byte blocks).
crypto_result wrap_material(mechanism m, const loaded_key& wrapping,
                            std::span<const std::uint8_t> aad, const loaded_key& key, key_class c);

/// ECDH of EC private key `key` with the peer's uncompressed `point` on the
/// same curve (checked: a point off the curve is bad_request), then `kdf`:
/// "null" (the shared secret's last `length` bytes, at most all of it) or
/// X9.63's over `shared` with "sha1", "sha224", "sha256", "sha384", "sha512".
/// mechanism_invalid for another kdf, or shared data with "null".
crypto_result ecdh_derive(const loaded_key& key, std::span<const std::uint8_t> point,
                          std::string_view kdf, std::span<const std::uint8_t> shared,
                          std::size_t length);

/// Random bytes from the node's CSPRNG. Throws std::runtime_error.
bytes random_bytes(std::size_t n);

} // namespace hsm

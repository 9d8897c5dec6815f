// SPDX-License-Identifier: Apache-2.0
// PBKDF2-HMAC-SHA256 through OpenSSL, salts from its CSPRNG.
#include "hsmsh/kdf.hpp"

#include "hsmsh/secret.hpp"

#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace hsm {

std::vector<std::uint8_t> pbkdf2_sha256(std::string_view password,
                                        const std::vector<std::uint8_t>& salt,
                                        std::uint32_t iterations, std::size_t out_size) {
    std::vector<std::uint8_t> out(out_size);
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                          static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                          static_cast<int>(out.size()), out.data()) != 1)
        throw std::runtime_error("PBKDF2 failed");
    return out;
}

password_hash hash_password(std::string_view password, std::uint32_t iterations) {
    password_hash h;
    h.iterations = iterations;
    h.salt.resize(salt_size);
    if (RAND_bytes(h.salt.data(), static_cast<int>(h.salt.size())) != 1)
        throw std::runtime_error("the random generator failed");
    h.key = pbkdf2_sha256(password, h.salt, iterations, derived_key_size);
    return h;
}

bool verify_password(std::string_view password, const password_hash& stored) {
    if (stored.key.empty() || stored.iterations == 0) return false;
    auto derived = pbkdf2_sha256(password, stored.salt, stored.iterations, stored.key.size());
    bool same = CRYPTO_memcmp(derived.data(), stored.key.data(), derived.size()) == 0;
    wipe(derived.data(), derived.size());
    return same;
}

void dummy_derivation(std::string_view password, std::uint32_t iterations) {
    std::vector<std::uint8_t> salt(salt_size, 0);
    auto derived = pbkdf2_sha256(password, salt, iterations, derived_key_size);
    wipe(derived.data(), derived.size());
}

} // namespace hsm

// SPDX-License-Identifier: Apache-2.0
// Wiping and constant-time comparison of secrets.
#include "hsmsh/secret.hpp"

#include <openssl/crypto.h>

namespace hsm {

void wipe(void* p, std::size_t n) noexcept {
    if (p && n) OPENSSL_cleanse(p, n);
}

void wipe(std::string& s) noexcept {
    // Short strings live inside the object, long ones on the heap: wipe the
    // whole capacity either way.
    s.resize(s.capacity());
    wipe(s.data(), s.size());
    s.clear();
}

secret& secret::operator=(secret&& other) noexcept {
    if (this != &other) {
        wipe(value_);
        value_ = std::move(other.value_);
        wipe(other.value_);
    }
    return *this;
}

bool secret::equals(const secret& other) const noexcept {
    if (value_.size() != other.value_.size()) return false;
    return CRYPTO_memcmp(value_.data(), other.value_.data(), value_.size()) == 0;
}

} // namespace hsm

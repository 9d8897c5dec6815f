// SPDX-License-Identifier: Apache-2.0
// An OpenSSL object's DER encoding, written by its i2d function into a
// buffer of ours (the node, the shell and the PKCS#11 module all need it).
#pragma once

#include "hsmsh/secret.hpp"

#include <cstdint>
#include <vector>

namespace hsm {

/// `object`'s DER as `encode` (an i2d function: i2d_X509, i2d_PUBKEY, ...)
/// writes it; empty when there is no object or it does not encode (a
/// partial write, a private key's say, is wiped).
template <typename T, typename Encode>
std::vector<std::uint8_t> der_encoding(T* object, Encode encode) {
    int size = object ? encode(object, nullptr) : 0;
    if (size <= 0) return {};
    std::vector<std::uint8_t> out(static_cast<std::size_t>(size));
    auto* p = out.data();
    if (encode(object, &p) != size) {
        wipe(out.data(), out.size());
        return {};
    }
    return out;
}

} // namespace hsm

// SPDX-License-Identifier: Apache-2.0
// The cluster's masking key and its subkeys.
#include "crypto/cluster_keys.hpp"

#include "hsmsh/files.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/secret.hpp"

#include <stdexcept>

namespace hsm {

cluster_keys::cluster_keys(bytes masking) : masking_(std::move(masking)) {
    if (masking_.size() != sealing_key_size)
        throw std::invalid_argument("the masking key must be 32 bytes");
    sealing_ = hmac_sha256(masking_, "hsmsh record sealing v1");
    digest_ = hmac_sha256(masking_, "hsmsh record digest v1");
    audit_ = hmac_sha256(masking_, "hsmsh audit chain v1");
}

cluster_keys::~cluster_keys() {
    for (auto* k : {&masking_, &sealing_, &digest_, &audit_})
        wipe(k->data(), k->size());
}

cluster_keys cluster_keys::generate() {
    auto text = random_hex(sealing_key_size);
    auto key = from_hex(text);
    wipe(text);
    return cluster_keys(std::move(*key));
}

cluster_keys cluster_keys::read(const std::filesystem::path& file) {
    auto text = read_file(file, 4 * sealing_key_size);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    auto key = from_hex(text);
    wipe(text);
    if (!key || key->size() != sealing_key_size)
        throw std::runtime_error(file.string() + ": not a masking key");
    return cluster_keys(std::move(*key));
}

void cluster_keys::write(const std::filesystem::path& file) const {
    auto text = to_hex(masking_) + "\n";
    write_file_atomic(file, text, 0600);
    wipe(text);
}

} // namespace hsm

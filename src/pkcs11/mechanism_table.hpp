// SPDX-License-Identifier: Apache-2.0
// The module's mechanisms, one row each: what C_GetMechanismList and
// C_GetMechanismInfo say, which key a generation mechanism makes, and how an
// operation mechanism and its parameters become the nodes' mechanism. A new
// mechanism is a row here (and, for an operation, the node's name for it).
#pragma once

#include "hsmsh/protocol/keys.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <p11-kit/pkcs11.h>

namespace hsm::p11 {

using bytes = std::vector<std::uint8_t>;

/// How a key is used; PKCS#11 names the same four.
enum class key_operation { sign, verify, encrypt, decrypt };

/// The nodes' name of the same use.
key_use use_of(key_operation op) noexcept;
/// The mechanism flag that offers `op` (CKF_SIGN, ...).
CK_FLAGS flag_of(key_operation op) noexcept;

/// A node mechanism and the fields it takes beside the data ("aad" for
/// AES-GCM). CBC and CTR give the caller's IV or counter block in front of
/// the data (`iv`), either way. The nodes choose every GCM IV: a decryption gives the caller's
/// in front of the ciphertext (`iv`); an encryption's comes back in front of
/// its result and is written where the caller's CK_GCM_PARAMS.pIv points
/// (`iv_out`, 12 bytes), as CloudHSM's library does.
struct node_mechanism {
    mechanism which = mechanism::ecdsa; // on the wire by mechanism_name
    json fields = json::object();
    bytes iv;                     // decryption: the caller's IV
    CK_BYTE_PTR iv_out = nullptr; // encryption: where the node's IV goes
};

/// The length of every AES-GCM IV: the nodes make 12-byte ones.
constexpr std::size_t gcm_iv_size = 12;
/// AES's block, and the IV or counter block of CBC and CTR.
constexpr std::size_t aes_block_size = 16;
/// The most GCM additional data or OAEP label an operation takes: with
/// 64 KiB of data, both as hex, the request still fits one frame (a larger
/// one closed the connection and lost the application's login).
constexpr std::size_t max_associated_data = 16 * 1024;

/// Checks a mechanism's parameters for `op` and writes what the nodes take
/// of them into the node mechanism: CKR_OK or CKR_MECHANISM_PARAM_INVALID.
using parameter_reader = CK_RV (*)(const CK_MECHANISM&, key_operation, node_mechanism&);

/// What a generation mechanism makes: the key's type, the class of the
/// key the template names first (private for a pair), and PKCS#11's type.
struct key_generation {
    key_type type;
    key_class main;
    CK_KEY_TYPE ck_type;
};

struct mechanism_entry {
    CK_MECHANISM_TYPE type;
    CK_ULONG min_bits;
    CK_ULONG max_bits;
    CK_FLAGS flags;
    /// An operation mechanism's name on the nodes ("ecdsa-sha256"); empty
    /// for generations and for the digests the module computes itself.
    std::string_view node_name;
    /// Its parameters; nullptr: it takes none.
    parameter_reader read_parameters;
    /// A generation mechanism's key; nullopt for the others.
    std::optional<key_generation> generates;
};

/// Every mechanism the module offers, in C_GetMechanismList's order.
std::span<const mechanism_entry> mechanisms() noexcept;

/// The row of `type`; nullptr when the module does not offer it.
const mechanism_entry* find_mechanism(CK_MECHANISM_TYPE type) noexcept;

} // namespace hsm::p11

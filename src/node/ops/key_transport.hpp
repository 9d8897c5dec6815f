// SPDX-License-Identifier: Apache-2.0
// Keys that move under the wrap policy: wrap_key for a key's owner, a key
// that is extractable, under a key that may wrap and neither encrypts nor
// decrypts (trusted where the key asks it); unwrap_key into a new key, never
// local, brought in as import_key's are (docs/design.md, "Key transport").
#pragma once

#include "hsmsh/protocol/requests.hpp"
#include "ops/keys.hpp"

namespace hsm {

awaitable<status> wrap_key(node_context& n, session& s, wrap_key_request r, json& out);
awaitable<status> unwrap_key(node_context& n, session& s, unwrap_key_request r, json& out);
/// derive_key: ECDH with a private key that may derive, then the KDF asked;
/// the secret key brought in as an unwrapped one (never local).
awaitable<status> derive_key(node_context& n, session& s, derive_key_request r, json& out);

} // namespace hsm

// SPDX-License-Identifier: Apache-2.0
// A slot's session objects (CKA_TOKEN false): each made on one node for the
// slot's login and the PKCS#11 session that made it, kept there in memory;
// the module remembers which node holds it and which session made it.
#pragma once

#include "hsmsh/protocol/keys.hpp"
#include "hsmsh/protocol/payloads.hpp"

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include <p11-kit/pkcs11.h>

namespace hsm::p11 {

/// A session key's object (hsmsh/protocol/keys.hpp's session_key_bit).
inline bool is_session_object(CK_OBJECT_HANDLE h) noexcept {
    return is_session_handle(static_cast<std::int64_t>(h));
}

/// One session object: its description, the node that holds it, the
/// PKCS#11 session that made it.
struct session_object {
    key_summary key;
    std::size_t node = 0;
    CK_SESSION_HANDLE maker = 0;
};

/// Thread-safe.
class session_objects {
public:
    /// Keeps `o`; false when its handle is taken (made on another node).
    bool add(session_object o);
    std::optional<session_object> find(CK_OBJECT_HANDLE h) const;
    void remove(CK_OBJECT_HANDLE h);
    /// Takes out every object `maker` made (its session closes).
    std::vector<session_object> take_made_by(CK_SESSION_HANDLE maker);
    /// Takes out every object held by `node` (its connection was lost).
    void drop_node(std::size_t node);
    /// Forgets all (the login ended: the nodes dropped them).
    void clear();
    std::vector<key_summary> all() const;
    /// The node holding the objects, if any: a login's live on one node,
    /// so that any two of them may be used together (C_WrapKey).
    std::optional<std::size_t> home() const;
    /// Changes the label and id the module shows (C_SetAttributeValue).
    bool describe(CK_OBJECT_HANDLE h, std::string label, std::string id_hex);

private:
    mutable std::mutex mutex_;
    std::map<CK_OBJECT_HANDLE, session_object> objects_;
};

} // namespace hsm::p11

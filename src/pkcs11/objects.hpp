// SPDX-License-Identifier: Apache-2.0
// Objects: the keys a slot's login may see, found by template, described by
// their attributes. A description belongs to the login that fetched it.
#pragma once

#include "key_object.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

namespace hsm::p11 {

struct session;
struct slot;

/// The object descriptions a slot's login fetched. Thread-safe. Each login
/// and logout begins a new epoch that forgets them; what a search of an
/// earlier epoch brings back is dropped, so one user never sees another's.
class login_objects {
public:
    /// The epoch now: read before fetching, passed to keep().
    std::uint64_t epoch() const;
    /// Forgets every description and begins a new epoch (at login and logout).
    void clear();
    /// Keeps what a search of `epoch` found, unless another epoch began since.
    void keep(std::uint64_t epoch, const std::vector<key_summary>& keys);
    /// The description of `h`, if this epoch fetched it.
    std::optional<key_summary> find(CK_OBJECT_HANDLE h) const;
    void forget(CK_OBJECT_HANDLE h);

private:
    mutable std::mutex mutex_;
    std::uint64_t epoch_ = 0;
    std::map<CK_OBJECT_HANDLE, key_summary> objects_;
};

/// A search of C_FindObjects*, under its session's mutex.
struct object_search {
    bool active = false;
    std::vector<CK_OBJECT_HANDLE> found;
    std::size_t cursor = 0;
};

/// The description of `o` for the session's login: kept from its last
/// search, else asked of the cluster. Throws ck_error: CKR_OBJECT_HANDLE_INVALID
/// (nothing this login may see, or no login), CKR_DEVICE_ERROR (no node answered).
key_summary object_of(session& s, CK_OBJECT_HANDLE o);

CK_RV find_objects_init(session& s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count);
CK_RV find_objects(session& s, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count);
CK_RV find_objects_final(session& s);
CK_RV get_attribute_value(session& s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count);

} // namespace hsm::p11

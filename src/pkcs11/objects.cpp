// SPDX-License-Identifier: Apache-2.0
// C_FindObjects* and C_GetAttributeValue over the login's object descriptions.
#include "objects.hpp"

#include "library.hpp"
#include "sessions.hpp"
#include "tokens.hpp"

#include <algorithm>
#include <iterator>

namespace hsm::p11 {

std::uint64_t login_objects::epoch() const {
    std::lock_guard lock(mutex_);
    return epoch_;
}

void login_objects::clear() {
    std::lock_guard lock(mutex_);
    ++epoch_;
    objects_.clear();
}

void login_objects::keep(std::uint64_t epoch, const std::vector<key_summary>& keys) {
    std::lock_guard lock(mutex_);
    if (epoch != epoch_) return; // fetched for a login that has ended
    objects_.clear();
    for (const auto& k : keys)
        objects_.emplace(static_cast<CK_OBJECT_HANDLE>(k.handle), k);
}

std::optional<key_summary> login_objects::find(CK_OBJECT_HANDLE h) const {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(h);
    if (it == objects_.end()) return std::nullopt;
    return it->second;
}

void login_objects::forget(CK_OBJECT_HANDLE h) {
    std::lock_guard lock(mutex_);
    objects_.erase(h);
}

key_summary object_of(session& s, CK_OBJECT_HANDLE o) {
    auto& here = *s.slot;
    // Without a login nothing is described, not even what the last one found.
    require(here.cluster.logged_in(), CKR_OBJECT_HANDLE_INVALID);
    if (is_session_object(o)) {
        auto known = here.session_keys.find(o);
        require(known.has_value(), CKR_OBJECT_HANDLE_INVALID);
        return known->key;
    }
    if (auto known = here.objects.find(o)) return *known;
    auto answer = here.cluster.call(operation::get_key, json{{"handle", o}});
    if (answer.what == cluster_answer::kind::ok)
        if (auto k = key_summary_from(answer.fields)) return *k;
    // No node answering, or an answer that is no key, is the device's fault;
    // a refusal means the handle names nothing this user may see.
    require(answer.what == cluster_answer::kind::refused, CKR_DEVICE_ERROR);
    // The login ended under the application (its password was rotated):
    // it logs in again, and the handle is still good.
    require(answer.code != status::not_logged_in, CKR_USER_NOT_LOGGED_IN);
    throw ck_error{CKR_OBJECT_HANDLE_INVALID};
}

CK_RV find_objects_init(session& s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count) {
    {
        std::lock_guard lock(s.mutex);
        require(!s.search.active, CKR_OPERATION_ACTIVE);
    }
    require(tmpl || !count, CKR_ARGUMENTS_BAD);
    auto& here = *s.slot;
    auto epoch = here.objects.epoch();
    // Before login the token shows no object: every key belongs to a user.
    std::vector<key_summary> keys;
    if (here.cluster.logged_in()) {
        cluster_answer failure;
        auto fetched = here.cluster.keys(failure);
        require(fetched.has_value(), ck_rv(failure));
        keys = std::move(*fetched);
        std::ranges::move(here.session_keys.all(), std::back_inserter(keys));
    }
    here.objects.keep(epoch, keys);
    std::lock_guard lock(s.mutex);
    require(!s.search.active, CKR_OPERATION_ACTIVE);
    s.search = {true, {}, 0};
    for (const auto& k : keys)
        if (matches(k, tmpl, count))
            s.search.found.push_back(static_cast<CK_OBJECT_HANDLE>(k.handle));
    return CKR_OK;
}

CK_RV find_objects(session& s, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count) {
    std::lock_guard lock(s.mutex);
    require(s.search.active, CKR_OPERATION_NOT_INITIALIZED);
    require(out && count, CKR_ARGUMENTS_BAD);
    CK_ULONG n = 0;
    while (n < max && s.search.cursor < s.search.found.size())
        out[n++] = s.search.found[s.search.cursor++];
    *count = n;
    return CKR_OK;
}

CK_RV find_objects_final(session& s) {
    std::lock_guard lock(s.mutex);
    require(s.search.active, CKR_OPERATION_NOT_INITIALIZED);
    s.search = {};
    return CKR_OK;
}

CK_RV get_attribute_value(session& s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count) {
    require(tmpl || !count, CKR_ARGUMENTS_BAD);
    return fill_attributes(object_of(s, o), tmpl, count);
}

} // namespace hsm::p11

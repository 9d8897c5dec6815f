// SPDX-License-Identifier: Apache-2.0
// Sessions and the slot's login.
#include "sessions.hpp"

#include "library.hpp"
#include "tokens.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace hsm::p11 {
namespace {

// The login is the slot's: it ends when its last session closes. Called
// with the instance's lock held; the logout itself goes without it.
void logout_if_last(instance& now, const std::shared_ptr<slot>& s,
                    std::unique_lock<library_lock>& lock) {
    bool any =
        std::ranges::any_of(now.sessions, [&](const auto& e) { return e.second->slot == s; });
    lock.unlock();
    if (any || !s->cluster.logged_in()) return;
    s->cluster.logout(); // the nodes drop the login's session keys
    s->objects.clear();
    s->session_keys.clear();
}

// The session objects `closed` made, destroyed on their nodes (the
// standard: a session object ends with its session). Without the lock.
void destroy_made_by(slot& here, CK_SESSION_HANDLE closed) {
    for (const auto& o : here.session_keys.take_made_by(closed))
        destroy_session_key(here, o.node, o.key.handle);
}

} // namespace

CK_RV open_session(CK_SLOT_ID id, CK_FLAGS flags, CK_VOID_PTR, CK_NOTIFY,
                   CK_SESSION_HANDLE_PTR out) {
    auto& lib = library::get();
    auto now = lib.current();
    require(id < now->slots.size(), CKR_SLOT_ID_INVALID);
    require((flags & CKF_SERIAL_SESSION) != 0, CKR_SESSION_PARALLEL_NOT_SUPPORTED);
    require(out != nullptr, CKR_ARGUMENTS_BAD);
    auto h = lib.next_handle();
    auto made = std::make_shared<session>(h, flags, now->slots[id]);
    std::lock_guard lock(now->lock);
    now->require_live();
    now->sessions.emplace(h, std::move(made));
    *out = h;
    return CKR_OK;
}

CK_RV close_session(CK_SESSION_HANDLE h) {
    auto now = library::get().current();
    std::unique_lock lock(now->lock);
    now->require_live();
    auto it = now->sessions.find(h);
    require(it != now->sessions.end(), CKR_SESSION_HANDLE_INVALID);
    auto closed = std::move(it->second);
    now->sessions.erase(it);
    logout_if_last(*now, closed->slot, lock);
    destroy_made_by(*closed->slot, h);
    return CKR_OK;
}

CK_RV close_all_sessions(CK_SLOT_ID id) {
    auto now = library::get().current();
    require(id < now->slots.size(), CKR_SLOT_ID_INVALID);
    const auto& s = now->slots[id];
    std::vector<std::shared_ptr<session>> closed; // freed once the lock is released
    std::unique_lock lock(now->lock);
    now->require_live();
    std::erase_if(now->sessions, [&](auto& e) {
        if (e.second->slot != s) return false;
        closed.push_back(std::move(e.second));
        return true;
    });
    logout_if_last(*now, s, lock);
    for (const auto& c : closed)
        destroy_made_by(*s, c->handle);
    return CKR_OK;
}

CK_RV get_session_info(session& s, CK_SESSION_INFO_PTR info) {
    require(info != nullptr, CKR_ARGUMENTS_BAD);
    bool rw = s.flags & CKF_RW_SESSION;
    CK_SESSION_INFO out{};
    out.slotID = s.slot->id;
    out.flags = s.flags;
    out.state = s.slot->cluster.logged_in() ? (rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS)
                                            : (rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION);
    *info = out;
    return CKR_OK;
}

CK_RV get_operation_state(session& s, CK_BYTE_PTR, CK_ULONG_PTR len) {
    require(len != nullptr, CKR_ARGUMENTS_BAD);
    std::lock_guard lock(s.mutex);
    bool active =
        s.digest || std::ranges::any_of(s.operations, [](const auto& o) { return o.has_value(); });
    return active ? CKR_STATE_UNSAVEABLE : CKR_OPERATION_NOT_INITIALIZED;
}

CK_RV set_operation_state(session&, CK_BYTE_PTR state, CK_ULONG len, CK_OBJECT_HANDLE,
                          CK_OBJECT_HANDLE) {
    require(state != nullptr && len > 0, CKR_ARGUMENTS_BAD);
    return CKR_SAVED_STATE_INVALID;
}

CK_RV login(session& s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len) {
    // Crypto users only: officers manage keys through hsmsh and never use them.
    require(user == CKU_USER, CKR_USER_TYPE_INVALID);
    require(pin && pin_len <= max_user_name + 1 + max_password, CKR_PIN_INCORRECT);
    secret text(std::string(reinterpret_cast<const char*>(pin), pin_len));
    auto colon = text.view().find(':');
    require(colon != std::string_view::npos, CKR_PIN_INCORRECT);
    std::string name(text.view().substr(0, colon));
    require(valid_user_name(name), CKR_PIN_INCORRECT);
    auto& here = *s.slot;
    require(!here.cluster.logged_in(), CKR_USER_ALREADY_LOGGED_IN);
    // What an earlier login fetched is not this one's.
    here.objects.clear();
    here.session_keys.clear();
    auto answer = here.cluster.login(name, secret(std::string(text.view().substr(colon + 1))));
    here.objects.clear();
    constexpr std::string_view outcome[]{"logged in", "refused", "no node answered"};
    log(answer.what == cluster_answer::kind::ok ? log_level::info : log_level::warning,
        fmt::format("C_Login of {} on slot {} ({}): {}", name, here.id, here.cluster.cluster_id(),
                    outcome[static_cast<int>(answer.what)]));
    return ck_rv(answer);
}

CK_RV logout(session& s) {
    auto& here = *s.slot;
    require(here.cluster.logged_in(), CKR_USER_NOT_LOGGED_IN);
    here.cluster.logout(); // the nodes drop the login's session keys
    here.objects.clear();
    here.session_keys.clear();
    return CKR_OK;
}

} // namespace hsm::p11

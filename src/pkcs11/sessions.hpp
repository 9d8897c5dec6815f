// SPDX-License-Identifier: Apache-2.0
// Sessions and the slot's login: C_OpenSession to C_CloseAllSessions,
// C_Login and C_Logout.
#pragma once

#include "digests.hpp"
#include "objects.hpp"
#include "operations.hpp"

#include <array>
#include <memory>
#include <mutex>

namespace hsm::p11 {

struct slot;

/// One session. Shared by the instance's table and the calls in flight on
/// it; what it has begun is guarded by `mutex`, never held across a round
/// trip to a node.
struct session {
    session(CK_SESSION_HANDLE h, CK_FLAGS f, std::shared_ptr<p11::slot> s)
        : handle(h), flags(f), slot(std::move(s)) {}

    const CK_SESSION_HANDLE handle;
    const CK_FLAGS flags;
    const std::shared_ptr<p11::slot> slot;

    std::mutex mutex;
    object_search search;
    std::array<std::optional<active_operation>, 4> operations; // by key_operation
    md_ctx_ptr digest;
};

/// The notify callback is accepted and never called: PKCS#11 lets a
/// library make no surrender callbacks.
CK_RV open_session(CK_SLOT_ID id, CK_FLAGS flags, CK_VOID_PTR application, CK_NOTIFY notify,
                   CK_SESSION_HANDLE_PTR out);
CK_RV close_session(CK_SESSION_HANDLE h);
CK_RV close_all_sessions(CK_SLOT_ID id);
CK_RV get_session_info(session& s, CK_SESSION_INFO_PTR info);
CK_RV login(session& s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len);
CK_RV logout(session& s);
/// An operation's state lives partly on the nodes (a signature's data goes
/// at its end, to the node of the moment): none can be saved and resumed.
/// CKR_STATE_UNSAVEABLE while one is active, else CKR_OPERATION_NOT_INITIALIZED.
CK_RV get_operation_state(session& s, CK_BYTE_PTR state, CK_ULONG_PTR len);
/// CKR_SAVED_STATE_INVALID: this module never gave out a state.
CK_RV set_operation_state(session& s, CK_BYTE_PTR state, CK_ULONG len, CK_OBJECT_HANDLE encryption,
                          CK_OBJECT_HANDLE authentication);

} // namespace hsm::p11

// SPDX-License-Identifier: Apache-2.0
// libhsmsh-pkcs11.so: the PKCS#11 v2.40 entry points. One slot per cluster
// of the configuration file; a crypto user logs in with "name:password";
// the objects are the keys that user owns or that are shared with it.
#include "cluster_slot.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/version.hpp"
#include "key_object.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include <unistd.h>

namespace hsm::p11 {
namespace {

constexpr std::size_t max_sign_data = max_crypto_data;

struct session_state {
    CK_SLOT_ID slot = 0;
    CK_FLAGS flags = 0;
    std::vector<CK_OBJECT_HANDLE> found;
    std::size_t cursor = 0;
    bool finding = false;
    std::optional<key_summary> signing_key; // set by C_SignInit
    std::string mechanism;
    bytes pending; // C_SignUpdate's data
};

// The library's state; its mutex guards these maps only, never a network
// round trip (each slot has its own lock for that).
struct library {
    std::mutex mutex;
    bool initialized = false;
    pid_t pid = 0;
    std::vector<std::unique_ptr<cluster_slot>> slots;
    std::vector<std::map<CK_OBJECT_HANDLE, key_summary>> objects; // per slot, as last found
    std::map<CK_SESSION_HANDLE, session_state> sessions;
    CK_SESSION_HANDLE next_session = 1;
};

library& lib() {
    static library instance;
    return instance;
}

// Space-padded, not NUL-terminated, as PKCS#11's fixed-size strings are.
template <std::size_t N> void pad(CK_UTF8CHAR (&field)[N], std::string_view text) {
    std::memset(field, ' ', N);
    std::memcpy(field, text.data(), std::min(N, text.size()));
}

CK_RV from_status(status s) {
    switch (s) {
    case status::ok:
        return CKR_OK;
    case status::user_login_failure:
        return CKR_PIN_INCORRECT;
    case status::user_change_pending:
        return CKR_PIN_LOCKED;
    case status::not_logged_in:
        return CKR_USER_NOT_LOGGED_IN;
    case status::key_not_found:
        return CKR_KEY_HANDLE_INVALID;
    case status::key_function_not_permitted:
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    case status::mechanism_invalid:
        return CKR_MECHANISM_INVALID;
    case status::signature_invalid:
        return CKR_SIGNATURE_INVALID;
    case status::bad_request:
        return CKR_ARGUMENTS_BAD;
    default:
        return CKR_FUNCTION_FAILED;
    }
}

CK_RV from_answer(const cluster_answer& a) {
    if (a.what == cluster_answer::kind::unreachable) return CKR_DEVICE_ERROR;
    return from_status(a.code);
}

// The slot of a session, under the library lock.
cluster_slot* slot_of(library& l, CK_SESSION_HANDLE h, session_state** state = nullptr) {
    auto it = l.sessions.find(h);
    if (it == l.sessions.end()) return nullptr;
    if (state) *state = &it->second;
    return l.slots[it->second.slot].get();
}

// Under the library lock: the session's slot, or why there is none.
CK_RV session_slot(CK_SESSION_HANDLE h, cluster_slot*& slot) {
    auto& l = lib();
    std::lock_guard lock(l.mutex);
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    slot = slot_of(l, h);
    return slot ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
}

CK_RV slot_exists(CK_SLOT_ID id) {
    auto& l = lib();
    std::lock_guard lock(l.mutex);
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    return id < l.slots.size() ? CKR_OK : CKR_SLOT_ID_INVALID;
}

CK_RV C_Initialize(CK_VOID_PTR args) {
    auto& l = lib();
    std::lock_guard lock(l.mutex);
    // A child of a process that used the module gets fresh connections; the
    // parent's belong to threads the child does not have: left alone.
    if (l.initialized && l.pid != getpid()) {
        for (auto& s : l.slots)
            static_cast<void>(s.release());
        l.slots.clear();
        l.sessions.clear();
        l.initialized = false;
    }
    if (l.initialized) return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    if (args) {
        const auto* a = static_cast<const CK_C_INITIALIZE_ARGS*>(args);
        if (a->pReserved) return CKR_ARGUMENTS_BAD;
        // Our own locks serve whatever the application asked for.
    }
    try {
        auto config = load_config(default_config_path());
        for (auto& c : config.clusters)
            l.slots.push_back(std::make_unique<cluster_slot>(c));
    } catch (const std::exception&) {
        // No configuration: a module with no slot, as a reader with no card.
    }
    l.objects.assign(l.slots.size(), {});
    l.initialized = true;
    l.pid = getpid();
    return CKR_OK;
}

CK_RV C_Finalize(CK_VOID_PTR reserved) {
    if (reserved) return CKR_ARGUMENTS_BAD;
    auto& l = lib();
    std::vector<std::unique_ptr<cluster_slot>> closing;
    {
        std::lock_guard lock(l.mutex);
        if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
        closing = std::move(l.slots);
        l.slots.clear();
        l.sessions.clear();
        l.objects.clear();
        l.initialized = false;
    }
    return CKR_OK; // `closing` closes the connections here, outside the lock
}

CK_RV C_GetInfo(CK_INFO_PTR info) {
    if (!lib().initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!info) return CKR_ARGUMENTS_BAD;
    *info = {};
    info->cryptokiVersion = {2, 40};
    pad(info->manufacturerID, "hsmsh");
    pad(info->libraryDescription, "hsmsh PKCS#11 module");
    info->libraryVersion = {0, 3};
    return CKR_OK;
}

CK_RV C_GetSlotList(CK_BBOOL, CK_SLOT_ID_PTR list, CK_ULONG_PTR count) {
    auto& l = lib();
    std::lock_guard lock(l.mutex);
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!count) return CKR_ARGUMENTS_BAD;
    auto n = static_cast<CK_ULONG>(l.slots.size());
    if (list && *count < n) {
        *count = n;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (list)
        for (CK_ULONG i = 0; i < n; ++i)
            list[i] = i;
    *count = n;
    return CKR_OK;
}

CK_RV C_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO_PTR info) {
    auto& l = lib();
    std::lock_guard lock(l.mutex);
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (id >= l.slots.size()) return CKR_SLOT_ID_INVALID;
    if (!info) return CKR_ARGUMENTS_BAD;
    *info = {};
    pad(info->slotDescription, "hsmsh cluster " + l.slots[id]->cluster_id());
    pad(info->manufacturerID, "hsmsh");
    info->flags = CKF_TOKEN_PRESENT;
    info->hardwareVersion = {0, 3};
    info->firmwareVersion = {0, 3};
    return CKR_OK;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info) {
    auto& l = lib();
    std::lock_guard lock(l.mutex);
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (id >= l.slots.size()) return CKR_SLOT_ID_INVALID;
    if (!info) return CKR_ARGUMENTS_BAD;
    *info = {};
    const auto& cluster = l.slots[id]->cluster_id();
    pad(info->label, cluster);
    pad(info->manufacturerID, "hsmsh");
    pad(info->model, "hsmd cluster");
    pad(info->serialNumber, cluster.substr(0, 16));
    info->flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED;
    info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
    info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
    info->ulSessionCount = CK_UNAVAILABLE_INFORMATION;
    info->ulRwSessionCount = CK_UNAVAILABLE_INFORMATION;
    info->ulMinPinLen = 1 + 1 + min_password; // name:password
    info->ulMaxPinLen = max_user_name + 1 + max_password;
    info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->hardwareVersion = {0, 3};
    info->firmwareVersion = {0, 3};
    return CKR_OK;
}

CK_RV C_GetMechanismList(CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count) {
    if (auto rv = slot_exists(id); rv != CKR_OK) return rv;
    if (!count) return CKR_ARGUMENTS_BAD;
    const auto& all = mechanisms();
    auto n = static_cast<CK_ULONG>(all.size());
    if (list && *count < n) {
        *count = n;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (list)
        for (CK_ULONG i = 0; i < n; ++i)
            list[i] = all[i].type;
    *count = n;
    return CKR_OK;
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID id, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info) {
    if (auto rv = slot_exists(id); rv != CKR_OK) return rv;
    if (!info) return CKR_ARGUMENTS_BAD;
    for (const auto& m : mechanisms())
        if (m.type == type) {
            *info = {m.min_bits, m.max_bits, m.flags};
            return CKR_OK;
        }
    return CKR_MECHANISM_INVALID;
}

CK_RV C_OpenSession(CK_SLOT_ID id, CK_FLAGS flags, CK_VOID_PTR, CK_NOTIFY,
                    CK_SESSION_HANDLE_PTR session) {
    auto& l = lib();
    std::lock_guard lock(l.mutex);
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (id >= l.slots.size()) return CKR_SLOT_ID_INVALID;
    if (!(flags & CKF_SERIAL_SESSION)) return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    if (!session) return CKR_ARGUMENTS_BAD;
    *session = l.next_session++;
    auto& state = l.sessions[*session];
    state.slot = id;
    state.flags = flags;
    return CKR_OK;
}

// The login is the slot's: it ends when its last session closes.
void logout_if_last(library& l, CK_SLOT_ID slot, std::unique_lock<std::mutex>& lock) {
    bool any =
        std::ranges::any_of(l.sessions, [&](const auto& s) { return s.second.slot == slot; });
    if (any) return;
    auto* s = l.slots[slot].get();
    lock.unlock();
    if (s->logged_in()) s->logout();
}

CK_RV C_CloseSession(CK_SESSION_HANDLE h) {
    auto& l = lib();
    std::unique_lock lock(l.mutex);
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    auto it = l.sessions.find(h);
    if (it == l.sessions.end()) return CKR_SESSION_HANDLE_INVALID;
    auto slot = it->second.slot;
    l.sessions.erase(it);
    logout_if_last(l, slot, lock);
    return CKR_OK;
}

CK_RV C_CloseAllSessions(CK_SLOT_ID id) {
    auto& l = lib();
    std::unique_lock lock(l.mutex);
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (id >= l.slots.size()) return CKR_SLOT_ID_INVALID;
    std::erase_if(l.sessions, [&](const auto& s) { return s.second.slot == id; });
    logout_if_last(l, id, lock);
    return CKR_OK;
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info) {
    auto& l = lib();
    cluster_slot* slot = nullptr;
    session_state* state = nullptr;
    CK_SESSION_INFO out{};
    {
        std::lock_guard lock(l.mutex);
        if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
        slot = slot_of(l, h, &state);
        if (!slot) return CKR_SESSION_HANDLE_INVALID;
        out.slotID = state->slot;
        out.flags = state->flags;
    }
    if (!info) return CKR_ARGUMENTS_BAD;
    bool rw = out.flags & CKF_RW_SESSION;
    out.state = slot->logged_in() ? (rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS)
                                  : (rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION);
    *info = out;
    return CKR_OK;
}

CK_RV C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len) {
    cluster_slot* slot = nullptr;
    if (auto rv = session_slot(h, slot); rv != CKR_OK) return rv;
    // Crypto users only: officers manage keys through hsmsh and never use them.
    if (user != CKU_USER) return CKR_USER_TYPE_INVALID;
    if (!pin || pin_len > max_user_name + 1 + max_password) return CKR_PIN_INCORRECT;
    secret text(std::string(reinterpret_cast<const char*>(pin), pin_len));
    auto colon = text.view().find(':');
    if (colon == std::string_view::npos) return CKR_PIN_INCORRECT;
    std::string name(text.view().substr(0, colon));
    if (!valid_user_name(name)) return CKR_PIN_INCORRECT;
    if (slot->logged_in()) return CKR_USER_ALREADY_LOGGED_IN;
    auto answer = slot->login(name, secret(std::string(text.view().substr(colon + 1))));
    return from_answer(answer);
}

CK_RV C_Logout(CK_SESSION_HANDLE h) {
    cluster_slot* slot = nullptr;
    if (auto rv = session_slot(h, slot); rv != CKR_OK) return rv;
    if (!slot->logged_in()) return CKR_USER_NOT_LOGGED_IN;
    slot->logout();
    return CKR_OK;
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count) {
    auto& l = lib();
    cluster_slot* slot = nullptr;
    {
        std::lock_guard lock(l.mutex);
        if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
        session_state* state = nullptr;
        slot = slot_of(l, h, &state);
        if (!slot) return CKR_SESSION_HANDLE_INVALID;
        if (state->finding) return CKR_OPERATION_ACTIVE;
    }
    if (count && !tmpl) return CKR_ARGUMENTS_BAD;
    // Before login the token shows no object: every key belongs to a user.
    std::vector<key_summary> keys;
    if (slot->logged_in()) {
        auto fetched = slot->keys();
        if (!fetched) return CKR_DEVICE_ERROR;
        keys = std::move(*fetched);
    }
    std::lock_guard lock(l.mutex);
    session_state* state = nullptr;
    if (!slot_of(l, h, &state)) return CKR_SESSION_HANDLE_INVALID;
    auto& objects = l.objects[state->slot];
    objects.clear();
    state->found.clear();
    for (auto& k : keys) {
        if (matches(k, tmpl, count))
            state->found.push_back(static_cast<CK_OBJECT_HANDLE>(k.handle));
        objects.emplace(static_cast<CK_OBJECT_HANDLE>(k.handle), std::move(k));
    }
    state->cursor = 0;
    state->finding = true;
    return CKR_OK;
}

CK_RV C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max,
                    CK_ULONG_PTR count) {
    auto& l = lib();
    std::lock_guard lock(l.mutex);
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    session_state* state = nullptr;
    if (!slot_of(l, h, &state)) return CKR_SESSION_HANDLE_INVALID;
    if (!state->finding) return CKR_OPERATION_NOT_INITIALIZED;
    if (!out || !count) return CKR_ARGUMENTS_BAD;
    CK_ULONG n = 0;
    while (n < max && state->cursor < state->found.size())
        out[n++] = state->found[state->cursor++];
    *count = n;
    return CKR_OK;
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE h) {
    auto& l = lib();
    std::lock_guard lock(l.mutex);
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    session_state* state = nullptr;
    if (!slot_of(l, h, &state)) return CKR_SESSION_HANDLE_INVALID;
    if (!state->finding) return CKR_OPERATION_NOT_INITIALIZED;
    state->finding = false;
    state->found.clear();
    return CKR_OK;
}

// The object's description: as last found, else asked of the cluster.
std::optional<key_summary> object(library& l, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_RV& rv) {
    cluster_slot* slot = nullptr;
    {
        std::lock_guard lock(l.mutex);
        session_state* state = nullptr;
        slot = slot_of(l, h, &state);
        if (!slot) {
            rv = CKR_SESSION_HANDLE_INVALID;
            return std::nullopt;
        }
        auto& objects = l.objects[state->slot];
        if (auto it = objects.find(o); it != objects.end()) return it->second;
    }
    auto answer = slot->call(operation::get_key, json{{"handle", o}});
    auto k =
        answer.what == cluster_answer::kind::ok ? key_summary_from(answer.fields) : std::nullopt;
    // No node answering a logged-in slot is the device's fault; otherwise
    // the handle names nothing this user may see.
    bool device = answer.what == cluster_answer::kind::unreachable && slot->logged_in();
    rv = k ? CKR_OK : device ? CKR_DEVICE_ERROR : CKR_OBJECT_HANDLE_INVALID;
    return k;
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR tmpl,
                          CK_ULONG count) {
    auto& l = lib();
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!tmpl && count) return CKR_ARGUMENTS_BAD;
    CK_RV rv = CKR_OK;
    auto k = object(l, h, o, rv);
    if (!k) return rv;
    return fill_attributes(*k, tmpl, count);
}

CK_RV C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mechanism, CK_OBJECT_HANDLE o) {
    auto& l = lib();
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!mechanism) return CKR_ARGUMENTS_BAD;
    CK_RV rv = CKR_OK;
    auto k = object(l, h, o, rv);
    if (!k) return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_KEY_HANDLE_INVALID : rv;
    auto name = signing_mechanism(mechanism->mechanism, *k);
    if (!name) return CKR_MECHANISM_INVALID;
    if (k->cls == key_class::public_key) return CKR_KEY_TYPE_INCONSISTENT;
    if (!k->flags.sign) return CKR_KEY_FUNCTION_NOT_PERMITTED;
    std::lock_guard lock(l.mutex);
    session_state* state = nullptr;
    if (!slot_of(l, h, &state)) return CKR_SESSION_HANDLE_INVALID;
    if (state->signing_key) return CKR_OPERATION_ACTIVE;
    state->signing_key = std::move(*k);
    state->mechanism = *name;
    state->pending.clear();
    return CKR_OK;
}

std::size_t signature_size(const key_summary& k) {
    if (k.type == key_type::ec) return 2 * static_cast<std::size_t>(k.bits / 8);
    if (k.type == key_type::rsa) return static_cast<std::size_t>(k.bits / 8);
    return 32; // HMAC-SHA-256
}

// Signs `data` with the session's key; the size query leaves the operation on.
CK_RV finish_sign(CK_SESSION_HANDLE h, const bytes& data, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    auto& l = lib();
    cluster_slot* slot = nullptr;
    key_summary k;
    std::string mechanism;
    {
        std::lock_guard lock(l.mutex);
        session_state* state = nullptr;
        slot = slot_of(l, h, &state);
        if (!slot) return CKR_SESSION_HANDLE_INVALID;
        if (!state->signing_key) return CKR_OPERATION_NOT_INITIALIZED;
        if (!out_len) return CKR_ARGUMENTS_BAD;
        auto size = signature_size(*state->signing_key);
        if (!out || *out_len < size) {
            bool query = !out;
            *out_len = size;
            return query ? CKR_OK : CKR_BUFFER_TOO_SMALL;
        }
        k = std::move(*state->signing_key);
        mechanism = state->mechanism;
        state->signing_key.reset();
        state->pending.clear();
    }
    auto answer =
        slot->call(operation::sign,
                   json{{"handle", k.handle}, {"mechanism", mechanism}, {"data", to_hex(data)}});
    if (answer.what != cluster_answer::kind::ok) return from_answer(answer);
    auto raw = from_hex(answer.fields.value("data", std::string()));
    auto signature = raw ? pkcs11_signature(k, *raw) : std::nullopt;
    if (!signature || signature->size() > *out_len) return CKR_DEVICE_ERROR;
    std::memcpy(out, signature->data(), signature->size());
    *out_len = signature->size();
    return CKR_OK;
}

CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR out,
             CK_ULONG_PTR out_len) {
    if (!lib().initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!data && len) return CKR_ARGUMENTS_BAD;
    if (len > max_sign_data) return CKR_DATA_LEN_RANGE;
    return finish_sign(h, bytes(data, data + len), out, out_len);
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len) {
    auto& l = lib();
    std::lock_guard lock(l.mutex);
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    session_state* state = nullptr;
    if (!slot_of(l, h, &state)) return CKR_SESSION_HANDLE_INVALID;
    if (!state->signing_key) return CKR_OPERATION_NOT_INITIALIZED;
    if (!data && len) return CKR_ARGUMENTS_BAD;
    if (state->pending.size() + len > max_sign_data) {
        state->signing_key.reset();
        return CKR_DATA_LEN_RANGE;
    }
    state->pending.insert(state->pending.end(), data, data + len);
    return CKR_OK;
}

CK_RV C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    auto& l = lib();
    bytes data;
    {
        std::lock_guard lock(l.mutex);
        if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
        session_state* state = nullptr;
        if (!slot_of(l, h, &state)) return CKR_SESSION_HANDLE_INVALID;
        data = state->pending;
    }
    return finish_sign(h, data, out, out_len);
}

CK_RV C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len) {
    cluster_slot* slot = nullptr;
    if (auto rv = session_slot(h, slot); rv != CKR_OK) return rv;
    if (!out && len) return CKR_ARGUMENTS_BAD;
    for (CK_ULONG done = 0; done < len;) {
        auto n = std::min<CK_ULONG>(len - done, 4096);
        auto answer = slot->call(operation::random, json{{"bytes", n}});
        if (answer.what != cluster_answer::kind::ok) return from_answer(answer);
        auto got = from_hex(answer.fields.value("data", std::string()));
        if (!got || got->size() != n) return CKR_DEVICE_ERROR;
        std::memcpy(out + done, got->data(), n);
        done += n;
    }
    return CKR_OK;
}

// Every other entry: the same answer, whatever its arguments.
template <typename... A> CK_RV not_supported(A...) {
    return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

CK_FUNCTION_LIST function_list = {
    {2, 40},
    C_Initialize,
    C_Finalize,
    C_GetInfo,
    C_GetFunctionList,
    C_GetSlotList,
    C_GetSlotInfo,
    C_GetTokenInfo,
    C_GetMechanismList,
    C_GetMechanismInfo,
    not_supported, // C_InitToken: tokens are clusters, initialised by hsmd
    not_supported, // C_InitPIN: users are made with hsmsh
    not_supported, // C_SetPIN: passwords are changed with hsmsh
    C_OpenSession,
    C_CloseSession,
    C_CloseAllSessions,
    C_GetSessionInfo,
    not_supported, // C_GetOperationState
    not_supported, // C_SetOperationState
    C_Login,
    C_Logout,
    not_supported, // C_CreateObject
    not_supported, // C_CopyObject
    not_supported, // C_DestroyObject
    not_supported, // C_GetObjectSize
    C_GetAttributeValue,
    not_supported, // C_SetAttributeValue
    C_FindObjectsInit,
    C_FindObjects,
    C_FindObjectsFinal,
    not_supported, // C_EncryptInit
    not_supported, // C_Encrypt
    not_supported, // C_EncryptUpdate
    not_supported, // C_EncryptFinal
    not_supported, // C_DecryptInit
    not_supported, // C_Decrypt
    not_supported, // C_DecryptUpdate
    not_supported, // C_DecryptFinal
    not_supported, // C_DigestInit
    not_supported, // C_Digest
    not_supported, // C_DigestUpdate
    not_supported, // C_DigestKey
    not_supported, // C_DigestFinal
    C_SignInit,
    C_Sign,
    C_SignUpdate,
    C_SignFinal,
    not_supported, // C_SignRecoverInit
    not_supported, // C_SignRecover
    not_supported, // C_VerifyInit
    not_supported, // C_Verify
    not_supported, // C_VerifyUpdate
    not_supported, // C_VerifyFinal
    not_supported, // C_VerifyRecoverInit
    not_supported, // C_VerifyRecover
    not_supported, // C_DigestEncryptUpdate
    not_supported, // C_DecryptDigestUpdate
    not_supported, // C_SignEncryptUpdate
    not_supported, // C_DecryptVerifyUpdate
    not_supported, // C_GenerateKey
    not_supported, // C_GenerateKeyPair
    not_supported, // C_WrapKey
    not_supported, // C_UnwrapKey
    not_supported, // C_DeriveKey
    not_supported, // C_SeedRandom
    C_GenerateRandom,
    not_supported, // C_GetFunctionStatus
    not_supported, // C_CancelFunction
    not_supported, // C_WaitForSlotEvent
};

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
    if (!list) return CKR_ARGUMENTS_BAD;
    *list = &function_list;
    return CKR_OK;
}

} // namespace
} // namespace hsm::p11

// The one symbol the module exports.
extern "C" __attribute__((visibility("default"))) CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
    return hsm::p11::C_GetFunctionList(list);
}

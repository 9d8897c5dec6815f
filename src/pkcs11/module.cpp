// SPDX-License-Identifier: Apache-2.0
// libhsmsh-pkcs11.so: the PKCS#11 v2.40 entry points. One slot per cluster
// of the configuration file; a crypto user logs in with "name:password";
// the objects are the keys that user owns or that are shared with it.
#include "cluster_slot.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/version.hpp"
#include "key_object.hpp"
#include "requests.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include <openssl/evp.h>
#include <unistd.h>

namespace hsm::p11 {
namespace {

struct md_ctx_free {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_free>;

// A sign, verify, encrypt or decrypt operation a session has begun.
struct active_operation {
    key_summary key;
    node_mechanism mechanism;
    bytes pending; // C_*Update's data so far
};

constexpr std::size_t index(key_operation op) {
    return static_cast<std::size_t>(op);
}

struct session_state {
    CK_SLOT_ID slot = 0;
    CK_FLAGS flags = 0;
    std::vector<CK_OBJECT_HANDLE> found;
    std::size_t cursor = 0;
    bool finding = false;
    std::array<std::optional<active_operation>, 4> ops; // by key_operation
    md_ctx_ptr digest;
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
    case status::key_destroyed:
        return CKR_OBJECT_HANDLE_INVALID;
    case status::encrypted_data_invalid:
        return CKR_ENCRYPTED_DATA_INVALID;
    case status::attribute_read_only:
        return CKR_ATTRIBUTE_READ_ONLY;
    case status::attribute_invalid:
        return CKR_TEMPLATE_INCONSISTENT;
    case status::key_limit_exceeded:
        return CKR_DEVICE_MEMORY;
    case status::permission_denied:
        return CKR_USER_NOT_LOGGED_IN;
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
        cluster_answer failure;
        auto fetched = slot->keys(failure);
        if (!fetched) return from_answer(failure);
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

// Runs `f` on the session's state under the library lock.
template <typename F> CK_RV with_session(CK_SESSION_HANDLE h, F f) {
    auto& l = lib();
    std::lock_guard lock(l.mutex);
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    session_state* state = nullptr;
    if (!slot_of(l, h, &state)) return CKR_SESSION_HANDLE_INVALID;
    return f(*state);
}

// One operation of a session: the key, the node's mechanism, the data of
// C_*Update so far.
CK_RV operation_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mechanism, CK_OBJECT_HANDLE o,
                     key_operation op) {
    auto& l = lib();
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!mechanism) return CKR_ARGUMENTS_BAD;
    {
        std::lock_guard lock(l.mutex);
        session_state* state = nullptr;
        if (!slot_of(l, h, &state)) return CKR_SESSION_HANDLE_INVALID;
        if (state->ops[index(op)]) return CKR_OPERATION_ACTIVE;
    }
    CK_RV rv = CKR_OK;
    auto k = object(l, h, o, rv);
    if (!k) return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_KEY_HANDLE_INVALID : rv;
    auto m = node_mechanism_for(*mechanism, *k, op);
    if (auto* error = std::get_if<CK_RV>(&m)) return *error;
    bool allowed = op == key_operation::sign      ? k->flags.sign
                   : op == key_operation::verify  ? k->flags.verify
                   : op == key_operation::encrypt ? k->flags.encrypt
                                                  : k->flags.decrypt;
    if (!allowed) return CKR_KEY_FUNCTION_NOT_PERMITTED;
    std::lock_guard lock(l.mutex);
    session_state* state = nullptr;
    if (!slot_of(l, h, &state)) return CKR_SESSION_HANDLE_INVALID;
    auto& slot = state->ops[index(op)];
    if (slot) return CKR_OPERATION_ACTIVE;
    slot = active_operation{std::move(*k), std::move(std::get<node_mechanism>(m)), {}};
    return CKR_OK;
}

CK_RV operation_update(CK_SESSION_HANDLE h, key_operation op, CK_BYTE_PTR data, CK_ULONG len) {
    return with_session(h, [&](session_state& state) {
        auto& active = state.ops[index(op)];
        if (!active) return CKR_OPERATION_NOT_INITIALIZED;
        if (!data && len) {
            active.reset();
            return CKR_ARGUMENTS_BAD;
        }
        if (active->pending.size() + len > max_crypto_data) {
            active.reset(); // an error other than a short buffer ends the operation
            return CKR_DATA_LEN_RANGE;
        }
        active->pending.insert(active->pending.end(), data, data + len);
        return CKR_OK;
    });
}

// The data of C_*Update so far, or nothing when no such operation is active.
std::optional<bytes> pending_data(CK_SESSION_HANDLE h, key_operation op, CK_RV& rv) {
    std::optional<bytes> data;
    rv = with_session(h, [&](session_state& state) {
        const auto& active = state.ops[index(op)];
        if (!active) return CKR_OPERATION_NOT_INITIALIZED;
        data = active->pending;
        return CKR_OK;
    });
    return data;
}

// Ends an operation with `input` (all its data): a size query (no `out`)
// or a short buffer leaves it active, as PKCS#11 says; anything else ends it.
CK_RV operation_finish(CK_SESSION_HANDLE h, key_operation op, const bytes& input,
                       const bytes* signature, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    auto& l = lib();
    cluster_slot* slot = nullptr;
    active_operation active;
    {
        std::lock_guard lock(l.mutex);
        if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
        session_state* state = nullptr;
        slot = slot_of(l, h, &state);
        if (!slot) return CKR_SESSION_HANDLE_INVALID;
        auto& current = state->ops[index(op)];
        if (!current) return CKR_OPERATION_NOT_INITIALIZED;
        if (op != key_operation::verify) {
            if (!out_len) {
                current.reset();
                return CKR_ARGUMENTS_BAD;
            }
            auto bound = output_bound(current->key, current->mechanism, op, input.size());
            if (!out) {
                *out_len = bound;
                return CKR_OK;
            }
            // A decryption's exact size is known once it is done.
            if (*out_len < bound && op != key_operation::decrypt) {
                *out_len = bound;
                return CKR_BUFFER_TOO_SMALL;
            }
        }
        active = std::move(*current);
        current.reset();
    }
    auto fields = active.mechanism.fields;
    fields["handle"] = active.key.handle;
    fields["mechanism"] = active.mechanism.name;
    bytes data = input;
    if (op == key_operation::decrypt && fields.contains("iv")) {
        // The node takes a GCM ciphertext with its IV in front.
        auto iv = from_hex(fields["iv"].get<std::string>()).value_or(bytes{});
        data.insert(data.begin(), iv.begin(), iv.end());
    }
    fields["data"] = to_hex(data);
    if (op == key_operation::verify) {
        auto expected = output_bound(active.key, active.mechanism, op, input.size());
        if (!signature || signature->size() != expected) return CKR_SIGNATURE_LEN_RANGE;
        auto der = der_signature(active.key, *signature);
        if (!der) return CKR_SIGNATURE_LEN_RANGE;
        fields["signature"] = to_hex(*der);
    }
    auto node_op = op == key_operation::sign      ? operation::sign
                   : op == key_operation::verify  ? operation::verify
                   : op == key_operation::encrypt ? operation::encrypt
                                                  : operation::decrypt;
    auto answer = slot->call(node_op, fields);
    // The data may be a plaintext: no copy of it outlives the call.
    wipe(data.data(), data.size());
    wipe(fields["data"].get_ref<std::string&>());
    // C_*Update's data is wiped when the operation ends here, kept when it stays.
    struct wipe_pending {
        active_operation* op;
        ~wipe_pending() {
            if (op) wipe(op->pending.data(), op->pending.size());
        }
    } pending_guard{&active};
    if (answer.what != cluster_answer::kind::ok) return from_answer(answer);
    if (op == key_operation::verify) return CKR_OK;
    auto raw = from_hex(answer.fields.value("data", std::string()));
    if (!raw) return CKR_DEVICE_ERROR;
    std::optional<bytes> result = std::move(raw);
    if (op == key_operation::sign)
        result = pkcs11_signature(active.key, *result);
    else if (op == key_operation::encrypt && fields.contains("iv")) {
        // ... and gives one back with its IV in front, which the caller chose.
        if (result->size() < 12) return CKR_DEVICE_ERROR;
        result->erase(result->begin(), result->begin() + 12);
    }
    if (!result) return CKR_DEVICE_ERROR;
    if (result->size() > *out_len) {
        *out_len = result->size();
        wipe(result->data(), result->size());
        // The operation stays, for the call with a buffer big enough.
        pending_guard.op = nullptr;
        std::lock_guard lock(l.mutex);
        session_state* state = nullptr;
        if (slot_of(l, h, &state) && !state->ops[index(op)])
            state->ops[index(op)] = std::move(active);
        return CKR_BUFFER_TOO_SMALL;
    }
    if (!result->empty()) std::memcpy(out, result->data(), result->size());
    *out_len = result->size();
    wipe(result->data(), result->size());
    return CKR_OK;
}

// Single-part: the data at once (after no update).
CK_RV operation_once(CK_SESSION_HANDLE h, key_operation op, CK_BYTE_PTR data, CK_ULONG len,
                     const bytes* signature, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    if (!lib().initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!data && len) return CKR_ARGUMENTS_BAD;
    if (len > max_crypto_data) return CKR_DATA_LEN_RANGE;
    bytes input(data, data + len);
    auto rv = operation_finish(h, op, input, signature, out, out_len);
    wipe(input.data(), input.size());
    return rv;
}

// Multi-part's end: what C_*Update gave.
CK_RV operation_final(CK_SESSION_HANDLE h, key_operation op, const bytes* signature,
                      CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    CK_RV rv = CKR_OK;
    auto data = pending_data(h, op, rv);
    if (!data) return rv;
    rv = operation_finish(h, op, *data, signature, out, out_len);
    wipe(data->data(), data->size());
    return rv;
}

// The entry points of sign, verify, encrypt and decrypt, one of each shape.
template <key_operation Op>
CK_RV init_entry(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE o) {
    return operation_init(h, m, o, Op);
}
template <key_operation Op>
CK_RV once_entry(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR out,
                 CK_ULONG_PTR out_len) {
    return operation_once(h, Op, data, len, nullptr, out, out_len);
}
template <key_operation Op>
CK_RV update_entry(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len) {
    return operation_update(h, Op, data, len);
}
// GCM and OAEP give nothing before the end: an update keeps the data.
template <key_operation Op>
CK_RV update_entry(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR,
                   CK_ULONG_PTR out_len) {
    if (!out_len) return CKR_ARGUMENTS_BAD;
    *out_len = 0;
    return operation_update(h, Op, data, len);
}
template <key_operation Op>
CK_RV final_entry(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    return operation_final(h, Op, nullptr, out, out_len);
}

bytes signature_bytes(CK_BYTE_PTR sig, CK_ULONG len) {
    return sig ? bytes(sig, sig + std::min<CK_ULONG>(len, max_crypto_data)) : bytes{};
}
CK_RV C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
               CK_ULONG sig_len) {
    auto s = signature_bytes(sig, sig_len);
    return operation_once(h, key_operation::verify, data, len, &s, nullptr, nullptr);
}
CK_RV C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG sig_len) {
    auto s = signature_bytes(sig, sig_len);
    return operation_final(h, key_operation::verify, &s, nullptr, nullptr);
}

// Digests are computed here: no key, nothing for a node to do.
CK_RV C_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m) {
    return with_session(h, [&](session_state& state) {
        if (!m) return CKR_ARGUMENTS_BAD;
        if (state.digest) return CKR_OPERATION_ACTIVE;
        const EVP_MD* md = m->mechanism == CKM_SHA256   ? EVP_sha256()
                           : m->mechanism == CKM_SHA384 ? EVP_sha384()
                           : m->mechanism == CKM_SHA512 ? EVP_sha512()
                                                        : nullptr;
        if (!md) return CKR_MECHANISM_INVALID;
        if (m->pParameter || m->ulParameterLen) return CKR_MECHANISM_PARAM_INVALID;
        md_ctx_ptr ctx(EVP_MD_CTX_new());
        if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) return CKR_HOST_MEMORY;
        state.digest = std::move(ctx);
        return CKR_OK;
    });
}

// Runs `f` on the session's digest, under the library lock.
template <typename F> CK_RV with_digest(CK_SESSION_HANDLE h, F f) {
    return with_session(h, [&](session_state& state) {
        if (!state.digest) return CKR_OPERATION_NOT_INITIALIZED;
        return f(state.digest);
    });
}

// The size query and a short buffer leave the digest on.
CK_RV digest_size(md_ctx_ptr& d, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    if (!out_len) {
        d.reset();
        return CKR_ARGUMENTS_BAD;
    }
    auto size = static_cast<CK_ULONG>(EVP_MD_CTX_get_size(d.get()));
    if (out && *out_len >= size) return CKR_OK;
    bool query = !out;
    *out_len = size;
    return query ? CKR_OK : CKR_BUFFER_TOO_SMALL;
}

CK_RV C_DigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len) {
    return with_digest(h, [&](md_ctx_ptr& d) {
        if ((!data && len) || EVP_DigestUpdate(d.get(), data, len) != 1) {
            d.reset();
            return CKR_ARGUMENTS_BAD;
        }
        return CKR_OK;
    });
}

CK_RV C_DigestFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    return with_digest(h, [&](md_ctx_ptr& d) {
        if (auto rv = digest_size(d, out, out_len); rv != CKR_OK || !out) return rv;
        unsigned int n = 0;
        auto ok = EVP_DigestFinal_ex(d.get(), out, &n) == 1;
        d.reset();
        *out_len = n;
        return ok ? CKR_OK : CKR_FUNCTION_FAILED;
    });
}

CK_RV C_Digest(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR out,
               CK_ULONG_PTR out_len) {
    // The size is known before any data is hashed.
    auto rv = with_digest(h, [&](md_ctx_ptr& d) { return digest_size(d, out, out_len); });
    if (rv != CKR_OK || !out) return rv;
    if (rv = C_DigestUpdate(h, data, len); rv != CKR_OK) return rv;
    return C_DigestFinal(h, out, out_len);
}

// The keys are sensitive: none can be hashed into a digest.
CK_RV C_DigestKey(CK_SESSION_HANDLE, CK_OBJECT_HANDLE) {
    return CKR_KEY_INDIGESTIBLE;
}

// Creating and destroying keys are cluster-wide changes of a logged-in
// user in a read/write session.
CK_RV writable_session(CK_SESSION_HANDLE h, cluster_slot*& slot, CK_SLOT_ID* id = nullptr) {
    auto& l = lib();
    std::lock_guard lock(l.mutex);
    if (!l.initialized) return CKR_CRYPTOKI_NOT_INITIALIZED;
    session_state* state = nullptr;
    slot = slot_of(l, h, &state);
    if (!slot) return CKR_SESSION_HANDLE_INVALID;
    if (id) *id = state->slot;
    if (!(state->flags & CKF_RW_SESSION)) return CKR_SESSION_READ_ONLY;
    return CKR_OK;
}

CK_RV generate(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, const CK_ATTRIBUTE* public_tmpl,
               CK_ULONG public_count, const CK_ATTRIBUTE* private_tmpl, CK_ULONG private_count,
               CK_OBJECT_HANDLE_PTR public_key, CK_OBJECT_HANDLE_PTR main_key) {
    cluster_slot* slot = nullptr;
    if (auto rv = writable_session(h, slot); rv != CKR_OK) return rv;
    if (!m || !main_key) return CKR_ARGUMENTS_BAD;
    if (m->pParameter || m->ulParameterLen) return CKR_MECHANISM_PARAM_INVALID;
    if (!slot->logged_in()) return CKR_USER_NOT_LOGGED_IN;
    auto request =
        generation_request(m->mechanism, public_tmpl, public_count, private_tmpl, private_count);
    if (auto* error = std::get_if<CK_RV>(&request)) return *error;
    auto answer = slot->generate(std::get<json>(request));
    if (answer.what != cluster_answer::kind::ok) return from_answer(answer);
    const auto& made = answer.fields["keys"];
    for (const auto& k : made) {
        auto handle = static_cast<CK_OBJECT_HANDLE>(k.value("handle", std::int64_t{0}));
        if (k.value("class", std::string()) == "public")
            *(public_key ? public_key : main_key) = handle;
        else
            *main_key = handle;
    }
    return CKR_OK;
}

CK_RV C_GenerateKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                    CK_OBJECT_HANDLE_PTR key) {
    if (m && (m->mechanism == CKM_EC_KEY_PAIR_GEN || m->mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN))
        return CKR_MECHANISM_INVALID;
    return generate(h, m, nullptr, 0, tmpl, count, nullptr, key);
}

CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR public_tmpl,
                        CK_ULONG public_count, CK_ATTRIBUTE_PTR private_tmpl,
                        CK_ULONG private_count, CK_OBJECT_HANDLE_PTR public_key,
                        CK_OBJECT_HANDLE_PTR private_key) {
    if (!public_key) return CKR_ARGUMENTS_BAD;
    if (m && m->mechanism != CKM_EC_KEY_PAIR_GEN && m->mechanism != CKM_RSA_PKCS_KEY_PAIR_GEN)
        return CKR_MECHANISM_INVALID;
    return generate(h, m, public_tmpl, public_count, private_tmpl, private_count, public_key,
                    private_key);
}

CK_RV C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o) {
    cluster_slot* slot = nullptr;
    CK_SLOT_ID id = 0;
    if (auto rv = writable_session(h, slot, &id); rv != CKR_OK) return rv;
    if (!slot->logged_in()) return CKR_USER_NOT_LOGGED_IN;
    auto answer = slot->change(json{{"change", "destroy_key"}, {"handle", o}});
    if (answer.what == cluster_answer::kind::ok) {
        auto& l = lib();
        std::lock_guard lock(l.mutex);
        if (id < l.objects.size()) l.objects[id].erase(o);
    }
    if (answer.what == cluster_answer::kind::refused && answer.code == status::key_not_found)
        return CKR_OBJECT_HANDLE_INVALID;
    return from_answer(answer);
}

CK_RV C_SetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR tmpl,
                          CK_ULONG count) {
    cluster_slot* slot = nullptr;
    CK_SLOT_ID id = 0;
    if (auto rv = writable_session(h, slot, &id); rv != CKR_OK) return rv;
    if (!tmpl && count) return CKR_ARGUMENTS_BAD;
    if (!slot->logged_in()) return CKR_USER_NOT_LOGGED_IN;
    // Each attribute is one change (setAttribute's): check them all first.
    std::vector<json> changes;
    for (CK_ULONG i = 0; i < count; ++i) {
        const auto& a = tmpl[i];
        const auto* info = find_key_attribute(static_cast<std::uint32_t>(a.type));
        if (!info) return CKR_ATTRIBUTE_TYPE_INVALID;
        if (!info->settable) return CKR_ATTRIBUTE_READ_ONLY;
        std::string value;
        if (info->id == key_attribute::label) {
            if (!a.pValue && a.ulValueLen) return CKR_ARGUMENTS_BAD;
            value.assign(static_cast<const char*>(a.pValue), a.ulValueLen);
            if (!valid_key_label(value)) return CKR_ATTRIBUTE_VALUE_INVALID;
        } else {
            if (!a.pValue || a.ulValueLen != sizeof(CK_BBOOL)) return CKR_ATTRIBUTE_VALUE_INVALID;
            value = *static_cast<const CK_BBOOL*>(a.pValue) ? "1" : "0";
        }
        changes.push_back(json{{"change", "set_attribute"},
                               {"handle", o},
                               {"attribute", static_cast<std::uint32_t>(info->id)},
                               {"value", value}});
    }
    for (auto& c : changes) {
        auto answer = slot->change(std::move(c));
        if (answer.what != cluster_answer::kind::ok) {
            if (answer.code == status::key_not_found) return CKR_OBJECT_HANDLE_INVALID;
            return from_answer(answer);
        }
    }
    auto& l = lib();
    std::lock_guard lock(l.mutex);
    if (id < l.objects.size()) l.objects[id].erase(o); // read anew when next asked
    return CKR_OK;
}

CK_RV C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len) {
    cluster_slot* slot = nullptr;
    if (auto rv = session_slot(h, slot); rv != CKR_OK) return rv;
    if (!out && len) return CKR_ARGUMENTS_BAD;
    // The nodes give random bytes to a logged-in user.
    if (!slot->logged_in()) return CKR_USER_NOT_LOGGED_IN;
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
    C_DestroyObject,
    not_supported, // C_GetObjectSize
    C_GetAttributeValue,
    C_SetAttributeValue,
    C_FindObjectsInit,
    C_FindObjects,
    C_FindObjectsFinal,
    init_entry<key_operation::encrypt>,
    once_entry<key_operation::encrypt>,
    update_entry<key_operation::encrypt>,
    final_entry<key_operation::encrypt>,
    init_entry<key_operation::decrypt>,
    once_entry<key_operation::decrypt>,
    update_entry<key_operation::decrypt>,
    final_entry<key_operation::decrypt>,
    C_DigestInit,
    C_Digest,
    C_DigestUpdate,
    C_DigestKey,
    C_DigestFinal,
    init_entry<key_operation::sign>,
    once_entry<key_operation::sign>,
    update_entry<key_operation::sign>,
    final_entry<key_operation::sign>,
    not_supported, // C_SignRecoverInit
    not_supported, // C_SignRecover
    init_entry<key_operation::verify>,
    C_Verify,
    update_entry<key_operation::verify>,
    C_VerifyFinal,
    not_supported, // C_VerifyRecoverInit
    not_supported, // C_VerifyRecover
    not_supported, // C_DigestEncryptUpdate
    not_supported, // C_DecryptDigestUpdate
    not_supported, // C_SignEncryptUpdate
    not_supported, // C_DecryptVerifyUpdate
    C_GenerateKey,
    C_GenerateKeyPair,
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

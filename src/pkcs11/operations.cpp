// SPDX-License-Identifier: Apache-2.0
// Sign, verify, encrypt and decrypt: a session's operations, done by a node.
#include "operations.hpp"

#include "hsmsh/hex.hpp"
#include "library.hpp"
#include "sessions.hpp"
#include "tokens.hpp"

#include <cstring>

namespace hsm::p11 {
namespace {

constexpr std::size_t index(key_operation op) {
    return static_cast<std::size_t>(op);
}

operation node_operation(key_operation op) {
    switch (op) {
    case key_operation::sign:
        return operation::sign;
    case key_operation::verify:
        return operation::verify;
    case key_operation::encrypt:
        return operation::encrypt;
    case key_operation::decrypt:
        break;
    }
    return operation::decrypt;
}

// The operation's data wiped when it ends; kept (released) when it stays.
struct wipe_pending {
    active_operation* op;
    ~wipe_pending() {
        if (op) wipe(op->pending.data(), op->pending.size());
    }
};

// Wipes a copy of the data when the call ends, however it ends.
struct wiped_on_exit {
    bytes& b;
    ~wiped_on_exit() { wipe(b.data(), b.size()); }
};

// Takes the session's operation for the round trip. A size query (no
// `out`) or a short buffer leaves it active, as PKCS#11 says: nullopt then,
// with `rv` the answer; anything else ends it.
std::optional<active_operation> take(session& s, key_operation op, std::size_t input,
                                     CK_BYTE_PTR out, CK_ULONG_PTR out_len, CK_RV& rv) {
    std::lock_guard lock(s.mutex);
    auto& current = s.operations[index(op)];
    require(current.has_value(), CKR_OPERATION_NOT_INITIALIZED);
    if (op != key_operation::verify) {
        if (!out_len) {
            current.reset();
            throw ck_error{CKR_ARGUMENTS_BAD};
        }
        auto bound = output_bound(current->key, current->mechanism, op, input);
        // A decryption's exact size is known once it is done.
        if (!out || (*out_len < bound && op != key_operation::decrypt)) {
            rv = out ? CKR_BUFFER_TOO_SMALL : CKR_OK;
            *out_len = bound;
            return std::nullopt;
        }
    }
    std::optional<active_operation> taken = std::move(current);
    current.reset();
    return taken;
}

// The request to the node: the key, the mechanism, the data (a GCM
// decryption's with the caller's IV in front) and a verification's signature.
json request_for(const active_operation& active, key_operation op, const bytes& input,
                 const bytes* signature) {
    auto fields = active.mechanism.fields;
    fields["handle"] = active.key.handle;
    fields["mechanism"] = std::string(mechanism_name(active.mechanism.which));
    bytes data = active.mechanism.iv;
    data.insert(data.end(), input.begin(), input.end());
    fields["data"] = to_hex(data);
    wipe(data.data(), data.size());
    if (op == key_operation::verify) {
        auto expected = output_bound(active.key, active.mechanism, op, input.size());
        require(signature && signature->size() == expected, CKR_SIGNATURE_LEN_RANGE);
        auto der = der_signature(active.key, *signature);
        require(der.has_value(), CKR_SIGNATURE_LEN_RANGE);
        fields["signature"] = to_hex(*der);
    }
    return fields;
}

// The node's result as PKCS#11 gives it: ECDSA as r || s; a GCM
// encryption's IV taken off its front (it goes to the caller's pIv).
bytes result_of(const active_operation& active, key_operation op, const json& reply) {
    auto raw = reply_data(reply);
    require(raw.has_value(), CKR_DEVICE_ERROR);
    if (op == key_operation::sign) {
        auto sig = pkcs11_signature(active.key, *raw);
        require(sig.has_value(), CKR_DEVICE_ERROR);
        return std::move(*sig);
    }
    return std::move(*raw);
}

CK_RV deliver(const active_operation& active, bytes& result, CK_BYTE_PTR out,
              CK_ULONG_PTR out_len) {
    std::size_t skip = 0;
    if (active.mechanism.iv_out) {
        require(result.size() >= gcm_iv_size, CKR_DEVICE_ERROR);
        skip = gcm_iv_size;
    }
    auto size = result.size() - skip;
    if (size > *out_len) {
        *out_len = size;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (skip) std::memcpy(active.mechanism.iv_out, result.data(), skip);
    if (size) std::memcpy(out, result.data() + skip, size);
    *out_len = size;
    return CKR_OK;
}

// A token key's operation goes to any node; a session key's to its node
// alone: a node lost took the key with it (CKR_KEY_HANDLE_INVALID, as
// CloudHSM answers for a session key after a failover).
cluster_answer call_for(slot& here, const key_summary& k, operation op, const json& fields) {
    if (k.token) return here.cluster.call(op, fields);
    cluster_answer gone{cluster_answer::kind::refused, status::key_not_found, json::object()};
    auto known = here.session_keys.find(static_cast<CK_OBJECT_HANDLE>(k.handle));
    if (!known) return gone;
    auto answer = here.cluster.call_on(known->node, op, fields);
    if (answer.what != cluster_answer::kind::unreachable) return answer;
    here.session_keys.drop_node(known->node);
    return gone;
}

// Ends an operation with `input` (all its data).
CK_RV operation_finish(session& s, key_operation op, const bytes& input, const bytes* signature,
                       CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    CK_RV rv = CKR_OK;
    auto active = take(s, op, input.size(), out, out_len, rv);
    if (!active) return rv;
    wipe_pending pending_guard{&*active};
    if (auto fits = input_fits(active->mechanism, op, input.size()); fits != CKR_OK) return fits;
    auto fields = request_for(*active, op, input, signature);
    auto answer = call_for(*s.slot, active->key, node_operation(op), fields);
    // The data may be a plaintext: no copy of it outlives the call.
    wipe_data(fields);
    require(answer.what == cluster_answer::kind::ok, ck_rv(answer));
    if (op == key_operation::verify) return CKR_OK;
    auto result = result_of(*active, op, answer.fields);
    rv = deliver(*active, result, out, out_len);
    wipe(result.data(), result.size());
    if (rv == CKR_BUFFER_TOO_SMALL) {
        // The operation stays, for the call with a buffer big enough.
        pending_guard.op = nullptr;
        std::lock_guard lock(s.mutex);
        auto& current = s.operations[index(op)];
        if (!current) current = std::move(*active);
    }
    return rv;
}

bytes signature_bytes(CK_BYTE_PTR sig, CK_ULONG len) {
    return sig ? bytes(sig, sig + std::min<CK_ULONG>(len, max_crypto_data)) : bytes{};
}

} // namespace

CK_RV operation_init(session& s, key_operation op, CK_MECHANISM_PTR mechanism, CK_OBJECT_HANDLE o) {
    require(mechanism != nullptr, CKR_ARGUMENTS_BAD);
    {
        std::lock_guard lock(s.mutex);
        require(!s.operations[index(op)], CKR_OPERATION_ACTIVE);
    }
    std::optional<key_summary> k;
    try {
        k = object_of(s, o);
    } catch (const ck_error& e) {
        throw ck_error{e.rv == CKR_OBJECT_HANDLE_INVALID ? CKR_KEY_HANDLE_INVALID : e.rv};
    }
    auto m = node_mechanism_for(*mechanism, *k, op);
    if (auto* error = std::get_if<CK_RV>(&m)) return *error;
    require(flags_allow(k->flags, std::get<node_mechanism>(m).which, use_of(op)),
            CKR_KEY_FUNCTION_NOT_PERMITTED);
    std::lock_guard lock(s.mutex);
    auto& current = s.operations[index(op)];
    require(!current, CKR_OPERATION_ACTIVE);
    current = active_operation{std::move(*k), std::move(std::get<node_mechanism>(m)), {}};
    return CKR_OK;
}

namespace {

// The most data an operation takes: 64 KiB, and a decryption the
// ciphertext of 64 KiB (its padding block or GCM tag beside it).
std::size_t input_limit(key_operation op) {
    return op == key_operation::decrypt ? max_crypto_data + 16 : max_crypto_data;
}

// An error other than a short buffer ends the operation (PKCS#11 5.2):
// `rv`, or CKR_OPERATION_NOT_INITIALIZED when none was begun. Caller holds s.mutex.
CK_RV end_with(session& s, key_operation op, CK_RV rv) {
    auto& active = s.operations[index(op)];
    if (!active) return CKR_OPERATION_NOT_INITIALIZED;
    wipe(active->pending.data(), active->pending.size());
    active.reset();
    return rv;
}

} // namespace

CK_RV operation_update(session& s, key_operation op, CK_BYTE_PTR data, CK_ULONG len) {
    std::lock_guard lock(s.mutex);
    auto& active = s.operations[index(op)];
    require(active.has_value(), CKR_OPERATION_NOT_INITIALIZED);
    CK_RV rv = !data && len                                     ? CKR_ARGUMENTS_BAD
               : active->pending.size() + len > input_limit(op) ? CKR_DATA_LEN_RANGE
                                                                : CKR_OK;
    if (rv != CKR_OK) return end_with(s, op, rv);
    active->pending.insert(active->pending.end(), data, data + len);
    return CKR_OK;
}

CK_RV operation_once(session& s, key_operation op, CK_BYTE_PTR data, CK_ULONG len,
                     const bytes* signature, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    CK_RV rv = !data && len            ? CKR_ARGUMENTS_BAD
               : len > input_limit(op) ? CKR_DATA_LEN_RANGE
                                       : CKR_OK;
    if (rv != CKR_OK) {
        std::lock_guard lock(s.mutex);
        return end_with(s, op, rv);
    }
    bytes input(data, data + len);
    wiped_on_exit guard{input};
    return operation_finish(s, op, input, signature, out, out_len);
}

CK_RV operation_final(session& s, key_operation op, const bytes* signature, CK_BYTE_PTR out,
                      CK_ULONG_PTR out_len) {
    bytes data;
    {
        std::lock_guard lock(s.mutex);
        const auto& active = s.operations[index(op)];
        require(active.has_value(), CKR_OPERATION_NOT_INITIALIZED);
        data = active->pending;
    }
    wiped_on_exit guard{data};
    return operation_finish(s, op, data, signature, out, out_len);
}

CK_RV verify(session& s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig, CK_ULONG sig_len) {
    auto signature = signature_bytes(sig, sig_len);
    return operation_once(s, key_operation::verify, data, len, &signature, nullptr, nullptr);
}

CK_RV verify_final(session& s, CK_BYTE_PTR sig, CK_ULONG sig_len) {
    auto signature = signature_bytes(sig, sig_len);
    return operation_final(s, key_operation::verify, &signature, nullptr, nullptr);
}

} // namespace hsm::p11

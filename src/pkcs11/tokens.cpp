// SPDX-License-Identifier: Apache-2.0
// Slot, token and mechanism information; random numbers from the nodes.
#include "tokens.hpp"

#include "hsmsh/hex.hpp"
#include "library.hpp"
#include "mechanism_table.hpp"
#include "sessions.hpp"

#include <algorithm>
#include <cstring>

namespace hsm::p11 {
namespace {

// Space-padded, not NUL-terminated, as PKCS#11's fixed-size strings are.
template <std::size_t N> void pad(CK_UTF8CHAR (&field)[N], std::string_view text) {
    std::memset(field, ' ', N);
    std::memcpy(field, text.data(), std::min(N, text.size()));
}

// The two-call convention of a list: its size, or the list when it fits.
template <typename T, typename F>
CK_RV fill_list(std::size_t size, T* list, CK_ULONG_PTR count, F item) {
    require(count != nullptr, CKR_ARGUMENTS_BAD);
    auto n = static_cast<CK_ULONG>(size);
    if (list && *count < n) {
        *count = n;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (list)
        for (CK_ULONG i = 0; i < n; ++i)
            list[i] = item(i);
    *count = n;
    return CKR_OK;
}

} // namespace

CK_RV get_info(CK_INFO_PTR info) {
    library::get().current();
    require(info != nullptr, CKR_ARGUMENTS_BAD);
    *info = {};
    info->cryptokiVersion = {2, 40};
    pad(info->manufacturerID, "hsmsh");
    pad(info->libraryDescription, "hsmsh PKCS#11 module");
    info->libraryVersion = {0, 3};
    return CKR_OK;
}

CK_RV get_slot_list(CK_BBOOL, CK_SLOT_ID_PTR list, CK_ULONG_PTR count) {
    auto now = library::get().current();
    return fill_list(now->slots.size(), list, count, [](CK_ULONG i) { return CK_SLOT_ID{i}; });
}

CK_RV get_slot_info(CK_SLOT_ID id, CK_SLOT_INFO_PTR info) {
    auto s = library::get().slot_of(id);
    require(info != nullptr, CKR_ARGUMENTS_BAD);
    *info = {};
    pad(info->slotDescription, "hsmsh cluster " + s->cluster.cluster_id());
    pad(info->manufacturerID, "hsmsh");
    info->flags = CKF_TOKEN_PRESENT;
    info->hardwareVersion = {0, 3};
    info->firmwareVersion = {0, 3};
    return CKR_OK;
}

CK_RV get_token_info(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info) {
    auto s = library::get().slot_of(id);
    require(info != nullptr, CKR_ARGUMENTS_BAD);
    *info = {};
    const auto& cluster = s->cluster.cluster_id();
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

CK_RV get_mechanism_list(CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count) {
    library::get().slot_of(id);
    auto all = mechanisms();
    return fill_list(all.size(), list, count, [&](CK_ULONG i) { return all[i].type; });
}

CK_RV get_mechanism_info(CK_SLOT_ID id, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info) {
    library::get().slot_of(id);
    require(info != nullptr, CKR_ARGUMENTS_BAD);
    const auto* m = find_mechanism(type);
    require(m != nullptr, CKR_MECHANISM_INVALID);
    *info = {m->min_bits, m->max_bits, m->flags};
    return CKR_OK;
}

CK_RV generate_random(session& s, CK_BYTE_PTR out, CK_ULONG len) {
    require(out || !len, CKR_ARGUMENTS_BAD);
    auto& cluster = s.slot->cluster;
    // The nodes give random bytes to a logged-in user.
    require(cluster.logged_in(), CKR_USER_NOT_LOGGED_IN);
    for (CK_ULONG done = 0; done < len;) {
        auto n = std::min<CK_ULONG>(len - done, 4096);
        auto answer = cluster.call(operation::random, json{{"bytes", n}});
        require(answer.what == cluster_answer::kind::ok, ck_rv(answer));
        auto got = reply_data(answer.fields);
        require(got && got->size() == n, CKR_DEVICE_ERROR);
        std::memcpy(out + done, got->data(), n);
        done += n;
    }
    return CKR_OK;
}

void destroy_session_key(slot& here, std::size_t node, std::int64_t handle) {
    here.session_keys.remove(static_cast<CK_OBJECT_HANDLE>(handle));
    here.cluster.call_on(node, operation::destroy_session_key, json{{"handle", handle}});
}

CK_RV seed_random(session&, CK_BYTE_PTR seed, CK_ULONG len) {
    require(seed || !len, CKR_ARGUMENTS_BAD);
    // The nodes draw from OpenSSL's generator, which the system seeds; an
    // application's bytes are not mixed into what other users receive.
    return CKR_RANDOM_SEED_NOT_SUPPORTED;
}

CK_RV wait_for_slot_event(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved) {
    library::get().current();
    require(slot != nullptr && reserved == nullptr, CKR_ARGUMENTS_BAD);
    return (flags & CKF_DONT_BLOCK) ? CKR_NO_EVENT : CKR_FUNCTION_NOT_SUPPORTED;
}

} // namespace hsm::p11

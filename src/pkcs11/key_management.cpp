// SPDX-License-Identifier: Apache-2.0
// C_GenerateKey(Pair), C_DestroyObject and C_SetAttributeValue.
#include "key_management.hpp"

#include "hsmsh/protocol/changes.hpp"
#include "library.hpp"
#include "requests.hpp"
#include "sessions.hpp"
#include "tokens.hpp"

namespace hsm::p11 {
namespace {

// The slot of a read/write session whose user is logged in.
slot& writable(session& s) {
    require((s.flags & CKF_RW_SESSION) != 0, CKR_SESSION_READ_ONLY);
    require(s.slot->cluster.logged_in(), CKR_USER_NOT_LOGGED_IN);
    return *s.slot;
}

CK_RV generate(session& s, CK_MECHANISM_PTR m, const CK_ATTRIBUTE* public_tmpl,
               CK_ULONG public_count, const CK_ATTRIBUTE* private_tmpl, CK_ULONG private_count,
               CK_OBJECT_HANDLE_PTR public_key, CK_OBJECT_HANDLE_PTR main_key) {
    require((s.flags & CKF_RW_SESSION) != 0, CKR_SESSION_READ_ONLY);
    require(m && main_key, CKR_ARGUMENTS_BAD);
    require(!m->pParameter && !m->ulParameterLen, CKR_MECHANISM_PARAM_INVALID);
    auto& here = writable(s);
    auto request =
        generation_request(m->mechanism, public_tmpl, public_count, private_tmpl, private_count);
    if (auto* error = std::get_if<CK_RV>(&request)) return *error;
    std::vector<sealed_key> made;
    auto answer = here.cluster.generate(std::get<json>(request), made);
    require(answer.what == cluster_answer::kind::ok, ck_rv(answer));
    for (const auto& k : made) {
        auto handle = static_cast<CK_OBJECT_HANDLE>(k.handle);
        if (k.cls == key_class::public_key)
            *(public_key ? public_key : main_key) = handle;
        else
            *main_key = handle;
    }
    return CKR_OK;
}

// A change refused for a handle names no object of this user's.
CK_RV change_rv(const cluster_answer& a) {
    if (a.what == cluster_answer::kind::refused && a.code == status::key_not_found)
        return CKR_OBJECT_HANDLE_INVALID;
    return ck_rv(a);
}

// One set_attribute change per attribute of the template, all checked first.
std::vector<change_request> attribute_changes(CK_OBJECT_HANDLE o, const CK_ATTRIBUTE* tmpl,
                                              CK_ULONG count) {
    std::vector<change_request> changes;
    for (CK_ULONG i = 0; i < count; ++i) {
        const auto& a = tmpl[i];
        const auto* info = find_key_attribute(static_cast<std::uint32_t>(a.type));
        require(info != nullptr, CKR_ATTRIBUTE_TYPE_INVALID);
        require(info->settable, CKR_ATTRIBUTE_READ_ONLY);
        std::string value;
        if (info->id == key_attribute::label) {
            require(a.pValue || !a.ulValueLen, CKR_ARGUMENTS_BAD);
            value.assign(static_cast<const char*>(a.pValue), a.ulValueLen);
            require(valid_key_label(value), CKR_ATTRIBUTE_VALUE_INVALID);
        } else {
            require(a.pValue && a.ulValueLen == sizeof(CK_BBOOL), CKR_ATTRIBUTE_VALUE_INVALID);
            value = *static_cast<const CK_BBOOL*>(a.pValue) ? "1" : "0";
        }
        changes.push_back(key_attribute_change{static_cast<std::int64_t>(o),
                                               static_cast<std::uint32_t>(info->id), value});
    }
    return changes;
}

} // namespace

CK_RV generate_key(session& s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                   CK_OBJECT_HANDLE_PTR key) {
    if (m && (m->mechanism == CKM_EC_KEY_PAIR_GEN || m->mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN))
        return CKR_MECHANISM_INVALID;
    return generate(s, m, nullptr, 0, tmpl, count, nullptr, key);
}

CK_RV generate_key_pair(session& s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR public_tmpl,
                        CK_ULONG public_count, CK_ATTRIBUTE_PTR private_tmpl,
                        CK_ULONG private_count, CK_OBJECT_HANDLE_PTR public_key,
                        CK_OBJECT_HANDLE_PTR private_key) {
    require(public_key != nullptr, CKR_ARGUMENTS_BAD);
    if (m && m->mechanism != CKM_EC_KEY_PAIR_GEN && m->mechanism != CKM_RSA_PKCS_KEY_PAIR_GEN)
        return CKR_MECHANISM_INVALID;
    return generate(s, m, public_tmpl, public_count, private_tmpl, private_count, public_key,
                    private_key);
}

CK_RV destroy_object(session& s, CK_OBJECT_HANDLE o) {
    auto& here = writable(s);
    auto answer = here.cluster.change(key_destruction{static_cast<std::int64_t>(o)});
    if (answer.what == cluster_answer::kind::ok) here.objects.forget(o);
    return change_rv(answer);
}

CK_RV set_attribute_value(session& s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count) {
    auto& here = writable(s);
    require(tmpl || !count, CKR_ARGUMENTS_BAD);
    for (auto& c : attribute_changes(o, tmpl, count)) {
        auto answer = here.cluster.change(std::move(c));
        if (answer.what != cluster_answer::kind::ok) {
            here.objects.forget(o);
            return change_rv(answer);
        }
    }
    here.objects.forget(o); // read anew when next asked
    return CKR_OK;
}

} // namespace hsm::p11

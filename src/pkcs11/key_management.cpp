// SPDX-License-Identifier: Apache-2.0
// C_GenerateKey(Pair), C_DestroyObject and C_SetAttributeValue.
#include "key_management.hpp"

#include "hsmsh/hex.hpp"
#include "hsmsh/protocol/changes.hpp"
#include "library.hpp"
#include "mechanism_table.hpp"
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

// Where a generation's keys go: the pair's public half to `public_key`.
void hand_out(key_class cls, std::int64_t handle, CK_OBJECT_HANDLE_PTR public_key,
              CK_OBJECT_HANDLE_PTR main_key) {
    auto h = static_cast<CK_OBJECT_HANDLE>(handle);
    *(cls == key_class::public_key && public_key ? public_key : main_key) = h;
}

// Whether `s` is still in the instance's table: C_CloseSession takes it out
// before it destroys the objects the session made.
bool still_open(const session& s) {
    try {
        library::get().session_of(s.handle);
        return true;
    } catch (const ck_error&) {
        return false;
    }
}

// Why a key was not made: a node refusing a key brought in, whose
// template the module checked already, refuses its value (the parts make
// no key it could have made).
CK_RV made_rv(operation op, const cluster_answer& a) {
    if (op == operation::import_key && a.what == cluster_answer::kind::refused &&
        a.code == status::attribute_invalid)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    return ck_rv(a);
}

// A session key: made (`op`: generate_key, import_key) on one node, which
// keeps it for this login; the module remembers the node and the session
// that made it. Read-only sessions make them too (the standard's rule).
CK_RV make_in_session(session& s, operation op, const json& request,
                      CK_OBJECT_HANDLE_PTR public_key, CK_OBJECT_HANDLE_PTR main_key,
                      std::optional<std::size_t> on) {
    auto& here = *s.slot;
    require(here.cluster.logged_in(), CKR_USER_NOT_LOGGED_IN);
    // On the node asked for, else where the login's session objects live
    // (any two may then be used together), else any.
    auto home = on ? on : here.session_keys.home();
    std::size_t node = home.value_or(0);
    cluster_answer answer;
    if (home) answer = here.cluster.call_on(node, op, request);
    if (!home || (!on && answer.what == cluster_answer::kind::unreachable)) {
        if (home) here.session_keys.drop_node(*home); // that node took them with it
        answer = here.cluster.call(op, request, &node);
    }
    require(answer.what == cluster_answer::kind::ok, made_rv(op, answer));
    auto page = key_page_from(answer.fields);
    require(page && !page->keys.empty(), CKR_DEVICE_ERROR);
    // A node's answer is checked, not trusted: session keys under session handles.
    for (const auto& k : page->keys)
        require(!k.token && is_session_object(static_cast<CK_OBJECT_HANDLE>(k.handle)),
                CKR_DEVICE_ERROR);
    bool kept = true;
    for (const auto& k : page->keys)
        kept = here.session_keys.add({k, node, s.handle}) && kept;
    // A handle another node drew for this login already (one in 2^31), or
    // the session closed while its key was made (its objects are already
    // gone): the new keys go too.
    CK_RV rv = !kept ? CKR_FUNCTION_FAILED : !still_open(s) ? CKR_SESSION_CLOSED : CKR_OK;
    if (rv != CKR_OK) {
        for (const auto& k : page->keys)
            destroy_session_key(here, node, k.handle);
        return rv;
    }
    for (const auto& k : page->keys)
        hand_out(k.cls, k.handle, public_key, main_key);
    return CKR_OK;
}

// A key made (`op`: generate_key, import_key, unwrap_key) as `request`
// says, by node `on` if given (what it alone holds is used): a session key,
// or a token key made on one node and inserted on all.
CK_RV make(session& s, operation op, const json& request, bool token,
           CK_OBJECT_HANDLE_PTR public_key, CK_OBJECT_HANDLE_PTR main_key,
           std::optional<std::size_t> on = std::nullopt) {
    if (!token) return make_in_session(s, op, request, public_key, main_key, on);
    auto& here = writable(s);
    std::vector<sealed_key> made;
    auto answer = here.cluster.generate(op, request, made, on);
    require(answer.what == cluster_answer::kind::ok, made_rv(op, answer));
    for (const auto& k : made)
        hand_out(k.cls, k.handle, public_key, main_key);
    return CKR_OK;
}

CK_RV generate(session& s, CK_MECHANISM_PTR m, const CK_ATTRIBUTE* public_tmpl,
               CK_ULONG public_count, const CK_ATTRIBUTE* private_tmpl, CK_ULONG private_count,
               CK_OBJECT_HANDLE_PTR public_key, CK_OBJECT_HANDLE_PTR main_key) {
    require(m && main_key, CKR_ARGUMENTS_BAD);
    require(!m->pParameter && !m->ulParameterLen, CKR_MECHANISM_PARAM_INVALID);
    auto request =
        generation_request(m->mechanism, public_tmpl, public_count, private_tmpl, private_count);
    if (auto* error = std::get_if<CK_RV>(&request)) return *error;
    const auto& [fields, token] = std::get<generation>(request);
    return make(s, operation::generate_key, fields, token, public_key, main_key);
}

// A change refused for a handle names no object of this user's.
CK_RV change_rv(const cluster_answer& a) {
    if (a.what == cluster_answer::kind::refused && a.code == status::key_not_found)
        return CKR_OBJECT_HANDLE_INVALID;
    // A key shared with the user, which only its owner changes.
    if (a.what == cluster_answer::kind::refused && a.code == status::permission_denied)
        return CKR_ACTION_PROHIBITED;
    return ck_rv(a);
}

// A settable attribute's value as setAttribute carries it: a label as it is,
// an id in hex, a flag "1" or "0".
std::string attribute_text(const attribute_info& info, const CK_ATTRIBUTE& a) {
    require(a.pValue || !a.ulValueLen, CKR_ARGUMENTS_BAD);
    require(a.ulValueLen <= 4 * max_key_label, CKR_ATTRIBUTE_VALUE_INVALID);
    const auto* p = static_cast<const std::uint8_t*>(a.pValue);
    if (info.id == key_attribute::label) return std::string(p, p + a.ulValueLen);
    if (info.id == key_attribute::id) return to_hex(std::span(p, a.ulValueLen));
    require(a.ulValueLen == sizeof(CK_BBOOL), CKR_ATTRIBUTE_VALUE_INVALID);
    return *p ? "1" : "0";
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
        auto value = attribute_text(*info, a);
        require(valid_attribute_value(*info, value), CKR_ATTRIBUTE_VALUE_INVALID);
        changes.push_back(key_attribute_change{static_cast<std::int64_t>(o),
                                               static_cast<std::uint32_t>(info->id), value});
    }
    return changes;
}

// CKR_ATTRIBUTE_READ_ONLY when the template names an attribute `k` has that
// no change reaches (a certificate's subject, read from its DER), rather
// than calling it unknown; else CKR_OK.
CK_RV unreachable_attribute(const key_summary& k, const CK_ATTRIBUTE* tmpl, CK_ULONG count) {
    for (CK_ULONG i = 0; i < count; ++i)
        if (!find_key_attribute(static_cast<std::uint32_t>(tmpl[i].type)) &&
            attribute_of(k, tmpl[i].type).error != CKR_ATTRIBUTE_TYPE_INVALID)
            return CKR_ATTRIBUTE_READ_ONLY;
    return CKR_OK;
}

// A session object, destroyed on its node at once; a read-only session may
// (the standard's rule). A node lost took it with it.
CK_RV destroy_session_object(session& s, CK_OBJECT_HANDLE o) {
    auto& here = *s.slot;
    require(here.cluster.logged_in(), CKR_USER_NOT_LOGGED_IN);
    auto known = here.session_keys.find(o);
    require(known.has_value(), CKR_OBJECT_HANDLE_INVALID);
    destroy_session_key(here, known->node, known->key.handle);
    return CKR_OK;
}

// A session object's label and id, which the module keeps (the node's copy
// is seen by nobody else); its flags are as it was made (CKR_ATTRIBUTE_READ_ONLY).
CK_RV relabel_session_object(session& s, CK_OBJECT_HANDLE o, const CK_ATTRIBUTE* tmpl,
                             CK_ULONG count) {
    auto& here = *s.slot;
    require(here.cluster.logged_in(), CKR_USER_NOT_LOGGED_IN);
    require(tmpl || !count, CKR_ARGUMENTS_BAD);
    auto known = here.session_keys.find(o);
    require(known.has_value(), CKR_OBJECT_HANDLE_INVALID);
    auto key = known->key;
    if (auto rv = unreachable_attribute(key, tmpl, count); rv != CKR_OK) return rv;
    for (CK_ULONG i = 0; i < count; ++i) {
        const auto* info = find_key_attribute(static_cast<std::uint32_t>(tmpl[i].type));
        require(info != nullptr, CKR_ATTRIBUTE_TYPE_INVALID);
        bool named = info->id == key_attribute::label || info->id == key_attribute::id;
        require(named, CKR_ATTRIBUTE_READ_ONLY);
        auto value = attribute_text(*info, tmpl[i]);
        require(valid_attribute_value(*info, value), CKR_ATTRIBUTE_VALUE_INVALID);
        (info->id == key_attribute::label ? key.label : key.id) = value;
    }
    require(here.session_keys.describe(o, key.label, key.id), CKR_OBJECT_HANDLE_INVALID);
    return CKR_OK;
}

// Whether `m` makes a key pair (the mechanism table's CKF_GENERATE_KEY_PAIR).
bool makes_pair(const CK_MECHANISM* m) noexcept {
    const auto* entry = m ? find_mechanism(m->mechanism) : nullptr;
    return entry && (entry->flags & CKF_GENERATE_KEY_PAIR) != 0;
}

} // namespace

CK_RV generate_key(session& s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                   CK_OBJECT_HANDLE_PTR key) {
    if (makes_pair(m)) return CKR_MECHANISM_INVALID;
    return generate(s, m, nullptr, 0, tmpl, count, nullptr, key);
}

CK_RV generate_key_pair(session& s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR public_tmpl,
                        CK_ULONG public_count, CK_ATTRIBUTE_PTR private_tmpl,
                        CK_ULONG private_count, CK_OBJECT_HANDLE_PTR public_key,
                        CK_OBJECT_HANDLE_PTR private_key) {
    require(public_key != nullptr, CKR_ARGUMENTS_BAD);
    if (m && !makes_pair(m)) return CKR_MECHANISM_INVALID;
    return generate(s, m, public_tmpl, public_count, private_tmpl, private_count, public_key,
                    private_key);
}

CK_RV create_object(session& s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                    CK_OBJECT_HANDLE_PTR object) {
    require(object != nullptr, CKR_ARGUMENTS_BAD);
    auto request = import_request(tmpl, count);
    if (auto* error = std::get_if<CK_RV>(&request)) return *error;
    auto& [fields, token] = std::get<generation>(request);
    // The key's material leaves with the request, and nowhere else.
    struct wiped {
        json& fields;
        ~wiped() { wipe_data(fields); }
    } material_wiped{fields};
    return make(s, operation::import_key, fields, token, nullptr, object);
}

CK_RV copy_object(session& s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                  CK_OBJECT_HANDLE_PTR copy) {
    require(copy != nullptr, CKR_ARGUMENTS_BAD);
    require(s.slot->cluster.logged_in(), CKR_USER_NOT_LOGGED_IN);
    auto request = copy_request(object_of(s, o), tmpl, count);
    if (auto* error = std::get_if<CK_RV>(&request)) return *error;
    const auto& [fields, token] = std::get<generation>(request);
    return make(s, operation::import_key, fields, token, nullptr, copy);
}

CK_RV destroy_object(session& s, CK_OBJECT_HANDLE o) {
    if (is_session_object(o)) return destroy_session_object(s, o);
    auto& here = writable(s);
    auto answer = here.cluster.change(key_destruction{static_cast<std::int64_t>(o)});
    if (answer.what == cluster_answer::kind::ok) here.objects.forget(o);
    return change_rv(answer);
}

CK_RV make_key(session& s, operation op, const json& request, bool token, CK_OBJECT_HANDLE_PTR key,
               std::optional<std::size_t> on) {
    require(key != nullptr, CKR_ARGUMENTS_BAD);
    return make(s, op, request, token, nullptr, key, on);
}

CK_RV set_attribute_value(session& s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count) {
    if (is_session_object(o)) return relabel_session_object(s, o, tmpl, count);
    auto& here = writable(s);
    require(tmpl || !count, CKR_ARGUMENTS_BAD);
    if (auto rv = unreachable_attribute(object_of(s, o), tmpl, count); rv != CKR_OK) return rv;
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

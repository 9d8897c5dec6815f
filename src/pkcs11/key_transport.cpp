// SPDX-License-Identifier: Apache-2.0
// C_WrapKey and C_UnwrapKey: a key its owner may take away, encrypted under
// a key-encryption key by a node, and a wrapped key brought in as a new one.
// The nodes hold the wrap policy; the module checks what it can first.
#include "key_transport.hpp"

#include "hsmsh/hex.hpp"
#include "hsmsh/protocol/requests.hpp"
#include "key_import.hpp"
#include "key_management.hpp"
#include "library.hpp"
#include "objects.hpp"
#include "operations.hpp"
#include "sessions.hpp"
#include "tokens.hpp"

#include <algorithm>
#include <cstring>
#include <span>

namespace hsm::p11 {
namespace {

// The node mechanism of a wrapping (`wrap`) or an unwrapping with key `k`:
// an AES key wrap, which takes no parameter here (the standard IVs), or
// AES-GCM, whose parameters are an encryption's or a decryption's.
std::variant<CK_RV, node_mechanism> transport_mechanism(const CK_MECHANISM& m, const key_summary& k,
                                                        bool wrap) {
    const auto* entry = find_mechanism(m.mechanism);
    require(entry && (entry->flags & (wrap ? CKF_WRAP : CKF_UNWRAP)) != 0, CKR_MECHANISM_INVALID);
    auto parsed = mechanism_from_name(entry->node_name);
    require(parsed.has_value(), CKR_MECHANISM_INVALID);
    auto use = wrap ? key_use::wrap : key_use::unwrap;
    require(mechanism_fits(*parsed, use, k.type, k.cls),
            wrap ? CKR_WRAPPING_KEY_TYPE_INCONSISTENT : CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT);
    require(flags_allow(k.flags, *parsed, use), CKR_KEY_FUNCTION_NOT_PERMITTED);
    if (is_key_wrap(*parsed)) {
        require(!m.pParameter && !m.ulParameterLen, CKR_MECHANISM_PARAM_INVALID);
        node_mechanism plain;
        plain.which = *parsed;
        return plain;
    }
    return node_mechanism_for(m, k, wrap ? key_operation::encrypt : key_operation::decrypt);
}

// The node that holds what a call names: a session key's own, else any.
std::optional<std::size_t> node_of(slot& here, const key_summary& k) {
    if (k.token) return std::nullopt;
    auto known = here.session_keys.find(static_cast<CK_OBJECT_HANDLE>(k.handle));
    require(known.has_value(), CKR_KEY_HANDLE_INVALID);
    return known->node;
}

// CK_ECDH1_DERIVE_PARAMS as derive_key's fields: a KDF the nodes have,
// shared data (none with CKD_NULL), and the peer's point on the base key's
// curve, bare or DER-wrapped (bare_point; anything else goes as it is, for
// the node to refuse).
json ecdh_fields(const CK_MECHANISM& m, int curve_bits) {
    CK_ECDH1_DERIVE_PARAMS p;
    require(m.pParameter && m.ulParameterLen == sizeof p, CKR_MECHANISM_PARAM_INVALID);
    std::memcpy(&p, m.pParameter, sizeof p);
    static constexpr std::pair<CK_ULONG, std::string_view> kdfs[]{
        {CKD_NULL, "null"},         {CKD_SHA1_KDF, "sha1"},     {CKD_SHA224_KDF, "sha224"},
        {CKD_SHA256_KDF, "sha256"}, {CKD_SHA384_KDF, "sha384"}, {CKD_SHA512_KDF, "sha512"}};
    const auto* kdf = std::find_if(std::begin(kdfs), std::end(kdfs),
                                   [&](const auto& k) { return k.first == p.kdf; });
    require(kdf != std::end(kdfs), CKR_MECHANISM_PARAM_INVALID);
    require(p.ulSharedDataLen <= max_shared_data && (p.pSharedData || !p.ulSharedDataLen) &&
                (p.kdf != CKD_NULL || !p.ulSharedDataLen),
            CKR_MECHANISM_PARAM_INVALID);
    require(p.pPublicData && p.ulPublicDataLen >= 2 && p.ulPublicDataLen <= max_public_point + 2,
            CKR_MECHANISM_PARAM_INVALID);
    bytes given(p.pPublicData, p.pPublicData + p.ulPublicDataLen);
    auto point = bare_point(given, curve_bits).value_or(given);
    json fields{{"kdf", kdf->second}, {"point", to_hex(point)}};
    if (p.ulSharedDataLen) fields["shared"] = to_hex(std::span(p.pSharedData, p.ulSharedDataLen));
    return fields;
}

// Why a node did not wrap.
CK_RV wrap_rv(const cluster_answer& a) {
    if (a.what == cluster_answer::kind::refused && a.code == status::key_not_found)
        return CKR_KEY_HANDLE_INVALID;
    return ck_rv(a);
}

} // namespace

CK_RV wrap_key(session& s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
               CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
    require(m && out_len, CKR_ARGUMENTS_BAD);
    auto& here = *s.slot;
    require(here.cluster.logged_in(), CKR_USER_NOT_LOGGED_IN);
    auto kek = object_of(s, wrapping);
    auto target = object_of(s, key);
    auto mechanism = transport_mechanism(*m, kek, true);
    if (auto* error = std::get_if<CK_RV>(&mechanism)) return *error;
    auto& mech = std::get<node_mechanism>(mechanism);
    require(target.cls == key_class::secret_key || target.cls == key_class::private_key,
            CKR_KEY_NOT_WRAPPABLE);
    require(target.flags.extractable, CKR_KEY_UNEXTRACTABLE);
    // Session keys live on one node: both, if either is one, on the same.
    auto kek_node = node_of(here, kek);
    auto key_node = node_of(here, target);
    require(!kek_node || !key_node || *kek_node == *key_node, CKR_KEY_NOT_WRAPPABLE);
    auto fields = mech.fields;
    fields["handle"] = kek.handle;
    fields["key"] = target.handle;
    fields["mechanism"] = std::string(mechanism_name(mech.which));
    auto node = kek_node ? kek_node : key_node;
    auto answer = node ? here.cluster.call_on(*node, operation::wrap_key, fields)
                       : here.cluster.call(operation::wrap_key, fields);
    if (answer.what == cluster_answer::kind::unreachable && node) return CKR_KEY_HANDLE_INVALID;
    require(answer.what == cluster_answer::kind::ok, wrap_rv(answer));
    auto data = answer.fields.find("data");
    auto blob = data != answer.fields.end() && data->is_string()
                    ? from_hex(data->get<std::string>())
                    : std::nullopt;
    // A GCM wrapping's IV, the node's, goes where the caller's parameters say.
    std::size_t skip = mech.iv_out ? gcm_iv_size : 0;
    require(blob && blob->size() > skip, CKR_DEVICE_ERROR);
    auto size = blob->size() - skip;
    if (!out) {
        *out_len = size;
        return CKR_OK;
    }
    if (*out_len < size) {
        *out_len = size;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (skip) std::memcpy(mech.iv_out, blob->data(), skip);
    std::memcpy(out, blob->data() + skip, size);
    *out_len = size;
    return CKR_OK;
}

CK_RV unwrap_key(session& s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE unwrapping, CK_BYTE_PTR wrapped,
                 CK_ULONG wrapped_len, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                 CK_OBJECT_HANDLE_PTR key) {
    require(m && key && (wrapped || !wrapped_len), CKR_ARGUMENTS_BAD);
    require(wrapped_len > 0 && wrapped_len <= max_wrapped_key, CKR_WRAPPED_KEY_LEN_RANGE);
    auto& here = *s.slot;
    require(here.cluster.logged_in(), CKR_USER_NOT_LOGGED_IN);
    auto kek = object_of(s, unwrapping);
    auto mechanism = transport_mechanism(*m, kek, false);
    if (auto* error = std::get_if<CK_RV>(&mechanism)) return *error;
    const auto& mech = std::get<node_mechanism>(mechanism);
    // A GCM unwrapping's IV travels in front of the blob, within the bound.
    require(wrapped_len + mech.iv.size() <= max_wrapped_key, CKR_WRAPPED_KEY_LEN_RANGE);
    auto request = unwrap_request(tmpl, count, kek.flags.unwrap_template);
    if (auto* error = std::get_if<CK_RV>(&request)) return *error;
    auto& [fields, token] = std::get<generation>(request);
    for (const auto& [name, value] : mech.fields.items())
        fields[name] = value;
    bytes data(mech.iv); // a GCM unwrapping's IV, in front
    data.insert(data.end(), wrapped, wrapped + wrapped_len);
    fields["handle"] = kek.handle;
    fields["mechanism"] = std::string(mechanism_name(mech.which));
    fields["data"] = to_hex(data);
    return make_key(s, operation::unwrap_key, fields, token, key, node_of(here, kek));
}

CK_RV derive_key(session& s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE base, CK_ATTRIBUTE_PTR tmpl,
                 CK_ULONG count, CK_OBJECT_HANDLE_PTR key) {
    require(m && key, CKR_ARGUMENTS_BAD);
    require(m->mechanism == CKM_ECDH1_DERIVE, CKR_MECHANISM_INVALID);
    auto& here = *s.slot;
    require(here.cluster.logged_in(), CKR_USER_NOT_LOGGED_IN);
    auto k = object_of(s, base);
    require(k.type == key_type::ec && k.cls == key_class::private_key, CKR_KEY_TYPE_INCONSISTENT);
    require(k.flags.derive, CKR_KEY_FUNCTION_NOT_PERMITTED);
    auto parameters = ecdh_fields(*m, k.bits);
    auto request = derivation_request(tmpl, count);
    if (auto* error = std::get_if<CK_RV>(&request)) return *error;
    auto& [fields, token] = std::get<generation>(request);
    fields.update(parameters);
    fields["handle"] = k.handle;
    return make_key(s, operation::derive_key, fields, token, key, node_of(here, k));
}

} // namespace hsm::p11

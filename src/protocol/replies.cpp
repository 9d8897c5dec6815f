// SPDX-License-Identifier: Apache-2.0
// Decoders of the node replies the shell reads (hsmsh/protocol/replies.hpp).
#include "hsmsh/protocol/replies.hpp"

namespace hsm {
namespace {

// The member `key` of an object, or null.
const json& member(const json& j, const char* key) {
    static const json none;
    if (!j.is_object()) return none;
    auto it = j.find(key);
    return it == j.end() ? none : *it;
}

} // namespace

std::optional<std::int64_t> m_value_from(const json& fields) {
    return integer_field(fields, "m");
}

std::optional<std::int64_t> owned_keys_from(const json& fields) {
    return integer_field(fields, "keys");
}

token_summary token_summary_from(const json& token) {
    token_summary t;
    if (!token.is_object()) return t;
    t.id = integer_field(token, "id").value_or(0);
    t.service = integer_field(token, "service").value_or(0);
    t.user = string_field(token, "user").value_or("");
    t.validity = integer_field(token, "validity").value_or(0);
    t.required = integer_field(token, "required");
    t.approvals = integer_field(token, "approvals");
    if (const auto& list = member(token, "approvers"); list.is_array())
        for (const auto& a : list)
            t.approvers.push_back(a.is_string() ? std::optional(a.get<std::string>())
                                                : std::nullopt);
    return t;
}

json to_json(const token_summary& t) {
    json approvers = json::array();
    for (const auto& a : t.approvers)
        approvers.push_back(a ? json(*a) : json());
    json j{{"id", t.id},
           {"service", t.service},
           {"user", t.user},
           {"validity", t.validity},
           {"approvers", std::move(approvers)}};
    if (t.required) j["required"] = *t.required;
    if (t.approvals) j["approvals"] = *t.approvals;
    return j;
}

json to_json(const std::vector<token_summary>& tokens) {
    json list = json::array();
    for (const auto& t : tokens)
        list.push_back(to_json(t));
    return list;
}

std::vector<token_summary> token_list_from(const json& fields) {
    std::vector<token_summary> tokens;
    if (const auto& list = member(fields, "tokens"); list.is_array())
        for (const auto& t : list)
            tokens.push_back(token_summary_from(t));
    return tokens;
}

token_grant token_grant_from(const json& fields) {
    return {token_summary_from(member(fields, "token")),
            string_field(fields, "record").value_or("")};
}

approve_token_reply approve_token_reply_from(const json& fields) {
    approve_token_reply a{std::nullopt, std::nullopt};
    if (!fields.is_object()) return a;
    if (fields.contains("token")) a.token = token_summary_from(fields.at("token"));
    if (fields.contains("approver")) a.approver = string_field(fields, "approver").value_or("");
    return a;
}

challenge_reply challenge_from(const json& fields) {
    return {string_field(fields, "hsm_id").value_or(""),
            string_field(fields, "challenge").value_or("")};
}

user_record_reply user_record_from(const json& fields) {
    user_record_reply r{std::nullopt, string_field(fields, "digest")};
    if (const auto& record = member(fields, "record"); !record.is_null())
        r.record = sealed_user_from(record);
    return r;
}

tx_status_reply tx_status_from(const json& fields) {
    return {string_field(fields, "outcome").value_or(""),
            string_field(fields, "change").value_or("")};
}

} // namespace hsm

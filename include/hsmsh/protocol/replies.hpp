// SPDX-License-Identifier: Apache-2.0
// Node replies the shell reads, typed: one total decoder each (the replies
// the node and the module share are in hsmsh/protocol/payloads.hpp).
#pragma once

#include "hsmsh/protocol/payloads.hpp"
#include "hsmsh/protocol/wire.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hsm {

/// A get_m_value reply: the service's m on that node. Nullopt unless
/// `fields` has an integer "m".
std::optional<std::int64_t> m_value_from(const json& fields);

/// A refusal RET_USER_OWNS_KEYS: how many keys the user owns on that node.
/// Nullopt unless `fields` has an integer "keys".
std::optional<std::int64_t> owned_keys_from(const json& fields);

/// One quorum token as a node shows it (list_tokens, get_token,
/// approve_token). Shown, and checked for approval before a banner; the
/// node decides. Fields missing or of another type read as absent: 0,
/// empty, nullopt.
struct token_summary {
    std::int64_t id = 0;
    std::int64_t service = 0;
    std::string user;
    std::int64_t validity = 0; // seconds left
    std::optional<std::int64_t> required;
    std::optional<std::int64_t> approvals;
    // The approvers' names; nullopt for an entry that is not a string.
    std::vector<std::optional<std::string>> approvers;
};

/// Never throws: anything but an object is a token with nothing in it.
token_summary token_summary_from(const json& token);
/// The token as --json shows it: the fields a node sends, and no other
/// (an absent count is left out, an approver that is not a string is null).
json to_json(const token_summary& t);
json to_json(const std::vector<token_summary>& tokens);
/// The "tokens" array of a list_tokens reply; empty when there is none.
std::vector<token_summary> token_list_from(const json& fields);

/// A get_token reply: the token and its record for the token file.
struct token_grant {
    token_summary token;
    std::string record; // hex, as sent; empty when absent
};
token_grant token_grant_from(const json& fields);

/// An approve_token reply: how far the token got (a success), or whose
/// signature a node refused (RET_SIGNATURE_INVALID). Each is there when
/// the reply has its field (an approver that is not a string reads as empty).
struct approve_token_reply {
    std::optional<token_summary> token;
    std::optional<std::string> approver;
};
approve_token_reply approve_token_reply_from(const json& fields);

/// A login or get_2fa_challenge reply asking for a second factor: the
/// node's HSM id and its challenge (hex); empty when absent or not strings.
struct challenge_reply {
    std::string hsm_id;
    std::string challenge;
};
challenge_reply challenge_from(const json& fields);

/// A get_user reply: the user's record sealed for the cluster, and the
/// keyed digest listUsers compares.
struct user_record_reply {
    std::optional<sealed_user> record; // nullopt when absent or unreadable
    std::optional<std::string> digest;
};
user_record_reply user_record_from(const json& fields);

/// A tx_status reply, as a peer resolving a prepared change reads it: the
/// change's outcome ("committed", "aborted", "prepared", "unknown") and,
/// for a key change, its identity; each empty when absent or not a string.
struct tx_status_reply {
    std::string outcome;
    std::string change;
};
tx_status_reply tx_status_from(const json& fields);

} // namespace hsm

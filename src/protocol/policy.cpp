// SPDX-License-Identifier: Apache-2.0
// Who may run which operation.
#include "hsmsh/protocol/policy.hpp"

namespace hsm {

status authorize(std::optional<user_type> actor, operation op, bool on_self) noexcept {
    switch (op) {
    case operation::hello:
    case operation::login:
    case operation::login_2fa: // only the session that gave the right password has a challenge
    case operation::list_users:
    case operation::hsm_info:
    case operation::describe_cluster:
        return status::ok;
    // A prepared change is finished or asked about by the user who prepared
    // it (`on_self`) or by an officer; a transaction id alone is no
    // capability. Peer nodes resolving a change in doubt are let in by the
    // node_service, which knows the cluster certificate.
    case operation::tx_status:
    case operation::commit:
    case operation::abort:
        if (!actor) return status::not_logged_in;
        return on_self || is_officer(*actor) ? status::ok : status::permission_denied;
    case operation::prepare:
        return actor ? status::ok : status::not_logged_in;
    case operation::logout:
        return actor ? status::ok : status::not_logged_in;
    case operation::create_user:
    case operation::delete_user:
    case operation::set_key_quota: // the node checks the target is a crypto user
    case operation::get_user:
    case operation::list_prepared:
        if (!actor) return status::not_logged_in;
        return is_officer(*actor) ? status::ok : status::permission_denied;
    // Only another node of the cluster (its certificate), never a user:
    // node_service admits peer nodes before asking here.
    case operation::announce_peers:
        return status::permission_denied;
    // Officers manage keys and never use them: a key is generated and used
    // by crypto users; which key a user may touch, the key rules decide.
    case operation::generate_key:
    case operation::import_key:
    case operation::wrap_key:
    case operation::unwrap_key:
    case operation::derive_key:
    case operation::list_keys:
    case operation::destroy_session_key:
        if (!actor) return status::not_logged_in;
        return *actor == user_type::cu ? status::ok : status::permission_denied;
    case operation::find_keys:
        if (!actor) return status::not_logged_in;
        return is_officer(*actor) || *actor == user_type::au ? status::ok
                                                             : status::permission_denied;
    case operation::get_key:
    case operation::sign:
    case operation::verify:
    case operation::encrypt:
    case operation::decrypt:
    case operation::random:
    case operation::get_sealed_key:
        return actor ? status::ok : status::not_logged_in;
    case operation::change_password:
        if (!actor) return status::not_logged_in;
        return on_self || is_officer(*actor) ? status::ok : status::permission_denied;
    // An officer registers its own key (the signature it brings proves it
    // holds the private half): no officer plants a key on another's account.
    case operation::register_quorum_key:
        if (!actor) return status::not_logged_in;
        return on_self && is_officer(*actor) ? status::ok : status::permission_denied;
    case operation::get_m_value:
        return actor ? status::ok : status::not_logged_in;
    // Quorum tokens are the officers': a session's own, never another's
    // (node_service binds each token to the session that asked for it).
    case operation::set_m_value:
    case operation::get_2fa_challenge: // only officers have two-factor login
    case operation::get_token:
    case operation::approve_token:
    case operation::list_tokens:
    case operation::delete_token:
        if (!actor) return status::not_logged_in;
        return is_officer(*actor) ? status::ok : status::permission_denied;
    }
    return status::permission_denied;
}

} // namespace hsm

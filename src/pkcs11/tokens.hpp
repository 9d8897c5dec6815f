// SPDX-License-Identifier: Apache-2.0
// Slots and their tokens: one per configured cluster, what PKCS#11 says of
// them (slot, token and mechanism information) and their random numbers.
#pragma once

#include "cluster_slot.hpp"
#include "module_config.hpp"
#include "objects.hpp"
#include "session_objects.hpp"

namespace hsm::p11 {

struct session;

/// One configured cluster as a slot: its connections and login (the
/// slot's, shared by its sessions), and the object descriptions that
/// login fetched. Shared by the instance and the calls in flight.
struct slot {
    slot(CK_SLOT_ID slot_id, cluster_config config, const module_settings& settings)
        : id(slot_id),
          cluster(std::move(config), settings.connect_timeout, settings.request_timeout) {}

    const CK_SLOT_ID id;
    cluster_slot cluster;
    login_objects objects;
    session_objects session_keys; // the login's, each on one node
};

/// Forgets session object `handle` of `here` and destroys it on `node`, its
/// node (a node already lost took it with it).
void destroy_session_key(slot& here, std::size_t node, std::int64_t handle);

CK_RV get_info(CK_INFO_PTR info);
CK_RV get_slot_list(CK_BBOOL token_present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count);
CK_RV get_slot_info(CK_SLOT_ID id, CK_SLOT_INFO_PTR info);
CK_RV get_token_info(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info);
CK_RV get_mechanism_list(CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count);
CK_RV get_mechanism_info(CK_SLOT_ID id, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info);

/// Random bytes of the nodes, for a logged-in user.
CK_RV generate_random(session& s, CK_BYTE_PTR out, CK_ULONG len);
/// CKR_RANDOM_SEED_NOT_SUPPORTED: the nodes' generator takes no seed.
CK_RV seed_random(session& s, CK_BYTE_PTR seed, CK_ULONG len);
/// No slot event ever happens (clusters are configured, not inserted):
/// CKR_NO_EVENT with CKF_DONT_BLOCK; a wait that would never end is refused
/// (CKR_FUNCTION_NOT_SUPPORTED) rather than hang its thread.
CK_RV wait_for_slot_event(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved);

} // namespace hsm::p11

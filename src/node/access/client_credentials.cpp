// SPDX-License-Identifier: Apache-2.0
// Pinned client certificates and extra client CAs, kept in the node's store.
#include "access/client_credentials.hpp"

#include "hsmsh/pki.hpp"
#include "store/node_data.hpp"

#include <fmt/format.h>

namespace hsm {

client_credential register_client_credential(node_store& store, const std::string& pem,
                                             bool as_anchor) {
    x509_ptr cert;
    try {
        cert = cert_from_pem(pem);
    } catch (const pki_error&) {
        throw lifecycle_error("not a PEM certificate");
    }
    client_credential c{fingerprint(cert.get()), as_anchor ? "anchor" : "pin",
                        common_name(cert.get()), cert_to_pem(cert.get())};
    if (as_anchor && !is_self_signed(cert.get()))
        throw lifecycle_error("a client trust anchor must be a self-signed CA certificate");
    auto existing = list_client_credentials(store);
    for (const auto& e : existing)
        if (e.fingerprint == c.fingerprint)
            throw lifecycle_error(fmt::format("{} is already registered", c.fingerprint));
    auto anchors = std::count_if(existing.begin(), existing.end(),
                                 [](const auto& e) { return e.kind == "anchor"; });
    if (as_anchor && static_cast<std::size_t>(anchors) >= max_client_anchors)
        throw lifecycle_error(
            fmt::format("at most {} client trust anchors: remove one first", max_client_anchors));
    store.transact([&] {
        store.meta().add_client_credential(c.fingerprint, c.kind, c.subject, c.pem);
        store.audit().append(store.meta().get(meta_key::hsm_id).value_or(""),
                             {"-", "-", "-", "register_client_" + c.kind, c.fingerprint, "RET_OK"});
    });
    return c;
}

std::vector<client_credential> list_client_credentials(node_store& store) {
    std::vector<client_credential> out;
    for (auto& row : store.meta().client_credentials())
        out.push_back({row[0], row[1], row[2], row[3]});
    return out;
}

bool remove_client_credential(node_store& store, const std::string& fp) {
    bool removed = false;
    store.transact([&] {
        removed = store.meta().remove_client_credential(fp);
        if (removed)
            store.audit().append(store.meta().get(meta_key::hsm_id).value_or(""),
                                 {"-", "-", "-", "remove_client_credential", fp, "RET_OK"});
    });
    return removed;
}

} // namespace hsm

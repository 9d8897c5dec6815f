// SPDX-License-Identifier: Apache-2.0
// A prepared row's change of any kind, read by the kind its stored form names.
#include "changes/stored_change.hpp"

namespace hsm {
namespace {

template <class change> std::optional<stored_change> stored(std::optional<change> c) {
    if (!c) return std::nullopt;
    return stored_change(std::move(*c));
}

} // namespace

// The kinds' names are distinct, and each decoder accepts only its own: the
// tag picks the one decoder that can read the row.
std::optional<stored_change> read_stored_change(std::string_view text) {
    auto j = json::parse(text, nullptr, false);
    auto kind = stored_kind(j);
    if (!kind) return std::nullopt;
    if (*kind == m_change::kind_tag) return stored(m_change::from_json(j));
    if (key_change_from_name(*kind)) return stored(key_change::from_json(j));
    return stored(planned_change::from_json(j));
}

std::string_view kind_name_of(const stored_change& c) {
    return std::visit([](const auto& x) { return x.kind_name(); }, c);
}

std::int64_t actor_of(const stored_change& c) {
    return std::visit([](const auto& x) { return x.actor_id; }, c);
}

} // namespace hsm

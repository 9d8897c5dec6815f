// SPDX-License-Identifier: Apache-2.0
// A slot's session objects, where they live and who made them.
#include "session_objects.hpp"

namespace hsm::p11 {

bool session_objects::add(session_object o) {
    std::lock_guard lock(mutex_);
    auto h = static_cast<CK_OBJECT_HANDLE>(o.key.handle);
    return objects_.emplace(h, std::move(o)).second;
}

std::optional<session_object> session_objects::find(CK_OBJECT_HANDLE h) const {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(h);
    if (it == objects_.end()) return std::nullopt;
    return it->second;
}

void session_objects::remove(CK_OBJECT_HANDLE h) {
    std::lock_guard lock(mutex_);
    objects_.erase(h);
}

std::vector<session_object> session_objects::take_made_by(CK_SESSION_HANDLE maker) {
    std::lock_guard lock(mutex_);
    std::vector<session_object> taken;
    std::erase_if(objects_, [&](auto& e) {
        if (e.second.maker != maker) return false;
        taken.push_back(std::move(e.second));
        return true;
    });
    return taken;
}

void session_objects::drop_node(std::size_t node) {
    std::lock_guard lock(mutex_);
    std::erase_if(objects_, [&](const auto& e) { return e.second.node == node; });
}

void session_objects::clear() {
    std::lock_guard lock(mutex_);
    objects_.clear();
}

std::vector<key_summary> session_objects::all() const {
    std::lock_guard lock(mutex_);
    std::vector<key_summary> out;
    for (const auto& [h, o] : objects_)
        out.push_back(o.key);
    return out;
}

bool session_objects::describe(CK_OBJECT_HANDLE h, std::string label, std::string id_hex) {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(h);
    if (it == objects_.end()) return false;
    it->second.key.label = std::move(label);
    it->second.key.id = std::move(id_hex);
    return true;
}

std::optional<std::size_t> session_objects::home() const {
    std::lock_guard lock(mutex_);
    if (objects_.empty()) return std::nullopt;
    return objects_.begin()->second.node;
}

} // namespace hsm::p11

// SPDX-License-Identifier: Apache-2.0
// What each server did with a command: the result types the shell renders,
// without the network code that produces them.
#pragma once

#include "hsmsh/client/client_result.hpp"
#include "hsmsh/duration.hpp"
#include "hsmsh/protocol/payloads.hpp"
#include "hsmsh/protocol/wire.hpp"

#include <string>

namespace hsm {

/// What one server did with one request.
struct server_outcome {
    enum class kind { replied, failed, not_connected, cancelled };
    kind what = kind::not_connected;
    status code = status::ok;                        // when replied
    json fields = json::object();                    // when replied
    std::vector<user_summary> users;                 // when a list_users replied
    client_failure failure = client_failure::closed; // when failed
    std::string error;                               // when failed

    bool ok() const noexcept { return what == kind::replied && code == status::ok; }
};

/// One server's part in a command's result.
struct server_report {
    std::size_t index = 0;
    std::string name;
    server_outcome outcome;
};

/// What connecting to one server gave.
struct connect_outcome {
    bool ok = false;
    node_hello hello;
    client_failure failure = client_failure::connect;
    std::string error;
};

/// The servers a connect or a request still waits for, some time after it began.
struct slow_servers {
    std::vector<std::size_t> waiting;
    duration limit;  // when they are given up (the connect or request timeout)
    bool connecting; // a connect (limit: the connect timeout), else a request
};

} // namespace hsm

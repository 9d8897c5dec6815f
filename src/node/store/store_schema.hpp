// SPDX-License-Identifier: Apache-2.0
// The node store's tables, and the steps that bring an older store's tables up to date.
#pragma once

#include "store/sqlite_db.hpp"

namespace hsm {

/// Creates the tables a new store lacks and adds the columns an older one
/// lacks; existing rows stay as they are. Throws store_error.
void create_store_schema(sqlite_db& db);

} // namespace hsm

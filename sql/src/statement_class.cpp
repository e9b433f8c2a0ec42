#include "ddlgate/sql/statement_class.h"

namespace ddlgate::sql {
namespace {

constexpr std::array<std::string_view, kStatementClassCount> kNames = {
    "read",        "write",     "transaction", "session",     "maintenance",        "schema_change",
    "privilege",   "code",      "destructive", "server_file_access", "server_admin", "unparseable", "unknown",
};

bool always_controlled(StatementClass cls) {
  return cls == StatementClass::unparseable || cls == StatementClass::unknown;
}

}  // namespace

std::string_view to_string(StatementClass cls) { return kNames[static_cast<std::size_t>(cls)]; }

std::optional<StatementClass> class_from_string(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<StatementClass>(i);
  }
  return std::nullopt;
}

Policy::Policy() {
  for (StatementClass cls : kAllStatementClasses) {
    controlled_[static_cast<std::size_t>(cls)] =
        !(cls == StatementClass::read || cls == StatementClass::write || cls == StatementClass::transaction ||
          cls == StatementClass::session || cls == StatementClass::maintenance);
  }
}

void Policy::set_controlled(StatementClass cls, bool controlled) {
  if (always_controlled(cls)) return;
  controlled_[static_cast<std::size_t>(cls)] = controlled;
}

}  // namespace ddlgate::sql

# Module layering, enforced by the build: a module can only include the headers
# of the targets it links, and it may only link what this table allows (a
# forbidden dependency stops `cmake`; tests/cmake/forbidden_dependency proves it).
#
#   base       : libcrypto, nlohmann-json (hex, base64, SHA-256, Ed25519 keys, capped
#                file reads, RFC 3339 time, strict JSON, Result/Error/Problem)
#   protocol   : the standard library (header-only Boost.Endian)
#   config     : base, toml++
#   sql        : base, libpg_query, nlohmann-json (classification, canonical hash,
#                display SQL, statement cache, server tables, break-glass SET scan)
#   bundle     : base, config, sql, lint, nlohmann-json (manifest, build, verify, registry; lint
#                recomputes each statement's risk tier)
#   breakglass : base, config, nlohmann-json (PASETO, claims, trusted keys)
#   ledger     : base, libcrypto, nlohmann-json
#   ops        : base, libcrypto, nlohmann-json (metrics text, webhook payloads and
#                signatures, JSON log lines)
#   engine     : base, protocol, sql, bundle, breakglass, ledger, lint (a session's protocol and
#                decision state, sans-IO: no Boost, no sockets, no TLS, no logging; lint's lock
#                analysis says which confirmed statements block, issue 28 item 3)
#   drift      : base, config, sql, bundle, libpq (ext::pq: `ddlgate drift`, the live schema
#                against what the approved bundles produce in a scratch database)
#   guard      : base, libpq (the in-database guard: its versioned SQL, install, status,
#                uninstall, kill switch; docs/guard.md)
#   lint       : base, sql, libpg_query, nlohmann-json (`ddlgate lint`: rules over parse trees
#                and PL/pgSQL bodies, lock levels, risk tiers; docs/lint.md). No Boost, no sockets,
#                and not bundle (bundle links lint)
#   monitor    : base, config, bundle, ledger, guard, drift, libpq (serve watches the guard:
#                out-of-band changes, the catalog snapshot, the watchdog, scheduled drift)
#   proxy      : all of the above (guard: its control connections), Boost.Asio, Boost.Beast, libssl, spdlog
#   cli        : everything, and libpq (ext::pq: `bundle record` installs and reads its
#                search_path trigger in the scratch database)
#
# ext::pq is libpq (PostgreSQL::PostgreSQL), for modules that talk to PostgreSQL as a client.
set(DDLGATE_ALLOWED_base "ext::crypto;ext::json")
set(DDLGATE_ALLOWED_protocol "")
set(DDLGATE_ALLOWED_config "ddlgate::base;ext::toml")
set(DDLGATE_ALLOWED_sql "ddlgate::base;ext::pg_query;ext::json")
set(DDLGATE_ALLOWED_bundle "ddlgate::base;ddlgate::config;ddlgate::sql;ddlgate::lint;ext::json")
set(DDLGATE_ALLOWED_breakglass "ddlgate::base;ddlgate::config;ext::json")
set(DDLGATE_ALLOWED_ledger "ddlgate::base;ext::crypto;ext::json")
set(DDLGATE_ALLOWED_ops "ddlgate::base;ext::crypto;ext::json")
set(DDLGATE_ALLOWED_engine "ddlgate::base;ddlgate::protocol;ddlgate::sql;ddlgate::bundle;ddlgate::breakglass;ddlgate::ledger;ddlgate::lint")
set(DDLGATE_ALLOWED_drift "ddlgate::base;ddlgate::config;ddlgate::sql;ddlgate::bundle;ext::pq")
set(DDLGATE_ALLOWED_guard "ddlgate::base;ext::pq")
set(DDLGATE_ALLOWED_lint "ddlgate::base;ddlgate::sql;ext::pg_query;ext::json")
set(DDLGATE_ALLOWED_monitor "ddlgate::base;ddlgate::config;ddlgate::bundle;ddlgate::ledger;ddlgate::guard;ddlgate::drift;ext::pq;ext::json")
set(DDLGATE_ALLOWED_proxy "ddlgate::monitor;ddlgate::base;ddlgate::protocol;ddlgate::engine;ddlgate::config;ddlgate::sql;ddlgate::bundle;ddlgate::breakglass;ddlgate::ledger;ddlgate::ops;ddlgate::guard;ext::asio;ext::beast;ext::ssl;ext::crypto;ext::log;ext::json")

# ddlgate_module(NAME DEPS dep...) builds <NAME>/src/*.cpp into ddlgate::<NAME>
# with public headers in <NAME>/include, and refuses a dependency the table does
# not allow.
function(ddlgate_module name)
  cmake_parse_arguments(M "" "" "DEPS" ${ARGN})
  foreach(dep IN LISTS M_DEPS)
    if(NOT dep IN_LIST DDLGATE_ALLOWED_${name})
      message(FATAL_ERROR "module '${name}' may not depend on '${dep}' (see cmake/modules.cmake)")
    endif()
  endforeach()
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
  add_library(ddlgate_${name} STATIC ${srcs})
  add_library(ddlgate::${name} ALIAS ddlgate_${name})
  target_include_directories(ddlgate_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                             PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(ddlgate_${name} PUBLIC ${M_DEPS})
endfunction()

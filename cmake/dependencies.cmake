# Every third-party dependency is a Debian 12 package (scripts/packages.txt);
# each is wrapped in an ext:: target so that cmake/modules.cmake can name it.
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(CLI11 REQUIRED)
find_package(PkgConfig REQUIRED)
find_library(PG_QUERY_LIB pg_query REQUIRED)
find_path(PG_QUERY_INCLUDE pg_query.h REQUIRED)
pkg_check_modules(PROTOBUF_C REQUIRED IMPORTED_TARGET libprotobuf-c)
find_package(PostgreSQL REQUIRED)
add_library(ext_pq INTERFACE)
target_link_libraries(ext_pq INTERFACE PostgreSQL::PostgreSQL)
add_library(ext::pq ALIAS ext_pq)

add_library(ext_toml INTERFACE)
target_link_libraries(ext_toml INTERFACE tomlplusplus::tomlplusplus)
add_library(ext::toml ALIAS ext_toml)

add_library(ext_json INTERFACE)
target_link_libraries(ext_json INTERFACE nlohmann_json::nlohmann_json)
add_library(ext::json ALIAS ext_json)

add_library(ext_crypto INTERFACE)
target_link_libraries(ext_crypto INTERFACE OpenSSL::Crypto)
add_library(ext::crypto ALIAS ext_crypto)

add_library(ext_ssl INTERFACE)
target_link_libraries(ext_ssl INTERFACE OpenSSL::SSL OpenSSL::Crypto)
add_library(ext::ssl ALIAS ext_ssl)

# Asio stays header-only: its separate-compilation mode (BOOST_ASIO_SEPARATE_COMPILATION)
# took an eighth off the compile time of each file that uses it but cost 130 more
# instructions per proxied transaction (bench/instructions.sh, 3152 -> 3284): the
# scheduler and reactor calls on the hot path can no longer be inlined.
add_library(ext_asio INTERFACE)
target_link_libraries(ext_asio INTERFACE Boost::headers Threads::Threads)
target_compile_definitions(ext_asio INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_ASIO_HAS_CO_AWAIT)
add_library(ext::asio ALIAS ext_asio)

# Boost.Beast is header-only in Boost 1.74 and runs on Asio: the admin HTTP
# listener and the webhook client.
add_library(ext_beast INTERFACE)
target_link_libraries(ext_beast INTERFACE ext_asio)
add_library(ext::beast ALIAS ext_beast)

add_library(ext_log INTERFACE)
target_link_libraries(ext_log INTERFACE spdlog::spdlog)
add_library(ext::log ALIAS ext_log)

# libpg_query ships its protobuf-c runtime and generated descriptors inside
# libpg_query.so; the protobuf-c headers come from libprotobuf-c-dev.
add_library(ext_pg_query INTERFACE)
target_include_directories(ext_pg_query INTERFACE ${PG_QUERY_INCLUDE})
target_link_libraries(ext_pg_query INTERFACE ${PG_QUERY_LIB})
target_include_directories(ext_pg_query INTERFACE ${PROTOBUF_C_INCLUDE_DIRS})
add_library(ext::pg_query ALIAS ext_pg_query)

add_library(ext_cli INTERFACE)
target_link_libraries(ext_cli INTERFACE CLI11::CLI11)
add_library(ext::cli ALIAS ext_cli)

// ddlgate_test_pg start|stop <facts file>: the ctest fixture that gives a whole
// integration test binary one PostgreSQL (tests/CMakeLists.txt, docs/testing.md).
//   start: stops and removes a server an interrupted run left behind (its facts
//          file), starts a fresh one with default PgServerOptions, makes the
//          template database, and writes the facts file for SharedPgServer.
//   stop:  stops the server the facts file names and removes its directory.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>

#include "ddlgate/testing/pg_server.h"

namespace dt = ddlgate::testing;

int main(int argc, char** argv) {
  if (argc != 3 || (std::string(argv[1]) != "start" && std::string(argv[1]) != "stop")) {
    std::cerr << "usage: ddlgate_test_pg start|stop <facts file>\n";
    return 2;
  }
  const std::string command = argv[1];
  const std::filesystem::path facts_file = argv[2];
  std::string why;
  if (!dt::stop_server(facts_file, &why)) {
    std::cerr << "ddlgate_test_pg: " << why << "\n";
    return 1;
  }
  if (command == "stop") return 0;
  try {
    dt::PgServer server;
    dt::create_test_template(server);
    // Written under another name and renamed, so that a reader never sees half of it.
    const auto tmp = facts_file.string() + ".tmp";
    dt::write_file(tmp, dt::format_facts(server.facts()));
    std::filesystem::rename(tmp, facts_file);
    server.detach();
    std::cout << "PostgreSQL on port " << server.port() << " in " << server.socket_dir().string() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "ddlgate_test_pg: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

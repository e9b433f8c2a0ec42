// pgjdbc (Debian libpostgresql-jdbc-java) through ddlgate, running prepared
// statements many times the way an application does: below prepareThreshold (5)
// pgjdbc parses the text anew for each run; from then on it uses a named server
// statement and sends only Bind and Execute. A statement cache of one query makes
// it Close each statement when the next one is prepared, and prepare it again later.
// Usage: java -cp postgresql.jar JdbcRepeat.java <port> <runs per round> (database: $PGDATABASE, default postgres)
// Inserts into audit_probe(id int): ids 1, 2 and 3, each in two rounds; prints
// "runs: N" (the number of inserts it made).
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;

public class JdbcRepeat {
  public static void main(String[] args) throws Exception {
    String url = "jdbc:postgresql://127.0.0.1:" + args[0]
        + "/" + System.getenv().getOrDefault("PGDATABASE", "postgres") + "?user=postgres&sslmode=disable&preparedStatementCacheQueries=1";
    int perRound = Integer.parseInt(args[1]);
    int runs = 0;
    try (Connection c = DriverManager.getConnection(url)) {
      for (int round = 0; round < 2; ++round) {
        for (int id = 1; id <= 3; ++id) {
          // One text per id, so that each is a statement of its own.
          try (PreparedStatement ps = c.prepareStatement("insert into audit_probe values (" + id + " + ?)")) {
            for (int i = 0; i < perRound; ++i) {
              ps.setInt(1, 0);
              ps.executeUpdate();
              ++runs;
            }
          }
        }
      }
    }
    System.out.println("runs: " + runs);
  }
}

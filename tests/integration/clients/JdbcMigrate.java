// pgjdbc (Debian libpostgresql-jdbc-java) through ddlgate, applying migrations
// the way Flyway does: one transaction per migration file, each statement sent
// with Statement.execute (extended protocol: Parse/Bind/Describe/Execute/Sync).
// Usage: java -cp postgresql.jar JdbcMigrate.java <port> <file.sql>... (database: $PGDATABASE, default postgres)
// Statements are separated by lines that hold only ";". Prints one line per
// migration: "<file>: applied" or "<file>: <SQLSTATE> <message>" after a rollback.
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;

public class JdbcMigrate {
  public static void main(String[] args) throws Exception {
    String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/"
        + System.getenv().getOrDefault("PGDATABASE", "postgres") + "?user=postgres&sslmode=disable";
    try (Connection c = DriverManager.getConnection(url)) {
      c.setAutoCommit(false);
      for (int i = 1; i < args.length; ++i) {
        String name = Path.of(args[i]).getFileName().toString();
        String[] statements = Files.readString(Path.of(args[i])).split("(?m)^;\\s*$");
        try (Statement st = c.createStatement()) {
          for (String sql : statements) {
            if (!sql.isBlank()) st.execute(sql.strip());
          }
          c.commit();
          System.out.println(name + ": applied");
        } catch (SQLException e) {
          c.rollback();
          System.out.println(name + ": " + e.getSQLState() + " " + e.getMessage().lines().findFirst().orElse(""));
        }
      }
    }
  }
}

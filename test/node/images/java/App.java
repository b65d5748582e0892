// The node tier's JVM application (the image's jlinked JRE runs it): /health for the
// liveness probe, /work where a debugger sets its breakpoint (jdb: stop in App.work),
// and /hang, after which /health never answers again: a hung JVM that liveness must catch.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.Executors;

public class App {
  static volatile boolean hung = false;

  static int work(int n) {
    int doubled = n * 2; // the debugger stops here
    return doubled;
  }

  static void reply(HttpExchange ex, String body) throws IOException {
    byte[] b = body.getBytes();
    ex.sendResponseHeaders(200, b.length);
    ex.getResponseBody().write(b);
    ex.close();
  }

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(System.getenv().getOrDefault("APP_PORT", "8080"));
    HttpServer server = HttpServer.create(new InetSocketAddress(port), 50);
    server.createContext("/health", ex -> {
      while (hung) {
        try { Thread.sleep(1000); } catch (InterruptedException e) { return; }
      }
      reply(ex, "ok");
    });
    server.createContext("/work", ex -> reply(ex, String.valueOf(work(21))));
    server.createContext("/hang", ex -> { hung = true; reply(ex, "hanging"); });
    // A pool: /health has its own threads, so only a VM-wide suspension stops it.
    server.setExecutor(Executors.newFixedThreadPool(8));
    server.start();
    System.out.println("java app: listening on " + port + " as pid " + ProcessHandle.current().pid());
  }
}

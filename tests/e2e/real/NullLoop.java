// NullLoop.java - a JVM that lives on implicit null checks, for real/java.sh.
// The main thread reads a field through a reference that is null every
// other time and catches the NullPointerException: compiled code has no
// test for null there, the load faults, and the JVM's SIGSEGV handler turns
// the fault into the exception (an implicit null check). Without that
// handler the first null kills the process. A line server on 127.0.0.1:PORT
// answers COUNT ("NPES READS"), RUNID, PID, SET V / GET.
//   java NullLoop PORT
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.UUID;

public class NullLoop {
  static final class Box {
    int v = 1;
  }

  static volatile long npes, reads;
  static volatile String stored = "";
  static final String RUNID = UUID.randomUUID().toString();

  static int read(Box b) {
    return b.v;  // the implicit null check
  }

  static void serve(int port) throws Exception {
    ServerSocket s = new ServerSocket(port, 50, InetAddress.getByName("127.0.0.1"));
    for (;;) {
      try (Socket c = s.accept();
          BufferedReader in = new BufferedReader(new InputStreamReader(c.getInputStream()));
          PrintWriter out = new PrintWriter(c.getOutputStream(), true)) {
        String line;
        while ((line = in.readLine()) != null) {
          String[] w = line.trim().split(" ", 2);
          switch (w[0]) {
            case "COUNT": out.println(npes + " " + reads); break;
            case "RUNID": out.println(RUNID); break;
            case "PID": out.println(ProcessHandle.current().pid()); break;
            case "SET": stored = w.length > 1 ? w[1] : ""; out.println("OK"); break;
            case "GET": out.println(stored); break;
            default: out.println("ERR");
          }
        }
      } catch (java.io.IOException e) {
        // the client went away
      }
    }
  }

  public static void main(String[] args) throws Exception {
    final int port = Integer.parseInt(args[0]);
    Thread server = new Thread(() -> {
      try {
        serve(port);
      } catch (Exception e) {
        e.printStackTrace();
        System.exit(3);
      }
    }, "necro-server");
    server.setDaemon(true);
    server.start();
    Box[] boxes = {new Box(), null};
    long sum = 0;
    for (long i = 0;; i++) {
      try {
        sum += read(boxes[(int) (i & 1)]);
        reads++;
      } catch (NullPointerException e) {
        npes++;
      }
      if ((i & 0xfffff) == 0 && sum < 0) System.out.println(sum);
    }
  }
}

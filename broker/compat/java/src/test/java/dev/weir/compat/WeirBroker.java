package dev.weir.compat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Starts a Weir broker as a child process (one per test class), following the contract:
 * {@code $WEIR_BIN serve --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --data-dir <tmp>} and wait for
 * the single {@code weir ready: kafka=... http=... data=...} line on stdout.
 */
public final class WeirBroker implements AutoCloseable {
    private static final Pattern KAFKA = Pattern.compile("kafka=(\\S+)");
    private static final Pattern HTTP = Pattern.compile("http=(\\S+)");
    private static final long READY_TIMEOUT_S = 30;

    private final Process process;
    private final Path dataDir;
    private final Path stderrLog;
    private final String bootstrap;
    private final String http;

    private WeirBroker(Process process, Path dataDir, Path stderrLog, String bootstrap, String http) {
        this.process = process;
        this.dataDir = dataDir;
        this.stderrLog = stderrLog;
        this.bootstrap = bootstrap;
        this.http = http;
    }

    public static String binary() {
        String bin = System.getenv("WEIR_BIN");
        if (bin == null || bin.isEmpty()) {
            bin = Paths.get(System.getProperty("user.home"), ".cache", "weir", "target", "debug", "weir").toString();
        }
        return bin;
    }

    public static WeirBroker start(String... extraFlags) throws Exception {
        String bin = binary();
        if (!Files.isExecutable(Paths.get(bin))) {
            throw new IllegalStateException("Weir binary not found or not executable: " + bin
                    + " (set WEIR_BIN)");
        }
        Path dataDir = Files.createTempDirectory("weir-java-data-");
        Path stderrLog = Files.createTempFile("weir-java-stderr-", ".log");
        List<String> cmd = new ArrayList<>(List.of(bin, "serve",
                "--listen", "127.0.0.1:0",
                "--http-listen", "127.0.0.1:0",
                "--data-dir", dataDir.toString()));
        cmd.addAll(List.of(extraFlags));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.redirectError(ProcessBuilder.Redirect.to(stderrLog.toFile()));
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Process p = pb.start();

        CompletableFuture<String> readyLine = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(
                    new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    if (!readyLine.isDone() && line.startsWith("weir ready:")) {
                        readyLine.complete(line);
                    }
                    // keep draining stdout so the child never blocks on a full pipe
                }
            } catch (IOException ignored) {
                // process ended
            } finally {
                readyLine.completeExceptionally(new IllegalStateException("broker stdout closed before ready line"));
            }
        }, "weir-stdout");
        reader.setDaemon(true);
        reader.start();

        String line;
        try {
            line = readyLine.get(READY_TIMEOUT_S, TimeUnit.SECONDS);
        } catch (TimeoutException | java.util.concurrent.ExecutionException e) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            deleteRecursively(dataDir);
            String why = (e instanceof TimeoutException) ? "no ready line within " + READY_TIMEOUT_S + "s"
                    : "exited (" + (p.isAlive() ? "?" : "code " + p.exitValue()) + ") before the ready line";
            String errs = tail(stderrLog);
            Files.deleteIfExists(stderrLog);
            throw new IllegalStateException("Weir broker failed to start: " + why + "; command=" + cmd
                    + "; stderr:\n" + errs, e);
        }
        Matcher km = KAFKA.matcher(line);
        Matcher hm = HTTP.matcher(line);
        if (!km.find() || !hm.find()) {
            p.destroyForcibly();
            throw new IllegalStateException("cannot parse ready line: " + line);
        }
        return new WeirBroker(p, dataDir, stderrLog, km.group(1), hm.group(1));
    }

    public String bootstrap() {
        return bootstrap;
    }

    public String http() {
        return http;
    }

    public Path dataDir() {
        return dataDir;
    }

    public String stderrTail() {
        return tail(stderrLog);
    }

    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            int from = Math.max(0, lines.size() - 80);
            return String.join("\n", lines.subList(from, lines.size()));
        } catch (IOException e) {
            return "<cannot read " + log + ": " + e + ">";
        }
    }

    /** SIGTERM, wait up to 20 s, then SIGKILL. Fails (throws) unless the broker exited cleanly on SIGTERM. */
    @Override
    public void close() throws Exception {
        int exitCode = 0;
        if (process.isAlive()) {
            process.destroy(); // SIGTERM on Linux
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                System.err.println("[weir] broker did not exit 20s after SIGTERM; killing");
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
                exitCode = -1;
            } else {
                exitCode = process.exitValue();
            }
        } else {
            exitCode = process.exitValue(); // died on its own during the tests
            System.err.println("[weir] broker was no longer running at shutdown (exit " + exitCode + ")");
            if (exitCode == 0) {
                exitCode = -2;
            }
        }
        String errs = tail(stderrLog);
        if (errs.contains("panicked") || errs.contains("ERROR")) {
            System.err.println("[weir] broker stderr tail (" + stderrLog + "):\n" + errs);
        }
        deleteRecursively(dataDir);
        Files.deleteIfExists(stderrLog); // failures already printed the tail (BrokerTestBase.StderrOnFailure)
        if (exitCode != 0) {
            throw new IllegalStateException("broker exited with code " + exitCode + " after SIGTERM; stderr tail:\n"
                    + errs);
        }
    }

    private static void deleteRecursively(Path p) {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted(Comparator.reverseOrder()).forEach(x -> {
                try {
                    Files.deleteIfExists(x);
                } catch (IOException ignored) {
                    // best effort
                }
            });
        } catch (IOException ignored) {
            // best effort
        }
    }
}

// A real MQTT broker for tests: Debian's mosquitto 2.0 on 127.0.0.1, on a port of its own, with a config generated
// per instance. StopAsync and StartAsync take the broker away and bring it back on the same port (a network outage
// as the box sees it); it is tethered to the test process, so it dies with it. Plain listener with anonymous access
// by default; `extraConfig` lines are appended for tests that need more. StartSecureAsync gives the deployment's
// shape instead (packaging/mosquitto/mosquitto.conf): TLS only, a client certificate from the test CA required, its
// CN as the username, and the per-device ACL (TestCertificates: scripts/make-certs and make-acl, once per test run).
using System.Net.Sockets;

namespace Edge.Tests.Fixtures;

public sealed class MosquittoBroker : IAsyncDisposable
{
    private static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(15);

    private readonly string directory;
    private TetheredProcess? process;

    private MosquittoBroker(int port, string directory, TestCertificates? certificates = null)
    {
        Port = port;
        this.directory = directory;
        Certificates = certificates;
    }

    public int Port { get; }

    /// <summary>mqtt://127.0.0.1:PORT (mqtts:// for a secure broker), as edge.json's sync.broker takes it.</summary>
    public Uri Url => new($"{(IsSecure ? "mqtts" : "mqtt")}://127.0.0.1:{Port}");

    /// <summary>Started by StartSecureAsync: TLS, client certificates, ACL.</summary>
    public bool IsSecure => Certificates is not null;

    /// <summary>The CA, the server's and the clients' certificates of a secure broker; null for a plain one.</summary>
    public TestCertificates? Certificates { get; }

    public string ConfigPath => Path.Combine(directory, "mosquitto.conf");

    public bool IsRunning => process is { HasExited: false };

    public string RecentOutput => process?.RecentOutput ?? "(not started)";

    /// <summary>Starts mosquitto with a listener on 127.0.0.1:PORT (anonymous unless extraConfig says otherwise).</summary>
    public static async Task<MosquittoBroker> StartAsync(IEnumerable<string>? extraConfig = null, bool anonymous = true, CancellationToken ct = default)
    {
        var directory = Directory.CreateTempSubdirectory("edge-mosquitto-").FullName;
        var broker = new MosquittoBroker(FreePorts.Tcp(), directory);
        var lines = new List<string>
        {
            "per_listener_settings true",
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            $"listener {broker.Port} 127.0.0.1",
            $"allow_anonymous {(anonymous ? "true" : "false")}",
        };
        lines.AddRange(extraConfig ?? []);
        await File.WriteAllLinesAsync(broker.ConfigPath, lines, ct);
        try
        {
            await broker.StartAsync(ct);
        }
        catch
        {
            await broker.DisposeAsync();
            throw;
        }
        return broker;
    }

    /// <summary>
    /// Starts mosquitto with a TLS listener on 127.0.0.1:PORT that requires a client certificate from the test CA,
    /// takes its CN as the username and applies the fleet ACL (packaging/mosquitto/make-acl for TestCertificates'
    /// devices). Connect with <see cref="Certificates"/>: CaFile and Client(name).
    /// </summary>
    public static async Task<MosquittoBroker> StartSecureAsync(IEnumerable<string>? extraConfig = null, CancellationToken ct = default)
    {
        var certificates = await TestCertificates.GetAsync();
        var directory = Directory.CreateTempSubdirectory("edge-mosquitto-").FullName;
        var broker = new MosquittoBroker(FreePorts.Tcp(), directory, certificates);
        var lines = new List<string>();
        // mosquitto started by root drops to the mosquitto user before it reads the certificates and the ACL, and the
        // test's temporary files are root's: stay root here (a box's broker runs as mosquitto).
        if (Environment.UserName == "root") lines.Add("user root");
        lines.AddRange(
        [
            "per_listener_settings true",
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            $"listener {broker.Port} 127.0.0.1",
            $"cafile {certificates.CaFile}",
            $"certfile {certificates.ServerCertFile}",
            $"keyfile {certificates.ServerKeyFile}",
            "require_certificate true",
            "use_identity_as_username true",
            "allow_anonymous false",
            $"acl_file {certificates.AclFile}",
        ]);
        lines.AddRange(extraConfig ?? []);
        await File.WriteAllLinesAsync(broker.ConfigPath, lines, ct);
        try
        {
            await broker.StartAsync(ct);
        }
        catch
        {
            await broker.DisposeAsync();
            throw;
        }
        return broker;
    }

    /// <summary>Starts the broker again on the same port, after StopAsync or KillAsync.</summary>
    public async Task StartAsync(CancellationToken ct = default)
    {
        if (IsRunning) return;
        if (process is not null) await process.DisposeAsync();
        var mosquitto = File.Exists("/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : "mosquitto";
        process = TetheredProcess.Start($"mosquitto on 127.0.0.1:{Port}", mosquitto, ["-c", ConfigPath]);
        var deadline = DateTime.UtcNow + StartLimit;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (process.HasExited)
                throw new InvalidOperationException($"mosquitto exited at start (code {process.ExitCode}); it said:\n{process.RecentOutput}");
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", Port, ct);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50, ct);
            }
            catch (SocketException e)
            {
                throw new InvalidOperationException($"mosquitto did not accept connections on 127.0.0.1:{Port} within {StartLimit.TotalSeconds} s ({e.SocketErrorCode}); it said:\n{process.RecentOutput}");
            }
        }
    }

    /// <summary>The broker goes away cleanly (SIGTERM): clients see their connection closed.</summary>
    public async Task StopAsync()
    {
        if (process is not null) await process.StopAsync();
    }

    /// <summary>The broker dies (SIGKILL).</summary>
    public async Task KillAsync()
    {
        if (process is not null) await process.KillAsync();
    }

    public override string ToString() => $"mosquitto on 127.0.0.1:{Port}{(IsSecure ? " (TLS, client certificates, ACL)" : "")}";

    public async ValueTask DisposeAsync()
    {
        if (process is not null) await process.DisposeAsync();
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

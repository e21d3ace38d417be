// A real MQTT broker for tests: Debian's mosquitto 2.0 on 127.0.0.1, on a port of its own, with a config generated
// per instance. StopAsync and StartAsync take the broker away and bring it back on the same port (a network outage
// as the box sees it); it is tethered to the test process, so it dies with it. Plain listener with anonymous access
// by default; `extraConfig` lines are appended for tests that need TLS or ACLs (see scripts/make-certs).
using System.Net.Sockets;

namespace Edge.Tests.Fixtures;

public sealed class MosquittoBroker : IAsyncDisposable
{
    private static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(15);

    private readonly string directory;
    private TetheredProcess? process;

    private MosquittoBroker(int port, string directory)
    {
        Port = port;
        this.directory = directory;
    }

    public int Port { get; }

    /// <summary>mqtt://127.0.0.1:PORT, as edge.json's sync.broker takes it.</summary>
    public Uri Url => new($"mqtt://127.0.0.1:{Port}");

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

    public override string ToString() => $"mosquitto on 127.0.0.1:{Port}";

    public async ValueTask DisposeAsync()
    {
        if (process is not null) await process.DisposeAsync();
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

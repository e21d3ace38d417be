// The systemd watchdog feed, with a real Unix datagram socket standing in for systemd's notify socket: WATCHDOG=1
// once per period while healthy, none while a recorder is dead, the index refuses writes, or a component reports a
// problem; and end to end through a real `edge run` whose index lives on a tmpfs that is then filled.
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Edge.Agent.Hosting;
using Edge.Agent.Index;
using Edge.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace Edge.Tests.Appliance;

/// <summary>A bound Unix datagram socket, as systemd's NOTIFY_SOCKET is: collects what the agent sends.</summary>
internal sealed class NotifyListener : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    private readonly string _directory = Directory.CreateTempSubdirectory("edge-notify-").FullName;

    public NotifyListener()
    {
        Path = System.IO.Path.Combine(_directory, "notify");
        _socket.Bind(new UnixDomainSocketEndPoint(Path));
    }

    public string Path { get; }

    /// <summary>Every message that has arrived and not been taken yet, without waiting.</summary>
    public List<string> Drain()
    {
        var messages = new List<string>();
        var buffer = new byte[4096];
        while (_socket.Available > 0)
            messages.Add(Encoding.UTF8.GetString(buffer, 0, _socket.Receive(buffer)));
        return messages;
    }

    /// <summary>Waits (real time) for a message matching <paramref name="match"/>; returns what arrived up to and including it.</summary>
    public async Task<List<string>> WaitForAsync(Func<string, bool> match, TimeSpan timeout, string what)
    {
        var seen = new List<string>();
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                int n = await _socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                var message = Encoding.UTF8.GetString(buffer, 0, n);
                seen.Add(message);
                if (match(message)) return seen;
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no {what} within {timeout.TotalSeconds:0} s; received: [{string.Join(" | ", seen)}]");
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }
}

public sealed class SystemdWatchdog_Tests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly string _scratch = Directory.CreateTempSubdirectory("edge-watchdog-test-").FullName;
    private readonly NotifyListener _notify = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 9, 0, 0, TimeSpan.Zero));
    private readonly Dictionary<string, Task> _recorders = new() { ["cam1"] = new TaskCompletionSource().Task };
    private EdgeIndex? _index;

    public void Dispose()
    {
        _index?.Dispose();
        _notify.Dispose();
        try { Directory.Delete(_scratch, recursive: true); } catch (IOException) { }
    }

    private (SystemdWatchdog Watchdog, AgentHealth Health) Create()
    {
        _index = EdgeIndex.Open(Path.Combine(_scratch, "index"), Path.Combine(_scratch, "keys", "index.key"));
        var health = new AgentHealth(() => _recorders, ["cam1"], _index, _time);
        var target = new WatchdogTarget(_notify.Path, TimeSpan.FromSeconds(20));
        return (new SystemdWatchdog(target, new NotifySocket(_notify.Path), health, _time, NullLogger<SystemdWatchdog>.Instance), health);
    }

    /// <summary>Moves fake time one watchdog interval on and waits (real time) for the check it triggers to finish.</summary>
    private async Task<List<string>> NextIntervalAsync(SystemdWatchdog watchdog)
    {
        long before = watchdog.Checks;
        _time.Advance(TimeSpan.FromSeconds(10));
        await TestSite.WaitUntilAsync(() => watchdog.Checks > before, Timeout, "the watchdog's next check");
        return _notify.Drain();
    }

    private static int Pings(IEnumerable<string> messages) => messages.Count(m => m == "WATCHDOG=1");

    [Fact]
    public async Task A_healthy_agent_sends_WATCHDOG_1_once_per_half_timeout_and_writes_a_heartbeat_to_the_index()
    {
        var (watchdog, _) = Create();
        await watchdog.StartAsync(CancellationToken.None);
        await TestSite.WaitUntilAsync(() => watchdog.Checks >= 1, Timeout, "the first check");

        var first = _notify.Drain();
        var later = new List<string>();
        for (int i = 0; i < 3; i++) later.AddRange(await NextIntervalAsync(watchdog));
        await watchdog.StopAsync(CancellationToken.None);

        Assert.Equal(["WATCHDOG=1", "STATUS=healthy"], first);
        Assert.Equal(["WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1"], later); // STATUS only when it changes
        Assert.Equal(_time.GetUtcNow().ToString("O"), _index!.GetSetting(AgentHealth.HeartbeatSetting));
    }

    [Fact]
    public async Task A_reported_problem_stops_the_pings_until_it_is_cleared()
    {
        var (watchdog, health) = Create();
        await watchdog.StartAsync(CancellationToken.None);
        await TestSite.WaitUntilAsync(() => watchdog.Checks >= 1, Timeout, "the first check");
        _notify.Drain();

        health.Report("sync", "broker certificate rejected");
        var unhealthy = new List<string>();
        for (int i = 0; i < 3; i++) unhealthy.AddRange(await NextIntervalAsync(watchdog));
        health.Report("sync", null);
        var recovered = await NextIntervalAsync(watchdog);
        await watchdog.StopAsync(CancellationToken.None);

        Assert.Equal(0, Pings(unhealthy));
        Assert.Equal(["STATUS=UNHEALTHY: sync: broker certificate rejected"], unhealthy);
        Assert.Equal(["WATCHDOG=1", "STATUS=healthy"], recovered);
    }

    [Fact]
    public async Task A_dead_recorder_stops_the_pings_and_says_which_camera()
    {
        var (watchdog, _) = Create();
        _recorders["cam1"] = Task.FromException(new DirectoryNotFoundException("staging is gone"));
        await watchdog.StartAsync(CancellationToken.None);
        await TestSite.WaitUntilAsync(() => watchdog.Checks >= 1, Timeout, "the first check");
        var messages = _notify.Drain();
        messages.AddRange(await NextIntervalAsync(watchdog));
        await watchdog.StopAsync(CancellationToken.None);

        Assert.Equal(["STATUS=UNHEALTHY: camera cam1: its recorder died (staging is gone)"], messages);
    }

    [Fact]
    public async Task An_index_that_refuses_writes_stops_the_pings()
    {
        var (watchdog, _) = Create();
        await watchdog.StartAsync(CancellationToken.None);
        await TestSite.WaitUntilAsync(() => watchdog.Checks >= 1, Timeout, "the first check");
        _notify.Drain();

        _index!.Dispose(); // closed under the agent: every write now throws
        var messages = new List<string>();
        for (int i = 0; i < 2; i++) messages.AddRange(await NextIntervalAsync(watchdog));
        await watchdog.StopAsync(CancellationToken.None);

        Assert.Equal(0, Pings(messages));
        Assert.StartsWith("STATUS=UNHEALTHY: index: does not accept writes", Assert.Single(messages));
    }

    [Fact]
    public void The_target_comes_from_systemds_variables_and_is_ignored_when_meant_for_another_process()
    {
        var variables = new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = "/run/systemd/notify", ["WATCHDOG_USEC"] = "60000000", ["WATCHDOG_PID"] = "4242" };

        var ours = WatchdogTarget.FromEnvironment(n => variables.GetValueOrDefault(n), processId: 4242);
        var theirs = WatchdogTarget.FromEnvironment(n => variables.GetValueOrDefault(n), processId: 99);
        variables.Remove("WATCHDOG_USEC");
        var none = WatchdogTarget.FromEnvironment(n => variables.GetValueOrDefault(n), processId: 4242);

        Assert.Equal(new WatchdogTarget("/run/systemd/notify", TimeSpan.FromSeconds(60)), ours);
        Assert.Equal(TimeSpan.FromSeconds(30), ours!.Interval);
        Assert.Null(theirs);
        Assert.Null(none);
    }

    [Fact]
    public async Task Edge_run_feeds_the_watchdog_and_stops_when_its_index_volume_is_full()
    {
        // The index on a small tmpfs; a test-pattern camera with long segments so no segment is sealed meanwhile.
        var site = Path.Combine(_scratch, "site");
        var indexDir = Path.Combine(site, "index");
        Directory.CreateDirectory(indexDir);
        TestSite.Run("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", indexDir);
        Process? agent = null;
        try
        {
            Directory.CreateDirectory(Path.Combine(site, "volume"));
            Edge.Agent.Storage.VolumeMarker.Write(Path.Combine(site, "volume"), TimeProvider.System);
            var camera = TestSite.TestPatternCamera("cam1", segmentSeconds: 300);
            // The box seals to an owner key (the private half would stay at the central office; here it is unused).
            Edge.Agent.Sealing.OwnerKeys.CreatePair(Path.Combine(site, "owner"), passphrase: null);
            File.Delete(Path.Combine(site, "owner", "owner.key"));
            File.WriteAllText(Path.Combine(site, "edge.json"), new JsonObject
            {
                ["siteId"] = "test-site", ["deviceId"] = "box-1",
                ["cameras"] = new JsonArray(camera),
                ["storage"] = new JsonObject { ["volumes"] = new JsonArray(new JsonObject { ["path"] = "volume" }), ["stagingDirectory"] = "staging" },
                ["index"] = new JsonObject { ["directory"] = "index", ["keyFile"] = "keys/index.key" },
                ["clock"] = new JsonObject { ["trust"] = "always" },
                ["sealing"] = new JsonObject { ["ownerPublicKey"] = "owner/owner.pub" },
            }.ToJsonString());

            var info = EdgeProcess.StartInfo("run", "--config", Path.Combine(site, "edge.json"));
            info.Environment["NOTIFY_SOCKET"] = _notify.Path;
            info.Environment["WATCHDOG_USEC"] = "1000000"; // a ping every 0.5 s
            agent = Process.Start(info)!;
            agent.OutputDataReceived += (_, e) => { if (e.Data is not null) Log(e.Data); };
            agent.ErrorDataReceived += (_, e) => { if (e.Data is not null) Log(e.Data); };
            agent.BeginOutputReadLine();
            agent.BeginErrorReadLine();

            var healthy = await _notify.WaitForAsync(m => m == "STATUS=healthy", TimeSpan.FromSeconds(30), "STATUS=healthy");
            await _notify.WaitForAsync(m => m == "WATCHDOG=1", TimeSpan.FromSeconds(10), "a second WATCHDOG=1");
            Assert.Contains("WATCHDOG=1", healthy);

            FillUp(indexDir);
            var unhealthy = await _notify.WaitForAsync(m => m.StartsWith("STATUS=UNHEALTHY"), TimeSpan.FromSeconds(20), "STATUS=UNHEALTHY");
            output.WriteLine(unhealthy[^1]);
            await Task.Delay(TimeSpan.FromSeconds(3)); // six intervals
            var after = _notify.Drain();

            Assert.Contains("index:", unhealthy[^1]);
            Assert.Equal(0, Pings(after));
            Assert.False(agent.HasExited, "the agent itself keeps running; it is systemd that restarts it");
        }
        finally
        {
            if (agent is not null && !agent.HasExited) { agent.Kill(entireProcessTree: true); await agent.WaitForExitAsync(); }
            agent?.Dispose();
            try { TestSite.Run("umount", "-l", indexDir); } catch (InvalidOperationException) { }
        }
    }

    private void Log(string line)
    {
        try { output.WriteLine(line); } catch (InvalidOperationException) { }
    }

    /// <summary>Writes a file until the file system has no space left.</summary>
    private static void FillUp(string directory)
    {
        var stream = new FileStream(Path.Combine(directory, "filler"), FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        var block = new byte[64 * 1024];
        try { while (true) stream.Write(block); }
        catch (IOException) { /* ENOSPC: full */ }
        try { stream.Dispose(); } catch (IOException) { }
    }
}

// A real RTSP camera for tests: Debian's rtsp-server-perl (run through
// scripts/lib/rtsp-server) on 127.0.0.1, fed by an ffmpeg that loops a cached
// test clip in real time (-re -stream_loop -1 -c copy), on ports of its own so
// that many can run side by side. StartAsync returns once a client can pull
// the stream; StopAsync and RestartAsync simulate the camera going away and
// coming back on the same URL. Both processes are tethered to the test
// process: they die with it even if the test run crashes.
//
// Pull with MediaProbe.RtspPullOptions (-rtsp_transport udp): the server
// sends RTP over UDP only.
using System.Net;
using System.Net.Sockets;

namespace Edge.Tests.Fixtures;

public sealed class RtspCameraServer : IAsyncDisposable
{
    private static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim gate = new(1, 1);
    private TetheredProcess? server;
    private TetheredProcess? feeder;
    private bool disposed;
    private string lastProbeError = "(not probed yet)";

    private RtspCameraServer(TestClip clip, string clipPath, string streamName, int clientPort, int sourcePort, int rtpStartPort)
    {
        Clip = clip;
        ClipPath = clipPath;
        StreamName = streamName;
        ClientPort = clientPort;
        SourcePort = sourcePort;
        RtpStartPort = rtpStartPort;
        Url = new Uri($"rtsp://127.0.0.1:{clientPort}/{streamName}");
        PublishUrl = new Uri($"rtsp://127.0.0.1:{sourcePort}/{streamName}");
    }

    /// <summary>Where clients pull the stream (with -rtsp_transport udp).</summary>
    public Uri Url { get; }

    /// <summary>Where the feeder publishes; another ffmpeg could publish here instead.</summary>
    public Uri PublishUrl { get; }

    public TestClip Clip { get; }
    public string ClipPath { get; }
    public string StreamName { get; }
    public int ClientPort { get; }
    public int SourcePort { get; }

    /// <summary>First UDP port of this server's RTP range (100 ports).</summary>
    public int RtpStartPort { get; }

    /// <summary>True while both the server and the feeder are running.</summary>
    public bool IsRunning => server is { HasExited: false } && feeder is { HasExited: false };

    /// <summary>
    /// Starts a camera serving <paramref name="clip"/> as <paramref name="streamName"/>
    /// and returns once ffprobe can read the stream.
    /// </summary>
    public static async Task<RtspCameraServer> StartAsync(TestClip clip, string streamName = "cam1", CancellationToken ct = default)
    {
        if (string.IsNullOrWhiteSpace(streamName) || streamName.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            throw new ArgumentException($"Stream name '{streamName}' is not usable in an RTSP path: use ASCII letters, digits, '-', '_' or '.'.", nameof(streamName));
        var clipPath = await TestMedia.GetClipAsync(clip, ct);

        // A port picked free can be taken by someone else before the server
        // binds it; such a start fails fast and is retried on fresh ports.
        const int attempts = 3;
        for (var attempt = 1; ; attempt++)
        {
            var camera = new RtspCameraServer(clip, clipPath, streamName, FreePorts.Tcp(), FreePorts.Tcp(), FreePorts.UdpBlock());
            try
            {
                await camera.StartProcessesAsync(ct);
                return camera;
            }
            catch (PortInUseException) when (attempt < attempts)
            {
                await camera.DisposeAsync();
            }
            catch
            {
                await camera.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>
    /// The camera goes away: the server and the feeder are killed (SIGKILL),
    /// open client sessions are cut and new pulls are refused.
    /// </summary>
    public async Task StopAsync()
    {
        await gate.WaitAsync();
        try
        {
            await KillProcessesAsync();
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// The camera stalls: its encoder (the feeder) dies, its RTSP server stays
    /// up. rtsp-server-perl keeps announcing the stream (DESCRIBE, SETUP and
    /// PLAY succeed) but no packet flows: open sessions stay connected and
    /// receive nothing, new pulls get no picture. Only RestartAsync cures it.
    /// </summary>
    public async Task StopFeedAsync()
    {
        await gate.WaitAsync();
        try
        {
            if (feeder is not null)
            {
                await feeder.KillAsync();
                await feeder.DisposeAsync();
                feeder = null;
            }
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// The camera comes back on the same ports and URL, server and feeder both
    /// fresh; returns once a client can pull the stream. Open sessions to a
    /// camera still running are cut, as by a reboot.
    /// </summary>
    public async Task RestartAsync(CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        await gate.WaitAsync(ct);
        try
        {
            // Always both: after its feed died, rtsp-server-perl keeps the dead
            // mount and answers a new feed's ANNOUNCE with 403 Forbidden.
            await KillProcessesAsync();
            // The old server's sockets are released when it dies, but a port
            // can still be grabbed by another process meanwhile: retry briefly.
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await StartProcessesAsync(ct);
                    return;
                }
                catch (PortInUseException) when (attempt < 5)
                {
                    await KillProcessesAsync();
                    await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
                }
            }
        }
        finally
        {
            gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (disposed)
            return;
        disposed = true;
        await gate.WaitAsync();
        try
        {
            await KillProcessesAsync();
        }
        finally
        {
            gate.Release();
        }
    }

    public override string ToString() => $"RTSP camera {Url} ({Clip})";

    // Starts whatever is not running, then waits until the stream can be pulled.
    private async Task StartProcessesAsync(CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(StartLimit);
        try
        {
            if (server is null)
            {
                server = TetheredProcess.Start($"rtsp-server-perl of {this}", "perl",
                [
                    RepoPaths.ScriptLib("rtsp-server"),
                    "--clientport", ClientPort.ToString(), "--serverport", SourcePort.ToString(),
                    "--client_listen_address", "127.0.0.1", "--source_listen_address", "127.0.0.1",
                    "--rtp_start_port", RtpStartPort.ToString(), "--loglevel", "1",
                ]);
                await WaitForListeningAsync(limit.Token);
            }
            if (feeder is null)
            {
                feeder = TetheredProcess.Start($"ffmpeg feeder of {this}", "ffmpeg",
                [
                    "-hide_banner", "-nostdin", "-loglevel", "error",
                    "-re", "-stream_loop", "-1", "-i", ClipPath, "-c", "copy",
                    "-f", "rtsp", "-rtsp_transport", "udp", PublishUrl.ToString(),
                ]);
            }
            await WaitUntilPullableAsync(limit.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException(
                $"{this} did not become pullable within {StartLimit.TotalSeconds:0} s. " +
                $"Expected ffprobe to read a video stream at {Url}; the last probe said: {lastProbeError}\n" +
                $"{server?.Describe()}\n{feeder?.Describe()}");
        }
    }

    private async Task WaitForListeningAsync(CancellationToken ct)
    {
        while (true)
        {
            if (server!.HasExited)
            {
                var output = server.RecentOutput;
                if (output.Contains("Address already in use", StringComparison.Ordinal))
                    throw new PortInUseException($"{this}: port {ClientPort} or {SourcePort} was taken. {server.Describe()}");
                throw new InvalidOperationException(
                    $"{server.Name} exited at start, expected it to listen on 127.0.0.1:{ClientPort} and :{SourcePort}. " +
                    $"{server.Describe()}\nCheck that rtsp-server-perl is installed (scripts/setup).");
            }
            if (await AcceptsAsync(ClientPort, ct) && await AcceptsAsync(SourcePort, ct))
                return;
            await Task.Delay(TimeSpan.FromMilliseconds(50), ct);
        }
    }

    private async Task WaitUntilPullableAsync(CancellationToken ct)
    {
        lastProbeError = "(not probed yet)";
        while (true)
        {
            if (server!.HasExited)
                throw new InvalidOperationException($"{server.Name} exited while the stream was starting. {server.Describe()}");
            if (feeder!.HasExited)
            {
                throw new InvalidOperationException(
                    $"{feeder.Name} exited while publishing {ClipPath} to {PublishUrl}, expected it to keep streaming. " +
                    $"{feeder.Describe()}\n{server.Describe()}");
            }
            try
            {
                var probe = await MediaProbe.ProbeRtspAsync(Url, ct);
                if (probe.Video is { Width: > 0 })
                    return;
                lastProbeError = $"ffprobe found no sized video stream: {string.Join(", ", probe.Streams)}";
            }
            catch (Exception e) when (e is MediaProbeException or TimeoutException)
            {
                lastProbeError = e.Message;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(200), ct);
        }
    }

    private static async Task<bool> AcceptsAsync(int port, CancellationToken ct)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), ct);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private async Task KillProcessesAsync()
    {
        // Feeder first: a feeder that outlives its server only logs errors.
        foreach (var process in new[] { feeder, server })
        {
            if (process is null)
                continue;
            await process.KillAsync();
            await process.DisposeAsync();
        }
        feeder = null;
        server = null;
    }

    private sealed class PortInUseException(string message) : Exception(message);
}

// A site for a test: a temporary directory with an edge.json, and the real agent host (the same one `edge run`
// builds) running in this process, logging into the test's output. Everything is deleted on dispose.
using System.Text.Json;
using System.Text.Json.Nodes;
using Edge.Agent.Configuration;
using Edge.Agent.Hosting;
using Edge.Agent.Index;
using Edge.Agent.Recording;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Edge.Tests.Support;

public sealed class TestSite : IAsyncDisposable
{
    private readonly ITestOutputHelper _output;
    private IHost? _host;

    public TestSite(ITestOutputHelper output, params JsonObject[] cameras) : this(output, null, cameras) { }

    /// <param name="configure">Changes the generated edge.json before it is written (volumes, retention, ...).</param>
    public TestSite(ITestOutputHelper output, Action<JsonObject, string>? configure, params JsonObject[] cameras)
    {
        _output = output;
        Root = Directory.CreateTempSubdirectory("edge-test-").FullName;
        ConfigPath = Path.Combine(Root, "edge.json");
        var config = new JsonObject
        {
            ["siteId"] = "test-site",
            ["deviceId"] = "test-box",
            ["timeZone"] = "Asia/Tokyo",
            ["cameras"] = new JsonArray(cameras.Select(c => (JsonNode)c).ToArray()),
            ["storage"] = new JsonObject { ["volumes"] = new JsonArray(new JsonObject { ["path"] = "volume" }), ["stagingDirectory"] = "staging" },
            ["index"] = new JsonObject { ["directory"] = "index", ["keyFile"] = "keys/index.key" },
            ["clock"] = new JsonObject { ["trust"] = "always" },
        };
        // The owner's key pair stands in for the central office, outside the box's directory: the box's config names
        // only a copy of owner.pub.
        OwnerRoot = Directory.CreateTempSubdirectory("edge-test-owner-").FullName;
        OwnerKeys = Edge.Agent.Sealing.OwnerKeys.CreatePair(OwnerRoot, passphrase: null);
        Directory.CreateDirectory(Path.Combine(Root, "keys"));
        File.Copy(OwnerKeys.PublicKeyPath, Path.Combine(Root, "keys", "owner.pub"));
        config["sealing"] = new JsonObject { ["ownerPublicKey"] = "keys/owner.pub" };
        configure?.Invoke(config, Root);
        File.WriteAllText(ConfigPath, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        // A test of a bad configuration gets a site whose Settings throw; the file is there for `edge run` to refuse.
        try { _settings = EdgeConfigLoader.Load(ConfigPath); }
        catch (ConfigException) { return; }
        foreach (var volume in Settings.Volumes.Where(v => Edge.Agent.Storage.VolumeMarker.TryRead(v) is null))
        {
            Directory.CreateDirectory(volume);
            Edge.Agent.Storage.VolumeMarker.Write(volume, TimeProvider.System);
        }
    }

    public string Root { get; }
    public Edge.Agent.Sealing.OwnerKeyPair OwnerKeys { get; }
    /// <summary>The owner's side (the central office): its key pair and the segments it opened.</summary>
    public string OwnerRoot { get; }
    public string ConfigPath { get; }
    private readonly EdgeSettings? _settings;
    public EdgeSettings Settings => _settings ?? EdgeConfigLoader.Load(ConfigPath);
    public EdgeIndex? Index { get; private set; }
    public RecordingService Recording => _host!.Services.GetRequiredService<RecordingService>();
    public IServiceProvider Host => _host!.Services;

    public static JsonObject TestPatternCamera(string id, double segmentSeconds = 2, int fps = 15) => new()
    {
        ["id"] = id,
        ["segmentSeconds"] = segmentSeconds,
        ["source"] = new JsonObject { ["type"] = "testPattern", ["videoSize"] = "320x240", ["fps"] = fps, ["bitrateKbps"] = 300 },
    };

    public static JsonObject RtspCamera(string id, Uri url, double segmentSeconds = 2) => new()
    {
        ["id"] = id,
        ["segmentSeconds"] = segmentSeconds,
        // rtsp-server-perl serves RTP over UDP only.
        ["source"] = new JsonObject { ["type"] = "rtsp", ["url"] = url.ToString(), ["transport"] = "udp" },
    };

    /// <summary>The agent's clock (set before <see cref="StartAsync"/>); the system's by default.</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;

    public async Task StartAsync()
    {
        Index = IndexOpener.Open(Settings, createKeyIfMissing: true);
        _host = AgentHost.Build(Settings, Index, Time, logging => logging.AddProvider(new TestOutputLoggerProvider(_output)));
        await _host.StartAsync();
    }

    public async Task StopAsync()
    {
        if (_host is null) return;
        await _host.StopAsync();
        _host.Dispose();
        _host = null;
        Index?.Dispose();
        Index = null;
    }

    /// <summary>Polls until the condition holds, or fails the test with the description after the timeout.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string description)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {timeout.TotalSeconds:0} s waiting for {description}");
            await Task.Delay(200);
        }
    }

    /// <summary>Opens (decrypts and verifies) a sealed segment with the owner's key into a file under the site, for ffprobe.</summary>
    public string OpenSegment(SegmentRecord segment)
    {
        var output = Path.Combine(OwnerRoot, "opened", $"{segment.Id}{(segment.Container == "matroska" ? ".mkv" : ".ts")}");
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        if (File.Exists(output)) File.Delete(output);
        using var key = Edge.Agent.Sealing.OwnerKeys.LoadPrivate(OwnerKeys.PrivateKeyPath, passphrase: null);
        Edge.Agent.Sealing.SealedSegments.OpenToFile(Edge.Agent.Sealing.SealedSegmentRef.From(segment), key, output);
        return output;
    }

    /// <summary>Runs a command (mount, umount) and fails the test with its output if it fails.</summary>
    public static void Run(string file, params string[] args)
    {
        var info = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(info)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {err}");
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync(); }
        finally
        {
            try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
            try { Directory.Delete(OwnerRoot, recursive: true); } catch (IOException) { }
        }
    }
}

internal sealed class TestOutputLoggerProvider(ITestOutputHelper output) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(output, categoryName);
    public void Dispose() { }

    private sealed class Logger(ITestOutputHelper output, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            try { output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)} {exception}"); }
            catch (InvalidOperationException) { /* the test has finished; late log lines have nowhere to go */ }
        }
    }
}

// `edge demo`: a simulated site in one directory. Two test-pattern cameras record through the same host as
// `edge run`; a live view prints what happens; the summary checks that everything recorded is indexed, contiguous
// and playable, and the exit code says whether it was. DIR/edge.json stays behind for the other verbs.
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Edge.Agent.Cli;
using Edge.Agent.Configuration;
using Edge.Agent.Hosting;
using Edge.Agent.Index;
using Edge.Agent.Recording;
using Edge.Agent.Storage;
using Edge.Agent.Doors;
using Edge.Agent.Sealing;
using FFMpegCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Edge.Agent.Demo;

public static class DemoCommand
{
    public const double DemoSegmentSeconds = 5;

    public static async Task<int> RunAsync(int seconds, DirectoryInfo? dir, CommandContext context, CancellationToken cancellationToken) =>
        await RunAsync(seconds, dir, null, context, cancellationToken).ConfigureAwait(false);

    /// <param name="broker">An external broker for box and central both; null: an embedded one on loopback.</param>
    public static async Task<int> RunAsync(int seconds, DirectoryInfo? dir, string? broker, CommandContext context, CancellationToken cancellationToken)
    {
        if (seconds < 5) throw new UsageException($"--seconds: at least 5 (found {seconds})");
        Uri? externalBroker = null;
        if (broker is not null && (!Uri.TryCreate(broker, UriKind.Absolute, out externalBroker) || externalBroker.Scheme != "mqtt" || externalBroker.Host.Length == 0))
            throw new UsageException($"--broker: '{broker}' is not an mqtt://HOST:PORT URL (the demo speaks plain MQTT; TLS is for real deployments)");
        var root = dir?.FullName ?? Path.Combine(Path.GetTempPath(), "edge-demo-" + context.Time.GetUtcNow().ToString("yyyyMMdd-HHmmss"));
        Directory.CreateDirectory(root);
        var configPath = Path.Combine(root, "edge.json");
        // The owner's key pair stands in for the central office; the box's config names only owner.pub.
        var ownerDir = Path.Combine(root, "owner");
        var owner = File.Exists(Path.Combine(ownerDir, "owner.key"))
            ? new OwnerKeyPair(Path.Combine(ownerDir, "owner.key"), Path.Combine(ownerDir, "owner.pub"), "", false)
            : OwnerKeys.CreatePair(ownerDir, passphrase: null);
        // The central signs its commands (clip-ack) with owner-sign.key; the box trusts owner-sign.pub.
        if (!File.Exists(Path.Combine(ownerDir, Sealing.CommandSigningKeys.PrivateKeyFileName))) Sealing.CommandSigningKeys.CreatePair(ownerDir, passphrase: null);
        await using var log = new StreamWriter(Path.Combine(root, "edge.log"), append: true) { AutoFlush = true };
        using var logProvider = new DemoFileLoggerProvider(log);
        using var brokerLoggers = LoggerFactory.Create(b => b.AddProvider(logProvider));
        await using var embedded = externalBroker is null ? await EmbeddedBroker.StartAsync(brokerLoggers.CreateLogger("broker")).ConfigureAwait(false) : null;
        var brokerUrl = externalBroker ?? embedded!.Url;
        File.WriteAllText(Path.Combine(root, "door-scenario.json"), DoorScenarioJson);
        File.WriteAllText(configPath, DemoConfigJson(brokerUrl));
        var settings = EdgeConfigLoader.Load(configPath);
        foreach (var volume in settings.Volumes.Where(v => VolumeMarker.TryRead(v) is null))
        {
            Directory.CreateDirectory(volume);
            VolumeMarker.Write(volume, context.Time); // what `edge volumes init` does for a technician
        }
        var o = context.Out;

        o.WriteLine($"Edge demo: a simulated site in {root}");
        o.WriteLine($"  config        {configPath}  (point any verb at it: edge status --config {configPath})");
        o.WriteLine($"  cameras       {string.Join(", ", settings.Cameras.Select(c => $"{c.Id} ({c.Source.Describe()})"))}");
        o.WriteLine($"  staging       {settings.StagingDirectory}  (a temp directory standing in for the box's RAM-backed tmpfs)");
        o.WriteLine($"  volume        {settings.Volumes[0]}");
        o.WriteLine($"  index         {settings.IndexDirectory}  (encrypted; key {settings.IndexKeyFile})");
        o.WriteLine($"  sealing       to {owner.PublicKeyPath}; the private key {owner.PrivateKeyPath} stands in for the central office");
        o.WriteLine($"  door          {string.Join(", ", settings.Doors.Select(d => $"{d.Id} (contact GPIO{d.ContactPin}, exit button GPIO{d.ExitButtonPin}; simulated, {Path.GetFileName(settings.Gpio.ScenarioFile)})"))}");
        o.WriteLine($"  agent log     {Path.Combine(root, "edge.log")}");
        await using var central = await DemoCentral.StartAsync(root, brokerUrl, embeddedBroker: embedded is not null, logProvider, context.Time, cancellationToken).ConfigureAwait(false);
        o.WriteLine($"  broker        {brokerUrl}{(embedded is null ? "" : " (embedded, loopback only)")}");
        o.WriteLine($"  central       {central.Settings.ConfigPath}; clips under {Path.Combine(central.Settings.OutputDirectory, "clips")}");
        central.Receiver.ClipHandled += (clip, result) => o.WriteLine(result.Outcome == Central.ClipOutcome.Verified
            ? $"  central: clip {clip.ClipId} verified, opened and cut into {result.OutputDirectory}; clip-ack sent"
            : $"  central: clip {clip.ClipId} {(result.Outcome == Central.ClipOutcome.HashMismatch ? "refused (verified:false)" : "cannot be opened")}: {result.Detail}");
        o.WriteLine($"Recording for {seconds} s…");

        var stopwatch = Stopwatch.StartNew();
        using (var index = IndexOpener.Open(settings, createKeyIfMissing: true))
        {
            using var host = AgentHost.Build(settings, index, context.Time, logging => logging.AddProvider(logProvider));
            var recording = host.Services.GetRequiredService<RecordingService>();
            recording.SegmentIndexed += s => o.WriteLine(
                $"  [{stopwatch.Elapsed:mm\\:ss}] {s.Camera,-10} segment {s.Id,3} sealed: {s.DurationSeconds,5:0.00} s, {s.StoredBytes / 1024.0,7:0} KiB ciphertext, starts {settings.ToSiteTime(new DateTimeOffset(s.StartUtc, TimeSpan.Zero)):HH:mm:ss.fff}");
            host.Services.GetRequiredService<DoorService>().EventRecorded += (e, flag) => o.WriteLine(
                $"  [{stopwatch.Elapsed:mm\\:ss}] door {e.Door,-8} {e.Kind,-12} {(e.EndUtc is null ? "started" : "ended  ")} {settings.ToSiteTime(new DateTimeOffset(e.EndUtc ?? e.StartUtc, TimeSpan.Zero)):HH:mm:ss.fff}: {e.DecidedBy}" +
                (flag is null ? "" : $"\n           flag {flag.Id}: {string.Join(",", flag.Cameras)} {settings.ToSiteTime(new DateTimeOffset(flag.FromUtc, TimeSpan.Zero)):HH:mm:ss}–{settings.ToSiteTime(new DateTimeOffset(flag.ToUtc, TimeSpan.Zero)):HH:mm:ss} protected and marked for sync"));
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            // Ctrl-C reaches the host's lifetime, which then signals ApplicationStopping.
            var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
            using var interrupted = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
            try { await Task.Delay(TimeSpan.FromSeconds(seconds), context.Time, interrupted.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { o.WriteLine("Interrupted; stopping."); }
            if (!interrupted.IsCancellationRequested) await WaitForClipsAsync(index, central, context, interrupted.Token).ConfigureAwait(false);
            o.WriteLine("Stopping: each camera finishes the segment in flight…");
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }

        return await SummariseAsync(settings, owner, central, context).ConfigureAwait(false);
    }

    /// <summary>
    /// Gives the box time to upload the clips of flags whose window has closed, while it still runs. Only when the box
    /// publishes at all (when nothing arrived, waiting would not help: the summary says so).
    /// </summary>
    private static async Task WaitForClipsAsync(EdgeIndex index, DemoCentral central, CommandContext context, CancellationToken cancellationToken)
    {
        if (central.Receiver.Counters.Received == 0) return;
        var deadline = context.Time.GetUtcNow() + TimeSpan.FromSeconds(60);
        bool announced = false;
        while (context.Time.GetUtcNow() < deadline)
        {
            var closed = index.AllFlags().Where(f => f.ToUtc < context.Time.GetUtcNow().UtcDateTime).Select(f => f.Id).ToHashSet();
            var handled = central.Store.AllClips().Where(c => c.State is Central.ClipStates.Done or Central.ClipStates.Unopenable)
                .Select(c => c.ManifestJson is { } m ? System.Text.Json.Nodes.JsonNode.Parse(m)?["flagId"]?.GetValue<long>() : null).ToHashSet();
            if (closed.All(id => handled.Contains(id))) return;
            if (!announced) context.Out.WriteLine($"Waiting (at most 60 s) for the clips of {closed.Count(id => !handled.Contains(id))} closed flag(s) to reach the central…");
            announced = true;
            try { await Task.Delay(TimeSpan.FromMilliseconds(500), context.Time, cancellationToken).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>Checks what the run left behind, from the index and the disk alone, and prints the summary.</summary>
    private static async Task<int> SummariseAsync(EdgeSettings settings, OwnerKeyPair owner, DemoCentral central, CommandContext context)
    {
        var o = context.Out;
        var problems = new List<string>();
        using var index = IndexOpener.Open(settings, createKeyIfMissing: false);
        using var ownerKey = OwnerKeys.LoadPrivate(owner.PrivateKeyPath, passphrase: null);
        var opened = Path.Combine(Path.GetDirectoryName(owner.PrivateKeyPath)!, "opened");
        o.WriteLine();
        o.WriteLine("Summary");
        foreach (var camera in settings.Cameras)
        {
            var segments = index.QuerySegments(camera.Id);
            double recorded = segments.Sum(s => s.DurationSeconds);
            long bytes = segments.Sum(s => s.Bytes);
            int playable = 0, gaps = 0;
            for (int i = 0; i < segments.Count; i++)
            {
                var s = segments[i];
                if (await OpensAndPlaysAsync(s, ownerKey, opened).ConfigureAwait(false)) playable++;
                else problems.Add($"{camera.Id}: segment {s.Id} ({s.FullPath}) does not open with the owner key or does not play");
                if (i > 0 && (s.StartUtc - segments[i - 1].EndUtc).TotalSeconds > 0.5 + 1.0 / 15)
                {
                    gaps++;
                    problems.Add($"{camera.Id}: gap of {(s.StartUtc - segments[i - 1].EndUtc).TotalSeconds:0.00} s before segment {s.Id}");
                }
            }
            if (segments.Count == 0) problems.Add($"{camera.Id}: recorded nothing");
            o.WriteLine($"  {camera.Id,-10} {segments.Count,3} segments, {recorded,6:0.0} s recorded, {bytes / 1048576.0,6:0.00} MiB, {gaps} gap(s), {playable}/{segments.Count} open with the owner key, verify and play");
        }
        var leftovers = Directory.Exists(settings.StagingDirectory)
            ? Directory.EnumerateFiles(settings.StagingDirectory, "*", SearchOption.AllDirectories).Where(Reconciler.IsSegmentFile).ToList()
            : [];
        foreach (var file in leftovers) problems.Add($"not indexed: {file}");
        var onVolume = Directory.EnumerateFiles(settings.Volumes[0], "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) != VolumeMarker.FileName).ToList();
        var indexed = index.AllSegments().Select(s => s.FullPath).ToHashSet();
        foreach (var file in onVolume.Where(f => !indexed.Contains(f))) problems.Add($"on the volume but not indexed: {file}");
        foreach (var file in onVolume.Where(f => !f.EndsWith(SealingSegmentSealer.Extension, StringComparison.Ordinal))) problems.Add($"not sealed: {file}");
        var doorEvents = index.QueryEvents().Where(e => e.Door is not null).ToList();
        foreach (var kind in doorEvents.GroupBy(e => e.Kind))
            o.WriteLine($"  door       {kind.Count()} {kind.Key}: " + string.Join(", ", kind.Select(e =>
                $"{settings.ToSiteTime(new DateTimeOffset(e.StartUtc, TimeSpan.Zero)):HH:mm:ss}–{(e.EndUtc is { } end ? settings.ToSiteTime(new DateTimeOffset(end, TimeSpan.Zero)).ToString("HH:mm:ss") : "open")}")));
        foreach (var flag in index.AllFlags())
            o.WriteLine($"  flag {flag.Id,-5} {string.Join(",", flag.Cameras)} {settings.ToSiteTime(new DateTimeOffset(flag.FromUtc, TimeSpan.Zero)):HH:mm:ss}–{settings.ToSiteTime(new DateTimeOffset(flag.ToUtc, TimeSpan.Zero)):HH:mm:ss} ({flag.Reason}): " +
                        $"{index.QuerySegments(null, flag.FromUtc, flag.ToUtc).Count(flag.Covers)} segment(s) protected");
        o.WriteLine($"  index      {index.SizeBytes / 1024.0:0} KiB, {index.CountSegments()} segments, {index.QueryEvents().Count} events, {index.AllFlags().Count} flags");
        SummariseCentral(central, index.AllFlags().Count, problems, o);
        if (problems.Count == 0)
        {
            o.WriteLine("OK: everything recorded is sealed, indexed, contiguous, and opens with the owner's key to video that plays.");
            o.WriteLine($"Try: dotnet run --project src/Edge.Agent -- segments list --config {settings.ConfigPath}");
            return EdgeCli.ExitOk;
        }
        foreach (var p in problems) context.Err.WriteLine($"edge demo: {p}");
        context.Err.WriteLine($"edge demo: FAILED with {problems.Count} problem(s)");
        return EdgeCli.ExitFailure;
    }

    /// <summary>The central's side: what arrived, and each clip received, decrypted and verified (or why not).</summary>
    private static void SummariseCentral(DemoCentral central, int flags, List<string> problems, TextWriter o)
    {
        var c = central.Receiver.Counters;
        var clips = central.Store.AllClips();
        var devices = central.Store.AllDevices();
        o.WriteLine($"  central    {c.Received} message(s) from {devices.Count} box(es), {c.Duplicates} duplicate(s) dropped, {c.MalformedTotal} malformed; " +
                    $"{devices.Sum(d => central.Store.Events(d.SiteId, d.DeviceId).Count)} event(s) stored");
        foreach (var d in devices.Where(d => d.AuditCopyStartSeq is not null))
        {
            o.WriteLine($"  central    audit trail of {d.DeviceId}: {central.Store.AuditRecords(d.SiteId, d.DeviceId).Count} record(s) copied, " +
                        (d.AuditCopyProblem is null ? $"hash chain checked through seq {d.AuditCopyVerifiedSeq}" : $"BROKEN: {d.AuditCopyProblem}"));
            if (d.AuditCopyProblem is not null) problems.Add($"central: the audit trail copy of {d.DeviceId} is broken: {d.AuditCopyProblem}");
        }
        foreach (var clip in clips)
        {
            var outputs = clip.State == Central.ClipStates.Done
                ? Central.ClipProcessor.OutputDirectoryFor(central.Settings.OutputDirectory, clip.SiteId, clip.DeviceId, clip.ClipId)
                : null;
            o.WriteLine($"  clip       {clip.ClipId}: {clip.State}{(outputs is null ? "" : $", decrypted, verified and cut: {outputs}")}{(clip.State == Central.ClipStates.Done ? "" : $" ({clip.Detail})")}");
            if (clip.State is Central.ClipStates.Failed or Central.ClipStates.Unopenable) problems.Add($"central: clip {clip.ClipId} {clip.State}: {clip.Detail}");
        }
        int verified = clips.Count(x => x.State == Central.ClipStates.Done);
        if (c.Received == 0)
        {
            o.WriteLine($"  central    nothing arrived: the box published nothing the central received (see edge.log for the box's sync lines), so none of the {flags} flagged window(s) was received, decrypted or verified at the central");
            problems.Add("central: nothing arrived from the box over the broker");
        }
        else if (verified == 0)
        {
            o.WriteLine($"  central    no clip arrived decrypted and verified (of {flags} flagged window(s))");
            if (flags > 0) problems.Add($"central: none of the {flags} flagged window(s) arrived as a verified clip");
        }
        else
            o.WriteLine($"  central    {verified} clip(s) received, decrypted and verified at the central (of {flags} flagged window(s))");
    }

    /// <summary>Opens the segment as the owner would (decrypt, verify every chunk and hash), probes it, deletes the plaintext.</summary>
    private static async Task<bool> OpensAndPlaysAsync(SegmentRecord segment, OwnerPrivateKey key, string directory)
    {
        Directory.CreateDirectory(directory);
        var output = Path.Combine(directory, $"{segment.Id}.ts");
        try
        {
            SealedSegments.OpenToFile(SealedSegmentRef.From(segment), key, output);
            var analysis = await FFProbe.AnalyseAsync(output).ConfigureAwait(false);
            return analysis.PrimaryVideoStream is not null && analysis.Duration > TimeSpan.Zero;
        }
        catch (Exception e) when (e is IOException or SealedSegmentException or FFMpegCore.Exceptions.FFMpegException or FFMpegCore.Exceptions.FormatNullException or InvalidOperationException)
        {
            return false;
        }
        finally
        {
            File.Delete(output);
        }
    }

    private static string DemoConfigJson(Uri broker) => JsonSerializer.Serialize(new
    {
        siteId = "demo-site",
        deviceId = "demo-box-01",
        timeZone = "Asia/Tokyo",
        cameras = new object[]
        {
            new { id = "door-cam", source = new { type = "testPattern", videoSize = "640x360", fps = 15, bitrateKbps = 600 } },
            new { id = "rack-cam", source = new { type = "testPattern", videoSize = "640x360", fps = 10, bitrateKbps = 400 } },
        },
        storage = new { volumes = new[] { new { path = "volumes/usb-disk" } }, stagingDirectory = "staging" },
        index = new { directory = "index", keyFile = "keys/index.key" },
        recording = new { segmentSeconds = DemoSegmentSeconds },
        sealing = new { ownerPublicKey = "owner/owner.pub" },
        doors = new object[]
        {
            new
            {
                id = "server-room", contactPin = 17, contactPull = "up", contactClosedLevel = "low",
                exitButtonPin = 27, exitButtonPull = "up", exitButtonPressedLevel = "low", cameras = new[] { "door-cam" },
            },
        },
        gpio = new { driver = "simulated", scenarioFile = "door-scenario.json" },
        flags = new { preRoll = "00:00:03", postRoll = "00:00:05" },
        // Metadata and flagged clips to the demo's broker; commands from the central checked with owner-sign.pub.
        sync = new { broker = broker.ToString(), commandPublicKey = "owner/" + Sealing.CommandSigningKeys.PublicKeyFileName, healthSeconds = 10, clipBandwidthKbps = 0 },
    }, new JsonSerializerOptions { WriteIndented = true });

    /// <summary>Someone enters at 6 s and leaves through the exit button at 20 s; every change bounces like a real contact.</summary>
    private const string DoorScenarioJson = """
        {
          "description": "edge demo: an entry, then an exit through the exit button, repeating every 40 s",
          "initial": { "17": "low", "27": "high" },
          "bounce": { "transitions": 5, "within": "00:00:00.010" },
          "steps": [
            { "at": "00:00:06", "pin": 17, "level": "high", "note": "someone opens the door from outside: entry" },
            { "at": "00:00:09", "pin": 17, "level": "low" },
            { "at": "00:00:19", "press": 27, "for": "00:00:00.300", "note": "exit button" },
            { "at": "00:00:20", "pin": 17, "level": "high", "note": "exit" },
            { "at": "00:00:22", "pin": 17, "level": "low" }
          ],
          "loop": true,
          "length": "00:00:40"
        }
        """;
}

/// <summary>Sends the agent's log to DIR/edge.log so the demo's terminal shows only the live view.</summary>
internal sealed class DemoFileLoggerProvider(TextWriter writer) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new FileLogger(writer, categoryName);
    public void Dispose() { }

    private sealed class FileLogger(TextWriter writer, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (writer) writer.WriteLine($"{DateTime.Now:HH:mm:ss.fff} {logLevel,-11} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
        }
    }
}

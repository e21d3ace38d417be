// The checks of `edge doctor`, one method per area. Each returns lines of the checklist and never throws for what it
// finds (a missing ffmpeg, an unreachable camera, a refused broker are results, not errors). None of them opens the
// index or takes its lock: the doctor runs beside the agent on a working box.
using System.Device.Gpio;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using Edge.Agent.Broker;
using Edge.Agent.Configuration;
using Edge.Agent.Control;
using Edge.Agent.Storage;
using Edge.Hardware.Board;
using Edge.Hardware.Cameras;
using Edge.Hardware.Clock;
using Edge.Hardware.Gpio;
using MQTTnet;

namespace Edge.Agent.Doctor;

/// <summary>What the checks read from the machine, replaceable in tests (the board of a Pi, above all).</summary>
public sealed record DoctorEnvironment
{
    public BoardHealthReader Board { get; init; } = new();
    public TimeSpan CameraTimeout { get; init; } = TimeSpan.FromSeconds(15);
    public TimeSpan BrokerTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>A camera whose bitrate is unknown (ffprobe often cannot tell for a live stream) is counted at this.</summary>
    public long AssumedBitsPerSecond { get; init; } = 4_000_000;
}

public sealed partial class DoctorChecks(EdgeSettings settings, TimeProvider time, DoctorEnvironment environment)
{
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
    private const UnixFileMode WritableByOthers = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    /// <summary>Every check, in checklist order. Slow ones (cameras, broker) run side by side.</summary>
    public async Task<IReadOnlyList<DoctorCheck>> RunAsync(CancellationToken cancellationToken)
    {
        var agent = AgentAsync(cancellationToken);
        var ffmpeg = Task.Run(() => Guard("ffmpeg", Ffmpeg), cancellationToken);
        var cameras = CamerasAsync(cancellationToken);
        var broker = GuardAsync("broker", () => BrokerAsync(cancellationToken));
        var agentRunning = (await agent.ConfigureAwait(false)).Level == CheckLevel.Ok;
        var probes = await cameras.ConfigureAwait(false);
        var results = new List<DoctorCheck> { await agent.ConfigureAwait(false) };
        results.AddRange(await ffmpeg.ConfigureAwait(false));
        results.AddRange(probes.Select(p => p.Check));
        results.AddRange(Guard("door", () => Doors(agentRunning)));
        results.AddRange(Guard("volume", () => Volumes(probes)));
        results.AddRange(Guard("clock", () => [Clock()]));
        results.Add(await broker.ConfigureAwait(false));
        results.AddRange(Guard("key", Keys));
        results.AddRange(Guard("board", Board));
        return results;
    }

    // A check that breaks (an error nobody foresaw) is a FAIL line of its own; the rest of the checklist still runs.
    private static IReadOnlyList<DoctorCheck> Guard(string check, Func<IEnumerable<DoctorCheck>> run)
    {
        try { return run().ToList(); }
        catch (Exception e) when (e is not OutOfMemoryException) { return [Broken(check, e)]; }
    }

    private static async Task<DoctorCheck> GuardAsync(string check, Func<Task<DoctorCheck>> run)
    {
        try { return await run().ConfigureAwait(false); }
        catch (Exception e) when (e is not (OutOfMemoryException or OperationCanceledException)) { return Broken(check, e); }
    }

    private static DoctorCheck Broken(string check, Exception e) =>
        DoctorCheck.Fail(check, null, $"the check itself failed: {e.GetType().Name}: {e.Message.Split('\n')[0]}",
            "fix what the message names if you can; otherwise report it with the output of `edge doctor --json`");

    // ---- the agent ----

    private async Task<DoctorCheck> AgentAsync(CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(5));
        ControlReply? reply = null;
        try { reply = await ControlSocket.TryForwardAsync(settings.IndexDirectory, ["--version"], limit.Token).ConfigureAwait(false); }
        catch (Exception e) when (e is OperationCanceledException or IOException or System.Text.Json.JsonException) { }
        return reply is { ExitCode: 0 }
            ? DoctorCheck.Ok("agent", null, $"running: answers on {ControlSocket.PathFor(settings.IndexDirectory)} (edge {reply.Stdout.Trim()})")
            : DoctorCheck.Warn("agent", null, $"not running (no answer on {ControlSocket.PathFor(settings.IndexDirectory)}): nothing is being recorded",
                "start it: `systemctl start edge`; if it stops again, `journalctl -u edge -n 50` says why");
    }

    // ---- ffmpeg ----

    private IEnumerable<DoctorCheck> Ffmpeg()
    {
        var ffmpeg = Version(settings.FfmpegPath);
        yield return ffmpeg.Version is { } v
            ? DoctorCheck.Ok("ffmpeg", null, $"ffmpeg {v} ({ffmpeg.Path})")
            : DoctorCheck.Fail("ffmpeg", null, $"cannot run {settings.FfmpegPath}: {ffmpeg.Problem}",
                "install it (`apt-get install ffmpeg`), or set recording.ffmpegPath in edge.json to where it is");
        // Camera probes (edge cameras probe, this doctor) and the start-up dating of segments a killed agent left
        // unjournaled (StagingRecovery) go through FFMpegCore, which runs ffprobe from PATH.
        var ffprobe = Version("ffprobe");
        yield return ffprobe.Version is { } pv
            ? DoctorCheck.Ok("ffprobe", null, $"ffprobe {pv} ({ffprobe.Path})")
            : DoctorCheck.Warn("ffprobe", null, $"cannot run ffprobe: {ffprobe.Problem}; cameras cannot be probed, and a segment finished but not journaled when the agent was killed is quarantined instead of sealed at the next start (recording itself does not need it)",
                "install it with ffmpeg (`apt-get install ffmpeg`)");
    }

    private static (string? Version, string Path, string Problem) Version(string program)
    {
        var path = program.Contains('/') ? Path.GetFullPath(program)
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
                .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists) ?? program;
        try
        {
            using var process = new Process { StartInfo = new ProcessStartInfo(path, "-hide_banner -version") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false } };
            process.Start();
            var stdout = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                process.Kill(entireProcessTree: true);
                return (null, path, "it did not answer `-version` within 10 s");
            }
            var first = stdout.Result.Split('\n')[0];
            // "ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 the FFmpeg developers"
            var words = first.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return process.ExitCode == 0 && words.Length >= 3 && words[1] == "version"
                ? (words[2], path, "")
                : (null, path, $"`{path} -version` exited with {process.ExitCode} and said \"{first.Trim()}\"");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            return (null, path, File.Exists(path) ? e.Message : "not found");
        }
    }

    // ---- cameras ----

    private sealed record CameraProbeLine(CameraSpec Camera, DoctorCheck Check, long? BitsPerSecond);

    private async Task<IReadOnlyList<CameraProbeLine>> CamerasAsync(CancellationToken cancellationToken) =>
        await Task.WhenAll(settings.Cameras.Select(c => CameraAsync(c, cancellationToken))).ConfigureAwait(false);

    private async Task<CameraProbeLine> CameraAsync(CameraSpec camera, CancellationToken cancellationToken)
    {
        var source = camera.Source.Describe();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(environment.CameraTimeout);
        try
        {
            var p = await CameraProbe.ProbeAsync(camera.Source, limit.Token).ConfigureAwait(false);
            var bitrate = p.BitrateBitsPerSecond;
            var detail = $"{p.VideoCodec} {p.Width}x{p.Height} {p.FramesPerSecond.ToString("0.##", CultureInfo.InvariantCulture)} fps" +
                $"{(bitrate is long b ? $", {b / 1e6:0.0} Mbit/s" : "")}{(p.AudioCodec is { } a ? $", audio {a}" : "")} ({source})";
            var check = p.VideoCodec is "h264" or "hevc" or "mjpeg" || camera.Source is V4l2Source
                ? DoctorCheck.Ok("camera", camera.Id, detail)
                : DoctorCheck.Warn("camera", camera.Id, detail + $": {p.VideoCodec} is recorded as it comes, but players may not open it",
                    "set the camera's stream to H.264 (or H.265) in its web interface");
            return new CameraProbeLine(camera, check, bitrate);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var reason = e is OperationCanceledException ? $"no answer within {environment.CameraTimeout.TotalSeconds:0} s" : FirstLine(e.Message);
            var fix = camera.Source switch
            {
                RtspSource rtsp => $"check that the camera is powered and on the network (`ping {rtsp.Url.Host}`), that port {(rtsp.Url.IsDefaultPort ? 554 : rtsp.Url.Port)} is open, " +
                    $"and the URL, user and password in camera \"{camera.Id}\"'s source.url; some cameras serve RTSP over {(rtsp.Transport == RtspTransport.Tcp ? "udp" : "tcp")} only (source.transport)",
                V4l2Source v => $"check that the USB camera is plugged in (`ls -l {v.Device}`, `v4l2-ctl --list-devices`) and that edge may read it (video group)",
                _ => "check the camera's source in edge.json",
            };
            return new CameraProbeLine(camera, DoctorCheck.Fail("camera", camera.Id, $"unreachable: {reason} ({source})", fix), null);
        }
    }

    private static string FirstLine(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        // ffprobe's own complaint is the most useful line of FFMpegCore's message, usually the last one.
        var said = lines.LastOrDefault(l => l.Contains("rtsp", StringComparison.OrdinalIgnoreCase) || l.Contains("Connection", StringComparison.Ordinal) || l.Contains("error", StringComparison.OrdinalIgnoreCase))
            ?? lines.FirstOrDefault() ?? text;
        // ffprobe repeats the URL, with the camera's user and password in it: never print those.
        said = CameraProbe.WithoutCredentials(said);
        return said.Count(c => c == ')') > said.Count(c => c == '(') ? said.TrimEnd(')') : said;
    }

    // ---- doors ----

    private IEnumerable<DoctorCheck> Doors(bool agentRunning)
    {
        if (settings.Doors.Count == 0)
        {
            yield return DoctorCheck.Ok("door", null, "no doors configured");
            yield break;
        }
        GpioController? controller = null;
        string description = "", unavailable = "";
        try
        {
            controller = GpioControllerFactory.Create(settings.Gpio.Driver, new GpioControllerOptions { ChipLabel = settings.Gpio.ChipLabel }, out description);
        }
        catch (GpioUnavailableException e) { unavailable = e.Message; }
        if (controller is null)
        {
            yield return DoctorCheck.Fail("door", null, $"GPIO unavailable: {unavailable}", "see the message; `gpiodetect` lists the chips and their labels");
            yield break;
        }
        using (controller)
        {
            foreach (var door in settings.Doors)
            {
                var contact = Read(controller, door.ContactPin, door.ContactPull);
                var button = door.ExitButtonPin is int b ? Read(controller, b, door.ExitButtonPull) : null;
                var failure = contact.Problem ?? button?.Problem;
                if (failure is not null)
                {
                    yield return agentRunning
                        ? DoctorCheck.Warn("door", door.Id, $"{failure} ({description}); the running agent holds the door's pins",
                            "the agent reports this door's events (`edge events list --door " + door.Id + "`); to watch the pins, stop it (`systemctl stop edge`) and run `edge gpio watch`")
                        : DoctorCheck.Fail("door", door.Id, $"{failure} ({description})",
                            "check gpio.chipLabel and the pin numbers (BCM numbers, not header pins), and that edge runs in the gpio group");
                    continue;
                }
                var closed = contact.Level == (door.ContactClosedLevel == PinLevel.High ? PinValue.High : PinValue.Low);
                var detail = $"contact GPIO{door.ContactPin} reads {Show(contact.Level)}: door {(closed ? "closed" : "open")}";
                if (button is not null)
                {
                    var pressed = button.Level == (door.ExitButtonPressedLevel == PinLevel.High ? PinValue.High : PinValue.Low);
                    detail += $"; exit button GPIO{door.ExitButtonPin} reads {Show(button.Level)}: {(pressed ? "pressed" : "released")}";
                    if (pressed)
                    {
                        yield return DoctorCheck.Warn("door", door.Id, detail + " (nobody should be holding it now)",
                            "a button that reads pressed while nobody touches it is stuck or wired to the other level: check exitButtonPressedLevel and the wiring with `edge gpio watch`");
                        continue;
                    }
                }
                yield return DoctorCheck.Ok("door", door.Id, detail + " (open and close it with `edge gpio watch` running to see it change)");
            }
        }
    }

    private sealed record PinReading(PinValue Level, string? Problem);

    private static PinReading Read(GpioController controller, int pin, GpioPull pull)
    {
        var mode = pull switch { GpioPull.Up => PinMode.InputPullUp, GpioPull.Down => PinMode.InputPullDown, _ => PinMode.Input };
        try
        {
            controller.OpenPin(pin, mode);
            try { return new PinReading(controller.Read(pin), null); }
            finally { controller.ClosePin(pin); }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new PinReading(PinValue.Low, $"GPIO{pin} cannot be read: {e.Message}");
        }
    }

    private static string Show(PinValue level) => level == PinValue.High ? "high" : "low";

    // ---- volumes ----

    private IEnumerable<DoctorCheck> Volumes(IReadOnlyList<CameraProbeLine> probes)
    {
        // The agent measures its real write rate (RecordingRate); the doctor runs beside it and estimates from the
        // probed or configured bitrates instead.
        long assumed = 0;
        long bitsPerSecond = probes.Sum(p => p.BitsPerSecond ?? (p.Camera.Source as TestPatternSource)?.BitrateKbps * 1000L ?? Assume(ref assumed));
        double bytesPerDay = bitsPerSecond / 8.0 * 86400;
        var rate = $"{bitsPerSecond / 1e6:0.0} Mbit/s for {settings.Cameras.Count} camera(s){(assumed > 0 ? $", {assumed} of them at an assumed {environment.AssumedBitsPerSecond / 1e6:0} Mbit/s" : "")}";
        foreach (var volume in settings.Volumes)
        {
            if (!Directory.Exists(volume))
            {
                yield return DoctorCheck.Fail("volume", volume, "not present",
                    "mount the disk (`lsblk` shows it, /etc/fstab mounts it at boot), then `edge volumes init " + volume + "` if it is new");
                continue;
            }
            var marker = VolumeMarker.TryRead(volume);
            if (marker is null)
            {
                yield return DoctorCheck.Fail("volume", volume, $"not marked as an Edge volume (no {VolumeMarker.FileName}): edge will not write here",
                    $"if the disk should be mounted here, it is not (`lsblk`, `mount | grep {volume}`); if this is the right disk, `edge volumes init {volume}`");
                continue;
            }
            var probe = Path.Combine(volume, $".edge-doctor-{Environment.ProcessId}");
            string? notWritable = null;
            try
            {
                using (var stream = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.WriteThrough))
                {
                    stream.Write(new byte[4096]);
                    stream.Flush(flushToDisk: true);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { notWritable = e.Message; }
            finally
            {
                try { File.Delete(probe); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            }
            if (notWritable is not null)
            {
                yield return DoctorCheck.Fail("volume", volume, $"marked (volume {marker.VolumeId}) but not writable: {notWritable}",
                    "a disk that turned read-only has errors (`dmesg | tail`); otherwise check that edge owns the directory and the mount is rw (`mount | grep " + volume + "`)");
                continue;
            }
            var drive = new DriveInfo(volume);
            double usable = drive.TotalSize * (1 - settings.Raw.Retention.MinFreePercent / 100);
            double freeDays = bytesPerDay > 0 ? drive.AvailableFreeSpace / bytesPerDay : double.PositiveInfinity;
            double holdsDays = bytesPerDay > 0 ? usable / bytesPerDay : double.PositiveInfinity;
            var detail = $"marked (volume {marker.VolumeId}), writable, {drive.DriveFormat}: {drive.AvailableFreeSpace / 1e9:0.0} GB free of {drive.TotalSize / 1e9:0.0} GB, " +
                $"~{Days(freeDays)} of recording at {rate}; holds ~{Days(holdsDays)} in all";
            yield return holdsDays < settings.RetentionDays
                ? DoctorCheck.Warn("volume", volume, detail + $", less than retention.days ({settings.RetentionDays}): old footage will go for space before its time",
                    "use a larger disk, lower the cameras' bitrate, or lower retention.days to what the disk holds")
                : DoctorCheck.Ok("volume", volume, detail + $" (retention {settings.RetentionDays} days)");
        }

        long Assume(ref long count)
        {
            count++;
            return environment.AssumedBitsPerSecond;
        }
    }

    private static string Days(double days) => double.IsInfinity(days) ? "unlimited days" : $"{days.ToString(days < 10 ? "0.0" : "0", CultureInfo.InvariantCulture)} days";

    // ---- clock ----

    private DoctorCheck Clock()
    {
        var now = $"now {settings.ToSiteTime(time.GetUtcNow()):yyyy-MM-dd HH:mm:ss zzz}";
        bool synchronised = new KernelClockTrust(ClockTrustMode.Auto, time).IsTrusted();
        const string ntp = "check `timedatectl` (\"System clock synchronized: yes\"), that the box reaches an NTP server (UDP 123; /etc/systemd/timesyncd.conf), or fit an RTC";
        return settings.ClockTrust switch
        {
            ClockTrustMode.Never => DoctorCheck.Warn("clock", null, $"{now}; clock.trust is never: every segment is marked clock-untrusted", "set clock.trust to auto once the clock is synchronised"),
            ClockTrustMode.Always when !synchronised => DoctorCheck.Warn("clock", null,
                $"{now}; the kernel says the clock is not synchronised, but clock.trust is always: segments are stamped trusted anyway", ntp + "; then set clock.trust to auto"),
            _ when synchronised => DoctorCheck.Ok("clock", null, $"{now}; synchronised (the kernel reports NTP sync, or an RTC is present)"),
            _ => DoctorCheck.Fail("clock", null, $"{now}; not synchronised: segments are marked clock-untrusted until it is", ntp),
        };
    }

    // ---- broker ----

    private async Task<DoctorCheck> BrokerAsync(CancellationToken cancellationToken)
    {
        if (settings.Sync is not { } sync) return DoctorCheck.Ok("broker", null, "sync is not configured: nothing leaves the box");
        var endpoint = BrokerEndpoint.From(sync);
        BrokerConnection connection;
        try { connection = new BrokerConnection(endpoint); }
        catch (BrokerSetupException e)
        {
            return DoctorCheck.Fail("broker", endpoint.ToString(), e.Message, "put the files from the provision file back (sync.caFile, sync.certFile, sync.keyFile), or provision the box again");
        }
        string identity = "";
        if (connection.ClientCertificate is { } certificate)
        {
            var name = certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
            var now = time.GetUtcNow();
            identity = $" as {name}";
            if (certificate.NotAfter.ToUniversalTime() < now)
                return DoctorCheck.Fail("broker", endpoint.ToString(), $"the box's certificate ({name}) expired on {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd}",
                    "issue a new one from the broker's CA and put it in sync.certFile (and its key in sync.keyFile)");
            if (certificate.NotBefore.ToUniversalTime() > now)
                return DoctorCheck.Fail("broker", endpoint.ToString(), $"the box's certificate ({name}) is valid only from {certificate.NotBefore.ToUniversalTime():yyyy-MM-dd HH:mm}Z: the clock is behind, or the certificate is early",
                    "fix the clock first (see the clock line)");
            if (certificate.NotAfter.ToUniversalTime() < now.AddDays(30))
                identity += $" (certificate expires {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd}: renew it soon)";
        }
        using var client = new MqttClientFactory().CreateMqttClient();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(environment.BrokerTimeout);
        // Not the agent's client id: a second connection with it would throw the agent's session off the broker.
        var clientId = $"{settings.DeviceId}-doctor-{Guid.NewGuid():N}"[..Math.Min(settings.DeviceId.Length + 15, 64)];
        try
        {
            var result = await client.ConnectAsync(connection.CreateOptions(clientId, environment.BrokerTimeout).Build(), limit.Token).ConfigureAwait(false);
            if (result.ResultCode != MqttClientConnectResultCode.Success)
                return DoctorCheck.Fail("broker", endpoint.ToString(), BrokerConnection.DescribeRefusal(result), result.ResultCode switch
                {
                    MqttClientConnectResultCode.NotAuthorized or MqttClientConnectResultCode.BadUserNameOrPassword =>
                        $"the broker does not accept this box: its ACL needs a block for user {settings.DeviceId} (packaging/mosquitto/make-acl --device {settings.SiteId}/{settings.DeviceId}), and the certificate must come from the broker's CA",
                    MqttClientConnectResultCode.ServerUnavailable or MqttClientConnectResultCode.ServerBusy => "the broker is up but not serving: ask the central's operators",
                    _ => "see the reason code; the broker's log says more",
                });
            using var bye = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            try { await client.DisconnectAsync(cancellationToken: bye.Token).ConfigureAwait(false); }
            catch (Exception e) when (e is OperationCanceledException or MQTTnet.Exceptions.MqttCommunicationException) { }
            return DoctorCheck.Ok("broker", endpoint.ToString(), $"connected{(endpoint.UseTls ? " over TLS" : " without TLS")}{identity}, MQTT 5, and disconnected");
        }
        catch (BrokerSetupException e)
        {
            return DoctorCheck.Fail("broker", endpoint.ToString(), e.Message, "put the file back from the provision file (mode 0600, readable by edge), or provision the box again");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return DoctorCheck.Fail("broker", endpoint.ToString(), $"no answer within {environment.BrokerTimeout.TotalSeconds:0} s",
                $"a firewall drops the connection, or the host is wrong: check that TCP {endpoint.Port} to {endpoint.Url.Host} is allowed out of this network");
        }
        catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or System.Net.Sockets.SocketException or IOException
            or System.Security.Authentication.AuthenticationException or InvalidOperationException)
        {
            var problem = connection.DescribeFailure(e);
            var fix = connection.CertificateProblem is not null
                ? "sync.caFile must be the CA that signed the broker's certificate, and sync.broker must use a name in that certificate"
                : Inner(e) is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused }
                    ? $"nothing listens on {endpoint.Url.Host}:{endpoint.Port}: the broker is down or the port is wrong (sync.broker); ask the central's operators"
                    : Inner(e) is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.HostNotFound or System.Net.Sockets.SocketError.TryAgain }
                        ? $"the name {endpoint.Url.Host} does not resolve: check DNS (`resolvectl query {endpoint.Url.Host}`) or use the broker's address"
                        : "if the broker closed the connection during TLS, it did not accept the box's certificate: check sync.certFile and sync.keyFile come from the broker's CA";
            return DoctorCheck.Fail("broker", endpoint.ToString(), $"cannot connect: {problem}", fix);
        }
    }

    private static Exception Inner(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }

    // ---- keys and their permissions ----

    private IEnumerable<DoctorCheck> Keys()
    {
        // The index key: secret, the box's own. Missing before the first run is normal.
        var indexKey = settings.IndexKeyFile;
        if (!File.Exists(indexKey))
        {
            bool indexExists = Directory.Exists(settings.IndexDirectory) && File.Exists(Path.Combine(settings.IndexDirectory, Index.IndexStore.DataFileName));
            yield return indexExists
                ? DoctorCheck.Fail("key", indexKey, "the index key is missing, but the index exists: it cannot be read",
                    "restore the key file from the box's backup; without it the index is lost (the footage is not: it is sealed to the owner's key)")
                : DoctorCheck.Warn("key", indexKey, "the index key does not exist yet", "`edge run` (the service) creates it at its first start");
        }
        else yield return Secret(indexKey, "index key", expectedLength: Index.IndexKeyFile.KeyLength);

        if (settings.OwnerPublicKeyFile is { } ownerPub)
        {
            yield return Public(ownerPub, "owner's public key");
            // The matching private key must never be on the box (docs/design/storage.md).
            var privateBeside = Path.Combine(Path.GetDirectoryName(ownerPub)!, "owner.key");
            if (File.Exists(privateBeside))
                yield return DoctorCheck.Fail("key", privateBeside, "the owner's PRIVATE key is on the box: whoever takes the box can open the footage",
                    "move it to the owner (off the box) and delete it here with `shred -u`; then consider the footage recorded so far exposed");
        }
        if (settings.Sync is { } sync)
        {
            if (sync.KeyFile is { } key) yield return Secret(key, "broker client key");
            if (sync.PasswordFile is { } password) yield return Secret(password, "broker password file");
            if (sync.CertFile is { } cert) yield return Public(cert, "broker client certificate");
            if (sync.CaFile is { } ca) yield return Public(ca, "broker CA");
            if (sync.CommandPublicKeyFile is { } command) yield return Public(command, "command-signing public key");
        }
        // The device signing key has a fixed place on a provisioned box (not in edge.json); elsewhere it may not exist.
        var deviceKey = Provisioning.BoxPaths.DeviceKey;
        if (File.Exists(deviceKey)) yield return Secret(deviceKey, "device signing key");
        else if (settings.ConfigPath.StartsWith(Provisioning.BoxPaths.ConfigDirectory + "/", StringComparison.Ordinal))
            yield return DoctorCheck.Warn("key", deviceKey, "device signing key: missing: exports cannot be signed by this box",
                "`sudo edge provision --file FILE` creates it (and keeps the keys that exist)");
        yield return Public(settings.ConfigPath, "configuration");
    }

    private static DoctorCheck Secret(string path, string what, int? expectedLength = null)
    {
        if (!File.Exists(path)) return DoctorCheck.Fail("key", path, $"{what}: missing", "restore it from the provision file or the box's backup");
        var mode = File.GetUnixFileMode(path);
        var length = new FileInfo(path).Length;
        if ((mode & GroupOrOther) != 0)
            return DoctorCheck.Fail("key", path, $"{what}: mode {Octal(mode)}, readable or writable by others than its owner",
                $"`chmod 600 {path}`, and ask who may have copied it");
        if (expectedLength is int n && length != n)
            return DoctorCheck.Fail("key", path, $"{what}: {length} bytes, expected {n}", "the file is damaged: restore it from the box's backup");
        return DoctorCheck.Ok("key", path, $"{what}: present, mode {Octal(mode)}");
    }

    private static DoctorCheck Public(string path, string what)
    {
        if (!File.Exists(path)) return DoctorCheck.Fail("key", path, $"{what}: missing", "restore it from the provision file");
        var mode = File.GetUnixFileMode(path);
        return (mode & WritableByOthers) != 0
            ? DoctorCheck.Fail("key", path, $"{what}: mode {Octal(mode)}, writable by others than its owner: anyone in the group could swap it",
                $"`chmod go-w {path}`")
            : DoctorCheck.Ok("key", path, $"{what}: present, mode {Octal(mode)}");
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0x1FF, 8);

    // ---- board ----

    private IEnumerable<DoctorCheck> Board()
    {
        if (environment.Board.TryReadCpuTemperature(out var celsius))
            yield return celsius >= 80
                ? DoctorCheck.Warn("board", "temperature", $"CPU {celsius:0.0} °C: the Pi slows itself down from 80 °C (85 °C on a Pi 5)",
                    "improve cooling: a case with a heatsink or fan, air around the box, not on top of other equipment")
                : DoctorCheck.Ok("board", "temperature", $"CPU {celsius:0.0} °C");
        else
            yield return DoctorCheck.Ok("board", "temperature", $"not reported on this machine ({BoardHealthReader.DefaultThermalZonePath} absent): not checked");

        if (!environment.Board.TryReadThrottling(out var throttling))
        {
            yield return DoctorCheck.Ok("board", "power", "under-voltage not reported on this machine (no vcgencmd: not a Raspberry Pi): not checked");
            yield break;
        }
        const string supply = "use the official power supply (5 V 3 A for a Pi 4, 5 V 5 A for a Pi 5) and a short, thick cable; a USB disk without its own power draws from the Pi";
        if (throttling.UnderVoltageNow)
            yield return DoctorCheck.Fail("board", "power", $"UNDER-VOLTAGE NOW (vcgencmd get_throttled = {throttling}): the SD card and USB disk may corrupt", supply);
        else if (throttling.UnderVoltageSinceBoot)
            yield return DoctorCheck.Warn("board", "power", $"under-voltage seen since boot (vcgencmd get_throttled = {throttling})", supply);
        else if (throttling.LimitedNow || throttling.LimitedSinceBoot)
            yield return DoctorCheck.Warn("board", "power", $"no under-voltage, but throttled or frequency-capped (vcgencmd get_throttled = {throttling}): too hot",
                "improve cooling (see the temperature line)");
        else
            yield return DoctorCheck.Ok("board", "power", $"no under-voltage or throttling since boot (vcgencmd get_throttled = {throttling})");
    }
}

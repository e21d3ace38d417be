// Semantic checks of edge.json. Every problem names its key as a JSON path (cameras[1].source.url) and says what
// was expected; all problems are collected so a technician fixes the file in one pass.
using System.Text.RegularExpressions;
using Edge.Hardware.Cameras;
using Edge.Hardware.Clock;
using Edge.Hardware.Gpio;

namespace Edge.Agent.Configuration;

public static partial class EdgeConfigValidator
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^[0-9]{2,5}x[0-9]{2,5}$")]
    private static partial Regex VideoSizePattern();

    public static EdgeSettings Validate(EdgeConfig config, string configPath)
    {
        var problems = new List<string>();
        var baseDir = Path.GetDirectoryName(configPath)!;
        string Abs(string p) => Path.GetFullPath(Path.Combine(baseDir, p));

        string siteId = RequireId(config.SiteId, "siteId", problems);
        string deviceId = RequireId(config.DeviceId, "deviceId", problems);

        TimeZoneInfo zone = TimeZoneInfo.Utc;
        try { zone = TimeZoneInfo.FindSystemTimeZoneById(config.TimeZone); }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            problems.Add($"timeZone: unknown time zone '{config.TimeZone}' (expected an IANA name such as Asia/Tokyo)");
        }

        if (config.Recording.SegmentSeconds <= 0 || config.Recording.SegmentSeconds > 3600)
            problems.Add($"recording.segmentSeconds: must be greater than 0 and at most 3600 (found {config.Recording.SegmentSeconds})");
        if (string.IsNullOrWhiteSpace(config.Recording.FfmpegPath))
            problems.Add("recording.ffmpegPath: must not be empty (default: ffmpeg on PATH)");

        var cameras = new List<CameraSpec>();
        if (config.Cameras is null || config.Cameras.Count == 0)
        {
            problems.Add("cameras: at least one camera is required");
        }
        else
        {
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < config.Cameras.Count; i++)
            {
                var camera = ValidateCamera(config.Cameras[i], $"cameras[{i}]", config.Recording.SegmentSeconds, problems);
                if (camera is null) continue;
                if (seen.TryGetValue(camera.Id, out int first))
                    problems.Add($"cameras[{i}].id: duplicate camera id '{camera.Id}' (already used by cameras[{first}].id)");
                else
                {
                    seen[camera.Id] = i;
                    cameras.Add(camera);
                }
            }
        }

        var volumes = new List<string>();
        if (config.Storage.Volumes is null || config.Storage.Volumes.Count == 0)
            problems.Add("storage.volumes: at least one volume is required (e.g. [{\"path\": \"/srv/edge/video\"}])");
        else
            for (int i = 0; i < config.Storage.Volumes.Count; i++)
            {
                var p = config.Storage.Volumes[i].Path;
                if (string.IsNullOrWhiteSpace(p)) problems.Add($"storage.volumes[{i}].path: is required");
                else volumes.Add(Abs(p));
            }
        if (string.IsNullOrWhiteSpace(config.Storage.StagingDirectory)) problems.Add("storage.stagingDirectory: must not be empty");
        if (string.IsNullOrWhiteSpace(config.Index.Directory)) problems.Add("index.directory: must not be empty");
        if (string.IsNullOrWhiteSpace(config.Index.KeyFile)) problems.Add("index.keyFile: must not be empty");
        var retention = config.Retention;
        if (retention.Days < 1) problems.Add($"retention.days: must be at least 1 (found {retention.Days})");
        if (retention.MinFreePercent is < 0 or >= 100) problems.Add($"retention.minFreePercent: must be from 0 to below 100 (found {retention.MinFreePercent})");
        if (retention.SlackBytesPerCamera < 0) problems.Add($"retention.slackBytesPerCamera: must not be negative (found {retention.SlackBytesPerCamera})");
        if (retention.EmergencyAbovePercent is <= 0 or > 100) problems.Add($"retention.emergencyAbovePercent: must be above 0 and at most 100 (found {retention.EmergencyAbovePercent})");
        if (retention.CheckSeconds <= 0) problems.Add($"retention.checkSeconds: must be positive (found {retention.CheckSeconds})");
        if (retention.AuditYears is < 1 or > 100) problems.Add($"retention.auditYears: must be from 1 to 100 (found {retention.AuditYears})");
        if (retention.EventYears is < 1 or > 100) problems.Add($"retention.eventYears: must be from 1 to 100 (found {retention.EventYears})");

        var trust = config.Clock.Trust.ToLowerInvariant() switch
        {
            "auto" => ClockTrustMode.Auto,
            "always" => ClockTrustMode.Always,
            "never" => ClockTrustMode.Never,
            _ => (ClockTrustMode?)null,
        };
        if (trust is null) problems.Add($"clock.trust: unknown value '{config.Clock.Trust}' (expected auto, always or never)");

        var doors = config.Doors ?? [];
        // Every configured camera id counts, even one with its own problems: a door naming it is not wrong too.
        var cameraIds = (config.Cameras ?? []).Select(c => c.Id).OfType<string>().ToHashSet();
        foreach (var problem in DoorDefinitionValidator.Validate(doors, cameraIds, "doors"))
            problems.Add(CamelCaseKey(problem));
        GpioDriverKind gpioDriver = GpioDriverKind.Libgpiod;
        try { gpioDriver = GpioControllerFactory.ParseKind(config.Gpio.Driver, "gpio.driver"); }
        catch (FormatException e) { problems.Add(e.Message); }
        string? scenario = config.Gpio.ScenarioFile is { Length: > 0 } sf ? Abs(sf) : null;
        if (scenario is not null && gpioDriver != GpioDriverKind.Simulated)
            problems.Add("gpio.scenarioFile: only the simulated driver plays a scenario (set gpio.driver to \"simulated\")");
        if (scenario is not null && !File.Exists(scenario)) problems.Add($"gpio.scenarioFile: {scenario} does not exist");
        if (config.Flags.PreRoll < TimeSpan.Zero) problems.Add($"flags.preRoll: must not be negative (found {config.Flags.PreRoll})");
        if (config.Flags.PostRoll < TimeSpan.Zero) problems.Add($"flags.postRoll: must not be negative (found {config.Flags.PostRoll})");
        string? ownerPublicKey = null;
        // Required: footage never lies on a volume unencrypted (docs/design/storage.md).
        if (string.IsNullOrWhiteSpace(config.Sealing.OwnerPublicKey))
            problems.Add("sealing.ownerPublicKey: is required: the owner's public key (owner.pub from `edge keys init-owner`) that segments are sealed to");
        else
        {
            ownerPublicKey = Abs(config.Sealing.OwnerPublicKey);
            // Loaded once here so a wrong file stops the agent at start, not at the first segment.
            try { Sealing.OwnerKeys.LoadPublic(ownerPublicKey); }
            catch (Sealing.OwnerKeyException e) { problems.Add($"sealing.ownerPublicKey: {e.Message}"); }
        }

        var sync = config.Sync is null ? null : ValidateSync(config.Sync, Abs, problems);

        if (problems.Count > 0) throw new ConfigException(configPath, problems);

        return new EdgeSettings(configPath, siteId, deviceId, zone, cameras, volumes,
            Abs(config.Storage.StagingDirectory), Abs(config.Index.Directory), Abs(config.Index.KeyFile),
            config.Retention.Days, config.Recording.FfmpegPath, trust!.Value, doors,
            new GpioSettings(gpioDriver, config.Gpio.ChipLabel, scenario), config)
        {
            OwnerPublicKeyFile = ownerPublicKey,
            Sync = sync,
        };
    }

    private static Edge.Sync.SyncOptions? ValidateSync(SyncConfig sync, Func<string, string> abs, List<string> problems)
    {
        int before = problems.Count;
        Uri? broker = null;
        if (string.IsNullOrWhiteSpace(sync.Broker))
            problems.Add("sync.broker: is required (mqtts://host:8883, or mqtt://host:1883 on a trusted network)");
        else if (!Uri.TryCreate(sync.Broker, UriKind.Absolute, out broker) || broker.Scheme is not ("mqtt" or "mqtts") || broker.Host.Length == 0)
            problems.Add($"sync.broker: '{sync.Broker}' is not an mqtt:// or mqtts:// URL with a host");
        string? File(string? value, string key)
        {
            if (string.IsNullOrWhiteSpace(value)) return null;
            var path = abs(value);
            if (!System.IO.File.Exists(path)) problems.Add($"sync.{key}: {path} does not exist");
            return path;
        }
        var ca = File(sync.CaFile, "caFile");
        var cert = File(sync.CertFile, "certFile");
        var key = File(sync.KeyFile, "keyFile");
        var password = File(sync.PasswordFile, "passwordFile");
        var commandKey = File(sync.CommandPublicKey, "commandPublicKey");
        if (commandKey is not null && System.IO.File.Exists(commandKey))
        {
            try { Edge.Agent.Sealing.CommandSigningKeys.LoadPublic(commandKey).Dispose(); }
            catch (Edge.Agent.Sealing.OwnerKeyException e)
            {
                problems.Add($"sync.commandPublicKey: {e.Message}");
            }
        }
        if ((cert is null) != (key is null))
            problems.Add("sync.certFile: certFile and keyFile go together (a client certificate needs its key)");
        if ((ca is not null || cert is not null) && broker is { Scheme: "mqtt" })
            problems.Add("sync.broker: certificates are configured but the broker URL is mqtt:// (use mqtts:// for TLS)");
        if (password is not null && string.IsNullOrWhiteSpace(sync.Username))
            problems.Add("sync.username: is required when sync.passwordFile is set");
        if (sync.HealthSeconds is < 1 or > 86400) problems.Add($"sync.healthSeconds: must be from 1 to 86400 (found {sync.HealthSeconds})");
        if (sync.KeepAliveSeconds is < 1 or > 3600) problems.Add($"sync.keepAliveSeconds: must be from 1 to 3600 (found {sync.KeepAliveSeconds})");
        if (sync.ClipChunkBytes is < 1024 or > 1 << 20) problems.Add($"sync.clipChunkBytes: must be from 1024 to 1048576 (found {sync.ClipChunkBytes})");
        if (sync.ClipBandwidthKbps < 0) problems.Add($"sync.clipBandwidthKbps: must not be negative; 0 means no cap (found {sync.ClipBandwidthKbps})");
        if (sync.OutboxMaxBytes < 1 << 20) problems.Add($"sync.outboxMaxBytes: must be at least 1048576 (found {sync.OutboxMaxBytes})");
        if (sync.CommandMaxAgeSeconds is < 1 or > 86400) problems.Add($"sync.commandMaxAgeSeconds: must be from 1 to 86400 (found {sync.CommandMaxAgeSeconds})");
        if (sync.ClipAckTimeoutSeconds is < 5 or > 604800) problems.Add($"sync.clipAckTimeoutSeconds: must be from 5 to 604800 (found {sync.ClipAckTimeoutSeconds})");
        if (problems.Count > before) return null;
        return new Edge.Sync.SyncOptions
        {
            Broker = broker!,
            CaFile = ca,
            CertFile = cert,
            KeyFile = key,
            Username = string.IsNullOrWhiteSpace(sync.Username) ? null : sync.Username,
            PasswordFile = password,
            CommandPublicKeyFile = commandKey,
            HealthInterval = TimeSpan.FromSeconds(sync.HealthSeconds),
            KeepAlive = TimeSpan.FromSeconds(sync.KeepAliveSeconds),
            ClipChunkBytes = sync.ClipChunkBytes,
            ClipBandwidthKbps = sync.ClipBandwidthKbps,
            OutboxMaxBytes = sync.OutboxMaxBytes,
            CommandMaxAge = TimeSpan.FromSeconds(sync.CommandMaxAgeSeconds),
            ClipAckTimeout = TimeSpan.FromSeconds(sync.ClipAckTimeoutSeconds),
        };
    }

    private static string RequireId(string? value, string key, List<string> problems)
    {
        if (string.IsNullOrWhiteSpace(value)) { problems.Add($"{key}: is required"); return ""; }
        if (!IdPattern().IsMatch(value)) problems.Add($"{key}: '{value}' is not a valid id (letters, digits, '.', '_' and '-', at most 64)");
        return value;
    }

    private static CameraSpec? ValidateCamera(CameraConfig camera, string key, double defaultSegmentSeconds, List<string> problems)
    {
        int before = problems.Count;
        string id = RequireId(camera.Id, key + ".id", problems);
        double segmentSeconds = camera.SegmentSeconds ?? defaultSegmentSeconds;
        if (camera.SegmentSeconds is double s && (s <= 0 || s > 3600))
            problems.Add($"{key}.segmentSeconds: must be greater than 0 and at most 3600 (found {s})");

        CameraSource? source = null;
        var src = camera.Source;
        if (src is null) problems.Add($"{key}.source: is required");
        else
        {
            string sk = key + ".source";
            switch (src.Type?.ToLowerInvariant())
            {
                case "rtsp":
                    RtspTransport transport = RtspTransport.Tcp;
                    if (src.Transport is not null)
                    {
                        if (src.Transport.Equals("udp", StringComparison.OrdinalIgnoreCase)) transport = RtspTransport.Udp;
                        else if (!src.Transport.Equals("tcp", StringComparison.OrdinalIgnoreCase))
                            problems.Add($"{sk}.transport: unknown transport '{src.Transport}' (expected tcp or udp)");
                    }
                    if (!Uri.TryCreate(src.Url, UriKind.Absolute, out var url) || (url.Scheme != "rtsp" && url.Scheme != "rtsps"))
                        problems.Add($"{sk}.url: expected an rtsp:// URL (found '{Redact(src.Url)}')");
                    else source = new RtspSource(url, transport);
                    break;
                case "v4l2":
                    V4l2InputFormat format = V4l2InputFormat.Mjpeg;
                    if (string.IsNullOrWhiteSpace(src.Device)) problems.Add($"{sk}.device: is required for a v4l2 camera (e.g. /dev/video0)");
                    if (src.InputFormat is not null)
                    {
                        if (src.InputFormat.Equals("h264", StringComparison.OrdinalIgnoreCase)) format = V4l2InputFormat.H264;
                        else if (!src.InputFormat.Equals("mjpeg", StringComparison.OrdinalIgnoreCase))
                            problems.Add($"{sk}.inputFormat: unknown format '{src.InputFormat}' (expected mjpeg or h264; raw formats would need a re-encode)");
                    }
                    if (src.VideoSize is not null && !VideoSizePattern().IsMatch(src.VideoSize))
                        problems.Add($"{sk}.videoSize: expected WIDTHxHEIGHT such as 1280x720 (found '{src.VideoSize}')");
                    if (src.Fps is <= 0) problems.Add($"{sk}.fps: must be positive (found {src.Fps})");
                    if (!string.IsNullOrWhiteSpace(src.Device)) source = new V4l2Source(src.Device, format, src.VideoSize, src.Fps);
                    break;
                case "testpattern":
                    string size = src.VideoSize ?? "640x360";
                    if (!VideoSizePattern().IsMatch(size)) problems.Add($"{sk}.videoSize: expected WIDTHxHEIGHT such as 640x360 (found '{size}')");
                    if (src.Fps is <= 0) problems.Add($"{sk}.fps: must be positive (found {src.Fps})");
                    if (src.BitrateKbps is <= 0) problems.Add($"{sk}.bitrateKbps: must be positive (found {src.BitrateKbps})");
                    source = new TestPatternSource(size, src.Fps ?? 15, src.BitrateKbps ?? 800);
                    break;
                case null:
                    problems.Add($"{sk}.type: is required (rtsp, v4l2 or testPattern)");
                    break;
                default:
                    problems.Add($"{sk}.type: unknown camera source type '{src.Type}' (expected rtsp, v4l2 or testPattern)");
                    break;
            }
        }
        if (problems.Count > before || source is null) return null;
        return new CameraSpec(id, source, TimeSpan.FromSeconds(segmentSeconds), camera.Audio);
    }

    [GeneratedRegex(@"(doors\[\d+\])\.([A-Z])")]
    private static partial Regex DoorKey();

    /// <summary>The door validator names keys after DoorDefinition's properties (ContactPin); edge.json spells them contactPin.</summary>
    private static string CamelCaseKey(string problem) =>
        DoorKey().Replace(problem, m => m.Groups[1].Value + "." + m.Groups[2].Value.ToLowerInvariant());

    /// <summary>Error messages must not print a camera password: rtsp://user:pass@host becomes rtsp://user:***@host.</summary>
    public static string Redact(string? url)
    {
        if (url is null) return "";
        if (Uri.TryCreate(url, UriKind.Absolute, out var u) && u.UserInfo.Contains(':'))
            return url.Replace(u.UserInfo, u.UserInfo[..u.UserInfo.IndexOf(':')] + ":***", StringComparison.Ordinal);
        return url;
    }
}

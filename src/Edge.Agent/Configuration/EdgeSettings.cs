using Edge.Hardware.Cameras;
using Edge.Hardware.Clock;
using Edge.Hardware.Gpio;

namespace Edge.Agent.Configuration;

/// <summary>
/// edge.json after validation: typed, absolute paths, defaults applied. Everything downstream takes this, never the
/// raw JSON, so a value that reached the pipeline has been checked.
/// </summary>
public sealed record EdgeSettings(
    string ConfigPath,
    string SiteId,
    string DeviceId,
    TimeZoneInfo TimeZone,
    IReadOnlyList<CameraSpec> Cameras,
    IReadOnlyList<string> Volumes,
    string StagingDirectory,
    string IndexDirectory,
    string IndexKeyFile,
    int RetentionDays,
    string FfmpegPath,
    ClockTrustMode ClockTrust,
    IReadOnlyList<DoorDefinition> Doors,
    GpioSettings Gpio,
    EdgeConfig Raw)
{
    /// <summary>sealing.ownerPublicKey as an absolute path, checked to be a P-256 public key; null: segments are not encrypted.</summary>
    public string? OwnerPublicKeyFile { get; init; }

    /// <summary>The `sync` section, validated; null: sync is off and nothing leaves the box.</summary>
    public Edge.Sync.SyncOptions? Sync { get; init; }

    public CameraSpec? FindCamera(string id) => Cameras.FirstOrDefault(c => c.Id == id);

    /// <summary>A time for people: in the site's time zone, ISO 8601 with its offset.</summary>
    public DateTimeOffset ToSiteTime(DateTimeOffset utc) => TimeZoneInfo.ConvertTime(utc, TimeZone);
}

public sealed record GpioSettings(GpioDriverKind Driver, string? ChipLabel, string? ScenarioFile);

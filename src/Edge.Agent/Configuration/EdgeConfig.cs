// The shape of edge.json. Property names are the JSON keys (camelCase); every key a user can write is here, and
// unknown keys are refused (a typo must not silently fall back to a default). Defaults live in the initialisers.
// Validation is in EdgeConfigValidator; loading and error wording in EdgeConfigLoader. Reference: docs/ref/config.md.
using System.Text.Json;
using Edge.Hardware.Gpio;

namespace Edge.Agent.Configuration;

public sealed class EdgeConfig
{
    public string? SiteId { get; set; }
    public string? DeviceId { get; set; }
    /// <summary>IANA time zone of the site (e.g. Asia/Tokyo): times shown to people and door schedules use it. UTC is stored.</summary>
    public string TimeZone { get; set; } = "UTC";
    public List<CameraConfig>? Cameras { get; set; }
    /// <summary>Door sensors on GPIO; each binds to Edge.Hardware.Gpio.DoorDefinition (times as "hh:mm:ss.fff").</summary>
    public List<DoorDefinition>? Doors { get; set; }
    public FlagsConfig Flags { get; set; } = new();
    public StorageConfig Storage { get; set; } = new();
    public IndexConfig Index { get; set; } = new();
    public RetentionConfig Retention { get; set; } = new();
    public RecordingConfig Recording { get; set; } = new();
    public ClockConfig Clock { get; set; } = new();
    public GpioConfig Gpio { get; set; } = new();
    public SealingConfig Sealing { get; set; } = new();
    public SyncConfig? Sync { get; set; }
}

public sealed class CameraConfig
{
    public string? Id { get; set; }
    public CameraSourceConfig? Source { get; set; }
    /// <summary>Overrides recording.segmentSeconds for this camera.</summary>
    public double? SegmentSeconds { get; set; }
    public bool Audio { get; set; } = true;
}

public sealed class CameraSourceConfig
{
    /// <summary>rtsp, v4l2 or testPattern.</summary>
    public string? Type { get; set; }
    public string? Url { get; set; }
    /// <summary>tcp (default) or udp, for rtsp.</summary>
    public string? Transport { get; set; }
    public string? Device { get; set; }
    /// <summary>mjpeg or h264, for v4l2.</summary>
    public string? InputFormat { get; set; }
    public string? VideoSize { get; set; }
    public int? Fps { get; set; }
    public int? BitrateKbps { get; set; }
}

public sealed class StorageConfig
{
    /// <summary>Where sealed segments go, in order of preference (e.g. the USB disk first, the SD card as fallback).</summary>
    public List<VolumeConfig>? Volumes { get; set; }
    /// <summary>Where ffmpeg writes segments before they are sealed. RAM (tmpfs) on a box, so plaintext never reaches flash.</summary>
    public string StagingDirectory { get; set; } = "/run/edge/staging";
}

public sealed class VolumeConfig
{
    public string? Path { get; set; }
}

public sealed class IndexConfig
{
    public string Directory { get; set; } = "/var/lib/edge/index";
    /// <summary>32 random bytes; created with mode 0600 on first run when missing.</summary>
    public string KeyFile { get; set; } = "/var/lib/edge/keys/index.key";
}

public sealed class RetentionConfig
{
    public int Days { get; set; } = 30;
    /// <summary>Free space a volume keeps, at least this share of its size (the floor also covers an hour of recording).</summary>
    public double MinFreePercent { get; set; } = 10;
    /// <summary>Extra free space kept per camera on top of the floor.</summary>
    public long SlackBytesPerCamera { get; set; } = 1L << 30;
    /// <summary>Above this use, even protected (flagged, unsynced) footage may be deleted, with a retention_emergency event.</summary>
    public double EmergencyAbovePercent { get; set; } = 99;
    public double CheckSeconds { get; set; } = 60;
    /// <summary>Audit records older than this many years are deleted; the chain stays verifiable from a checkpoint.</summary>
    public int AuditYears { get; set; } = 5;
    /// <summary>Closed events (doors, cameras, storage) that started more than this many years ago are deleted.</summary>
    public int EventYears { get; set; } = 5;
}

public sealed class RecordingConfig
{
    public double SegmentSeconds { get; set; } = 10;
    public string FfmpegPath { get; set; } = "ffmpeg";
}

public sealed class SealingConfig
{
    /// <summary>
    /// Path of the owner's public key (owner.pub from `edge keys init-owner`). When set, segments are sealed to it; the
    /// box never holds the matching private key. See docs/sealed-format.md.
    /// </summary>
    public string? OwnerPublicKey { get; set; }
}

public sealed class ClockConfig
{
    /// <summary>auto (ask the kernel whether NTP has synchronised, or an RTC is present), always or never.</summary>
    public string Trust { get; set; } = "auto";
}

public sealed class GpioConfig
{
    /// <summary>libgpiod (a Raspberry Pi) or simulated (tests, demos: pins driven by code or a scenario file).</summary>
    public string Driver { get; set; } = "libgpiod";
    /// <summary>Force a gpiochip by label when auto-detection (pinctrl-rp1, -bcm2711, -bcm2835) is wrong.</summary>
    public string? ChipLabel { get; set; }
    /// <summary>For the simulated driver: a timeline of pin changes to play (see src/Edge.Hardware/Gpio/README.md).</summary>
    public string? ScenarioFile { get; set; }
}

public sealed class FlagsConfig
{
    /// <summary>Footage kept from this long before a door opened...</summary>
    public TimeSpan PreRoll { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>...until this long after it closed.</summary>
    public TimeSpan PostRoll { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>MQTT sync to the central (docs/protocol.md). Absent: nothing leaves the box.</summary>
public sealed class SyncConfig
{
    public string? Broker { get; set; }
    public string? CaFile { get; set; }
    public string? CertFile { get; set; }
    public string? KeyFile { get; set; }
    public string? Username { get; set; }
    public string? PasswordFile { get; set; }
    public string? CommandPublicKey { get; set; }
    public double HealthSeconds { get; set; } = 60;
    public double KeepAliveSeconds { get; set; } = 15;
    public int ClipChunkBytes { get; set; } = 64 * 1024;
    public int ClipBandwidthKbps { get; set; } = 1000;
    public long OutboxMaxBytes { get; set; } = 256L << 20;
    public double CommandMaxAgeSeconds { get; set; } = 300;
    public double ClipAckTimeoutSeconds { get; set; } = 600;
}

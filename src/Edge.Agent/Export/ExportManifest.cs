// manifest.json of an export: what was handed over, from where, why and to whom, with the hashes that tie the MP4s to
// the sealed segments they were cut from. It is written once, as these exact bytes, and signed over those bytes with
// the device signing key (manifest.sig, detached). Field names are the contract for whoever checks an export; see
// docs/design/export.md.
using System.Text.Encodings.Web;
using System.Text.Json;
using Edge.Agent.Cli;

namespace Edge.Agent.Export;

public static class ExportFiles
{
    public const string Manifest = "manifest.json";
    public const string Signature = "manifest.sig";
    public const string Format = "edge-export/v1";

    /// <summary>
    /// The CLI's JSON style, but with Japanese text and PEM's '+' written as themselves rather than \uXXXX escapes:
    /// the manifest is read by people (a police officer, a court clerk) as well as by `export verify`.
    /// </summary>
    public static readonly JsonSerializerOptions ManifestJson = new(CliJson.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}

public sealed record ExportManifest(
    string Format,
    ManifestSite Site,
    ManifestDevice Device,
    ManifestWindow Window,
    IReadOnlyList<ManifestCamera> Cameras,
    IReadOnlyList<ManifestFile> Files,
    ManifestExporter ExportedBy,
    string Reason,
    string Recipient,
    string? LegalBasis,
    string OwnerKeyId,
    ManifestTool Tool,
    DateTimeOffset CreatedAtUtc,
    DateTimeOffset CreatedAtSite);

public sealed record ManifestSite(string Id, string TimeZone);

/// <summary>The box, and the public half of the key manifest.sig was made with (PEM SubjectPublicKeyInfo).</summary>
public sealed record ManifestDevice(string Id, string SigningKeyId, string SigningPublicKey);

/// <summary>The window asked for, in UTC and in the site's time (the clock on the wall of the room).</summary>
public sealed record ManifestWindow(DateTimeOffset FromUtc, DateTimeOffset ToUtc, DateTimeOffset FromSite, DateTimeOffset ToSite);

/// <param name="ClockTrusted">True only when every source segment was stamped by a trusted clock (NTP or RTC).</param>
/// <param name="CoveredSeconds">Seconds of the window the sources cover; less than the window when there are gaps.</param>
public sealed record ManifestCamera(string Id, string File, bool ClockTrusted, double CoveredSeconds,
    IReadOnlyList<ManifestSource> Sources, IReadOnlyList<ManifestGap> Gaps);

/// <summary>One sealed segment the MP4 was cut from: its index id, its times, and the hashes of the stored (sealed) file and of the footage.</summary>
public sealed record ManifestSource(long SegmentId, DateTimeOffset StartUtc, DateTimeOffset EndUtc, double DurationSeconds, bool ClockTrusted,
    string RelativePath, long StoredBytes, string StoredSha256, long Bytes, string Sha256);

/// <summary>Part of the window with no footage of this camera (not recorded, or its segment is missing from disk).</summary>
public sealed record ManifestGap(DateTimeOffset FromUtc, DateTimeOffset ToUtc, string Why);

public sealed record ManifestFile(string Name, long Bytes, string Sha256, string? Camera);

/// <param name="User">The Unix user that ran the export.</param>
/// <param name="SudoUser">The user who ran it through sudo, when it was (SUDO_USER).</param>
public sealed record ManifestExporter(string User, string? SudoUser);

public sealed record ManifestTool(string Name, string Version);

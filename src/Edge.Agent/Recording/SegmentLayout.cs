// Where a sealed segment lives on a volume, and how to read its identity back from its name alone, so that a file
// sealed just before a crash (and never indexed) can be adopted at start-up. See docs/design/recording.md.
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Edge.Agent.Recording;

public static partial class SegmentLayout
{
    public const string PartialSuffix = ".partial";

    /// <summary>
    /// A camera's directory name is a hash of its id, not the id: directory names are plain bytes on the volume, and the
    /// volume must not show which rooms and cameras a site has.
    /// </summary>
    public static string CameraDirectory(string cameraId) =>
        "c" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("edge-camera:" + cameraId)))[..16];

    public static string RelativePath(string cameraId, DateTimeOffset startUtc, double durationSeconds, bool clockTrusted, string extension)
    {
        var start = startUtc.UtcDateTime;
        long durationMs = (long)Math.Round(durationSeconds * 1000);
        return Path.Combine(CameraDirectory(cameraId), start.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            $"{start.ToString("yyyyMMdd'T'HHmmss'.'fff", CultureInfo.InvariantCulture)}Z_{durationMs}ms_{(clockTrusted ? 'T' : 'U')}{extension}");
    }

    [GeneratedRegex(@"^(?<start>\d{8}T\d{6}\.\d{3})Z_(?<ms>\d+)ms_(?<trust>[TU])(?<ext>\.\w+)$")]
    private static partial Regex NamePattern();

    public sealed record ParsedName(DateTime StartUtc, double DurationSeconds, bool ClockTrusted, string Extension);

    public static ParsedName? Parse(string fileName)
    {
        var m = NamePattern().Match(fileName);
        if (!m.Success) return null;
        var start = DateTime.ParseExact(m.Groups["start"].Value, "yyyyMMdd'T'HHmmss'.'fff", CultureInfo.InvariantCulture,
            DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
        return new ParsedName(start, long.Parse(m.Groups["ms"].Value, CultureInfo.InvariantCulture) / 1000.0,
            m.Groups["trust"].Value == "T", m.Groups["ext"].Value);
    }
}

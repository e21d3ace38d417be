// Where a sealed segment lives on a volume. The name carries start, media duration and clock trust so a person
// looking at a volume can place a file in time without the index; the camera directory is a hash of the camera id.
// See docs/design/recording.md.
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Edge.Agent.Recording;

public static class SegmentLayout
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
}

// Reads what a media file or a live RTSP stream contains, with ffprobe, the
// way a test wants to assert it: codecs, sizes, frame rate, key frame times.
using System.Globalization;
using System.Text.Json;

namespace Edge.Tests.Fixtures;

public sealed record MediaStreamInfo(
    int Index,
    string CodecType,
    string CodecName,
    int? Width,
    int? Height,
    string? PixelFormat,
    int? HasBFrames,
    double? FramesPerSecond,
    int? SampleRate,
    int? Channels);

public sealed record MediaProbeResult(IReadOnlyList<MediaStreamInfo> Streams, TimeSpan? Duration)
{
    public MediaStreamInfo? Video => Streams.FirstOrDefault(s => s.CodecType == "video");
    public MediaStreamInfo? Audio => Streams.FirstOrDefault(s => s.CodecType == "audio");
}

public sealed class MediaProbeException(string message) : Exception(message);

public static class MediaProbe
{
    /// <summary>rtsp-server-perl only sends RTP over UDP; every pull from it needs this.</summary>
    public static readonly IReadOnlyList<string> RtspPullOptions = ["-rtsp_transport", "udp"];

    public static Task<MediaProbeResult> ProbeFileAsync(string path, CancellationToken ct = default) =>
        ProbeAsync(path, [], TimeSpan.FromSeconds(30), ct);

    /// <summary>
    /// Probes a live stream: succeeds once a picture has arrived (within about
    /// 2 s with the test clips). Throws MediaProbeException when the stream
    /// cannot be read: connection refused, 404, or announced but no picture
    /// within 5 s (a stalled feed).
    /// </summary>
    public static async Task<MediaProbeResult> ProbeRtspAsync(Uri url, CancellationToken ct = default)
    {
        // -timeout: socket I/O timeout in microseconds (ffmpeg 5), so a server
        // that accepts but never sends fails instead of hanging.
        var result = await ProbeAsync(url.ToString(), [.. RtspPullOptions, "-timeout", "5000000", "-analyzeduration", "1000000"], TimeSpan.FromSeconds(20), ct);
        // ffprobe takes codec and stream list from the SDP and still exits 0
        // when no packet ever comes; a size only appears once a picture did.
        if (result.Video is { Width: null or 0 } video)
        {
            throw new MediaProbeException(
                $"{url} announces {video.CodecName} video but no picture arrived within 5 s, expected a live picture. " +
                "The feed behind the stream is stalled or gone.");
        }
        return result;
    }

    /// <summary>Presentation times of the video key frames in a file.</summary>
    public static async Task<IReadOnlyList<TimeSpan>> KeyFrameTimesAsync(string path, CancellationToken ct = default)
    {
        var result = await ProcessRunner.RunAsync("ffprobe",
            ["-v", "error", "-select_streams", "v:0", "-skip_frame", "nokey", "-show_entries", "frame=pts_time", "-of", "csv=p=0", path],
            TimeSpan.FromSeconds(60), ct);
        if (!result.Succeeded)
            throw new MediaProbeException($"ffprobe could not list the key frames of {path} (status {result.ExitCode}): {ProcessRunner.Tail(result.StandardError)}");
        return result.StandardOutput
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.TrimEnd(','))
            .Where(line => line.Length > 0)
            .Select(line => TimeSpan.FromSeconds(double.Parse(line, CultureInfo.InvariantCulture)))
            .ToList();
    }

    private static async Task<MediaProbeResult> ProbeAsync(string input, IReadOnlyList<string> inputOptions, TimeSpan timeout, CancellationToken ct)
    {
        List<string> arguments = ["-v", "error", .. inputOptions, "-show_streams", "-show_format", "-of", "json", input];
        var result = await ProcessRunner.RunAsync("ffprobe", arguments, timeout, ct);
        if (!result.Succeeded)
            throw new MediaProbeException($"ffprobe could not read {input} (status {result.ExitCode}): {ProcessRunner.Tail(result.StandardError)}");

        using var json = JsonDocument.Parse(result.StandardOutput);
        var streams = new List<MediaStreamInfo>();
        if (json.RootElement.TryGetProperty("streams", out var array))
        {
            foreach (var s in array.EnumerateArray())
            {
                streams.Add(new MediaStreamInfo(
                    Index: s.GetProperty("index").GetInt32(),
                    CodecType: String(s, "codec_type") ?? "unknown",
                    CodecName: String(s, "codec_name") ?? "unknown",
                    Width: Int(s, "width"),
                    Height: Int(s, "height"),
                    PixelFormat: String(s, "pix_fmt"),
                    HasBFrames: Int(s, "has_b_frames"),
                    FramesPerSecond: Rate(String(s, "avg_frame_rate")) ?? Rate(String(s, "r_frame_rate")),
                    SampleRate: int.TryParse(String(s, "sample_rate"), CultureInfo.InvariantCulture, out var rate) ? rate : null,
                    Channels: Int(s, "channels")));
            }
        }
        TimeSpan? duration = null;
        if (json.RootElement.TryGetProperty("format", out var format)
            && double.TryParse(String(format, "duration"), CultureInfo.InvariantCulture, out var seconds))
            duration = TimeSpan.FromSeconds(seconds);
        if (streams.Count == 0)
            throw new MediaProbeException($"ffprobe read {input} but found no streams in it; expected at least one video stream.");
        return new MediaProbeResult(streams, duration);
    }

    private static string? String(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static int? Int(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;

    // ffprobe writes rates as fractions, "25/1"; "0/0" means unknown.
    private static double? Rate(string? fraction)
    {
        var parts = fraction?.Split('/');
        if (parts is not [var n, var d]
            || !double.TryParse(n, CultureInfo.InvariantCulture, out var num)
            || !double.TryParse(d, CultureInfo.InvariantCulture, out var den)
            || den == 0 || num == 0)
            return null;
        return num / den;
    }
}

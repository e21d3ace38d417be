// Facts about a media file from the real ffprobe: does it play, how long, where do its timestamps start.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Edge.Tests.Support;

public sealed record MediaFacts(bool Plays, double StartSeconds, double DurationSeconds, string? VideoCodec, int Width, int Height);

public static class Media
{
    public static async Task<MediaFacts> ProbeAsync(string path)
    {
        var info = new ProcessStartInfo("ffprobe") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path }) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var json = await p.StandardOutput.ReadToEndAsync();
        await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) return new MediaFacts(false, 0, 0, null, 0, 0);
        using var doc = JsonDocument.Parse(json);
        var format = doc.RootElement.GetProperty("format");
        double Num(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && double.TryParse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : 0;
        var video = doc.RootElement.GetProperty("streams").EnumerateArray().FirstOrDefault(s => s.GetProperty("codec_type").GetString() == "video");
        bool hasVideo = video.ValueKind == JsonValueKind.Object;
        double duration = Num(format, "duration");
        return new MediaFacts(hasVideo && duration > 0, Num(format, "start_time"), duration,
            hasVideo ? video.GetProperty("codec_name").GetString() : null,
            hasVideo ? video.GetProperty("width").GetInt32() : 0, hasVideo ? video.GetProperty("height").GetInt32() : 0);
    }

    /// <summary>Decodes the whole file: a torn or corrupt file shows decode errors here even when ffprobe opens it.</summary>
    public static async Task<bool> DecodesCleanlyAsync(string path)
    {
        var info = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-v", "error", "-xerror", "-i", path, "-f", "null", "-" }) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var err = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return p.ExitCode == 0 && err.Trim().Length == 0;
    }
}

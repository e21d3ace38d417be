using Edge.Agent.Configuration;
using Edge.Hardware.Cameras;

namespace Edge.Agent.Cli;

public static class CamerasCommand
{
    public sealed record ProbeJson(string Id, string Source, bool Reachable, string? VideoCodec, int? Width, int? Height,
        double? Fps, long? BitrateBitsPerSecond, string? AudioCodec, string? AudioStored, string? Error);

    public static async Task<int> ProbeAsync(FileInfo configFile, bool json, CommandContext context, CancellationToken cancellationToken)
    {
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        var results = new List<ProbeJson>();
        foreach (var camera in settings.Cameras)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(20));
            try
            {
                var p = await CameraProbe.ProbeAsync(camera.Source, timeout.Token).ConfigureAwait(false);
                var container = SegmentContainer.For(camera.Source);
                string? stored = p.AudioCodec is null ? null
                    : !camera.RecordAudio ? "dropped (audio disabled for this camera)"
                    : container.CanHoldAudio(p.AudioCodec) ? "copied" : $"dropped ({p.AudioCodec} does not fit {container.FfmpegFormat})";
                results.Add(new ProbeJson(camera.Id, camera.Source.Describe(), true, p.VideoCodec, p.Width, p.Height,
                    Math.Round(p.FramesPerSecond, 2), p.BitrateBitsPerSecond, p.AudioCodec, stored, null));
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                var reason = e is OperationCanceledException ? "no answer within 20 s" : e.Message.Split('\n')[0];
                results.Add(new ProbeJson(camera.Id, camera.Source.Describe(), false, null, null, null, null, null, null, null, reason));
            }
        }
        if (json) CliJson.Write(context.Out, results);
        else
            foreach (var r in results)
                context.Out.WriteLine(r.Reachable
                    ? $"{r.Id,-14} {r.VideoCodec} {r.Width}x{r.Height} {r.Fps:0.##} fps {(r.BitrateBitsPerSecond is long b ? $"{b / 1000} kbit/s" : "bitrate unknown")}; audio: {r.AudioCodec ?? "none"}{(r.AudioStored is null ? "" : " → " + r.AudioStored)}  ({r.Source})"
                    : $"{r.Id,-14} UNREACHABLE: {r.Error}  ({r.Source})");
        return results.All(r => r.Reachable) ? EdgeCli.ExitOk : EdgeCli.ExitFailure;
    }
}

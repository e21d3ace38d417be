using Edge.Agent.Storage;

namespace Edge.Agent.Cli;

public static class VolumesCommand
{
    /// <summary>`edge volumes init PATH`: marks a mounted disk (or directory) as an Edge storage volume.</summary>
    public static Task<int> InitAsync(DirectoryInfo path, CommandContext context, CancellationToken _)
    {
        try
        {
            var marker = VolumeMarker.Write(path.FullName, context.Time);
            context.Out.WriteLine($"{path.FullName} is now Edge volume {marker.VolumeId} ({VolumeMarker.PathIn(path.FullName)})");
            return Task.FromResult(EdgeCli.ExitOk);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            context.Err.WriteLine($"edge: volumes init: {e.Message}");
            return Task.FromResult(EdgeCli.ExitFailure);
        }
    }
}

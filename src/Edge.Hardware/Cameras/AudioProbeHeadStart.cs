// The recorder probes a camera's audio before each ffmpeg start (CameraProbe.ProbeAudioCodecAsync, ~0.3 s of RTSP
// handshake). At agent start that probe does not have to wait for the index to open and reconcile (~0.7 s here):
// `edge run` starts every camera's first probe as soon as the configuration is read, and each recorder's first run
// takes its result. Later runs (restarts after a failure) probe afresh: the camera may have changed.
namespace Edge.Hardware.Cameras;

public sealed class AudioProbeHeadStart : IDisposable
{
    private readonly Dictionary<string, Task<string?>> _probes = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();

    private AudioProbeHeadStart() { }

    /// <summary>Starts the probe of every camera that will be probed (RTSP with audio recording on); returns at once.</summary>
    public static AudioProbeHeadStart Start(IEnumerable<CameraSpec> cameras, string ffprobePath, TimeSpan timeout)
    {
        var headStart = new AudioProbeHeadStart();
        foreach (var camera in cameras.Where(c => c.RecordAudio && c.Source is RtspSource))
        {
            var probe = Task.Run(async () =>
            {
                using var limit = CancellationTokenSource.CreateLinkedTokenSource(headStart._stop.Token);
                limit.CancelAfter(timeout);
                return await CameraProbe.ProbeAudioCodecAsync(camera.Source, limit.Token, ffprobePath).ConfigureAwait(false);
            });
            // Observed here so that a probe nobody takes (the agent failed to start) is not an unobserved exception;
            // the recorder that takes it still sees the failure.
            _ = probe.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
            headStart._probes[camera.Id] = probe;
        }
        return headStart;
    }

    /// <summary>The probe started for this camera, once: the first caller gets it, later callers null.</summary>
    public Task<string?>? Take(string cameraId)
    {
        lock (_probes)
            return _probes.Remove(cameraId, out var probe) ? probe : null;
    }

    /// <summary>Cancels the probes nobody took (their ffprobe is killed).</summary>
    public void Dispose()
    {
        _stop.Cancel(); // not disposed: a probe just starting may still link to it
    }
}

namespace Edge.Hardware.Cameras;

/// <summary>What a camera recorder tells the pipeline. Consumed in order, per camera, from one channel.</summary>
public abstract record RecorderSignal(string CameraId);

/// <summary>ffmpeg finished a segment file in the staging directory; it is complete and waits to be sealed.</summary>
/// <param name="MediaStartSeconds">Start in the stream's own clock, as ffmpeg's segment list reports it.</param>
/// <param name="StartUtc">Wall-clock start: the run's anchor plus the media start (see docs/design/time.md).</param>
public sealed record SegmentFinished(
    string CameraId,
    string StagedPath,
    double MediaStartSeconds,
    double MediaEndSeconds,
    DateTimeOffset StartUtc,
    DateTimeOffset EndUtc,
    bool ClockTrusted) : RecorderSignal(CameraId)
{
    /// <summary>When the recorder read ffmpeg's announcement (monotonic, TimeProvider timestamp): seal latency starts here.</summary>
    public long AnnouncedTimestamp { get; init; }

    public double DurationSeconds => MediaEndSeconds - MediaStartSeconds;
}

/// <summary>A staged file ffmpeg never finished (the process died or was killed while writing it).</summary>
public sealed record SegmentTorn(string CameraId, string StagedPath, string Reason) : RecorderSignal(CameraId);

/// <summary>The camera stopped delivering: ffmpeg exited or the watchdog saw no segment in time.</summary>
public sealed record CameraWentOffline(string CameraId, DateTimeOffset Since, string Reason) : RecorderSignal(CameraId);

/// <summary>A segment arrived again after the camera was offline.</summary>
public sealed record CameraCameOnline(string CameraId, DateTimeOffset At, DateTimeOffset OfflineSince) : RecorderSignal(CameraId);

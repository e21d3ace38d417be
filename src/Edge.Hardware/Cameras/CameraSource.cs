// What a camera is, as far as recording goes: where its stream comes from and how ffmpeg should read it.
// These are plain, already-validated values; Edge.Agent's configuration layer validates user input and builds them.
namespace Edge.Hardware.Cameras;

public enum RtspTransport { Tcp, Udp }

public enum V4l2InputFormat { Mjpeg, H264 }

public abstract record CameraSource
{
    /// <summary>A short description for logs that never contains credentials.</summary>
    public abstract string Describe();
}

/// <summary>An IP camera's RTSP stream. TCP by default: UDP loses packets on busy networks and needs open ports.</summary>
public sealed record RtspSource(Uri Url, RtspTransport Transport) : CameraSource
{
    public override string Describe() => $"rtsp {Url.Host}:{(Url.IsDefaultPort ? 554 : Url.Port)}{Url.AbsolutePath} over {Transport.ToString().ToLowerInvariant()}";
}

/// <summary>A USB camera through Video4Linux2, passed through as it comes (MJPEG or H.264), never re-encoded.</summary>
public sealed record V4l2Source(string Device, V4l2InputFormat InputFormat, string? VideoSize, int? FramesPerSecond) : CameraSource
{
    public override string Describe() => $"v4l2 {Device} ({InputFormat.ToString().ToLowerInvariant()})";
}

/// <summary>
/// ffmpeg's synthetic test pattern, encoded to H.264 by ffmpeg itself. It stands in for a camera in demos and tests:
/// the encode is the "camera", the recorder still stream-copies what that camera produces.
/// </summary>
public sealed record TestPatternSource(string VideoSize, int FramesPerSecond, int BitrateKbps) : CameraSource
{
    public override string Describe() => $"test pattern {VideoSize}@{FramesPerSecond}";
}

/// <summary>Everything one camera recorder needs.</summary>
public sealed record CameraSpec(string Id, CameraSource Source, TimeSpan SegmentLength, bool RecordAudio = true);

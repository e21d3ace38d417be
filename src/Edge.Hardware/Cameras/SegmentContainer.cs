namespace Edge.Hardware.Cameras;

/// <summary>
/// The container a camera's segments are written in. MPEG-TS for H.264/H.265: it survives being cut off mid-write
/// (every 188-byte packet stands alone), so a power cut costs only the segment in flight. Matroska for MJPEG, which
/// MPEG-TS has no standard stream type for. See docs/design/recording.md.
/// </summary>
public sealed record SegmentContainer(string FfmpegFormat, string Extension)
{
    public static readonly SegmentContainer MpegTs = new("mpegts", ".ts");
    public static readonly SegmentContainer Matroska = new("matroska", ".mkv");

    public static SegmentContainer For(CameraSource source) =>
        source is V4l2Source { InputFormat: V4l2InputFormat.Mjpeg } ? Matroska : MpegTs;

    /// <summary>Audio codecs MPEG-TS carries and players understand; anything else (G.711 PCM from many IP cameras) is dropped.</summary>
    public bool CanHoldAudio(string codec) => this == Matroska
        ? codec is "aac" or "mp3" or "opus" or "pcm_mulaw" or "pcm_alaw" or "pcm_s16le" or "ac3" or "mp2"
        : codec is "aac" or "mp3" or "mp2" or "ac3" or "eac3" or "opus";
}

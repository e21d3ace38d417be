// Builds the ffmpeg command line that records one camera into segments, through FFMpegCore's argument builder.
// The recorder runs the process itself (see FfmpegProcess): FFMpegCore's runner keeps every stderr line in memory
// for the life of the process, which a recorder that runs for months cannot afford.
using System.Globalization;
using FFMpegCore;

namespace Edge.Hardware.Cameras;

public static class FfmpegRecordingCommand
{
    /// <summary>RTSP socket timeout: ffmpeg gives up on a silent camera after this instead of hanging forever.</summary>
    public static readonly TimeSpan RtspSocketTimeout = TimeSpan.FromSeconds(10);

    /// <param name="camera">The camera to record.</param>
    /// <param name="outputPattern">Segment file pattern with a %06d counter, in the camera's staging directory.</param>
    /// <param name="audioCodec">The source's audio codec if probing found one, else null (video only).</param>
    public static string Build(CameraSpec camera, string outputPattern, string? audioCodec)
    {
        var container = SegmentContainer.For(camera.Source);
        bool keepAudio = camera.RecordAudio && audioCodec is not null && container.CanHoldAudio(audioCodec);
        var inv = CultureInfo.InvariantCulture;

        FFMpegArguments input = camera.Source switch
        {
            RtspSource rtsp => FFMpegArguments.FromUrlInput(rtsp.Url, o => o
                .WithCustomArgument($"-rtsp_transport {rtsp.Transport.ToString().ToLowerInvariant()}")
                // -timeout is the RTSP socket I/O timeout in microseconds (ffmpeg 5+; it replaced -stimeout).
                .WithCustomArgument($"-timeout {(long)RtspSocketTimeout.TotalMicroseconds}")),
            V4l2Source v4l2 => FFMpegArguments.FromDeviceInput(v4l2.Device, o =>
            {
                o.ForceFormat("v4l2");
                o.WithCustomArgument($"-input_format {(v4l2.InputFormat == V4l2InputFormat.Mjpeg ? "mjpeg" : "h264")}");
                if (v4l2.VideoSize is not null) o.WithCustomArgument($"-video_size {v4l2.VideoSize}");
                if (v4l2.FramesPerSecond is int fps) o.WithCustomArgument($"-framerate {fps}");
            }),
            TestPatternSource pattern => FFMpegArguments.FromFileInput(
                $"testsrc2=size={pattern.VideoSize}:rate={pattern.FramesPerSecond}", verifyExists: false, o => o
                    // -re paces the synthetic source like a live camera.
                    .WithCustomArgument("-re")
                    .ForceFormat("lavfi")),
            _ => throw new ArgumentOutOfRangeException(nameof(camera), $"unsupported camera source {camera.Source.GetType().Name}"),
        };

        var processor = input.OutputToFile(outputPattern, overwrite: false, o =>
        {
            o.WithCustomArgument("-map 0:v:0");
            if (keepAudio) o.WithCustomArgument("-map 0:a:0");
            if (camera.Source is TestPatternSource tp)
            {
                // The test pattern is the one source that is encoded: it plays the part of the camera's encoder.
                int gop = tp.FramesPerSecond; // one keyframe a second, like a well-configured IP camera
                o.WithCustomArgument($"-c:v libx264 -preset ultrafast -tune zerolatency -pix_fmt yuv420p -g {gop} -b:v {tp.BitrateKbps}k");
            }
            else
            {
                // -copyinkf: keep the frames received before the first key frame. ffmpeg drops them by default, but
                // its segment list still dates the first segment from the first packet received, so the index
                // claimed up to one GOP more than the file held; and they are footage the camera sent.
                o.WithCustomArgument("-c:v copy -copyinkf");
            }
            if (keepAudio) o.WithCustomArgument("-c:a copy");
            o.WithCustomArgument("-f segment")
             .WithCustomArgument($"-segment_format {container.FfmpegFormat}")
             .WithCustomArgument($"-segment_time {camera.SegmentLength.TotalSeconds.ToString("0.###", inv)}")
             // Each finished segment is announced as a CSV line (file,start,end in media seconds) on stdout.
             .WithCustomArgument("-segment_list pipe:1 -segment_list_type csv")
             .WithCustomArgument("-reset_timestamps 0");
        });

        // Quiet and bounded stderr: warnings and errors only, no progress lines.
        return "-hide_banner -nostats -loglevel warning " + processor.Arguments;
    }
}

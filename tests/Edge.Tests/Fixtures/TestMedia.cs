// Test clips that stand in for camera output, generated once per machine by
// scripts/lib/test-clip (the one recipe, shared with scripts/fake-camera) and
// cached outside git in $EDGE_TEST_MEDIA_DIR, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/edge-test-media. The script locks the cache
// and writes atomically, so parallel tests and processes generate a clip once.
using System.Collections.Concurrent;

namespace Edge.Tests.Fixtures;

public enum TestClip
{
    /// <summary>1920x1080 H.264, ~4 Mbit/s, 25 fps, key frame every 2 s, no B-frames, 20 s.</summary>
    Hd1080,

    /// <summary>640x360 H.264, ~600 kbit/s, 25 fps, key frame every 2 s, no B-frames, 10 s.</summary>
    Small360,

    /// <summary>Small360 plus AAC-LC mono 48 kHz audio (a 1 kHz beep), 10 s.</summary>
    Small360WithAudio,
}

/// <summary>What a clip is, so tests can assert against it without probing.</summary>
public sealed record TestClipInfo(int Width, int Height, int FramesPerSecond, TimeSpan Duration, TimeSpan KeyFrameInterval, bool HasAudio);

public static class TestMedia
{
    private static readonly ConcurrentDictionary<TestClip, Lazy<Task<string>>> clips = new();

    /// <summary>Path of the cached clip; generates it first if this machine has none (seconds).</summary>
    public static Task<string> GetClipAsync(TestClip clip, CancellationToken ct = default)
    {
        // One generation per clip and process, whoever asks first; a caller
        // that gives up does not cancel it for the others.
        var lazy = clips.GetOrAdd(clip, c => new Lazy<Task<string>>(() => GenerateOrForgetAsync(c)));
        return lazy.Value.WaitAsync(ct);
    }

    public static TestClipInfo Describe(TestClip clip) => clip switch
    {
        TestClip.Hd1080 => new(1920, 1080, 25, TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(2), HasAudio: false),
        TestClip.Small360 => new(640, 360, 25, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2), HasAudio: false),
        TestClip.Small360WithAudio => new(640, 360, 25, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2), HasAudio: true),
        _ => throw new ArgumentOutOfRangeException(nameof(clip), clip, "Unknown test clip."),
    };

    /// <summary>The name scripts/lib/test-clip knows the clip by.</summary>
    public static string ScriptName(TestClip clip) => clip switch
    {
        TestClip.Hd1080 => "hd1080",
        TestClip.Small360 => "small360",
        TestClip.Small360WithAudio => "small360-audio",
        _ => throw new ArgumentOutOfRangeException(nameof(clip), clip, "Unknown test clip."),
    };

    private static async Task<string> GenerateOrForgetAsync(TestClip clip)
    {
        try
        {
            return await GenerateAsync(clip);
        }
        catch
        {
            // Not remembered: the next caller tries again.
            clips.TryRemove(clip, out _);
            throw;
        }
    }

    private static async Task<string> GenerateAsync(TestClip clip)
    {
        var script = RepoPaths.ScriptLib("test-clip");
        // Generating the 1080p clip takes ~10 s on a 2-core x64; a slow ARM board more.
        var result = await ProcessRunner.RunAsync("bash", [script, ScriptName(clip)], TimeSpan.FromMinutes(5));
        var path = result.StandardOutput.Trim();
        if (!result.Succeeded || !File.Exists(path))
        {
            throw new InvalidOperationException(
                $"scripts/lib/test-clip {ScriptName(clip)} exited with status {result.ExitCode} and printed '{path}', " +
                $"expected the path of an existing clip. Its error output: {ProcessRunner.Tail(result.StandardError)}");
        }
        return path;
    }
}

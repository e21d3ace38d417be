using System.Text;
using Edge.Agent.Index;
using Edge.Tests.Fixtures;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Sealing;

public class NoPlaintextAtRest_Tests(ITestOutputHelper output)
{
    private const string CameraId = "lobby-7f3a9c";

    [Fact]
    public async Task After_a_recording_run_no_byte_on_the_volume_or_in_the_index_gives_away_footage_or_the_site()
    {
        await using var camera = await RtspCameraServer.StartAsync(TestClip.Small360, "secret-stream-9d2e");
        await using var site = new TestSite(output, TestSite.RtspCamera(CameraId, camera.Url, segmentSeconds: 2));
        await site.StartAsync();
        await TestSite.WaitUntilAsync(() => site.Index!.QuerySegments(CameraId).Count >= 4, TimeSpan.FromSeconds(60), "four segments");
        await site.StopAsync();

        // What a thief must not find: the footage (every 16-byte run of it), its H.264 parameter sets, the camera's id and URL.
        using var index = IndexOpener.Open(site.Settings, createKeyIfMissing: false);
        var plaintext = index.QuerySegments(CameraId).Select(s => File.ReadAllBytes(site.OpenSegment(s))).ToList();
        index.Dispose();
        var runs = new HashSet<UInt128>();
        foreach (var p in plaintext)
            for (int i = 0; i + 16 <= p.Length; i++) runs.Add(BitConverter.ToUInt128(p, i));
        var parameterSets = plaintext.SelectMany(ParameterSetNals).Distinct(new BytesComparer()).ToList();
        Assert.NotEmpty(parameterSets); // the scan below must have something to look for
        var strings = new[] { CameraId, camera.Url.ToString(), camera.StreamName };
        var needles = strings.SelectMany(t => new[] { Encoding.UTF8.GetBytes(t), Encoding.Unicode.GetBytes(t) }).Concat(parameterSets).ToList();

        var files = Directory.EnumerateFiles(site.Settings.Volumes[0], "*", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(site.Settings.IndexDirectory).Where(f => !f.EndsWith(".sock"))).ToList();
        Assert.Contains(files, f => f.EndsWith(".sealed"));
        foreach (var file in files)
        {
            var bytes = File.ReadAllBytes(file);
            for (int i = 0; i + 16 <= bytes.Length; i++)
                Assert.False(runs.Contains(BitConverter.ToUInt128(bytes, i)), $"{file} holds 16 bytes of plaintext footage at offset {i}");
            foreach (var needle in needles)
                Assert.True(bytes.AsSpan().IndexOf(needle) < 0, $"{file} contains {Describe(needle)}");
        }
        // The camera id does appear in the directory names? No: they are hashes.
        Assert.DoesNotContain(files, f => f.Contains(CameraId));
    }

    /// <summary>H.264 SPS/PPS and H.265 VPS/SPS/PPS NAL units (start code, header, and what follows), as they appear in the footage.</summary>
    private static IEnumerable<byte[]> ParameterSetNals(byte[] data)
    {
        for (int i = 0; i + 16 <= data.Length; i++)
        {
            if (data[i] != 0 || data[i + 1] != 0 || data[i + 2] != 1) continue;
            byte header = data[i + 3];
            bool h264 = (header & 0x80) == 0 && (header & 0x1F) is 7 or 8;
            bool h265 = (header & 0x81) == 0 && ((header >> 1) & 0x3F) is 32 or 33 or 34 && data[i + 4] == 1;
            if (h264 || h265) yield return data[i..(i + 12)];
        }
    }

    private static string Describe(byte[] needle) => Encoding.UTF8.GetString(needle).All(c => c >= ' ' && c < 127)
        ? $"'{Encoding.UTF8.GetString(needle)}'" : "a parameter set NAL (" + Convert.ToHexString(needle) + ")";

    private sealed class BytesComparer : IEqualityComparer<byte[]>
    {
        public bool Equals(byte[]? a, byte[]? b) => a.AsSpan().SequenceEqual(b);
        public int GetHashCode(byte[] a) => a.Length >= 8 ? BitConverter.ToInt32(a, 4) : a.Length;
    }
}

// Shared pieces of the sealing tests: a box (a TestSite whose edge.json names owner.pub) plus the owner's key pair kept
// outside the box's directory, sealing and indexing a staged file the way RecordingService does, running a verb
// in-process, and byte surgery on sealed files.
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Edge.Agent.Cli;
using Edge.Agent.Index;
using Edge.Agent.Recording;
using Edge.Agent.Sealing;
using Edge.Hardware.Storage;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Sealing;

internal sealed class SealedBox : IAsyncDisposable
{
    private static readonly DateTimeOffset FirstStart = new(2026, 11, 23, 1, 15, 2, 123, TimeSpan.Zero);
    private int _segments;

    public SealedBox(ITestOutputHelper output, string? ownerPassphrase = null)
    {
        // TestSite already keeps an owner key pair outside the box and gives the box a copy of owner.pub
        // (keys/owner.pub, named by its edge.json). A passphrase-protected owner key replaces that pair.
        Site = new TestSite(output, TestSite.TestPatternCamera("door"));
        BoxPublicKey = Path.Combine(Site.Root, "keys", OwnerKeys.PublicKeyFileName);
        if (ownerPassphrase is null)
        {
            OwnerDirectory = Site.OwnerRoot;
            Owner = Site.OwnerKeys;
        }
        else
        {
            OwnerDirectory = Directory.CreateTempSubdirectory("edge-owner-").FullName;
            Owner = OwnerKeys.CreatePair(OwnerDirectory, ownerPassphrase);
            File.Copy(Owner.PublicKeyPath, BoxPublicKey, overwrite: true);
        }
        Sealer = new SealingSegmentSealer(OwnerKeys.LoadPublic(BoxPublicKey));
        Directory.CreateDirectory(Site.Settings.StagingDirectory);
    }

    public TestSite Site { get; }
    public string OwnerDirectory { get; }
    public OwnerKeyPair Owner { get; }
    public string BoxPublicKey { get; }
    public SealingSegmentSealer Sealer { get; }
    public string ConfigPath => Site.ConfigPath;
    public string Volume => Site.Settings.Volumes[0];

    /// <summary>A staged file of random bytes (size chosen to give full chunks and a short last one).</summary>
    public string StageRandom(int bytes, int seed)
    {
        var data = new byte[bytes];
        new Random(seed).NextBytes(data);
        var path = Path.Combine(Site.Settings.StagingDirectory, $"staged-{seed}.ts");
        File.WriteAllBytes(path, data);
        return path;
    }

    /// <summary>Seals and indexes like RecordingService: seal to NAME.partial, index, publish, delete the staged file.</summary>
    public SegmentRecord SealAndIndex(string stagedPath, string camera = "door")
    {
        var start = FirstStart.AddSeconds(10 * _segments++);
        var relative = SegmentLayout.RelativePath(camera, start, 10, true, Path.GetExtension(stagedPath));
        var sealedFile = Sealer.Seal(stagedPath, Volume, relative);
        var record = new SegmentRecord
        {
            Camera = camera,
            StartUtc = start.UtcDateTime,
            EndUtc = start.AddSeconds(10).UtcDateTime,
            DurationSeconds = 10,
            Bytes = sealedFile.Bytes,
            Sha256 = sealedFile.Sha256,
            StoredBytes = sealedFile.StoredBytes,
            StoredSha256 = sealedFile.StoredSha256,
            WrappedKey = sealedFile.Envelope!.WrappedKey,
            OwnerKeyId = sealedFile.Envelope.OwnerKeyId,
            ClockTrusted = true,
            Volume = sealedFile.Volume,
            RelativePath = sealedFile.RelativePath,
        };
        using (var index = EdgeIndex.Open(Site.Settings.IndexDirectory, Site.Settings.IndexKeyFile, createKeyIfMissing: true))
            record.Id = index.AddSegment(record);
        DurableFile.RenameDurably(sealedFile.PartialPath, sealedFile.FinalPath);
        return record;
    }

    public void UpdateRecord(SegmentRecord record)
    {
        using var index = EdgeIndex.Open(Site.Settings.IndexDirectory, Site.Settings.IndexKeyFile, createKeyIfMissing: false);
        index.UpdateSegment(record);
    }

    public async ValueTask DisposeAsync()
    {
        await Site.DisposeAsync();
        try { Directory.Delete(OwnerDirectory, recursive: true); } catch (IOException) { }
    }
}

internal static class Cli
{
    /// <summary>Runs a verb in this process, as a terminal would (not inside the agent).</summary>
    public static async Task<EdgeResult> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = await EdgeCli.InvokeAsync(args, new CommandContext(output, error, TimeProvider.System));
        return new EdgeResult(code, output.ToString(), error.ToString());
    }
}

internal static class SealedBytes
{
    public const int Header = 80;
    public const int StoredChunk = 64 * 1024 + 16;
    public const int Final = 56;

    public static long ChunkOffset(int index) => Header + (long)index * StoredChunk;

    public static void FlipByte(string path, long offset)
    {
        var bytes = File.ReadAllBytes(path);
        bytes[offset] ^= 0x01;
        File.WriteAllBytes(path, bytes);
    }

    public static void Truncate(string path, long length)
    {
        using var f = new FileStream(path, FileMode.Open);
        f.SetLength(length);
    }

    public static void SwapChunks(string path, int a, int b)
    {
        var bytes = File.ReadAllBytes(path);
        var copyA = bytes.AsSpan((int)ChunkOffset(a), StoredChunk).ToArray();
        bytes.AsSpan((int)ChunkOffset(b), StoredChunk).CopyTo(bytes.AsSpan((int)ChunkOffset(a)));
        copyA.CopyTo(bytes.AsSpan((int)ChunkOffset(b)));
        File.WriteAllBytes(path, bytes);
    }

    public static void DropChunk(string path, int index)
    {
        var bytes = File.ReadAllBytes(path).ToList();
        bytes.RemoveRange((int)ChunkOffset(index), StoredChunk);
        File.WriteAllBytes(path, bytes.ToArray());
    }

    public static void DuplicateChunk(string path, int index)
    {
        var bytes = File.ReadAllBytes(path).ToList();
        bytes.InsertRange((int)ChunkOffset(index + 1), bytes.GetRange((int)ChunkOffset(index), StoredChunk));
        File.WriteAllBytes(path, bytes.ToArray());
    }

    public static string Sha256Of(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
}

internal static class Ffmpeg
{
    /// <summary>A real MPEG-TS segment: 3 s of H.264 test pattern.</summary>
    public static async Task<string> MakeSegmentAsync(string path, int seconds = 3)
    {
        var info = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15", "-t", seconds.ToString(), "-c:v", "libx264", "-f", "mpegts", path })
            info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var err = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"ffmpeg failed: {err}");
        return path;
    }
}

using System.Security.Cryptography;
using Edge.Agent.Sealing;
using Xunit.Abstractions;

namespace Edge.Tests.Sealing;

public class SealingSegmentSealer_Tests(ITestOutputHelper output)
{
    [Fact]
    public async Task Sealing_writes_only_a_fsynced_ciphertext_partial_and_reports_both_hashes_and_the_envelope()
    {
        await using var box = new SealedBox(output);
        // Footage with a recognisable pattern, to look for on the volume afterwards.
        var marker = "MY-NUMBER-ROOM-FOOTAGE-"u8.ToArray();
        var footage = Enumerable.Range(0, 20_000).SelectMany(_ => marker).ToArray();
        var staged = Path.Combine(box.Site.Settings.StagingDirectory, "seg.ts");
        File.WriteAllBytes(staged, footage);

        var sealedFile = await box.Sealer.SealAsync(staged, box.Volume, "cabc/2026-11-23/20261123T011502.123Z_10000ms_T.ts", CancellationToken.None);

        Assert.Equal("cabc/2026-11-23/20261123T011502.123Z_10000ms_T.sealed", sealedFile.RelativePath);
        Assert.True(File.Exists(sealedFile.PartialPath));
        Assert.False(File.Exists(sealedFile.FinalPath), "publishing is the caller's step, after indexing");
        Assert.Equal(footage, File.ReadAllBytes(staged)); // staging is left to the caller
        Assert.Equal(footage.Length, sealedFile.Bytes);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(footage)), sealedFile.Sha256);
        var stored = File.ReadAllBytes(sealedFile.PartialPath);
        Assert.Equal(stored.Length, sealedFile.StoredBytes);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(stored)), sealedFile.StoredSha256);
        Assert.Equal(box.Sealer.Owner.KeyId, sealedFile.Envelope!.OwnerKeyId);
        Assert.Equal(114, sealedFile.Envelope.WrappedKey.Length);
        foreach (var file in Directory.EnumerateFiles(box.Volume, "*", SearchOption.AllDirectories))
            Assert.True(File.ReadAllBytes(file).AsSpan().IndexOf(marker) < 0, $"{file} contains plaintext");
    }

    [Fact]
    public async Task A_staged_file_that_cannot_be_read_leaves_no_partial_behind()
    {
        await using var box = new SealedBox(output);

        Assert.ThrowsAny<IOException>(() => box.Sealer.Seal(Path.Combine(box.Site.Settings.StagingDirectory, "gone.ts"), box.Volume, "c0/d/x.ts"));

        Assert.DoesNotContain(Directory.EnumerateFiles(box.Volume, "*", SearchOption.AllDirectories),
            f => Path.GetFileName(f) != Edge.Agent.Storage.VolumeMarker.FileName);
    }
}

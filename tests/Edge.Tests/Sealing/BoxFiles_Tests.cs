using System.Security.Cryptography;
using Edge.Agent.Sealing;
using Xunit.Abstractions;

namespace Edge.Tests.Sealing;

/// <summary>The box records and seals, but nothing it holds can open its own footage.</summary>
public class BoxFiles_Tests(ITestOutputHelper output)
{
    [Fact]
    public async Task No_file_on_the_box_opens_a_sealed_segment()
    {
        await using var box = new SealedBox(output);
        var record = box.SealAndIndex(box.StageRandom(200_000, 11));
        box.SealAndIndex(box.StageRandom(3_000, 12));
        var files = Directory.EnumerateFiles(box.Site.Root, "*", SearchOption.AllDirectories).ToList();
        Assert.Contains(box.BoxPublicKey, files);
        Assert.Contains(box.Site.Settings.IndexKeyFile, files);
        Assert.DoesNotContain(files, f => Path.GetFileName(f) == OwnerKeys.PrivateKeyFileName);
        var binding = SealedFormat.Binding(record.RelativePath);
        var sealedFile = File.ReadAllBytes(record.FullPath);
        var tried = 0;

        foreach (var file in files)
        {
            // As an owner key, through the API and through the verb.
            Assert.Throws<OwnerKeyException>(() => OwnerKeys.LoadPrivate(file, passphrase: null));
            Assert.Throws<OwnerKeyException>(() => OwnerKeys.LoadPrivate(file, passphrase: "edge"));
            var outPath = Path.Combine(box.OwnerDirectory, "out-" + tried + ".ts");
            var result = await Cli.RunAsync("segments", "open", "--config", box.ConfigPath, "--key", file, "--id", record.Id.ToString(), "--out", outPath);
            Assert.NotEqual(0, result.ExitCode);
            Assert.False(File.Exists(outPath) || File.Exists(outPath + ".partial"), $"{file} produced output");

            // Its first 32 bytes as raw key material: a P-256 private scalar, a key-wrapping key, a data key.
            var bytes = File.ReadAllBytes(file);
            if (bytes.Length >= 32)
            {
                var candidate = bytes[..32];
                Assert.False(OpensAsPrivateScalar(candidate, record.WrappedKey!, binding), $"{file} as a private scalar unwrapped the key");
                Assert.False(OpensAsAesKey(candidate, record.WrappedKey!), $"{file} as an AES key opened the wrapped key");
                Assert.False(OpensAsDataKey(candidate, sealedFile, binding), $"{file} as the data key opened the file");
            }
            tried++;
        }
        output.WriteLine($"tried {tried} files: {string.Join(", ", files.Select(f => Path.GetRelativePath(box.Site.Root, f)))}");
        Assert.True(tried >= 5);
    }

    [Fact]
    public async Task The_index_key_does_not_unwrap_a_data_key()
    {
        await using var box = new SealedBox(output);
        var record = box.SealAndIndex(box.StageRandom(1_000, 13));
        var indexKey = File.ReadAllBytes(box.Site.Settings.IndexKeyFile);
        Assert.Equal(32, indexKey.Length);

        Assert.False(OpensAsPrivateScalar(indexKey, record.WrappedKey!, SealedFormat.Binding(record.RelativePath)));
        Assert.False(OpensAsAesKey(indexKey, record.WrappedKey!));
        Assert.False(OpensAsDataKey(indexKey, File.ReadAllBytes(record.FullPath), SealedFormat.Binding(record.RelativePath)));
    }

    [Fact]
    public async Task The_sealer_needs_only_the_public_key_and_two_seals_of_the_same_footage_share_nothing()
    {
        await using var box = new SealedBox(output);
        var staged = box.StageRandom(100_000, 14);
        var a = box.Sealer.Seal(staged, box.Volume, "c0/2026-01-01/a.ts");
        var b = box.Sealer.Seal(staged, box.Volume, "c0/2026-01-01/b.ts");

        Assert.Equal(a.Sha256, b.Sha256);
        Assert.NotEqual(a.StoredSha256, b.StoredSha256);
        Assert.NotEqual(a.Envelope!.WrappedKey, b.Envelope!.WrappedKey);
    }

    private static bool OpensAsPrivateScalar(byte[] scalar, byte[] wrapped, byte[] binding)
    {
        ECDiffieHellman key;
        try { key = ECDiffieHellman.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = scalar }); }
        catch (CryptographicException) { return false; } // not a valid scalar at all
        using (key)
            return SealedFormat.Unwrap(wrapped, key, Point(key), binding) is not null;
    }

    private static bool OpensAsAesKey(byte[] aesKey, byte[] wrapped)
    {
        using var gcm = new AesGcm(aesKey, 16);
        var plain = new byte[32];
        foreach (var nonce in new[] { new byte[12], wrapped.AsSpan(1, 12).ToArray() })
        {
            try
            {
                gcm.Decrypt(nonce, wrapped.AsSpan(66, 32), wrapped.AsSpan(98, 16), plain);
                return true;
            }
            catch (AuthenticationTagMismatchException) { }
        }
        return false;
    }

    private static bool OpensAsDataKey(byte[] dataKey, byte[] sealedFile, byte[] binding)
    {
        try
        {
            SealReader.Open(new MemoryStream(sealedFile), "test", dataKey, binding, Stream.Null);
            return true;
        }
        catch (SealedSegmentException) { return false; }
    }

    private static byte[] Point(ECDiffieHellman key)
    {
        var q = key.ExportParameters(false).Q;
        return [0x04, .. q.X!, .. q.Y!];
    }
}

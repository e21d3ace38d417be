using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Edge.Agent.Sealing;

namespace Edge.Tests.Sealing;

public class SealedFormat_Tests
{
    // The test vector of docs/sealed-format.md. Inputs first (the scalars and the data key are SHA-256 of
    // "edge-seal/v1 test vector: owner|ephemeral|data key"), then what edge must produce from them.
    private static readonly Dictionary<string, string> Vector = new()
    {
        ["owner-private-scalar"] = "e87bbfec68ae666dadf2170436889cf45e3d403bd75a29e0cdd5ab65029676f3",
        ["ephemeral-private-scalar"] = "dfcb539ef125406162f59cf065ed902809f8fcce61bc31c49ec60f25dfeabbe1",
        ["data-key"] = "6c71923110f8296ed289624815d94f4b9258d4d702b80ebb7b2e8572c59a51c7",
        ["relative-path"] = "c0123456789abcdef/2026-11-23/20261123T011502.123Z_10000ms_T.sealed",
        ["chunk-size"] = "16",
        ["plaintext"] = "45646765207365616c65642d666f726d6174207631207465737420766563746f722c20343020622e",
        ["owner-public-key"] =
            "3059301306072a8648ce3d020106082a8648ce3d03010703420004c4378a7cbb69d81223e6c44af155533812c95331a4dc1fd293e079448776140af884d0f284dd26034030417381132fc47bf2ac16492c4f69ae575ba23c4738c3",
        ["shared-secret"] = "5a67727460f237d52908576e6d8885600390384379acf246884fe675a11f5cc0",
        ["kek"] = "508f3dc611b9386287d8f45b6315fccc7c15ea008a9bad0f51e058a561268ba9",
        ["wrap-nonce"] = "e2a4a614b6ef3b24ddc9e0e5",
        ["chunk-key"] = "c75f437043c30342c94ba8311d218a9df5964a2a7b1204fc4faddeb34040e335",
        ["header-key"] = "3a9bc004a50f0479683f49650f24c3fc6faa5d857aba1f6ee660a3d7286853d5",
        ["owner-key-id"] = "c8591c46d1c7c615",
        ["binding"] = "7139c98aaf63aaa92b8d7c457e6ecffb1d00347f4681b5590199e2b228b16b2b",
        ["wrapped-key"] =
            "01047a6892d4748cac846ac3e000d53a321b5f443c6f725fec73161ca169e359f72c70661b916345ff7674ff23d514b137c25fe259e308abaac7779cc12b22d9e531aa96e4464f181f16d6cec3b9e84eb1e6d1a417feea588ec5db7a96a81dce26192fc9d04a94a649870bd410e92c522c06",
        ["sealed-file"] =
            "454447455345414c01010000100000007139c98aaf63aaa92b8d7c457e6ecffb1d00347f4681b5590199e2b228b16b2bcae093eaffcb4e56e03a2ab6db22a0f2ac6c6d923aa3b095e6d96a8d82bf982ecc6ae1a84a43b6f83c0333363e57a6e7a3f8133cebb87647ba4335f9981d94085d63e3626dd16fb02e76abdf9afe17bb168f44a0e1104879898d461696ea21ac27b1d34a160291be8c265f42f415643e817cc4650f547fcf0fbdb566e5e91f15d055f898c0abc010dae335b98da4e5525f77e829ca2339a8829468cbd407e05ae4a1f7b047635cd367c931925f2ff03d",
        ["plaintext-sha256"] = "e06a33997b688c7d5f5b093398007abe4655af7f8d3da365795063100e306711",
        ["stored-sha256"] = "bb778613d9fc16325581b7bc89fce91afeb49d4007ce4a1e09c0fd8648ef2349",
    };

    private static string RepoFile(string relative)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Edge.sln"))) dir = dir.Parent;
        return Path.Combine(dir?.FullName ?? throw new DirectoryNotFoundException("Edge.sln not found above the test binaries"), relative);
    }

    /// <summary>The ```test-vector block of the doc: "name: value" lines, and indented lines that continue a value.</summary>
    private static Dictionary<string, string> VectorInDoc()
    {
        var doc = File.ReadAllText(RepoFile("docs/sealed-format.md"));
        var block = Regex.Match(doc, "```test-vector\n(.*?)```", RegexOptions.Singleline);
        Assert.True(block.Success, "docs/sealed-format.md should hold a ```test-vector block");
        var values = new Dictionary<string, string>();
        string? current = null;
        foreach (var line in block.Groups[1].Value.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith(' ') && current is not null) { values[current] += line.Trim(); continue; }
            var colon = line.IndexOf(':');
            current = line[..colon].Trim();
            values[current] = line[(colon + 1)..].Trim();
        }
        return values;
    }

    private static byte[] Hex(string name) => Convert.FromHexString(Vector[name]);

    private static OwnerPrivateKey VectorOwner() => new(ECDiffieHellman.Create(new ECParameters
    {
        Curve = ECCurve.NamedCurves.nistP256,
        D = Hex("owner-private-scalar"),
    }));

    private static byte[] Point(ECDiffieHellman key)
    {
        var q = key.ExportParameters(false).Q;
        return [0x04, .. q.X!, .. q.Y!];
    }

    [Fact]
    public void The_test_vector_in_the_doc_is_the_one_this_test_checks()
    {
        var doc = VectorInDoc();
        Assert.Equal(Vector.Keys.Order(), doc.Keys.Order());
        foreach (var (name, value) in Vector)
            Assert.True(value == doc[name], $"{name}: the doc says {doc[name]}, the test says {value}");
    }

    [Fact]
    public void Sealing_the_vector_inputs_gives_the_vector_bytes()
    {
        using var owner = VectorOwner();
        var (wrapped, file) = SealingSegmentSealer.SealDeterministic(Hex("plaintext"), Hex("data-key"), Hex("ephemeral-private-scalar"),
            owner.Public, Vector["relative-path"], int.Parse(Vector["chunk-size"]));

        // The intermediate values, computed here from the doc's formulas with the BCL's primitives.
        using var ephemeral = ECDiffieHellman.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = Hex("ephemeral-private-scalar") });
        var shared = ephemeral.DeriveRawSecretAgreement(owner.Key.PublicKey);
        var okm = HKDF.DeriveKey(HashAlgorithmName.SHA256, shared, 44, [.. Point(ephemeral), .. Point(owner.Key)], "edge-seal/v1/wrap"u8.ToArray());
        var chunkKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, Hex("data-key"), 32, [], "edge-seal/v1/chunk-key"u8.ToArray());
        var headerKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, Hex("data-key"), 32, [], "edge-seal/v1/header-key"u8.ToArray());

        var computed = new Dictionary<string, string>
        {
            ["owner-public-key"] = Convert.ToHexStringLower(owner.Key.ExportSubjectPublicKeyInfo()),
            ["shared-secret"] = Convert.ToHexStringLower(shared),
            ["kek"] = Convert.ToHexStringLower(okm[..32]),
            ["wrap-nonce"] = Convert.ToHexStringLower(okm[32..]),
            ["chunk-key"] = Convert.ToHexStringLower(chunkKey),
            ["header-key"] = Convert.ToHexStringLower(headerKey),
            ["owner-key-id"] = owner.KeyId,
            ["binding"] = Convert.ToHexStringLower(SealedFormat.Binding(Vector["relative-path"])),
            ["wrapped-key"] = Convert.ToHexStringLower(wrapped),
            ["sealed-file"] = Convert.ToHexStringLower(file),
            ["plaintext-sha256"] = Convert.ToHexStringLower(SHA256.HashData(Hex("plaintext"))),
            ["stored-sha256"] = Convert.ToHexStringLower(SHA256.HashData(file)),
        };
        foreach (var (name, value) in computed)
            Assert.True(value == Vector[name], $"{name}: computed\n{value}\nbut the vector says\n{Vector[name]}");
    }

    [Fact]
    public void The_vector_file_opens_with_the_vector_owner_key_to_the_vector_plaintext()
    {
        using var owner = VectorOwner();
        var binding = Convert.FromHexString(Vector["binding"]);
        var dataKey = SealedFormat.Unwrap(Hex("wrapped-key"), owner.Key, owner.Public.Point, binding);
        Assert.Equal(Hex("data-key"), dataKey);

        var plain = new MemoryStream();
        var result = SealReader.Open(new MemoryStream(Hex("sealed-file")), "vector", dataKey, binding, plain);

        Assert.Equal(Hex("plaintext"), plain.ToArray());
        Assert.Equal(Vector["plaintext-sha256"], result.PlaintextSha256);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(64 * 1024 - 1)]
    [InlineData(64 * 1024)]
    [InlineData(64 * 1024 + 1)]
    [InlineData(16 * 64 * 1024)] // exactly one batch
    [InlineData(16 * 64 * 1024 + 1)]
    [InlineData(3 * 16 * 64 * 1024 + 77_777)]
    public void Footage_of_any_length_round_trips_and_the_parallel_writer_writes_the_same_bytes(int length)
    {
        var plain = new byte[length];
        new Random(length).NextBytes(plain);
        var key = RandomNumberGenerator.GetBytes(32);
        var binding = SealedFormat.Binding("c0/2026-01-01/x.sealed");

        var sequential = new MemoryStream();
        var parallel = new MemoryStream();
        var one = SealWriter.Seal(new MemoryStream(plain), sequential, key, binding, parallel: false);
        var two = SealWriter.Seal(new MemoryStream(plain), parallel, key, binding, parallel: true);

        Assert.Equal(sequential.ToArray(), parallel.ToArray());
        Assert.Equal(one, two);
        Assert.Equal(SealedFormat.StoredLength(length, SealedFormat.DefaultChunkSize), sequential.Length);
        Assert.Equal(one.StoredBytes, sequential.Length);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(sequential.ToArray())), one.StoredSha256);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(plain)), one.PlaintextSha256);
        var opened = new MemoryStream();
        SealReader.Open(new MemoryStream(sequential.ToArray()), "test", key, binding, opened);
        Assert.Equal(plain, opened.ToArray());
    }

    [Fact]
    public void A_wrapped_key_moved_to_another_segment_does_not_open()
    {
        using var owner = new OwnerPrivateKey(ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256));
        var dataKey = RandomNumberGenerator.GetBytes(32);
        var wrapped = SealedFormat.Wrap(dataKey, owner.Public, SealedFormat.Binding("a/1.sealed"));

        Assert.Equal(dataKey, SealedFormat.Unwrap(wrapped, owner.Key, owner.Public.Point, SealedFormat.Binding("a/1.sealed")));
        Assert.Null(SealedFormat.Unwrap(wrapped, owner.Key, owner.Public.Point, SealedFormat.Binding("a/2.sealed")));
    }
}

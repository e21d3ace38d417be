using Edge.Agent.Index;
using Edge.Agent.Sealing;
using Edge.Tests.Support;
using Xunit.Abstractions;

namespace Edge.Tests.Sealing;

public class SegmentsOpen_Tests(ITestOutputHelper output)
{
    // 5 full chunks and a short sixth: there are a first, middle and last data chunk, then the final chunk.
    private const int FootageBytes = 5 * 64 * 1024 + 12_345;

    public static TheoryData<string> Tampers => new()
    {
        "header byte", "middle chunk byte", "last data chunk byte", "final chunk byte", "truncated at a chunk boundary",
        "truncated mid-chunk", "two chunks swapped", "a chunk dropped", "a chunk duplicated", "files swapped between records",
        "wrong owner key",
    };

    /// <summary>Damages the box's file of <paramref name="target"/> (or the key used); returns the key file to open with.</summary>
    private static string Tamper(string tamper, SealedBox box, SegmentRecord target, SegmentRecord other)
    {
        var path = target.FullPath;
        long length = new FileInfo(path).Length;
        switch (tamper)
        {
            case "header byte": SealedBytes.FlipByte(path, 30); break;
            case "middle chunk byte": SealedBytes.FlipByte(path, SealedBytes.ChunkOffset(2) + 1000); break;
            case "last data chunk byte": SealedBytes.FlipByte(path, SealedBytes.ChunkOffset(5) + 10); break;
            case "final chunk byte": SealedBytes.FlipByte(path, length - 20); break;
            case "truncated at a chunk boundary": SealedBytes.Truncate(path, SealedBytes.ChunkOffset(3)); break;
            case "truncated mid-chunk": SealedBytes.Truncate(path, length - 1000); break;
            case "two chunks swapped": SealedBytes.SwapChunks(path, 1, 2); break;
            case "a chunk dropped": SealedBytes.DropChunk(path, 1); break;
            case "a chunk duplicated": SealedBytes.DuplicateChunk(path, 1); break;
            case "files swapped between records":
                var temporary = path + ".swap";
                File.Move(path, temporary);
                File.Move(other.FullPath, path);
                File.Move(temporary, other.FullPath);
                break;
            case "wrong owner key":
                var stranger = Path.Combine(box.OwnerDirectory, "stranger");
                return OwnerKeys.CreatePair(stranger, passphrase: null).PrivateKeyPath;
            default: throw new ArgumentException(tamper);
        }
        return box.Owner.PrivateKeyPath;
    }

    [Theory]
    [MemberData(nameof(Tampers))]
    public async Task Opening_a_tampered_segment_fails_with_a_clear_error_and_writes_no_output(string tamper)
    {
        await using var box = new SealedBox(output);
        var target = box.SealAndIndex(box.StageRandom(FootageBytes, 1));
        var other = box.SealAndIndex(box.StageRandom(FootageBytes, 2));
        var key = Tamper(tamper, box, target, other);
        var outPath = Path.Combine(box.OwnerDirectory, "out.ts");

        var result = await Cli.RunAsync("segments", "open", "--config", box.ConfigPath, "--key", key, "--id", target.Id.ToString(), "--out", outPath);

        output.WriteLine(result.Stderr);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"Segment {target.Id}", result.Stderr);
        Assert.Contains(tamper == "wrong owner key" ? "was sealed to owner key" : "the index records", result.Stderr);
        Assert.False(File.Exists(outPath), "no output may be written");
        Assert.False(File.Exists(outPath + ".partial"), "no partial output may be left");
    }

    /// <summary>
    /// The same damage when the index's stored SHA-256 cannot be relied on (someone with the box's index key changed it
    /// too): the cryptography alone must catch every case.
    /// </summary>
    [Theory]
    [InlineData("header byte", "header names a different segment")]
    [InlineData("middle chunk byte", "chunk 2 of 6")]
    [InlineData("last data chunk byte", "chunk 5 of 6")]
    [InlineData("final chunk byte", "final chunk does not authenticate")]
    [InlineData("truncated at a chunk boundary", "final chunk does not authenticate")]
    [InlineData("truncated mid-chunk", "final chunk does not authenticate")]
    [InlineData("two chunks swapped", "chunk 1 of 6")]
    [InlineData("a chunk dropped", "final chunk does not authenticate")]
    [InlineData("a chunk duplicated", "final chunk does not authenticate")]
    [InlineData("files swapped between records", "belongs to another segment")]
    [InlineData("wrong owner key", "wrapped key does not open")]
    public async Task Without_the_stored_hash_check_the_decryption_itself_detects_each_tamper(string tamper, string expected)
    {
        await using var box = new SealedBox(output);
        var target = box.SealAndIndex(box.StageRandom(FootageBytes, 1));
        var other = box.SealAndIndex(box.StageRandom(FootageBytes, 2));
        var keyPath = Tamper(tamper, box, target, other);
        using var key = OwnerKeys.LoadPrivate(keyPath, passphrase: null);
        var segment = SealedSegmentRef.From(target) with { OwnerKeyId = key.KeyId }; // past the key-id check too
        var outPath = Path.Combine(box.OwnerDirectory, "out.ts");

        var e = Assert.Throws<SealedSegmentException>(() => SealedSegments.OpenToFile(segment, key, outPath, checkStoredHash: false));

        output.WriteLine(e.Message);
        Assert.Contains(expected, e.Message);
        Assert.False(File.Exists(outPath));
        Assert.False(File.Exists(outPath + ".partial"));
    }

    [Theory]
    [InlineData(0, "does not start with EDGESEAL")]
    [InlineData(8, "format version")]
    [InlineData(10, "damaged header")]
    [InlineData(16, "header names a different segment")]
    [InlineData(60, "header was changed")]
    public async Task A_changed_header_byte_is_reported_by_what_it_broke(int offset, string expected)
    {
        await using var box = new SealedBox(output);
        var record = box.SealAndIndex(box.StageRandom(1000, 3));
        SealedBytes.FlipByte(record.FullPath, offset);
        using var key = OwnerKeys.LoadPrivate(box.Owner.PrivateKeyPath, null);
        var outPath = Path.Combine(box.OwnerDirectory, "out.ts");

        var e = Assert.Throws<SealedSegmentException>(() => SealedSegments.OpenToFile(SealedSegmentRef.From(record), key, outPath, checkStoredHash: false));

        Assert.Contains(expected, e.Message);
        Assert.False(File.Exists(outPath) || File.Exists(outPath + ".partial"));
    }

    [Fact]
    public async Task An_index_record_whose_footage_hash_was_changed_is_refused_even_though_the_file_decrypts()
    {
        await using var box = new SealedBox(output);
        var record = box.SealAndIndex(box.StageRandom(70_000, 4));
        record.Sha256 = new string('0', 64);
        box.UpdateRecord(record);
        var outPath = Path.Combine(box.OwnerDirectory, "out.ts");

        var result = await Cli.RunAsync("segments", "open", "--config", box.ConfigPath, "--key", box.Owner.PrivateKeyPath, "--id", record.Id.ToString(), "--out", outPath);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("does not belong to this file", result.Stderr);
        Assert.False(File.Exists(outPath) || File.Exists(outPath + ".partial"));
    }

    [Fact]
    public async Task A_real_ffmpeg_segment_opens_byte_identical_and_plays()
    {
        await using var box = new SealedBox(output, ownerPassphrase: "correct horse battery staple");
        var staged = await Ffmpeg.MakeSegmentAsync(Path.Combine(box.Site.Settings.StagingDirectory, "x.ts"));
        var original = File.ReadAllBytes(staged);
        var record = box.SealAndIndex(staged);
        var passphraseFile = Path.Combine(box.OwnerDirectory, "passphrase");
        File.WriteAllText(passphraseFile, "correct horse battery staple\n");
        var outPath = Path.Combine(box.OwnerDirectory, "opened.ts");

        var result = await Cli.RunAsync("segments", "open", "--config", box.ConfigPath, "--key", box.Owner.PrivateKeyPath,
            "--passphrase-file", passphraseFile, "--id", record.Id.ToString(), "--out", outPath);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.EndsWith(".sealed", record.RelativePath);
        Assert.Equal(original, File.ReadAllBytes(outPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(outPath));
        var media = await Media.ProbeAsync(outPath);
        Assert.True(media.Plays, "the opened segment should play");
        Assert.Equal("h264", media.VideoCodec);
        Assert.True(await Media.DecodesCleanlyAsync(outPath));
        // The sealed file itself is no media ffprobe can read.
        Assert.False((await Media.ProbeAsync(record.FullPath)).Plays);
    }

    [Fact]
    public async Task A_wrong_passphrase_gives_a_clear_error_and_writes_no_output()
    {
        await using var box = new SealedBox(output, ownerPassphrase: "right");
        var record = box.SealAndIndex(box.StageRandom(1000, 5));
        var passphraseFile = Path.Combine(box.OwnerDirectory, "passphrase");
        File.WriteAllText(passphraseFile, "wrong\n");
        var outPath = Path.Combine(box.OwnerDirectory, "out.ts");

        var result = await Cli.RunAsync("segments", "open", "--config", box.ConfigPath, "--key", box.Owner.PrivateKeyPath,
            "--passphrase-file", passphraseFile, "--id", record.Id.ToString(), "--out", outPath);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("wrong passphrase", result.Stderr);
        Assert.False(File.Exists(outPath) || File.Exists(outPath + ".partial"));
    }

    [Fact]
    public async Task An_existing_output_file_is_never_overwritten()
    {
        await using var box = new SealedBox(output);
        var record = box.SealAndIndex(box.StageRandom(1000, 6));
        var outPath = Path.Combine(box.OwnerDirectory, "out.ts");
        File.WriteAllText(outPath, "keep me");

        var result = await Cli.RunAsync("segments", "open", "--config", box.ConfigPath, "--key", box.Owner.PrivateKeyPath, "--id", record.Id.ToString(), "--out", outPath);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("already exists", result.Stderr);
        Assert.Equal("keep me", File.ReadAllText(outPath));
    }

    [Fact]
    public async Task While_the_agent_holds_the_index_open_fetches_only_the_record_from_it_and_decrypts_in_the_caller()
    {
        await using var box = new SealedBox(output);
        var staged = box.StageRandom(FootageBytes, 7);
        var original = File.ReadAllBytes(staged);
        var record = box.SealAndIndex(staged);
        await box.Site.StartAsync(); // the agent now holds the index lock; its control socket opens shortly after
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await Edge.Agent.Control.ControlSocket.TryForwardAsync(box.Site.Settings.IndexDirectory, ["status", "--config", box.ConfigPath], CancellationToken.None) is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the agent's control socket did not answer within 30 s");
            await Task.Delay(100);
        }
        var outPath = Path.Combine(box.OwnerDirectory, "out.ts");

        var result = await Cli.RunAsync("segments", "open", "--config", box.ConfigPath, "--key", box.Owner.PrivateKeyPath, "--id", record.Id.ToString(), "--out", outPath);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(original, File.ReadAllBytes(outPath));

        // Sent to the agent directly, `segments open` is refused there: the owner key never becomes the agent's.
        var inAgent = Path.Combine(box.OwnerDirectory, "in-agent.ts");
        var reply = await Edge.Agent.Control.ControlSocket.TryForwardAsync(box.Site.Settings.IndexDirectory,
            ["segments", "open", "--config", box.ConfigPath, "--key", box.Owner.PrivateKeyPath, "--id", record.Id.ToString(), "--out", inAgent], CancellationToken.None);
        Assert.NotNull(reply);
        Assert.Equal(2, reply.ExitCode);
        Assert.Contains("owner key must stay in the calling process", reply.Stderr);
        Assert.False(File.Exists(inAgent));
    }

    [Fact]
    public async Task Show_prints_the_whole_record_including_the_wrapped_key()
    {
        await using var box = new SealedBox(output);
        var record = box.SealAndIndex(box.StageRandom(1000, 8));

        var result = await Cli.RunAsync("segments", "show", "--config", box.ConfigPath, "--id", record.Id.ToString(), "--json");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var detail = System.Text.Json.JsonSerializer.Deserialize<Edge.Agent.Cli.SegmentsOpenCommand.SegmentDetailJson>(result.Stdout, Edge.Agent.Cli.CliJson.Options)!;
        Assert.Equal(record.WrappedKey, detail.WrappedKey);
        Assert.Equal(record.StoredSha256, detail.StoredSha256);
        Assert.Equal(record.OwnerKeyId, detail.OwnerKeyId);
        Assert.Equal(record.RelativePath, detail.RelativePath);
    }
}

// Shared by the sync tests: a site whose edge.json syncs to a test broker, the central's command signing, and the
// checks every test makes of what crossed the broker.
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Edge.Agent.Sealing;
using Edge.Sync;
using Edge.Sync.Protocol;

namespace Edge.Tests.Sync;

public sealed class CentralSigner : IDisposable
{
    public CentralSigner()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("edge-test-central-").FullName;
        var pair = CommandSigningKeys.CreatePair(Directory, passphrase: null);
        PublicKeyPath = pair.PublicKeyPath;
        Key = CommandSigningKeys.LoadPrivate(pair.PrivateKeyPath, passphrase: null);
    }

    public string Directory { get; }
    public string PublicKeyPath { get; }
    public ECDsa Key { get; }

    public byte[] Sign(string name, object args, string site = "test-site", string device = "test-box", DateTime? issuedAt = null, string? id = null) =>
        CommandSigning.Sign(Key, new CommandBody(id ?? Guid.NewGuid().ToString(), name, site, device, issuedAt ?? DateTime.UtcNow,
            JsonSerializer.SerializeToElement(args, SyncJson.Options)));

    public void Dispose()
    {
        Key.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

public static class SyncSupport
{
    public const string Root = "edge/v1/test-site/test-box";

    /// <summary>Adds a `sync` section (the signer's public key copied beside the box's other keys).</summary>
    public static void Configure(JsonObject config, string root, Uri broker, CentralSigner signer, int bandwidthKbps = 0, int chunkBytes = 64 * 1024)
    {
        System.IO.Directory.CreateDirectory(Path.Combine(root, "keys"));
        File.Copy(signer.PublicKeyPath, Path.Combine(root, "keys", "owner-sign.pub"));
        config["sync"] = new JsonObject
        {
            ["broker"] = broker.ToString(),
            ["healthSeconds"] = 2,
            ["keepAliveSeconds"] = 2,
            ["clipBandwidthKbps"] = bandwidthKbps,
            ["clipChunkBytes"] = chunkBytes,
            ["commandPublicKey"] = "keys/owner-sign.pub",
        };
    }

    /// <summary>Opens the simulated door on pin 17 (AddDoor's contact) for <paramref name="openFor"/>, then closes it.</summary>
    public static async Task OpenDoorAsync(Edge.Hardware.Gpio.SimulatedGpioDriver pins, TimeSpan openFor)
    {
        pins.SetInputLevel(17, System.Device.Gpio.PinValue.High);
        await Task.Delay(openFor);
        pins.SetInputLevel(17, System.Device.Gpio.PinValue.Low);
    }

    public static void AddDoor(JsonObject config, string root, params string[] cameras)
    {
        config["doors"] = new JsonArray(new JsonObject
        {
            ["id"] = "server-room", ["contactPin"] = 17, ["contactClosedLevel"] = "low", ["cameras"] = new JsonArray(cameras.Select(c => (JsonNode)c).ToArray()),
        });
        File.WriteAllText(Path.Combine(root, "closed.json"), """{ "initial": { "17": "low" }, "steps": [] }""");
        config["gpio"] = new JsonObject { ["driver"] = "simulated", ["scenarioFile"] = "closed.json" };
        config["flags"] = new JsonObject { ["preRoll"] = "00:00:02", ["postRoll"] = "00:00:02" };
    }

    public static T Read<T>(TappedMessage m) => JsonSerializer.Deserialize<T>(m.Payload, SyncJson.Options)!;

    /// <summary>
    /// What the central relies on to drop duplicates by "highest id so far": each message is either the next id or a
    /// repeat of one already seen, never a jump. Returns the distinct ids in arrival order.
    /// </summary>
    public static List<long> AssertInOrderWithoutGaps(IEnumerable<long> arrivals, string stream)
    {
        long highest = 0;
        var distinct = new List<long>();
        foreach (var id in arrivals)
        {
            Assert.True(id <= highest + 1, $"{stream}: message {id} arrived when the highest so far was {highest} (a gap)");
            if (id == highest + 1) { highest = id; distinct.Add(id); }
        }
        return distinct;
    }

    /// <summary>Reassembles each segment of the clips from the tapped chunks (checking each chunk's hash), keyed by segment id.</summary>
    public static Dictionary<long, byte[]> Reassemble(IEnumerable<TappedMessage> chunks)
    {
        var parts = new Dictionary<long, SortedDictionary<int, (long Offset, byte[] Bytes)>>();
        foreach (var chunk in chunks)
        {
            // The box describes a chunk with its CRC-32C only (docs/protocol.md); storedSha256 covers the whole segment.
            Assert.Equal(ChunkChecksum.Crc32C(chunk.Payload), chunk.Properties["crc32c"]);
            Assert.False(chunk.Properties.ContainsKey("sha256"));
            var segment = long.Parse(chunk.Properties["segment"]);
            var chunksOf = parts.TryGetValue(segment, out var p) ? p : parts[segment] = new();
            chunksOf[int.Parse(chunk.Properties["chunk"])] = (long.Parse(chunk.Properties["offset"]), chunk.Payload);
        }
        var files = new Dictionary<long, byte[]>();
        foreach (var (segment, chunksOf) in parts)
        {
            Assert.Equal(Enumerable.Range(0, chunksOf.Count), chunksOf.Keys); // no chunk missing
            long offset = 0;
            foreach (var (_, (at, bytes)) in chunksOf)
            {
                Assert.Equal(offset, at);
                offset += bytes.Length;
            }
            files[segment] = chunksOf.Values.SelectMany(c => c.Bytes).ToArray();
        }
        return files;
    }

    /// <summary>Fails if any payload holds 16 bytes of the footage, an H.264 parameter set, or a run of MPEG-TS packets.</summary>
    public static void AssertNoPlaintextVideo(IReadOnlyList<TappedMessage> messages, IReadOnlyList<byte[]> plaintextFootage)
    {
        var runs = new HashSet<UInt128>();
        foreach (var p in plaintextFootage)
            for (int i = 0; i + 16 <= p.Length; i++) runs.Add(BitConverter.ToUInt128(p, i));
        Assert.NotEmpty(runs);
        foreach (var m in messages)
        {
            var b = m.Payload;
            for (int i = 0; i + 16 <= b.Length; i++)
                Assert.False(runs.Contains(BitConverter.ToUInt128(b, i)), $"{m.Topic} carries 16 bytes of plaintext footage at offset {i}");
            for (int i = 0; i + 4 * 188 < b.Length; i++)
                Assert.False(b[i] == 0x47 && b[i + 188] == 0x47 && b[i + 376] == 0x47 && b[i + 564] == 0x47 && b[i + 752] == 0x47,
                    $"{m.Topic} has the MPEG-TS sync pattern at offset {i}");
            for (int i = 0; i + 5 <= b.Length; i++)
                Assert.False(b[i] == 0 && b[i + 1] == 0 && b[i + 2] == 0 && b[i + 3] == 1 && (b[i + 4] & 0x1F) is 7 or 8 && (b[i + 4] & 0x80) == 0 && (b[i + 4] >> 5) == 3,
                    $"{m.Topic} has an H.264 SPS/PPS start code at offset {i}");
        }
    }
}

// The page files' confidentiality and integrity: nothing written into the index appears in the files in plaintext,
// and a changed, moved, swapped or foreign page is detected when it is read, with the file and page number named.
// A torn log tail (beyond the durable mark, as a power cut leaves it) is cut back instead of failing the open.
using System.Text;
using Edge.Agent.Index;
using LiteDB;

namespace Edge.Tests.Index;

public sealed class EncryptedPageStream_Tests : IDisposable
{
    private const string CameraId = "cam-lobby-7f3a";
    private const string CameraUrl = "rtsp://10.1.2.3:554/stream1";
    private static readonly string[] Secrets = [CameraId, CameraUrl, "10.1.2.3", "lobby-7f3a"];

    private readonly IndexScratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    private static void InsertCameras(ILiteDatabase database, int from, int count)
    {
        var cameras = database.GetCollection("cameras");
        cameras.EnsureIndex("cameraId");
        cameras.EnsureIndex("url");
        for (var i = from; i < from + count; i++)
        {
            cameras.Insert(new BsonDocument
            {
                ["_id"] = i,
                ["cameraId"] = CameraId,
                ["url"] = CameraUrl,
                ["note"] = $"{CameraId} at {CameraUrl} number {i}",
            });
        }
    }

    private static List<string> FindSecrets(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var found = new List<string>();
        foreach (var secret in Secrets)
        {
            foreach (var encoding in new Encoding[] { Encoding.UTF8, Encoding.Unicode, Encoding.BigEndianUnicode })
            {
                if (bytes.AsSpan().IndexOf(encoding.GetBytes(secret)) >= 0)
                    found.Add($"{Path.GetFileName(path)}: \"{secret}\" as {encoding.WebName}");
            }
        }
        return found;
    }

    private List<string> FindSecretsInIndexDirectory() =>
        Directory.GetFiles(_scratch.IndexDirectory)
            .Where(f => !f.EndsWith(".lock", StringComparison.Ordinal)) // holds a pid only, and is flock-ed
            .SelectMany(FindSecrets).ToList();

    [Fact]
    public void The_secret_scan_finds_camera_ids_and_urls_in_an_unencrypted_LiteDB_file()
    {
        // Control for the test below: the same writes into a plain LiteDB file are found by the same scan.
        var path = Path.Combine(_scratch.Root, "plain.db");
        using (var database = new LiteDatabase(new ConnectionString { Filename = path }))
            InsertCameras(database, 1, 50);
        Assert.Contains(FindSecrets(path), f => f.Contains(CameraId) && f.Contains("utf-8"));
        Assert.Contains(FindSecrets(path), f => f.Contains(CameraUrl));
    }

    [Fact]
    public void The_index_files_hold_no_camera_id_or_url_in_plaintext_after_commit_checkpoint_and_close()
    {
        using (var store = _scratch.Open())
        {
            InsertCameras(store.Database, 1, 200);
            store.WaitUntilDurable();
            Assert.True(Slots.Count(_scratch.LogPath) > 0, "the log should hold the committed pages");
            Assert.Empty(FindSecretsInIndexDirectory());

            store.Database.Checkpoint();
            Assert.True(Slots.Count(_scratch.DataPath) > 2, "the checkpoint should have copied pages into the data file");
            Assert.Empty(FindSecretsInIndexDirectory());

            // Both files non-empty at once: data from the checkpoint, log from new commits.
            InsertCameras(store.Database, 1000, 100);
            store.WaitUntilDurable();
            Assert.True(Slots.Count(_scratch.LogPath) > 0);
            Assert.Empty(FindSecretsInIndexDirectory());
        }
        Assert.Empty(FindSecretsInIndexDirectory());
    }

    [Fact]
    public void A_sort_larger_than_memory_spills_into_the_temp_file_encrypted()
    {
        using var store = _scratch.Open();
        var cameras = store.Database.GetCollection("cameras");
        // Sort keys stay under 255 bytes: 5.0.20 stores a sort key's string length in one byte.
        var padding = new string('p', 180);
        cameras.InsertBulk(Enumerable.Range(0, 5000).Select(i =>
            new BsonDocument { ["_id"] = i, ["note"] = $"{CameraId} {CameraUrl} {i:D5} {padding}" }));

        // LiteDB sorts in containers of 800 KiB; 5000 keys of ~230 bytes need the temp file.
        var sorted = cameras.Query().OrderByDescending("$.note").ToList();

        Assert.Equal(5000, sorted.Count);
        Assert.True(store.TempStream.WriteCount > 0, "the sort did not use the temp file");
        Assert.Empty(FindSecretsInIndexDirectory());
    }

    [Fact]
    public void Changed_byte_in_a_data_page_is_detected_when_the_page_is_read()
    {
        long dataPage;
        using (var store = _scratch.Open())
        {
            InsertCameras(store.Database, 1, 100);
            dataPage = store.Database.GetCollection("$page_list")
                .Find(Query.And(Query.EQ("pageType", "Data"), Query.EQ("collection", "cameras")))
                .First()["pageID"].AsInt32;
        }

        Slots.FlipBit(_scratch.DataPath, dataPage, offsetInSlot: 40 + 1000); // inside the ciphertext

        using (var store = _scratch.Open())
        {
            var error = Assert.Throws<IndexCorruptException>(
                () => store.Database.GetCollection("cameras").FindAll().ToList());
            Assert.Equal(_scratch.DataPath, error.FilePath);
            Assert.Equal(dataPage, error.PageNumber);
            Assert.Contains($"{_scratch.DataPath}: page {dataPage} failed authentication", error.Message);
        }
    }

    [Fact]
    public void Changed_byte_in_the_nonce_or_tag_of_a_page_is_detected_too()
    {
        using (var store = _scratch.Open())
            InsertCameras(store.Database, 1, 20);

        Slots.FlipBit(_scratch.DataPath, 0, offsetInSlot: 3);      // nonce
        Slots.FlipBit(_scratch.DataPath, 1, offsetInSlot: 24 + 5); // tag

        using var data = OpenDataStream();
        AssertPageFails(data, 0);
        AssertPageFails(data, 1);
        AssertPageReads(data, 2);
    }

    [Fact]
    public void A_data_page_copied_over_another_is_detected_at_the_overwritten_page()
    {
        using (var store = _scratch.Open())
            InsertCameras(store.Database, 1, 100);
        Assert.True(Slots.Count(_scratch.DataPath) > 4);

        Slots.Write(_scratch.DataPath, 3, Slots.Read(_scratch.DataPath, 2));

        using var data = OpenDataStream();
        AssertPageReads(data, 2);
        AssertPageFails(data, 3);
    }

    [Fact]
    public void Two_data_pages_swapped_between_positions_are_both_detected()
    {
        using (var store = _scratch.Open())
            InsertCameras(store.Database, 1, 100);
        var page1 = Slots.Read(_scratch.DataPath, 1);
        var page2 = Slots.Read(_scratch.DataPath, 2);

        Slots.Write(_scratch.DataPath, 1, page2);
        Slots.Write(_scratch.DataPath, 2, page1);

        using var data = OpenDataStream();
        AssertPageFails(data, 1);
        AssertPageFails(data, 2);
        AssertPageReads(data, 0);
    }

    [Fact]
    public void A_log_page_copied_into_the_data_file_is_detected_when_the_index_opens()
    {
        byte[] logPage;
        using (var store = _scratch.Open())
        {
            InsertCameras(store.Database, 1, 50);
            store.WaitUntilDurable();
            Assert.True(Slots.Count(_scratch.LogPath) > 0);
            logPage = Slots.Read(_scratch.LogPath, 0);
        } // closing checkpoints and empties the log, so nothing in it can repair the data file

        Slots.Write(_scratch.DataPath, 0, logPage); // same page number, other file

        var error = Assert.Throws<IndexCorruptException>(() => _scratch.Open().Dispose());
        Assert.Equal(_scratch.DataPath, error.FilePath);
        Assert.Equal(0, error.PageNumber);
        Assert.Contains($"{_scratch.DataPath}: page 0 failed authentication", error.Message);
    }

    [Fact]
    public void A_data_page_torn_during_a_checkpoint_is_rewritten_from_its_confirmed_copy_in_the_log()
    {
        string copy;
        using (var store = _scratch.Open())
        {
            InsertCameras(store.Database, 1, 50);
            store.Database.Checkpoint();
            InsertCameras(store.Database, 100, 50); // changes page 0 (the header) again, in the log
            store.WaitUntilDurable();
            copy = _scratch.CopyIndexFiles("copy"); // a cut while checkpointing: data being rewritten, log intact
        }
        var data = Path.Combine(copy, IndexStore.DataFileName);
        Slots.FlipBit(data, 0, offsetInSlot: 40 + 7); // torn header page: LiteDB reads it first when opening

        using var reopened = IndexStore.Open(copy, _scratch.KeyPath, createKeyIfMissing: false);
        Assert.True(reopened.RepairedDataPages >= 1);
        Assert.Equal(100, reopened.Database.GetCollection("cameras").Count());
    }

    [Fact]
    public void A_damaged_data_page_with_no_copy_in_the_log_is_not_repaired()
    {
        string copy;
        using (var store = _scratch.Open())
        {
            InsertCameras(store.Database, 1, 50);
            store.Database.Checkpoint();
            store.Database.GetCollection("other").Insert(new BsonDocument { ["_id"] = 1 }); // log non-empty
            store.WaitUntilDurable();
            copy = _scratch.CopyIndexFiles("copy");
        }
        var data = Path.Combine(copy, IndexStore.DataFileName);
        var last = Slots.Count(data) - 1; // written by the first checkpoint, not touched by the later commit
        Slots.FlipBit(data, last, offsetInSlot: 40 + 7);

        using var reopened = IndexStore.Open(copy, _scratch.KeyPath, createKeyIfMissing: false);
        Assert.Equal(0, reopened.RepairedDataPages);
        Assert.False(reopened.DataStream.TryReadPage(last, new byte[EncryptedPageStream.PageSize]));
    }

    [Fact]
    public void Changed_byte_in_a_durable_log_page_is_detected_when_the_index_opens()
    {
        string copy;
        using (var store = _scratch.Open())
        {
            InsertCameras(store.Database, 1, 50);
            store.WaitUntilDurable();
            copy = _scratch.CopyIndexFiles("copy");
        }
        var log = Path.Combine(copy, IndexStore.LogFileName);
        var last = Slots.Count(log) - 1;

        Slots.FlipBit(log, last, offsetInSlot: 40 + 8000);

        var error = Assert.Throws<IndexCorruptException>(
            () => IndexStore.Open(copy, _scratch.KeyPath, createKeyIfMissing: false).Dispose());
        Assert.Equal(log, error.FilePath);
        Assert.Equal(last, error.PageNumber);
        Assert.Contains($"{log}: page {last} failed authentication", error.Message);
    }

    [Fact]
    public void A_torn_log_tail_beyond_the_durable_mark_is_cut_back_and_every_durable_commit_survives()
    {
        string copy;
        using (var store = _scratch.Open())
        {
            InsertCameras(store.Database, 1, 50);
            store.WaitUntilDurable();
            copy = _scratch.CopyIndexFiles("copy");
        }
        var log = Path.Combine(copy, IndexStore.LogFileName);
        var durablePages = Slots.Count(log);

        // What a power cut can leave after the last fsync: a page of garbage and half of another.
        using (var file = File.Open(log, FileMode.Append))
        {
            file.Write(System.Security.Cryptography.RandomNumberGenerator.GetBytes(EncryptedPageStream.SlotSize));
            file.Write(System.Security.Cryptography.RandomNumberGenerator.GetBytes(EncryptedPageStream.SlotSize / 2));
        }

        using var reopened = IndexStore.Open(copy, _scratch.KeyPath, createKeyIfMissing: false);
        Assert.Equal(2, reopened.DiscardedLogTailPages);
        Assert.Equal(50, reopened.Database.GetCollection("cameras").Count());
        Assert.Equal(durablePages, Slots.Count(log));
    }

    [Fact]
    public void Opening_with_a_different_key_fails_with_wrong_key_or_corrupt_header()
    {
        using (var store = _scratch.Open())
            InsertCameras(store.Database, 1, 10);
        var otherKey = Path.Combine(_scratch.Root, "other.key");
        IndexKeyFile.LoadOrCreate(otherKey, create: true);

        var error = Assert.Throws<IndexKeyException>(
            () => IndexStore.Open(_scratch.IndexDirectory, otherKey, createKeyIfMissing: false));

        Assert.Contains("wrong key or corrupt header", error.Message);
        Assert.Contains(_scratch.DataPath, error.Message);
        Assert.Contains(otherKey, error.Message);
        // And the right key still opens it: nothing was written with the wrong one.
        using var again = _scratch.Open();
        Assert.Equal(10, again.Database.GetCollection("cameras").Count());
    }

    [Fact]
    public void A_changed_byte_in_the_file_header_gives_wrong_key_or_corrupt_header()
    {
        _scratch.Open().Dispose();
        using (var file = File.Open(_scratch.DataPath, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Position = 20; // inside the database id
            var b = file.ReadByte();
            file.Position = 20;
            file.WriteByte((byte)(b ^ 1));
        }

        var error = Assert.Throws<IndexKeyException>(() => _scratch.Open());
        Assert.Contains("wrong key or corrupt header", error.Message);
    }

    [Fact]
    public void A_plain_LiteDB_file_in_place_of_the_index_is_refused_as_not_an_edge_index_file()
    {
        Directory.CreateDirectory(_scratch.IndexDirectory);
        using (var plain = new LiteDatabase(new ConnectionString { Filename = _scratch.DataPath }))
            plain.GetCollection("x").Insert(new BsonDocument { ["_id"] = 1 });

        var error = Assert.Throws<IndexCorruptException>(() => _scratch.Open());
        Assert.Contains("is not an edge index file", error.Message);
        Assert.Contains(_scratch.DataPath, error.Message);
    }

    private EncryptedPageStream OpenDataStream() =>
        EncryptedPageStream.OpenData(_scratch.DataPath, IndexKeyFile.Load(_scratch.KeyPath), "the test key");

    private static void AssertPageFails(EncryptedPageStream stream, long page)
    {
        stream.Position = page * EncryptedPageStream.PageSize;
        var error = Assert.Throws<IndexCorruptException>(() => stream.Read(new byte[EncryptedPageStream.PageSize], 0, EncryptedPageStream.PageSize));
        Assert.Equal(page, error.PageNumber);
        Assert.Equal(stream.FilePath, error.FilePath);
        Assert.Contains($"page {page} failed authentication", error.Message);
    }

    private static void AssertPageReads(EncryptedPageStream stream, long page)
    {
        stream.Position = page * EncryptedPageStream.PageSize;
        Assert.Equal(EncryptedPageStream.PageSize, stream.Read(new byte[EncryptedPageStream.PageSize], 0, EncryptedPageStream.PageSize));
    }
}

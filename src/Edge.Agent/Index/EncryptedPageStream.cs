// The stream LiteDB 5.0.20 is given as its data, log and temp file. LiteDB reads and writes whole 8192-byte pages at
// offsets that are multiples of 8192; this stream stores logical page N, sealed with AES-256-GCM (see PageCipher),
// in physical slot N after a 4096-byte file header, and checks every page it reads. Flush() of the data file really
// reaches the disk (fsync), which LiteDB's own AesStream does not do; the log is fsynced by FlushDurable() (the
// store's WaitUntilDurable), not by LiteDB's writer after every commit (see Flush()).
//
// File layout (little endian):
//   0    "EDGEIDX1", format version, role, 2 reserved bytes, page size (u32), database id (16 bytes),
//        HMAC-SHA256 of bytes 0..31 with the header key (32 bytes): a wrong key fails here.
//   512  durable mark A, 1024 durable mark B: sequence (u64), page count (u64), HMAC (32 bytes). The valid mark with
//        the higher sequence says how many pages were known to be fsynced. A page below the mark that fails
//        authentication is corruption; in the log, a failing page at or beyond the mark is a tail torn by a power
//        cut, and the log is cut back to it when it is opened (LiteDB then ignores the unconfirmed transaction).
//   4096 slot 0, slot 1, ... each 8232 bytes: nonce (24), GCM tag (16), ciphertext (8192).
using System.Buffers.Binary;
using System.Security.Cryptography;
using Edge.Agent.Index.Storage;
using Microsoft.Win32.SafeHandles;

namespace Edge.Agent.Index;

internal sealed class EncryptedPageStream : Stream
{
    public const int PageSize = PageCipher.PageSize;
    public const int SlotSize = PageCipher.SlotSize;
    public const int HeaderSize = 4096;

    private const int StaticHeaderLength = 64;
    private const int MarkLength = 48;
    private static readonly long[] MarkOffsets = [512, 1024];
    private static readonly byte[] Magic = "EDGEIDX1"u8.ToArray();

    private readonly FileStream _file;
    private readonly SafeFileHandle _handle;
    private readonly PageCipher _cipher;
    private readonly bool _deleteOnDispose;

    // _gate guards the logical state below; page I/O runs under it (LiteDB serialises page I/O per stream anyway).
    private readonly object _gate = new();
    private long _position;
    private long _pages;          // logical length in pages
    private long _epoch;          // bumped whenever the file shrinks (LiteDB's checkpoint empties the log)
    private long _contiguous;     // pages 0.._contiguous-1 are all written (present at open or written since)
    private readonly SortedSet<long> _outOfOrder = [];
    private long _writeCount;

    // _flushGate serialises fsyncs and mark writes, so concurrent waiters share one fsync.
    private readonly object _flushGate = new();
    private long _syncedWriteCount;
    private ulong _markSequence;
    private long _markWritten;    // page count in the newest mark record written
    private long _markDurable;    // page count in the newest mark record known to be fsynced
    private long _fsyncCount;
    private bool _disposed;

    private EncryptedPageStream(FileStream file, PageCipher cipher, byte[] databaseId, bool deleteOnDispose)
    {
        _file = file;
        _handle = file.SafeFileHandle;
        _cipher = cipher;
        DatabaseId = databaseId;
        _deleteOnDispose = deleteOnDispose;
        FilePath = file.Name;
    }

    public string FilePath { get; }
    public byte[] DatabaseId { get; }
    internal PageFileRole Role => _cipher.Role;

    /// <summary>Pages of a torn log tail (beyond the durable mark) dropped when the file was opened.</summary>
    public long DiscardedTailPages { get; private set; }

    public long PhysicalLength => RandomAccess.GetLength(_handle);

    /// <summary>Number of fsyncs issued on this file so far (for tests and measurements).</summary>
    public long FsyncCount => Interlocked.Read(ref _fsyncCount);

    public long WriteCount { get { lock (_gate) return _writeCount; } }

    public long Epoch { get { lock (_gate) return _epoch; } }

    public long DurableMarkPages { get { lock (_flushGate) return _markDurable; } }

    // ---- opening -------------------------------------------------------------------------------------------------

    /// <summary>Opens the data file, creating it (with a new random database id) when it is missing or holds no header.</summary>
    public static EncryptedPageStream OpenData(string path, ReadOnlySpan<byte> masterKey, string keyDescription)
    {
        var file = OpenFile(path);
        try
        {
            if (file.Length < HeaderSize)
            {
                // Missing, or a creation cut short before its header was complete: nothing can have been stored yet.
                var databaseId = RandomNumberGenerator.GetBytes(PageCipher.DatabaseIdSize);
                var cipher = new PageCipher(masterKey, databaseId, PageFileRole.Data);
                WriteNewHeader(file, cipher, databaseId);
                return new EncryptedPageStream(file, cipher, databaseId, deleteOnDispose: false);
            }

            var id = ReadHeader(file, masterKey, PageFileRole.Data, expectedDatabaseId: null, keyDescription, out var dataCipher);
            var stream = new EncryptedPageStream(file, dataCipher, id, deleteOnDispose: false);
            stream.RecoverOnOpen();
            return stream;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Opens the log file of the database <paramref name="databaseId"/>, creating it when missing, and cuts back a torn tail.</summary>
    public static EncryptedPageStream OpenLog(string path, ReadOnlySpan<byte> masterKey, byte[] databaseId, string keyDescription)
    {
        var file = OpenFile(path);
        try
        {
            if (file.Length < HeaderSize)
            {
                var cipher = new PageCipher(masterKey, databaseId, PageFileRole.Log);
                WriteNewHeader(file, cipher, databaseId);
                return new EncryptedPageStream(file, cipher, databaseId, deleteOnDispose: false);
            }

            ReadHeader(file, masterKey, PageFileRole.Log, databaseId, keyDescription, out var logCipher);
            var stream = new EncryptedPageStream(file, logCipher, databaseId, deleteOnDispose: false);
            stream.RecoverOnOpen();
            return stream;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Scratch file for LiteDB's sorts, under a throw-away key; emptied now and deleted on dispose.</summary>
    public static EncryptedPageStream CreateTemp(string path)
    {
        var file = OpenFile(path);
        try
        {
            var key = RandomNumberGenerator.GetBytes(32);
            var databaseId = RandomNumberGenerator.GetBytes(PageCipher.DatabaseIdSize);
            var cipher = new PageCipher(key, databaseId, PageFileRole.Temp);
            CryptographicOperations.ZeroMemory(key);
            WriteNewHeader(file, cipher, databaseId);
            return new EncryptedPageStream(file, cipher, databaseId, deleteOnDispose: true);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static FileStream OpenFile(string path)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.OpenOrCreate,
            Access = FileAccess.ReadWrite,
            // No flock on the page files: index.lock is the guard, and tools may read the (encrypted) files.
            Share = FileShare.ReadWrite,
            BufferSize = 0,
        };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        return new FileStream(path, options);
    }

    private static void WriteNewHeader(FileStream file, PageCipher cipher, byte[] databaseId)
    {
        var header = new byte[HeaderSize];
        Magic.CopyTo(header, 0);
        header[8] = PageCipher.FormatVersion;
        header[9] = (byte)cipher.Role;
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), PageSize);
        databaseId.CopyTo(header, 16);
        cipher.HeaderMac(header.AsSpan(0, 32), header.AsSpan(32, 32));
        RandomAccess.SetLength(file.SafeFileHandle, 0);
        RandomAccess.Write(file.SafeFileHandle, header, 0);
        RandomAccess.FlushToDisk(file.SafeFileHandle);
        DirectorySync.Sync(Path.GetDirectoryName(file.Name)!);
    }

    private static byte[] ReadHeader(FileStream file, ReadOnlySpan<byte> masterKey, PageFileRole role,
        byte[]? expectedDatabaseId, string keyDescription, out PageCipher cipher)
    {
        var path = file.Name;
        var header = new byte[StaticHeaderLength];
        RandomAccess.Read(file.SafeFileHandle, header, 0);
        if (!header.AsSpan(0, 8).SequenceEqual(Magic))
            throw new IndexCorruptException(path, null,
                $"{path} is not an edge index file: expected it to start with \"EDGEIDX1\", found " +
                $"\"{Printable(header.AsSpan(0, 8))}\". Move it aside (it may be an unencrypted LiteDB file or " +
                "something else) and restore the index from backup, or start an empty index.");
        if (header[8] != PageCipher.FormatVersion)
            throw new IndexCorruptException(path, null,
                $"{path} has index format version {header[8]}; this edge reads version {PageCipher.FormatVersion}. " +
                "Run the edge version that wrote it, or restore the index from backup.");
        if (header[9] != (byte)role)
            throw new IndexCorruptException(path, null,
                $"{path} is an index {PageCipher.RoleName((PageFileRole)header[9])} file; expected the " +
                $"{PageCipher.RoleName(role)} file. The index files were renamed or swapped: put them back " +
                "under their own names.");
        var pageSize = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(12));
        if (pageSize != PageSize)
            throw new IndexCorruptException(path, null,
                $"{path} declares a page size of {pageSize}; expected {PageSize}. Restore the index from backup.");

        var databaseId = header.AsSpan(16, PageCipher.DatabaseIdSize).ToArray();
        if (expectedDatabaseId is not null && !databaseId.AsSpan().SequenceEqual(expectedDatabaseId))
            throw new IndexCorruptException(path, null,
                $"{path} belongs to another index (database id {Convert.ToHexString(databaseId)}; expected " +
                $"{Convert.ToHexString(expectedDatabaseId)} from the data file). A log from another box or an " +
                "older install was copied in: move it aside to open the index without it (its unmerged " +
                "transactions are lost).");

        cipher = new PageCipher(masterKey, databaseId, role);
        if (!cipher.CheckHeaderMac(header.AsSpan(0, 32), header.AsSpan(32, 32)))
            throw new IndexKeyException(path,
                $"{path}: wrong key or corrupt header. The header did not authenticate with {keyDescription}; " +
                "expected the key this index was created with. Check that the key file is the one from this " +
                "box's provisioning (restore it from backup); if the key is right, the header is damaged and " +
                "the index must be restored from backup.");
        return databaseId;
    }

    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
            chars[i] = bytes[i] is >= 0x20 and < 0x7f ? (char)bytes[i] : '.';
        return new string(chars);
    }

    /// <summary>
    /// Reads the durable mark and sets the logical length. The log is scanned page by page: a page below the mark
    /// that fails is corruption; the first failing page at or past the mark ends the log (torn tail).
    /// </summary>
    private void RecoverOnOpen()
    {
        var (sequence, markPages) = ReadMark();
        _markSequence = sequence;
        _markWritten = _markDurable = markPages;

        var payload = RandomAccess.GetLength(_handle) - HeaderSize;
        var wholePages = payload / SlotSize;
        var partial = payload % SlotSize != 0;
        if (wholePages < markPages)
            throw new IndexCorruptException(FilePath, wholePages,
                $"{FilePath} holds {wholePages} pages but its durable mark says {markPages} pages were on disk: " +
                "the file was truncated. Restore the index from backup.");

        var usable = wholePages;
        if (Role == PageFileRole.Log)
        {
            var slot = new byte[SlotSize];
            var page = new byte[PageSize];
            for (long n = 0; n < wholePages; n++)
            {
                RandomAccess.Read(_handle, slot, SlotOffset(n));
                if (!IsAllZero(slot) && _cipher.TryOpen(n, slot, page))
                    continue;
                if (n < markPages)
                    throw CorruptPage(n, IsAllZero(slot));
                usable = n;
                break;
            }
            if (usable < wholePages || partial)
            {
                DiscardedTailPages = wholePages - usable + (partial ? 1 : 0);
                RandomAccess.SetLength(_handle, SlotOffset(usable));
                Fsync();
            }
            CryptographicOperations.ZeroMemory(page);
        }

        _pages = usable;
        _contiguous = usable;
    }

    private (ulong Sequence, long Pages) ReadMark()
    {
        ulong bestSequence = 0;
        long bestPages = 0;
        var damaged = 0;
        var record = new byte[MarkLength];
        foreach (var offset in MarkOffsets)
        {
            RandomAccess.Read(_handle, record, offset);
            if (IsAllZero(record))
                continue;
            if (!CheckMark(record))
            {
                damaged++; // a mark write torn by a power cut; the other record still holds the previous mark
                continue;
            }
            var sequence = BinaryPrimitives.ReadUInt64LittleEndian(record);
            if (sequence >= bestSequence)
            {
                bestSequence = sequence;
                bestPages = BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(8));
            }
        }
        if (damaged == MarkOffsets.Length)
            throw new IndexCorruptException(FilePath, null,
                $"{FilePath}: both durable-mark records fail authentication; expected at least one intact (only " +
                "one is ever being written). The header area was altered: restore the index from backup.");
        return (bestSequence, bestPages);
    }

    private bool CheckMark(ReadOnlySpan<byte> record)
    {
        Span<byte> signed = stackalloc byte[4 + 1 + 16];
        BuildMarkSigned(record[..16], signed);
        return _cipher.CheckHeaderMac(signed, record.Slice(16, 32));
    }

    private void BuildMarkSigned(ReadOnlySpan<byte> body, Span<byte> signed)
    {
        "mark"u8.CopyTo(signed);
        signed[4] = (byte)Role;
        body.CopyTo(signed[5..]);
    }

    private void WriteMark(long pages)
    {
        _markSequence++;
        var record = new byte[MarkLength];
        BinaryPrimitives.WriteUInt64LittleEndian(record, _markSequence);
        BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(8), pages);
        Span<byte> signed = stackalloc byte[4 + 1 + 16];
        BuildMarkSigned(record.AsSpan(0, 16), signed);
        _cipher.HeaderMac(signed, record.AsSpan(16, 32));
        // Alternate between the two records so a torn write leaves the previous mark readable.
        RandomAccess.Write(_handle, record, MarkOffsets[(int)(_markSequence % 2)]);
    }

    // ---- Stream -----------------------------------------------------------------------------------------------

    public override bool CanRead => !_disposed;
    public override bool CanSeek => !_disposed;
    public override bool CanWrite => !_disposed;

    public override long Length { get { lock (_gate) return _pages * PageSize; } }

    public override long Position
    {
        get { lock (_gate) return _position; }
        set { lock (_gate) _position = value; }
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        lock (_gate)
        {
            _position = origin switch
            {
                SeekOrigin.Begin => offset,
                SeekOrigin.Current => _position + offset,
                _ => _pages * PageSize + offset,
            };
            return _position;
        }
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        var slot = new byte[SlotSize];
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            RequireWholePage(_position, count, "read");
            var n = _position / PageSize;
            if (n >= _pages)
                return 0;
            var read = RandomAccess.Read(_handle, slot, SlotOffset(n));
            if (read < SlotSize)
                throw new IndexCorruptException(FilePath, n,
                    $"{FilePath}: page {n} is cut short ({read} of {SlotSize} bytes on disk); expected a whole page. " +
                    "The file was truncated: restore the index from backup.");
            if (IsAllZero(slot) || !_cipher.TryOpen(n, slot, buffer.AsSpan(offset, PageSize)))
                throw CorruptPage(n, IsAllZero(slot));
            _position += PageSize;
            return PageSize;
        }
    }

    /// <summary>Reads and authenticates page <paramref name="n"/> without throwing; false when missing or not authentic.</summary>
    public bool TryReadPage(long n, Span<byte> page)
    {
        var slot = new byte[SlotSize];
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (n >= _pages || RandomAccess.Read(_handle, slot, SlotOffset(n)) < SlotSize || IsAllZero(slot))
                return false;
            return _cipher.TryOpen(n, slot, page);
        }
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        var slot = new byte[SlotSize];
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            RequireWholePage(_position, count, "write");
            var n = _position / PageSize;
            _cipher.Seal(n, buffer.AsSpan(offset, PageSize), slot);
            RandomAccess.Write(_handle, slot, SlotOffset(n));
            _pages = Math.Max(_pages, n + 1);
            _position += PageSize;
            _writeCount++;
            if (n == _contiguous)
            {
                _contiguous++;
                while (_outOfOrder.Remove(_contiguous))
                    _contiguous++;
            }
            else if (n > _contiguous)
            {
                _outOfOrder.Add(n);
            }
            Monitor.PulseAll(_gate);
        }
    }

    public override void SetLength(long value)
    {
        if (value < 0 || value % PageSize != 0)
            throw new NotSupportedException(
                $"{FilePath}: SetLength({value}) is not a whole number of {PageSize}-byte pages; LiteDB 5.0.20 " +
                "only sets whole-page lengths, so this is a LiteDB version this store was not built for.");
        var pages = value / PageSize;
        lock (_flushGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            // When shrinking, lower the durable mark first: a mark above the file's end would read as truncation.
            if (pages < _markWritten)
            {
                WriteMark(pages);
                _markWritten = pages;
                Fsync();
                _markDurable = pages;
            }
            lock (_gate)
            {
                RandomAccess.SetLength(_handle, SlotOffset(pages));
                if (pages < _pages)
                {
                    _epoch++;
                    _contiguous = Math.Min(_contiguous, pages);
                    _outOfOrder.RemoveWhere(p => p >= pages);
                }
                _pages = pages;
                Monitor.PulseAll(_gate);
            }
            Fsync();
        }
    }

    /// <summary>
    /// Data and temp file: fsync, every page written before the call is on disk when it returns. Log file: nothing.
    /// LiteDB's log writer calls Flush() each time its queue runs empty, inline on the committing thread and under its
    /// queue lock; an fsync there made every commit (and every other thread's commit queued behind it) pay for one,
    /// and a group of commits pay one each. Log pages are made durable by <see cref="FlushDurable"/> (the store's
    /// WaitUntilDurable), by a checkpoint (which fsyncs the data file before emptying the log) and on Dispose.
    /// </summary>
    public override void Flush()
    {
        if (Role == PageFileRole.Log)
            return;
        FlushCore(durableMark: false);
    }

    /// <summary>Flush, and make the durable mark that covers those pages durable too (a second fsync if it moved).</summary>
    public void FlushDurable() => FlushCore(durableMark: true);

    private void FlushCore(bool durableMark)
    {
        lock (_flushGate)
        {
            if (_disposed)
                return;
            long writes, markPages;
            lock (_gate)
            {
                writes = _writeCount;
                markPages = Role == PageFileRole.Log ? _contiguous : _pages;
            }
            if (writes > _syncedWriteCount)
            {
                var markBefore = _markWritten;
                Fsync();
                _syncedWriteCount = writes;
                _markDurable = markBefore; // the fsync also persisted the previous mark record
            }
            if (markPages != _markWritten)
            {
                // Pages below markPages were written before the fsync above (or an earlier one): safe to claim.
                WriteMark(markPages);
                _markWritten = markPages;
            }
            if (durableMark && _markDurable != _markWritten)
            {
                Fsync();
                _markDurable = _markWritten;
            }
        }
    }

    /// <summary>
    /// Blocks until pages 0..<paramref name="pages"/>-1 of epoch <paramref name="epoch"/> are all written, or the
    /// file was emptied since (a checkpoint, which fsyncs the data file first). <paramref name="fault"/> is polled
    /// every second so a failed LiteDB writer does not leave the caller waiting forever.
    /// </summary>
    public void WaitForWritten(long epoch, long pages, Func<Exception?> fault)
    {
        lock (_gate)
        {
            while (_epoch == epoch && _contiguous < pages && !_disposed)
            {
                if (!Monitor.Wait(_gate, TimeSpan.FromSeconds(1)) && fault() is { } error)
                    throw new IndexException(
                        $"{FilePath}: LiteDB's log writer failed before writing page {pages - 1} ({error.Message}); " +
                        "the last commits are not on disk. Restart edge; the index reopens from its last durable state.",
                        error);
            }
        }
    }

    private void Fsync()
    {
        RandomAccess.FlushToDisk(_handle);
        Interlocked.Increment(ref _fsyncCount);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_flushGate)
            {
                if (!_disposed)
                {
                    // Make the final mark durable, so the next open can tell corruption from a torn tail.
                    if (!_deleteOnDispose)
                        FlushCore(durableMark: true);
                    lock (_gate)
                    {
                        _disposed = true;
                        Monitor.PulseAll(_gate);
                    }
                    _file.Dispose();
                    if (_deleteOnDispose)
                        File.Delete(FilePath);
                }
            }
        }
        base.Dispose(disposing);
    }

    // ---- helpers ----------------------------------------------------------------------------------------------

    private static long SlotOffset(long page) => HeaderSize + page * SlotSize;

    private void RequireWholePage(long position, int count, string operation)
    {
        if (count != PageSize || position % PageSize != 0)
            throw new NotSupportedException(
                $"{FilePath}: {operation} of {count} bytes at offset {position}; expected one whole {PageSize}-byte " +
                "page at a page boundary, as LiteDB 5.0.20 does. This store was not built for the LiteDB in use.");
    }

    private IndexCorruptException CorruptPage(long page, bool allZero)
    {
        var what = allZero
            ? "is all zero bytes (never written, or wiped)"
            : "failed authentication (its bytes were changed, it was torn by a power cut, or it was copied from " +
              "another position or file)";
        return new IndexCorruptException(FilePath, page,
            $"{FilePath}: page {page} {what}; expected page {page} of the {PageCipher.RoleName(Role)} file of index " +
            $"{Convert.ToHexString(DatabaseId)}. Stop edge and restore the index from backup; do not delete " +
            "pages by hand.");
    }

    private static bool IsAllZero(ReadOnlySpan<byte> bytes) => bytes.IndexOfAnyExcept((byte)0) < 0;
}

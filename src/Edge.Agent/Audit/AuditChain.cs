// The audit trail's hash chain: the canonical encoding of a record, its hash, and the walk that checks a chain.
// Each record's hash covers all of its fields and the previous record's hash, so changing, removing or reordering
// one record breaks the chain at that record. The encoding is specified in docs/design/audit.md; change it only
// with a new domain tag (edge-audit/v2), or every chain written so far stops verifying.
using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Edge.Agent.Index;

namespace Edge.Agent.Audit;

/// <summary>The newest record of the chain: what the central keeps a copy of (docs/protocol.md auditHead).</summary>
public sealed record AuditHead(long Seq, string Hash)
{
}

/// <summary>Where a pruned chain starts: the seq and hash of the last record pruned, and its time.</summary>
public sealed record AuditCheckpoint(long Seq, string Hash, DateTime AtUtc)
{
    public string Serialize() => $"{Seq.ToString(CultureInfo.InvariantCulture)} {Hash} {AtUtc.ToString("O", CultureInfo.InvariantCulture)}";

    public static AuditCheckpoint? Parse(string? text)
    {
        var parts = text?.Split(' ');
        if (parts is not { Length: 3 } || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var seq)
            || !DateTime.TryParse(parts[2], CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at))
            return null;
        return new AuditCheckpoint(seq, parts[1], at.ToUniversalTime());
    }
}

public enum AuditProblemKind
{
    /// <summary>The record's fields do not match its hash, or the next record's PrevHash (its hash was rewritten).</summary>
    Changed,
    /// <summary>The record is not in the index.</summary>
    Removed,
    /// <summary>The record is in the index, but not where its seq puts it.</summary>
    Reordered,
    /// <summary>The chain's bookkeeping (head or checkpoint) is unreadable.</summary>
    Unreadable,
}

/// <summary>The first problem of a chain. AtUtc and Action are known when the record itself is (not for a removed one).</summary>
public sealed record AuditProblem(AuditProblemKind Kind, long Seq, DateTime? AtUtc, string? Action, string Explanation);

public sealed record AuditVerification(long RecordsChecked, long FirstSeq, long LastSeq, AuditHead Head, AuditCheckpoint? Checkpoint, AuditProblem? Problem)
{
    public bool Ok => Problem is null;
}

public static class AuditChain
{
    public const string DomainTag = "edge-audit/v1";
    public static readonly string GenesisHash = new('0', 64);
    public static readonly AuditHead EmptyHead = new(0, new string('0', 64));

    /// <summary>"SEQ HASH", as kept in the index's audit.head setting; null when absent or malformed.</summary>
    public static AuditHead? ParseHead(string? text)
    {
        var parts = text?.Split(' ');
        return parts is { Length: 2 } && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var seq) && parts[1].Length == 64
            ? new AuditHead(seq, parts[1])
            : null;
    }

    public static AuditCheckpoint? ParseCheckpoint(string? text) => AuditCheckpoint.Parse(text);

    /// <summary>
    /// Puts the record in the form the index gives back: LiteDB's default mapper trims strings and stores an empty
    /// one as null, and keeps times to the millisecond, in UTC. Hashing the stored form keeps the hash stable.
    /// </summary>
    public static void Normalize(AuditRecord record)
    {
        var at = record.AtUtc.Kind switch
        {
            DateTimeKind.Local => record.AtUtc.ToUniversalTime(),
            DateTimeKind.Unspecified => DateTime.SpecifyKind(record.AtUtc, DateTimeKind.Utc),
            _ => record.AtUtc,
        };
        record.AtUtc = new DateTime(at.Ticks - at.Ticks % TimeSpan.TicksPerMillisecond, DateTimeKind.Utc);
        record.Action = Text(record.Action) ?? "";
        record.User = Text(record.User) ?? "";
        record.Detail = Text(record.Detail) ?? "";
        record.Purpose = Text(record.Purpose);
        record.Recipient = Text(record.Recipient);
    }

    private static string? Text(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    /// <summary>The canonical encoding (docs/design/audit.md, "The encoding").</summary>
    public static byte[] Encode(AuditRecord r, string prevHash)
    {
        using var buffer = new MemoryStream(256);
        buffer.Write(Encoding.ASCII.GetBytes(DomainTag));
        Span<byte> number = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(number, r.Seq);
        buffer.Write(number);
        var at = r.AtUtc.Kind == DateTimeKind.Local ? r.AtUtc.ToUniversalTime() : r.AtUtc;
        BinaryPrimitives.WriteInt64BigEndian(number, (at.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMillisecond);
        buffer.Write(number);
        foreach (var field in new[] { r.Action, r.User, r.Detail, r.Purpose, r.Recipient })
            WriteText(buffer, Text(field));
        buffer.Write(HashBytes(prevHash));
        return buffer.ToArray();
    }

    private static void WriteText(Stream buffer, string? value)
    {
        Span<byte> length = stackalloc byte[4];
        if (value is null)
        {
            BinaryPrimitives.WriteUInt32BigEndian(length, uint.MaxValue);
            buffer.Write(length);
            return;
        }
        var bytes = Encoding.UTF8.GetBytes(value);
        BinaryPrimitives.WriteUInt32BigEndian(length, (uint)bytes.Length);
        buffer.Write(length);
        buffer.Write(bytes);
    }

    /// <summary>A hash that is not 64 hex digits (a damaged PrevHash) still encodes, so the mismatch is reported, not thrown.</summary>
    private static byte[] HashBytes(string? hex)
    {
        if (hex is { Length: 64 })
        {
            try { return Convert.FromHexString(hex); }
            catch (FormatException) { }
        }
        return SHA256.HashData(Encoding.UTF8.GetBytes("malformed:" + hex));
    }

    public static string HashOf(AuditRecord record, string prevHash) => Convert.ToHexStringLower(SHA256.HashData(Encode(record, prevHash)));

    /// <summary>
    /// Checks a chain given in storage (id) order, from the checkpoint (or the genesis) to the head recorded at the last
    /// append. Stops at the first problem. <paramref name="findSeq"/> looks a record up by seq anywhere in the index:
    /// it tells a record out of place (reordered) from one that is gone (removed).
    /// </summary>
    public static AuditVerification Verify(IEnumerable<AuditRecord> inIdOrder, AuditCheckpoint? checkpoint, AuditHead? recordedHead,
        Func<long, AuditRecord?> findSeq)
    {
        long expected = (checkpoint?.Seq ?? 0) + 1;
        string prevHash = checkpoint?.Hash ?? GenesisHash;
        AuditRecord? previous = null;
        long count = 0, first = 0;
        AuditVerification Result(AuditProblem? problem) =>
            new(count, first, expected - 1, new AuditHead(expected - 1, prevHash), checkpoint, problem);
        string Where(AuditRecord? r) => r is null
            ? checkpoint is null ? "the start of the chain" : $"the checkpoint at seq {checkpoint.Seq}"
            : $"seq {r.Seq} ({r.AtUtc:yyyy-MM-ddTHH:mm:ss.fffZ}, {r.Action})";

        foreach (var record in inIdOrder)
        {
            if (record.Seq != expected)
            {
                if (record.Seq < expected && checkpoint is not null && record.Seq <= checkpoint.Seq)
                    return Result(new AuditProblem(AuditProblemKind.Reordered, record.Seq, record.AtUtc, record.Action,
                        $"it is at or before the checkpoint (seq {checkpoint.Seq}) and should have been pruned, yet it follows {Where(previous)}"));
                var missing = findSeq(expected);
                return missing is not null
                    ? Result(new AuditProblem(AuditProblemKind.Reordered, expected, missing.AtUtc, missing.Action,
                        $"it is stored out of place: after {Where(previous)} comes seq {record.Seq} ({record.AtUtc:yyyy-MM-ddTHH:mm:ss.fffZ}, {record.Action})"))
                    : Result(new AuditProblem(AuditProblemKind.Removed, expected, null, null,
                        $"it is not in the index: the chain goes from {Where(previous)} to seq {record.Seq} ({record.AtUtc:yyyy-MM-ddTHH:mm:ss.fffZ}, {record.Action})"));
            }
            if (HashOf(record, record.PrevHash ?? "") != record.Hash)
                return Result(new AuditProblem(AuditProblemKind.Changed, record.Seq, record.AtUtc, record.Action,
                    "its content does not match its hash"));
            if (record.PrevHash != prevHash)
            {
                // This record is intact; what it chains to is not what precedes it: the previous record (or the
                // checkpoint) was rewritten together with its own hash, and is not counted as verified.
                if (previous is not null) count--;
                return previous is null
                    ? Result(new AuditProblem(AuditProblemKind.Changed, record.Seq - 1, checkpoint?.AtUtc, checkpoint is null ? null : "checkpoint",
                        $"seq {record.Seq} chains to a hash other than {Where(null)}'s"))
                    : Result(new AuditProblem(AuditProblemKind.Changed, previous.Seq, previous.AtUtc, previous.Action,
                        $"it was rewritten with a new hash: seq {record.Seq}, which follows it, chains to its original hash"));
            }
            if (recordedHead is not null && record.Seq == recordedHead.Seq && record.Hash != recordedHead.Hash)
                return Result(new AuditProblem(AuditProblemKind.Changed, record.Seq, record.AtUtc, record.Action,
                    "it was rewritten with a new hash: its hash differs from the head recorded when it was appended"));
            if (count == 0) first = record.Seq;
            count++;
            prevHash = record.Hash!;
            previous = record;
            expected++;
        }

        if (recordedHead is not null && recordedHead.Seq > 0)
        {
            if (recordedHead.Seq > expected - 1)
                return Result(new AuditProblem(AuditProblemKind.Removed, expected, null, null,
                    $"it is not in the index: the chain ends at {Where(previous)}, but the last append recorded seq {recordedHead.Seq} as the head"));
        }
        return Result(null);
    }
}

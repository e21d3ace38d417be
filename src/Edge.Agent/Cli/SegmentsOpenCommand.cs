// `edge segments open` (the owner decrypts one segment to a playable file) and `edge segments show` (one record in
// full, including its wrapped key). Opening always runs in the calling process: the owner key must never reach the
// agent. When the agent holds the index, open asks it for the record through `segments show` on the control socket
// (the wrapped key is useless without owner.key) and decrypts here.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Edge.Agent.Configuration;
using Edge.Agent.Control;
using Edge.Agent.Index;
using Edge.Agent.Sealing;

namespace Edge.Agent.Cli;

public static class SegmentsOpenCommand
{
    /// <summary>The JSON of `segments show`: every field of the record (wrappedKey as base64, null when not sealed).</summary>
    public sealed record SegmentDetailJson(long Id, string Camera, DateTimeOffset Start, DateTimeOffset End, double DurationSeconds,
        long Bytes, string Sha256, long StoredBytes, string StoredSha256, byte[]? WrappedKey, string? OwnerKeyId, bool ClockTrusted,
        string Volume, string RelativePath, string Container, string State, bool Recovered);

    public static SegmentDetailJson ToJson(SegmentRecord s, EdgeSettings settings) => new(
        s.Id, s.Camera, settings.ToSiteTime(new DateTimeOffset(s.StartUtc, TimeSpan.Zero)), settings.ToSiteTime(new DateTimeOffset(s.EndUtc, TimeSpan.Zero)),
        Math.Round(s.DurationSeconds, 3), s.Bytes, s.Sha256, s.StoredBytes, s.StoredSha256, s.WrappedKey, s.OwnerKeyId, s.ClockTrusted,
        s.Volume, s.RelativePath, s.Container, s.State.ToString().ToLowerInvariant(), s.Recovered);

    /// <summary>Adds `open` and `show` to the `segments` command.</summary>
    public static void Register(Command segments, CommandContext context, Func<Option<FileInfo>> configOption, Func<Option<bool>> jsonOption)
    {
        {
            var config = configOption();
            var key = new Option<FileInfo>("--key") { Description = "The owner's private key (owner.key); it stays in this process", Required = true };
            var id = new Option<long>("--id") { Description = "Segment id (from `edge segments list`)", Required = true };
            var output = new Option<FileInfo>("--out") { Description = "Where to write the footage (must not exist)", Required = true };
            var passphraseFile = new Option<FileInfo?>("--passphrase-file") { Description = "Read owner.key's passphrase from this file" };
            var open = new Command("open", "Decrypt and verify one sealed segment to a playable file (needs the owner's private key)")
            {
                config, key, id, output, passphraseFile,
            };
            open.SetAction((parse, ct) => OpenAsync(parse.GetValue(config)!, parse.GetValue(key)!, parse.GetValue(id), parse.GetValue(output)!,
                parse.GetValue(passphraseFile), context, ct));
            segments.Add(open);
        }
        {
            var config = configOption();
            var json = jsonOption();
            var id = new Option<long>("--id") { Description = "Segment id", Required = true };
            // Sent by `segments open` when the agent holds the index: the hand-out is audited as an open, with the access check.
            var forOpen = new Option<bool>("--for-open") { Hidden = true };
            var show = new Command("show", "Show one segment's full record: files, hashes, wrapped key") { config, id, json, forOpen };
            show.SetAction((parse, ct) => ShowAsync(parse.GetValue(config)!, parse.GetValue(id), parse.GetValue(json), context, ct, parse.GetValue(forOpen)));
            segments.Add(show);
        }
    }

    public static Task<int> ShowAsync(FileInfo configFile, long id, bool json, CommandContext context, CancellationToken _, bool forOpen = false)
    {
        if (forOpen) Access.LocalAccess.Require(context, "edge segments open");
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        using var lease = context.OpenIndex(settings);
        var record = lease.Index.GetSegment(id);
        if (record is null)
        {
            context.Err.WriteLine($"edge: no segment {id} in the index at {settings.IndexDirectory}; `edge segments list` shows the ids");
            return Task.FromResult(EdgeCli.ExitFailure);
        }
        if (forOpen) AuditOpen(lease.Index, record, context);
        else CommandAudit.Record(lease.Index, context, "segment_show", $"segment {record.Id} of camera {record.Camera} from {record.StartUtc:O}");
        var detail = ToJson(record, settings);
        if (json)
        {
            CliJson.Write(context.Out, detail);
            return Task.FromResult(EdgeCli.ExitOk);
        }
        var o = context.Out;
        o.WriteLine($"segment {detail.Id}: camera {detail.Camera}, {detail.Start:yyyy-MM-dd HH:mm:ss.fff zzz} .. {detail.End:HH:mm:ss.fff}, {detail.DurationSeconds.ToString("0.000", CultureInfo.InvariantCulture)} s, {detail.State}{(detail.Recovered ? ", recovered" : "")}");
        o.WriteLine($"  file          {Path.Combine(detail.Volume, detail.RelativePath)}");
        o.WriteLine($"  footage       {detail.Bytes} bytes, SHA-256 {detail.Sha256} ({detail.Container})");
        o.WriteLine($"  stored        {detail.StoredBytes} bytes, SHA-256 {detail.StoredSha256}");
        o.WriteLine(detail.WrappedKey is null
            ? "  sealed        no (stored unencrypted)"
            : $"  sealed        to owner key {detail.OwnerKeyId}; wrapped key {Convert.ToBase64String(detail.WrappedKey)}");
        return Task.FromResult(EdgeCli.ExitOk);
    }

    /// <summary>
    /// Audited when the record (with its wrapped key) is handed out for opening: the decryption itself happens in the
    /// caller's process with the owner key, which the agent never sees, so this is the last point the box can record.
    /// </summary>
    private static void AuditOpen(EdgeIndex index, SegmentRecord record, CommandContext context) =>
        CommandAudit.Record(index, context, "segment_open",
            $"segment {record.Id} of camera {record.Camera} from {record.StartUtc:O}: record and wrapped key handed out for decryption with owner key {record.OwnerKeyId ?? "(none: not sealed)"}");

    public static async Task<int> OpenAsync(FileInfo configFile, FileInfo keyFile, long id, FileInfo outputFile, FileInfo? passphraseFile,
        CommandContext context, CancellationToken cancellationToken)
    {
        if (context.InsideAgent)
            throw new UsageException("segments open is not run by the agent: the owner key must stay in the calling process. Run `edge segments open` yourself; it asks the agent only for the record");
        Access.LocalAccess.Require(context, "edge segments open");
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        if (outputFile.Exists)
        {
            context.Err.WriteLine($"edge: {outputFile.FullName} already exists; refusing to overwrite it. Choose another --out, or remove the file first.");
            return EdgeCli.ExitFailure;
        }

        SegmentDetailJson? detail;
        try
        {
            using var lease = context.OpenIndex(settings);
            var record = lease.Index.GetSegment(id);
            if (record is not null) AuditOpen(lease.Index, record, context);
            detail = record is null ? null : ToJson(record, settings);
        }
        catch (IndexLockedException)
        {
            // The agent holds the index: ask it for the record only (never forward this verb: it names the owner key).
            string[] args = ["segments", "show", "--config", settings.ConfigPath, "--id", id.ToString(CultureInfo.InvariantCulture), "--json", "--for-open"];
            var reply = await ControlSocket.TryForwardAsync(settings.IndexDirectory, args, cancellationToken).ConfigureAwait(false);
            if (reply is null)
            {
                context.Err.WriteLine($"edge: the index at {settings.IndexDirectory} is locked by another process and no agent answers on {ControlSocket.PathFor(settings.IndexDirectory)}");
                return EdgeCli.ExitFailure;
            }
            if (reply.ExitCode != EdgeCli.ExitOk)
            {
                context.Err.Write(reply.Stderr);
                return reply.ExitCode;
            }
            detail = JsonSerializer.Deserialize<SegmentDetailJson>(reply.Stdout, CliJson.Options);
        }
        if (detail is null)
        {
            context.Err.WriteLine($"edge: no segment {id} in the index at {settings.IndexDirectory}; `edge segments list` shows the ids");
            return EdgeCli.ExitFailure;
        }
        if (detail.WrappedKey is null)
        {
            context.Err.WriteLine($"edge: segment {id} is not sealed: it was stored unencrypted at {Path.Combine(detail.Volume, detail.RelativePath)} " +
                                  $"(SHA-256 {detail.Sha256}); copy that file instead");
            return EdgeCli.ExitFailure;
        }

        try
        {
            string? passphrase = null;
            if (OwnerKeys.IsEncrypted(keyFile.FullName))
            {
                if (passphraseFile is not null) passphrase = Passphrase.FromFile(passphraseFile.FullName);
                else if (Passphrase.CanPrompt) passphrase = Passphrase.Prompt(context.Err, $"Passphrase for {keyFile.FullName}", confirm: false);
                else
                {
                    context.Err.WriteLine($"edge: {keyFile.FullName} is encrypted and stdin is not a terminal to type its passphrase: give --passphrase-file FILE");
                    return EdgeCli.ExitUsage;
                }
            }
            using var key = OwnerKeys.LoadPrivate(keyFile.FullName, passphrase);
            var segment = new SealedSegmentRef(detail.Id, detail.Camera, Path.Combine(detail.Volume, detail.RelativePath), detail.RelativePath,
                detail.StoredBytes, detail.StoredSha256, detail.Bytes, detail.Sha256, detail.WrappedKey, detail.OwnerKeyId ?? "");
            var opened = SealedSegments.OpenToFile(segment, key, outputFile.FullName);
            context.Out.WriteLine($"segment {detail.Id} ({detail.Camera}, {detail.Start:yyyy-MM-dd HH:mm:ss.fff zzz}, {detail.Container}) opened to {opened.OutputPath}: " +
                                  $"{opened.Bytes} bytes, SHA-256 {opened.Sha256}, verified against the sealed file and the index");
            return EdgeCli.ExitOk;
        }
        catch (Exception e) when (e is OwnerKeyException or SealedSegmentException)
        {
            context.Err.WriteLine($"edge: {e.Message}");
            return EdgeCli.ExitFailure;
        }
    }
}

// `edge export` (footage for police, prosecutors and courts, with a signed manifest), `edge export verify DIR` and
// `edge export open DIR` (decrypt an encrypted export). Refusals write nothing at all and are audited; a finished
// export is audited with its reason and recipient before it appears under DIR. The export runs in the calling
// process, never in the agent (it needs the owner key); the agent is asked only for records and to store audit
// records (hidden verbs index-segments and index-audit). Design: docs/design/export.md.
using System.CommandLine;
using System.Globalization;
using Edge.Agent.Configuration;
using Edge.Agent.Export;
using Edge.Agent.Index;
using Edge.Agent.Sealing;

namespace Edge.Agent.Cli;

public static class ExportCommand
{
    public sealed record ExportJson(string Directory, bool Encrypted, string ManifestSha256, string DeviceKeyId, IReadOnlyList<string> Files,
        IReadOnlyList<ManifestCamera> Cameras);

    public sealed record ExportArguments(FileInfo Config, FileInfo Key, string[] Cameras, string From, string To, string? Reason, string? Recipient,
        string? LegalBasis, DirectoryInfo Out, FileInfo? EncryptTo, FileInfo? PassphraseFile, FileInfo? KeyPassphraseFile, DirectoryInfo? WorkDir, bool Json);

    public static Command Build(CommandContext context)
    {
        var config = new Option<FileInfo>("--config", "-c") { Description = "Path of edge.json (on a box: /etc/edge/edge.json)", Required = true };
        var key = new Option<FileInfo>("--key") { Description = "The owner's private key (owner.key) the footage was sealed to; it stays in this process", Required = true };
        var camera = new Option<string[]>("--camera") { Description = "A camera to export (repeat for several): one MP4 each", Required = true, AllowMultipleArgumentsPerToken = false };
        var from = new Option<string>("--from") { Description = "Start of the window (ISO 8601; without an offset: site time)", Required = true };
        var to = new Option<string>("--to") { Description = "End of the window", Required = true };
        var reason = new Option<string?>("--reason") { Description = "Why the footage is handed over (required; in the manifest and the audit trail)" };
        var recipient = new Option<string?>("--recipient") { Description = "Who receives it: police station, prosecutor's office, court (required)" };
        var legalBasis = new Option<string?>("--legal-basis") { Description = "The legal basis, e.g. the article of the law or the written request's number" };
        var output = new Option<DirectoryInfo>("--out") { Description = "The export's directory (must not exist; it appears only when complete)", Required = true };
        var encryptTo = new Option<FileInfo?>("--encrypt-to") { Description = "Encrypt the export to this P-256 public key (a recipient.pub from `edge keys init-owner`)" };
        var passphraseFile = new Option<FileInfo?>("--passphrase-file") { Description = "Encrypt the export with the passphrase in this file (first line)" };
        var keyPassphraseFile = new Option<FileInfo?>("--key-passphrase-file") { Description = "Read owner.key's passphrase from this file (else it is asked on the terminal)" };
        var workDir = new Option<DirectoryInfo?>("--work-dir") { Description = "Private directory for the decrypted footage while cutting (default: the staging directory, RAM on a box)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON document on stdout instead of text" };
        var export = new Command("export", "Export a window of footage for police, prosecutors or courts: one MP4 per camera and a manifest signed by the device")
        {
            config, key, camera, from, to, reason, recipient, legalBasis, output, encryptTo, passphraseFile, keyPassphraseFile, workDir, json,
        };
        export.SetAction((parse, ct) => RunAsync(new ExportArguments(parse.GetValue(config)!, parse.GetValue(key)!, parse.GetValue(camera) ?? [],
            parse.GetValue(from)!, parse.GetValue(to)!, parse.GetValue(reason), parse.GetValue(recipient), parse.GetValue(legalBasis), parse.GetValue(output)!,
            parse.GetValue(encryptTo), parse.GetValue(passphraseFile), parse.GetValue(keyPassphraseFile), parse.GetValue(workDir), parse.GetValue(json)), context, ct));

        {
            var dir = new Argument<DirectoryInfo>("DIR") { Description = "The export's directory" };
            var deviceKey = new Option<FileInfo?>("--device-key") { Description = "Check the signature against this device.pub (pin the device) instead of the key the manifest names" };
            var verifyJson = new Option<bool>("--json") { Description = "Print one JSON document on stdout instead of text" };
            var verify = new Command("verify", "Check an export: every file against manifest.json, and manifest.sig against the device's public key") { dir, deviceKey, verifyJson };
            verify.SetAction((parse, _) => VerifyAsync(parse.GetValue(dir)!, parse.GetValue(deviceKey), parse.GetValue(verifyJson), context));
            export.Add(verify);
        }
        {
            var dir = new Argument<DirectoryInfo>("DIR") { Description = "The encrypted export's directory (holds export-sealed.json)" };
            var openOut = new Option<DirectoryInfo>("--out") { Description = "Where to write the decrypted export (must not exist)", Required = true };
            var openKey = new Option<FileInfo?>("--key") { Description = "The private key matching the --encrypt-to public key" };
            var openKeyPassphrase = new Option<FileInfo?>("--key-passphrase-file") { Description = "Read that private key's passphrase from this file" };
            var openPassphrase = new Option<FileInfo?>("--passphrase-file") { Description = "The passphrase the export was encrypted with (first line)" };
            var open = new Command("open", "Decrypt an encrypted export into a new directory, then verify it") { dir, openOut, openKey, openKeyPassphrase, openPassphrase };
            open.SetAction((parse, _) => OpenAsync(parse.GetValue(dir)!, parse.GetValue(openOut)!, parse.GetValue(openKey), parse.GetValue(openKeyPassphrase),
                parse.GetValue(openPassphrase), context));
            export.Add(open);
        }
        AddIndexVerbs(export, context);
        return export;
    }

    /// <summary>
    /// Who runs the export. This is where the local-access check goes (root or the edge-admin group, from the audit
    /// work): one line to change, and it throws UsageException when access is refused.
    /// </summary>
    /// <summary>Root or edge-admin only (docs/design/audit.md, "Local access"); the person goes into the manifest and the audit.</summary>
    public static ManifestExporter EnsureLocalAccess(CommandContext context)
    {
        var caller = Access.LocalAccess.Require(context, "edge export");
        return new(caller.User, caller.SudoUser);
    }

    public static async Task<int> RunAsync(ExportArguments a, CommandContext context, CancellationToken cancellationToken)
    {
        if (context.InsideAgent)
            throw new UsageException("export is not run by the agent: the owner key must stay in the calling process. Run `edge export` yourself");
        var user = EnsureLocalAccess(context);
        var settings = EdgeConfigLoader.Load(a.Config.FullName);
        var index = new ExportIndexAccess(settings, context);
        var cameras = a.Cameras.Distinct().ToList();
        var window = $"{string.Join(",", cameras)} from {a.From} to {a.To}";

        async Task<int> Refuse(int exitCode, string why)
        {
            context.Err.WriteLine($"edge: export refused: {why}");
            try
            {
                await index.AuditAsync(new AuditRecord
                {
                    AtUtc = context.Time.GetUtcNow().UtcDateTime, Action = "export_refused", User = UserText(user),
                    Detail = $"{window} to {a.Out.FullName}: {why}", Purpose = Blank(a.Reason), Recipient = Blank(a.Recipient),
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ExportIndexException or IndexException or ConfigException)
            {
                context.Err.WriteLine($"edge: the refusal could not be audited: {e.Message}");
            }
            return exitCode;
        }

        // Checks that need nothing but the arguments; nothing is written before all of them pass.
        if (Blank(a.Reason) is null) return await Refuse(EdgeCli.ExitUsage, "--reason is required: say why the footage is handed over (it goes into the manifest and the audit trail)").ConfigureAwait(false);
        if (Blank(a.Recipient) is null) return await Refuse(EdgeCli.ExitUsage, "--recipient is required: say who receives the footage (police station, prosecutor's office, court)").ConfigureAwait(false);
        if (cameras.Count == 0) return await Refuse(EdgeCli.ExitUsage, "--camera: at least one camera is required").ConfigureAwait(false);
        if (a.EncryptTo is not null && a.PassphraseFile is not null)
            return await Refuse(EdgeCli.ExitUsage, "--encrypt-to and --passphrase-file contradict each other: encrypt to a public key or with a passphrase, not both").ConfigureAwait(false);
        DateTime fromUtc, toUtc;
        try
        {
            fromUtc = TimeArgument.ParseUtc(a.From, "--from", settings)!.Value;
            toUtc = TimeArgument.ParseUtc(a.To, "--to", settings)!.Value;
        }
        catch (UsageException e) { return await Refuse(EdgeCli.ExitUsage, e.Message).ConfigureAwait(false); }
        if (toUtc <= fromUtc) return await Refuse(EdgeCli.ExitUsage, $"--to ({a.To}) must be after --from ({a.From})").ConfigureAwait(false);
        var outDir = a.Out.FullName.TrimEnd('/');
        if (Path.Exists(outDir)) return await Refuse(EdgeCli.ExitFailure, $"--out {outDir} already exists; an export is written only into a new directory").ConfigureAwait(false);
        if (!Directory.Exists(Path.GetDirectoryName(outDir)))
            return await Refuse(EdgeCli.ExitFailure, $"--out: the parent directory {Path.GetDirectoryName(outDir)} does not exist (mount the removable disk first?)").ConfigureAwait(false);
        var workRoot = a.WorkDir?.FullName ?? settings.StagingDirectory;
        if (!Directory.Exists(workRoot))
            return await Refuse(EdgeCli.ExitFailure, $"the work directory {workRoot} does not exist{(a.WorkDir is null ? " (the staging directory; is the agent's tmpfs mounted?)" : "")}; give --work-dir on a private disk").ConfigureAwait(false);

        ExportKeyWrap? encryption = null;
        try
        {
            if (a.EncryptTo is not null) encryption = ExportKeyWrap.ToRecipient(OwnerKeys.LoadPublic(a.EncryptTo.FullName));
            else if (a.PassphraseFile is not null) encryption = ExportKeyWrap.WithPassphrase(Passphrase.FromFile(a.PassphraseFile.FullName));
        }
        catch (OwnerKeyException e) { return await Refuse(EdgeCli.ExitUsage, e.Message).ConfigureAwait(false); }

        // The window's records, per camera.
        var sources = new List<ExportCameraSources>();
        try
        {
            foreach (var camera in cameras)
            {
                var segments = await index.SegmentsAsync(camera, fromUtc, toUtc, cancellationToken).ConfigureAwait(false);
                if (!segments.Any(s => s.State == "stored"))
                    return await Refuse(EdgeCli.ExitFailure, $"camera {camera}: no stored footage between {a.From} and {a.To}" +
                        (settings.FindCamera(camera) is null ? $" (and no camera '{camera}' in {settings.ConfigPath}: configured {string.Join(", ", settings.Cameras.Select(c => c.Id))})" : "")).ConfigureAwait(false);
                sources.Add(new ExportCameraSources(camera, segments));
            }
        }
        catch (ExportIndexException e)
        {
            context.Err.WriteLine($"edge: export: {e.Message}");
            return EdgeCli.ExitFailure;
        }

        // The owner key: its passphrase, then its id against every sealed source.
        OwnerPrivateKey ownerKey;
        try
        {
            string? passphrase = null;
            if (OwnerKeys.IsEncrypted(a.Key.FullName))
            {
                if (a.KeyPassphraseFile is not null) passphrase = Passphrase.FromFile(a.KeyPassphraseFile.FullName);
                else if (Passphrase.CanPrompt) passphrase = Passphrase.Prompt(context.Err, $"Passphrase for {a.Key.FullName}", confirm: false);
                else return await Refuse(EdgeCli.ExitUsage, $"{a.Key.FullName} is encrypted and stdin is not a terminal to type its passphrase: give --key-passphrase-file FILE").ConfigureAwait(false);
            }
            ownerKey = OwnerKeys.LoadPrivate(a.Key.FullName, passphrase);
        }
        catch (OwnerKeyException e) { return await Refuse(EdgeCli.ExitFailure, $"wrong key: {e.Message}").ConfigureAwait(false); }
        using (ownerKey)
        {
            var foreign = sources.SelectMany(c => c.Segments).Where(s => s.State == "stored" && s.WrappedKey is not null && s.OwnerKeyId != ownerKey.KeyId).ToList();
            if (foreign.Count > 0)
                return await Refuse(EdgeCli.ExitFailure, $"wrong key: the window's segments were sealed to owner key {string.Join(", ", foreign.Select(s => s.OwnerKeyId ?? "(none)").Distinct())}, " +
                    $"but {a.Key.FullName} is key {ownerKey.KeyId} (segments {string.Join(", ", foreign.Take(5).Select(s => s.Id))}{(foreign.Count > 5 ? ", ..." : "")})").ConfigureAwait(false);

            DeviceSigningKey deviceKey;
            try { deviceKey = DeviceSigningKey.Load(DeviceSigningKey.PrivatePathFor(settings.IndexKeyFile)); }
            catch (DeviceKeyException e) { return await Refuse(EdgeCli.ExitFailure, $"the device signing key: {e.Message}").ConfigureAwait(false); }
            using (deviceKey)
            {
                var plan = new ExportPlan(settings, sources, fromUtc, toUtc, a.Reason!.Trim(), a.Recipient!.Trim(), Blank(a.LegalBasis), user, outDir, workRoot, encryption);
                var total = sources.SelectMany(c => c.Segments).Where(s => s.State == "stored").Sum(s => s.Bytes) * 2;
                using var progress = ProgressBar.For(context, "export", total);
                ExportResult result;
                try
                {
                    result = await new Exporter(plan, ownerKey, deviceKey, context.Time, progress).WriteAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is ExportException or IOException or UnauthorizedAccessException)
                {
                    context.Err.WriteLine($"edge: export failed, nothing was written: {e.Message}");
                    await AuditQuietly(index, new AuditRecord
                    {
                        AtUtc = context.Time.GetUtcNow().UtcDateTime, Action = "export_failed", User = UserText(user),
                        Detail = $"{window} to {outDir}: {e.Message}", Purpose = plan.Reason, Recipient = plan.Recipient,
                    }, context, cancellationToken).ConfigureAwait(false);
                    return EdgeCli.ExitFailure;
                }

                // Audited before it appears: an export that exists under DIR was always recorded.
                var sourceIds = sources.SelectMany(c => c.Segments).Where(s => s.State == "stored").Select(s => s.Id).ToList();
                try
                {
                    await index.AuditAsync(new AuditRecord
                    {
                        AtUtc = context.Time.GetUtcNow().UtcDateTime, Action = "export", User = UserText(user),
                        Detail = $"{window} (UTC {fromUtc:O} .. {toUtc:O}) to {outDir}: {result.Files.Count} files, manifest SHA-256 {result.ManifestSha256}, " +
                                 $"signed by device key {deviceKey.KeyId}, segments {string.Join(",", sourceIds)}" +
                                 (encryption is null ? ", not encrypted" : $", encrypted ({encryption.Method}{(encryption.RecipientKeyId is { } r ? " to key " + r : "")})") +
                                 (plan.LegalBasis is { } basis ? $", legal basis: {basis}" : ""),
                        Purpose = plan.Reason, Recipient = plan.Recipient,
                    }, cancellationToken).ConfigureAwait(false);
                    Exporter.Publish(result);
                }
                catch (Exception e) when (e is ExportIndexException or IndexException or ExportException or IOException)
                {
                    if (Directory.Exists(result.PartialDirectory)) Directory.Delete(result.PartialDirectory, recursive: true);
                    context.Err.WriteLine($"edge: export failed, nothing was written: {e.Message}");
                    return EdgeCli.ExitFailure;
                }

                if (a.Json)
                    CliJson.Write(context.Out, new ExportJson(outDir, encryption is not null, result.ManifestSha256, deviceKey.KeyId, result.Files, result.Manifest.Cameras));
                else
                {
                    var o = context.Out;
                    o.WriteLine($"exported {string.Join(", ", cameras)} from {result.Manifest.Window.FromSite:yyyy-MM-dd HH:mm:ss zzz} to {result.Manifest.Window.ToSite:yyyy-MM-dd HH:mm:ss zzz} into {outDir}" +
                                (encryption is null ? "" : $" (encrypted: open it with `edge export open {outDir} --out DIR`)"));
                    foreach (var camera in result.Manifest.Cameras)
                        o.WriteLine($"  {camera.File}: {camera.CoveredSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s from {camera.Sources.Count} segment(s)" +
                                    (camera.Gaps.Count > 0 ? $", {camera.Gaps.Count} gap(s)" : "") + (camera.ClockTrusted ? "" : ", CLOCK NOT TRUSTED for some sources"));
                    o.WriteLine($"  manifest.json SHA-256 {result.ManifestSha256}, signed by device key {deviceKey.KeyId} (manifest.sig)");
                    o.WriteLine($"check it anywhere with `edge export verify {outDir}`");
                }
                return EdgeCli.ExitOk;
            }
        }
    }

    public static Task<int> VerifyAsync(DirectoryInfo dir, FileInfo? deviceKeyFile, bool json, CommandContext context)
    {
        DevicePublicKey? pinned = null;
        if (deviceKeyFile is not null)
        {
            try { pinned = DeviceSigningKey.LoadPublic(deviceKeyFile.FullName); }
            catch (DeviceKeyException e) { throw new UsageException($"--device-key: {e.Message}"); }
        }
        var result = ExportVerifier.Verify(dir.FullName, pinned);
        if (json) CliJson.Write(context.Out, result);
        else
        {
            foreach (var problem in result.Problems) context.Out.WriteLine($"FAIL {problem.File}: {problem.Problem}");
            context.Out.WriteLine(result.Ok
                ? $"OK: {result.FilesChecked} file(s) match manifest.json; its signature is valid (device {result.DeviceId}, key {result.DeviceKeyId}{(pinned is null ? ", as named in the manifest: this shows nothing changed since signing; pin the box's device.pub with --device-key to show it came from that box" : ", pinned")})"
                : $"export {result.Directory}: {result.Problems.Count} problem(s); signature {result.Signature}");
        }
        if (!result.Ok)
            context.Err.WriteLine($"edge: export verify: {string.Join("; ", result.Problems.Select(p => $"{p.File}: {p.Problem}"))}");
        return Task.FromResult(result.Ok ? EdgeCli.ExitOk : EdgeCli.ExitFailure);
    }

    public static Task<int> OpenAsync(DirectoryInfo dir, DirectoryInfo outDir, FileInfo? keyFile, FileInfo? keyPassphraseFile, FileInfo? passphraseFile, CommandContext context)
    {
        if (!SealedExport.IsSealed(dir.FullName))
            throw new UsageException($"{dir.FullName} holds no {SealedExport.IndexFileName}: it is not an encrypted export (check it with `edge export verify`)");
        if (keyFile is null == (passphraseFile is null))
            throw new UsageException("give exactly one of --key (export encrypted with --encrypt-to) and --passphrase-file (export encrypted with a passphrase)");
        try
        {
            OwnerPrivateKey? key = null;
            string? passphrase = passphraseFile is null ? null : Passphrase.FromFile(passphraseFile.FullName);
            if (keyFile is not null)
            {
                string? keyPassphrase = null;
                if (OwnerKeys.IsEncrypted(keyFile.FullName))
                {
                    if (keyPassphraseFile is not null) keyPassphrase = Passphrase.FromFile(keyPassphraseFile.FullName);
                    else if (Passphrase.CanPrompt) keyPassphrase = Passphrase.Prompt(context.Err, $"Passphrase for {keyFile.FullName}", confirm: false);
                    else throw new UsageException($"{keyFile.FullName} is encrypted and stdin is not a terminal to type its passphrase: give --key-passphrase-file FILE");
                }
                key = OwnerKeys.LoadPrivate(keyFile.FullName, keyPassphrase);
            }
            using (key)
            {
                var opened = SealedExport.Open(dir.FullName, outDir.FullName, key, passphrase);
                context.Out.WriteLine($"decrypted {opened.Count} file(s) into {outDir.FullName}");
            }
        }
        catch (Exception e) when (e is OwnerKeyException or SealedExportException)
        {
            context.Err.WriteLine($"edge: export open: {e.Message}");
            return Task.FromResult(EdgeCli.ExitFailure);
        }
        // A decrypted export is checked at once: decryption proves the files are the ones sealed, the signature that
        // the device made them.
        return VerifyAsync(outDir, null, json: false, context);
    }

    /// <summary>Plumbing for an export run while the agent holds the index: records out, audit records in.</summary>
    private static void AddIndexVerbs(Command export, CommandContext context)
    {
        {
            var config = new Option<FileInfo>("--config") { Required = true };
            var camera = new Option<string>("--camera") { Required = true };
            var from = new Option<string>("--from") { Required = true };
            var to = new Option<string>("--to") { Required = true };
            var segments = new Command("index-segments", "(internal) the window's segment records, for an export") { config, camera, from, to };
            segments.Hidden = true;
            segments.SetAction((parse, _) =>
            {
                var settings = EdgeConfigLoader.Load(parse.GetValue(config)!.FullName);
                using var lease = context.OpenIndex(settings);
                CliJson.Write(context.Out, ExportIndexAccess.Query(lease.Index, settings, parse.GetValue(camera)!,
                    TimeArgument.ParseUtc(parse.GetValue(from), "--from", settings)!.Value, TimeArgument.ParseUtc(parse.GetValue(to), "--to", settings)!.Value));
                return Task.FromResult(EdgeCli.ExitOk);
            });
            export.Add(segments);
        }
        {
            var config = new Option<FileInfo>("--config") { Required = true };
            var action = new Option<string>("--action") { Required = true };
            var user = new Option<string>("--user") { Required = true };
            var detail = new Option<string>("--detail") { Required = true };
            var purpose = new Option<string?>("--purpose");
            var recipient = new Option<string?>("--recipient");
            var audit = new Command("index-audit", "(internal) store an export's audit record") { config, action, user, detail, purpose, recipient };
            audit.Hidden = true;
            audit.SetAction((parse, _) =>
            {
                var name = parse.GetValue(action)!;
                if (name is not ("export" or "export_refused" or "export_failed"))
                    throw new UsageException($"--action: '{name}' is not an export's audit action (export, export_refused, export_failed)");
                var settings = EdgeConfigLoader.Load(parse.GetValue(config)!.FullName);
                using var lease = context.OpenIndex(settings);
                // The socket peer is who the kernel says it is; its claim about the person is believed only from root or
                // the service user, as SUDO_USER is (Access/LocalAccess.cs).
                var claimed = parse.GetValue(user)!;
                var peer = context.Caller;
                var recorded = peer is null || Access.Caller.MayActForOthers(peer.Uid, peer.User, Access.Caller.EffectiveUid())
                    ? claimed : $"{peer.Describe} (claimed {claimed})";
                lease.Index.Audit(new AuditRecord
                {
                    AtUtc = context.Time.GetUtcNow().UtcDateTime, Action = name, User = recorded, Detail = parse.GetValue(detail)!,
                    Purpose = parse.GetValue(purpose), Recipient = parse.GetValue(recipient),
                });
                return Task.FromResult(EdgeCli.ExitOk);
            });
            export.Add(audit);
        }
    }

    private static async Task AuditQuietly(ExportIndexAccess index, AuditRecord record, CommandContext context, CancellationToken cancellationToken)
    {
        try { await index.AuditAsync(record, cancellationToken).ConfigureAwait(false); }
        catch (Exception e) when (e is ExportIndexException or IndexException or ConfigException)
        {
            context.Err.WriteLine($"edge: the failure could not be audited: {e.Message}");
        }
    }

    // Worded as every other audit record words a person ("alice (sudo as edge)"), so audit list reads one way.
    private static string UserText(ManifestExporter user) => Access.Caller.DescribeOf(user.User, user.SudoUser);

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}

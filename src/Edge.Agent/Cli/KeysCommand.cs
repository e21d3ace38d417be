// `edge keys init-owner --out DIR`: makes the owner's key pairs. Run it on the owner's machine, not on the box: only
// DIR/owner.pub (edge.json: sealing.ownerPublicKey) and DIR/owner-sign.pub (sync.commandPublicKey) go to the box;
// DIR/owner.key (opens footage) and DIR/owner-sign.key (signs the central's commands) stay with the owner.
// `edge keys show --config F`: the box's device signing key (public half and id) and the configured owner key's id.
using System.CommandLine;
using Edge.Agent.Configuration;
using Edge.Agent.Sealing;

namespace Edge.Agent.Cli;

public static class KeysCommand
{
    public static Command Build(CommandContext context)
    {
        var outDir = new Option<DirectoryInfo>("--out") { Description = "Directory for owner.key and owner.pub (created if missing)", Required = true };
        var passphraseFile = new Option<FileInfo?>("--passphrase-file") { Description = "Read the passphrase protecting owner.key from this file (first line)" };
        var noPassphrase = new Option<bool>("--no-passphrase") { Description = "Write owner.key unencrypted (mode 0600); for keys kept in a vault or on a token" };
        var init = new Command("init-owner", "Create the owner's key pairs: owner.key and owner-sign.key (private, keep them off the box), owner.pub and owner-sign.pub (for the box)")
        {
            outDir, passphraseFile, noPassphrase,
        };
        init.SetAction((parse, _) => InitOwnerAsync(parse.GetValue(outDir)!, parse.GetValue(passphraseFile), parse.GetValue(noPassphrase), context));

        var config = new Option<FileInfo>("--config", "-c") { Description = "Path of edge.json (on a box: /etc/edge/edge.json)", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON document on stdout instead of text" };
        var show = new Command("show", "Show the box's device signing key (public key and id) and the configured owner key's id") { config, json };
        show.SetAction((parse, _) => ShowAsync(parse.GetValue(config)!, parse.GetValue(json), context));
        return new Command("keys", "Keys: footage is sealed to owner.pub and opens only with owner.key; the box signs with its device key") { init, show };
    }

    /// <summary>What `keys show --json` prints. ownerKeyId is null when segments are not sealed (no sealing.ownerPublicKey).</summary>
    public sealed record KeysJson(string DeviceKeyId, string DevicePublicKeyPem, string DevicePublicKeyFile, string? OwnerKeyId, string? OwnerPublicKeyFile);

    public static Task<int> ShowAsync(FileInfo configFile, bool json, CommandContext context)
    {
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        var publicPath = DeviceSigningKey.PublicPathFor(settings.IndexKeyFile);
        DevicePublicKey device;
        try { device = DeviceSigningKey.LoadPublic(publicPath); }
        catch (DeviceKeyException e)
        {
            context.Err.WriteLine($"edge: {e.Message}");
            return Task.FromResult(EdgeCli.ExitFailure);
        }
        // The owner key was checked when the configuration was loaded; its id is what segments record.
        var ownerId = settings.OwnerPublicKeyFile is { } ownerFile ? OwnerKeys.LoadPublic(ownerFile).KeyId : null;
        var result = new KeysJson(device.KeyId, device.Pem, publicPath, ownerId, settings.OwnerPublicKeyFile);
        if (json)
        {
            CliJson.Write(context.Out, result);
            return Task.FromResult(EdgeCli.ExitOk);
        }
        var o = context.Out;
        o.WriteLine($"device signing key {result.DeviceKeyId} (ECDSA P-256, {publicPath}):");
        o.WriteLine(result.DevicePublicKeyPem);
        o.WriteLine(ownerId is null
            ? "owner key: none configured (sealing.ownerPublicKey is not set: segments are stored unencrypted)"
            : $"owner key {ownerId} ({settings.OwnerPublicKeyFile}): segments are sealed to it");
        return Task.FromResult(EdgeCli.ExitOk);
    }

    public static Task<int> InitOwnerAsync(DirectoryInfo dir, FileInfo? passphraseFile, bool noPassphrase, CommandContext context)
    {
        if (context.InsideAgent)
            throw new UsageException("keys init-owner is not run by the agent: run it on the owner's machine, where owner.key is to stay");
        if (noPassphrase && passphraseFile is not null)
            throw new UsageException("--no-passphrase and --passphrase-file contradict each other: give one of them");
        try
        {
            string? passphrase = null;
            if (!noPassphrase)
            {
                if (passphraseFile is not null) passphrase = Passphrase.FromFile(passphraseFile.FullName);
                else if (Passphrase.CanPrompt) passphrase = Passphrase.Prompt(context.Err, "Passphrase for owner.key", confirm: true);
                else
                    throw new UsageException("owner.key needs a passphrase, and stdin is not a terminal to type one: give --passphrase-file FILE, " +
                                             "or --no-passphrase for a plain key file kept with mode 0600");
            }
            foreach (var name in new[] { Edge.Sync.CommandSigning.PrivateKeyFileName, Edge.Sync.CommandSigning.PublicKeyFileName })
                if (Path.Exists(Path.Combine(dir.FullName, name)))
                    throw new OwnerKeyException(Path.Combine(dir.FullName, name), $"{Path.Combine(dir.FullName, name)} already exists; refusing to overwrite an owner's keys. Choose another --out directory.");
            var pair = OwnerKeys.CreatePair(dir.FullName, passphrase);
            var signing = CommandSigningKeys.CreatePair(dir.FullName, passphrase);
            var o = context.Out;
            o.WriteLine($"owner key pair {pair.KeyId} written:");
            o.WriteLine($"  {pair.PrivateKeyPath}  private, {(pair.Encrypted ? "encrypted with your passphrase" : "NOT encrypted")}, mode 0600: keep it with the owner, never on the box");
            o.WriteLine($"  {pair.PublicKeyPath}  public: copy it to the box and name it in edge.json as sealing.ownerPublicKey");
            o.WriteLine($"  {signing.PrivateKeyPath}  private, {(signing.Encrypted ? "encrypted with the same passphrase" : "NOT encrypted")}, mode 0600: the central signs its commands with it");
            o.WriteLine($"  {signing.PublicKeyPath}  public: copy it to the box and name it in edge.json as sync.commandPublicKey");
            return Task.FromResult(EdgeCli.ExitOk);
        }
        catch (OwnerKeyException e)
        {
            context.Err.WriteLine($"edge: {e.Message}");
            return Task.FromResult(EdgeCli.ExitFailure);
        }
    }
}

/// <summary>`edge run` creates the device signing key beside the index key when it is missing (first run).</summary>
public static class DeviceKeyCheck
{
    public static bool EnsureCreated(EdgeSettings settings, CommandContext context)
    {
        try
        {
            using var key = DeviceSigningKey.LoadOrCreate(DeviceSigningKey.DirectoryFor(settings.IndexKeyFile), out _);
            return true;
        }
        catch (Exception e) when (e is DeviceKeyException or IOException or UnauthorizedAccessException)
        {
            context.Err.WriteLine($"edge: device signing key: {e.Message}");
            return false;
        }
    }
}

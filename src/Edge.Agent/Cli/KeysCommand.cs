// `edge keys init-owner --out DIR`: makes the owner's key pairs. Run it on the owner's machine, not on the box: only
// DIR/owner.pub (edge.json: sealing.ownerPublicKey) and DIR/owner-sign.pub (sync.commandPublicKey) go to the box;
// DIR/owner.key (opens footage) and DIR/owner-sign.key (signs the central's commands) stay with the owner.
using System.CommandLine;
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
        return new Command("keys", "The owner's keys: footage is sealed to owner.pub and opens only with owner.key") { init };
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

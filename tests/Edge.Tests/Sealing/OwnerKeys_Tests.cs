using System.Diagnostics;
using Edge.Agent.Sealing;
using Edge.Tests.Support;

namespace Edge.Tests.Sealing;

public class OwnerKeys_Tests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edge-keys-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string KeyDir => Path.Combine(_dir, "owner");

    [Fact]
    public async Task Init_owner_without_passphrase_writes_a_0600_private_key_and_a_public_key_with_the_same_id()
    {
        var result = await Cli.RunAsync("keys", "init-owner", "--out", KeyDir, "--no-passphrase");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var privatePath = Path.Combine(KeyDir, "owner.key");
        var publicPath = Path.Combine(KeyDir, "owner.pub");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(privatePath));
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(privatePath));
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", File.ReadAllText(publicPath));
        using var key = OwnerKeys.LoadPrivate(privatePath, passphrase: null);
        var pub = OwnerKeys.LoadPublic(publicPath);
        Assert.Equal(pub.KeyId, key.KeyId);
        Assert.Matches("^[0-9a-f]{16}$", pub.KeyId);
        Assert.Contains(pub.KeyId, result.Stdout);
    }

    [Fact]
    public async Task Init_owner_refuses_to_overwrite_an_existing_key_pair()
    {
        Assert.Equal(0, (await Cli.RunAsync("keys", "init-owner", "--out", KeyDir, "--no-passphrase")).ExitCode);
        var before = File.ReadAllBytes(Path.Combine(KeyDir, "owner.key"));

        var again = await Cli.RunAsync("keys", "init-owner", "--out", KeyDir, "--no-passphrase");

        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already exists; refusing to overwrite", again.Stderr);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(KeyDir, "owner.key")));
    }

    [Fact]
    public async Task Init_owner_refuses_when_only_the_public_half_exists_and_writes_nothing()
    {
        Directory.CreateDirectory(KeyDir);
        File.WriteAllText(Path.Combine(KeyDir, "owner.pub"), "someone else's");

        var result = await Cli.RunAsync("keys", "init-owner", "--out", KeyDir, "--no-passphrase");

        Assert.Equal(1, result.ExitCode);
        Assert.False(File.Exists(Path.Combine(KeyDir, "owner.key")));
        Assert.Equal("someone else's", File.ReadAllText(Path.Combine(KeyDir, "owner.pub")));
    }

    [Fact]
    public async Task A_passphrase_file_encrypts_the_private_key_which_then_loads_only_with_that_passphrase()
    {
        var passphraseFile = Path.Combine(_dir, "passphrase");
        File.WriteAllText(passphraseFile, "tsukimi dango\n");

        var result = await Cli.RunAsync("keys", "init-owner", "--out", KeyDir, "--passphrase-file", passphraseFile);

        Assert.True(result.ExitCode == 0, result.Stderr);
        var privatePath = Path.Combine(KeyDir, "owner.key");
        Assert.StartsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----", File.ReadAllText(privatePath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(privatePath));
        Assert.True(OwnerKeys.IsEncrypted(privatePath));
        using (OwnerKeys.LoadPrivate(privatePath, "tsukimi dango")) { }
        var wrong = Assert.Throws<OwnerKeyException>(() => OwnerKeys.LoadPrivate(privatePath, "tsukimi mochi"));
        Assert.Contains("wrong passphrase", wrong.Message);
        var none = Assert.Throws<OwnerKeyException>(() => OwnerKeys.LoadPrivate(privatePath, null));
        Assert.Contains("a passphrase is required", none.Message);
    }

    [Fact]
    public async Task Without_a_terminal_or_a_passphrase_option_init_owner_explains_what_to_give_and_writes_nothing()
    {
        // The real executable with stdin from a pipe: no terminal to ask on.
        var info = EdgeProcess.StartInfo("keys", "init-owner", "--out", KeyDir);
        info.RedirectStandardInput = true;
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.Equal(2, process.ExitCode);
        Assert.Contains("stdin is not a terminal", await stderr);
        Assert.Contains("--passphrase-file", await stderr);
        Assert.False(Directory.Exists(KeyDir) && Directory.EnumerateFileSystemEntries(KeyDir).Any());
    }

    [Fact]
    public async Task Passphrase_file_and_no_passphrase_together_are_refused()
    {
        var passphraseFile = Path.Combine(_dir, "passphrase");
        File.WriteAllText(passphraseFile, "x");

        var result = await Cli.RunAsync("keys", "init-owner", "--out", KeyDir, "--passphrase-file", passphraseFile, "--no-passphrase");

        Assert.Equal(2, result.ExitCode);
        Assert.False(File.Exists(Path.Combine(KeyDir, "owner.key")));
    }

    [Fact]
    public void The_public_key_does_not_load_as_a_private_key_and_the_private_key_is_refused_where_a_public_key_belongs()
    {
        var pair = OwnerKeys.CreatePair(KeyDir, passphrase: null);

        var asPrivate = Assert.Throws<OwnerKeyException>(() => OwnerKeys.LoadPrivate(pair.PublicKeyPath, passphrase: null));
        Assert.Contains("is a public key", asPrivate.Message);
        var asPublic = Assert.Throws<OwnerKeyException>(() => OwnerKeys.LoadPublic(pair.PrivateKeyPath));
        Assert.Contains("The box must hold only owner.pub", asPublic.Message);
    }

    [Fact]
    public void A_plain_private_key_readable_by_others_is_refused()
    {
        var pair = OwnerKeys.CreatePair(KeyDir, passphrase: null);
        File.SetUnixFileMode(pair.PrivateKeyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        var e = Assert.Throws<OwnerKeyException>(() => OwnerKeys.LoadPrivate(pair.PrivateKeyPath, null));

        Assert.Contains("expected 0600", e.Message);
    }
}

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
    public async Task On_a_terminal_the_passphrase_is_asked_twice_without_echo()
    {
        var session = await Terminal.RunAsync(["keys", "init-owner", "--out", KeyDir],
            ("Passphrase for owner.key: ", "kagami biraki"), ("Passphrase for owner.key (again): ", "kagami biraki"));

        Assert.True(session.ExitCode == 0, session.Output);
        Assert.DoesNotContain("kagami", session.Output);
        using (OwnerKeys.LoadPrivate(Path.Combine(KeyDir, "owner.key"), "kagami biraki")) { }
    }

    [Fact]
    public async Task On_a_terminal_two_different_passphrases_write_nothing()
    {
        var session = await Terminal.RunAsync(["keys", "init-owner", "--out", KeyDir],
            ("Passphrase for owner.key: ", "one"), ("Passphrase for owner.key (again): ", "two"));

        Assert.Equal(1, session.ExitCode);
        Assert.Contains("The two passphrases differ", session.Output);
        Assert.False(File.Exists(Path.Combine(KeyDir, "owner.key")));
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

/// <summary>Runs the real `edge` on a pseudo-terminal (util-linux `script`), answering each prompt when it appears.</summary>
internal static class Terminal
{
    public sealed record Session(int ExitCode, string Output);

    public static async Task<Session> RunAsync(string[] args, params (string Prompt, string Reply)[] dialogue)
    {
        var command = string.Join(' ', new[] { "dotnet", EdgeProcess.EdgeDll }.Concat(args).Select(a => "'" + a.Replace("'", "'\\''") + "'"));
        var info = new ProcessStartInfo("script") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "-qec", command, "/dev/null" }) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var output = new System.Text.StringBuilder();
        var reader = Task.Run(async () =>
        {
            var buffer = new char[256];
            int n;
            while ((n = await process.StandardOutput.ReadAsync(buffer)) > 0)
                lock (output) output.Append(buffer, 0, n);
        });
        string Text() { lock (output) return output.ToString(); }
        int from = 0;
        foreach (var (prompt, reply) in dialogue)
        {
            // Reply only once the prompt is on the terminal: edge has switched echo off by then.
            await TestSite.WaitUntilAsync(() => Text().IndexOf(prompt, from, StringComparison.Ordinal) >= 0, TimeSpan.FromSeconds(60), $"the prompt '{prompt}'");
            from = Text().IndexOf(prompt, from, StringComparison.Ordinal) + prompt.Length;
            await process.StandardInput.WriteAsync(reply + "\r");
            await process.StandardInput.FlushAsync();
        }
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        await reader;
        return new Session(process.ExitCode, Text());
    }
}

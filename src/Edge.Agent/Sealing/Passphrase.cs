// Passphrases for owner.key: from a file (--passphrase-file, for scripts) or typed at a terminal without echo.
// Never from an argument or an environment variable, where other users of the machine and shell history see it.
namespace Edge.Agent.Sealing;

public static class Passphrase
{
    /// <summary>The file's text without its final line break (what `echo secret > F` leaves).</summary>
    public static string FromFile(string path)
    {
        path = Path.GetFullPath(path);
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OwnerKeyException(path, $"Passphrase file {path} could not be read: {e.Message}. Check the path given to --passphrase-file.", e);
        }
        if (text.EndsWith("\r\n", StringComparison.Ordinal)) text = text[..^2];
        else if (text.EndsWith('\n')) text = text[..^1];
        if (text.Length == 0)
            throw new OwnerKeyException(path, $"Passphrase file {path} is empty; expected the passphrase on its first line.");
        return text;
    }

    /// <summary>True when stdin is a terminal, so a passphrase can be typed.</summary>
    public static bool CanPrompt => !Console.IsInputRedirected;

    /// <summary>Asks on the terminal without echo; with <paramref name="confirm"/>, twice, and they must agree.</summary>
    public static string Prompt(TextWriter prompt, string what, bool confirm)
    {
        var first = ReadHidden(prompt, $"{what}: ");
        if (first.Length == 0) throw new OwnerKeyException("", "No passphrase was typed; expected at least one character.");
        if (confirm && ReadHidden(prompt, $"{what} (again): ") != first)
            throw new OwnerKeyException("", "The two passphrases differ; nothing was written. Run the command again.");
        return first;
    }

    private static string ReadHidden(TextWriter prompt, string text)
    {
        prompt.Write(text);
        prompt.Flush();
        var typed = new System.Text.StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter) break;
            if (key.Key == ConsoleKey.Backspace) { if (typed.Length > 0) typed.Length--; continue; }
            if (!char.IsControl(key.KeyChar)) typed.Append(key.KeyChar);
        }
        prompt.WriteLine();
        return typed.ToString();
    }
}

// A Unix socket beside the index through which `edge status`, `edge segments list` and the other read verbs reach a
// running agent. LiteDB allows one process at a time and the agent holds the index lock, so a second process asks
// the agent to run the verb against its open index instead. One request per connection: a JSON line with the
// verb's arguments; one JSON reply with its exit code and output. The socket is 0660: root and the service group.
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Edge.Agent.Access;
using Edge.Agent.Cli;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Edge.Agent.Control;

/// <param name="SudoUser">The person behind a caller that sudo made root or edge; believed only for such a peer.</param>
public sealed record ControlRequest(string[] Args, string? SudoUser = null);

public sealed record ControlReply(int ExitCode, string Stdout, string Stderr);

public static class ControlSocket
{
    public static string PathFor(string indexDirectory) => Path.Combine(indexDirectory, "agent.sock");

    /// <summary>Sends the verb to the running agent; null when no agent answers on the socket.</summary>
    public static async Task<ControlReply?> TryForwardAsync(string indexDirectory, string[] args, CancellationToken cancellationToken)
    {
        var path = PathFor(indexDirectory);
        if (!File.Exists(path)) return null;
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            return null; // a stale socket file from an agent that died
        }
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var sudoUser = Environment.GetEnvironmentVariable("SUDO_USER");
        var request = JsonSerializer.Serialize(new ControlRequest(args, string.IsNullOrWhiteSpace(sudoUser) ? null : sudoUser), CliJson.Options).Replace('\n', ' ') + "\n";
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request), cancellationToken).ConfigureAwait(false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var line = await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        return JsonSerializer.Deserialize<ControlReply>(line, CliJson.Options);
    }
}

public sealed class ControlSocketService(string indexDirectory, Func<string[], CommandContext, Task<int>> invoke,
    Func<TextWriter, TextWriter, CommandContext> contextFactory, ILogger<ControlSocketService> logger) : BackgroundService
{
    private const int MaxRequestBytes = 64 * 1024;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var path = ControlSocket.PathFor(indexDirectory);
        File.Delete(path); // a stale socket from a killed agent; the index lock already proved no agent is running
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        listener.Listen(8);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var client = await listener.AcceptAsync(stoppingToken).ConfigureAwait(false);
                _ = Task.Run(() => ServeAsync(client, stoppingToken), CancellationToken.None);
            }
        }
        catch (OperationCanceledException) { }
        finally
        {
            File.Delete(path);
        }
    }

    private async Task ServeAsync(Socket client, CancellationToken stoppingToken)
    {
        using (client)
        await using (var stream = new NetworkStream(client, ownsSocket: false))
        {
            ControlReply reply;
            try
            {
                var line = await ReadLineAsync(stream, stoppingToken).ConfigureAwait(false);
                var request = JsonSerializer.Deserialize<ControlRequest>(line, CliJson.Options)
                    ?? throw new InvalidDataException("empty request");
                if (request.Args.Length > 0 && request.Args[0] is "run" or "demo")
                    throw new InvalidDataException($"'{request.Args[0]}' cannot be run inside the agent");
                var output = new StringWriter();
                var error = new StringWriter();
                var context = contextFactory(output, error);
                context.Caller = PeerOf(client, request.SudoUser, context.Accounts);
                int code = await invoke(request.Args, context).ConfigureAwait(false);
                reply = new ControlReply(code, output.ToString(), error.ToString());
            }
            catch (Exception e) when (e is JsonException or InvalidDataException or IOException)
            {
                logger.LogWarning("control socket: refused a request: {Error}", e.Message);
                reply = new ControlReply(2, "", $"edge: the agent refused the request: {e.Message}\n");
            }
            var bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(reply, CliJson.Options));
            await stream.WriteAsync(bytes, stoppingToken).ConfigureAwait(false);
        }
    }

    private static readonly uint SelfUid = Caller.EffectiveUid();

    /// <summary>The peer's uid from the kernel (SO_PEERCRED), so audit records and access checks name the real caller.</summary>
    private static Caller? PeerOf(Socket client, string? sudoUser, IUnixAccounts accounts)
    {
        const int SolSocket = 1, SoPeerCred = 17; // Linux: struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        if (!OperatingSystem.IsLinux()) return null;
        var ucred = new byte[12];
        try
        {
            if (client.GetRawSocketOption(SolSocket, SoPeerCred, ucred) != ucred.Length) return null;
        }
        catch (SocketException) { return null; }
        uint uid = BitConverter.ToUInt32(ucred, 4);
        var user = accounts.UserName(uid) ?? $"uid {uid}";
        return new Caller(uid, user, !string.IsNullOrWhiteSpace(sudoUser) && Caller.MayActForOthers(uid, user, SelfUid) ? sudoUser : null);
    }

    private static async Task<string> ReadLineAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        var one = new byte[4096];
        while (buffer.Length < MaxRequestBytes)
        {
            int n = await stream.ReadAsync(one, cancellationToken).ConfigureAwait(false);
            if (n == 0) break;
            int newline = Array.IndexOf(one, (byte)'\n', 0, n);
            buffer.Write(one, 0, newline >= 0 ? newline : n);
            if (newline >= 0) break;
        }
        if (buffer.Length >= MaxRequestBytes) throw new InvalidDataException($"request larger than {MaxRequestBytes} bytes");
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}

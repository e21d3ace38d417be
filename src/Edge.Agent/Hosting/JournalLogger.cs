// Logging straight into systemd's journal with structured fields, for `edge run` as a service. Each log call is one
// datagram on /run/systemd/journal/socket in the journal's native protocol: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER=edge,
// EDGE_CATEGORY, and one EDGE_<NAME> field per message template value ({Camera} becomes EDGE_CAMERA=door-inside), so
// `journalctl -u edge EDGE_CAMERA=door-inside` finds one camera's lines. Used when systemd connected our output to the
// journal (JOURNAL_STREAM is set); in a terminal the console logger is used instead.
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Edge.Agent.Hosting;

public sealed class JournalLoggerProvider : ILoggerProvider
{
    public const string DefaultSocket = "/run/systemd/journal/socket";

    private readonly Socket _socket;
    private readonly UnixDomainSocketEndPoint _endPoint;
    private readonly string _identifier;

    public JournalLoggerProvider(string socketPath = DefaultSocket, string identifier = "edge")
    {
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        _endPoint = new UnixDomainSocketEndPoint(socketPath);
        _identifier = identifier;
    }

    /// <summary>True when this process runs under systemd with its output going to the journal, and the journal's socket exists.</summary>
    public static bool IsAvailable =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("JOURNAL_STREAM")) && File.Exists(DefaultSocket);

    public ILogger CreateLogger(string categoryName) => new JournalLogger(this, categoryName);

    public void Dispose() => _socket.Dispose();

    internal void Send(byte[] datagram)
    {
        try { _socket.SendTo(datagram, _endPoint); }
        catch (SocketException) { /* journald restarting or the line too big: a log line must never stop the agent */ }
        catch (ObjectDisposedException) { /* logging during shutdown */ }
    }

    internal string Identifier => _identifier;

    /// <summary>The syslog priority of a level (journalctl -p).</summary>
    public static int PriorityOf(LogLevel level) => level switch
    {
        LogLevel.Critical => 2,
        LogLevel.Error => 3,
        LogLevel.Warning => 4,
        LogLevel.Information => 6,
        _ => 7,
    };

    /// <summary>EDGE_ + the template name in upper case, with anything but letters and digits as '_' (journal field rules).</summary>
    public static string FieldNameOf(string templateName)
    {
        var name = new StringBuilder("EDGE_");
        foreach (var c in templateName)
            name.Append(char.IsAsciiLetterOrDigit(c) ? char.ToUpperInvariant(c) : '_');
        return name.ToString();
    }

    private sealed class JournalLogger(JournalLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            using var datagram = new MemoryStream();
            Field(datagram, "MESSAGE", formatter(state, exception) + (exception is null ? "" : Environment.NewLine + exception));
            Field(datagram, "PRIORITY", PriorityOf(logLevel).ToString(System.Globalization.CultureInfo.InvariantCulture));
            Field(datagram, "SYSLOG_IDENTIFIER", provider.Identifier);
            Field(datagram, "EDGE_CATEGORY", category);
            if (exception is not null) Field(datagram, "EDGE_EXCEPTION", exception.GetType().FullName ?? "Exception");
            if (state is IReadOnlyList<KeyValuePair<string, object?>> values)
                foreach (var (key, value) in values)
                    if (key != "{OriginalFormat}" && value is not null)
                        Field(datagram, FieldNameOf(key), Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "");
            provider.Send(datagram.ToArray());
        }

        /// <summary>KEY=value\n, or, when the value holds a newline, KEY\n + 64-bit little-endian length + value + \n.</summary>
        private static void Field(Stream output, string key, string value)
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            output.Write(Encoding.ASCII.GetBytes(key));
            if (Array.IndexOf(bytes, (byte)'\n') < 0)
            {
                output.WriteByte((byte)'=');
                output.Write(bytes);
            }
            else
            {
                output.WriteByte((byte)'\n');
                Span<byte> length = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)bytes.Length);
                output.Write(length);
                output.Write(bytes);
            }
            output.WriteByte((byte)'\n');
        }
    }
}

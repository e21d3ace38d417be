// The journal logger, with a real Unix datagram socket standing in for /run/systemd/journal/socket: each log call is
// one datagram in the journal's native format, with the message template's values as EDGE_* fields.
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Edge.Agent.Hosting;
using Microsoft.Extensions.Logging;

namespace Edge.Tests.Appliance;

public sealed class JournalLogger_Tests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("edge-journal-test-").FullName;
    private readonly Socket _journal = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

    public JournalLogger_Tests() => _journal.Bind(new UnixDomainSocketEndPoint(SocketPath));

    private string SocketPath => Path.Combine(_directory, "socket");

    public void Dispose()
    {
        _journal.Dispose();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    /// <summary>Parses one datagram of the native protocol: KEY=value lines, or KEY\n + 64-bit LE length + bytes + \n.</summary>
    private Dictionary<string, string> Receive()
    {
        _journal.ReceiveTimeout = 5000;
        var buffer = new byte[65536];
        int n = _journal.Receive(buffer);
        var fields = new Dictionary<string, string>();
        int i = 0;
        while (i < n)
        {
            int end = Array.IndexOf(buffer, (byte)'\n', i, n - i);
            int eq = Array.IndexOf(buffer, (byte)'=', i, end - i);
            if (eq >= 0)
            {
                fields[Encoding.ASCII.GetString(buffer, i, eq - i)] = Encoding.UTF8.GetString(buffer, eq + 1, end - eq - 1);
                i = end + 1;
            }
            else
            {
                var key = Encoding.ASCII.GetString(buffer, i, end - i);
                var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(end + 1, 8));
                fields[key] = Encoding.UTF8.GetString(buffer, end + 9, length);
                i = end + 9 + length + 1;
            }
        }
        return fields;
    }

    [Fact]
    public void A_log_line_arrives_with_its_priority_identifier_category_and_template_values_as_fields()
    {
        using var provider = new JournalLoggerProvider(SocketPath);
        var logger = provider.CreateLogger("Edge.Camera.door-inside");

        logger.LogWarning("camera {Camera} offline: {Reason}; restarting in {Delay:0.#} s", "door-inside", "ffmpeg exited with code 1", 2.5);
        var fields = Receive();

        Assert.Equal("camera door-inside offline: ffmpeg exited with code 1; restarting in 2.5 s", fields["MESSAGE"]);
        Assert.Equal("4", fields["PRIORITY"]);
        Assert.Equal("edge", fields["SYSLOG_IDENTIFIER"]);
        Assert.Equal("Edge.Camera.door-inside", fields["EDGE_CATEGORY"]);
        Assert.Equal("door-inside", fields["EDGE_CAMERA"]);
        Assert.Equal("ffmpeg exited with code 1", fields["EDGE_REASON"]);
        Assert.Equal("2.5", fields["EDGE_DELAY"]);
        Assert.False(fields.ContainsKey("EDGE__ORIGINALFORMAT_"));
    }

    [Fact]
    public void A_message_with_newlines_and_an_exception_uses_the_length_prefixed_form()
    {
        using var provider = new JournalLoggerProvider(SocketPath);
        var logger = provider.CreateLogger("Edge.Recording");

        logger.LogError(new IOException("disk gone"), "camera {Camera}: could not handle {Signal}", "cam1", "SegmentFinished");
        var fields = Receive();

        Assert.StartsWith("camera cam1: could not handle SegmentFinished\n", fields["MESSAGE"].Replace("\r\n", "\n"));
        Assert.Contains("System.IO.IOException: disk gone", fields["MESSAGE"]);
        Assert.Equal("3", fields["PRIORITY"]);
        Assert.Equal("System.IO.IOException", fields["EDGE_EXCEPTION"]);
        Assert.Equal("SegmentFinished", fields["EDGE_SIGNAL"]);
    }

    [Fact]
    public void Logging_when_the_journal_is_gone_does_not_throw()
    {
        using var provider = new JournalLoggerProvider(Path.Combine(_directory, "no-such-socket"));

        provider.CreateLogger("Edge").LogInformation("nobody listens");
    }
}

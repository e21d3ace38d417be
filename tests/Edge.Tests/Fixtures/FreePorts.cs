// Hands out loopback ports for servers that tests start, so that several
// fixtures can run side by side in one test run (and next to a
// scripts/fake-camera someone left running) without colliding.
using System.Net;
using System.Net.Sockets;

namespace Edge.Tests.Fixtures;

public static class FreePorts
{
    // RTP ranges sit below Linux's ephemeral range (32768+) and above where
    // ffmpeg's RTSP clients take their own UDP ports (5000 upwards).
    private const int RtpFirst = 20000;
    private const int RtpLast = 32767;
    private const int RtpBlock = 100;
    private static readonly int rtpBlocks = (RtpLast - RtpFirst + 1) / RtpBlock;

    // Random start so that two test processes do not walk the same sequence.
    private static int nextRtpBlock = Random.Shared.Next(rtpBlocks);

    /// <summary>A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it).</summary>
    public static int Tcp()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    /// <summary>
    /// The first port of a block of 100 UDP ports on 127.0.0.1 whose first ports
    /// are free now. Blocks rotate through 20000-32767, so this process hands the
    /// same block out again only after 127 others.
    /// </summary>
    public static int UdpBlock()
    {
        for (var attempt = 0; attempt < rtpBlocks; attempt++)
        {
            var block = (int)((uint)Interlocked.Increment(ref nextRtpBlock) % (uint)rtpBlocks);
            var start = RtpFirst + block * RtpBlock;
            if (UdpPortsFree(start, 16))
                return start;
        }
        throw new InvalidOperationException(
            $"No block of free UDP ports in {RtpFirst}-{RtpLast} on 127.0.0.1. " +
            "Something is holding most of them: check with 'ss -uanp' and stop leftover rtsp-server or ffmpeg processes.");
    }

    private static bool UdpPortsFree(int start, int count)
    {
        var sockets = new List<Socket>();
        try
        {
            for (var port = start; port < start + count; port++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                sockets.Add(socket);
                socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            }
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        finally
        {
            foreach (var socket in sockets)
                socket.Dispose();
        }
    }
}

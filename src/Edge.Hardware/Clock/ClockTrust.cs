// Whether the wall clock can be believed when a segment is stamped. A Pi has no RTC before the Pi 5: until NTP
// synchronises after boot its clock starts from the last saved time (fake-hwclock), hours or days behind.
using System.Runtime.InteropServices;

namespace Edge.Hardware.Clock;

public interface IClockTrust
{
    bool IsTrusted();
}

public enum ClockTrustMode { Auto, Always, Never }

/// <summary>
/// Auto mode asks the kernel: adjtimex() returns TIME_ERROR (5) while the clock is not synchronised (the same
/// bit systemd's NTPSynchronized reads). A battery-backed RTC (/sys/class/rtc/rtc0 with a time set) also counts.
/// The result is cached for a few seconds: the recorder asks once per segment per camera.
/// </summary>
public sealed partial class KernelClockTrust(ClockTrustMode mode, TimeProvider time, string rtcPath = "/sys/class/rtc/rtc0") : IClockTrust
{
    private const int TimeError = 5;
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(5);
    private (DateTimeOffset At, bool Value)? _cached;

    public bool IsTrusted()
    {
        if (mode == ClockTrustMode.Always) return true;
        if (mode == ClockTrustMode.Never) return false;
        var now = time.GetUtcNow();
        if (_cached is { } c && now - c.At < CacheFor) return c.Value;
        bool value = KernelSaysSynchronised() || Directory.Exists(rtcPath);
        _cached = (now, value);
        return value;
    }

    private static bool KernelSaysSynchronised()
    {
        // struct timex is 208 bytes on 64-bit Linux; modes = 0 (first field) means "read only". Only the return value is used.
        Span<byte> timex = stackalloc byte[512];
        timex.Clear();
        try
        {
            unsafe
            {
                fixed (byte* p = timex)
                {
                    int state = adjtimex(p);
                    return state >= 0 && state != TimeError;
                }
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int adjtimex(byte* buf);
}
